"""Tests written to kill surviving mutmut mutants of softmax_nb.streaming (see tests/MUTATION.md)."""

from __future__ import annotations
