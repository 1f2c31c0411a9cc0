"""Display set-up shared by every chapter notebook.

Call :func:`setup` once in the first code cell. It makes numpy print
compactly, installs the book's figure style, and prints warnings and errors as
one line (``RuntimeWarning: overflow encountered in exp``,
``TypeError: ...``) so that stored outputs never contain the checkout path,
the kernel's process id or a long traceback. Warnings go to standard output,
so a cell's prints and warnings are stored in the order they happened, whatever
the kernel's flush timing. While debugging your own code, call
``setup(tracebacks="full")`` or run ``%xmode Context`` to get full tracebacks
back; setting the environment variable ``SOFTMAX_NB_TRACEBACKS=full`` does the
same for every notebook.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import TextIO

import numpy as np

__all__ = ["setup", "compact_warnings", "compact_errors", "format_warning", "show_warning"]


def format_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                   line: str | None = None) -> str:
    """Format a warning as ``Category: message`` with no file, line or source text.

    Signature-compatible with :func:`warnings.formatwarning`.
    """
    return f"{category.__name__}: {message}\n"


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
    """Write a warning, formatted by :func:`format_warning`, to standard output.

    Signature-compatible with :func:`warnings.showwarning`.
    """
    (file or sys.stdout).write(format_warning(message, category, filename, lineno, line))


def compact_warnings() -> None:
    """Print every warning compactly to standard output, every RuntimeWarning each time it occurs.

    "Always" (rather than Python's once-per-line default) makes a cell's output
    independent of which cells ran before it.
    """
    warnings.formatwarning = format_warning
    warnings.showwarning = show_warning
    warnings.simplefilter("always", RuntimeWarning)


def compact_errors() -> bool:
    """In IPython/Jupyter, report exceptions as one line: ``TypeError: message``.

    This is IPython's "Minimal" exception mode (``%xmode Minimal``), set
    without printing anything. Outside IPython it does nothing.

    Returns
    -------
    bool
        Whether an IPython shell was found and switched.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "InteractiveTB"):
        return False
    shell.InteractiveTB.set_mode(mode="Minimal")
    return True


def setup(precision: int = 4, tracebacks: str | None = None) -> None:
    """Prepare a notebook: numpy print options, compact warnings and errors, figure style.

    Parameters
    ----------
    precision : int, default 4
        Digits after the decimal point when numpy prints arrays.
    tracebacks : {'minimal', 'full'}, optional
        ``'minimal'`` reports an exception as one line (the book's stored
        outputs); ``'full'`` keeps IPython's usual tracebacks (for students
        debugging their own code). Default: the environment variable
        ``SOFTMAX_NB_TRACEBACKS`` if set, else ``'minimal'``.

    Raises
    ------
    ValueError
        If ``tracebacks`` is not ``'minimal'`` or ``'full'``.
    """
    if tracebacks is None:
        tracebacks = os.environ.get("SOFTMAX_NB_TRACEBACKS", "minimal")
    if tracebacks not in ("minimal", "full"):
        raise ValueError(f"tracebacks must be 'minimal' or 'full', got {tracebacks!r}")
    np.set_printoptions(precision=precision, floatmode="maxprec", linewidth=88)
    compact_warnings()
    if tracebacks == "minimal":
        compact_errors()
    from .plotting import use_style

    use_style()
