"""Precision: float32, or bfloat16 autocast with float32 weights, refused where the hardware lacks it."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from svhn_debug import precision
from svhn_debug.training import train

CPU = torch.device("cpu")


@pytest.mark.parametrize("flags, has", [("fpu avx512f avx512_bf16 sse", True), ("fpu amx_bf16 amx_tile", True),
                                        ("fpu avx512f avx2", False)])
def test_bfloat16_instructions_are_read_from_the_cpu_flags(tmp_path, flags, has):
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert precision.cpu_has_bf16(str(info)) is has


def test_unreadable_cpu_flags_mean_no_bfloat16(tmp_path):
    assert precision.cpu_has_bf16(str(tmp_path / "absent")) is False


def test_fp32_changes_nothing():
    with precision.autocast("fp32", CPU) as record:
        assert not torch.is_autocast_enabled("cpu")
    assert record == {"precision": "fp32"}


def test_bf16_autocasts_products_to_bfloat16_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    layer = torch.nn.Linear(4, 3)
    with precision.autocast("bf16", CPU) as record:
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        out = layer(torch.ones(2, 4))
    assert out.dtype == torch.bfloat16 and layer.weight.dtype == torch.float32  # float32 master weights
    assert record == {"precision": "bf16", "autocast_dtype": "bfloat16"}
    assert not torch.is_autocast_enabled("cpu")


def test_bf16_forward_passes_see_every_update_of_the_weights(monkeypatch):
    # Autocast caches the bfloat16 copy of a float32 weight until its outermost context exits. A
    # context around a whole run therefore fed every forward pass the initial weights: the course's
    # recipe never left the class-prior plateau in bfloat16. Each pass must read the current weights.
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    torch.manual_seed(0)
    layer = torch.nn.Linear(8, 4)
    x = torch.randn(16, 8)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    with precision.autocast("bf16", CPU):
        for _ in range(3):
            before = layer(x)
            optimizer.zero_grad()
            before.float().pow(2).mean().backward()
            optimizer.step()
            after = layer(x)
            expected = torch.nn.functional.linear(x, layer.weight.detach(), layer.bias.detach())
            assert not torch.equal(after, before)
            torch.testing.assert_close(after.float(), expected.float(), rtol=0.02, atol=0.02)


def test_bf16_is_refused_not_emulated_on_a_cpu_without_it(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    with pytest.raises(precision.PrecisionUnavailable, match="AVX-512 BF16 or AMX"):
        with precision.autocast("bf16", CPU):
            pytest.fail("the block ran")


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="fp32, bf16"):
        with precision.autocast("fp16", CPU):
            pytest.fail("the block ran")


@pytest.mark.skipif(not precision.cpu_has_bf16(), reason="this CPU has no bfloat16 instructions")
def test_a_bf16_run_trains_with_float32_weights_and_differs_from_fp32_only_in_rounding(tiny, smoke, pools):
    cfg = replace(tiny, epochs=10)
    fp32 = train(cfg, smoke, pools, keep_model=True)
    with precision.autocast("bf16", CPU):
        bf16 = train(cfg, smoke, pools, keep_model=True)
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())
    assert all(s["loss"] == s["loss"] for s in bf16.steps)  # finite
    assert bf16.steps[0]["loss"] == pytest.approx(fp32.steps[0]["loss"], rel=0.02)  # same network, rounded
    # ... and the same updates: the first step moves the loss as it does in float32
    assert bf16.steps[1]["loss"] - bf16.steps[0]["loss"] == pytest.approx(
        fp32.steps[1]["loss"] - fp32.steps[0]["loss"], rel=0.2, abs=0.01)
    assert [s["loss"] for s in bf16.steps] != [s["loss"] for s in fp32.steps]  # ... but rounded differently


def test_precision_is_a_configuration_field_with_a_contract():
    from svhn_debug.config import COLLEAGUE, ConfigError

    assert COLLEAGUE.precision == "fp32"  # the notebook computes in float32
    assert replace(COLLEAGUE, cockpit="off", precision="bf16").precision == "bf16"
    with pytest.raises(ConfigError, match="precision"):
        replace(COLLEAGUE, cockpit="off", precision="fp16")
    with pytest.raises(ConfigError, match="cockpit='off'"):  # Cockpit cannot save bfloat16 quantities
        replace(COLLEAGUE, precision="bf16")


@pytest.mark.skipif(not precision.cpu_has_bf16(), reason="this CPU has no bfloat16 instructions")
def test_train_computes_in_the_configured_precision_and_records_it(tiny, smoke, pools):
    fp32 = train(tiny, smoke, pools)
    bf16 = train(replace(tiny, precision="bf16"), smoke, pools)
    assert fp32.meta["numerics"]["precision"] == "fp32" and "autocast_dtype" not in fp32.meta["numerics"]
    assert bf16.meta["numerics"]["precision"] == "bf16"
    assert bf16.meta["numerics"]["autocast_dtype"] == "bfloat16"
    assert bf16.steps[0]["loss"] == pytest.approx(fp32.steps[0]["loss"], rel=0.02)
    assert [s["loss"] for s in bf16.steps] != [s["loss"] for s in fp32.steps]
    # the precision ends with the run: nothing after it computes in bfloat16
    assert not torch.is_autocast_enabled("cpu")


def test_a_bf16_run_is_refused_where_the_cpu_lacks_it(monkeypatch, tiny, smoke, pools):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    with pytest.raises(precision.PrecisionUnavailable):
        train(replace(tiny, precision="bf16"), smoke, pools)
