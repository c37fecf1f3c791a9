"""The report's default sweep: a fixed grid of convolution problems and the evidence that the
reference (`convgrad.conv`, `convgrad.conv_backward`) is right on each.

The grid covers every padding mode (``valid``, ``same``, ``same_lower``, ``full``, explicit
asymmetric pads), odd and even kernels, stride, dilation, groups, flip, 1/2/3 spatial dims and
three kinds of data: float64, float32 and integer-valued float64 (where every correct
implementation is bit-exact, docs/design.md "Precision"). The learner's case of docs/design.md, a
128x128 RGB image and 32 3x3 filters, is always among them. Beside the grid: the padding modes
that copy input entries (``reflect``, ``replicate``, ``circular``: torch pads with
``torch.nn.functional.pad`` in that mode) and the transposed convolution (``op="conv_transpose"``:
`convgrad.conv_transpose` and PyTorch's ``conv_transpose{1,2,3}d`` with the ``output_padding``
the conv leaves unreached, checked as the adjoint of the conv their case describes; records and
the problem name the transpose's outputs and shapes).

Sources of evidence, each run by `convgrad.verification.runner.ProblemChecks` (the checks of
`convgrad.verification.checks`, the bounds of `convgrad.verification.bounds`) or by
`convgrad.verification.checks` directly:

- ``torch.autograd``: PyTorch's ``conv{1,2,3}d`` and its autograd backward, in the data's
  dtype, against the reference within the rigorous error bound (exactly on integer data).
- ``direct vs fast``: the reference's two arithmetics (the definition by summation and the
  BLAS one) against each other within the bound.
- ``adjoint identity``: ``<conv(x, w), g> = <x, grad_input(g)> = <w, grad_weight(g)>`` for the
  reference's own forward and backward (Claerbout's dot-product test).
- ``finite differences``: the central difference of the reference's forward along a random
  direction against its gradients (a step of the data's own scale; exact on integer data).
- ``exact integer``: on integer data, int64 and Python-int (object) arithmetic of the reference
  against PyTorch in float64 and against each other, bit for bit.
- ``invariants``: shape, dtype, finiteness, linearity, determinism and no mutation of the inputs.
"""

from __future__ import annotations

import itertools
import platform
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from convgrad import __version__
from convgrad.reference import conv, conv_backward, conv_transpose
from convgrad.schema import OUTPUTS, check_record, problem_record
from convgrad.shapes import resolve
from convgrad.spec import ConvSpec, ResolvedSpec
from convgrad.verification import checks as ck
from convgrad.verification.bounds import Precision, compare
from convgrad.verification.calls import UserFunction
from convgrad.verification.problem import ConvProblem
from convgrad.verification.runner import ProblemChecks
from convgrad.verification.transposed import TRANSPOSED_OUTPUTS, transpose_spec_of

PROFILES = ("quick", "thorough")
DATA = ("float64", "float32", "integer")
"""Kinds of data: real float64, real float32, and integer-valued float64 (exact regime)."""
NDIMS = (1, 2, 3)
MODES = ("valid", "same", "same_lower", "full", "explicit")
COPY_MODES = ("reflect", "replicate", "circular")
"""The padding modes beside "zeros" (`convgrad.spec.PADDING_MODES`)."""
OPS = ("conv", "conv_transpose")

_SOURCE_OF_CHECK = {
    "value": "direct vs fast",
    "exact": "direct vs fast",
    "adjoint": "adjoint identity",
    "finite_difference": "finite differences",
}
_TORCH_CHECKS = ("raised", "dtype", "shape", "finite", "value", "exact")
"""Of the checks run on PyTorch, those that compare it with the reference; the rest (its own
adjoint, linearity, ...) are evidence about PyTorch, not about the reference."""

_SIDES = {1: 11, 2: 8, 3: 6}
_EXPLICIT_PADS = ((1, 2), (2, 0), (0, 1))
_SEED_CASE = {"x": (1, 3, 128, 128), "w": (32, 3, 3, 3)}
"""docs/design.md's learner: a 128x128 RGB image (HWC 128x128x3) and 32 3x3 filters (HWIO
3x3x3x32), channels first."""


