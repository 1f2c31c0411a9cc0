"""Worst-case accuracy of softmax, log_softmax and logsumexp, in ulps, against mpmath.

For each dtype and each family of adversarial inputs, every row is evaluated by
``softmax_nb`` and by ``scipy.special``, and compared with the exact value
(mpmath, 60 digits, from the dtype's own input values). The error of one output
entry is ``|computed - exact| / ulp(exact)``, with ulp the spacing of the dtype
at the correctly rounded exact value (so a correctly rounded result has error
<= 0.5). The table gives the maximum over each family.

Usage: python benchmarks/accuracy.py [--rows 24] [--json benchmarks/results/accuracy.json]
Exit status 1 if softmax_nb is worse than scipy by more than 0.5 ulp anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import mpmath
import numpy as np
import scipy
import scipy.special as sps

import softmax_nb as snb

MP = mpmath.mp.clone()
MP.dps = 60
DTYPES = (np.float64, np.float32, np.float16)


def families(dtype: type, rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Adversarial inputs, scaled to the dtype's exponent range."""
    big = float(np.log(np.finfo(dtype).max))  # 709.8, 88.7, 11.1
    out = {
        "N(0,1), K=10": rng.standard_normal((rows, 10)),
        "N(0,(big/4)^2), K=100": rng.standard_normal((rows, 100)) * big / 4,
        "one dominant, gap 5..big": np.concatenate(
            [rng.uniform(5, big, (rows, 1)), rng.standard_normal((rows, 9))], axis=1),
        "near ties around 1e3": 1e3 + rng.standard_normal((rows, 10)) * 1e-2,
        "K=4096, N(0,1)": rng.standard_normal((rows, 4096)),
        "near overflow": rng.uniform(0.9 * big, big, (rows, 10)),
        "half masked (-inf)": np.where(rng.random((rows, 20)) < 0.5, -np.inf, rng.standard_normal((rows, 20))),
    }
    if dtype is np.float16:  # keep finite after rounding
        out["near ties around 1e3"] = 100 + rng.standard_normal((rows, 10)) * 0.1
    return {name: np.asarray(z, dtype=dtype) for name, z in out.items()}


def exact_row(z: np.ndarray) -> tuple[list, list, object]:
    """(softmax, log_softmax, lse) of one row as mpmath numbers (-inf entries give 0 / -inf)."""
    zs = [MP.mpf(float(v)) if np.isfinite(v) else None for v in z]
    top = int(np.argmax(z))
    m = zs[top]
    # log1p of the non-maximal terms: LSE - m can be far below m's last digit.
    rest = MP.log1p(MP.fsum(MP.exp(v - m) for i, v in enumerate(zs) if v is not None and i != top))
    lse = m + rest
    logp = [(v - m) - rest if v is not None else None for v in zs]
    p = [MP.exp(v) if v is not None else MP.zero for v in logp]
    return p, logp, lse


def ulp_error(computed: np.ndarray, exact: list, dtype: type) -> float:
    """max |computed - exact| / ulp(exact) over one row (exact None means -inf)."""
    worst = 0.0
    for c, e in zip(np.atleast_1d(computed), exact):
        if e is None:
            worst = max(worst, 0.0 if c == -np.inf else np.inf)
            continue
        if not np.isfinite(c):
            return np.inf
        rounded = np.asarray(float(e), dtype=dtype)
        ulp = float(np.spacing(np.abs(rounded)))
        worst = max(worst, float(abs(MP.mpf(float(c)) - e) / ulp))
    return worst


Impl = dict[str, Callable[[np.ndarray], np.ndarray]]
IMPLS: dict[str, Impl] = {
    "softmax_nb": {"softmax": snb.softmax, "log_softmax": snb.log_softmax, "logsumexp": snb.logsumexp},
    "scipy": {"softmax": lambda z: sps.softmax(z, axis=-1), "log_softmax": lambda z: sps.log_softmax(z, axis=-1),
              "logsumexp": lambda z: sps.logsumexp(z, axis=-1)},
}


def measure(rows: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    results = []
    for dtype in DTYPES:
        for fam, z in families(dtype, rows, rng).items():
            exact = [exact_row(row) for row in z]
            for fn in ("softmax", "log_softmax", "logsumexp"):
                rec = {"dtype": np.dtype(dtype).name, "family": fam, "function": fn}
                for lib, impl in IMPLS.items():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        out = np.asarray(impl[fn](z))
                    idx = {"softmax": 0, "log_softmax": 1, "logsumexp": 2}[fn]
                    errs = [ulp_error(o if fn != "logsumexp" else np.array([o]),
                                      e[idx] if fn != "logsumexp" else [e[2]], dtype)
                            for o, e in zip(out, exact)]
                    rec[lib] = max(errs)
                    rec[f"{lib}_dtype"] = out.dtype.name
                results.append(rec)
    return results


def table(results: list[dict]) -> str:
    lines = ["| dtype | inputs | function | softmax_nb (ulp) | scipy (ulp) |", "|---|---|---|---:|---:|"]
    for r in results:
        flag = " **worse**" if r["softmax_nb"] > r["scipy"] + 0.5 else ""
        scipy_note = "" if r["scipy_dtype"] == r["dtype"] else f" (returns {r['scipy_dtype']})"
        lines.append(f"| {r['dtype']} | {r['family']} | {r['function']} | {r['softmax_nb']:.3g}{flag} "
                     f"| {r['scipy']:.3g}{scipy_note} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=24)
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "accuracy.json")
    args = ap.parse_args(argv)
    results = measure(args.rows)
    print(f"numpy {np.__version__}, scipy {scipy.__version__}, {args.rows} rows per family\n")
    print(table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"numpy": np.__version__, "scipy": scipy.__version__, "rows": args.rows,
                                     "results": results}, indent=1) + "\n")
    worse = [r for r in results if r["softmax_nb"] > r["scipy"] + 0.5]
    if worse:
        print(f"\nsoftmax_nb is worse than scipy by more than 0.5 ulp in {len(worse)} case(s)")
    return 1 if worse else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
