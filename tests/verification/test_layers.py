"""The layer table (`convgrad.verification.layers`): benchdnn descriptors of real networks,
scaled to a bounded cost."""

import math

import pytest

import convgrad as cg
from convgrad.verification.layers import LAYERS, Layer, parse, select


def test_the_table_covers_the_networks_with_unique_names():
    assert len({layer.name for layer in LAYERS}) == len(LAYERS) >= 12
    assert {layer.network for layer in LAYERS} == {
        "resnet50",
        "mobilenetv2",
        "vgg16",
        "alexnet",
        "dcgan",
        "wav2vec2",
        "c3d",
    }
    assert {len(layer.input) for layer in LAYERS} == {1, 2, 3}


@pytest.mark.parametrize("layer", LAYERS, ids=[layer.name for layer in LAYERS])
def test_each_layer_is_a_valid_layer_of_bounded_cost(layer: Layer):
    w_shape = (layer.c_out, layer.c_in // layer.spec.groups, *layer.kernel)
    s = layer.spec
    y = cg.output_shape(
        (layer.batch, layer.c_in, *layer.input),
        w_shape,
        padding=s.padding,
        stride=s.stride,
        dilation=s.dilation,
        groups=s.groups,
    )
    assert math.prod(y) * math.prod(w_shape[1:]) <= 700_000


def test_parse_reads_benchdnn_fields_and_dilation_minus_one():
    layer = parse('g2mb3ic4ih9iw8oc6kh3kw2sh2sw1ph1pw0dh1n"net:conv"  # a comment')
    assert layer == Layer(
        "net:conv",
        3,
        4,
        6,
        (9, 8),
        (3, 2),
        cg.ConvSpec(padding=(1, 0), stride=(2, 1), dilation=(2, 1), groups=2),
    )
    assert parse('ic1iw5oc1kw2n"a:b"').spec.padding == "valid"


def test_alexnet_stem_keeps_its_11x11_stride_4():
    (layer,) = select("alexnet:conv1")
    assert layer.kernel == (11, 11) and layer.spec.stride == (4, 4)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("mb1ic3oc8kh3", r"no input size"),
        ('mb1ic3ih8xx3oc8n"a"', r"is not benchdnn conv syntax"),
        ("ih8iw8kh3", r"is not benchdnn conv syntax"),
    ],
)
def test_parse_rejects_other_text(line, match):
    with pytest.raises(ValueError, match=match):
        parse(line + ('n"a"' if "n" not in line else ""))


def test_select_by_network_layer_or_all():
    assert [layer.name for layer in select("resnet50")][:2] == [
        "resnet50:conv1",
        "resnet50:res2a_branch2a",
    ]
    assert len(select("resnet50")) == 5
    assert select(("c3d:conv1a", "vgg16")) == (
        *(layer for layer in LAYERS if layer.network == "vgg16"),
        *select("c3d"),
    )
    assert select("all") == LAYERS


def test_select_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"layers: 'resnet18' is not in the layer table; known:"):
        select(("resnet18",))
    with pytest.raises(TypeError, match=r"layers: 3 must be a str"):
        select((3,))
