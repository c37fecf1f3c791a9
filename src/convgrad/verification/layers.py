"""Convolution layers of real networks, in the style of benchdnn's batch files (oneDNN's
``tests/benchdnn/inputs/conv``): one descriptor per line, ``g`` groups, ``mb`` batch, ``ic`` /
``oc`` channels, ``id ih iw`` input sizes, ``kd kh kw`` kernel, ``sd sh sw`` strides, ``pd ph
pw`` (symmetric) pads, ``dd dh dw`` dilations minus one (benchdnn's convention), ``n"name"``.

Full layers cost up to 10^10 multiply-adds; each is scaled down (the comment says how) to at
most about 7*10^5, so that the reference and the user's code check it in milliseconds, keeping
its kernel, stride, padding and grouping: the code paths a kernel library picks by those stay
the same. `convgrad.verify` checks a few of them per run (`convgrad.verification.ladder`) on
dense integer data, so the comparison is exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from convgrad.spec import ConvSpec

__all__ = ["LAYERS", "TABLE", "Layer", "parse", "select"]

TABLE = """\
# ResNet-50 (He et al. 2016), ImageNet 224x224: spatial / 7, channels / 8
mb1ic3ih32iw32oc8kh7kw7sh2sw2ph3pw3n"resnet50:conv1"         # 7x7 s2 stem (224 -> 32)
mb2ic32ih8iw8oc8kh1kw1n"resnet50:res2a_branch2a"               # 1x1 reduce, 256 -> 64
mb2ic8ih8iw8oc8kh3kw3ph1pw1n"resnet50:res2a_branch2b"          # 3x3, 64 -> 64
mb2ic16ih8iw8oc16kh3kw3sh2sw2ph1pw1n"resnet50:res3a_branch2b"  # strided 3x3, 128 -> 128
mb2ic8ih8iw8oc32kh1kw1n"resnet50:res2a_branch2c"               # 1x1 expand, 64 -> 256
# MobileNetV2 (Sandler et al. 2018): a depthwise 3x3 (groups = channels) and a pointwise 1x1;
# channels 32 -> 2 so the depthwise layer stays in verify's default groups (1, 2); with g = ic
# it is also inside groups="depthwise" (multiplier 1, as in MobileNetV2)
g2mb2ic2ih16iw16oc2kh3kw3ph1pw1n"mobilenetv2:block1_dw"        # depthwise 3x3, 112 -> 16
mb2ic16ih16iw16oc24kh1kw1n"mobilenetv2:block2_pw"               # pointwise, 96 -> 16, 24 kept
# VGG-16 (Simonyan & Zisserman 2015): 3x3 stride 1 pad 1, 64 -> 16 channels, 224 -> 16
mb1ic16ih16iw16oc16kh3kw3ph1pw1n"vgg16:conv1_2"
# AlexNet (Krizhevsky et al. 2012): 11x11 stride 4, 227 -> 39 (output 8x8), 96 -> 8 channels
mb1ic3ih39iw39oc8kh11kw11sh4sw4n"alexnet:conv1"
# DCGAN (Radford et al. 2016) discriminator 4x4 s2 p1, 128 -> 16 channels, 32 -> 16; its
# grad_input is the generator's (and U-Net's) 2x up-sampling transposed convolution
mb2ic8ih16iw16oc16kh4kw4sh2sw2ph1pw1n"dcgan:disc_conv2"
# wav2vec 2.0 (Baevski et al. 2020) feature encoder conv0: 1-D, kernel 10 stride 5, 512 -> 8
mb1ic1iw160oc8kw10sw5n"wav2vec2:conv0"
# C3D (Tran et al. 2015) conv1a: 3-D 3x3x3 pad 1, 16x112x112 -> 4x16x16, 64 -> 8 channels
mb1ic3id4ih16iw16oc8kd3kh3kw3pd1ph1pw1n"c3d:conv1a"
"""
"""The layer table (benchdnn batch-file syntax, comments after ``#``)."""

_FIELD = re.compile(r'(mb|ic|oc|id|ih|iw|kd|kh|kw|sd|sh|sw|pd|ph|pw|dd|dh|dw|g|n)(\d+|"[^"]*")')


@dataclass(frozen=True)
class Layer:
    """One layer: ``name`` ("network:layer"), x of shape ``(batch, c_in, *input)``, w of shape
    ``(c_out, c_in // spec.groups, *kernel)``."""

    name: str
    batch: int
    c_in: int
    c_out: int
    input: tuple[int, ...]
    kernel: tuple[int, ...]
    spec: ConvSpec

    @property
    def network(self) -> str:
        return self.name.split(":")[0]


def parse(line: str) -> Layer:
    """One benchdnn descriptor (e.g. ``mb1ic3ih32iw32oc8kh7kw7sh2sw2ph3pw3n"net:conv1"``) as a
    `Layer`; dims absent from it are absent from the layer (``iw`` alone: 1-D). ValueError
    names the line for anything else."""
    text = line.split("#")[0].strip()
    fields = {}
    position = 0
    for match in _FIELD.finditer(text):
        if match.start() != position:
            break
        fields[match.group(1)] = match.group(2)
        position = match.end()
    if position != len(text) or not {"ic", "oc", "n"} <= fields.keys():
        raise ValueError(f"layer descriptor {line!r} is not benchdnn conv syntax (mb, ic, oc, ...)")
    dims = [d for d in "dhw" if "i" + d in fields]
    if not dims:
        raise ValueError(f"layer descriptor {line!r} has no input size (id, ih or iw)")

    def per_dim(prefix: str, default: int, offset: int = 0) -> tuple[int, ...]:
        return tuple(int(fields.get(prefix + d, default)) + offset for d in dims)

    pads = per_dim("p", 0)
    spec = ConvSpec(
        padding=pads if any(pads) else "valid",
        stride=per_dim("s", 1),
        dilation=per_dim("d", 0, 1),
        groups=int(fields.get("g", 1)),
    )
    return Layer(
        name=fields["n"].strip('"'),
        batch=int(fields.get("mb", 1)),
        c_in=int(fields["ic"]),
        c_out=int(fields["oc"]),
        input=per_dim("i", 1),
        kernel=per_dim("k", 1),
        spec=spec,
    )


LAYERS: tuple[Layer, ...] = tuple(
    parse(line) for line in TABLE.splitlines() if line.split("#")[0].strip()
)
"""The parsed table."""


def select(names: str | tuple[str, ...] | list[str]) -> tuple[Layer, ...]:
    """The layers named (a layer's full name, or a network's name for all its layers; "all"
    for every layer), in table order. ValueError names an unknown name and lists the known."""
    wanted = (names,) if isinstance(names, str) else tuple(names)
    if wanted == ("all",):
        return LAYERS
    known = {layer.name for layer in LAYERS} | {layer.network for layer in LAYERS}
    for name in wanted:
        if not isinstance(name, str):
            raise TypeError(f"layers: {name!r} must be a str (a layer or network name)")
        if name not in known:
            raise ValueError(f"layers: {name!r} is not in the layer table; known: {sorted(known)}")
    return tuple(layer for layer in LAYERS if layer.name in wanted or layer.network in wanted)
