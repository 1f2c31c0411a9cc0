"""Shared pytest configuration: the hypothesis profile (strategies live in strategies.py)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("book", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# `make fuzz` (--hypothesis-profile=long): ten times the examples of the default profile, random
# draws even under CI=true. The property suite (tests/properties) scales its per-test budgets by
# max_examples / 60, so it runs 10x there too.
settings.register_profile("long", max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# On CI (CI=true, as .ci/run sets) the examples are derandomized: the same commit draws the same
# examples on every run, so a landed commit cannot fail later on a new random draw. Development runs
# stay random and explore (run them with --hypothesis-seed=N to replay one).
settings.register_profile("ci-fixed", parent=settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "book")),
                          derandomize=True)
settings.load_profile("ci-fixed" if os.environ.get("CI") == "true" else os.environ.get("HYPOTHESIS_PROFILE", "book"))


def _xdist_groups(item) -> list[str]:
    return sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                   for m in item.iter_markers("xdist_group")})


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Make ``--dist loadgroup`` group again under pytest 9.2.

    pytest-xdist 3.8 tells the scheduler a test's group by appending
    ``@<group>`` to ``item._nodeid``, which pytest 9.2 no longer reads (a
    node's id is now ``item._id``), so every test was scheduled on its own and
    module fixtures meant for one worker (the otter grading run, one browser
    visit per page) ran on both. Append the suffix where xdist could not.
    """
    if not getattr(config.option, "loadgroup", False):  # set by xdist on its workers
        return
    try:
        from _pytest.nodeid import coerce_node_id
    except ImportError:  # pytest < 9.2: xdist's own suffix works
        return
    for item in items:
        groups = _xdist_groups(item)
        if groups and "@" not in item.nodeid.rsplit("]", 1)[-1].rsplit("::", 1)[-1]:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(groups)}")


def pytest_configure(config):
    # Known with or without pytest-xdist (`-p no:xdist`), so no "unknown mark" warning.
    config.addinivalue_line("markers", "xdist_group(name): run on one worker under --dist loadgroup")
