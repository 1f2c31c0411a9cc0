r"""Properties of ``softmax_nb.attention_lm``: the character attention model on random small configurations.

* ``logits`` of a whole sequence equal the module docstring's formulas computed one query, head and key at a
  time in float64 (``tests/test_attention_lm.reference_logits``), for any number of layers, heads, key/value
  heads dividing them, head width and sequence length;
* the same sequence fed through a :class:`~softmax_nb.kvcache.KVCache` in random chunks (a chunked prefill and
  decode steps) gives the same logits, and so does every ``num_splits`` (split-K merged by ``merge_attention``);
* grouped-query attention equals multi-head attention whose key/value weights repeat each key/value head for its
  query heads, with a cache ``num_heads / num_kv_heads`` times larger.

The tolerance is relative to the size of the logits: the loop and the vectorised code round differently, each
within a few ulps per operation on numbers of size at most a few hundred.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from softmax_nb.attention_lm import CharAttentionLM
from _harness import budget, call_checked

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_attention_lm import random_model, reference_logits  # noqa: E402


@st.composite
def configs(draw):
    kv = draw(st.sampled_from([1, 2, 3]))
    heads = kv * draw(st.sampled_from([1, 2, 3]))
    return {"seed": draw(st.integers(0, 2**16)), "vocab": draw(st.integers(2, 6)), "kv_heads": kv,
            "heads": heads, "head_dim": draw(st.integers(1, 3)), "layers": draw(st.integers(1, 2)),
            "dim": draw(st.integers(1, 5)), "features": draw(st.integers(1, 4)),
            "scale": draw(st.sampled_from([0.1, 1.0, 3.0]))}


def _close(a, b, ref):
    tol = 1e-10 * max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(a, b, rtol=0, atol=tol)


@budget(40)
@given(configs(), st.data())
def test_cached_chunks_and_splits_equal_the_full_prefill_and_the_direct_loop(cfg, data):
    """Full prefill = direct loop; any chunking through a cache = full prefill; any num_splits = one pass."""
    model = random_model(**cfg)
    n = data.draw(st.integers(1, 10), label="n")
    ids = np.array(data.draw(st.lists(st.integers(0, cfg["vocab"] - 1), min_size=n, max_size=n), label="ids"))
    cuts = sorted(set(data.draw(st.lists(st.integers(1, n - 1), max_size=4), label="cuts"))) if n > 1 else []
    splits = data.draw(st.integers(1, 6), label="num_splits")
    full = call_checked(model.logits, ids).ok()
    _close(full, reference_logits(model, ids), full)
    cache = model.new_cache(capacity=1)
    parts = [call_checked(model.logits, ids[a:b], cache, num_splits=splits).ok()
             for a, b in zip([0, *cuts], [*cuts, n])]
    _close(np.concatenate(parts), full, full)
    assert cache.length == n


@budget(30)
@given(configs())
def test_grouped_query_attention_is_multi_head_attention_with_repeated_heads(cfg):
    """Repeating each key/value head's weights for its query heads changes no logit and multiplies the cache."""
    gqa = random_model(**cfg)
    h, hkv, dh, layers, d = cfg["heads"], cfg["kv_heads"], cfg["head_dim"], cfg["layers"], cfg["dim"]
    p = dict(gqa.params)
    for name in ("Wk", "Wv"):
        p[name] = np.repeat(p[name].reshape(layers, d, hkv, dh), h // hkv, axis=2).reshape(layers, d, h * dh)
    mha = CharAttentionLM(p, h, h)
    ids = np.arange(7) % cfg["vocab"]
    c_gqa, c_mha = gqa.new_cache(), mha.new_cache()
    z = gqa.logits(ids, c_gqa)
    _close(mha.logits(ids, c_mha), z, z)
    assert c_mha.nbytes * hkv == c_gqa.nbytes * h
