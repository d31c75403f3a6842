"""RunConfig: the colleague's preset, validation with clear errors, diffs and lineage."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from svhn_debug.logbook import BOOK, BOOK_ROOT
from svhn_debug.registry import UnknownExperiment
from svhn_debug.config import COLLEAGUE, ConfigError, RunConfig, config_diff


def test_the_colleague_preset_is_the_notebook():
    c = COLLEAGUE
    assert (c.lr, c.epochs, c.batch_size, c.optimizer, c.scheduler, c.lr_growth) == (1e-5, 10, 256, "adam", "exponential", 1.001)
    assert c.zero_grad is False and c.restore_train_mode is False and c.per_example_losses is True
    assert (c.split, c.train_transform, c.eval_transform, c.normalize) == ("colleague", "rotate180", "rotate180", False)
    assert (c.activation, c.batchnorm, c.cockpit, c.seed, c.pipeline) == ("tanh", False, "colleague", 0, "pil")


@pytest.mark.parametrize("field,value,needle", [
    ("activation", "sigmoid", "RunConfig.activation='sigmoid' is not allowed: must be one of 'tanh', 'relu', 'gelu'"),
    ("lr", 0.0, "RunConfig.lr=0.0 is not allowed: must be a finite number in (0, 1e+10]"),
    ("lr", float("inf"), "RunConfig.lr=inf is not allowed"),
    ("epochs", 2.5, "RunConfig.epochs=2.5 is not allowed: must be an integer in [1, 10000]"),
    ("normalize", "False", "RunConfig.normalize='False' is not allowed: must be True or False"),
    ("eval_splits", ("train", "dev"), "RunConfig.eval_splits=('train', 'dev') is not allowed"),
    ("momentum", 1.0, "RunConfig.momentum=1.0 is not allowed: must be a finite number in [0, 1)"),
    ("seed", 2 ** 32, "must be an integer in [0, 4294967295]"),
])
def test_invalid_values_name_the_field_and_what_is_allowed(field, value, needle):
    with pytest.raises(ConfigError) as info:
        replace(COLLEAGUE, **{field: value})
    assert needle in str(info.value)


def test_every_field_has_a_rule_and_every_rule_a_field():
    from svhn_debug.config import RULES

    assert set(RULES) == {f.name for f in fields(RunConfig)}


def test_combinations_that_cannot_run_are_refused_when_built():
    with pytest.raises(ConfigError, match="label_smoothing > 0 needs cockpit='off'"):
        replace(COLLEAGUE, label_smoothing=0.1)
    with pytest.raises(ConfigError, match="nesterov=True needs optimizer='sgd'"):
        replace(COLLEAGUE, nesterov=True)


def test_round_trip_through_plain_json():
    cfg = replace(COLLEAGUE, eval_splits=("validation",), lr=3e-4)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown RunConfig field"):
        RunConfig.from_dict({**cfg.to_dict(), "learning_rate": 1})


def test_diff_lists_exactly_the_changed_fields():
    assert config_diff(COLLEAGUE, replace(COLLEAGUE, zero_grad=True, lr=1e-3)) == {
        "zero_grad": (False, True), "lr": (1e-5, 1e-3)}


def test_a_grandchild_inherits_its_parents_changes_not_the_roots_config():
    # catches: register() starting from the root instead of the parent's configuration
    from svhn_debug.registry import Registry

    reg = Registry(root=COLLEAGUE)
    reg.register("a", None, "?", zero_grad=True)
    reg.register("b", "a", "?", lr=1e-3)
    assert config_diff(COLLEAGUE, reg.get("b").config) == {"zero_grad": (False, True), "lr": (1e-5, 1e-3)}
    assert [e.name for e in reg.lineage("b")] == ["a", "b"]


def test_unknown_experiment_suggests_close_names():
    with pytest.raises(UnknownExperiment, match="did you mean zero-grad"):
        BOOK.get("zerograd")
