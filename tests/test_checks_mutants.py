"""Tests written to kill surviving mutmut mutants of softmax_nb._checks (see tests/MUTATION.md)."""

from __future__ import annotations
