"""Budget profiles: how much data and how many epochs an experiment gets.

``SVHN_DEBUG_PROFILE`` selects one: ``smoke`` (CI, seconds), ``cpu`` (default, minutes on two
cores) or ``full`` (the exercise's sizes, for a GPU). A profile shrinks the data and the epochs,
and rescales the per-step learning-rate growth so that a run ends with the same total growth as
the full run (the colleague's ``ExponentialLR(1.001)`` multiplies the rate by 1.001**2870, about
17.6, over 10 epochs of 287 SVHN batches).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass

SVHN_TRAIN_SIZE = 73_257  # torchvision's SVHN "train" split
SVHN_TEST_SIZE = 26_032  # torchvision's SVHN "test" split


@dataclass(frozen=True)
class Profile:
    """Data sizes and epoch scaling of one budget."""

    name: str
    n_train: int  # images of the training pool trained on (at most pool minus validation, sound split)
    n_test: int  # images of the test split used (sound split only)
    n_validation: int  # images carved off the training pool for validation (sound split)
    epoch_scale: float  # epochs run = round(config.epochs * epoch_scale), at least 1
    n_synthetic_train: int  # size of the generated training pool
    n_synthetic_test: int  # size of the generated test pool

    def epochs(self, config_epochs: int) -> int:
        """Epochs actually run for a config asking for ``config_epochs`` full-data epochs."""
        return max(1, round(config_epochs * self.epoch_scale))

    def full_steps(self, config_epochs: int, batch_size: int) -> int:
        """Steps the same config makes on full SVHN: the reference for schedule scaling."""
        return config_epochs * math.ceil(SVHN_TRAIN_SIZE / batch_size)

    def to_dict(self) -> dict:
        """Plain dict of the fields (part of every cache key)."""
        return asdict(self)


PROFILES: dict[str, Profile] = {
    # CI: two batches an epoch, one epoch; only checks that everything runs.
    "smoke": Profile("smoke", n_train=512, n_test=256, n_validation=256, epoch_scale=0.1,
                     n_synthetic_train=768, n_synthetic_test=256),
    # Default: 8,192 images = 32 steps of 256 an epoch, 22 epochs for the notebook's 10 = 704
    # steps, the budget the plateau study chose (chapter 1, bench/plateau_study.py): the course's
    # recipe leaves the class-prior plateau on every seed by half of it. About 8 minutes a run in
    # bfloat16 on one core.
    "cpu": Profile("cpu", n_train=8_192, n_test=4_096, n_validation=2_048, epoch_scale=2.2,
                   n_synthetic_train=10_240, n_synthetic_test=4_096),
    # The exercise's sizes: 73,257 training images, 10 epochs of 287 steps.
    # The sound split carves its validation images off the end of the pool, so it trains on
    # 65,931 of them.
    "full": Profile("full", n_train=SVHN_TRAIN_SIZE, n_test=SVHN_TEST_SIZE, n_validation=7_326,
                    epoch_scale=1.0, n_synthetic_train=SVHN_TRAIN_SIZE, n_synthetic_test=SVHN_TEST_SIZE),
}


def active_profile() -> Profile:
    """The profile named by ``SVHN_DEBUG_PROFILE`` (default ``cpu``)."""
    name = os.environ.get("SVHN_DEBUG_PROFILE") or "cpu"
    return get_profile(name)


def get_profile(name: str) -> Profile:
    """Profile by name; a clear ``ValueError`` for an unknown one."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
