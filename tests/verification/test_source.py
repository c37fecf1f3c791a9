"""Where the user's functions live: reproduce snippets import them when an import gives the same
object back, and say what to define otherwise; exceptions raised by the user's own code."""

import contextlib
import functools
import io

import numpy as np

import convgrad as cg
from convgrad.verification.source import import_lines, locate, raised_by_user

from . import strided_conv
from .implementations import fixed_problem, raising_on_groups, ref_backward, ref_forward

IMPLEMENTATIONS = ref_forward.__module__
"""The shared implementations' module name, as pytest imported it."""


def doubled_backward(x, w, grad_y, spec):
    grad_x, grad_w = ref_backward(x, w, grad_y, spec)
    return grad_x, 2 * grad_w


class Layer:
    @staticmethod
    def forward(x, w, spec):
        return ref_forward(x, w, spec)


def test_locate_names_module_level_functions_and_methods():
    assert locate(ref_forward) == f"{IMPLEMENTATIONS}:ref_forward"
    assert locate(Layer.forward) == f"{__name__}:Layer.forward"
    assert locate(np.zeros) == "numpy:zeros"
    assert locate(None) is None


def test_locate_follows_functools_wraps_to_the_wrapped_function():
    @functools.wraps(ref_forward)
    def counted(*args):
        return ref_forward(*args)

    assert locate(counted) == f"{IMPLEMENTATIONS}:ref_forward"


def test_locate_gives_none_for_what_no_import_gives_back():
    def local(x, w, spec):
        return x

    main = lambda x: x  # noqa: E731
    main.__module__, main.__qualname__ = "__main__", "main"
    renamed = lambda x: x  # noqa: E731
    renamed.__module__, renamed.__qualname__ = IMPLEMENTATIONS, "ref_forward"
    assert locate(local) is None
    assert locate(lambda x: x) is None
    assert locate(main) is None
    assert locate(renamed) is None  # the name leads to another object
    assert locate(functools.partial(ref_forward)) is None


def test_import_lines():
    assert import_lines("mylib.conv:forward", "forward") == ["from mylib.conv import forward"]
    assert import_lines("mylib:my_fw", "forward") == ["from mylib import my_fw as forward"]
    assert import_lines("mylib:Layer.forward", "forward") == [
        "import mylib",
        "forward = mylib.Layer.forward",
    ]


def _raise(fn, *args):
    try:
        fn(*args)
    except Exception as error:
        return error
    raise AssertionError("did not raise")


def test_raised_by_user_tells_a_raise_statement_from_a_numpy_error():
    spec = cg.ConvSpec(groups=2).resolve((3, 3), (1, 1))
    own = _raise(raising_on_groups(ValueError), None, None, spec)
    assert raised_by_user(own, raising_on_groups(ValueError))
    numpy_error = _raise(lambda: np.zeros(3).reshape(2, 2))
    assert not raised_by_user(
        numpy_error, test_raised_by_user_tells_a_raise_statement_from_a_numpy_error
    )
    # Raised by a raise statement, but in another package than the function's.
    assert not raised_by_user(own, np.zeros)


def _run_snippet(snippet: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, "<reproduce>", "exec"), {})
    return out.getvalue()


def test_a_snippet_imports_located_functions_and_runs_as_pasted():
    result = cg.verify(ref_forward, doubled_backward, problems=[fixed_problem()])
    failure = result.failures[0]
    head = failure.reproduce.split("\n\n")[0].splitlines()
    assert head == [
        "import numpy as np",
        "import convgrad as cg",
        f"from {IMPLEMENTATIONS} import ref_forward as forward",
        f"from {__name__} import doubled_backward as backward",
    ]
    printed = _run_snippet(failure.reproduce)
    assert f"FAILED {failure.check} on {failure.output}" in printed


def test_a_snippet_says_what_to_define_when_verify_cannot_import():
    def backward(x, w, grad_y, spec):
        grad_x, grad_w = ref_backward(x, w, grad_y, spec)
        return grad_x, 2 * grad_w

    failure = cg.verify(ref_forward, backward, problems=[fixed_problem()]).failures[0]
    assert (
        f"from {IMPLEMENTATIONS} import ref_forward as forward\n"
        "# define backward(x, w, grad_y, spec) -> (grad_x, grad_w[, grad_b]) here: verify could"
        " not import it back (a script's __main__ or a local function)\n"
    ) in failure.reproduce


def test_a_snippet_with_neither_function_importable_says_to_define_them():
    def forward(x, w, spec):
        return 2 * ref_forward(x, w, spec)

    def backward(x, w, grad_y, spec):
        return ref_backward(x, w, grad_y, spec)

    failure = cg.verify(forward, backward, problems=[fixed_problem()]).failures[0]
    assert (
        "import convgrad as cg\n# define forward(x, w, spec) -> y and backward(x, w, grad_y,"
        " spec) -> (grad_x, grad_w[, grad_b]) here: verify could not import them back (a"
        " script's __main__ or a local function)\n"
    ) in failure.reproduce


def test_a_forward_only_snippet_calls_verify_with_forward_only():
    def forward(x, w, spec):
        return 2 * ref_forward(x, w, spec)

    failure = cg.verify(forward, problems=[fixed_problem()]).failures[0]
    assert "# define forward(x, w, spec) -> y here" in failure.reproduce
    assert failure.reproduce.endswith("print(cg.verify(forward, problems=[problem]))")


def test_the_strided_conv_fixture_imports_back():
    assert locate(strided_conv.forward) == f"{strided_conv.__name__}:forward"
