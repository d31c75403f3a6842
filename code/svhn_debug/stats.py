"""Seed statistics and the one decision rule of the logbook.

Pure arithmetic on numbers keyed by seed: no runs, no cache. :mod:`svhn_debug.report` feeds it
cached results; the tests feed it constructed numbers. A value of ``None`` is a run without a
number (it diverged, or it was never evaluated).

The rule (:data:`RULE`, applied by :func:`decide`):

* A change is compared with its starting point **on the same seeds** (same initialisation and the
  same data order at the start), one gain per seed.
* It is **adopted** when at least :data:`MIN_SEEDS` paired seeds ran and the mean gain is larger
  than :data:`Z` times its standard error (the standard deviation of the gains over the square
  root of their number).
* A **screen** (fewer paired seeds) never adopts: a positive gain sends the change to a
  multi-seed confirmation, anything else drops it.
* A change with a diverged seed is rejected; a seed on which only the starting point diverged is
  left out of the pairing (and counted).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Mapping

MIN_SEEDS = 3  # paired seeds a decision needs; fewer is a screen
Z = 2.0  # the mean gain must exceed Z standard errors of the gains

RULE = (f"a change is adopted when, over at least {MIN_SEEDS} seeds paired with its starting point "
        f"(same seed, same initialisation and data order), its mean gain in validation accuracy is larger "
        f"than {Z:g} standard errors of the per-seed gains; a run with fewer seeds is a screen, which can only "
        f"send a change with a positive gain to a multi-seed confirmation; a change whose run diverged is rejected")
"""The rule in words, as the book states it once."""

ADOPT, REJECT, CONFIRM, DROP = "adopt", "reject", "confirm", "drop"


@dataclass(frozen=True)
class Summary:
    """One metric over the seeds of one experiment."""

    values: tuple[float | None, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def diverged(self) -> int:
        """Seeds without a value."""
        return sum(v is None for v in self.values)

    @property
    def finite(self) -> tuple[float, ...]:
        return tuple(v for v in self.values if v is not None)

    @property
    def mean(self) -> float | None:
        """Mean over seeds; ``None`` when any seed has no value."""
        return None if self.diverged or not self.values else statistics.fmean(self.values)

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds (0 for one seed); ``None`` when any diverged."""
        if self.diverged or not self.values:
            return None
        return statistics.stdev(self.values) if self.n > 1 else 0.0

    @property
    def low(self) -> float | None:
        return None if self.diverged or not self.values else min(self.values)

    @property
    def high(self) -> float | None:
        return None if self.diverged or not self.values else max(self.values)

    @property
    def spread(self) -> float | None:
        """Largest minus smallest value (0 for one seed)."""
        return None if self.low is None else self.high - self.low


@dataclass(frozen=True)
class Paired:
    """A change against its starting point, seed by seed."""

    gains: tuple[float, ...]  # candidate minus baseline, per seed both have a value
    seeds: tuple[int, ...]  # the seeds of ``gains``
    candidate_diverged: tuple[int, ...]  # seeds on which the candidate has no value
    baseline_only_diverged: tuple[int, ...]  # seeds left out: only the baseline has no value

    @property
    def n(self) -> int:
        return len(self.gains)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.gains) if self.gains else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation of the gains (``None`` below two seeds)."""
        return statistics.stdev(self.gains) if self.n > 1 else None

    @property
    def stderr(self) -> float | None:
        """Standard error of the mean gain (``None`` below two seeds)."""
        return None if self.std is None else self.std / math.sqrt(self.n)

    @property
    def all_positive(self) -> bool:
        return bool(self.gains) and all(g > 0 for g in self.gains)


def pair(candidate: Mapping[int, float | None], baseline: Mapping[int, float | None]) -> Paired:
    """Pair two experiments' values by seed (``{seed: value}``); seeds only one of them ran are
    ignored."""
    common = sorted(set(candidate) & set(baseline))
    gains, seeds, cand_div, base_div = [], [], [], []
    for s in common:
        c, b = candidate[s], baseline[s]
        if c is None:
            cand_div.append(s)
        elif b is None:
            base_div.append(s)
        else:
            gains.append(c - b)
            seeds.append(s)
    return Paired(tuple(gains), tuple(seeds), tuple(cand_div), tuple(base_div))


@dataclass(frozen=True)
class Decision:
    """What the rule says about one change: ``outcome`` is ``adopt`` or ``reject`` (enough
    seeds), ``confirm`` or ``drop`` (a screen); ``reason`` says why, in words."""

    outcome: str
    reason: str
    paired: Paired

    @property
    def adopted(self) -> bool:
        return self.outcome == ADOPT

    @property
    def screen(self) -> bool:
        return self.outcome in (CONFIRM, DROP)


def decide(p: Paired, min_seeds: int = MIN_SEEDS, z: float = Z) -> Decision:
    """Apply the rule (module docstring) to a paired comparison."""
    if p.candidate_diverged:
        return Decision(REJECT, f"diverged on seed{'s' if len(p.candidate_diverged) > 1 else ''} "
                                f"{', '.join(map(str, p.candidate_diverged))}", p)
    if p.n == 0:
        return Decision(DROP, "no seed with a value on both sides", p)
    if p.n < min_seeds:
        word = f"{p.n} paired seed{'s' if p.n > 1 else ''}, a screen"
        if p.mean > 0:
            return Decision(CONFIRM, f"{word}: gain {100 * p.mean:+.1f} points, to be confirmed on {min_seeds}+ seeds", p)
        return Decision(DROP, f"{word}: gain {100 * p.mean:+.1f} points", p)
    se = p.stderr
    text = f"mean gain {100 * p.mean:+.1f} points over {p.n} paired seeds, standard error {100 * se:.1f}"
    if p.mean > 0 and p.mean > z * se:
        return Decision(ADOPT, f"{text}: more than {z:g} standard errors", p)
    return Decision(REJECT, f"{text}: not more than {z:g} standard errors", p)


def beyond_noise(p: Paired, min_seeds: int = MIN_SEEDS, z: float = Z) -> bool:
    """Whether the rule calls a change larger than seed noise in either direction: a gain it
    would adopt, a loss it would adopt were the comparison turned round, or a changed run that
    diverged on any seed both ran (``pair`` counts a seed where both diverged there too)."""
    if p.candidate_diverged:
        return True
    turned = Paired(tuple(-g for g in p.gains), p.seeds, (), p.baseline_only_diverged)
    return decide(p, min_seeds, z).adopted or decide(turned, min_seeds, z).adopted


@dataclass(frozen=True)
class BarComparison:
    """A recipe against the bar to beat: does its mean beat the bar's by more than ``k`` times the
    larger of the two seed standard deviations, over at least ``min_seeds`` seeds each?"""

    margin: float | None  # candidate mean minus bar mean
    needed: float | None  # k times the larger standard deviation
    seeds: tuple[int, int]
    beats: bool


def beats_bar(candidate: Summary, bar: Summary, k: float = 2.0, min_seeds: int = 5) -> BarComparison:
    """The goal criterion for a recipe against ``REFERENCE``."""
    seeds = (candidate.n, bar.n)
    if candidate.mean is None or bar.mean is None:
        return BarComparison(None, None, seeds, False)
    margin = candidate.mean - bar.mean
    needed = k * max(candidate.std, bar.std)
    return BarComparison(margin, needed, seeds, min(seeds) >= min_seeds and margin > needed)
