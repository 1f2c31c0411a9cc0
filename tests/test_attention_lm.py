"""The character attention model (softmax_nb.attention_lm): a direct loop as reference, decoding with a KV cache
equal to recomputing the prefix, the wrong (top-left) alignment, split-K, GQA as MHA with repeated heads, the fit,
and the validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

import softmax_nb as snb
from softmax_nb.attention_lm import CharAttentionLM, fit_char_attention_lm


def random_model(seed: int = 0, *, vocab: int = 7, head_dim: int = 3, heads: int = 4, kv_heads: int = 2,
                 layers: int = 2, dim: int = 6, features: int = 5, scale: float = 1.0) -> CharAttentionLM:
    """A model with every parameter random (the output layer too), for tests that need no fit."""
    rng = np.random.default_rng(seed)
    hd, kd = heads * head_dim, kv_heads * head_dim
    params = {"E": rng.standard_normal((vocab, dim)), "Wq": scale * rng.standard_normal((layers, dim, hd)),
              "Wk": scale * rng.standard_normal((layers, dim, kd)), "Wv": rng.standard_normal((layers, dim, kd)),
              "Wo": rng.standard_normal((layers, hd, dim)) / math.sqrt(hd),
              "slopes": rng.uniform(0.05, 2.0, heads), "U": rng.standard_normal((vocab, vocab)),
              "Wf": rng.standard_normal((dim, features)), "W_out": rng.standard_normal((features, vocab)),
              "b_out": rng.standard_normal(vocab)}
    return CharAttentionLM(params, heads, kv_heads)


def reference_logits(model: CharAttentionLM, ids) -> np.ndarray:
    """The module docstring's formulas, one query, head and key at a time, in float64."""
    p, h, hkv, dh = model.params, model.num_heads, model.num_kv_heads, model.head_dim
    ids = list(ids)
    n = len(ids)

    def rms(row):
        return row / math.sqrt(sum(x * x for x in row) / len(row) + 1e-6)

    x = [p["E"][t].copy() for t in ids]
    for layer in range(model.num_layers):
        a = [rms(row) for row in x]
        q = [(row @ p["Wq"][layer]).reshape(h, dh) for row in a]
        k = [(row @ p["Wk"][layer]).reshape(hkv, dh) for row in a]
        v = [(row @ p["Wv"][layer]).reshape(hkv, dh) for row in a]
        new = []
        for i in range(n):
            heads = []
            for head in range(h):
                g = head // (h // hkv)  # the key/value head of this query head
                s = [float(q[i][head] @ k[j][g]) / math.sqrt(dh) - p["slopes"][head] * (i - j) for j in range(i + 1)]
                top = max(s)
                w = [math.exp(sj - top) for sj in s]
                total = sum(w)
                heads.append(sum((wj / total) * v[j][g] for j, wj in enumerate(w)))
            new.append(x[i] + np.concatenate(heads) @ p["Wo"][layer])
        x = new
    f = [np.maximum(rms(row) @ p["Wf"], 0.0) for row in x]
    return np.array([p["U"][t] + fi @ p["W_out"] + p["b_out"] for t, fi in zip(ids, f)])


@pytest.mark.parametrize("kv_heads", [1, 2, 4])
def test_logits_equal_a_direct_loop(kv_heads):
    model = random_model(kv_heads=kv_heads)
    ids = np.random.default_rng(1).integers(0, 7, 11)
    np.testing.assert_allclose(model.logits(ids), reference_logits(model, ids), rtol=1e-12, atol=1e-12)


def test_decoding_with_the_cache_equals_the_full_prefill():
    model = random_model(3)
    ids = np.random.default_rng(2).integers(0, 7, 20)
    full = model.logits(ids)
    cache = model.new_cache(capacity=1)
    chunks = [model.logits(ids[a:b], cache) for a, b in ((0, 6), (6, 7), (7, 13), (13, 14), (14, 20))]
    np.testing.assert_allclose(np.concatenate(chunks), full, rtol=1e-12, atol=1e-12)
    assert cache.length == 20
    assert model.logits([], cache).shape == (0, 7) and cache.length == 20


