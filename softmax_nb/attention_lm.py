r"""A small causal attention language model over characters, built to be decoded with a KV cache.

The book's :class:`~softmax_nb.charlm.CharMLP` reads a fixed window of characters and has nothing to cache. This
model reads the whole prefix through causal self-attention, so generating from it token by token is the workload a
key-value cache serves. It is built to be cheap, and it is honest about what that costs:

* **The attention layers are random and fixed.** The embedding and every weight of the attention layers and of the
  final feed-forward block are drawn once; their only position signal is ALiBi's linear recency bias (Press et al.,
  2022). Random queries and keys cannot learn what to look at, so the attention outputs are recency-weighted mixtures
  of the recent characters, with content-dependent noise.
* **Two parts are fitted, both cheaply.** A *direct path* :math:`U`, a bigram table (the zero-layer path of a
  transformer is a bigram model; Elhage et al., 2021), is the add-:math:`c` smoothed log-frequency of each character
  pair, counted in one pass. The *output layer* :math:`W_{out}, b_{out}` is fitted by a few iterations of L-BFGS on
  the cross-entropy of the next character, with the bigram logits as a fixed offset (:func:`fit_char_attention_lm`).

So the model is a bigram plus what the attention path adds to it; the book measures how much that is (less than a
tenth of a nat per character on its corpus, far less than a trained model gains). Everything about caching depends on the architecture, not on
the weights, and the architecture is a real one:

One layer :math:`\ell`, with :math:`H` query heads sharing :math:`H_{kv}` key/value heads (grouped-query attention;
:math:`H_{kv} = 1` is multi-query, :math:`H_{kv} = H` multi-head), acts on the residual stream :math:`x`:

.. math::

    a = \operatorname{rms}(x), \quad q = a W_q^{(\ell)}, \quad k = a W_k^{(\ell)}, \quad v = a W_v^{(\ell)}, \qquad
    S^{h}_{ij} = \frac{q^h_i \cdot k^{g(h)}_j}{\sqrt{d_h}} - m_h\, (i - j) \quad (j \le i),

    x \leftarrow x + \big[\operatorname{softmax}(S^{1}) v^{g(1)}; \dots; \operatorname{softmax}(S^{H}) v^{g(H)}\big]
    W_o^{(\ell)},

with :math:`g(h) = \lfloor h H_{kv} / H \rfloor` the key/value head of query head :math:`h` and slopes
:math:`m_h = 2^{-8(h-1)/H}` for :math:`h = 1, \dots, H` (ALiBi's geometric sequence, started at 1 rather than
:math:`2^{-8/H}`, so that one head looks mostly at the last character or two). The bias is written as a dot
product, :math:`-m_h (i - j) = \sqrt{d_h}\,(-m_h i,\ m_h) \cdot (1,\ j) / \sqrt{d_h}`, by two extra coordinates of
each query and key, so :func:`~softmax_nb.attention.attention` computes it with the scores; ``i`` and ``j`` are
absolute positions. The input is the embedding :math:`x = E_{x_t}` and the logits are

.. math::

    z_t = U_{x_t} + \max\big(0, \operatorname{rms}(x^{(L)}_t) W_f\big)\, W_{out} + b_{out} .

References: Press, Smith and Lewis, "Train short, test long: attention with linear biases enables input length
extrapolation", ICLR 2022; Elhage et al., "A mathematical framework for transformer circuits", 2021; Ainslie et
al., "GQA", EMNLP 2023.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import ArgumentTypeError, check_bool, check_choice, check_generator, check_int, check_nonnegative
from ._checks import real_scalar
from .attention import attention, merge_attention
from .charlm import _check_ids, _one_blas_thread
from .decoding import sample
from .kvcache import KVCache
from .losses import cross_entropy, cross_entropy_grad

__all__ = ["CharAttentionLM", "fit_char_attention_lm"]

Array = NDArray[np.float64]
_PARAM_NAMES = ("E", "Wq", "Wk", "Wv", "Wo", "slopes", "U", "Wf", "W_out", "b_out")
Align = Literal["bottom_right", "top_left"]
_SAMPLE_OPTIONS = ("temperature", "top_k", "top_p", "min_p", "typical_p", "epsilon")


def _rms(x: Array) -> Array:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-6)


@dataclass(eq=False)
class CharAttentionLM:
    r"""A causal attention language model over characters (see the module docstring), float64 throughout.

    Build one with :func:`fit_char_attention_lm`. Call :meth:`logits` on a whole sequence (a full prefill), or
    with a :class:`~softmax_nb.kvcache.KVCache` from :meth:`new_cache` on the tokens that follow the cached ones
    (a decode step or a chunked prefill); :meth:`generate` decodes with or without the cache, with the same tokens.

    Attributes
    ----------
    params : dict of numpy.ndarray
        ``E`` (V, d), ``Wq`` (L, d, H d_h), ``Wk`` and ``Wv`` (L, d, H_kv d_h), ``Wo`` (L, H d_h, d),
        ``slopes`` (H,) positive, ``U`` (V, V), ``Wf`` (d, F), ``W_out`` (F, V), ``b_out`` (V,).
    num_heads, num_kv_heads : int
        :math:`H` and :math:`H_{kv}`, with :math:`H_{kv}` dividing :math:`H`.

    Raises
    ------
    ValueError
        If the keys or shapes of ``params`` do not fit together, :math:`H_{kv}` does not divide :math:`H`, a
        parameter is not finite or a slope is not positive.

    Examples
    --------
    >>> ids = np.arange(400) % 7
    >>> model = fit_char_attention_lm(ids, 7, dim=16, num_heads=4, num_kv_heads=2, features=16,
    ...                               window=32, num_windows=8)
    >>> cache = model.new_cache()
    >>> prefill = model.logits(ids[:10], cache)          # 10 positions at once
    >>> step = model.logits(ids[10:11], cache)           # one more, against the 10 cached
    >>> bool(np.allclose(step, model.logits(ids[:11])[-1:], rtol=1e-12, atol=1e-12))
    True
    """

    params: dict[str, Array]
    num_heads: int
    num_kv_heads: int

    __hash__ = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not isinstance(self.params, dict) or sorted(self.params) != sorted(_PARAM_NAMES):
            raise ValueError(f"params must be a dict with the keys {list(_PARAM_NAMES)}")
        self.params = {k: np.array(a, dtype=np.float64) for k, a in self.params.items()}
        h = check_int(self.num_heads, "num_heads", 1)
        hkv = check_int(self.num_kv_heads, "num_kv_heads", 1)
        if h % hkv:
            raise ValueError(f"num_kv_heads must divide num_heads, got {hkv} and {h}")
        p = self.params
        if p["E"].ndim != 2 or p["Wq"].ndim != 3 or p["Wf"].ndim != 2:
            raise ValueError("params E and Wf must be 2-D and Wq 3-D")
        v, d = p["E"].shape
        layers, _, hd = p["Wq"].shape
        if layers < 1 or hd < h or hd % h:
            raise ValueError(f"Wq must have shape (layers >= 1, d, num_heads * head_dim), got {p['Wq'].shape}")
        dh, f = hd // h, p["Wf"].shape[1]
        want = {"E": (v, d), "Wq": (layers, d, h * dh), "Wk": (layers, d, hkv * dh), "Wv": (layers, d, hkv * dh),
                "Wo": (layers, h * dh, d), "slopes": (h,), "U": (v, v), "Wf": (d, f), "W_out": (f, v),
                "b_out": (v,)}
        got = {k: p[k].shape for k in want}
        if got != want:
            raise ValueError(f"params must have shapes {want}, got {got}")
        if not all(np.isfinite(a).all() for a in p.values()):
            raise ValueError("params must be finite")
        if not (p["slopes"] > 0).all():
            raise ValueError(f"params['slopes'] must be positive, got {p['slopes']}")
        self.num_heads, self.num_kv_heads = h, hkv

    @property
    def vocab_size(self) -> int:
        """The number of tokens :math:`V`."""
        return int(self.params["E"].shape[0])

    @property
    def dim(self) -> int:
        """The width :math:`d` of the residual stream."""
        return int(self.params["E"].shape[1])

    @property
    def num_layers(self) -> int:
        """The number of attention layers :math:`L`."""
        return int(self.params["Wq"].shape[0])

    @property
    def head_dim(self) -> int:
        """The width :math:`d_h` of a head."""
        return int(self.params["Wq"].shape[2]) // self.num_heads

    @property
    def slopes(self) -> Array:
        r"""The ALiBi slopes :math:`m_h`, one per query head."""
        return self.params["slopes"]

    def new_cache(self, *, capacity: int = 64) -> KVCache:
        """An empty float64 :class:`~softmax_nb.kvcache.KVCache` shaped for this model."""
        return KVCache(num_layers=self.num_layers, num_kv_heads=self.num_kv_heads, head_dim=self.head_dim,
                       capacity=capacity)

    def _check_cache(self, cache: Any) -> KVCache:
        if not isinstance(cache, KVCache):
            raise ArgumentTypeError(f"cache must be a KVCache or None, got {type(cache).__name__}")
        shape = (cache.num_layers, cache.num_kv_heads, cache.head_dim)
        want = (self.num_layers, self.num_kv_heads, self.head_dim)
        if shape != want or cache.dtype != np.float64:
            raise ValueError(f"cache must hold float64 (layers, kv heads, head_dim) = {want}, "
                             f"got {shape} {cache.dtype} (use model.new_cache())")
        if len({cache.keys(i).shape[1] for i in range(self.num_layers)}) > 1:
            raise ValueError("cache must hold the same number of positions in every layer")
        return cache

    def _attend(self, q: Array, k: Array, v: Array, causal: Align, splits: int) -> Array:
        """Attention of the ``t`` newest positions' queries to all ``n`` keys, whole or split over the keys."""
        if splits == 1:
            return np.asarray(attention(q, k, v, causal=causal, scale=1.0 / math.sqrt(self.head_dim)), dtype=np.float64)
        t, n = q.shape[-2], k.shape[-2]
        rows, cols = np.arange(t)[:, None], np.arange(n)[None, :]
        allowed = cols <= rows + (n - t if causal == "bottom_right" else 0)
        outs, lses = [], []
        for chunk in np.array_split(np.arange(n), min(splits, n)):
            c = slice(int(chunk[0]), int(chunk[-1]) + 1)
            o, lse = attention(q, k[..., c, :], v[..., c, :], mask=allowed[:, c], return_lse=True,
                               scale=1.0 / math.sqrt(self.head_dim))
            outs.append(o)
            lses.append(lse)
        return np.asarray(merge_attention(outs, lses)[0], dtype=np.float64)

    def _layer(self, layer: int, x: Array, start: int, cache: KVCache | None, causal: Align, splits: int) -> Array:
        p, h, hkv, dh = self.params, self.num_heads, self.num_kv_heads, self.head_dim
        t = x.shape[0]
        a = _rms(x)
        q = (a @ p["Wq"][layer]).reshape(t, h, dh).transpose(1, 0, 2)
        k = (a @ p["Wk"][layer]).reshape(t, hkv, dh).transpose(1, 0, 2)
        v = (a @ p["Wv"][layer]).reshape(t, hkv, dh).transpose(1, 0, 2)
        if cache is not None:
            k, v = cache.append(layer, k, v)
        n = k.shape[1]
        root = math.sqrt(dh)  # the bias coordinates are scaled by sqrt(d_h) to undo the 1/sqrt(d_h) of the scores
        m = self.slopes[:, None, None]
        rows = np.arange(start, start + t, dtype=np.float64)[None, :, None]
        q_bias = np.concatenate([-m * rows * root, np.broadcast_to(m * root, (h, t, 1))], axis=-1)
        q_aug = np.concatenate([q, q_bias], axis=-1).reshape(hkv, h // hkv, t, dh + 2)
        cols = np.arange(n, dtype=np.float64)[None, :, None]
        k_bias = np.concatenate([np.ones((hkv, n, 1)), np.broadcast_to(cols, (hkv, n, 1))], axis=-1)
        k_aug = np.concatenate([k, k_bias], axis=-1)[:, None]
        o = self._attend(q_aug, k_aug, v[:, None], causal, splits)  # (hkv, H/hkv, t, dh)
        return x + o.reshape(h, t, dh).transpose(1, 0, 2).reshape(t, h * dh) @ p["Wo"][layer]

    def _features(self, ids: NDArray[np.intp], cache: KVCache | None, causal: Align = "bottom_right",
                  splits: int = 1) -> Array:
        start = 0 if cache is None else cache.length
        x = self.params["E"][ids]
        for layer in range(self.num_layers):
            x = self._layer(layer, x, start, cache, causal, splits)
        return np.maximum(_rms(x) @ self.params["Wf"], 0.0)

    def _ids(self, ids: ArrayLike, name: str = "ids") -> NDArray[np.intp]:
        arr = _check_ids(ids, self.vocab_size, name)
        if arr.ndim != 1:
            raise ValueError(f"{name} must be a 1-D sequence of token ids, got shape {arr.shape}")
        return arr

    def logits(self, ids: ArrayLike, cache: KVCache | None = None, *, causal: str = "bottom_right",
               num_splits: int = 1) -> Array:
        r"""Next-token logits after every position of ``ids``, shape ``(n, V)``.

        Parameters
        ----------
        ids : array_like of int
            Without ``cache``, the whole sequence (a full prefill). With ``cache``, the tokens that follow the
            cached positions: their keys and values are appended to the cache and their queries, the *last*
            ``n`` of all positions, attend to every cached key. A decoding step is ``logits([token], cache)``;
            a chunked prefill is several calls.
        cache : KVCache, optional
            From :meth:`new_cache`; updated in place.
        causal : {'bottom_right', 'top_left'}, default 'bottom_right'
            How the causal triangle is aligned when there are more keys than queries (see
            :func:`~softmax_nb.attention.attention`). ``'bottom_right'`` is the right one for a cache.
            ``'top_left'``, what ``causal=True`` does, lets the ``i``-th new query see only the first ``i + 1``
            cached keys: it is wrong whenever the cache is not empty, and is here to show that mistake.
        num_splits : int, default 1
            Split each layer's keys into this many contiguous chunks (at most one per key), attend to each with
            ``return_lse=True`` and combine them with :func:`~softmax_nb.attention.merge_attention`: the
            Flash-Decoding (split-K) schedule. The result equals ``num_splits=1`` up to rounding.

        Returns
        -------
        numpy.ndarray
            Shape ``(n, V)``, float64.

        Raises
        ------
        ValueError
            For ids outside ``[0, V)``, a ``cache`` that does not fit the model, or a bad ``causal`` or
            ``num_splits``; a wrong type is an :class:`~softmax_nb._checks.ArgumentTypeError`.
        """
        ids_ = self._ids(ids)
        align = cast(Align, check_choice(causal, ("bottom_right", "top_left"), "causal"))
        splits = check_int(num_splits, "num_splits", 1)
        if cache is not None:
            self._check_cache(cache)
        if ids_.size == 0:
            return np.zeros((0, self.vocab_size))
        f = self._features(ids_, cache, align, splits)
        return self.params["U"][ids_] + f @ self.params["W_out"] + self.params["b_out"]

    def nll(self, ids: ArrayLike, *, window: int = 128) -> np.float64:
        r"""Mean negative log-likelihood (nats per character) of ``ids[1:]``, read in consecutive windows of
        ``window`` characters, each a full prefill from an empty context.

        Each window scores its next ``window`` characters, so position ``t`` is predicted from the characters
        since the start of its window (between 1 and ``window`` of them).
        """
        arr = self._ids(ids)
        w = check_int(window, "window", 1)
        if arr.size < 2:
            raise ValueError(f"ids must hold at least 2 tokens, got {arr.size}")
        total = 0.0
        for s in range(0, arr.size - 1, w):
            chunk = arr[s:s + w + 1]
            total += float(cross_entropy(self.logits(chunk[:-1]), chunk[1:], reduction="sum"))
        return np.float64(total / (arr.size - 1))

    def generate(self, prompt: ArrayLike, length: int, rng: int | np.random.Generator | None = None, *,
                 use_cache: bool = True, greedy: bool = False, **sample_kwargs: Any) -> NDArray[np.intp]:
        """Continue ``prompt`` by ``length`` tokens, with a KV cache (default) or by recomputing the whole
        prefix at every step; both give the same tokens (up to ties within rounding).

        Parameters
        ----------
        prompt : array_like of int
            At least one token id.
        length : int
            Tokens to generate, >= 1.
        rng : int, numpy.random.Generator or None
            As in :func:`~softmax_nb.decoding.sample`; one draw per token. Not used with ``greedy``.
        use_cache : bool, default True
            Keep the keys and values in a :class:`~softmax_nb.kvcache.KVCache` and compute one position per
            step; ``False`` recomputes the logits of the whole prefix at every step.
        greedy : bool, default False
            Take the most probable token (the first on ties).
        **sample_kwargs
            The options of :func:`~softmax_nb.decoding.sample` (``temperature``, ``top_k``, ``top_p``,
            ``min_p``, ``typical_p``, ``epsilon``); none with ``greedy=True``.

        Returns
        -------
        numpy.ndarray of numpy.intp
            The ``length`` generated ids.
        """
        unknown = sorted(set(sample_kwargs) - set(_SAMPLE_OPTIONS))
        if unknown:
            raise TypeError(f"generate() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; its "
                            f"sampling options are those of sample(): {', '.join(_SAMPLE_OPTIONS)}")
        cached, greedy_ = check_bool(use_cache, "use_cache"), check_bool(greedy, "greedy")
        if greedy_ and sample_kwargs:
            raise TypeError(f"generate(greedy=True) takes no sampling options, got {', '.join(sorted(sample_kwargs))}")
        ids = self._ids(prompt, "prompt")
        if ids.size == 0:
            raise ValueError("prompt must hold at least one token")
        n = check_int(length, "length", 1)
        checked = check_generator(rng) if rng is not None or not greedy_ else None
        gen = None if greedy_ else checked
        out = np.empty(n, dtype=np.intp)
        seq = np.concatenate([ids, out])
        cache = self.new_cache(capacity=ids.size + n) if cached else None
        z = self.logits(ids, cache)[-1]
        for i in range(n):
            token = int(np.argmax(z)) if gen is None else int(sample(z, gen, **sample_kwargs))
            out[i] = seq[ids.size + i] = token
            if i + 1 < n:
                z = (self.logits(out[i:i + 1], cache) if cache is not None else self.logits(seq[:ids.size + i + 1]))[-1]
        return out


def fit_char_attention_lm(train_ids: ArrayLike, vocab_size: int, *, dim: int = 64, num_heads: int = 8,
                          num_kv_heads: int = 2, num_layers: int = 2, features: int = 128, window: int = 128,
                          num_windows: int = 256, pseudo_count: float = 0.1, weight_decay: float = 1e-4,
                          max_iter: int = 30, rng: int | np.random.Generator | None = 0) -> CharAttentionLM:
    r"""Build a :class:`CharAttentionLM` with random attention layers and fit its bigram path and output layer.

    1. The embedding and every weight before :math:`W_{out}` are drawn once: :math:`E \sim N(0, 1)`, the
       projections :math:`N(0, 1/\text{fan-in})`; the slopes are :math:`m_h = 2^{-8(h-1)/H}`.
    2. The direct path is the smoothed bigram log-frequency
       :math:`U_{ab} = \log\big((n_{ab} + c) / (n_a + V c)\big)`, with :math:`n_{ab}` the count of ``a`` followed
       by ``b`` in ``train_ids`` and :math:`c` = ``pseudo_count``.
    3. ``num_windows`` windows of ``window + 1`` characters are drawn from ``train_ids``; the features
       :math:`f_t = \max(0, \operatorname{rms}(x_t) W_f)` of each (a full prefill from an empty context) are
       standardised, and :math:`W_{out}, b_{out}` minimise, from zero, the mean cross-entropy of the next
       characters under :math:`z_t = U_{x_t} + f_t W_{out} + b_{out}` plus :math:`\frac{\lambda}{2}\lVert W\rVert^2`
       (on the standardised features; :math:`\lambda` = ``weight_decay``) by at most ``max_iter`` iterations of
       L-BFGS-B. The objective is convex; the few iterations stop it early, which also regularises. The
       standardisation is folded into :math:`W_{out}, b_{out}`.

    The fit runs on one BLAS thread (faster for these small matrices, and the same model on any core count). It
    takes a few seconds for the defaults (32 768 positions).

    Parameters
    ----------
    train_ids : array_like of int
        1-D token ids in ``[0, vocab_size)``, more than ``window + 1`` of them.
    vocab_size : int
        :math:`V \ge 2`.
    dim, num_heads, num_kv_heads, num_layers, features : int
        :math:`d`, :math:`H`, :math:`H_{kv}`, :math:`L` and :math:`F`; :math:`H` divides :math:`d` and
        :math:`H_{kv}` divides :math:`H`.
    window, num_windows : int
        The training windows: ``num_windows * window`` positions.
    pseudo_count : float, default 0.1
        :math:`c > 0`, added to every bigram count.
    weight_decay : float, default 1e-4
        :math:`\lambda \ge 0`.
    max_iter : int, default 30
        L-BFGS-B iterations, >= 1.
    rng : int, numpy.random.Generator or None, default 0
        Draws the weights and the windows.

    Returns
    -------
    CharAttentionLM

    Raises
    ------
    ValueError
        For ids outside ``[0, vocab_size)``, too short a ``train_ids``, sizes that do not divide, or options out
        of range; a wrong type is an :class:`~softmax_nb._checks.ArgumentTypeError`.
    """
    from scipy.optimize import minimize

    v = check_int(vocab_size, "vocab_size", 2)
    ids = _check_ids(train_ids, v, "train_ids")
    d, h, hkv, layers, f, w, nw, iters = (
        check_int(x, name, 1) for x, name in ((dim, "dim"), (num_heads, "num_heads"),
                                              (num_kv_heads, "num_kv_heads"), (num_layers, "num_layers"),
                                              (features, "features"), (window, "window"),
                                              (num_windows, "num_windows"), (max_iter, "max_iter")))
    if ids.ndim != 1 or ids.size < w + 2:
        raise ValueError(f"train_ids must be a 1-D sequence of more than window + 1 = {w + 1} ids, "
                         f"got shape {ids.shape}")
    c = real_scalar(pseudo_count, "pseudo_count", "a number > 0")
    if not (math.isfinite(c) and c > 0):
        raise ValueError(f"pseudo_count must be a finite number > 0, got {pseudo_count!r}")
    lam = check_nonnegative(weight_decay, "weight_decay")
    if d % h:
        raise ValueError(f"num_heads must divide dim, got {h} and {d}")
    if h % hkv:
        raise ValueError(f"num_kv_heads must divide num_heads, got {hkv} and {h}")
    gen = check_generator(rng)
    dh = d // h
    counts = np.full((v, v), c)
    np.add.at(counts, (ids[:-1], ids[1:]), 1.0)
    params = {
        "E": gen.standard_normal((v, d)),
        "Wq": gen.standard_normal((layers, d, h * dh)) / math.sqrt(d),
        "Wk": gen.standard_normal((layers, d, hkv * dh)) / math.sqrt(d),
        "Wv": gen.standard_normal((layers, d, hkv * dh)) / math.sqrt(d),
        "Wo": gen.standard_normal((layers, h * dh, d)) / math.sqrt(h * dh),
        "slopes": 2.0 ** (-8.0 * np.arange(h) / h),
        "U": np.log(counts / counts.sum(axis=1, keepdims=True)),
        "Wf": gen.standard_normal((d, f)) / math.sqrt(d),
        "W_out": np.zeros((f, v)),
        "b_out": np.zeros(v),
    }
    model = CharAttentionLM(params, h, hkv)
    starts = gen.integers(0, ids.size - w, size=nw)
    with _one_blas_thread():
        X = np.concatenate([model._features(ids[s:s + w], None) for s in starts])
        ctx = np.concatenate([ids[s:s + w] for s in starts])
        y = np.concatenate([ids[s + 1:s + w + 1] for s in starts])
        mu, sd = X.mean(axis=0), X.std(axis=0)
        sd[sd == 0] = 1.0
        Xs, offset = (X - mu) / sd, params["U"][ctx]

        def objective(theta: Array) -> tuple[float, Array]:
            W, b = theta[:f * v].reshape(f, v), theta[f * v:]
            z = Xs @ W + b + offset
            g = cross_entropy_grad(z, y)
            loss = float(cross_entropy(z, y)) + 0.5 * lam * float(np.sum(W * W))
            return loss, np.concatenate([(Xs.T @ g + lam * W).ravel(), g.sum(axis=0)])

        res = minimize(objective, np.zeros(f * v + v), jac=True, method="L-BFGS-B", options={"maxiter": iters})
    W, b = res.x[:f * v].reshape(f, v), res.x[f * v:]
    model.params["W_out"] = W / sd[:, None]
    model.params["b_out"] = b - (mu / sd) @ W
    return model
