"""RunConfig: the colleague's preset, validation with clear errors, diffs and lineage."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace

import pytest

from svhn_debug import experiments
from svhn_debug.config import COLLEAGUE, ConfigError, RunConfig, config_diff


def test_the_colleague_preset_is_the_notebook():
    c = COLLEAGUE
    assert (c.lr, c.epochs, c.batch_size, c.optimizer, c.scheduler, c.lr_growth) == (1e-5, 10, 256, "adam", "exponential", 1.001)
    assert c.zero_grad is False and c.restore_train_mode is False and c.per_example_losses is True
    assert (c.split, c.train_transform, c.eval_transform, c.normalize) == ("colleague", "rotate180", "rotate180", False)
    assert (c.activation, c.batchnorm, c.cockpit, c.seed, c.pipeline) == ("tanh", False, "colleague", 0, "pil")


def test_configs_are_frozen():
    with pytest.raises(FrozenInstanceError):
        COLLEAGUE.lr = 1.0


@pytest.mark.parametrize("field,value,needle", [
    ("activation", "sigmoid", "RunConfig.activation='sigmoid' is not allowed; choose one of 'tanh', 'relu', 'gelu'"),
    ("lr", 0.0, "RunConfig.lr=0.0 must be > 0"),
    ("eval_splits", ("train", "dev"), "eval_splits"),
    ("momentum", 1.0, "RunConfig.momentum"),
])
def test_invalid_values_name_the_field_and_what_is_allowed(field, value, needle):
    with pytest.raises(ConfigError) as info:
        replace(COLLEAGUE, **{field: value})
    assert needle in str(info.value)


def test_round_trip_through_plain_json():
    cfg = replace(COLLEAGUE, eval_splits=("validation",), lr=3e-4)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown RunConfig field"):
        RunConfig.from_dict({**cfg.to_dict(), "learning_rate": 1})


def test_diff_lists_exactly_the_changed_fields():
    assert config_diff(COLLEAGUE, replace(COLLEAGUE, zero_grad=True, lr=1e-3)) == {
        "zero_grad": (False, True), "lr": (1e-5, 1e-3)}


def test_every_registered_experiment_is_its_parent_plus_its_changes():
    for exp in experiments.REGISTRY.values():
        parent = experiments.get(exp.parent).config if exp.parent else COLLEAGUE
        assert config_diff(parent, exp.config) == {k: (getattr(parent, k), v) for k, v in exp.changes
                                                   if getattr(parent, k) != v}
        assert experiments.lineage(exp.name)[0].parent is None


def test_unknown_experiment_suggests_close_names():
    with pytest.raises(experiments.UnknownExperiment, match="did you mean zero-grad"):
        experiments.get("zerograd")
