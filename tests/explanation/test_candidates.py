"""The forward's candidate operations: the layer's own algebra and each thing ignored."""

from hypothesis import given

from convgrad.explanation.candidates import forward_candidates
from convgrad.shapes import dim_algebra
from convgrad.spec import ConvSpec
from convgrad.strategies import conv_specs


def _dims(x_shape, w_shape, **spec):
    return dim_algebra(x_shape, w_shape, ConvSpec(**spec).resolve(x_shape[2:], w_shape[2:]))


def test_each_thing_ignored_gives_its_own_size():
    # I=10, K=3, stride 2, dilation 2, 'valid': O = (10-5)//2+1 = 3.
    dims = _dims((1, 1, 10), (1, 1, 3), stride=2, dilation=2)
    by_changes = {c.changes: c.shape for c in forward_candidates(dims, "valid")}
    assert by_changes[()] == (3,)
    stride = "stride ignored (the window must step by 2)"
    dilation = (
        "dilation ignored (a kernel dilated by 2 reads taps d apart and spans d*(K-1)+1 positions)"
    )
    assert by_changes[(stride,)] == (6,)
    assert by_changes[(dilation,)] == (4,)
    assert by_changes[(stride, dilation)] == (8,)
    assert by_changes[("padding 'full' used where the spec says 'valid'",)] == (7,)


def test_explicit_pads_are_named_as_such():
    dims = _dims((1, 1, 6), (1, 1, 3), padding=((1, 2),))
    (own,) = [c for c in forward_candidates(dims, "explicit") if not c.changes]
    assert own.shape == (7,) and own.operands.startswith("of x with w (padding explicit pads,")


@given(conv_specs(ndim=(1, 2, 3), padding=("valid", "same", "same_lower", "full", "explicit")))
def test_the_unchanged_candidate_is_the_layers_output(spec):
    x_shape, w_shape = (1, spec.groups, *(9,) * len(spec.stride)), (1, 1, *(2,) * len(spec.stride))
    resolved = spec.resolve(x_shape[2:], w_shape[2:])
    dims = dim_algebra(x_shape, w_shape, resolved)
    (own,) = [c for c in forward_candidates(dims, resolved.mode) if not c.changes]
    assert own.shape == tuple(a.output for a in dims)
