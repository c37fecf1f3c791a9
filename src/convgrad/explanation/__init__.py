"""Shapes explained: the step-by-step derivation of a layer's shapes (`explain`), the layouts a
user may think in, and the diagnosis of a wrong gradient shape from the candidate operations
that produce it.

Modules, in the order a derivation uses them: `layouts` (NCHW, HWC, ... and their kernels),
`derivation` (`explain`, `Explanation`), `candidates` (every plausible way to compute a
gradient and the shape it gives), `observed` (reading the shape a user got) and `diagnosis`
(`diagnose_weight_grad`, `diagnose_input_grad`); `transposed` derives a transposed
convolution's shapes (`explain_transpose`) through the conv it is the adjoint of; `formatting`
holds the text helpers they share (shapes as ``128x128x3``, wrapping).
"""

from convgrad.explanation.derivation import Explanation, Record, Step, explain
from convgrad.explanation.diagnosis import Diagnosis, diagnose_input_grad, diagnose_weight_grad
from convgrad.explanation.layouts import LAYOUTS, Layout, parse_layout
from convgrad.explanation.transposed import TransposeExplanation, explain_transpose

__all__ = [
    "LAYOUTS",
    "Diagnosis",
    "Explanation",
    "Layout",
    "Record",
    "Step",
    "TransposeExplanation",
    "diagnose_input_grad",
    "diagnose_weight_grad",
    "explain",
    "explain_transpose",
    "parse_layout",
]
