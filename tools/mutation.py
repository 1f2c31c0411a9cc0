"""Mutation testing of the unit tests with mutmut, and a per-module report.

``make mutation`` installs mutmut (requirements-mutation.txt), runs
``mutmut run`` over the modules listed in ``[tool.mutmut]`` of pyproject.toml
with their unit tests, and prints, per module: mutants, killed, survived, the
survivors judged equivalent in tests/MUTATION.md, and the kill rate of the
non-equivalent mutants (goal: >= 95 % for each module).

Equivalent survivors are listed in tests/MUTATION.md as lines of the form
``- `softmax_nb.core.x_softmax__mutmut_12`: why no test can tell``.
Mutant numbers follow the code, so the list must be reviewed after a change.

Usage: python tools/mutation.py [--no-run] [mutant-glob ...]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REPORT = ROOT / "tests" / "MUTATION.md"
GOAL = 0.95


def equivalent_names() -> set[str]:
    if not REPORT.exists():
        return set()
    return set(re.findall(r"^- `(softmax_nb\.[\w.]+__mutmut_\d+)`", REPORT.read_text(), re.M))


def results() -> dict[str, str]:
    out = subprocess.run([str(BIN / "mutmut"), "results", "--all", "true"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return dict(re.findall(r"^\s*(softmax_nb\.[\w.]+__mutmut_\d+): ([\w ]+?)\s*$", out, re.M))


def module_of(name: str) -> str:
    return name.split(".")[1]


def summarise(status: dict[str, str], equivalent: set[str]) -> tuple[str, list[str], bool]:
    counts: dict[str, Counter] = defaultdict(Counter)
    survivors = []
    for name, st in sorted(status.items()):
        mod = module_of(name)
        counts[mod][st] += 1
        if st == "survived":
            counts[mod]["equivalent" if name in equivalent else "alive"] += 1
            if name not in equivalent:
                survivors.append(name)
    lines = ["| module | mutants | killed | timeout | survived | equivalent | kill rate (non-equivalent) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    ok = True
    for mod, c in sorted(counts.items()):
        total = sum(v for k, v in c.items() if k not in ("equivalent", "alive"))
        killed = c["killed"] + c["timeout"]
        relevant = total - c["equivalent"] - c["not checked"] - c["skipped"]
        rate = killed / relevant if relevant else 1.0
        unchecked = c["not checked"]
        ok &= rate >= GOAL and not unchecked
        shown = f"{rate:.1%}" + (f" ({unchecked} not run)" if unchecked else "")
        lines.append(f"| {mod} | {total} | {c['killed']} | {c['timeout']} | {c['survived']} | {c['equivalent']} "
                     f"| {shown} |")
    return "\n".join(lines), survivors, ok


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-run", action="store_true", help="only report the last run's results")
    ap.add_argument("globs", nargs="*", help="mutant names to (re)run, e.g. 'softmax_nb.core*'")
    args = ap.parse_args(argv)
    if not args.no_run:
        subprocess.run([str(BIN / "mutmut"), "run", *args.globs], cwd=ROOT, check=True)
    table, survivors, ok = summarise(results(), equivalent_names())
    print(table)
    if survivors:
        print(f"\n{len(survivors)} survivor(s) not listed as equivalent in {REPORT.relative_to(ROOT)}:")
        print("\n".join(f"  {s}" for s in survivors))
        print("Inspect one with: .venv/bin/mutmut show <name>")
    print(f"\nGoal: >= {GOAL:.0%} of non-equivalent mutants killed in every module: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
