"""Why float64 softmax loses its lead over PyTorch on CPUs without AVX-512.

numpy vectorises ``np.exp`` for float32 with AVX2 and AVX-512 kernels, but for
float64 only with AVX-512 (SVML; numpy PRs #15648 and #20991): without AVX-512 a
float64 ``exp`` is glibc's scalar ``exp``, one element at a time. PyTorch's CPU
kernels vectorise float64 ``exp`` with AVX2 (Sleef). So on an AVX2-only CPU
(e.g. AMD EPYC Zen 2/3) float64 ``snb.softmax`` pays for a scalar ``exp``, and
float32 does not.

This script measures it on the machine it runs on. For each numpy dispatch
level (all features found; AVX-512 disabled with ``NPY_DISABLE_CPU_FEATURES``,
as on a CPU without it; AVX2 disabled too) it starts a fresh interpreter that
times, interleaved in one run: one ``np.exp`` pass into a preallocated array, ``snb.softmax`` and, if installed,
``torch.softmax`` on one thread, for float32 and float64 4096 x 8192 arrays.
It prints nanoseconds per element (the fastest of the rounds, the one least
disturbed by other work on the machine) and ratios, and writes
``benchmarks/results/simd_exp.json`` (``make bench`` copies it into
``softmax_nb/data`` for the appendix "Softmax speed on a CPU", book/softmax_speed).

Usage: ``python benchmarks/simd_exp.py [--rounds 9]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "simd_exp.json"
LEVELS = {"native": "", "no AVX-512": "X86_V4 AVX512_ICL AVX512_SPR",
          "baseline (no AVX2)": "X86_V4 AVX512_ICL AVX512_SPR X86_V3"}
SHAPE = (4096, 8192)


def child(rounds: int) -> dict:
    """Run in the subprocess: time the candidates interleaved, return medians in ns/element."""
    import numpy as np

    import softmax_nb as snb

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    out: dict = {"numpy_simd": _simd_found(np), "numpy": np.__version__,
                 "torch": None if torch is None else torch.__version__}
    for dtype in ("float32", "float64"):
        x = rng.normal(0.0, 3.0, size=SHAPE).astype(dtype)
        buf = np.empty_like(x)
        cands = {"np.exp": lambda: np.exp(x, out=buf), "snb.softmax": lambda: snb.softmax(x)}
        if torch is not None:
            tx = torch.from_numpy(x)
            cands["torch.softmax"] = lambda: torch.softmax(tx, dim=-1)
        times: dict[str, list[float]] = {k: [] for k in cands}
        names = list(cands)
        for r in range(rounds + 1):
            for name in names[r % len(names):] + names[:r % len(names)]:
                t0 = time.perf_counter()
                cands[name]()
                dt = time.perf_counter() - t0
                if r:  # round 0 warms up
                    times[name].append(dt)
        out[dtype] = {k: 1e9 * min(v) / x.size for k, v in times.items()}  # the least disturbed run
    return out


def _simd_found(np) -> list[str]:
    """The dispatch targets numpy uses here (those that NPY_DISABLE_CPU_FEATURES did not switch off)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    return [k for k in __cpu_dispatch__ if __cpu_features__.get(k)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.rounds)))
        return
    results = {"machine": {"cpu": _cpu_name(), "python": platform.python_version()}, "levels": {}}
    for label, disable in LEVELS.items():
        env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=disable, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        proc = subprocess.run([sys.executable, __file__, "--child", "--rounds", str(args.rounds)],
                              env=env, capture_output=True, text=True, check=True)
        results["levels"][label] = json.loads(proc.stdout.strip().splitlines()[-1])
    for label, res in results["levels"].items():
        print(f"{label} (numpy SIMD: {', '.join(res['numpy_simd'])})")
        for dtype in ("float32", "float64"):
            r = res[dtype]
            line = f"  {dtype}: np.exp {r['np.exp']:.2f} ns/elt, snb.softmax {r['snb.softmax']:.2f} ns/elt"
            if "torch.softmax" in r:
                line += f", torch {r['torch.softmax']:.2f} ns/elt, torch/snb {r['torch.softmax'] / r['snb.softmax']:.2f}x"
            print(line)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written to {RESULTS}")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    main()
