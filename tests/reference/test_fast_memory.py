"""The fast path's memory bound: on a 3-D layer whose im2col matrix is larger than the chunk
budget, the peak extra memory of forward, grad_input and grad_weight stays within the budget
(which holds one block's kernel halo too) plus the outputs (plus small per-block temporaries).

Measured with tracemalloc, which sees NumPy's data buffers (NumPy reports them through
``PyTraceMalloc_Track``); memory, unlike time, is deterministic enough to assert.
"""

import threading
import tracemalloc
from math import prod

import numpy as np
import pytest

import convgrad as cg
from convgrad.reference import direct, fast

pytestmark = pytest.mark.usefixtures("blocks_only")

BUDGET = 2**20
STEPS = ["forward", "grad_input", "grad_input_col2im", "grad_weight"]
"""grad_input takes the correlation arrangement on this layer (stride 1, C_out <= 2 C_in)."""
SLACK = 16 * 2**10
"""Per-block temporaries besides the scratch: grad_weight's per-sample products, index tuples."""
UFUNC_BUFFERS = 112 * 2**10
"""What NumPy allocates for one in-place add of strided arrays (its iteration buffers, about
100 KiB whatever the arrays' size): col2im adds one tap at a time."""


def _traced(fn):
    """(result, peak bytes allocated while fn ran, beyond what was live before).

    fn runs in a new thread: the fast path's per-thread scratch buffer, kept between calls, is
    then allocated (and counted) inside the measurement, as on a thread's first call.
    """
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("result", fn()))
    tracemalloc.start()
    try:
        worker.start()
        worker.join()
        return box["result"], tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def layer():
    """A 3-D layer with padding and dilation whose im2col is ~13x the budget (4 output rows of
    a sample per block)."""
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, size=(2, 4, 32, 16, 16)).astype(np.float64)
    w = rng.integers(-3, 4, size=(6, 4, 3, 3, 3)).astype(np.float64)
    kwargs = {"padding": "same", "dilation": (1, 2, 1)}
    spec = cg.ConvSpec(**kwargs).resolve(x.shape[2:], w.shape[2:])
    out = cg.output_shape(x.shape, w.shape, **kwargs)
    gy = rng.integers(-3, 4, size=out).astype(np.float64)
    im2col = x.shape[0] * x.shape[1] * prod(w.shape[2:]) * prod(out[2:]) * x.itemsize
    return x, w, gy, spec, im2col


def _steps(x, w, gy, spec, budget):
    return {
        "forward": lambda: fast.forward(x, w, spec, gy.shape[2:], budget),
        "grad_input": lambda: fast.grad_input(gy, w, spec, x.shape[2:], budget),
        "grad_input_col2im": lambda: fast._grad_input_by_col2im(gy, w, spec, x.shape[2:], budget),
        "grad_weight": lambda: fast.grad_weight(x, gy, spec, w.shape[2:], budget),
    }


@pytest.mark.parametrize("step", STEPS)
def test_peak_memory_is_within_budget_plus_outputs(layer, step):
    x, w, gy, spec, im2col = layer
    assert im2col > 10 * BUDGET, "the layer must not fit the budget in one block"
    result, peak = _traced(_steps(x, w, gy, spec, BUDGET)[step])
    buffers = UFUNC_BUFFERS if step == "grad_input_col2im" else 0
    bound = BUDGET + result.nbytes + SLACK + buffers  # the kernel's halo is within the budget
    assert peak <= bound, f"{step}: peak {peak} B > budget + outputs + slack = {bound} B"
    assert peak < im2col / 4, f"{step}: peak {peak} B is not far below the im2col {im2col} B"


@pytest.mark.parametrize("step", STEPS)
def test_peak_memory_sees_the_whole_im2col_when_the_budget_allows(layer, step):
    """The measurement is sensitive: unchunked, the columns (im2col bytes) show in the peak."""
    x, w, gy, spec, im2col = layer
    _, peak = _traced(_steps(x, w, gy, spec, 100 * im2col)[step])
    assert peak >= im2col


@pytest.mark.parametrize("step", STEPS)
def test_chunked_results_equal_the_definition(layer, step):
    x, w, gy, spec, _ = layer
    expected = {
        "forward": lambda: direct.forward(x, w, spec, gy.shape[2:]),
        "grad_input": lambda: direct.grad_input(gy, w, spec, x.shape[2:]),
        "grad_input_col2im": lambda: direct.grad_input(gy, w, spec, x.shape[2:]),
        "grad_weight": lambda: direct.grad_weight(x, gy, spec, w.shape[2:]),
    }[step]()
    np.testing.assert_array_equal(_steps(x, w, gy, spec, BUDGET)[step](), expected)