def test_generation_with_and_without_the_cache_gives_the_same_tokens():
    model = random_model(4, scale=0.5)
    prompt = [1, 2, 3]
    greedy = model.generate(prompt, 25, greedy=True)
    assert (greedy == model.generate(prompt, 25, greedy=True, use_cache=False)).all()
    sampled = model.generate(prompt, 25, 7, temperature=0.8)
    assert (sampled == model.generate(prompt, 25, 7, temperature=0.8, use_cache=False)).all()
    assert sampled.dtype == np.intp and sampled.shape == (25,)
    # the first step is the prefill's last row
    assert greedy[0] == np.argmax(model.logits(prompt)[-1])


def test_top_left_alignment_is_wrong_once_the_cache_holds_positions():
    model = random_model(5)
    ids = np.random.default_rng(3).integers(0, 7, 9)
    full = model.logits(ids)
    cache = model.new_cache()
    # with an empty cache the two alignments agree (as many queries as keys)
    np.testing.assert_allclose(model.logits(ids[:6], cache, causal="top_left"), full[:6], rtol=1e-12, atol=1e-12)
    wrong = model.logits(ids[6:], cache, causal="top_left")
    assert np.abs(wrong - full[6:]).max() > 1e-2
    # the decode step's query sees key 0 only: the same as a model that attends to position 0 alone
    one = model.new_cache()
    model.logits(ids[:8], one)
    step = model.logits(ids[8:9], one, causal="top_left")
    assert not np.allclose(step, full[8:9])


@pytest.mark.parametrize("splits", [2, 3, 5, 100])
@pytest.mark.parametrize("causal", ["bottom_right", "top_left"])
def test_split_k_equals_one_pass(splits, causal):
    model = random_model(6)
    ids = np.random.default_rng(4).integers(0, 7, 13)
    for chunk in ((0, 9), (9, 10), (10, 13)):
        c1, c2 = model.new_cache(), model.new_cache()
        model.logits(ids[:chunk[0]], c1)
        model.logits(ids[:chunk[0]], c2)
        one = model.logits(ids[chunk[0]:chunk[1]], c1, causal=causal)
        split = model.logits(ids[chunk[0]:chunk[1]], c2, causal=causal, num_splits=splits)
        np.testing.assert_allclose(split, one, rtol=1e-12, atol=1e-12)


def test_grouped_query_attention_equals_multi_head_attention_with_repeated_heads():
    gqa = random_model(7, heads=4, kv_heads=2, head_dim=3)
    groups, dh = 2, 3
    p = dict(gqa.params)
    for name in ("Wk", "Wv"):  # column block g of the GQA weights serves query heads 2g and 2g + 1
        w = p[name].reshape(2, 6, 2, dh)
        p[name] = np.repeat(w, groups, axis=2).reshape(2, 6, 4 * dh)
    mha = CharAttentionLM(p, 4, 4)
    ids = np.random.default_rng(5).integers(0, 7, 10)
    np.testing.assert_allclose(mha.logits(ids), gqa.logits(ids), rtol=1e-12, atol=1e-12)
    c_gqa, c_mha = gqa.new_cache(), mha.new_cache()
    gqa.logits(ids, c_gqa)
    mha.logits(ids, c_mha)
    assert c_mha.nbytes == groups * c_gqa.nbytes
    assert c_gqa.nbytes == snb.kv_cache_bytes(num_layers=2, num_kv_heads=2, head_dim=dh, tokens=10, itemsize=8)


def test_nll_is_the_mean_cross_entropy_of_the_windows():
    model = random_model(8)
    ids = np.random.default_rng(6).integers(0, 7, 23)
    by_hand = [float(snb.cross_entropy(model.logits(ids[s:s + 5][:-1]), ids[s + 1:s + 5], reduction="sum"))
               for s in range(0, 22, 4)]
    assert math.isclose(float(model.nll(ids, window=4)), sum(by_hand) / 22, rel_tol=1e-13)


