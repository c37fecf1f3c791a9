"""pytest plugin: the ``conv_oracle`` fixture, the hypothesis strategies, a session report.

Registered under the ``pytest11`` entry point (as pytest-randomly is), so installing convgrad
makes it available to every test suite; it does nothing until a test asks for ``conv_oracle`` or
the run is given ``--convgrad-report=DIR``. A test file of a few lines checks a user's own
convolution::

    from hypothesis import given
    from convgrad.pytest_plugin import conv_problems
    from mylib import my_forward, my_backward

    def test_my_conv(conv_oracle):
        conv_oracle.verify(my_forward, my_backward, ndim=2, max_examples=50)

    @given(conv_problems(ndim=2, dtype="float64"))
    def test_my_forward_matches(conv_oracle, problem):
        conv_oracle.assert_conv_matches(problem, forward=my_forward(problem.x, problem.w,
                                                                    problem.resolved))

``--convgrad-report=DIR`` collects every ``verify`` and ``assert_conv_matches`` of the session
into ``DIR/convgrad-report.json`` (and ``DIR/convgrad-report.html`` when `convgrad.report` is
installed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from convgrad._version import __version__

REPORT_JSON = "convgrad-report.json"
REPORT_HTML = "convgrad-report.html"
_STRATEGIES = ("conv_problems", "conv_specs")


def __getattr__(name: str):
    """The strategies of `convgrad.strategies`, imported on first use: the plugin is loaded in
    every pytest run of an environment with convgrad, and most of those never need hypothesis."""
    if name in _STRATEGIES:
        from convgrad import strategies

        return getattr(strategies, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class _Session:
    """What the session's checks produced, for the report; ``test`` is the running test."""

    directory: Path | None
    test: str = ""
    records: list[dict] = field(default_factory=list)

    def add(self, kind: str, ok: bool, data: dict) -> None:
        if self.directory is not None:
            self.records.append({"test": self.test, "kind": kind, "ok": ok, **data})


_SESSION = pytest.StashKey[_Session]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("convgrad", "convgrad convolution oracle")
    group.addoption(
        "--convgrad-report",
        metavar="DIR",
        default=None,
        help="write every convgrad verify/assert of the session to DIR/convgrad-report.json"
        " (and .html)",
    )


def pytest_configure(config: pytest.Config) -> None:
    directory = config.getoption("convgrad_report")
    config.stash[_SESSION] = _Session(None if directory is None else Path(directory))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    item.config.stash[_SESSION].test = item.nodeid
    return (yield)


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(_SESSION, None)
    if state is None or state.directory is None:
        return
    state.directory.mkdir(parents=True, exist_ok=True)
    failed = sum(not r["ok"] for r in state.records)
    data = {
        "tool": "convgrad",
        "version": __version__,
        "kind": "pytest-session",
        "summary": {"checks": len(state.records), "failed": failed},
        "records": state.records,
    }
    # Records are VerifyResult.to_dict() layouts, which hold no NaN or inf: strict JSON.
    (state.directory / REPORT_JSON).write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    try:
        from convgrad.report import render_html
    except ImportError:
        return
    render_html(data, state.directory / REPORT_HTML)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    state = config.stash.get(_SESSION, None)
    if state is not None and state.directory is not None:
        failed = sum(not r["ok"] for r in state.records)
        terminalreporter.write_line(
            f"convgrad: {len(state.records)} checks, {failed} failed; report in"
            f" {state.directory / REPORT_JSON}"
        )


@dataclass(frozen=True)
class Reference:
    """The oracle's results for a problem: y (N, C_out, *O), then gradients shaped as x, w, b."""

    forward: np.ndarray
    grad_input: np.ndarray
    grad_weight: np.ndarray
    grad_bias: np.ndarray


def _reference(problem) -> Reference:
    from convgrad.reference import conv, conv_backward

    kw = problem.kwargs
    y = conv(problem.x, problem.w, problem.b, **kw)
    return Reference(y, *conv_backward(problem.x, problem.w, problem.grad_y, b=problem.b, **kw))


