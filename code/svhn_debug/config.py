"""Run configuration: one frozen dataclass, every behaviour of the colleague's notebook a field.

Every experiment is a diff from a parent (``dataclasses.replace``); :func:`config_diff` prints it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

ALLOWED: dict[str, tuple] = {
    "split": ("colleague", "sound"),
    "train_transform": ("rotate180", "none", "shift_jitter", "shift"),
    "eval_transform": ("rotate180", "none"),
    "pipeline": ("tensor", "pil"),
    "activation": ("tanh", "relu", "gelu"),
    "optimizer": ("adam", "adamw", "sgd"),
    "scheduler": ("exponential", "constant", "cosine", "onecycle", "warmup_cosine", "warmup_linear"),
    "decay_scope": ("all", "weights"),
    "tta": ("none", "shift"),
    "cockpit": ("off", "colleague", "economy", "business", "full", "scalars"),
    "device": ("auto", "cpu", "cuda"),
    "precision": ("fp32", "bf16"),
}
"""Allowed values of the categorical fields."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides what one training run does (besides the profile and the data).

    The defaults are the colleague's notebook; the reason for each sits beside it.
    """

    # --- data ---
    split: str = "colleague"  # validation and test both cut from SVHN's *train* split
    train_transform: str = "rotate180"  # RandomRotation(degrees=(0, 180)) on training images
    eval_transform: str = "rotate180"  # ... and the very same transform on every split
    normalize: bool = False  # ToTensor() only: pixels in [0, 1], no per-channel standardisation
    pipeline: str = "pil"  # per-sample PIL images through torchvision transforms ("tensor": batched, same transforms)

    # --- model ---
    activation: str = "tanh"  # nn.Tanh after every conv and the hidden linear layer
    batchnorm: bool = False  # no normalisation layers
    bn_momentum: float = 0.1  # BatchNorm's running-statistics momentum (torch's default)
    bn_hidden: bool = True  # with batchnorm: also after the hidden linear layer, not only the convolutions
    width: float = 1.0  # channel multiplier on 32/64/128 conv channels and the 128 hidden units

    # --- optimisation ---
    optimizer: str = "adam"
    lr: float = 1e-5  # train(lr=1e-5): a hundred times below Adam's usual 1e-3
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0  # Adam's default
    decay_scope: str = "all"  # "weights": no decay on biases and BatchNorm parameters
    nesterov: bool = False  # SGD only
    label_smoothing: float = 0.0  # CrossEntropyLoss's default (training loss only)
    scheduler: str = "exponential"  # ExponentialLR(gamma=1.001) stepped after every batch
    lr_growth: float = 1.001  # ExponentialLR's gamma on the full SVHN step count (scaled per profile)
    warmup_fraction: float = 0.05  # warmup_cosine / onecycle: share of steps spent warming up
    zero_grad: bool = False  # the batch loop never calls optimizer.zero_grad()
    grad_clip: float = 0.0  # 0: no clipping (the notebook clips nothing)

    # --- loop ---
    epochs: int = 10  # train(num_epochs=10) on the full data; profiles scale it
    batch_size: int = 256  # train(batch_size=256)
    per_example_losses: bool = True  # CrossEntropyLoss(reduction="none") computed every step
    restore_train_mode: bool = False  # eval_model() leaves the model in eval mode
    eval_splits: tuple[str, ...] = ("train", "validation", "test")  # all three after every epoch
    eval_every: int = 1  # epochs between evaluations (the last epoch is always evaluated)
    eval_train_examples: int = 0  # 0: evaluate on the whole training set, as the notebook does
    tta: str = "none"  # test-time augmentation of every evaluation ("shift": mean over 2-px shifts)

    # --- instruments ---
    cockpit: str = "colleague"  # Alpha every 10 steps; Distance, GradNorm, Loss, UpdateSize every step
    cockpit_interval: int = 1  # tracking interval of the cheap quantities (Alpha: 10x this)

    # --- noise and hardware ---
    seed: int = 0  # set_seeds(): random, NumPy and torch seeded with 0
    device: str = "auto"  # CUDA when available, else the CPU
    channels_last: bool = False  # memory layout of the conv activations (other kernels: part of the run)
    threads: int = 1  # torch CPU threads, fixed per run: sums split over threads round differently
    precision: str = "fp32"  # float32 throughout; "bf16": bfloat16 autocast, float32 weights (svhn_debug.precision)

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view (tuples become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown RunConfig field(s): {', '.join(unknown)}")
        clean = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()}
        return cls(**clean)


class ConfigError(ValueError):
    """An invalid configuration value, naming the field and what is allowed."""


@dataclass(frozen=True)
class Rule:
    """What one field accepts: a type, and a range or a set of choices."""

    kind: type  # bool, int, float, str or tuple (of str)
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the bound itself is excluded
    high_open: bool = False
    choices: tuple = ()

    def describe(self) -> str:
        if self.kind is bool:
            return "True or False"
        if self.choices:
            what = "one of" if self.kind is str else "a non-empty tuple of distinct values from"
            return f"{what} {', '.join(map(repr, self.choices))}"
        noun = {int: "an integer", float: "a finite number"}[self.kind]
        low, high = (f"{v:g}" if isinstance(v, float) else str(v) for v in (self.low, self.high))
        if self.low is not None and self.high is not None:
            return f"{noun} in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{noun} {'>' if self.low_open else '>='} {low}"
        return noun

    def accepts(self, value: Any) -> bool:
        if self.kind is bool:
            return type(value) is bool
        if self.kind is tuple:
            return (isinstance(value, tuple) and len(value) > 0 and len(set(value)) == len(value)
                    and all(isinstance(v, str) and v in self.choices for v in value))
        if self.kind is str:
            return isinstance(value, str) and value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))


def _choice(name: str) -> Rule:
    return Rule(str, choices=ALLOWED[name])


RULES: dict[str, Rule] = {
    **{name: _choice(name) for name in ALLOWED},
    **{name: Rule(bool) for name in ("normalize", "batchnorm", "bn_hidden", "nesterov", "zero_grad",
                                     "per_example_losses", "restore_train_mode", "channels_last")},
    "width": Rule(float, 0, 16, low_open=True),
    "bn_momentum": Rule(float, 0, 1, low_open=True),
    "lr": Rule(float, 0, 1e10, low_open=True),
    "momentum": Rule(float, 0, 1, high_open=True),
    "weight_decay": Rule(float, 0, 1),
    "label_smoothing": Rule(float, 0, 1, high_open=True),
    "lr_growth": Rule(float, 0, 2, low_open=True),
    "warmup_fraction": Rule(float, 0, 1, low_open=True, high_open=True),
    "grad_clip": Rule(float, 0),
    "epochs": Rule(int, 1, 10_000),
    "batch_size": Rule(int, 1, 1_000_000),
    "eval_splits": Rule(tuple, choices=("train", "validation", "test")),
    "eval_every": Rule(int, 1, 10_000),
    "eval_train_examples": Rule(int, 0),
    "cockpit_interval": Rule(int, 1, 1_000_000),
    "seed": Rule(int, 0, 2 ** 32 - 1),  # numpy's seed range
    "threads": Rule(int, 1, 1024),
}
"""The contract of every field of :class:`RunConfig`, checked when a configuration is built."""


def validate(cfg: RunConfig) -> None:
    """Raise :class:`ConfigError` for the first field of ``cfg`` its :data:`RULES` reject, or
    for a combination of fields that cannot run."""
    for f in fields(cfg):
        rule = RULES[f.name]
        value = getattr(cfg, f.name)
        if not rule.accepts(value):
            raise ConfigError(f"RunConfig.{f.name}={value!r} is not allowed: must be {rule.describe()}")
    if cfg.label_smoothing and cfg.cockpit != "off":
        raise ConfigError("RunConfig.label_smoothing > 0 needs cockpit='off': BackPACK's cross-entropy has no smoothing")
    if cfg.precision == "bf16" and cfg.cockpit != "off":
        raise ConfigError("RunConfig.precision='bf16' needs cockpit='off': Cockpit's quantities come out in bfloat16, "
                          "which it cannot save")
    if cfg.nesterov and (cfg.optimizer != "sgd" or not cfg.momentum):
        raise ConfigError("RunConfig.nesterov=True needs optimizer='sgd' and momentum > 0")


def config_diff(parent: RunConfig, child: RunConfig) -> dict[str, tuple[Any, Any]]:
    """Fields whose value differs, as ``{field: (parent_value, child_value)}``."""
    return {f.name: (getattr(parent, f.name), getattr(child, f.name))
            for f in fields(RunConfig) if getattr(parent, f.name) != getattr(child, f.name)}


def format_changes(changes: dict[str, Any]) -> str:
    """``lr=0.001, zero_grad=True`` style text of a change set (empty: ``(none)``)."""
    if not changes:
        return "(none)"
    return ", ".join(f"{k}={v!r}" for k, v in changes.items())


COLLEAGUE = RunConfig()
"""The notebook exactly as handed over: ``train(num_epochs=10, verbose=True, cockpit=True)``."""
