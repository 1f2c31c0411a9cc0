"""Tests for softmax_nb.vocab: chunked, sharded, sampled and hierarchical softmax over large vocabularies."""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from softmax_nb import cross_entropy, numerical_gradient, softmax
from softmax_nb._checks import ArgumentTypeError
from softmax_nb.vocab import (ShardStats, chunked_cross_entropy, hierarchical_softmax_nll, huffman_codes,
                              merge_shard_statistics, sampled_softmax_loss, shard_statistics,
                              sharded_cross_entropy)

U16 = 2.0 ** -11  # unit roundoff of float16


def problem(seed, n=16, d=8, v=300, scale=0.5, dtype=np.float64):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, d)).astype(dtype)
    w = (scale * rng.normal(size=(v, d))).astype(dtype)
    return h, w, rng.integers(0, v, size=n)


def full_loss(h, w, y):
    return float(cross_entropy(h.astype(np.float64) @ w.astype(np.float64).T, y))


def reference(h, w, y):
    """Loss and gradients by the direct float64 formulas, from the (possibly half-precision) inputs."""
    h64, w64 = h.astype(np.float64), w.astype(np.float64)
    z = h64 @ w64.T
    dz = softmax(z)
    dz[np.arange(len(y)), y] -= 1.0
    dz /= len(y)
    return full_loss(h, w, y), dz @ w64, dz.T @ h64


def shards(h, w, y, cuts):
    return [shard_statistics(h, w[a:b], y, offset=a, vocab_size=w.shape[0]) for a, b in zip(cuts[:-1], cuts[1:])]


# --------------------------------------------------------------------------- chunked cross-entropy
@given(st.integers(0, 2**32 - 1), st.integers(1, 400), st.sampled_from([0.1, 1.0, 20.0]))
def test_chunked_matches_full_for_every_block_size(seed, block, scale):
    h, w, y = problem(seed, scale=scale)
    assert math.isclose(chunked_cross_entropy(h, w, y, block_size=block), full_loss(h, w, y), rel_tol=1e-12,
                        abs_tol=1e-12)


@pytest.mark.parametrize("block", [1, 7, 300, 1000])
def test_chunked_gradient_matches_closed_form_and_central_differences(block):
    h, w, y = problem(1, n=5, d=3, v=11)
    loss, gh, gw = chunked_cross_entropy(h, w, y, block_size=block, return_grad=True)
    _, gh_ref, gw_ref = reference(h, w, y)
    np.testing.assert_allclose(gh, gh_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        gh, numerical_gradient(lambda x: chunked_cross_entropy(x, w, y, block_size=block), h), atol=1e-8)
    np.testing.assert_allclose(
        gw, numerical_gradient(lambda x: chunked_cross_entropy(h, x, y, block_size=block), w), atol=1e-8)


def test_chunked_float32_and_extreme_logits():
    h, w, y = problem(2, scale=0.5, dtype=np.float32)
    loss32 = chunked_cross_entropy(h, w, y, block_size=64)
    assert type(loss32) is np.float32 and abs(loss32 - full_loss(h, w, y)) < 1e-5
    # logits of size 1e4: a naive exp overflows, the online LSE does not
    h, w, y = problem(3, scale=2000.0)
    assert math.isclose(chunked_cross_entropy(h, w, y, block_size=50), full_loss(h, w, y), rel_tol=1e-12)


