"""Tests for softmax_nb.notebook: where warnings go and the traceback setting."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from softmax_nb import notebook


@pytest.fixture(autouse=True)
def _restore_warnings():
    import matplotlib

    saved = warnings.showwarning, warnings.formatwarning
    with warnings.catch_warnings(), np.printoptions(), matplotlib.rc_context():
        yield
    warnings.showwarning, warnings.formatwarning = saved


def test_warnings_go_to_stdout_in_one_line(capsys):
    notebook.compact_warnings()
    print("before")
    with np.errstate(over="warn"):
        np.exp(np.array([1000.0]))
    print("after")
    out, err = capsys.readouterr()
    assert out == "before\nRuntimeWarning: overflow encountered in exp\nafter\n"
    assert err == ""


def test_runtime_warnings_repeat_every_time(capsys):
    notebook.compact_warnings()
    with np.errstate(over="warn"):
        for _ in range(3):
            np.exp(np.array([1000.0]))
    assert capsys.readouterr().out.count("RuntimeWarning") == 3


def test_show_warning_writes_to_given_file(capsys):
    import io
    buf = io.StringIO()
    notebook.show_warning(UserWarning("x"), UserWarning, "f.py", 3, file=buf)
    assert buf.getvalue() == "UserWarning: x\n"
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("bad", ["Full", "short", ""])
def test_setup_rejects_unknown_traceback_mode(bad):
    with pytest.raises(ValueError, match="tracebacks must be 'minimal' or 'full'"):
        notebook.setup(tracebacks=bad)


def test_setup_reads_the_environment(monkeypatch):
    calls = []
    monkeypatch.setattr(notebook, "compact_errors", lambda: calls.append(1) or True)
    monkeypatch.setenv("SOFTMAX_NB_TRACEBACKS", "full")
    notebook.setup()
    assert calls == []
    monkeypatch.setenv("SOFTMAX_NB_TRACEBACKS", "minimal")
    notebook.setup()
    assert calls == [1]
    monkeypatch.delenv("SOFTMAX_NB_TRACEBACKS")
    notebook.setup(tracebacks="full")
    assert calls == [1]
    monkeypatch.setenv("SOFTMAX_NB_TRACEBACKS", "bogus")
    with pytest.raises(ValueError, match="got 'bogus'"):
        notebook.setup()
