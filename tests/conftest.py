"""Shared pytest configuration: the hypothesis profile (strategies live in strategies.py)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("book", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "book"))
