"""The oracle's arithmetic: the definition (`direct`), its vectorized twin (`fast`), and the
validated public functions (`api`), with the operand rules (`operands`: float64, int64 or exact
objects) and the padding modes as a linear map and its adjoint (`padding`)."""

from convgrad.reference.api import (
    Grads,
    conv,
    conv_backward,
    conv_transpose,
    conv_transpose_backward,
)

__all__ = ["Grads", "conv", "conv_backward", "conv_transpose", "conv_transpose_backward"]
