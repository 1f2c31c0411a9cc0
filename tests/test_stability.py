"""z-loss and logit soft-capping (softmax_nb.stability) against float64 loops, mpmath and torch."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import softmax_nb as snb


def _z_loss_loop(rows: np.ndarray, weight: float) -> float:
    total = 0.0
    for row in rows.reshape(-1, rows.shape[-1]):
        lse = mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(x))) for x in row))
        total += float(lse) ** 2
    return weight * total / (rows.size // rows.shape[-1])


@pytest.mark.parametrize("scale", [1.0, 30.0, 700.0])
def test_z_loss_matches_a_high_precision_loop(scale):
    z = np.random.default_rng(1).standard_normal((3, 4, 7)) * scale
    assert snb.z_loss(z, weight=1e-4) == pytest.approx(_z_loss_loop(z, 1e-4), rel=1e-13)
    assert snb.z_loss(z, weight=0.0) == 0.0


def test_z_loss_gradient_matches_central_differences_and_its_closed_form():
    z = np.random.default_rng(2).standard_normal((4, 6)) * 3
    loss, grad = snb.z_loss(z, weight=0.5, return_grad=True)
    numeric = snb.numerical_gradient(lambda t: float(snb.z_loss(t, weight=0.5)), z, h=1e-6)
    np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-7)
    lse = np.log(np.exp(z).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(grad, 2 * 0.5 / 4 * lse * np.exp(z - lse), rtol=1e-13, atol=0)


def test_z_loss_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    z = np.random.default_rng(3).standard_normal((5, 9)) * 4
    t = torch.tensor(z, requires_grad=True)
    ref = 1e-4 * (torch.logsumexp(t, dim=-1) ** 2).mean()
    ref.backward()
    loss, grad = snb.z_loss(z, return_grad=True)
    assert loss == pytest.approx(ref.item(), rel=1e-14)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-12, atol=0)


def test_z_loss_dtypes_masks_and_half_precision():
    z = np.array([[0.0, -np.inf, 1.0], [2.0, 2.0, 2.0]])
    expected = (np.log(1 + np.e) ** 2 + (2 + np.log(3)) ** 2) / 2
    assert snb.z_loss(z, weight=1.0) == pytest.approx(expected, rel=1e-15)
    loss, grad = snb.z_loss(z, weight=1.0, return_grad=True)
    assert grad[0, 1] == 0.0
    big = np.full((2, 4000), 60000.0, dtype=np.float16)  # exp overflows float16, LSE does not overflow float32
    loss16, grad16 = snb.z_loss(big, weight=1.0, return_grad=True)
    assert loss16.dtype == np.float16 and grad16.dtype == np.float16
    assert np.isposinf(loss16)  # (60000 + log 4000)^2 is beyond float16: inf, with no warning
    lse = 60000.0 + math.log(4000)
    np.testing.assert_array_equal(grad16, np.float16(2 * lse / 2 / 4000))  # computed in float32, rounded once
    mid = np.array([[10.0, 11.0, 12.0]], dtype=np.float16)
    exact = math.log(math.exp(10) + math.exp(11) + math.exp(12)) ** 2
    assert snb.z_loss(mid, weight=1.0) == np.float16(exact)
    loss32 = snb.z_loss(z.astype(np.float32), weight=1e-4)
    assert loss32.dtype == np.float32
    assert snb.z_loss(np.zeros((0, 3))) == 0.0


@pytest.mark.parametrize("bad, match", [
    ([[-np.inf, -np.inf]], "every entry is -inf"),
    ([[np.nan, 0.0]], "NaN"),
    ([[np.inf, 0.0]], r"\+inf"),
    (np.zeros((2, 0)), "non-empty class axis"),
])
def test_z_loss_rejects_undefined_rows(bad, match):
    with pytest.raises(ValueError, match=match):
        snb.z_loss(bad)


def test_z_loss_options_are_checked():
    with pytest.raises(ValueError, match="weight"):
        snb.z_loss([1.0, 2.0], weight=-1.0)
    with pytest.raises(TypeError, match="weight"):
        snb.z_loss([1.0, 2.0], weight="1e-4")
    with pytest.raises(TypeError):
        snb.z_loss([1.0, 2.0], 1e-4)  # keyword-only
    with pytest.raises(TypeError, match="return_grad"):
        snb.z_loss([1.0, 2.0], return_grad=1)


def test_soft_cap_matches_tanh_and_its_properties():
    z = np.linspace(-500, 500, 2001)
    out = snb.soft_cap(z, cap=30.0)
    np.testing.assert_allclose(out, [30.0 * math.tanh(x / 30.0) for x in z], rtol=1e-15, atol=0)
    assert np.all(np.diff(out) > 0) and np.all(np.abs(out) < 30.0 + 1e-12)
    small = np.array([1e-3, -2e-3])
    np.testing.assert_allclose(snb.soft_cap(small, cap=50.0), small - small ** 3 / (3 * 2500), rtol=1e-12)
    assert np.array_equal(snb.soft_cap([-np.inf, np.inf], cap=30.0), [-30.0, 30.0])


def test_soft_cap_matches_torch():
    torch = pytest.importorskip("torch")
    z = np.random.default_rng(4).standard_normal(1000).astype(np.float32) * 100
    ref = (30.0 * torch.tanh(torch.from_numpy(z) / 30.0)).numpy()
    out = snb.soft_cap(z, cap=30.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=2e-6, atol=0)


def test_soft_cap_half_precision_is_rounded_once():
    z = np.array([65504.0, -65504.0, 1.5, 0.0], dtype=np.float16)
    out = snb.soft_cap(z, cap=30.0)
    assert out.dtype == np.float16
    exact = np.array([30.0 * math.tanh(float(x) / 30.0) for x in z]).astype(np.float16)
    assert np.array_equal(out, exact)
    assert snb.soft_cap(np.array([3, 4]), cap=2.0).dtype == np.float64


@pytest.mark.parametrize("cap, err", [(0.0, ValueError), (-1.0, ValueError), (np.inf, ValueError),
                                      ("30", TypeError), (True, TypeError)])
def test_soft_cap_rejects_bad_caps(cap, err):
    with pytest.raises(err, match="cap"):
        snb.soft_cap([1.0], cap=cap)


def test_soft_cap_cap_must_fit_the_dtype_and_nan_raises():
    with pytest.raises(ValueError, match="representable"):
        snb.soft_cap(np.ones(2, dtype=np.float32), cap=1e39)
    with pytest.raises(ValueError, match="NaN"):
        snb.soft_cap([np.nan], cap=1.0)
    with pytest.raises(TypeError):
        snb.soft_cap([1.0], 30.0)  # keyword-only


def test_z_loss_weight_zero_and_huge_normalisers_give_no_nan():
    z = np.array([[1e200, 0.0], [1.7e308, 0.0]])
    loss, grad = snb.z_loss(z, weight=0.0, return_grad=True)
    assert loss == 0.0 and not grad.any()  # 0, not 0 * inf
    assert snb.z_loss(np.array([[1e155, 0.0]]), weight=1e-4) == pytest.approx(1e306, rel=1e-14)  # squares scaled
    loss, grad = snb.z_loss(np.array([[1.7e308, 0.0]]), weight=1.0, return_grad=True)
    assert np.isposinf(loss) and np.isposinf(grad[0, 0]) and grad[0, 1] == 0.0  # rounds to inf, as IEEE does


# --------------------------------------------------------------------------- the z-loss in train_char_mlp
def _tiny_corpus():
    from softmax_nb.charlm import CharVocab, load_corpus

    text = load_corpus()[:6000]
    vocab = CharVocab.from_text(text)
    return vocab, vocab.encode(text)


@pytest.mark.parametrize("weight", [2e-311, 5e-324, 3e-310])
def test_z_loss_with_a_subnormal_weight_keeps_float64_accuracy(weight):
    # The weight's exponent is applied last: a subnormal weight (a few significant bits) times
    # normalisers near 1000 gives a loss and gradient near 1e-305, which must keep float64's
    # relative accuracy (rounding w / N first, in the subnormal range, cost up to 1e-13 relative).
    z = np.array([[1000.0, 0.0], [3.0, 1.0], [-2.0, 700.0]])
    loss, grad = snb.z_loss(z, weight=weight, return_grad=True)
    with mpmath.workprec(200):
        w = mpmath.mpf(weight)
        lse = [mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(x)) for x in row)) for row in z]
        exact = w * mpmath.fsum(x * x for x in lse) / 3
        g_ref = [[2 * w * lse[i] * mpmath.exp(mpmath.mpf(x) - lse[i]) / 3 for x in row] for i, row in enumerate(z)]
        assert abs(mpmath.mpf(float(loss)) - exact) <= 4 * 2.0**-53 * exact + mpmath.mpf(5e-324) / 2
        for i, row in enumerate(z):
            for j in range(len(row)):
                err = abs(mpmath.mpf(float(grad[i, j])) - g_ref[i][j])
                assert err <= 8 * 2.0**-53 * abs(g_ref[i][j]) + 5e-324, (i, j, float(grad[i, j]), float(g_ref[i][j]))


def test_char_model_z_loss_gradient_matches_finite_differences():
    from softmax_nb.charlm import _loss_and_grads

    rng = np.random.default_rng(12)
    v, e, c, h = 7, 3, 2, 5
    params = {"E": rng.normal(size=(v, e)), "W1": rng.normal(size=(c * e, h)), "b1": rng.normal(size=h),
              "W2": rng.normal(size=(h, v)), "b2": rng.normal(size=v) + 3.0}
    w = rng.integers(0, v, size=(6, c))
    y = rng.integers(0, v, size=6)
    loss, grads = _loss_and_grads(params, w, y, 0.0, 0.05)
    base, _ = _loss_and_grads(params, w, y)
    x = params["E"][w].reshape(len(w), -1)
    z = np.tanh(x @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]
    assert loss == pytest.approx(base + 0.05 * np.mean(np.log(np.exp(z).sum(axis=1)) ** 2), rel=1e-13)
    for name in ("b2", "W2", "W1"):
        numeric = snb.numerical_gradient(lambda t: _loss_and_grads({**params, name: t}, w, y, 0.0, 0.05)[0],
                                         params[name], h=1e-6)
        np.testing.assert_allclose(grads[name], numeric, rtol=0, atol=1e-7)


def test_train_char_mlp_z_loss_zero_changes_nothing_and_records_log_z():
    from softmax_nb.charlm import train_char_mlp

    vocab, ids = _tiny_corpus()
    kw = {"context": 3, "embed": 4, "hidden": 16, "epochs": 1, "batch_size": 64, "lr": 0.03, "rng": 3}
    plain, log = train_char_mlp(ids, len(vocab), **kw)
    zero, log0 = train_char_mlp(ids, len(vocab), z_loss=0.0, **kw)
    assert zero == plain and log0.log_z == log.log_z  # bit for bit
    assert len(log.log_z) == -(-(len(ids) - 3) // 64)  # one entry per step
    first = np.random.default_rng(3)  # the first batch, as train_char_mlp draws it
    from softmax_nb.charlm import CharMLP
    init = {"E": first.normal(0, 1.0, (len(vocab), 4)), "W1": first.normal(0, 1 / np.sqrt(12), (12, 16)),
            "b1": np.zeros(16), "W2": first.normal(0, 1 / 4, (16, len(vocab))), "b2": np.zeros(len(vocab))}
    order = first.permutation(len(ids) - 3)[:64]
    windows = np.lib.stride_tricks.sliding_window_view(ids, 3)[:-1][order]
    z0 = CharMLP(init, 3).logits(windows)
    assert log.log_z[0] == pytest.approx(np.mean(np.log(np.exp(z0).sum(axis=1))), rel=1e-12)
    pulled, log_w = train_char_mlp(ids, len(vocab), z_loss=1.0, **kw)
    assert np.mean(log_w.log_z[-10:]) < np.mean(log.log_z[-10:]) - 0.5  # the z-loss pulls log Z down


@pytest.mark.parametrize("bad, err", [(-0.1, ValueError), (np.inf, ValueError), (np.nan, ValueError),
                                      ("0.1", TypeError), (True, TypeError)])
def test_train_char_mlp_checks_z_loss(bad, err):
    from softmax_nb.charlm import train_char_mlp

    with pytest.raises(err, match="z_loss"):
        train_char_mlp([0, 1, 2, 3, 4, 0], 6, context=2, z_loss=bad)


def test_z_loss_experiment_data_matches_its_script():
    """softmax_nb/data/z_loss_charlm.json (read by book/normaliser_and_routers) holds what the script would write."""
    import importlib.util
    import json
    from importlib import resources
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "z_loss_charlm.py"
    if not path.is_file():  # mutmut's copy of the tree holds the package and tests only
        pytest.skip("benchmarks/z_loss_charlm.py is not in this tree")
    spec = importlib.util.spec_from_file_location("z_loss_charlm", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    data = json.loads(resources.files("softmax_nb").joinpath("data/z_loss_charlm.json").read_text())
    assert data["config"] == script.CONFIG and data["block"] == script.BLOCK
    assert data["weights"] == list(script.WEIGHTS) and data["seeds"] == 10
    assert sorted((r["seed"], r["weight"]) for r in data["runs"]) == sorted(
        (s, w) for s in range(10) for w in script.WEIGHTS)
    steps = script.CONFIG["epochs"] * -(-(data["train_chars"] - script.CONFIG["context"]) // 128)
    assert all(len(r["log_z"]) == steps // script.BLOCK and len(r["val_nll"]) == 2 for r in data["runs"])