def test_torch_parity_of_loss_and_gradients():
    torch = pytest.importorskip("torch")
    h, w, y = problem(4, n=9, d=6, v=50)
    ht, wt = torch.tensor(h, requires_grad=True), torch.tensor(w, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(ht @ wt.T, torch.tensor(y))
    lt.backward()
    loss, gh, gw = chunked_cross_entropy(h, w, y, block_size=13, return_grad=True)
    assert math.isclose(loss, lt.item(), rel_tol=1e-12)
    np.testing.assert_allclose(gh, ht.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-10, atol=1e-14)


# --------------------------------------------------------------------------- R20: ignore_index, reduction, smoothing, z-loss
def dense_options(h, w, y, *, ignore, alpha, lam, reduction):
    """The loss of chunked_cross_entropy's options from the full float64 logits, by the package's dense
    cross_entropy plus the z-loss of the kept rows, and dL/dZ by the direct formula."""
    z = h.astype(np.float64) @ w.astype(np.float64).T
    keep = np.ones(len(y), bool) if ignore is None else y != ignore
    rows = cross_entropy(z, y, label_smoothing=alpha, reduction="none", ignore_index=ignore)
    lse = np.log(np.sum(np.exp(z - z.max(axis=1, keepdims=True)), axis=1)) + z.max(axis=1)
    rows = rows + lam * np.where(keep, lse**2, 0.0)
    count = int(keep.sum())
    scale = np.where(keep, 1.0 / count if reduction == "mean" else 1.0, 0.0)
    dz = softmax(z) * (1 + 2 * lam * lse)[:, None] - alpha / z.shape[1]
    dz[np.arange(len(y))[keep], y[keep]] -= 1 - alpha
    dz *= scale[:, None]
    loss = rows if reduction == "none" else rows.sum() / (count if reduction == "mean" else 1)
    return loss, dz


OPTIONS = [dict(ignore=None, alpha=0.0, lam=0.0), dict(ignore=-100, alpha=0.0, lam=0.0),
           dict(ignore=None, alpha=0.1, lam=0.0), dict(ignore=None, alpha=0.0, lam=1e-2),
           dict(ignore=-100, alpha=0.3, lam=1e-3), dict(ignore=7, alpha=1.0, lam=0.5)]


def with_ignored(y, ignore, every=3):
    y = y.copy()
    if ignore is not None:
        y[::every] = ignore
    return y


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("opts", OPTIONS)
@pytest.mark.parametrize("block", [1, 13, 500])
def test_chunked_options_match_the_dense_loss_and_gradient(opts, reduction, block):
    h, w, y = problem(21, n=10, d=5, v=40, scale=2.0)
    y = with_ignored(y, opts["ignore"])
    kwargs = dict(ignore_index=opts["ignore"], label_smoothing=opts["alpha"], z_loss=opts["lam"])
    ref, dz = dense_options(h, w, y, reduction=reduction, **opts)
    if reduction == "none":
        rows = chunked_cross_entropy(h, w, y, block_size=block, reduction="none", **kwargs)
        assert rows.shape == (10,) and rows.dtype == np.float64
        np.testing.assert_allclose(rows, ref, rtol=1e-12, atol=1e-13)
        if opts["ignore"] is not None:
            assert np.all(rows[::3] == 0)
        return
    loss, gh, gw = chunked_cross_entropy(h, w, y, block_size=block, reduction=reduction, return_grad=True,
                                         **kwargs)
    assert math.isclose(loss, ref, rel_tol=1e-12)
    np.testing.assert_allclose(gh, dz @ w, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(gw, dz.T @ h, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("opts", OPTIONS[1:])
def test_chunked_options_gradient_by_central_differences(opts):
    h, w, y = problem(22, n=6, d=3, v=9)
    y = with_ignored(y, opts["ignore"], every=2)
    kwargs = dict(ignore_index=opts["ignore"], label_smoothing=opts["alpha"], z_loss=opts["lam"], block_size=4)
    _, gh, gw = chunked_cross_entropy(h, w, y, return_grad=True, **kwargs)
    np.testing.assert_allclose(gh, numerical_gradient(lambda x: chunked_cross_entropy(x, w, y, **kwargs), h),
                               atol=1e-8)
    np.testing.assert_allclose(gw, numerical_gradient(lambda x: chunked_cross_entropy(h, x, y, **kwargs), w),
                               atol=1e-8)


def test_chunked_ignored_rows_are_as_if_absent():
    h, w, y = problem(23, n=12, d=4, v=30)
    y = with_ignored(y, -1, every=4)
    keep = y != -1
    loss, gh, gw = chunked_cross_entropy(h, w, y, ignore_index=-1, label_smoothing=0.2, z_loss=0.1,
                                         return_grad=True, block_size=7)
    loss_k, gh_k, gw_k = chunked_cross_entropy(h[keep], w, y[keep], label_smoothing=0.2, z_loss=0.1,
                                               return_grad=True, block_size=7)
    assert math.isclose(loss, loss_k, rel_tol=4e-16)  # the sum meets the zeros of the ignored rows
    np.testing.assert_array_equal(gh[~keep], 0.0)
    np.testing.assert_allclose(gh[keep], gh_k, rtol=1e-14, atol=1e-17)
    np.testing.assert_allclose(gw, gw_k, rtol=1e-12, atol=1e-17)


def test_chunked_z_loss_zero_and_defaults_change_nothing_bit_for_bit():
    h, w, y = problem(24, n=8, d=4, v=50, dtype=np.float32)
    plain = chunked_cross_entropy(h, w, y, block_size=9, return_grad=True)
    same = chunked_cross_entropy(h, w, y, block_size=9, return_grad=True, z_loss=0.0, label_smoothing=0.0,
                                 reduction="mean", ignore_index=None)
    for a, b in zip(plain, same):
        np.testing.assert_array_equal(a, b)


def test_chunked_options_torch_parity():
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    h, w, y = problem(25, n=16, d=6, v=70, scale=1.5)
    y = with_ignored(y, -100)
    keep = torch.tensor(y != -100)
    for reduction in ("mean", "sum"):
        ht, wt = torch.tensor(h, requires_grad=True), torch.tensor(w, requires_grad=True)
        z = ht @ wt.T
        ce = f.cross_entropy(z, torch.tensor(y), ignore_index=-100, label_smoothing=0.1, reduction=reduction)
        zl = (torch.logsumexp(z, dim=1) ** 2 * keep).sum()  # Liger's lse_square_scale term
        lt = ce + 1e-3 * (zl / keep.sum() if reduction == "mean" else zl)
        lt.backward()
        loss, gh, gw = chunked_cross_entropy(h, w, y, block_size=16, return_grad=True, reduction=reduction,
                                             ignore_index=-100, label_smoothing=0.1, z_loss=1e-3)
        assert math.isclose(loss, lt.item(), rel_tol=1e-12)
        np.testing.assert_allclose(gh, ht.grad.numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-10, atol=1e-14)
    rows = chunked_cross_entropy(h, w, y, reduction="none", ignore_index=-100, label_smoothing=0.1)
    ref = f.cross_entropy(torch.tensor(h @ w.T), torch.tensor(y), ignore_index=-100, label_smoothing=0.1,
                          reduction="none")
    np.testing.assert_allclose(rows, ref.numpy(), rtol=1e-12, atol=1e-15)


def test_chunked_options_float16_is_the_float32_result_rounded_once():
    h, w, y = problem(26, n=8, d=16, v=300, scale=0.5, dtype=np.float16)
    y = with_ignored(y, -100)
    kw = dict(ignore_index=-100, label_smoothing=0.1, z_loss=1e-2, block_size=64, return_grad=True)
    loss, gh, gw = chunked_cross_entropy(h, w, y, **kw)
    ref = chunked_cross_entropy(h.astype(np.float32), w.astype(np.float32), y, **kw)
    assert type(loss) is np.float16 and loss == np.float16(ref[0])
    np.testing.assert_array_equal(gh, ref[1].astype(np.float16))
    np.testing.assert_array_equal(gw, ref[2].astype(np.float16))
    rows = chunked_cross_entropy(h, w, y, reduction="none", ignore_index=-100)
    assert rows.dtype == np.float16


def test_chunked_every_row_ignored():
    h, w, y = problem(27, n=3, d=2, v=5)
    with pytest.warns(RuntimeWarning, match="every target ignored"):
        loss, gh, gw = chunked_cross_entropy(h, w, [-1, -1, -1], ignore_index=-1, return_grad=True)
    assert np.isnan(loss) and not gh.any() and not gw.any()
    assert chunked_cross_entropy(h, w, [-1, -1, -1], ignore_index=-1, reduction="sum") == 0.0


def test_chunked_option_errors_name_the_argument():
    h, w, y = problem(28, n=3, d=2, v=5)
    with pytest.raises(ValueError, match="return_grad=True needs reduction"):
        chunked_cross_entropy(h, w, y, reduction="none", return_grad=True)
    with pytest.raises(ValueError, match="reduction must be one of"):
        chunked_cross_entropy(h, w, y, reduction="avg")
    with pytest.raises(TypeError, match="reduction"):
        chunked_cross_entropy(h, w, y, reduction=None)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        chunked_cross_entropy(h, w, y, label_smoothing=1.5)
    for bad in (-1e-3, math.inf, math.nan):
        with pytest.raises(ValueError, match="z_loss must be a finite number >= 0"):
            chunked_cross_entropy(h, w, y, z_loss=bad)
    with pytest.raises(TypeError, match="ignore_index must be None or an integer"):
        chunked_cross_entropy(h, w, y, ignore_index=1.5)
    with pytest.raises(ValueError, match="targets"):
        chunked_cross_entropy(h, w, [-100, 0, 1])  # -100 without ignore_index is out of range
    with pytest.raises(TypeError):
        chunked_cross_entropy(h, w, y, 7, True, "mean")  # options after return_grad are keyword-only


# --------------------------------------------------------------------------- R9: the half-precision rule
def test_chunked_float16_logits_beyond_float16_range_are_computed_in_float32():
    # R9 repro: a logit of 16 * 64 * 64 = 65 536 overflows a float16 matmul (it used to raise
    # "block contains +inf", naming an argument the caller never passed, after a RuntimeWarning).
    h = np.full((2, 64), 16.0, np.float16)
    w = np.full((3, 64), 64.0, np.float16)
    w[1], w[2] = 0, -1
    y = np.array([0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, gh, gw = chunked_cross_entropy(h, w, y, block_size=2, return_grad=True)
    exact32 = chunked_cross_entropy(h.astype(np.float32), w.astype(np.float32), y, block_size=2)
    assert exact32 == 32768.0 and type(loss) is np.float16 and loss == np.float16(exact32)
    _, gh_ref, gw_ref = reference(h, w, y)
    assert gh.dtype == gw.dtype == np.float16
    np.testing.assert_array_equal(gh, gh_ref.astype(np.float16))
    np.testing.assert_array_equal(gw, gw_ref.astype(np.float16))


@pytest.mark.parametrize("block", [3000, 256, 16])
def test_chunked_float16_gradient_is_rounded_once(block):
    # R9: grad_hidden used to be accumulated in float16 across blocks: 29 / 71 / 439 u at blocks of
    # 3000 / 256 / 16. Accumulated in float32 and rounded once, measured: loss 0.81 u; grad_hidden median
    # 0.34 u, max 1.66 u, grad_weight median 0.36 u, max 1.00 u at every block size, the same as rounding the
    # float64 gradient of the same float16 inputs once (max 1.66 u).
    rng = np.random.default_rng(0)
    h = rng.normal(size=(64, 32)).astype(np.float16)
    w = (0.3 * rng.normal(size=(3000, 32))).astype(np.float16)
    y = rng.integers(0, 3000, 64)
    loss_ref, gh_ref, gw_ref = reference(h, w, y)
    loss, gh, gw = chunked_cross_entropy(h, w, y, block_size=block, return_grad=True)
    assert type(loss) is np.float16 and abs(float(loss) - loss_ref) <= U16 * loss_ref
    for g, ref in ((gh, gh_ref), (gw, gw_ref)):
        assert g.dtype == np.float16
        big = np.abs(ref) > 1e-3 * np.abs(ref).max()
        rel = np.abs(g.astype(np.float64) - ref)[big] / np.abs(ref)[big]
        assert rel.max() <= 2 * U16 and np.median(rel) <= 0.5 * U16


def test_chunked_float16_torch_parity():
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    h, w, y = problem(11, n=64, d=32, v=3000, scale=0.3, dtype=np.float16)
    # torch computes the same float16 numbers in float32; rounded to float16 it must agree to 1 ulp
    ht, wt = (torch.tensor(x.astype(np.float32), requires_grad=True) for x in (h, w))
    lt = f.cross_entropy(ht @ wt.T, torch.tensor(y))
    lt.backward()
    loss, gh, gw = chunked_cross_entropy(h, w, y, block_size=256, return_grad=True)
    assert abs(float(loss) - float(np.float16(lt.item()))) <= np.spacing(loss)
    for mine, theirs in ((gh, ht.grad), (gw, wt.grad)):
        theirs16 = theirs.numpy().astype(np.float16)
        ulps = np.abs(mine.astype(np.float64) - theirs16) / np.spacing(np.abs(theirs16)).astype(np.float64)
        assert ulps.max() <= 1


def test_chunked_logits_overflowing_the_work_dtype_name_hidden_and_weight():
    h = np.full((1, 4), 1e19, np.float32)
    w = np.array([np.full(4, 1e19), np.zeros(4)], np.float32)
    with pytest.raises(ValueError, match=r"hidden @ weight\.T overflow float32"):
        chunked_cross_entropy(h, w, [1])
    # float64 of the same numbers is finite: logits (4e38, 0), loss LSE - 0 = 4e38
    big = 4 * float(np.float32(1e19)) ** 2
    assert chunked_cross_entropy(h.astype(np.float64), w.astype(np.float64), [1]) == big


def test_shards_sharded_and_sampled_in_float16():
    pytest.importorskip("dask")
    h, w, y = problem(12, n=20, d=8, v=90, scale=0.5, dtype=np.float16)
    exact = full_loss(h, w, y)
    stats = shards(h, w, y, [0, 30, 31, 90])
    assert all(s.m.dtype == s.d.dtype == s.z_target.dtype == np.float32 for s in stats)  # the work dtype
    merged = merge_shard_statistics(stats)
    assert type(merged) is np.float32 and abs(merged - exact) <= 1e-6 * exact
    sharded = sharded_cross_entropy(h, w, y, n_shards=4)
    assert type(sharded) is np.float16 and sharded == np.float16(merged)
    q = np.full(90, 1 / 90)
    for correct in (True, False):
        est16 = sampled_softmax_loss(h, w, y, q, n_samples=30, rng=5, correct=correct)
        est64 = sampled_softmax_loss(h.astype(np.float64), w.astype(np.float64), y, q, n_samples=30, rng=5,
                                     correct=correct)
        assert type(est16) is np.float16 and abs(float(est16) - est64) <= U16 * est64


def test_float16_scores_beyond_float16_range():
    # a logit 300 * 300 - 300 * 300 + 1 * 5 = 5 whose products overflow float16: computed in float32
    h = np.array([[300.0, 300.0, 1.0]], np.float16)
    w = np.array([[300.0, -300.0, 5.0], [0.0, 0.0, 0.0]], np.float16)
    stats = shard_statistics(h, w, [0], offset=0, vocab_size=2)
    assert stats.m == 5.0 and stats.z_target == 5.0
    assert math.isclose(sampled_softmax_loss(h, w, [0], [0.5, 0.5], n_samples=1, rng=0, correct=False),
                        math.log1p(math.exp(-5)), rel_tol=U16)
    paths, codes = [np.array([0]), np.array([0])], [np.array([0]), np.array([1])]
    nll = hierarchical_softmax_nll(h, w[:1], [0], paths, codes)
    assert nll.dtype == np.float16 and abs(float(nll[0]) - math.log1p(math.exp(-5))) <= U16 * nll[0]


def test_hierarchical_softmax_and_huffman_in_float16():
    rng = np.random.default_rng(13)
    counts = rng.integers(1, 100, size=37)
    paths, codes, n_inner = huffman_codes(counts.astype(np.float16))
    paths64, codes64, _ = huffman_codes(counts.astype(np.float64))
    assert all(np.array_equal(a, b) for a, b in zip(codes, codes64))
    u = rng.normal(size=(n_inner, 5)).astype(np.float16)
    h = rng.normal(size=(3, 5)).astype(np.float16)
    y = np.array([0, 17, 36])
    ref = hierarchical_softmax_nll(h.astype(np.float64), u.astype(np.float64), y, paths, codes)
    for dtype in (np.float16, np.float32):
        nll = hierarchical_softmax_nll(h.astype(dtype), u.astype(dtype), y, paths, codes)
        assert nll.dtype == dtype
        tol = U16 if dtype == np.float16 else 1e-6
        np.testing.assert_allclose(nll, ref, rtol=tol)


# --------------------------------------------------------------------------- shards (R10)
@pytest.mark.parametrize("n_shards", [1, 3, 8, 300])
def test_sharded_matches_unsharded(n_shards):
    pytest.importorskip("dask")
    h, w, y = problem(5)
    exact = full_loss(h, w, y)
    for scheduler in ("sync", "threads"):
        loss = sharded_cross_entropy(h, w, y, n_shards=n_shards, scheduler=scheduler)
        assert type(loss) is np.float64 and math.isclose(loss, exact, rel_tol=1e-12)


def test_shard_statistics_merge_in_any_order():
    h, w, y = problem(6)
    stats = shards(h, w, y, [0, 10, 11, 200, 300])
    assert [(s.offset, s.size, s.vocab_size) for s in stats] == [(0, 10, 300), (10, 1, 300), (11, 189, 300),
                                                                (200, 100, 300)]
    exact = full_loss(h, w, y)
    assert type(merge_shard_statistics(stats)) is np.float64
    assert math.isclose(merge_shard_statistics(stats), exact, rel_tol=1e-12)
    assert math.isclose(merge_shard_statistics(stats[::-1]), exact, rel_tol=1e-12)
    assert math.isclose(merge_shard_statistics(tuple(stats[2:] + stats[:2])), exact, rel_tol=1e-12)


def test_merge_refuses_a_missing_shard():
    # R10 repro: no target in rows 2000..2999, so dropping that shard gave 8.7649 instead of 9.1739 silently
    rng = np.random.default_rng(0)
    h, w = rng.normal(size=(64, 32)), 0.3 * rng.normal(size=(3000, 32))
    y = rng.integers(0, 2000, 64)
    stats = shards(h, w, y, [0, 1000, 2000, 3000])
    assert math.isclose(merge_shard_statistics(stats), chunked_cross_entropy(h, w, y), rel_tol=1e-12)
    with pytest.raises(ValueError, match=r"rows \[2000, 3000\) lie in no shard.*cover \[0, 1000\), \[1000, 2000\)"):
        merge_shard_statistics(stats[:2])
    with pytest.raises(ValueError, match=r"rows \[1000, 2000\) lie in no shard"):
        merge_shard_statistics([stats[2], stats[0]])
    with pytest.raises(ValueError, match=r"rows \[0, 1000\) lie in no shard"):
        merge_shard_statistics(stats[1:])


def test_merge_refuses_overlapping_shards():
    # R10 repro: shards 0..1999 and 1000..2999 counted rows 1000..1999 twice: 9.4568 instead of 9.1739
    rng = np.random.default_rng(0)
    h, w = rng.normal(size=(64, 32)), 0.3 * rng.normal(size=(3000, 32))
    y = rng.integers(0, 2000, 64)
    a = shard_statistics(h, w[:2000], y, offset=0, vocab_size=3000)
    b = shard_statistics(h, w[1000:], y, offset=1000, vocab_size=3000)
    with pytest.raises(ValueError, match=r"\[0, 2000\) and \[1000, 3000\) overlap on \[1000, 2000\)"):
        merge_shard_statistics([b, a])
    with pytest.raises(ValueError, match=r"\[0, 2000\) and \[0, 2000\) overlap on \[0, 2000\)"):
        merge_shard_statistics([a, a, shard_statistics(h, w[2000:], y, offset=2000, vocab_size=3000)])
    inner = shard_statistics(h, w[500:700], y, offset=500, vocab_size=3000)
    whole = shard_statistics(h, w, y, offset=0, vocab_size=3000)
    with pytest.raises(ValueError, match=r"\[0, 3000\) and \[500, 700\) overlap on \[500, 700\)"):
        merge_shard_statistics([inner, whole])


def test_merge_checks_its_shards():
    h, w, y = problem(14, v=20)
    stats = shards(h, w, y, [0, 10, 20])
    with pytest.raises(ValueError, match="at least one shard"):
        merge_shard_statistics([])
    with pytest.raises(ArgumentTypeError, match="stats must be a list of ShardStats"):
        merge_shard_statistics(stats[0])
    with pytest.raises(ArgumentTypeError, match=r"stats\[1\] must be a ShardStats"):
        merge_shard_statistics([stats[0], tuple(stats[1])])
    other = shard_statistics(h, w[10:], y, offset=10, vocab_size=21)
    with pytest.raises(ValueError, match=r"disagree on vocab_size: \[20, 21\]"):
        merge_shard_statistics([stats[0], other])
    fewer = shard_statistics(h[:3], w[10:], y[:3], offset=10, vocab_size=20)
    with pytest.raises(ValueError, match="different numbers of rows"):
        merge_shard_statistics([stats[0], fewer])
    # a hand-made record with a target outside every shard's rows
    lost = stats[1]._replace(z_target=np.full_like(stats[1].z_target, -np.inf))
    lost0 = stats[0]._replace(z_target=np.full_like(stats[0].z_target, -np.inf))
    with pytest.raises(ValueError, match="^stats: the target of row 0 lies in no shard, not exactly one"):
        merge_shard_statistics([lost0, lost])


@pytest.mark.parametrize("how", ["gap", "end_gap", "overlap", "vocab_size", "rows", "no_target", "two_targets"])
def test_merge_refusals_name_stats(how):
    # VOC1: the refusals said "the shards ..." or "some target ...", never the argument's name
    h, w, _ = problem(14, n=4, v=20)
    y = np.array([12, 15, 11, 19])  # every target in the second shard
    a, b = shards(h, w, y, [0, 10, 20])
    stats, match = {
        "gap": ([b], r"shard ranges leave a gap: rows \[0, 10\) lie in no shard"),
        "end_gap": ([a], r"shard ranges leave a gap: rows \[10, 20\) lie in no shard"),
        "overlap": ([a, a, b], r"shard ranges overlap: \[0, 10\) and \[0, 10\) overlap on \[0, 10\)"),
        "vocab_size": ([a, shard_statistics(h, w[10:], y, offset=10, vocab_size=21)], "the shards disagree"),
        "rows": ([a, shard_statistics(h[:3], w[10:], y[:3], offset=10, vocab_size=20)], "the shards have different"),
        # shards computed with other targets: each row's target in no shard, or in both (a silently wrong loss)
        "no_target": ([a, shard_statistics(h, w[10:], y - 10, offset=10, vocab_size=20)],
                      "the target of row 0 lies in no shard"),
        "two_targets": ([shard_statistics(h, w[:10], y - 10, offset=0, vocab_size=20), b],
                        "the target of row 0 lies in 2 shards"),
    }[how]
    with pytest.raises(ValueError, match="^stats: " + match):
        merge_shard_statistics(stats)


def test_shard_statistics_validation():
    # R11 repro: float targets [3.7, 4.2] were truncated to [3, 4]; a d mismatch surfaced as a gufunc error;
    # offset was not checked
    h, w, y = problem(15, n=2, v=10)
    with pytest.raises(ValueError, match="targets must be integer class indices"):
        shard_statistics(h, w, np.array([3.7, 4.2]), offset=0, vocab_size=10)
    s = shard_statistics(h, w, np.array([3.0, 4.0]), offset=0, vocab_size=10)  # integer-valued floats are fine
    np.testing.assert_array_equal(s.z_target, (h @ w.T)[[0, 1], [3, 4]])
    with pytest.raises(ValueError, match=r"hidden \(N, d\) and weight_shard \(V, d\).*\(2, 8\) and \(10, 3\)"):
        shard_statistics(h, w[:, :3], y, offset=0, vocab_size=10)
    with pytest.raises(ValueError, match=r"targets must be in \[0, 10\)"):
        shard_statistics(h, w, [3, 10], offset=0, vocab_size=10)
    with pytest.raises(ValueError, match=r"targets must be in \[0, 10\)"):
        shard_statistics(h, w, [-1, 3], offset=0, vocab_size=10)
    with pytest.raises(ValueError, match="offset must be an integer >= 0, got -1"):
        shard_statistics(h, w, y, offset=-1, vocab_size=10)
    for bad in (2.0, "0", True, None):
        with pytest.raises(ArgumentTypeError, match="offset must be an integer >= 0"):
            shard_statistics(h, w, y, offset=bad, vocab_size=10)
    with pytest.raises(ArgumentTypeError, match="vocab_size must be an integer >= 1"):
        shard_statistics(h, w, y, offset=0, vocab_size=10.0)
    with pytest.raises(ValueError, match=r"rows \[1, 11\).*vocabulary \[0, 10\)"):
        shard_statistics(h, w, y, offset=1, vocab_size=10)
    with pytest.raises(ValueError, match="weight_shard must be a 2-D array"):
        shard_statistics(h, w[:0], y, offset=0, vocab_size=10)
    with pytest.raises(ValueError, match="weight_shard must contain only finite"):
        shard_statistics(h, np.full_like(w, np.inf), y, offset=0, vocab_size=10)
    with pytest.raises(TypeError):
        shard_statistics(h, w, y, 0, vocab_size=10)  # offset is keyword-only (its meaning changed: see R10)
    last = shard_statistics(h, w[5:], y, offset=np.int64(5), vocab_size=np.int64(10))
    assert (last.offset, last.size, last.vocab_size) == (5, 5, 10) and type(last.offset) is int


# --------------------------------------------------------------------------- sampled softmax
def test_sampled_softmax_bias_and_log_q_correction():
    h, w, y = problem(7, n=32, d=8, v=400, scale=0.4)
    exact = full_loss(h, w, y)
    ranks = np.arange(1, 401)
    q = (1 / ranks) / np.sum(1 / ranks)  # a Zipf proposal, far from uniform
    bias = {}
    for k in (20, 100):
        corrected = [sampled_softmax_loss(h, w, y, q, n_samples=k, rng=s) for s in range(200)]
        raw = [sampled_softmax_loss(h, w, y, q, n_samples=k, rng=s, correct=False) for s in range(200)]
        se = np.std(corrected) / math.sqrt(200)
        assert np.mean(corrected) <= exact + 5 * se  # Jensen: biased low, never high
        assert exact - np.mean(corrected) < 0.15  # and only a little
        assert exact - np.mean(raw) > 1.0  # without the correction Z is underestimated by about V/k
        bias[k] = exact - np.mean(corrected)
    assert bias[100] < bias[20]  # the bias shrinks with k


def test_sampled_softmax_against_a_direct_loop():
    h, w, y = problem(16, n=4, d=3, v=12)
    q = np.arange(1, 13) / 78.0
    k = 7
    neg = np.random.default_rng(3).choice(12, size=k, p=q)
    rows = []
    for n in range(4):
        z = w @ h[n]
        terms = [math.exp(z[y[n]])] + [math.exp(z[v]) / (k * q[v]) for v in neg if v != y[n]]
        rows.append(math.log(math.fsum(terms)) - z[y[n]])
    est = sampled_softmax_loss(h, w, y, q, n_samples=k, rng=3)
    assert type(est) is np.float64 and math.isclose(est, np.mean(rows), rel_tol=1e-13)
    assert est == sampled_softmax_loss(h, w, y, q, n_samples=k, rng=np.random.default_rng(3))  # SPEC 7


def test_sampled_softmax_validation():
    h, w, y = problem(17, v=20)
    q = np.full(20, 1 / 20)
    with pytest.raises(ValueError, match=r"proposal must have shape \(V,\) = \(20,\)"):
        sampled_softmax_loss(h, w, y, np.ones(21) / 21, n_samples=5, rng=0)
    with pytest.raises(ValueError, match="proposal must contain only finite"):
        sampled_softmax_loss(h, w, y, np.where(np.arange(20) == 3, np.nan, q), n_samples=5, rng=0)
    with pytest.raises(ValueError, match="proposal must be positive"):
        sampled_softmax_loss(h, w, y, np.where(np.arange(20) == 3, -q, q + 2 * q / 19), n_samples=5, rng=0)
    with pytest.raises(ValueError, match="proposal must be positive"):
        sampled_softmax_loss(h, w, y, np.where(np.arange(20) == 3, 0.0, q + q / 19), n_samples=5, rng=0)
    with pytest.raises(ValueError, match="proposal must sum to 1"):
        sampled_softmax_loss(h, w, y, np.ones(20), n_samples=5, rng=0)
    # a float32 proposal normalised in float32 is accepted (to within sqrt(eps) of 1)
    q32 = np.random.default_rng(1).random(20).astype(np.float32) + np.float32(0.1)
    q32 /= q32.sum()
    assert np.isfinite(sampled_softmax_loss(h, w, y, q32, n_samples=5, rng=0))
    with pytest.raises(ArgumentTypeError, match="n_samples must be an integer >= 1"):
        sampled_softmax_loss(h, w, y, q, n_samples=5.0, rng=0)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        sampled_softmax_loss(h, w, y, q, n_samples=0, rng=0)
    with pytest.raises(ArgumentTypeError, match="rng must be"):
        sampled_softmax_loss(h, w, y, q, n_samples=5, rng=np.random.RandomState(0))
    with pytest.raises(ArgumentTypeError, match="correct must be True or False"):
        sampled_softmax_loss(h, w, y, q, n_samples=5, rng=0, correct=1)
    with pytest.raises(ValueError, match=r"targets must be in \[0, 20\)"):
        sampled_softmax_loss(h, w, np.full_like(y, -1), q, n_samples=5, rng=0)
    with pytest.raises(ValueError, match=r"hidden @ weight\.T overflow float32"):
        sampled_softmax_loss(np.full((1, 2), 1e20, np.float32), np.full((2, 2), 1e20, np.float32), [0],
                             [0.5, 0.5], n_samples=1, rng=0)


# --------------------------------------------------------------------------- hierarchical softmax (R11)
def test_huffman_codes_are_prefix_free_and_short():
    rng = np.random.default_rng(8)
    counts = rng.zipf(1.3, size=200).astype(float)
    paths, codes, n_inner = huffman_codes(counts)
    assert n_inner == 199
    words = ["".join(map(str, c)) for c in codes]
    assert len(set(words)) == 200
    assert not any(a != b and b.startswith(a) for a in words for b in words)  # prefix-free
    p = counts / counts.sum()
    expected_len = float(np.sum(p * np.array([len(c) for c in codes])))
    entropy_bits = float(-np.sum(p[p > 0] * np.log2(p[p > 0])))
    assert entropy_bits <= expected_len < entropy_bits + 1


def test_huffman_codes_validation():
    with pytest.raises(ValueError, match="at least 2"):
        huffman_codes([3.0])
    with pytest.raises(ValueError, match="at least 2"):
        huffman_codes([[1.0, 2.0]])
    with pytest.raises(ValueError, match="counts must be >= 0"):
        huffman_codes([1.0, -1.0, 2.0])
    with pytest.raises(ValueError, match="counts must contain only finite"):
        huffman_codes([1.0, np.nan])
    with pytest.raises(ValueError, match="counts must contain only finite"):
        huffman_codes([1.0, np.inf])
    with pytest.raises(ArgumentTypeError, match="counts must be numeric"):
        huffman_codes(["1", "2"])
    paths, codes, n_inner = huffman_codes([0, 0, 5])  # zero counts are allowed
    assert n_inner == 2 and len(codes[2]) == 1


def test_hierarchical_softmax_is_a_distribution():
    rng = np.random.default_rng(9)
    counts = rng.integers(1, 100, size=37).astype(float)
    paths, codes, n_inner = huffman_codes(counts)
    u = rng.normal(size=(n_inner, 5))
    h = rng.normal(size=(3, 5))
    for row in h:
        nll = hierarchical_softmax_nll(np.repeat(row[None], 37, axis=0), u, np.arange(37), paths, codes)
        assert nll.dtype == np.float64 and math.isclose(np.exp(-nll).sum(), 1.0, rel_tol=1e-12)
        # one path by hand: the product of sigmoids along it
        s = (u[paths[5]] @ row) * (1 - 2 * codes[5])
        assert math.isclose(nll[5], -np.sum(np.log(1 / (1 + np.exp(-s)))), rel_tol=1e-12)


def test_hierarchical_softmax_validation():
    # R11 repro: target -1 returned the NLL of token V - 1 (negative indexing), target V a bare IndexError
    paths, codes, n_inner = huffman_codes(np.random.default_rng(1).integers(1, 100, 10))
    u = np.random.default_rng(2).normal(size=(n_inner, 4))
    h = np.random.default_rng(3).normal(size=(1, 4))
    for bad in ([-1], [10]):
        with pytest.raises(ValueError, match=r"targets must be in \[0, 10\)"):
            hierarchical_softmax_nll(h, u, np.array(bad), paths, codes)
    with pytest.raises(ValueError, match="targets must be integer class indices"):
        hierarchical_softmax_nll(h, u, np.array([2.5]), paths, codes)
    with pytest.raises(ValueError, match=r"targets must have shape \(N,\) = \(1,\)"):
        hierarchical_softmax_nll(h, u, np.array([1, 2]), paths, codes)
    for hh, uu in ((h, u[:, :3]), (h, u[:-1]), (h[0], u), (h, u[None])):
        with pytest.raises(ValueError, match=r"hidden must be \(N, d\) and node_weight \(V - 1, d\)"):
            hierarchical_softmax_nll(hh, uu, [1], paths, codes)
    with pytest.raises(ValueError, match="node_weight must contain only finite"):
        hierarchical_softmax_nll(h, np.full_like(u, np.nan), [1], paths, codes)
    with pytest.raises(ValueError, match="paths and codes must hold one entry per token"):
        hierarchical_softmax_nll(h, u, [1], paths, codes[:-1])
    with pytest.raises(ArgumentTypeError, match="paths and codes must be sequences"):
        hierarchical_softmax_nll(h, u, [1], 3, codes)
    broken = list(paths)
    broken[1] = np.array([0, 9])  # node 9 does not exist (V - 1 = 9 inner nodes: 0..8)
    with pytest.raises(ValueError, match=r"paths\[1\] must be a 1-D array of inner-node ids in \[0, 9\)"):
        hierarchical_softmax_nll(h, u, [1], broken, codes)
    assert np.isfinite(hierarchical_softmax_nll(h, u, [2], broken, codes)).all()  # only the used paths matter
    bad_codes = list(codes)
    bad_codes[1] = np.full(len(paths[1]), 2)
    with pytest.raises(ValueError, match=r"codes\[1\] must hold one branch \(0 or 1\)"):
        hierarchical_softmax_nll(h, u, [1], paths, bad_codes)
    bad_codes[1] = np.zeros(len(paths[1]) + 1, dtype=np.int8)
    with pytest.raises(ValueError, match=r"codes\[1\] must hold one branch"):
        hierarchical_softmax_nll(h, u, [1], paths, bad_codes)
    with pytest.raises(ValueError, match="overflow float32"):
        hierarchical_softmax_nll(np.full((1, 4), 1e20, np.float32), np.full_like(u, 1e20, dtype=np.float32), [1],
                                 paths, codes)


# --------------------------------------------------------------------------- names, signatures, types
def test_options_are_keyword_only():
    for f, options in ((chunked_cross_entropy, ("block_size", "return_grad")),
                       (shard_statistics, ("offset", "vocab_size")),
                       (sharded_cross_entropy, ("n_shards", "scheduler")),
                       (sampled_softmax_loss, ("n_samples", "rng", "correct"))):
        params = inspect.signature(f).parameters
        assert all(params[o].kind is inspect.Parameter.KEYWORD_ONLY for o in options), f.__name__
    assert "chunk_size" not in inspect.signature(chunked_cross_entropy).parameters


def test_chunk_size_is_a_deprecated_alias_of_block_size():
    h, w, y = problem(18, v=40)
    with pytest.warns(DeprecationWarning,
                      match=r"chunked_cross_entropy\(\): the argument 'chunk_size' is renamed 'block_size'") as rec:
        old = chunked_cross_entropy(h, w, y, chunk_size=7, return_grad=True)
    assert rec[0].filename == __file__  # points at the caller's line
    new = chunked_cross_entropy(h, w, y, block_size=7, return_grad=True)
    assert old[0] == new[0] and all(np.array_equal(a, b) for a, b in zip(old[1:], new[1:]))
    with pytest.raises(TypeError, match="got both 'block_size' and its deprecated name 'chunk_size'"):
        chunked_cross_entropy(h, w, y, block_size=7, chunk_size=7)
    with pytest.raises(ValueError, match="block_size must be an integer >= 1"):
        chunked_cross_entropy(h, w, y, block_size=0)
    with pytest.raises(ArgumentTypeError, match="block_size must be an integer >= 1"):
        chunked_cross_entropy(h, w, y, block_size=7.0)
    with pytest.raises(ArgumentTypeError, match="return_grad must be True or False"):
        chunked_cross_entropy(h, w, y, return_grad=1)


def test_options_by_position_still_work_with_a_deprecation_warning():
    pytest.importorskip("dask")
    h, w, y = problem(19, v=40)
    q = np.full(40, 1 / 40)
    with pytest.warns(DeprecationWarning, match=r"passing block_size, return_grad to chunked_cross_entropy\(\) "
                                                r"positionally is deprecated") as rec:
        old = chunked_cross_entropy(h, w, y, 7, True)
    assert rec[0].filename == __file__
    assert old[0] == chunked_cross_entropy(h, w, y, block_size=7)
    with pytest.warns(DeprecationWarning, match="passing block_size to"):
        assert chunked_cross_entropy(h, w, y, 7) == old[0]
    with pytest.warns(DeprecationWarning, match="passing n_samples, rng, correct to sampled_softmax_loss"):
        a = sampled_softmax_loss(h, w, y, q, 5, np.random.default_rng(0), False)
    assert a == sampled_softmax_loss(h, w, y, q, n_samples=5, rng=0, correct=False)
    with pytest.warns(DeprecationWarning, match="passing n_shards to sharded_cross_entropy"):
        assert sharded_cross_entropy(h, w, y, 3) == sharded_cross_entropy(h, w, y, n_shards=3)
    with pytest.raises(TypeError, match=r"takes 5 positional arguments but 6 were given"):
        chunked_cross_entropy(h, w, y, 7, True, 1)
    with pytest.raises(TypeError, match="multiple values for argument 'block_size'"):
        chunked_cross_entropy(h, w, y, 7, block_size=7)


def test_losses_are_numpy_scalars_of_the_input_dtype():
    for dtype in (np.float16, np.float32, np.float64):
        h, w, y = problem(20, v=30, dtype=dtype)
        assert type(chunked_cross_entropy(h, w, y)) is dtype
        assert type(sampled_softmax_loss(h, w, y, np.full(30, 1 / 30), n_samples=4, rng=0)) is dtype
    h, w, y = problem(20, v=30)
    assert type(chunked_cross_entropy(h.astype(int), w.astype(int), y)) is np.float64  # integers: float64
    assert type(chunked_cross_entropy(h.astype(np.float16), w.astype(np.float32), y)) is np.float32  # promoted


def test_bad_arguments():
    h, w, y = problem(10, v=20)
    with pytest.raises(ValueError, match=r"hidden \(N, d\) and weight \(V, d\) must have the same number of "
                                         r"features d, got shapes \(16, 8\) and \(20, 3\)"):
        chunked_cross_entropy(h, w[:, :3], y)
    with pytest.raises(ValueError, match=r"targets must be in \[0, 20\)"):
        chunked_cross_entropy(h, w, y + 100)
    with pytest.raises(ValueError, match="targets must be integer class indices"):
        chunked_cross_entropy(h, w, y + 0.5)
    with pytest.raises(ArgumentTypeError, match="targets must be integer class indices"):
        chunked_cross_entropy(h, w, y.astype(str))
    with pytest.raises(ValueError, match=r"targets must have shape \(N,\) = \(16,\)"):
        chunked_cross_entropy(h, w, y[:3])
    with pytest.raises(ValueError, match="hidden must contain only finite"):
        chunked_cross_entropy(np.full_like(h, np.nan), w, y)
    with pytest.raises(ValueError, match="weight must contain only finite"):
        chunked_cross_entropy(h, np.full_like(w, -np.inf), y)
    with pytest.raises(ValueError, match=r"hidden must be a 2-D array \(N, d\) with N >= 1"):
        chunked_cross_entropy(h[:0], w, y[:0])
    with pytest.raises(ValueError, match=r"weight must be a 2-D array \(V, d\) with V >= 1"):
        chunked_cross_entropy(h, w[0], y)
    with pytest.raises(ValueError, match="n_shards must be in"):
        sharded_cross_entropy(h, w, y, n_shards=21)
    with pytest.raises(ValueError, match="scheduler must be one of"):
        sharded_cross_entropy(h, w, y, n_shards=2, scheduler="gpu")


def test_shard_stats_is_a_record_of_its_range():
    assert ShardStats._fields == ("m", "d", "z_target", "offset", "size", "vocab_size")


# --------------------------------------------------------------------------- properties
@given(st.integers(0, 2**32 - 1), st.integers(1, 60), st.sampled_from([np.float16, np.float32, np.float64]),
       st.sampled_from([0.1, 3.0, 30.0]))
def test_chunked_loss_and_gradient_within_a_bound_of_float64_in_every_dtype(seed, block, dtype, scale):
    h, w, y = problem(seed, n=8, d=4, v=50, scale=scale, dtype=dtype)
    loss_ref, gh_ref, gw_ref = reference(h, w, y)  # float64, from the same (rounded) inputs
    loss, gh, gw = chunked_cross_entropy(h, w, y, block_size=block, return_grad=True)
    assert type(loss) is dtype and gh.dtype == gw.dtype == dtype
    u, u_work = np.finfo(dtype).eps / 2, np.finfo(np.float32 if dtype == np.float16 else dtype).eps / 2
    zmax = float(np.abs(h.astype(np.float64)).sum(axis=1).max() * np.abs(w.astype(np.float64)).max())
    # rounded once to dtype, plus the work dtype's error in logits of size <= zmax (d = 4 terms) and in exp
    assert abs(float(loss) - loss_ref) <= u * abs(loss_ref) + 16 * u_work * (zmax + 1)
    for g, ref, x in ((gh, gh_ref, w), (gw, gw_ref, h)):
        bound = u * np.abs(ref) + 16 * u_work * (zmax + 1) * np.abs(x.astype(np.float64)).max() * 2 / len(y)
        assert np.all(np.abs(g.astype(np.float64) - ref) <= bound)


@given(st.integers(0, 2**32 - 1), st.lists(st.integers(1, 39), max_size=6, unique=True), st.randoms())
def test_any_tiling_in_any_order_merges_to_the_loss_and_a_broken_one_raises(seed, inner_cuts, random):
    h, w, y = problem(seed, n=5, d=3, v=40)
    cuts = [0] + sorted(inner_cuts) + [40]
    stats = shards(h, w, y, cuts)
    random.shuffle(stats)
    assert math.isclose(merge_shard_statistics(stats), full_loss(h, w, y), rel_tol=1e-12)
    with pytest.raises(ValueError, match="overlap"):
        merge_shard_statistics(stats + [stats[0]])
    if len(stats) > 1:
        with pytest.raises(ValueError, match="lie in no shard"):
            merge_shard_statistics(stats[1:])


def test_row_losses_beyond_the_work_dtype_are_formed_in_float64():
    # VOC2: lse - z_y in float32 overflowed ("overflow encountered in subtract") and the mean 3e38 came back inf
    h, w, y = np.float32([[3e19], [0]]), np.float32([[1e19], [-1e19]]), np.array([1, 0])
    want = 3e38 + math.log(2) / 2  # row 0: 3e38 - (-3e38) = 6e38, row 1: log 2
    stats = [shard_statistics(h, w[a:a + 1], y, offset=a, vocab_size=2) for a in (0, 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses = [chunked_cross_entropy(h, w, y), chunked_cross_entropy(h, w, y, block_size=1, return_grad=True)[0],
                  sharded_cross_entropy(h, w, y, n_shards=2, scheduler="sync"), merge_shard_statistics(stats)]
        sampled = sampled_softmax_loss(h, w, y, np.float64([0.5, 0.5]), n_samples=3, rng=0)
    for loss in losses:
        assert isinstance(loss, np.float32) and math.isclose(loss, want, rel_tol=2**-23)
    assert isinstance(sampled, np.float32) and np.isfinite(sampled) and sampled > 1e38
    # float64: the differences overflow float64 itself; the mean is recomputed from the halved terms
    h64, w64 = np.array([[1e154], [0.0]]), np.array([[1e154], [-1e154]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = chunked_cross_entropy(h64, w64, y)
        alone = chunked_cross_entropy(h64[:1], w64, y[:1])  # 2e308: beyond float64, rounds to inf
    assert isinstance(loss, np.float64) and math.isclose(loss, 1e308, rel_tol=1e-15)
    assert alone == np.inf
