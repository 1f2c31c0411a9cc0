"""softmax_nb: the shared code of *The Softmax Book*.

Every chapter imports its machinery from here. The names of the library
modules are re-exported at the top level, e.g. ``from softmax_nb import
softmax, log_softmax``; the book's own helpers stay in their modules
(``softmax_nb.notebook``, ``softmax_nb.plotting``, ``softmax_nb.reference``,
``softmax_nb.interactive``). The package's layers and rules (dtypes, NaN and
empty input, exceptions, names) are in ``softmax_nb/DESIGN.md``.
"""

from ._checks import ArgumentTypeError
from .core import softmax, naive_softmax, log_softmax, logsumexp, sigmoid, softmax_jacobian
from .numerics import exp_limits, relative_error, numerical_gradient, to_bfloat16
from .information import entropy, kl_divergence
from .losses import (
    one_hot, smooth_labels, cross_entropy, cross_entropy_grad, binary_cross_entropy_with_logits, focal_loss,
    focal_loss_grad, sigmoid_focal_loss,
)
from .streaming import online_softmax, SoftmaxAccumulator, AttentionState
from .alternatives import sparsemax, gumbel_softmax, one_hot_argmax
from .scoring import (
    BrierDecomposition, brier_score, brier_decomposition, ece_noise_floor, classwise_ece, adaptive_ece,
    wilson_interval,
)
from .attention import (attention, tiled_attention, attention_backward, merge_attention, sigmoid_attention,
                        linear_attention)
from .calibration import (
    ReliabilityCurve, reliability_curve, expected_calibration_error, fit_temperature, VectorScaling,
    fit_vector_scaling, MatrixScaling, fit_matrix_scaling,
)
from .decoding import (top_k_filter, top_p_filter, min_p_filter, typical_filter, epsilon_filter, repetition_penalty,
                       sample, generate, gumbel_top_k, beam_search)
from .vocab import (
    chunked_cross_entropy, ShardStats, shard_statistics, merge_shard_statistics, sharded_cross_entropy,
    sampled_softmax_loss, huffman_codes, hierarchical_softmax_nll,
)
from .experiments import (Summary, Repeats, summarize, repeat, paired, fraction, format_table, Evidence, evidence,
                          quick_mode, n_splits)
from .training import (
    DigitsSplit, History, SoftmaxRegressionModel, MLPModel, load_digits_split, train_softmax_regression,
    fit_softmax_regression, distill_softmax_regression, train_mlp, predict_logits, template_plane,
)
from .kvcache import KVCache, kv_cache_bytes
from .speculative import acceptance_rate, speculative_sample, speculative_decode, SpeculativeResult
from .stability import z_loss, soft_cap
from .routing import route, load_balancing_loss
from .charlm import load_corpus, CharVocab, CharMLP, TrainLog, train_char_mlp
from .attention_lm import CharAttentionLM, fit_char_attention_lm

__version__ = "0.1.0"

__all__ = [
    "ArgumentTypeError",
    "softmax", "naive_softmax", "log_softmax", "logsumexp", "sigmoid", "softmax_jacobian", "exp_limits",
    "relative_error", "numerical_gradient", "to_bfloat16", "entropy", "kl_divergence", "one_hot", "smooth_labels",
    "cross_entropy", "cross_entropy_grad", "binary_cross_entropy_with_logits", "focal_loss", "focal_loss_grad",
    "sigmoid_focal_loss", "online_softmax", "SoftmaxAccumulator", "AttentionState", "sparsemax", "gumbel_softmax",
    "one_hot_argmax", "BrierDecomposition", "brier_score", "brier_decomposition", "ece_noise_floor",
    "classwise_ece", "adaptive_ece", "wilson_interval", "attention", "tiled_attention", "attention_backward",
    "merge_attention", "sigmoid_attention", "linear_attention", "ReliabilityCurve", "reliability_curve",
    "expected_calibration_error", "fit_temperature",
    "VectorScaling", "fit_vector_scaling", "MatrixScaling", "fit_matrix_scaling", "top_k_filter", "top_p_filter",
    "min_p_filter", "typical_filter", "epsilon_filter", "repetition_penalty", "sample", "generate",
    "gumbel_top_k", "beam_search", "chunked_cross_entropy", "ShardStats", "shard_statistics",
    "merge_shard_statistics", "sharded_cross_entropy", "sampled_softmax_loss", "huffman_codes",
    "hierarchical_softmax_nll", "Summary", "Repeats", "summarize", "repeat", "paired", "fraction", "format_table",
    "Evidence", "evidence", "quick_mode", "n_splits",
    "DigitsSplit", "History", "SoftmaxRegressionModel", "MLPModel", "load_digits_split", "train_softmax_regression",
    "fit_softmax_regression", "distill_softmax_regression", "train_mlp", "predict_logits", "template_plane",
    "KVCache", "kv_cache_bytes", "acceptance_rate", "speculative_sample", "speculative_decode", "SpeculativeResult", "z_loss", "soft_cap", "route", "load_balancing_loss",
    "load_corpus", "CharVocab", "CharMLP", "TrainLog", "train_char_mlp",
    "CharAttentionLM", "fit_char_attention_lm",
]
