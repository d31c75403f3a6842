"""Random search over a hyperparameter space: reproducible draws that become registered experiments.

A space maps a :class:`~svhn_debug.config.RunConfig` field to ``(low, high, scale)``, with scale
``"log"`` (uniform in the logarithm, for rates) or ``"linear"``. Draws come from NumPy's
generator seeded by ``search_seed``, so the same call always proposes the same trials; values are
rounded to three significant digits so that configurations (and cache keys) read cleanly.
"""

from __future__ import annotations

import math

import numpy as np

SCALES = ("log", "linear")


def _round3(x: float) -> float:
    return float(f"{x:.3g}")


def draw(space: dict[str, tuple[float, float, str]], n: int, search_seed: int) -> list[dict[str, float]]:
    """``n`` trials from ``space``: a list of ``{field: value}``.

    Raises:
        ValueError: an empty space, a bound pair out of order, a non-positive bound on a log
            scale, an unknown scale, or ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"a random search needs at least one trial, got n={n}")
    if not space:
        raise ValueError("the search space is empty")
    for field, (low, high, scale) in space.items():
        if scale not in SCALES:
            raise ValueError(f"{field}: unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
        if not low < high:
            raise ValueError(f"{field}: the low bound {low} must be below the high bound {high}")
        if scale == "log" and low <= 0:
            raise ValueError(f"{field}: a log scale needs positive bounds, got {low}")
    rng = np.random.default_rng(search_seed)
    trials = []
    for _ in range(n):
        trial = {}
        for field, (low, high, scale) in space.items():
            u = rng.random()
            value = math.exp(math.log(low) + u * (math.log(high) - math.log(low))) if scale == "log" \
                else low + u * (high - low)
            trial[field] = min(high, max(low, _round3(value)))
        trials.append(trial)
    return trials
