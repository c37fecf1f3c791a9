"""convgrad.translate: each framework's convolution keywords to and from convgrad's spec, checked
against the framework itself (torch always; JAX, ONNX Runtime and TensorFlow where installed)
on integer data, where every correct implementation is bit-exact."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given

import convgrad as cg
from convgrad import translate
from convgrad.strategies import conv_problems
from convgrad.translate import (
    from_benchdnn,
    from_jax,
    from_onnx,
    from_tf,
    from_torch,
    to_benchdnn,
    to_jax,
    to_onnx,
    to_tf,
    to_torch,
)
from convgrad.verification.problem import ConvProblem

TORCH_CONV = {
    1: torch.nn.functional.conv1d,
    2: torch.nn.functional.conv2d,
    3: torch.nn.functional.conv3d,
}
TORCH_T = {
    1: torch.nn.functional.conv_transpose1d,
    2: torch.nn.functional.conv_transpose2d,
    3: torch.nn.functional.conv_transpose3d,
}
PROBLEMS = conv_problems(data="integer", bias=False, flip=False)


def _oracle(problem: ConvProblem, spec=None) -> np.ndarray:
    spec = spec or problem.spec
    return cg.conv(
        problem.x,
        problem.w,
        padding=spec.padding,
        stride=spec.stride,
        dilation=spec.dilation,
        groups=spec.groups,
    )


def _problem(spec: cg.ConvSpec, x_shape, w_shape, dtype="float64", seed=0) -> ConvProblem:
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, x_shape).astype(dtype)
    w = rng.integers(-3, 4, w_shape).astype(dtype)
    y = cg.conv(
        x, w, padding=spec.padding, stride=spec.stride, dilation=spec.dilation, groups=spec.groups
    )
    return ConvProblem(x, w, None, np.zeros(y.shape, dtype), spec)


# ------------------------------------------------------------------------------------- torch


@given(PROBLEMS)
def test_to_torch_of_the_resolved_spec_is_torch_conv_or_names_the_asymmetric_dim(problem):
    resolved = problem.resolved
    asymmetric = [j for j, (lo, hi) in enumerate(resolved.padding) if lo != hi]
    if asymmetric:
        with pytest.raises(ValueError, match=f"asymmetric along spatial dim {asymmetric[0]}"):
            to_torch(resolved)
        return
    kwargs = to_torch(resolved)
    got = TORCH_CONV[problem.ndim](torch.as_tensor(problem.x), torch.as_tensor(problem.w), **kwargs)
    np.testing.assert_array_equal(got.numpy(), _oracle(problem))


@given(conv_problems(data="integer", bias=False, flip=False, padding=("valid", "same"), stride=1))
def test_to_torch_keeps_valid_and_same_as_torch_modes_at_stride_1(problem):
    kwargs = to_torch(problem.spec)
    assert kwargs["padding"] == problem.spec.padding
    got = TORCH_CONV[problem.ndim](torch.as_tensor(problem.x), torch.as_tensor(problem.w), **kwargs)
    np.testing.assert_array_equal(got.numpy(), _oracle(problem))


def test_to_torch_refuses_same_with_stride_2_naming_the_rule():
    with pytest.raises(ValueError, match=r"padding='same' with stride=2: torch accepts"):
        to_torch(cg.ConvSpec("same", stride=2))


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (cg.ConvSpec("full"), "padding='full' has no torch keyword"),
        (cg.ConvSpec("same_lower"), "padding='same_lower' has no torch keyword"),
        (cg.ConvSpec(((1, 2),)), r"asymmetric along spatial dim 0 \(\(1, 2\)\)"),
        (cg.ConvSpec(flip=True), "flip=True"),
    ],
)
def test_to_torch_names_what_torch_cannot_express(spec, match):
    with pytest.raises(ValueError, match=match):
        to_torch(spec)


@pytest.mark.parametrize(
    "module",
    [
        torch.nn.Conv1d(2, 4, 3, stride=2, padding=1, dilation=2, groups=2),
        torch.nn.Conv2d(4, 6, (2, 3), padding="same", dilation=(2, 1)),
        torch.nn.Conv3d(2, 2, 2, padding="valid", stride=(1, 2, 1)),
    ],
)
def test_from_torch_module_reproduces_the_module_with_its_bias(module):
    spec = cg.ConvSpec.from_torch(module)
    ndim = len(module.kernel_size)
    x = (
        np.random.default_rng(1)
        .integers(-3, 4, (2, module.in_channels, *(7,) * ndim))
        .astype("float32")
    )
    with torch.no_grad():
        got = module(torch.as_tensor(x)).numpy()
    w, b = module.weight.detach().numpy(), module.bias.detach().numpy()
    expected = cg.conv(
        x,
        w,
        b,
        padding=spec.padding,
        stride=spec.stride,
        dilation=spec.dilation,
        groups=spec.groups,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_from_torch_transposed_module_is_conv_transpose_with_output_padding():
    module = torch.nn.ConvTranspose2d(
        4,
        6,
        (3, 2),
        stride=(2, 3),
        padding=(1, 0),
        output_padding=(1, 2),
        groups=2,
        dilation=(1, 2),
    )
    found = from_torch(module)
    assert found.transposed and found.output_padding == (1, 2)
    assert found.spec == cg.ConvSpec((1, 0), stride=(2, 3), dilation=(1, 2), groups=2)
    x = np.random.default_rng(2).integers(-3, 4, (2, 4, 4, 3)).astype("float32")
    with torch.no_grad():
        got = module(torch.as_tensor(x)).numpy()
    s = found.spec
    expected = cg.conv_transpose(
        x,
        module.weight.detach().numpy(),
        module.bias.detach().numpy(),
        padding=s.padding,
        stride=s.stride,
        dilation=s.dilation,
        groups=s.groups,
        output_padding=found.output_padding,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    kwargs = to_torch(s, transposed=True, output_padding=found.output_padding)
    again = TORCH_T[2](torch.as_tensor(x), module.weight.detach(), **kwargs)
    np.testing.assert_allclose(
        again.numpy() + module.bias.detach().numpy()[:, None, None], got, rtol=1e-5, atol=1e-5
    )
    with pytest.raises(
        ValueError, match=r"ConvSpec\.from_torch: the layer is a transposed convolution"
    ):
        cg.ConvSpec.from_torch(module)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_from_torch_module_padding_mode_is_the_specs_and_has_no_to_keyword(mode):
    module = torch.nn.Conv2d(2, 3, (3, 2), padding=(2, 1), padding_mode=mode, bias=False)
    spec = from_torch(module).spec
    assert spec.padding_mode == mode
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 4))
    got = module.double()(torch.as_tensor(x)).detach().numpy()
    w = module.weight.detach().numpy()
    want = cg.conv(x, w, padding=spec.padding, padding_mode=spec.padding_mode)
    np.testing.assert_allclose(want, got, atol=1e-12)
    for target in (to_torch, to_onnx):
        with pytest.raises(ValueError, match=f"padding_mode='{mode}' has no .* keyword"):
            target(spec, ndim=2)


def test_from_torch_keywords_and_bad_input():
    assert from_torch(padding="same", dilation=(1, 2)).spec == cg.ConvSpec("same", dilation=(1, 2))
    with pytest.raises(ValueError, match="transposed convolutions pad with zeros only"):
        from_torch(padding_mode="reflect", transposed=True)
    with pytest.raises(ValueError, match="padding_mode='sym' must be one of"):
        from_torch(padding_mode="sym")
    with pytest.raises(ValueError, match="pass the keywords only without a module"):
        from_torch(torch.nn.Conv2d(1, 1, 3), stride=2)
    with pytest.raises(TypeError, match=r"must be a torch\.nn\.Conv1d"):
        from_torch(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="stride=0 must be >= 1"):
        from_torch(stride=0)


# --------------------------------------------------------------------------------------- JAX


@given(PROBLEMS)
def test_to_jax_matches_lax_conv_general_dilated_for_the_spec_and_its_resolution(problem):
    jax = pytest.importorskip("jax")
    ndim = problem.ndim
    with jax.enable_x64(True):
        x, w = jax.numpy.asarray(problem.x), jax.numpy.asarray(problem.w)
        specs = [problem.resolved]
        if problem.spec.mode != "full":
            specs.append(problem.spec)
        for spec in specs:
            kwargs = to_jax(spec, ndim=ndim)
            got = np.asarray(jax.lax.conv_general_dilated(x, w, **kwargs))
            np.testing.assert_array_equal(got, _oracle(problem))
            assert (
                from_jax(**kwargs).spec.resolve(problem.x.shape[2:], problem.w.shape[2:]).padding
                == problem.resolved.padding
            )


def test_from_jax_reads_modes_and_pairs_and_refuses_what_convgrad_cannot_hold():
    assert from_jax("SAME_LOWER", (2, 1), (1, 3), 2).spec == cg.ConvSpec(
        "same_lower", (2, 1), (1, 3), 2
    )
    assert from_jax([(1, 0), (0, 2)]).spec == cg.ConvSpec(((1, 0), (0, 2)))
    with pytest.raises(ValueError, match="negative pads"):
        from_jax([(-1, 0)])
    with pytest.raises(
        ValueError, match=r"lhs_dilation=\(2, 1\): an input dilation is a transposed"
    ):
        from_jax("VALID", lhs_dilation=(2, 1))
    with pytest.raises(ValueError, match="batch_group_count=2"):
        from_jax("VALID", batch_group_count=2)
    with pytest.raises(ValueError, match="padding='CIRCULAR' must be"):
        from_jax("CIRCULAR")
    with pytest.raises(ValueError, match="padding='full' has no JAX keyword"):
        to_jax(cg.ConvSpec("full"))
    assert to_jax(cg.ConvSpec(1), ndim=2)["padding"] == [(1, 1), (1, 1)]
    with pytest.raises(ValueError, match="pass ndim="):
        to_jax(cg.ConvSpec(1, stride=2))


# -------------------------------------------------------------------------------------- ONNX


def test_from_onnx_reads_pads_as_all_begins_then_all_ends():
    found = from_onnx(pads=[1, 2, 3, 4], strides=[2, 1], dilations=[1, 3], group=2)
    assert found.spec == cg.ConvSpec(((1, 3), (2, 4)), stride=(2, 1), dilation=(1, 3), groups=2)
    assert to_onnx(found.spec)["pads"] == [1, 2, 3, 4]
    assert from_onnx(auto_pad=b"SAME_LOWER").spec == cg.ConvSpec("same_lower")
    assert from_onnx().spec == cg.ConvSpec(0)
    t = from_onnx(op_type="ConvTranspose", pads=[0, 1], strides=[2], output_padding=[1])
    assert (t.transposed, t.output_padding, t.spec.padding) == (True, (1,), ((0, 1),))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"pads": [1, 2, 3]}, ValueError, "2 entries per spatial dim"),
        ({"pads": [1, 1], "strides": [1, 1]}, ValueError, "disagree on the number of spatial dims"),
        ({"auto_pad": "SAME"}, ValueError, "auto_pad='SAME' must be"),
        ({"op_type": "Gemm"}, ValueError, "op_type='Gemm'"),
        (
            {"op_type": "ConvTranspose", "auto_pad": "SAME_UPPER"},
            ValueError,
            "from the input's size",
        ),
        ({"output_padding": [1]}, ValueError, "output_padding is a ConvTranspose attribute"),
        ({"pads": [-1, 0]}, ValueError, "every entry must be >= 0"),
    ],
)
def test_from_onnx_bad_attributes(kwargs, error, match):
    with pytest.raises(error, match=match):
        from_onnx(**kwargs)


@given(conv_problems(data="integer", bias=False, flip=False, dtype="float32"))
def test_to_onnx_runs_in_onnxruntime_as_the_oracle(problem):
    pytest.importorskip("onnxruntime")
    import onnxruntime

    from convgrad.adapters.onnxruntime import onnx_model

    # onnxruntime's CPU Conv refuses auto_pad SAME_* with a dilation ("Dilation not supported
    # for AutoPadType::SAME_UPPER or AutoPadType::SAME_LOWER"), which ONNX itself allows.
    auto_pad = problem.spec.mode == "valid" or (
        problem.spec.mode in ("same", "same_lower") and set(problem.resolved.dilation) == {1}
    )
    specs = [problem.resolved] + ([problem.spec] if auto_pad else [])
    for spec in specs:
        attrs = to_onnx(spec, ndim=problem.ndim)
        model = onnx_model("Conv", attrs, problem.x.shape, problem.w.shape, "float32")
        session = onnxruntime.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        (got,) = session.run(None, {"x": problem.x, "w": problem.w})
        np.testing.assert_array_equal(got, _oracle(problem))
        onnx_spec = from_onnx(**attrs).spec
        assert (
            onnx_spec.resolve(problem.x.shape[2:], problem.w.shape[2:]).padding
            == problem.resolved.padding
        )


def test_onnx_same_upper_and_same_lower_put_the_odd_pad_at_the_end_and_the_start():
    pytest.importorskip("onnxruntime")
    import onnxruntime

    from convgrad.adapters.onnxruntime import onnx_model

    x = np.arange(1, 6, dtype="float32").reshape(1, 1, 5)
    w = np.array([[[1, 10]]], dtype="float32")
    results = {}
    for auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        model = onnx_model("Conv", {"auto_pad": auto_pad}, x.shape, w.shape, "float32")
        session = onnxruntime.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        results[auto_pad] = session.run(None, {"x": x, "w": w})[0].ravel().tolist()
        spec = from_onnx(auto_pad=auto_pad).spec
        np.testing.assert_array_equal(
            results[auto_pad], cg.conv(x, w, padding=spec.padding).ravel()
        )
    assert results == {"SAME_UPPER": [21, 32, 43, 54, 5], "SAME_LOWER": [10, 21, 32, 43, 54]}


# ------------------------------------------------------------------------------- TensorFlow


def test_from_tf_reads_same_valid_and_explicit_pairs_in_the_data_format_order():
    assert from_tf("SAME", strides=[1, 2, 2, 1]).spec == cg.ConvSpec("same", stride=(2, 2))
    nchw = from_tf([[0, 0], [0, 0], [1, 2], [3, 4]], strides=[1, 1, 2, 1], data_format="NCHW")
    assert nchw.spec == cg.ConvSpec(((1, 2), (3, 4)), stride=(2, 1)) and not nchw.channels_last
    nhwc = from_tf([[0, 0], [1, 2], [3, 4], [0, 0]], dilations=2)
    assert nhwc.spec == cg.ConvSpec(((1, 2), (3, 4)), dilation=2) and nhwc.channels_last
    assert to_tf(nhwc.spec)["padding"] == [[0, 0], [1, 2], [3, 4], [0, 0]]
    assert from_tf("VALID", data_format="NWC").spec == cg.ConvSpec("valid", stride=1)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: from_tf("SAME", strides=[2, 2, 2, 2]),
            r"batch and channel entries must be 1, got \[2, 2\]",
        ),
        (lambda: from_tf([[1, 0], [1, 2], [3, 4], [0, 0]]), "batch and channel pairs must be"),
        (lambda: from_tf("FULL"), "padding='FULL' must be"),
        (lambda: from_tf("SAME", data_format="HWCN"), "data_format='HWCN'"),
        (
            lambda: to_tf(cg.ConvSpec("same", stride=2, dilation=2), data_format="NCDHW"),
            "in 3-D: tf.nn.convolution requires every stride to be 1",
        ),
        (
            lambda: to_tf(cg.ConvSpec(((1, 2),)), data_format="NWC"),
            "explicit pads only in tf.nn.conv2d",
        ),
        (
            lambda: to_tf(cg.ConvSpec("same_lower")),
            "padding='same_lower' has no TensorFlow keyword",
        ),
    ],
)
def test_tf_translation_names_what_tf_cannot_express(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@given(conv_problems(ndim=2, data="integer", bias=False, flip=False, groups=1))
def test_to_tf_runs_in_tensorflow_as_the_oracle(problem):
    tf = pytest.importorskip("tensorflow")
    resolved = problem.resolved
    kwargs = to_tf(resolved)
    x = tf.constant(np.moveaxis(problem.x, 1, -1))
    w = tf.constant(np.moveaxis(problem.w, (0, 1), (-1, -2)))
    got = np.moveaxis(tf.nn.conv2d(x, w, **kwargs).numpy(), -1, 1)
    np.testing.assert_array_equal(got, _oracle(problem))
    assert (
        from_tf(**kwargs).spec.resolve(problem.x.shape[2:], problem.w.shape[2:]).padding
        == resolved.padding
    )


# --------------------------------------------------------------------------------- benchdnn


def test_from_benchdnn_reads_the_issue_example():
    layer = cg.ConvSpec.from_benchdnn("mb2ic16ih32oc32oh32kh3ph1")
    assert layer == cg.ConvSpec(((1, 1), (1, 1)), stride=(1, 1), dilation=(1, 1))
    found = from_benchdnn("mb2ic16ih32oc32oh32kh3ph1")
    assert (found.input_shape, found.weight_shape, found.name) == (
        (2, 16, 32, 32),
        (32, 16, 3, 3),
        "",
    )


def test_benchdnn_dilation_counts_from_zero():
    found = from_benchdnn("ic1iw9oc1kw3dw1")
    assert found.spec.dilation == (2,) and found.input_shape == (2, 1, 9)
    x = np.arange(9.0).reshape(1, 1, 9)
    y = cg.conv(x, np.ones((1, 1, 3)), padding=found.spec.padding, dilation=found.spec.dilation)
    assert y.ravel().tolist() == [6.0, 9.0, 12.0, 15.0, 18.0]  # x[i] + x[i+2] + x[i+4]


# Descriptors from oneDNN's batch files (tests/benchdnn/inputs/conv/shapes_*, commit 515bfba),
# with the sizes and pads benchdnn's str2desc computes for them (conv_aux.cpp): (descriptor,
# input shape, weight shape, padding (front, back) per dim, stride, dilation, name).
BENCHDNN_BATCH = [
    # shapes_resnet_50: w copies h; oh given with ph: back pad (56-1) + 3 - 56 - 1 = 1.
    (
        'mb50ic64ih56oc64oh56kh3ph1n"resnet_50:res2a_branch2b*3"',
        (50, 64, 56, 56),
        (64, 64, 3, 3),
        ((1, 1), (1, 1)),
        (1, 1),
        (1, 1),
        "resnet_50:res2a_branch2b*3",
    ),
    # shapes_resnet_50: benchdnn's back pad 27*2 - 56 + 1 - 0 = -1 drops an unreached row.
    (
        'g1mb50ic256ih56iw56oc512oh28ow28kh1kw1sh2sw2ph0pw0n"resnet_50:res3a_branch1"',
        (50, 256, 56, 56),
        (512, 256, 1, 1),
        ((0, 0), (0, 0)),
        (2, 2),
        (1, 1),
        "resnet_50:res3a_branch1",
    ),
    # shapes_dilated: dh3 is dilation 4, extent 9; back pad 2*2 - 10 + 9 - 2 = 1.
    (
        'mb20ic4ih10oc6oh3kh3sh2ph2dh3n"dilated_conv:6"',
        (20, 4, 10, 10),
        (6, 4, 3, 3),
        ((2, 1), (2, 1)),
        (2, 2),
        (4, 4),
        "dilated_conv:6",
    ),
    # shapes_regression_dw: oh given, ph missing: ph = (9 - 10 + 3) / 2 = 1 (not 0); the w
    # axis is named, so it copies nothing from h.
    (
        'mb1_g16ic16oc16_ih10oh10kh3_iw15ow8kw1sw2pw0n"dw_regression:conv12"',
        (1, 16, 10, 15),
        (16, 1, 3, 1),
        ((1, 1), (0, 0)),
        (1, 2),
        (1, 1),
        "dw_regression:conv12",
    ),
    # shapes_regression_dw: pw missing with ow given: pw = (9 - 10 + 3) / 2 = 1, not ph3;
    # back pad on h 6*2 - 15 + 6 - 3 = 0.
    (
        'mb1_g16ic16oc16_ih15oh7kh6sh2ph3_iw10ow10kw3n"dw_regression:conv9"',
        (1, 16, 15, 10),
        (16, 1, 6, 3),
        ((3, 0), (1, 1)),
        (2, 1),
        (1, 1),
        "dw_regression:conv9",
    ),
    # shapes_regression_padding: ph = (15*2 - 33 + 2) / 2 = -1/2, 0 in C's division (toward
    # zero), where Python's // gives -1; back pad -1 drops an unreached row.
    (
        "mb2ic16ih33oc16oh16kh2sh2",
        (2, 16, 33, 33),
        (16, 16, 2, 2),
        ((0, 0), (0, 0)),
        (2, 2),
        (1, 1),
        "",
    ),
    # shapes_3d_unet: no o?: od = 116 - 3 + 1 = 114, oh = ow = 130.
    (
        'mb1ic3ih132iw132id116oc32kh3kw3kd3ph0pw0pd0sh1sw1sd1n"3d_unet:conv_1"',
        (1, 3, 116, 132, 132),
        (32, 3, 3, 3, 3),
        ((0, 0), (0, 0), (0, 0)),
        (1, 1, 1),
        (1, 1, 1),
        "3d_unet:conv_1",
    ),
    # shapes_3d: only d named, so h and w copy d (cubic), mb defaults to 2.
    (
        'g2_ic32oc32_id17kd2_n"3d_gconv_channel-block-16"',
        (2, 32, 17, 17, 17),
        (32, 16, 2, 2, 2),
        ((0, 0), (0, 0), (0, 0)),
        (1, 1, 1),
        (1, 1, 1),
        "3d_gconv_channel-block-16",
    ),
    # shapes_basic: 1-D (only w named); back pad 3*2 - 8 + 3 - 1 = 0.
    (
        'ic3oc17_iw8ow4kw3pw1sw2_n"conv_basic_1d:1st_stride_tail"',
        (2, 3, 8),
        (17, 3, 3),
        ((1, 0),),
        (2,),
        (1,),
        "conv_basic_1d:1st_stride_tail",
    ),
]


@pytest.mark.parametrize(
    ("descriptor", "x", "w", "padding", "stride", "dilation", "name"), BENCHDNN_BATCH
)
def test_benchdnn_batch_file_descriptors_give_benchdnns_sizes(
    descriptor, x, w, padding, stride, dilation, name
):
    found = from_benchdnn(descriptor)
    assert (found.input_shape, found.weight_shape, found.name) == (x, w, name)
    assert found.spec.padding == padding
    assert (found.spec.stride, found.spec.dilation) == (stride, dilation)
    # The output benchdnn computes or was given is the one convgrad's spec gives.
    y = cg.output_shape(
        x, w, padding=padding, stride=stride, dilation=dilation, groups=found.spec.groups
    )
    fields = dict(re.findall(r"(o[dhw])(\d+)", descriptor))
    for axis, size in zip("dhw"[3 - len(x) + 2 :], y[2:], strict=True):
        if f"o{axis}" in fields:
            assert size == int(fields[f"o{axis}"])


def test_benchdnn_2d_descriptor_without_w_copies_hs_derived_output_and_pad():
    found = from_benchdnn("ic1ih5oc1oh5kh3")
    # ph missing with oh given: ph = ((5-1) - 5 + 3) / 2 = 1 on h, and w copies it.
    assert found.spec.padding == ((1, 1), (1, 1)) and found.input_shape == (2, 1, 5, 5)


@pytest.mark.parametrize(
    "descriptor",
    [
        "mb2ic16ih32oc32oh32kh3ph1",
        'g2mb1ic4ih7iw9oc6kh3kw2sh2dh1pw1n"x:y"',
        "ic3iw10oc5kw4sw3pw2",
        "mb1ic2id4ih5iw6oc2kd1kh2kw3",
    ],
)
def test_to_benchdnn_round_trips(descriptor):
    found = from_benchdnn(descriptor)
    text = to_benchdnn(found.spec, found.input_shape, found.weight_shape, name=found.name)
    again = from_benchdnn(text)
    assert again == found
    assert to_benchdnn(again.spec, again.input_shape, again.weight_shape, name=again.name) == text


@pytest.mark.parametrize(
    ("descriptor", "match"),
    [
        ("mb2ih32oc32kh3", "has no ic"),
        ("ic3oc3kh3", "names axis h without ih and kh"),
        ("ic3ih5iw5oc3kh3", "names axis w without iw and kw"),
        ("ic3ih5oc3kh3xx1", "cannot read 'xx1'"),
        ("ic3ih5oc3oh1kh3", r"oh=1 needs pads \(-1, -1\) along h"),
        ("ic3ih5oc3oh2kh3", r"oh=2 needs pads \(0, -1\) along h"),
        ("ic1ih2oc1kh5", "give oh=-2; it must be >= 1"),
        ("g2ic3ih5oc4kh3", "must divide by g=2"),
        ("g0ic4ih5oc4kh3", "g0 must be >= 1"),
        ("ic1id4iw4oc1kd2kw2", "names both h and w or neither"),
        ("ic1oc1", "names no spatial axis"),
    ],
)
def test_from_benchdnn_bad_descriptors(descriptor, match):
    with pytest.raises(ValueError, match=match):
        from_benchdnn(descriptor)


def test_benchdnn_back_pad_in_unreached_rows_is_dropped_without_changing_the_layer():
    spec = cg.ConvSpec(((0, 2),), stride=3)
    text = to_benchdnn(spec, (1, 1, 4), (1, 1, 1))
    assert text == "mb1ic1iw4oc1ow2kw1sw3pw0dw0"
    again = from_benchdnn(text)
    assert again.spec.padding == ((0, 0),)
    x = np.arange(4.0).reshape(1, 1, 4)
    w = np.ones((1, 1, 1))
    same = cg.conv(x, w, padding=spec.padding, stride=3)
    np.testing.assert_array_equal(cg.conv(x, w, padding=again.spec.padding, stride=3), same)
    # Valid with a remainder: (6 - 3) // 2 + 1 = 2 outputs read rows 0-4, row 5 is unreached.
    assert from_benchdnn("ic1ih6oc1kh3sh2").spec.padding == ((0, 0), (0, 0))


def test_translate_rejects_a_non_spec():
    with pytest.raises(TypeError, match=r"must be a convgrad\.ConvSpec or convgrad\.ResolvedSpec"):
        translate.to_onnx({"padding": 1})
    with pytest.raises(TypeError, match="descriptor=3 must be a str"):
        from_benchdnn(3)
