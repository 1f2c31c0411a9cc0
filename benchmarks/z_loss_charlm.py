"""What the z-loss does to the log-normaliser of the book's character model, over 10 seeds.

Trains the model of chapter 12 (``train_char_mlp`` with context 8, embedding 16, 256 hidden units, two epochs
of the first 90 % of *The Devil's Dictionary*, Adam at 3e-3) once per seed and z-loss weight, and records

* ``log_z``: the mean log-normaliser :math:`\\overline{\\operatorname{LSE}(z)}` of the training mini-batches,
  averaged over blocks of ``BLOCK`` steps (one value per block);
* ``val_nll``: the validation NLL (nats per character, last 10 % of the text) after each epoch;
* ``val_log_z``: the mean log-normaliser over the validation positions after training.

Everything is float64 with one BLAS thread (``train_char_mlp``), so a seed gives the same numbers on every run of a
machine; other CPUs agree to many digits, and the JSON keeps 6. It takes about 4 minutes of CPU time and writes
``softmax_nb/data/z_loss_charlm.json``, which the chapter "Controlling the normaliser and routing experts"
(book/normaliser_and_routers) reads.

Usage: ``python benchmarks/z_loss_charlm.py [--seeds 10]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import softmax_nb as snb
from softmax_nb.charlm import CharVocab, load_corpus, train_char_mlp

OUT = Path(__file__).resolve().parents[1] / "softmax_nb" / "data" / "z_loss_charlm.json"
WEIGHTS = (0.0, 1e-4, 1e-3)  # none, PaLM's weight, ten times it
CONFIG = {"context": 8, "embed": 16, "hidden": 256, "epochs": 2, "batch_size": 128, "lr": 3e-3}
BLOCK = 50


def run(seed: int, weight: float, train: np.ndarray, val: np.ndarray, vocab_size: int) -> dict:
    model, log = train_char_mlp(train, vocab_size, rng=seed, val_ids=val, z_loss=weight, **CONFIG)
    steps = np.asarray(log.log_z)
    blocks = steps[: len(steps) // BLOCK * BLOCK].reshape(-1, BLOCK).mean(axis=1)
    windows = np.lib.stride_tricks.sliding_window_view(val, CONFIG["context"])[:-1]
    val_log_z = float(np.mean(snb.logsumexp(model.logits(windows), axis=-1)))
    return {"seed": seed, "weight": weight, "val_nll": [round(float(v), 6) for v in log.val_nll],
            "val_log_z": round(val_log_z, 6), "log_z": [round(float(v), 4) for v in blocks]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    text = load_corpus()
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    cut = int(0.9 * len(ids))
    train, val = ids[:cut], ids[cut:]
    runs = []
    start = time.process_time()
    for seed in range(args.seeds):
        for weight in WEIGHTS:
            runs.append(run(seed, weight, train, val, len(vocab)))
            r = runs[-1]
            print(f"seed {seed} weight {weight:g}: val NLL {r['val_nll'][-1]:.4f}, "
                  f"val log Z {r['val_log_z']:.3f}, final train log Z {r['log_z'][-1]:.3f}", flush=True)
    out = {"config": CONFIG, "block": BLOCK, "weights": list(WEIGHTS), "seeds": args.seeds,
           "train_chars": int(len(train)), "val_chars": int(len(val)), "numpy": np.__version__, "runs": runs}
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(OUT.parents[2])} ({time.process_time() - start:.0f} s CPU)")


if __name__ == "__main__":
    main()