@dataclass(frozen=True)
class Case:
    """One problem of the sweep, before data is drawn.

    x: (N, C_in, *S) and w: (C_out, C_in // groups, *K) shapes; mode: a padding mode or
    "explicit"; data: one of `DATA`; seed case: docs/design.md's learner's layer; padding_mode:
    what the pads hold; op: "conv", or "conv_transpose" (the transpose of this conv, whose
    input has the conv's output shape and whose output_padding is the rows the conv leaves
    unreached).
    """

    id: str
    x: tuple[int, ...]
    w: tuple[int, ...]
    mode: str
    stride: int
    dilation: int
    groups: int
    flip: bool
    data: str
    seed_case: bool = False
    padding_mode: str = "zeros"
    op: str = "conv"

    @property
    def ndim(self) -> int:
        return len(self.x) - 2

    @property
    def spec(self) -> ConvSpec:
        padding = _EXPLICIT_PADS[: self.ndim] if self.mode == "explicit" else self.mode
        return ConvSpec(
            padding, self.stride, self.dilation, self.groups, self.flip, self.padding_mode
        )

    @property
    def dtype(self) -> str:
        return "float32" if self.data == "float32" else "float64"

    def problem(self, seed: int) -> ConvProblem:
        """The case with data drawn from ``seed`` and the case's own number, so a case's data
        do not depend on which other cases run."""
        rng = np.random.default_rng([seed, int(self.id[1:])])
        _, dims = resolve(self.x, self.w, self.spec)
        y_shape = (self.x[0], self.w[0], *(a.output for a in dims))

        def draw(shape):
            if self.data == "integer":
                return rng.integers(-3, 4, size=shape).astype(np.float64)
            return rng.standard_normal(shape).astype(self.dtype)

        return ConvProblem(draw(self.x), draw(self.w), None, draw(y_shape), self.spec)


def _case(
    number: int, ndim: int, mode: str, kernel: int, s: int, d: int, g: int, flip: bool, data: str
) -> Case:
    side = _SIDES[ndim] + number % 2
    c_in = 2 * g
    c_out = 3 if g == 1 else 4
    return Case(
        f"P{number:04d}",
        (2, c_in, *(side,) * ndim),
        (c_out, c_in // g, *(kernel,) * ndim),
        mode,
        s,
        d,
        g,
        flip,
        data,
    )


# Each variant gives an odd and an even kernel, stride and dilation 1 and 2, groups 1 and 2 and
# both flips under every mode and rank, in four problems instead of the 32 of the full product.
_QUICK_VARIANTS = ((3, 1, 1, 1, False), (2, 2, 1, 2, True), (3, 2, 2, 1, True), (2, 1, 2, 2, False))


# (ndim, mode, kernel, stride, dilation, groups, padding_mode or op, data): each copying
# padding mode and the transpose in a few problems (quick), or in every rank and data kind
# (thorough). The transposes' sizes leave rows unreached: output_padding 2 and 1.
_QUICK_EXTRAS = (
    (1, "explicit", 3, 2, 1, 1, "reflect", "integer"),
    (2, "same", 2, 1, 2, 2, "replicate", "float32"),
    (3, "full", 2, 1, 1, 1, "circular", "float64"),
    (1, "explicit", 2, 3, 2, 1, "conv_transpose", "integer"),
    (2, "valid", 3, 2, 1, 2, "conv_transpose", "float64"),
)


def _extra(number: int, ndim: int, mode, kernel, s, d, g, kind: str, data: str) -> Case:
    case = _case(number, ndim, mode, kernel, s, d, g, False, data)
    if kind == "conv_transpose":
        # Sides with a remainder (I + lo + hi - d*(K-1) - 1) % s != 0: output_padding > 0.
        side = {1: 11, 2: 8, 3: 7}[ndim]
        return replace(case, x=(*case.x[:2], *(side,) * ndim), op=kind)
    return replace(case, padding_mode=kind)


def _extras(profile: str) -> tuple[tuple, ...]:
    if profile == "quick":
        return _QUICK_EXTRAS
    variants = {1: _QUICK_EXTRAS[3], 2: _QUICK_EXTRAS[4], 3: (3, "full", 2, 2, 1, 1)}
    rows = []
    for ndim, kind, data in itertools.product(NDIMS, (*COPY_MODES, "conv_transpose"), DATA):
        if kind == "conv_transpose":
            rows.append((*variants[ndim][:6], kind, data))
        else:
            rows.append((ndim, "same", 3, 2, 2, 2, kind, data))
    return tuple(rows)


def default_cases(profile: str = "quick") -> list[Case]:
    """The sweep's cases: ``quick`` rotates four variants (kernel parity, stride, dilation,
    groups, flip) and the data kinds through every mode and rank; ``thorough`` takes their full
    product. Both start with the learner's 128x128x3 / 3x3x3x32 layer and end with the copying
    padding modes and the transposed convolution (`_QUICK_EXTRAS`; in every rank, mode and data
    kind when thorough)."""
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} must be one of {PROFILES}")
    seed = Case(
        "P0000",
        _SEED_CASE["x"],
        _SEED_CASE["w"],
        "valid",
        1,
        1,
        1,
        False,
        "float64",
        seed_case=True,
    )
    cases = [seed]
    if profile == "quick":
        data = itertools.cycle(DATA)
        for ndim, mode, variant in itertools.product(NDIMS, MODES, _QUICK_VARIANTS):
            cases.append(_case(len(cases), ndim, mode, *variant, next(data)))
    else:
        cases.append(replace(seed, id="P0001", mode="same"))
        grid = itertools.product(NDIMS, MODES, (3, 2), (1, 2), (1, 2), (1, 2), (False, True), DATA)
        for combination in grid:
            cases.append(_case(len(cases), *combination))
    for extra in _extras(profile):
        cases.append(_extra(len(cases), *extra))
    return cases


