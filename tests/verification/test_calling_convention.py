"""verify calls forward(x, w, spec) and backward(x, w, grad_y, spec): a function that cannot take
those arguments is refused before any call, and one whose spec lands on a parameter named like a
hyperparameter gets the reason and a wrapper in the reports of its failed calls."""

import functools

import pytest

import convgrad as cg
from convgrad.verification.calls import spec_parameter_hint

from .implementations import FAST, fixed_problem, ref_backward, ref_forward

STRIDE_WRAPPER = (
    "def keyword_forward_spec(x, w, spec): return keyword_forward(x, w, stride=spec.stride,"
    " padding=spec.padding, dilation=spec.dilation, groups=spec.groups)"
)


def keyword_forward(x, w, stride=1, padding=0, dilation=1, groups=1):
    """A student's conv: hyperparameters as ints, the stride read as ``stride[0]`` when a tuple."""
    step = stride if isinstance(stride, int) else stride[0]
    return cg.conv(x, w, stride=step, padding=padding).astype(x.dtype)


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_spec_received_as_stride_is_named_with_a_wrapper_in_the_why_and_the_table(
    isolation, tmp_path
):
    result = cg.verify(keyword_forward, ndim=2, isolation=isolation, **FAST)
    failure = next(f for f in result.failures if (f.check, f.output) == ("raised", "forward"))
    assert "'ResolvedSpec' object is not subscriptable" in failure.message
    said = (
        "verify passed a ResolvedSpec as the parameter named 'stride' of"
        f" {__name__}:keyword_forward(x, w, stride=1, padding=0, dilation=1, groups=1)"
    )
    assert failure.diagnosis.startswith(f"likely cause: {said}, calling forward(x, w, spec)")
    assert f"`{STRIDE_WRAPPER}`" in failure.diagnosis
    baseline = result.capabilities[0]
    assert baseline["status"] == "wrong"
    assert said in baseline["hint"] and STRIDE_WRAPPER in baseline["hint"]
    assert said not in baseline["detail"]
    assert str(result).count(f"likely cause: {said}") == 2, "once below the table, once in why"
    page = tmp_path / "verify.html"
    result.to_html(str(page))
    assert page.read_text().count("The rows that raised, likely cause: verify passed") == 1
    # The wrapper shown, as written, makes the student's conv pass.
    namespace = {"keyword_forward": keyword_forward}
    exec(failure.diagnosis.split("`")[1], namespace)
    assert cg.verify(namespace["keyword_forward_spec"], problems=[fixed_problem(stride=2)]).ok


def test_a_spec_parameter_named_oddly_is_no_alarm_when_the_function_is_right():
    def forward(x, w, p):
        return ref_forward(x, w, p)

    assert "parameter named 'p'" in spec_parameter_hint(forward, "forward")
    result = cg.verify(forward, ref_backward, ndim=2, **FAST)
    assert result.ok, str(result)
    assert "ResolvedSpec" not in str(result)


def test_a_forward_of_two_parameters_is_refused_before_any_call():
    calls = []

    def forward(x, w):
        calls.append((x, w))
        return x

    with pytest.raises(TypeError) as raised:
        cg.verify(forward, ref_backward, **FAST)
    message = str(raised.value)
    assert message.startswith(
        f"forward={__name__}:{forward.__qualname__}(x, w) cannot be called as"
        " forward(x, w, spec) (too many positional arguments): verify passes the arrays and"
        " one ResolvedSpec by position"
    )
    assert (
        "`def forward_spec(x, w, spec): return forward(x, w, stride=spec.stride,"
        " padding=spec.padding)`" in message
    )
    assert "\n" not in message
    assert calls == []


def test_a_backward_of_the_wrong_arity_is_refused_naming_backward():
    calls = []

    def backward(grad_y, x, w):
        calls.append(grad_y)
        return x, w

    with pytest.raises(TypeError, match=r"^backward=.*\(grad_y, x, w\) cannot be called as"):
        cg.verify(ref_forward, backward, **FAST)
    with pytest.raises(TypeError) as raised:
        cg.verify(ref_forward, backward, **FAST)
    assert "backward(x, w, grad_y, spec)" in str(raised.value)
    # The wrapper puts the arrays in the order the parameter names ask for.
    assert "return backward(grad_y, x, w, stride=spec.stride" in str(raised.value)
    assert calls == []


def test_a_required_keyword_only_parameter_is_refused():
    def forward(x, w, spec, *, scale):
        return ref_forward(x, w, spec) * scale

    with pytest.raises(TypeError, match="missing a required argument: 'scale'"):
        cg.verify(forward, problems=[fixed_problem()])


def _star_forward(*args):
    return ref_forward(*args)


def _keyword_star_forward(x, w, *args, **kwargs):
    return ref_forward(x, w, *args)


def _scaled_forward(x, w, spec, scale):
    return ref_forward(x, w, spec) * scale


@pytest.mark.parametrize(
    "forward",
    [
        ref_forward,
        _star_forward,
        _keyword_star_forward,
        functools.partial(_scaled_forward, scale=1.0),
        functools.partial(ref_forward),
    ],
    ids=["plain", "star_args", "star_kwargs", "partial_keyword", "partial"],
)
def test_signatures_that_take_the_convention_are_accepted_without_a_hint(forward):
    assert spec_parameter_hint(forward, "forward") is None
    assert cg.verify(forward, ref_backward, problems=[fixed_problem()]).ok


def test_an_unreadable_signature_is_not_checked():
    assert spec_parameter_hint(max, "forward") is None


def test_verify_transpose_refuses_and_explains_in_its_own_terms():
    def transpose_backward(x, w, grad_y, spec):
        raise NotImplementedError

    def two(x, w):
        return x

    with pytest.raises(
        TypeError, match=r"verify_transpose passes the arrays and one TransposeSpec"
    ):
        cg.verify_transpose(two, transpose_backward)

    def keyword(x, w, stride=1, padding=0):
        return stride[0]

    result = cg.verify_transpose(keyword, transpose_backward, max_examples=3)
    failure = next(f for f in result.failures if "your forward raised TypeError" in f.message)
    assert (
        "likely cause: verify_transpose passed a TransposeSpec as the parameter named 'stride'"
        in failure.diagnosis
    )
    assert "return keyword(x, w, stride=spec.stride, padding=spec.padding)`" in failure.diagnosis
