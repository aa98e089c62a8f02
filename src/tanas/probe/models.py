"""Probe networks: the paper's ε-approximation networks.

Every probe is a :class:`ProbeNet` with two children:

* ``body``: input image -> flat feature vector of size ``feature_dim``;
* ``head``: one ``nn.Linear(feature_dim, num_classes)``.

So every parameter name starts with ``body.`` or ``head.``, which is what the
Fisher Task Distance relies on to compare bodies, swap heads and refit heads.

The large probes are the CIFAR forms the paper used (3x3 stem, no stem max-pool)
and adapt to the input: any number of channels, and any square size from 8x8
up (a down-sampling step is skipped once the feature map is 1x1). All bodies end
in global average pooling, so the feature size does not depend on the input size.

Initialisation draws only from a seeded :class:`torch.Generator`, never the
global RNG, so ``build_probe(..., seed=s)`` is reproducible on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from tanas.errors import ConfigError
from tanas.runtime import make_generator

PROBE_NAMES: tuple[str, ...] = ("cnn", "resnet18", "vgg16", "densenet121")


class ProbeNet(nn.Module):
    """A probe: ``forward(x) = head(body(x))``.

    Attributes:
        name: registry name of the architecture (one of :data:`PROBE_NAMES`).
        feature_dim: size of the body's output vector.
        in_channels, input_size, num_classes: what the probe was built for.
    """

    def __init__(
        self,
        name: str,
        body: nn.Module,
        feature_dim: int,
        *,
        in_channels: int,
        input_size: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.name = name
        self.feature_dim = int(feature_dim)
        self.in_channels = int(in_channels)
        self.input_size = int(input_size)
        self.num_classes = int(num_classes)
        self.body = body
        self.head = nn.Linear(self.feature_dim, self.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The body's flat feature vectors, shape ``(N, feature_dim)``."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def replace_head(self, num_classes: int) -> None:
        """Swap in a fresh (zero) output layer for ``num_classes`` classes."""
        ref = self.head.weight
        with torch.random.fork_rng(devices=[]):  # built on the CPU, so no RNG of the caller is consumed
            head = nn.Linear(self.feature_dim, int(num_classes))
        self.head = head.to(device=ref.device, dtype=ref.dtype)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()
        self.num_classes = int(num_classes)

    def extra_repr(self) -> str:
        return (
            f"name={self.name!r}, in_channels={self.in_channels}, input_size={self.input_size}, "
            f"feature_dim={self.feature_dim}, num_classes={self.num_classes}"
        )


# --------------------------------------------------------------------------- building blocks


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _down(size: int, stride: int) -> int:
    """Spatial size after a 3x3, padding 1 conv (or 2x2 pool) with ``stride``."""
    return (size - 1) // stride + 1 if stride > 1 else size


class _Pool(nn.Sequential):
    """Global average pooling to a flat vector."""

    def __init__(self) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))


# --------------------------------------------------------------------------- small CNN


def _cnn_body(in_channels: int, input_size: int) -> tuple[nn.Module, int]:
    """Three conv-BN-ReLU layers (16, 32, 64 channels), global average pool.

    Each layer halves the map while it is at least 4 px wide, except that small
    inputs (< 16 px, e.g. 8x8 digits) keep full resolution in the first layer.
    Measured on a 2-core CPU this trains at about 12k 28x28 images/s (batch
    128), about 5 s per Fashion-MNIST epoch; twice the widths cost twice that.
    """
    widths = (16, 32, 64)
    layers: list[nn.Module] = []
    size, cin = input_size, in_channels
    for i, cout in enumerate(widths):
        stride = 1 if (i == 0 and input_size < 16) or size < 4 else 2
        layers.append(_conv_bn_relu(cin, cout, stride))
        size, cin = _down(size, stride), cout
    layers.append(_Pool())
    return nn.Sequential(*layers), cin


# --------------------------------------------------------------------------- ResNet-18


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def _resnet18_body(in_channels: int, input_size: int) -> tuple[nn.Module, int]:
    """CIFAR ResNet-18: 3x3 stem (64), 4 stages x 2 basic blocks, strides 1,2,2,2."""
    layers: list[nn.Module] = [_conv_bn_relu(in_channels, 64)]
    size, cin = input_size, 64
    for i, cout in enumerate((64, 128, 256, 512)):
        stride = 1 if i == 0 or size <= 1 else 2
        layers.append(_BasicBlock(cin, cout, stride))
        layers.append(_BasicBlock(cout, cout, 1))
        size, cin = _down(size, stride), cout
    layers.append(_Pool())
    return nn.Sequential(*layers), cin


# --------------------------------------------------------------------------- VGG-16

_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _vgg16_body(in_channels: int, input_size: int) -> tuple[nn.Module, int]:
    """CIFAR VGG-16 with BatchNorm; a 2x2 max-pool is skipped once the map is 1x1."""
    layers: list[nn.Module] = []
    size, cin = input_size, in_channels
    for v in _VGG16:
        if v == "M":
            if size >= 2:
                layers.append(nn.MaxPool2d(2, 2))
                size //= 2
        else:
            layers.append(_conv_bn_relu(cin, int(v)))
            cin = int(v)
    layers.append(_Pool())
    return nn.Sequential(*layers), cin


# --------------------------------------------------------------------------- DenseNet-121


class _DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True),
            nn.Conv2d(cin, 4 * growth, 1, bias=False),
            nn.BatchNorm2d(4 * growth),
            nn.ReLU(inplace=True),
            nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.net(x)], dim=1)


def _densenet121_body(in_channels: int, input_size: int) -> tuple[nn.Module, int]:
    """CIFAR DenseNet-121 (BC): growth 32, blocks 6-12-24-16, compression 0.5."""
    growth = 32
    cin = 2 * growth
    layers: list[nn.Module] = [nn.Conv2d(in_channels, cin, 3, padding=1, bias=False)]
    size = input_size
    blocks = (6, 12, 24, 16)
    for b, n in enumerate(blocks):
        for _ in range(n):
            layers.append(_DenseLayer(cin, growth))
            cin += growth
        if b < len(blocks) - 1:
            cout = cin // 2
            trans: list[nn.Module] = [nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 1, bias=False)]
            if size >= 2:
                trans.append(nn.AvgPool2d(2))
                size //= 2
            layers.append(nn.Sequential(*trans))
            cin = cout
    layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True), _Pool()]
    return nn.Sequential(*layers), cin


_BODIES: dict[str, Callable[[int, int], tuple[nn.Module, int]]] = {
    "cnn": _cnn_body,
    "resnet18": _resnet18_body,
    "vgg16": _vgg16_body,
    "densenet121": _densenet121_body,
}


# --------------------------------------------------------------------------- seeded init


@torch.no_grad()
def _init_weights(model: nn.Module, generator: torch.Generator) -> None:
    """He-normal convolutions, unit BatchNorm, PyTorch-default-style linear layers."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, nn.BatchNorm2d):
            module.weight.fill_(1.0)
            module.bias.zero_()
        elif isinstance(module, nn.Linear):
            bound = 1.0 / math.sqrt(module.in_features)
            nn.init.uniform_(module.weight, -bound, bound, generator=generator)
            if module.bias is not None:
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)


def build_probe(name: str, *, in_channels: int, num_classes: int, input_size: int, seed: int = 0) -> ProbeNet:
    """Build the probe ``name`` for ``in_channels`` x ``input_size`` x ``input_size`` images.

    The weights depend only on the arguments (initialised from a generator seeded
    with ``seed``). Raises :class:`ConfigError` on an unknown name or bad sizes.
    """
    if name not in _BODIES:
        raise ConfigError(f"unknown probe {name!r}: choose one of {', '.join(PROBE_NAMES)}")
    for label, value, low in (
        ("in_channels", in_channels, 1),
        ("num_classes", num_classes, 2),
        ("input_size", input_size, 4),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"probe {name!r}: {label} must be an integer >= {low}, got {value!r}")
    # Layer constructors initialise from the global RNG; fork it so that building a
    # probe leaves the caller's random stream untouched (the weights are redrawn below).
    with torch.random.fork_rng(devices=[]):
        body, feature_dim = _BODIES[name](in_channels, input_size)
        model = ProbeNet(
            name, body, feature_dim, in_channels=in_channels, input_size=input_size, num_classes=num_classes
        )
    _init_weights(model, make_generator(seed))
    return model
