"""convgrad: the correctness oracle for N-d convolution and its gradients."""

from convgrad._version import __version__
from convgrad.checks import CheckResult
from convgrad.explain import Explanation, explain
from convgrad.reference import Grads, conv, conv_backward, conv_transpose
from convgrad.shapes import output_shape
from convgrad.spec import ConvSpec, ResolvedSpec
from convgrad.verify import VerificationError, VerifyResult, check_outputs, verify

__all__ = [
    "CheckResult",
    "ConvSpec",
    "Explanation",
    "Grads",
    "ResolvedSpec",
    "VerificationError",
    "VerifyResult",
    "__version__",
    "check_outputs",
    "conv",
    "conv_backward",
    "conv_transpose",
    "explain",
    "output_shape",
    "verify",
]
