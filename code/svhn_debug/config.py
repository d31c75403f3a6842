"""Run configuration: one frozen dataclass, every behaviour of the colleague's notebook a field.

Every experiment is a diff from a parent (``dataclasses.replace``); :func:`config_diff` prints it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

ALLOWED: dict[str, tuple] = {
    "split": ("colleague", "sound"),
    "train_transform": ("rotate180", "none", "shift_jitter"),
    "eval_transform": ("rotate180", "none"),
    "pipeline": ("tensor", "pil"),
    "activation": ("tanh", "relu", "gelu"),
    "optimizer": ("adam", "adamw", "sgd"),
    "scheduler": ("exponential", "constant", "cosine", "onecycle", "warmup_cosine"),
    "cockpit": ("off", "colleague", "economy", "business", "full", "scalars"),
    "device": ("auto", "cpu", "cuda"),
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
    width: float = 1.0  # channel multiplier on 32/64/128 conv channels and the 128 hidden units

    # --- optimisation ---
    optimizer: str = "adam"
    lr: float = 1e-5  # train(lr=1e-5): a hundred times below Adam's usual 1e-3
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0  # Adam's default
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

    # --- instruments ---
    cockpit: str = "colleague"  # Alpha every 10 steps; Distance, GradNorm, Loss, UpdateSize every step
    cockpit_interval: int = 1  # tracking interval of the cheap quantities (Alpha: 10x this)

    # --- noise and hardware ---
    seed: int = 0  # set_seeds(): random, NumPy and torch seeded with 0
    device: str = "auto"  # CUDA when available, else the CPU
    channels_last: bool = False  # memory layout of the conv activations (a speed knob only)

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


def validate(cfg: RunConfig) -> None:
    """Raise :class:`ConfigError` for the first invalid field of ``cfg``."""
    for name, allowed in ALLOWED.items():
        value = getattr(cfg, name)
        if value not in allowed:
            raise ConfigError(f"RunConfig.{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}")
    bad_splits = [s for s in cfg.eval_splits if s not in ("train", "validation", "test")]
    if bad_splits:
        raise ConfigError(f"RunConfig.eval_splits has {bad_splits!r}; allowed: 'train', 'validation', 'test'")
    positive = {"lr": cfg.lr, "epochs": cfg.epochs, "batch_size": cfg.batch_size, "width": cfg.width,
                "eval_every": cfg.eval_every, "cockpit_interval": cfg.cockpit_interval, "lr_growth": cfg.lr_growth}
    for name, value in positive.items():
        if not value > 0:
            raise ConfigError(f"RunConfig.{name}={value!r} must be > 0")
    for name in ("weight_decay", "grad_clip", "eval_train_examples"):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"RunConfig.{name}={getattr(cfg, name)!r} must be >= 0")
    if not 0 <= cfg.momentum < 1:
        raise ConfigError(f"RunConfig.momentum={cfg.momentum!r} must be in [0, 1)")
    if not 0 < cfg.warmup_fraction < 1:
        raise ConfigError(f"RunConfig.warmup_fraction={cfg.warmup_fraction!r} must be in (0, 1)")


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
