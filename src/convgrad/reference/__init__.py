"""The oracle's arithmetic: the definition (`direct`), its vectorized twin (`fast`), and the
validated public functions (`api`)."""

from convgrad.reference.api import (
    Grads,
    conv,
    conv_backward,
    conv_transpose,
    conv_transpose_backward,
)

__all__ = ["Grads", "conv", "conv_backward", "conv_transpose", "conv_transpose_backward"]