def test_fit_is_seeded_has_a_bigram_direct_path_and_improves_on_it():
    # segments "abab...": the next token is the one before the last, which a bigram cannot know
    rng = np.random.default_rng(0)
    ids = np.concatenate([np.tile(rng.choice(7, 2, replace=False), 10) for _ in range(600)])
    train, test = ids[:9000], ids[9000:]
    kw = dict(dim=16, num_heads=4, num_kv_heads=1, features=24, window=64, num_windows=64, max_iter=15)
    model = fit_char_attention_lm(train, 7, rng=3, **kw)
    again = fit_char_attention_lm(train, 7, rng=np.random.default_rng(3), **kw)
    assert all(np.array_equal(model.params[k], again.params[k]) for k in model.params)
    counts = np.full((7, 7), 0.1)
    np.add.at(counts, (train[:-1], train[1:]), 1.0)
    np.testing.assert_allclose(np.exp(model.params["U"]), counts / counts.sum(1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(model.slopes, 2.0 ** (-8 * np.arange(4) / 4), rtol=0)
    assert model.num_kv_heads == 1 and model.head_dim == 4 and model.dim == 16
    bigram = float(snb.cross_entropy(model.params["U"][test[:-1]], test[1:]))
    assert float(model.nll(test, window=64)) < bigram - 0.5


@pytest.mark.parametrize("change, err, match", [
    ({"E": None}, ValueError, "keys"),
    ({"Wk": np.zeros((2, 6, 5))}, ValueError, "shapes"),
    ({"slopes": np.zeros(4)}, ValueError, "slopes"),
    ({"U": np.full((7, 7), np.nan)}, ValueError, "finite"),
])
def test_bad_params(change, err, match):
    p = dict(random_model().params)
    for k, v in change.items():
        if v is None:
            del p[k]
        else:
            p[k] = v
    with pytest.raises(err, match=match):
        CharAttentionLM(p, 4, 2)


def test_bad_heads():
    p = random_model().params
    with pytest.raises(ValueError, match="num_kv_heads must divide"):
        CharAttentionLM(p, 4, 3)
    with pytest.raises(TypeError, match="num_heads"):
        CharAttentionLM(p, 4.0, 2)


def test_bad_calls():
    model = random_model()
    with pytest.raises(ValueError, match="ids"):
        model.logits([0, 7])
    with pytest.raises(ValueError, match="ids must be a 1-D"):
        model.logits([[0, 1]])
    with pytest.raises(TypeError, match="ids"):
        model.logits([0.5])
    with pytest.raises(ValueError, match="causal"):
        model.logits([0], causal="top_right")
    with pytest.raises(TypeError, match="causal"):
        model.logits([0], causal=True)
    with pytest.raises(ValueError, match="num_splits"):
        model.logits([0], num_splits=0)
    with pytest.raises(TypeError, match="cache"):
        model.logits([0], cache={})
    with pytest.raises(ValueError, match="cache must hold"):
        model.logits([0], cache=snb.KVCache(num_layers=2, num_kv_heads=4, head_dim=3))
    with pytest.raises(ValueError, match="cache must hold"):
        model.logits([0], cache=snb.KVCache(num_layers=2, num_kv_heads=2, head_dim=3, dtype=np.float32))
    with pytest.raises(ValueError, match="window"):
        model.nll([0, 1, 2], window=0)
    with pytest.raises(ValueError, match="prompt"):
        model.generate([], 3, 0)
    with pytest.raises(ValueError, match="length"):
        model.generate([0], 0, 0)
    with pytest.raises(TypeError, match="greedy=True"):
        model.generate([0], 3, greedy=True, temperature=0.5)
    with pytest.raises(TypeError, match="unexpected"):
        model.generate([0], 3, 0, temprature=0.5)
    with pytest.raises(TypeError, match="use_cache"):
        model.generate([0], 3, 0, use_cache=1)
    with pytest.raises(TypeError):
        hash(model)


@pytest.mark.parametrize("kwargs, err, match", [
    ({"vocab_size": 1}, ValueError, "vocab_size"),
    ({"dim": 10}, ValueError, "num_heads must divide dim"),
    ({"num_kv_heads": 3}, ValueError, "num_kv_heads must divide"),
    ({"window": 1000}, ValueError, "train_ids"),
    ({"pseudo_count": 0.0}, ValueError, "pseudo_count"),
    ({"weight_decay": -1.0}, ValueError, "weight_decay"),
    ({"max_iter": 0}, ValueError, "max_iter"),
    ({"dim": 16.0}, TypeError, "dim"),
    ({"rng": 1.5}, TypeError, "rng"),
])
def test_bad_fits(kwargs, err, match):
    args = {"vocab_size": 7, "dim": 8, "num_heads": 4, "num_kv_heads": 2, "features": 4, "window": 16,
            "num_windows": 2, "max_iter": 2} | kwargs
    ids = np.arange(200) % 7
    with pytest.raises(err, match=match):
        fit_char_attention_lm(ids, **args)


@pytest.mark.parametrize("n_cached, t", [(0, 9), (6, 1), (5, 4)])
def test_a_cached_chunk_equals_torch_sdpa_with_the_lower_right_mask_and_gqa(n_cached, t):
    """The same model in torch: the cached rows with is_causal, the new rows with causal_lower_right(t, n) and
    enable_gqa (query head h uses key/value head h // (H / H_kv)); ALiBi as the two extra coordinates."""
    torch = pytest.importorskip("torch")
    bias = pytest.importorskip("torch.nn.attention.bias")
    sdpa = torch.nn.functional.scaled_dot_product_attention
    model = random_model(9, heads=4, kv_heads=2)
    ids = np.random.default_rng(8).integers(0, 7, n_cached + t)
    p = {k: torch.from_numpy(v) for k, v in model.params.items()}
    h, hkv, dh, n = model.num_heads, model.num_kv_heads, model.head_dim, len(ids)
    pos = torch.arange(n, dtype=torch.float64)[None, :, None]
    m, root = p["slopes"][:, None, None], math.sqrt(dh)

    def rms(x):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6)

    x = p["E"][torch.from_numpy(ids)]
    for layer in range(model.num_layers):
        a = rms(x)
        q = (a @ p["Wq"][layer]).reshape(n, h, dh).transpose(0, 1)
        k = (a @ p["Wk"][layer]).reshape(n, hkv, dh).transpose(0, 1)
        v = (a @ p["Wv"][layer]).reshape(n, hkv, dh).transpose(0, 1)
        q = torch.cat([q, -m * pos * root, (m * root).expand(h, n, 1)], dim=-1)[None]
        k = torch.cat([k, torch.ones(hkv, n, 1, dtype=torch.float64), pos.expand(hkv, n, 1)], dim=-1)[None]
        rows = []
        if n_cached:
            rows.append(sdpa(q[:, :, :n_cached], k[:, :, :n_cached], v[None, :, :n_cached], is_causal=True,
                             scale=1 / root, enable_gqa=True))
        rows.append(sdpa(q[:, :, n_cached:], k, v[None], attn_mask=bias.causal_lower_right(t, n), scale=1 / root,
                         enable_gqa=True))
        o = torch.cat(rows, dim=2)[0].transpose(0, 1).reshape(n, h * dh)
        x = x + o @ p["Wo"][layer]
    f = torch.clamp(rms(x) @ p["Wf"], min=0.0)
    want = (p["U"][torch.from_numpy(ids)] + f @ p["W_out"] + p["b_out"]).numpy()[n_cached:]
    cache = model.new_cache()
    model.logits(ids[:n_cached], cache)
    np.testing.assert_allclose(model.logits(ids[n_cached:], cache), want, rtol=1e-12, atol=1e-12)
