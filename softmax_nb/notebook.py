"""Display set-up shared by every chapter notebook.

Call :func:`setup` once in the first code cell. It makes numpy print
compactly, installs the book's figure style, and prints warnings and errors as
one line (``RuntimeWarning: overflow encountered in exp``,
``TypeError: ...``) so that stored outputs never contain the checkout path,
the kernel's process id or a long traceback. While debugging your own code,
run ``%xmode Context`` to get full tracebacks back.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["setup", "compact_warnings", "compact_errors", "format_warning"]


def format_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                   line: str | None = None) -> str:
    """Format a warning as ``Category: message`` with no file, line or source text.

    Signature-compatible with :func:`warnings.formatwarning`.
    """
    return f"{category.__name__}: {message}\n"


def compact_warnings() -> None:
    """Print every warning compactly, and every RuntimeWarning each time it occurs.

    "Always" (rather than Python's once-per-line default) makes a cell's output
    independent of which cells ran before it.
    """
    warnings.formatwarning = format_warning
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


def setup(precision: int = 4) -> None:
    """Prepare a notebook: numpy print options, compact warnings and errors, figure style.

    Parameters
    ----------
    precision : int, default 4
        Digits after the decimal point when numpy prints arrays.
    """
    np.set_printoptions(precision=precision, floatmode="maxprec", linewidth=88)
    compact_warnings()
    compact_errors()
    from .plotting import use_style

    use_style()
