"""The fast path's threaded copies: large gathers and padding copies are split into slabs on
worker threads; the result is the same array, the split follows the rule, and a forked child
(whose copy of the pool has no threads) still copies."""

import multiprocessing
import sys
import threading
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convgrad.reference import direct, fast
from convgrad.strategies import conv_problems

pytestmark = pytest.mark.usefixtures("blocks_only")


def _recording_copyto(seen):
    real = np.copyto

    def copyto(dst, src):
        seen.append((threading.current_thread().name, dst.shape))
        real(dst, src)

    return copyto


@pytest.mark.parametrize(
    ("shape", "workers", "slabs"),
    [
        ((4, 3, 5), 2, [(2, 3, 5), (2, 3, 5)]),  # along the batch
        ((1, 7, 5), 3, [(1, 2, 5), (1, 2, 5), (1, 3, 5)]),  # along channels: 7 * k // 3
        ((1, 1, 2, 9), 4, [(1, 1, 2, 2), (1, 1, 2, 2), (1, 1, 2, 2), (1, 1, 2, 3)]),
    ],
)
def test_large_copies_split_along_the_first_axis_with_a_slab_per_worker(shape, workers, slabs):
    src = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)[..., ::-1]
    dst = np.empty(shape)
    seen = []
    with (
        patch.object(fast, "PARALLEL_COPY_BYTES", 0),
        patch.object(fast, "_copy_workers", lambda: workers),
        patch.object(fast.np, "copyto", _recording_copyto(seen)),
    ):
        fast._copy(dst, src)
    np.testing.assert_array_equal(dst, src)
    assert sorted(s for _, s in seen) == sorted(slabs)
    threads = {name for name, _ in seen}
    assert threading.current_thread().name in threads
    assert any(name.startswith("convgrad-copy") for name in threads), threads


@pytest.mark.parametrize(
    ("nbytes", "workers", "dtype"),
    [(2**20, 2, np.float64), (8 * 2**20, 1, np.float64), (8 * 2**20, 2, object)],
)
def test_small_single_core_and_object_copies_stay_on_the_calling_thread(nbytes, workers, dtype):
    shape = (2, nbytes // 16)
    src = np.ones(shape, dtype=dtype)
    dst = np.empty(shape, dtype=dtype)
    seen = []
    with (
        patch.object(fast, "_copy_workers", lambda: workers),
        patch.object(fast.np, "copyto", _recording_copyto(seen)),
    ):
        fast._copy(dst, src)
    assert seen == [(threading.current_thread().name, shape)]
    assert (dst == 1).all()


def _cores():
    if hasattr(fast.os, "sched_getaffinity"):
        return min(8, len(fast.os.sched_getaffinity(0)))
    return min(8, fast.os.cpu_count() or 1)


def test_copy_workers_are_this_processes_cores_at_most_eight(monkeypatch):
    for variable in fast.THREAD_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    assert fast._copy_workers() == _cores()


@pytest.mark.parametrize(
    ("env", "limit"),
    [
        ({"OPENBLAS_NUM_THREADS": "1"}, 1),
        ({"OMP_NUM_THREADS": "1"}, 1),
        ({"OMP_NUM_THREADS": "1,4"}, 1),  # nested OpenMP levels: the outer one
        ({"OPENBLAS_NUM_THREADS": "64", "OMP_NUM_THREADS": "1"}, 64),  # OpenBLAS's own first
        ({"OMP_NUM_THREADS": "0"}, None),  # not a limit
        ({"OMP_NUM_THREADS": "many"}, None),
    ],
)
def test_copy_workers_follow_the_blas_thread_limit_of_the_environment(monkeypatch, env, limit):
    for variable in fast.THREAD_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    assert fast._copy_workers() == (_cores() if limit is None else min(_cores(), limit))


@settings(max_examples=25)
@given(
    problem=conv_problems(dtype=("int64", "float64"), data="integer", max_batch=3),
    workers=st.integers(2, 3),
)
def test_fast_with_every_copy_threaded_equals_the_definition(problem, workers):
    x, w, gy, spec = problem.x, problem.w, problem.grad_y, problem.resolved
    with (
        patch.object(fast, "PARALLEL_COPY_BYTES", 0),
        patch.object(fast, "_copy_workers", lambda: workers),
    ):
        got = (
            fast.forward(x, w, spec, gy.shape[2:]),
            fast.grad_input(gy, w, spec, x.shape[2:]),
            fast.grad_weight(x, gy, spec, w.shape[2:]),
        )
    expected = (
        direct.forward(x, w, spec, gy.shape[2:]),
        direct.grad_input(gy, w, spec, x.shape[2:]),
        direct.grad_weight(x, gy, spec, w.shape[2:]),
    )
    for name, a, b in zip(("forward", "grad_input", "grad_weight"), got, expected, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)


def _copy_in_child(queue):
    src = np.arange(64.0).reshape(4, 16)
    dst = np.empty_like(src)
    with (
        patch.object(fast, "PARALLEL_COPY_BYTES", 0),
        patch.object(fast, "_copy_workers", lambda: 2),
    ):
        fast._copy(dst, src)
    queue.put(bool((dst == src).all()))


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX")
def test_a_forked_child_copies_with_threads_of_its_own():
    """The parent's pool is running when the child forks; the child's copy of it has no
    threads, so a copy handed to it would wait forever: the child starts its own."""
    with (
        patch.object(fast, "PARALLEL_COPY_BYTES", 0),
        patch.object(fast, "_copy_workers", lambda: 2),
    ):
        fast._copy(np.empty((4, 4)), np.ones((4, 4)))
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_copy_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child's copy never finished: it waited on the parent's pool")
    assert child.exitcode == 0 and queue.get(timeout=5) is True
