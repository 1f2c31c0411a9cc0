"""The data files chapters read through the package (so a notebook runs on its own)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_results_in_the_package_match_the_benchmark_output():
    packaged = resources.files("softmax_nb").joinpath("data/softmax_bench.json").read_bytes()
    assert packaged == (ROOT / "benchmarks" / "results" / "softmax_bench.json").read_bytes(), \
        "run `make bench` (it copies the results into softmax_nb/data)"


def test_package_data_is_declared_for_the_wheel():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"data/*.json"' in text and '"data/*.txt"' in text
    for pattern in ("*.json", "*.txt"):
        assert list((ROOT / "softmax_nb" / "data").glob(pattern)), f"no {pattern} in softmax_nb/data"
