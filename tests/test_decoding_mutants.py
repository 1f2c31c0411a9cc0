"""Tests written to kill surviving mutmut mutants of softmax_nb.decoding (see tests/MUTATION.md)."""

from __future__ import annotations