def select_cases(
    cases: Iterable[Case],
    *,
    ndim: Sequence[int] = NDIMS,
    data: Sequence[str] = DATA,
    ids: Sequence[str] = (),
) -> list[Case]:
    """The cases of these ranks and data kinds (and, when ``ids`` is given, of those ids);
    ValueError for an unknown rank, data kind or id, or an empty selection."""
    for value in ndim:
        if value not in NDIMS:
            raise ValueError(f"ndim={tuple(ndim)!r}: {value!r} is not one of {NDIMS}")
    for value in data:
        if value not in DATA:
            raise ValueError(f"dtype={tuple(data)!r}: {value!r} is not one of {DATA}")
    cases = list(cases)
    known = {c.id for c in cases}
    for value in ids:
        if value not in known:
            raise ValueError(f"case {value!r} is not in this profile's sweep ({len(known)} cases)")
    chosen = [c for c in cases if c.ndim in ndim and c.data in data and (not ids or c.id in ids)]
    if not chosen:
        raise ValueError(
            f"ndim={tuple(ndim)!r} with dtype={tuple(data)!r} selects no case of the sweep"
        )
    return chosen


_SPEC_KEYS = ("padding", "stride", "dilation", "groups", "flip", "padding_mode")


def _kwargs(spec: ResolvedSpec) -> dict:
    """`convgrad.conv`'s keywords for a resolved spec (explicit per-dim pads)."""
    return {k: getattr(spec, k) for k in _SPEC_KEYS}


def _direct_forward(x, w, spec):
    return conv(x, w, method="direct", **_kwargs(spec))


def _direct_backward(x, w, grad_y, spec):
    return tuple(conv_backward(x, w, grad_y, method="direct", **_kwargs(spec)))


def _torch_forward(x, w, spec):
    import torch

    from convgrad.adapters.torch import torch_conv

    with torch.no_grad():
        return torch_conv(torch.as_tensor(x), torch.as_tensor(w), spec).numpy()


def _transpose_backward(x, w, grad_y, spec, method: str = "direct"):
    """The reference transpose in the conv protocol: ``conv_transpose(grad_y, w)`` with the
    output_padding the conv leaves unreached (the conv's grad_input), the conv's grad_weight
    and grad_bias (conv_transpose's own, by the adjoint of the case's conv)."""
    kwargs = {k: getattr(spec, k) for k in _SPEC_KEYS[:4]}
    output_padding = transpose_spec_of(spec, x.shape[2:], w.shape[2:]).output_padding
    grad_x = conv_transpose(grad_y, w, output_padding=output_padding, method=method, **kwargs)
    grads = conv_backward(x, w, grad_y, method=method, **kwargs)
    return grad_x, grads.weight, grads.bias


