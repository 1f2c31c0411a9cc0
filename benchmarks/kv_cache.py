"""How much a KV cache speeds up decoding the book's character attention model, as the context grows.

For each context length n this script times one decoding step of ``snb.CharAttentionLM`` (the chapter's
configuration, fitted by ``snb.fit_char_attention_lm`` on the book's corpus) in two ways:

* **cached**: the n positions are in a ``KVCache``; the step computes the new token's query, key and value and
  attends to the n + 1 cached keys (``model.logits([token], cache)``);
* **recomputed**: the step runs the whole prefix of n + 1 tokens through the model (``model.logits(prefix)``),
  as decoding without a cache does.

Both run on one BLAS thread. Each timing is the fastest of ``--rounds`` rounds (the one least disturbed by other
work on the machine); a cached round times ``STEPS`` consecutive steps and reports their mean. The results, with the
machine, go to ``softmax_nb/data/kv_cache.json``, which the chapter "Decoding with a KV cache" (book/kv_cache)
reads; timings never go into a notebook's stored outputs.

Usage: ``python benchmarks/kv_cache.py [--rounds 7]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from simd_exp import _cpu_name  # the CPU model, recorded as simd_exp does (the script runs from benchmarks/)

RESULTS = Path(__file__).resolve().parents[1] / "softmax_nb" / "data" / "kv_cache.json"
CONTEXTS = (16, 32, 64, 128, 256, 512, 1024, 2048)
STEPS = 16


def measure(rounds: int) -> dict:
    from threadpoolctl import threadpool_limits

    import softmax_nb as snb

    text = snb.load_corpus()
    vocab = snb.CharVocab.from_text(text)
    ids = vocab.encode(text)
    cut = int(0.9 * len(ids))
    with threadpool_limits(limits=1, user_api="blas"):
        model = snb.fit_char_attention_lm(ids[:cut], len(vocab))
        val = ids[cut:]
        out: dict = {"contexts": list(CONTEXTS), "cached_s": [], "recomputed_s": [], "speedup": []}
        for n in CONTEXTS:
            cached, recomputed = [], []
            for _ in range(rounds):
                cache = model.new_cache(capacity=n + STEPS + 1)
                model.logits(val[:n], cache)
                t0 = time.perf_counter()
                for s in range(STEPS):
                    model.logits(val[n + s:n + s + 1], cache)
                cached.append((time.perf_counter() - t0) / STEPS)
                t0 = time.perf_counter()
                model.logits(val[:n + 1])
                recomputed.append(time.perf_counter() - t0)
            out["cached_s"].append(min(cached))
            out["recomputed_s"].append(min(recomputed))
            out["speedup"].append(min(recomputed) / min(cached))
            print(f"n = {n:5d}: cached {1e3 * min(cached):8.3f} ms/token, recomputed {1e3 * min(recomputed):9.3f} "
                  f"ms/token, speed-up {out['speedup'][-1]:7.1f}x", flush=True)
    cfg = {"num_layers": model.num_layers, "num_heads": model.num_heads, "num_kv_heads": model.num_kv_heads,
           "head_dim": model.head_dim, "dim": model.dim, "features": int(model.params["Wf"].shape[1]),
           "vocab_size": model.vocab_size}
    return {"model": cfg, "rounds": rounds, "steps_per_round": STEPS, "statistic": "fastest round", **out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    res = measure(args.rounds)
    import numpy

    res["machine"] = {"cpu": _cpu_name(), "python": platform.python_version(), "numpy": numpy.__version__,
                      "blas_threads": 1}
    RESULTS.write_text(json.dumps(res, indent=1) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
