"""convgrad: the correctness oracle for N-d convolution and its gradients."""

from convgrad._version import __version__
from convgrad.explanation import Explanation, explain
from convgrad.reference import Grads, conv, conv_backward, conv_transpose, conv_transpose_backward
from convgrad.shapes import output_shape
from convgrad.spec import ConvSpec, ResolvedSpec
from convgrad.verification.api import check_outputs, verify
from convgrad.verification.checks import CheckResult
from convgrad.verification.problem import ConvProblem
from convgrad.verification.result import Failure, VerificationError, VerifyResult
from convgrad.verification.transposed import TransposeProblem, TransposeSpec, verify_transpose

__all__ = [
    "CheckResult",
    "ConvProblem",
    "ConvSpec",
    "Explanation",
    "Failure",
    "Grads",
    "ResolvedSpec",
    "TransposeProblem",
    "TransposeSpec",
    "VerificationError",
    "VerifyResult",
    "__version__",
    "check_outputs",
    "conv",
    "conv_backward",
    "conv_transpose",
    "conv_transpose_backward",
    "explain",
    "output_shape",
    "verify",
    "verify_transpose",
]