def _torch_backward(x, w, grad_y, spec):
    """(grad_x, grad_w, grad_b) by ``torch.autograd.grad`` of ``conv(x, w) + b``."""
    import torch

    from convgrad.adapters.torch import torch_conv

    xt = torch.as_tensor(x).requires_grad_()
    wt = torch.as_tensor(w).requires_grad_()
    bt = torch.zeros(w.shape[0], dtype=wt.dtype, requires_grad=True)
    y = torch_conv(xt, wt, spec) + bt.reshape(1, -1, *(1,) * (x.ndim - 2))
    grads = torch.autograd.grad(y, (xt, wt, bt), torch.as_tensor(grad_y))
    return tuple(g.numpy() for g in grads)


@dataclass(frozen=True)
class Implementation:
    """A forward/backward pair run through the checks; ``source`` maps a check to the source
    of evidence it counts for (None: not counted)."""

    name: str
    forward: Callable
    backward: Callable
    source: Callable[[str], str | None]


def _torch_source(check: str) -> str | None:
    return "torch.autograd" if check in _TORCH_CHECKS else None


def _reference_source(check: str) -> str:
    return _SOURCE_OF_CHECK.get(check, "invariants")


IMPLEMENTATIONS = (
    Implementation("torch", _torch_forward, _torch_backward, _torch_source),
    Implementation("direct", _direct_forward, _direct_backward, _reference_source),
)


def transpose_implementations() -> tuple[Implementation, ...]:
    """The transposed cases' implementations in the conv protocol: PyTorch's
    ``conv_transpose{1,2,3}d`` and autograd (`convgrad.adapters.torch.torch_conv_transpose_pair`)
    and the reference's `convgrad.conv_transpose` by its direct arithmetic."""
    from convgrad.adapters.torch import torch_conv_transpose_pair

    torch_forward, torch_backward = torch_conv_transpose_pair()
    return (
        Implementation("torch", torch_forward, torch_backward, _torch_source),
        Implementation("direct", _direct_forward, _transpose_backward, _reference_source),
    )


def _record(case: Case, source: str, result: ck.CheckResult, relative: float | None) -> dict:
    """The record of a result; a transposed case's output named as the transpose's."""
    output = result.output
    if case.op == "conv_transpose" and output in TRANSPOSED_OUTPUTS:
        output = TRANSPOSED_OUTPUTS[output]
    return check_record(
        case.id,
        source,
        result.check,
        output,
        passed=result.passed,
        ratio=result.bound_ratio,
        abs_error=result.worst_error,
        rel_error=relative,
        message=result.message,
    )


def _relative(report, output: str, reference: dict) -> float | None:
    got = report.outputs.get(output)
    if got is None or output not in reference or got.shape != reference[output].shape:
        return None
    return compare(got, reference[output], report.bounds[output]).worst_relative


def _implementation_records(
    case: Case, problem: ConvProblem, impl: Implementation, seed: int, reference: dict
) -> list[dict]:
    checker = ProblemChecks(
        problem,
        UserFunction(impl.forward, "forward", None),
        UserFunction(impl.backward, "backward", None),
        Precision(case.dtype),
        exact=True,
        seed=seed,
    )
    report = checker.run()
    records = []
    for result in report.results:
        source = impl.source(result.check)
        if source is None:
            continue
        relative = None
        if result.check in ("value", "exact"):
            relative = _relative(report, result.output, reference)
        records.append(_record(case, source, result, relative))
    return records


