"""Cockpit attached through the instruments module: it observes training and never steers it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from svhn_debug.config import COLLEAGUE
from svhn_debug.instruments import quantity_plan
from svhn_debug.training import train


@pytest.mark.parametrize("preset", ["colleague", "full"])
def test_tracking_does_not_change_the_training_trajectory(tiny, smoke, pools, preset):
    # "full" includes HessMaxEV, which draws from torch's global random generator.
    cfg = replace(tiny, epochs=20, per_example_losses=True, train_transform="rotate180")
    plain = train(cfg, smoke, pools, keep_model=True)
    tracked = train(replace(cfg, cockpit=preset), smoke, pools, keep_model=True)
    assert tracked.cockpit is not None
    assert [s["loss"] for s in plain.steps] == pytest.approx([s["loss"] for s in tracked.steps], rel=1e-6, abs=0)
    for p, q in zip(plain.model.parameters(), tracked.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7)


def test_colleague_plan_tracks_alpha_ten_times_less_often():
    plan, dropped = quantity_plan(replace(COLLEAGUE, cockpit_interval=3))
    assert dict(plan) == {"Alpha": 30, "Distance": 3, "GradNorm": 3, "Loss": 3, "UpdateSize": 3}
    assert dropped == []


def replay(cfg, smoke, pools, after_backward=lambda model: None) -> list[list[torch.Tensor]]:
    """The run of ``cfg`` replayed step by step without Cockpit (the reference computation):
    calls ``after_backward(model)`` before each step, and returns every parameter vector, the
    initial one first."""
    from svhn_debug.data import build_batches, make_splits
    from svhn_debug.model import build_model
    from svhn_debug.training import build_optimizer

    torch.manual_seed(cfg.seed)
    model = build_model(cfg)
    opt = build_optimizer(cfg, model)
    batches = build_batches(make_splits(pools, smoke, cfg), cfg, torch.device("cpu"))
    thetas = [[p.detach().clone() for p in model.parameters()]]
    for _ in range(smoke.epochs(cfg.epochs)):
        for x, y in batches["train"]:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            after_backward(model)
            opt.step()
            thetas.append([p.detach().clone() for p in model.parameters()])
    return thetas


def test_gradnorm_matches_the_norm_of_the_gradient_the_optimizer_saw(tiny, smoke, pools):
    cfg = replace(tiny, cockpit="scalars", epochs=20)
    run = train(cfg, smoke, pools)
    norms = []
    replay(cfg, smoke, pools, lambda model: norms.append(
        torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters())).item()))
    logged = {int(step): entry["GradNorm"] for step, entry in run.cockpit.items() if "GradNorm" in entry}
    assert sorted(logged) == list(range(len(norms)))
    for step, per_parameter in logged.items():
        assert np.linalg.norm(per_parameter) == pytest.approx(norms[step], rel=1e-4)


def test_batchnorm_keeps_only_quantities_that_are_correct_and_says_which_it_dropped(tiny, smoke, pools):
    cfg = replace(tiny, batchnorm=True, restore_train_mode=True, cockpit="economy", epochs=20)
    with pytest.warns(UserWarning, match="per-example gradients are undefined with BatchNorm"):
        run = train(cfg, smoke, pools)
    kept = {name for name, _ in run.meta["cockpit_quantities"]}
    assert kept == {"Distance", "GradNorm", "Loss", "UpdateSize"}
    assert {d.split(":")[0] for d in run.meta["cockpit_dropped"]} == {"Alpha", "GradHist1d", "InnerTest", "NormTest", "OrthoTest"}
    logged = set().union(*(entry.keys() for entry in run.cockpit.values()))
    assert logged >= kept
    assert not logged & {"Alpha", "GradHist1d", "InnerTest", "NormTest", "OrthoTest"}


def test_without_batchnorm_nothing_is_dropped(tiny):
    plan, dropped = quantity_plan(replace(tiny, cockpit="economy"))
    assert len(plan) == 9 and dropped == []


def test_tanh_curvature_quantities_use_the_ggn_that_fits_in_memory(tiny, smoke, pools):
    run = train(replace(tiny, cockpit="business", epochs=10, batch_size=64), smoke, pools)
    logged = set().union(*(entry.keys() for entry in run.cockpit.values()))
    assert {"HessTrace", "TICDiag"} <= logged


def test_distance_and_update_size_match_the_parameters_of_a_replay(tiny, smoke, pools):
    # Cockpit's Distance is each parameter's distance from its initial value, UpdateSize the
    # length of each step's update; the replay keeps every parameter vector.
    cfg = replace(tiny, cockpit="scalars", epochs=20)
    run = train(cfg, smoke, pools)
    thetas = replay(cfg, smoke, pools)

    def lengths(a, b):
        return np.array([float((p - q).norm()) for p, q in zip(a, b)])
    distance = {int(s): e["Distance"] for s, e in run.cockpit.items() if "Distance" in e}
    update = {int(s): e["UpdateSize"] for s, e in run.cockpit.items() if "UpdateSize" in e}
    assert distance and update
    for step, logged in distance.items():
        np.testing.assert_allclose(logged, lengths(thetas[step], thetas[0]), rtol=1e-4, atol=1e-8)
    for step, logged in update.items():
        np.testing.assert_allclose(logged, lengths(thetas[step + 1], thetas[step]), rtol=1e-4, atol=1e-8)
