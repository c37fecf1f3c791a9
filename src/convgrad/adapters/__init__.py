"""Adapters that turn other implementations into the verify protocol.

- `convgrad.adapters.layouts`: NumPy functions in channels-last layouts (NHWC input, HWIO
  kernel, and unbatched HWC), no extra dependency.
- `convgrad.adapters.torch`: torch functions, gradients by autograd (needs PyTorch:
  ``pip install convgrad[torch]``; imported only when one of its functions is called).
- `convgrad.adapters.jax` (``from_jax``, vjp), `convgrad.adapters.tensorflow`
  (``from_tensorflow``, GradientTape) and `convgrad.adapters.onnxruntime`
  (``from_onnxruntime``, forward only): import them by module; each needs its extra.
- `convgrad.adapters.plain`: the zero-padded, unflipped spec a framework's own convolution is
  asked for (the adapters pad and flip around it).
"""

from convgrad.adapters.layouts import INPUT_LAYOUTS, KERNEL_LAYOUTS, channels_last
from convgrad.adapters.torch import (
    check_double_backward,
    from_torch,
    torch_conv,
    torch_conv_transpose,
)

__all__ = [
    "INPUT_LAYOUTS",
    "KERNEL_LAYOUTS",
    "channels_last",
    "check_double_backward",
    "from_torch",
    "torch_conv",
    "torch_conv_transpose",
]