def _exact_integer_records(case: Case, problem: ConvProblem) -> list[dict]:
    """int64 reference vs torch float64, and Python-int reference vs int64, bit for bit."""
    kw = problem.kwargs
    spec = problem.resolved
    ints = [a.astype(np.int64) for a in (problem.x, problem.w, problem.grad_y)]
    objects = [a.astype(object) for a in ints]
    if case.op == "conv_transpose":
        torch_impl = transpose_implementations()[0]
        int64 = (conv(ints[0], ints[1], **kw), *_transpose_backward(*ints, spec, "auto"))
        exact = (conv(objects[0], objects[1], **kw), *_transpose_backward(*objects, spec, "auto"))
        torch_grads = torch_impl.backward(problem.x, problem.w, problem.grad_y, spec)
        # PyTorch's transposed pair returns no bias gradient: grad_bias is compared int64 vs
        # Python ints only.
        torch64 = (torch_impl.forward(problem.x, problem.w, spec), *torch_grads, None)
    else:
        int64 = (conv(ints[0], ints[1], **kw), *conv_backward(*ints, **kw))
        exact = (conv(objects[0], objects[1], **kw), *conv_backward(*objects, **kw))
        torch64 = (
            _torch_forward(problem.x, problem.w, spec),
            *_torch_backward(problem.x, problem.w, problem.grad_y, spec),
        )
    records = []
    for output, a, b, t in zip(OUTPUTS, int64, exact, torch64, strict=True):
        a = np.asarray(a, dtype=np.float64)
        pairs = ((t, a), (np.asarray(b, dtype=np.float64), a))
        for got, expected in pairs[t is None :]:
            result = ck.check_exact(got, expected, output)
            records.append(_record(case, "exact integer", result, 0.0 if result.passed else None))
    return records


def check_case(case: Case, seed: int) -> list[dict]:
    """Every record of evidence on one case (dicts as in ``report.json``'s ``records``)."""
    problem = case.problem(seed)
    y = conv(problem.x, problem.w, **problem.kwargs)
    reference = dict(
        zip(
            OUTPUTS,
            (y, *conv_backward(problem.x, problem.w, problem.grad_y, **problem.kwargs)),
            strict=True,
        )
    )
    records = []
    implementations = (
        transpose_implementations() if case.op == "conv_transpose" else IMPLEMENTATIONS
    )
    for impl in implementations:
        records.extend(_implementation_records(case, problem, impl, seed, reference))
    if case.data == "integer":
        records.extend(_exact_integer_records(case, problem))
    return records


def describe_case(case: Case, seed: int) -> dict:
    """The case's shapes, spec and data kind (JSON-ready). A transposed case in the transpose's
    terms: x the conv's y, y the conv's x, spec mode "conv_transpose" with its output_padding
    (the report groups it apart; the conv shape table leaves it out)."""
    problem = case.problem(seed)
    description = problem.describe()
    if case.op == "conv_transpose":
        transpose = transpose_spec_of(problem.resolved, problem.x.shape[2:], problem.w.shape[2:])
        spec = {**transpose.to_dict(), "mode": "conv_transpose"}
        description = {**description, "x": description["y"], "y": description["x"], "spec": spec}
        record = problem_record(case.id, description, mode="conv_transpose", data=case.data)
        return {**record, "grad_bias": [description["y"][1]]}
    return problem_record(
        case.id, description, mode=case.mode, data=case.data, seed_case=case.seed_case
    )


def versions() -> dict:
    """convgrad, numpy, torch, matplotlib, Jinja2 and Python versions, and the platform."""
    found = {"convgrad": __version__, "numpy": np.__version__}
    for name in ("torch", "matplotlib", "jinja2"):
        try:
            module = __import__(name)
        except ImportError:
            found[name] = None
        else:
            found[name] = module.__version__
    found["python"] = sys.version.split()[0]
    found["platform"] = platform.platform()
    return found


def run_sweep(
    cases: Sequence[Case],
    *,
    seed: int = 0,
    progress: Callable[[int, int, Case], None] | None = None,
) -> tuple[list[dict], list[dict], float]:
    """Check every case; returns (problems, records, seconds). ``progress(done, total, case)``
    is called before each case."""
    start = time.perf_counter()
    problems, records = [], []
    for done, case in enumerate(cases):
        if progress is not None:
            progress(done, len(cases), case)
        problems.append(describe_case(case, seed))
        records.extend(check_case(case, seed))
    if progress is not None and cases:
        progress(len(cases), len(cases), cases[-1])
    return problems, records, time.perf_counter() - start


__all__ = [
    "COPY_MODES",
    "DATA",
    "IMPLEMENTATIONS",
    "MODES",
    "NDIMS",
    "OPS",
    "PROFILES",
    "Case",
    "Implementation",
    "check_case",
    "default_cases",
    "describe_case",
    "run_sweep",
    "select_cases",
    "transpose_implementations",
    "versions",
]
