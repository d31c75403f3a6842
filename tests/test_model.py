"""The colleague's CNN: its layers, their shapes, and where BatchNorm goes."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from svhn_debug.config import COLLEAGUE
from svhn_debug.model import build_model, count_parameters


def test_the_notebooks_network_has_its_layers_and_shapes():
    model = build_model(COLLEAGUE)
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [(32, 3, 3, 3), (32,), (32, 32, 3, 3), (32,), (64, 32, 3, 3), (64,), (64, 64, 3, 3), (64,),
                      (128, 64, 3, 3), (128,), (128, 128, 3, 3), (128,), (128, 2048), (128,), (10, 128), (10,)]
    assert count_parameters(model) == 550_570
    assert [type(m) for m in model if not isinstance(m, (nn.Conv2d, nn.Linear))].count(nn.Tanh) == 7
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_batchnorm_follows_every_convolution_and_optionally_the_hidden_layer():
    with_hidden = build_model(replace(COLLEAGUE, batchnorm=True, activation="relu"))
    kinds = [type(m).__name__ for m in with_hidden]
    assert kinds.count("BatchNorm2d") == 6 and kinds.count("BatchNorm1d") == 1
    assert all(kinds[i + 1] == "BatchNorm2d" for i, k in enumerate(kinds) if k == "Conv2d")
    convs_only = [type(m).__name__ for m in build_model(replace(COLLEAGUE, batchnorm=True, bn_hidden=False))]
    assert convs_only.count("BatchNorm2d") == 6 and "BatchNorm1d" not in convs_only


def test_width_scales_every_layer():
    half = build_model(replace(COLLEAGUE, width=0.5))
    assert [tuple(p.shape) for p in half.parameters()][0] == (16, 3, 3, 3)
    assert [tuple(p.shape) for p in half.parameters()][-2] == (10, 64)
