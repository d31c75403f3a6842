"""The colleague's CNN, with the activation, BatchNorm and width as options."""

from __future__ import annotations

from torch import nn

from .config import RunConfig

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


def build_model(config: RunConfig) -> nn.Sequential:
    """Three blocks of [conv3x3, act, conv3x3, act, maxpool2] (32/64/128 channels), then a
    2048 -> 128 -> 10 classifier; BatchNorm (when on) sits after every conv and (unless
    ``bn_hidden`` is off) the hidden linear layer, before the activation. PyTorch's default initialisation throughout."""
    act = ACTIVATIONS[config.activation]
    channels = [3] + [max(1, round(c * config.width)) for c in (32, 64, 128)]
    hidden = max(1, round(128 * config.width))
    layers: list[nn.Module] = []
    for c_in, c_out in zip(channels[:-1], channels[1:]):
        for first in (True, False):
            layers.append(nn.Conv2d(c_in if first else c_out, c_out, kernel_size=3, padding=1))
            if config.batchnorm:
                layers.append(nn.BatchNorm2d(c_out, momentum=config.bn_momentum))
            layers.append(act())
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Linear(channels[-1] * 4 * 4, hidden)]  # 32 px halved three times: 4x4
    if config.batchnorm and config.bn_hidden:
        layers.append(nn.BatchNorm1d(hidden, momentum=config.bn_momentum))
    layers += [act(), nn.Linear(hidden, 10)]
    return nn.Sequential(*layers)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
