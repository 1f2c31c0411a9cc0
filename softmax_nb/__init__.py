"""softmax_nb: the shared code of *The Softmax Book*.

Every chapter imports its machinery from here; the public API is re-exported
at the top level, e.g. ``from softmax_nb import softmax, log_softmax``.
"""

from .core import log_softmax, logsumexp, naive_softmax, sigmoid, softmax, softmax_jacobian
from .numerics import exp_limits, relative_error

__version__ = "0.1.0"

__all__ = [
    "softmax",
    "naive_softmax",
    "log_softmax",
    "logsumexp",
    "sigmoid",
    "softmax_jacobian",
    "exp_limits",
    "relative_error",
]
