"""The fast path's per-thread scratch buffer: reused by later blocks and calls, never shared by
two live blocks or two threads, bounded, and invisible in the results (which never alias it,
and equal the definition whatever garbage an earlier call left in it)."""

import threading

import numpy as np
import pytest

import convgrad as cg
from convgrad.reference import direct, fast

pytestmark = pytest.mark.usefixtures("blocks_only")


def _buffer() -> np.ndarray:
    return fast._THREAD_SCRATCH.buffer


def _layer(seed=0, padding=1, stride=1):
    rng = np.random.default_rng(seed)
    x = rng.integers(-4, 5, size=(2, 3, 9, 8)).astype(np.float64)
    w = rng.integers(-4, 5, size=(4, 3, 3, 3)).astype(np.float64)
    spec = cg.ConvSpec(padding=padding, stride=stride).resolve(x.shape[2:], w.shape[2:])
    out = cg.output_shape(x.shape, w.shape, padding=padding, stride=stride)
    gy = rng.integers(-4, 5, size=out).astype(np.float64)
    return x, w, gy, spec


def _in_new_thread(fn):
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault("result", fn()))
    worker.start()
    worker.join()
    return box["result"]


def test_takes_come_from_one_buffer_one_after_another_aligned():
    def run():
        with fast._BlockScratch() as take:  # first block: grows the buffer on exit
            take((3, 5), np.float64)
            take((7,), np.int64)
        first = _buffer()
        with fast._BlockScratch() as take:
            a, b = take((3, 5), np.float64), take((7,), np.int64)
            return first, a, b, _buffer()

    first, a, b, after = _in_new_thread(run)
    assert first.size == 128 + 64  # 120 bytes then 56, each rounded up to 64
    assert after is first, "a block that fits reuses the buffer"
    assert np.shares_memory(a, first) and np.shares_memory(b, first)
    assert not np.shares_memory(a, b)
    assert b.__array_interface__["data"][0] - a.__array_interface__["data"][0] == 128


def test_the_buffer_grows_to_what_a_block_needed_and_no_further_than_the_cap():
    def run():
        sizes = []
        for nbytes in (640, 64, 6400, fast.KEPT_SCRATCH_BYTES + 8):
            with fast._BlockScratch() as take:
                fresh = take((nbytes,), np.uint8)
            sizes.append(_buffer().size)
        return sizes, np.shares_memory(fresh, _buffer())

    sizes, shared = _in_new_thread(run)
    assert sizes == [640, 640, 6400, 6400]
    assert not shared, "a block above the cap allocates its own memory"


def test_a_block_inside_a_block_and_object_arrays_get_fresh_memory():
    def run():
        with fast._BlockScratch() as take:
            take((100,), np.float64)
        with fast._BlockScratch() as outer_take:
            outer = outer_take((10,), np.float64)
            with fast._BlockScratch() as inner_take:
                inner = inner_take((10,), np.float64)
            objects = outer_take((2,), object)
            return outer, inner, objects, _buffer(), fast._THREAD_SCRATCH.in_use

    outer, inner, objects, buffer, in_use_inside = _in_new_thread(run)
    assert np.shares_memory(outer, buffer) and not np.shares_memory(inner, buffer)
    assert objects.dtype == object and not np.shares_memory(objects, buffer)
    assert in_use_inside, "the inner block must not release the outer block's buffer"


def test_each_thread_has_its_own_buffer():
    x, w, gy, spec = _layer()
    fast.forward(x, w, spec, gy.shape[2:])
    mine = _buffer()
    theirs = _in_new_thread(lambda: (fast.forward(x, w, spec, gy.shape[2:]), _buffer())[1])
    assert mine.size > 0 and theirs.size > 0
    assert not np.shares_memory(mine, theirs)


@pytest.mark.parametrize(("padding", "stride"), [(1, 1), (0, 1), ((2, 0), 2)])
def test_results_never_alias_the_buffer_and_survive_later_calls(padding, stride):
    x, w, gy, spec = _layer(1, padding, stride)
    results = {
        "forward": fast.forward(x, w, spec, gy.shape[2:]),
        "grad_input": fast.grad_input(gy, w, spec, x.shape[2:]),
        "grad_input_col2im": fast._grad_input_by_col2im(gy, w, spec, x.shape[2:], 2**20),
        "grad_weight": fast.grad_weight(x, gy, spec, w.shape[2:]),
    }
    for name, result in results.items():
        assert not np.shares_memory(result, _buffer()), name
    other_x, other_w, other_gy, other_spec = _layer(2, padding, stride)
    fast.forward(other_x * 7, other_w, other_spec, other_gy.shape[2:])  # overwrites the buffer
    np.testing.assert_array_equal(results["forward"], direct.forward(x, w, spec, gy.shape[2:]))
    np.testing.assert_array_equal(results["grad_weight"], direct.grad_weight(x, gy, spec, (3, 3)))


def test_garbage_left_in_the_buffer_never_reaches_a_result():
    """Padding, column gradients and per-sample products are all written before they are read:
    a buffer full of NaN changes nothing."""
    x, w, gy, spec = _layer(3, padding=((2, 1), (0, 3)), stride=(2, 1))
    fast.forward(x, w, spec, gy.shape[2:])
    fast._grad_input_by_col2im(gy, w, spec, x.shape[2:], 2**20)
    _buffer().view(np.float64)[:] = np.nan
    np.testing.assert_array_equal(
        fast.forward(x, w, spec, gy.shape[2:]), direct.forward(x, w, spec, gy.shape[2:])
    )
    _buffer().view(np.float64)[:] = np.nan
    np.testing.assert_array_equal(
        fast._grad_input_by_col2im(gy, w, spec, x.shape[2:], 2**20),
        direct.grad_input(gy, w, spec, x.shape[2:]),
    )
    _buffer().view(np.float64)[:] = np.nan
    np.testing.assert_array_equal(
        fast.grad_weight(x, gy, spec, w.shape[2:]), direct.grad_weight(x, gy, spec, (3, 3))
    )