class ConvOracle:
    """The ``conv_oracle`` fixture: the reference, assertions against it, and `convgrad.verify`,
    each recorded for ``--convgrad-report``."""

    def __init__(self, session: _Session) -> None:
        self._session = session

    def reference(self, problem) -> Reference:
        """The reference forward and gradients of a `convgrad.problem.ConvProblem`."""
        return _reference(problem)

    def assert_conv_matches(
        self,
        problem,
        *,
        forward=None,
        grad_input=None,
        grad_weight=None,
        grad_bias=None,
        safety: float = 1.0,
    ) -> None:
        """Assert that the given results match the reference within the rigorous error bound
        (exactly on integer-valued data); AssertionError with the check's full account.

        forward: y for (problem.x, problem.w, problem.b); grad_*: the gradients for
        problem.grad_y; omitted ones are not checked (at least one is required).
        safety: as `convgrad.verify` (>= 1, for FFT / Winograd / TF32 arithmetic).
        """
        from convgrad.verify import VerifyResult

        given = {
            "forward": forward,
            "grad_input": grad_input,
            "grad_weight": grad_weight,
            "grad_bias": grad_bias,
        }
        given = {k: v for k, v in given.items() if v is not None}
        if not given:
            raise ValueError(
                "assert_conv_matches needs at least one of forward, grad_input, grad_weight,"
                " grad_bias"
            )
        result = VerifyResult(_failures(problem, given, safety), 1)
        self._session.add("assert_conv_matches", result.ok, result.to_dict())
        result.raise_for_failures()

    def verify(self, forward, backward=None, **kwargs):
        """`convgrad.verify` with the same arguments; raises `convgrad.VerificationError` (an
        AssertionError with the minimal failing case) unless it passes; returns the result."""
        from convgrad.verify import verify

        result = verify(forward, backward, **kwargs)
        self._session.add("verify", result.ok, result.to_dict())
        result.raise_for_failures()
        return result


def _prerequisites(got, output: str, data_dtype, shape, context: str):
    """dtype, shape and finiteness checks, lazily: each only after the previous one passed."""
    from convgrad import checks as ck

    yield ck.check_dtype(got, output, data_dtype)
    yield ck.check_shape(got, shape, output, context)
    yield ck.check_finite(got, output)


def _failures(problem, given: dict, safety: float) -> tuple:
    """verify's `Failure` for each given result that fails dtype, shape, finiteness, or value
    (exact on integer-valued data in exact range), as `convgrad.verify` judges one problem."""
    from convgrad import checks as ck
    from convgrad._problem_checks import ProblemReport
    from convgrad.bounds import (
        Precision,
        forward_magnitude,
        forward_terms,
        gradient_magnitudes,
        gradient_terms,
    )
    from convgrad.numeric import is_integer_valued
    from convgrad.verify import _failure, _Found

    x, w, b, gy, kw = problem.x, problem.w, problem.b, problem.grad_y, problem.kwargs
    data_dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    precision = Precision(data_dtype.name, safety=safety)
    reference = _reference(problem)
    ref = {name: getattr(reference, name) for name in given}
    magnitude, terms = {}, {}
    if "forward" in given:
        magnitude["forward"] = forward_magnitude(x, w, b, **kw)
        terms["forward"] = forward_terms(w.shape, b is not None)
    if given.keys() - {"forward"}:
        mags = gradient_magnitudes(x, w, gy, **kw)
        counts = gradient_terms(w.shape, gy.shape, problem.resolved.groups)
        for j, name in enumerate(("grad_input", "grad_weight", "grad_bias")):
            magnitude[name], terms[name] = mags[j], counts[j]
    operands = [a for a in (x, w, gy, b) if a is not None]
    integer = all(is_integer_valued(a) for a in operands)
    report = ProblemReport()
    context = (
        f"assert_conv_matches(x={x.shape}, w={w.shape}, grad_y={gy.shape},"
        f" spec={problem.resolved.to_dict()})"
    )
    for output, value in given.items():
        try:
            got = ck.as_array(value, output)
        except ck.CallFailed as failed:
            report.results.append(failed.result)
            continue
        bound = precision.bound(terms[output], magnitude[output], ref[output])
        report.outputs[output], report.bounds[output] = got, bound
        for result in _prerequisites(got, output, data_dtype, ref[output].shape, context):
            report.results.append(result)
            if not result.passed:
                break
        else:
            g = got.astype(np.float64)
            if integer and float(np.max(magnitude[output])) <= precision.exact_limit:
                report.results.append(ck.check_exact(g, ref[output], output))
            else:
                report.results.append(
                    ck.check_value(g, ref[output], bound, output, precision, terms[output])
                )
    return tuple(
        _failure(_Found(problem, report, r), has_backward=bool(given.keys() - {"forward"}))
        for r in report.failures
    )


@pytest.fixture(scope="session")
def conv_oracle(request: pytest.FixtureRequest) -> ConvOracle:
    """The convolution oracle (session-scoped, so it works inside hypothesis ``@given`` tests)."""
    return ConvOracle(request.config.stash[_SESSION])
