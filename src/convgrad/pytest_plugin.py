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

``--convgrad-report=DIR`` collects every ``verify`` and ``assert_conv_matches`` of the session into
``DIR/convgrad-report.json`` (and ``DIR/convgrad-report.html`` when `convgrad.report` is installed).
Under pytest-xdist (``-n 2``, ``-n auto``) each worker hands its records to the controller
(``workeroutput``, read in ``pytest_testnodedown``), which writes the one report, the records in the
tests' collection order as a run without xdist has them; a worker that crashes takes its records
with it. ``--convgrad-isolation=process`` (or the ini option ``convgrad_isolation``) runs the user's
functions of every ``conv_oracle.verify`` in a child process (`convgrad.verify`'s ``isolation``), so
a native crash fails the test instead of ending the session; an ``isolation=`` passed to
``conv_oracle.verify`` itself wins, then the command line, then the ini file.
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
_WORKER_RECORDS = "convgrad_records"
"""The key of an xdist worker's ``workeroutput`` holding its records (JSON text)."""
_STRATEGIES = ("conv_problems", "conv_specs")
ISOLATIONS = ("thread", "process")
"""`convgrad.verify`'s isolations (its ``ISOLATIONS``, not imported: the plugin loads in every
pytest run and verify's module pulls in hypothesis)."""


def __getattr__(name: str):
    """The strategies of `convgrad.strategies`, imported on first use: the plugin is loaded in
    every pytest run of an environment with convgrad, and most of those never need hypothesis."""
    if name in _STRATEGIES:
        from convgrad import strategies

        return getattr(strategies, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class _Session:
    """What the session's checks produced, for the report; ``test`` is the running test;
    ``written``: the report files written at the end; ``error``: why they were not."""

    directory: Path | None
    isolation: str | None = None
    test: str = ""
    records: list[dict] = field(default_factory=list)
    from_workers: list[tuple[int, dict]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    error: str = ""

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
    group.addoption(
        "--convgrad-isolation",
        choices=ISOLATIONS,
        default=None,
        help="run the functions of every conv_oracle.verify in this process (thread) or in a"
        " child process (process: a native crash fails the test); overrides the ini option",
    )
    parser.addini(
        "convgrad_isolation",
        f"convgrad.verify's isolation for conv_oracle.verify: one of {ISOLATIONS}",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    directory = config.getoption("convgrad_report")
    isolation = config.getoption("convgrad_isolation") or config.getini("convgrad_isolation")
    if isolation and isolation not in ISOLATIONS:
        raise pytest.UsageError(
            f"convgrad_isolation = {isolation!r} in the ini file must be one of {ISOLATIONS}"
        )
    config.stash[_SESSION] = _Session(
        None if directory is None else Path(directory), isolation or None
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    item.config.stash[_SESSION].test = item.nodeid
    return (yield)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist, on the controller: a worker finished; keep the records it sent."""
    state = node.config.stash.get(_SESSION, None)
    sent = getattr(node, "workeroutput", {}).get(_WORKER_RECORDS)
    if state is not None and sent is not None:
        state.from_workers += [(position, record) for position, record in json.loads(sent)]


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(_SESSION, None)
    if state is None or state.directory is None:
        return
    if hasattr(session.config, "workeroutput"):
        # An xdist worker: the controller writes the report. Every worker collects the same
        # items in the same order, so a record's test position orders the merged records.
        order = {item.nodeid: j for j, item in enumerate(session.items)}
        pairs = [[order.get(r["test"], -1), r] for r in state.records]
        session.config.workeroutput[_WORKER_RECORDS] = json.dumps(pairs, allow_nan=False)
        return
    if state.from_workers:
        state.records += [r for _, r in sorted(state.from_workers, key=lambda pair: pair[0])]
    from convgrad.report import atomic

    failed = sum(not r["ok"] for r in state.records)
    data = {
        # The marker that lets the next session replace this file (`atomic.is_report`).
        "generator": atomic.MARKER,
        "tool": "convgrad",
        "version": __version__,
        "kind": "pytest-session",
        "summary": {"checks": len(state.records), "failed": failed},
        "records": state.records,
    }
    try:
        # Records are VerifyResult.to_dict() layouts, which hold no NaN or inf: strict JSON.
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
        state.written.append(atomic.write_text(state.directory / REPORT_JSON, text))
        try:
            from convgrad.report import render_html

            state.written.append(render_html(data, state.directory / REPORT_HTML))
        except ImportError:
            pass  # the HTML page needs the optional ``report`` extra (Jinja2, matplotlib)
    except OSError as err:
        # A file in the way (not a convgrad report, or a folder) or an unwritable DIR: the
        # option asked for a report the session did not produce, so the run fails.
        state.error = f"{type(err).__name__}: {err}"
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    state = config.stash.get(_SESSION, None)
    if state is None or state.directory is None:
        return
    failed = sum(not r["ok"] for r in state.records)
    counts = f"convgrad: {len(state.records)} checks, {failed} failed"
    if state.error:
        done = "".join(f"; {path} was written" for path in state.written)
        terminalreporter.write_line(
            f"{counts}; report NOT written (--convgrad-report={state.directory}):"
            f" {state.error}{done}",
            red=True,
            bold=True,
        )
    else:
        paths = " and ".join(str(path) for path in state.written)
        terminalreporter.write_line(f"{counts}; report in {paths}")


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
        """The reference forward and gradients of a `convgrad.ConvProblem`."""
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
        safety: as `convgrad.verify` (>= 1, for FFT / Winograd / TF32 arithmetic). The
        judgement is `convgrad.check_outputs`'.
        """
        __tracebackhide__ = True  # pytest shows the test's line, not the plugin's
        from convgrad.verification.api import check_outputs

        result = check_outputs(
            problem,
            forward=forward,
            grad_input=grad_input,
            grad_weight=grad_weight,
            grad_bias=grad_bias,
            safety=safety,
        )
        self._session.add("assert_conv_matches", result.ok, result.to_dict())
        result.raise_for_failures()

    def verify(self, forward, backward=None, **kwargs):
        """`convgrad.verify` with the same arguments (``isolation`` from
        ``--convgrad-isolation`` or the ini option when not given); raises
        `convgrad.VerificationError` (an AssertionError with the minimal failing case) unless
        it passes; returns the result."""
        __tracebackhide__ = True  # pytest shows the test's line, not the plugin's
        from convgrad.verification.api import verify

        if self._session.isolation is not None:
            kwargs.setdefault("isolation", self._session.isolation)
        result = verify(forward, backward, **kwargs)
        self._session.add("verify", result.ok, result.to_dict())
        result.raise_for_failures()
        return result


@pytest.fixture(scope="session")
def conv_oracle(request: pytest.FixtureRequest) -> ConvOracle:
    """The convolution oracle (session-scoped, so it works inside hypothesis ``@given`` tests)."""
    return ConvOracle(request.config.stash[_SESSION])
