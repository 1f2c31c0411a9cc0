"""softmax_nb: the shared code of *The Softmax Book*.

Every chapter imports its machinery from here; the public API is re-exported
at the top level, e.g. ``from softmax_nb import softmax, log_softmax``.
"""

from .core import log_softmax, logsumexp, naive_softmax, sigmoid, softmax, softmax_jacobian
from .numerics import exp_limits, numerical_gradient, relative_error, to_bfloat16

# --- losses, calibration, training ---
from .calibration import (
    MatrixScaling,
    ReliabilityCurve,
    VectorScaling,
    expected_calibration_error,
    fit_matrix_scaling,
    fit_temperature,
    fit_vector_scaling,
    reliability_curve,
)
from .information import entropy, kl_divergence
from .losses import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    cross_entropy_grad,
    focal_loss,
    focal_loss_grad,
    one_hot,
    sigmoid_focal_loss,
    smooth_labels,
)
from .experiments import Repeats, Summary, format_table, fraction, paired, repeat, summarize
from .scoring import (
    BrierDecomposition,
    adaptive_ece,
    brier_decomposition,
    brier_score,
    classwise_ece,
    ece_noise_floor,
    wilson_interval,
)
from .training import (
    DigitsSplit,
    History,
    MLPModel,
    SoftmaxRegressionModel,
    distill_softmax_regression,
    fit_softmax_regression,
    load_digits_split,
    predict_logits,
    template_plane,
    train_mlp,
    train_softmax_regression,
)
# --- end losses, calibration, training ---

# --- streaming, alternatives ---
from .alternatives import gumbel_softmax, one_hot_argmax, sparsemax
from .attention import attention, attention_backward, tiled_attention
from .streaming import SoftmaxAccumulator, online_softmax
# --- end streaming, alternatives ---

# --- softmax in today's models ---
from .decoding import min_p_filter, sample, top_k_filter, top_p_filter
from .vocab import chunked_cross_entropy, sharded_cross_entropy
# --- end softmax in today's models ---

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
    "numerical_gradient",
    "to_bfloat16",
    # --- losses, calibration, training ---
    "entropy",
    "kl_divergence",
    "one_hot",
    "smooth_labels",
    "cross_entropy",
    "cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "focal_loss",
    "focal_loss_grad",
    "sigmoid_focal_loss",
    "ReliabilityCurve",
    "reliability_curve",
    "expected_calibration_error",
    "fit_temperature",
    "VectorScaling",
    "fit_vector_scaling",
    "MatrixScaling",
    "fit_matrix_scaling",
    "DigitsSplit",
    "History",
    "SoftmaxRegressionModel",
    "MLPModel",
    "load_digits_split",
    "train_softmax_regression",
    "fit_softmax_regression",
    "distill_softmax_regression",
    "template_plane",
    "train_mlp",
    "predict_logits",
    "brier_score",
    "BrierDecomposition",
    "brier_decomposition",
    "ece_noise_floor",
    "classwise_ece",
    "adaptive_ece",
    "wilson_interval",
    "repeat",
    "Repeats",
    "Summary",
    "summarize",
    "paired",
    "fraction",
    "format_table",
    # --- end losses, calibration, training ---
    # --- streaming, alternatives ---
    "online_softmax",
    "SoftmaxAccumulator",
    "attention",
    "tiled_attention",
    "attention_backward",
    "sparsemax",
    "gumbel_softmax",
    "one_hot_argmax",
    # --- end streaming, alternatives ---
    # --- softmax in today's models ---
    "top_k_filter",
    "top_p_filter",
    "min_p_filter",
    "sample",
    "chunked_cross_entropy",
    "sharded_cross_entropy",
    # --- end softmax in today's models ---
]
