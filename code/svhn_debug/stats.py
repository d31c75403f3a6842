"""Seed statistics and the one decision rule of the logbook.

Pure arithmetic on numbers keyed by seed: no runs, no cache. :mod:`svhn_debug.report` feeds it
cached results; the tests feed it constructed numbers. A value of ``None`` is a run without a
number (it diverged, or it was never evaluated).

The rule (:data:`RULE`, applied by :func:`decide`):

* A change is compared with its starting point **on the same seeds** (same initialisation and the
  same data order at the start), one gain per seed.
* It is **adopted** when at least :data:`MIN_SEEDS` paired seeds ran and the mean gain is larger
  than ``t`` times its standard error (the standard deviation of the gains over the square root
  of their number), ``t`` being Student's one-sided critical value at :data:`ALPHA` for ``n - 1``
  degrees of freedom (:func:`t_critical`): a change that does nothing is adopted on about 5% of
  the occasions, whatever the number of seeds (2.92 standard errors for 3 seeds, 2.13 for 5).
* A change is **beyond seed noise** (:func:`beyond_noise`, the reading of every reported change,
  helping or hurting) when its mean gain lies more than the two-sided critical value (4.30
  standard errors for 3 seeds, 2.78 for 5) from zero, on either side.
* Fewer paired seeds are a **screen**, which never adopts: a positive gain sends the change to a
  confirmation on at least :data:`MIN_SEEDS` seeds, anything else drops it. (The book declares
  five seeds for every decision in its registry, so it runs no screens.)
* A change with a diverged seed is rejected; a seed on which only the starting point diverged is
  left out of the pairing (and counted).
* A seed on which **both** runs ended on the class-prior plateau (:mod:`svhn_debug.plateau`) is
  a tie, left out of the pairing and counted: two runs that each predict one class differ only in
  which class, and that difference is not an effect of the change. A seed where only one side is
  on the plateau keeps its gain: leaving the plateau, or falling onto it, is what the change did.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Collection, Mapping

from scipy import stats as scipy_stats

MIN_SEEDS = 5  # paired seeds a decision needs (declared in the registry before the runs); fewer is a screen
ALPHA = 0.05  # false-adoption rate of a change that does nothing (one-sided); two-sided for "beyond noise"


def t_critical(n: int, two_sided: bool = False, alpha: float = ALPHA) -> float:
    """Student's t critical value for the mean of ``n`` paired gains (``n - 1`` degrees of
    freedom): exceeded by chance with probability ``alpha`` (one-sided) or ``alpha / 2`` on each
    side (two-sided). ``ValueError`` below two gains, where no standard error exists."""
    if n < 2:
        raise ValueError(f"a t critical value needs at least 2 paired values, got {n}")
    return float(scipy_stats.t.ppf(1 - (alpha / 2 if two_sided else alpha), n - 1))


RULE = (f"a change is adopted when, over at least {MIN_SEEDS} seeds paired with its starting point "
        f"(same seed, same initialisation and data order), its mean gain in validation accuracy is larger "
        f"than Student's one-sided {100 * (1 - ALPHA):g}% critical value times the standard error of the per-seed "
        f"gains ({t_critical(3):.2f} standard errors for 3 seeds, {t_critical(5):.2f} for 5); a change helps or hurts "
        f"beyond seed noise when its mean gain lies beyond the two-sided critical value ({t_critical(3, True):.2f} and "
        f"{t_critical(5, True):.2f}); a seed on which both runs end on the class-prior plateau is a tie, not a gain; "
        f"fewer paired seeds never decide; a change whose run diverged is rejected")
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
    both_plateau: tuple[int, ...] = ()  # seeds left out: both runs ended on the class-prior plateau

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


def pair(candidate: Mapping[int, float | None], baseline: Mapping[int, float | None],
         plateau: tuple[Collection[int], Collection[int]] = ((), ())) -> Paired:
    """Pair two experiments' values by seed (``{seed: value}``); seeds only one of them ran are
    ignored. ``plateau`` names the seeds on which the candidate's and the baseline's runs ended on
    the class-prior plateau; a seed in both is a tie, not a gain."""
    common = sorted(set(candidate) & set(baseline))
    gains, seeds, cand_div, base_div, ties = [], [], [], [], []
    for s in common:
        c, b = candidate[s], baseline[s]
        if c is None:
            cand_div.append(s)
        elif b is None:
            base_div.append(s)
        elif s in plateau[0] and s in plateau[1]:
            ties.append(s)
        else:
            gains.append(c - b)
            seeds.append(s)
    return Paired(tuple(gains), tuple(seeds), tuple(cand_div), tuple(base_div), tuple(ties))


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


def _seeds(seeds: tuple[int, ...]) -> str:
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def decide(p: Paired, min_seeds: int = MIN_SEEDS, alpha: float = ALPHA) -> Decision:
    """Apply the rule (module docstring) to a paired comparison."""
    if p.candidate_diverged:
        return Decision(REJECT, f"diverged on {_seeds(p.candidate_diverged)}", p)
    tied = f"; {_seeds(p.both_plateau)} left out, both runs on the plateau" if p.both_plateau else ""
    if p.n == 0:
        if p.both_plateau:
            return Decision(DROP, f"both runs on the class-prior plateau on every seed ({_seeds(p.both_plateau)}): "
                                  f"nothing to compare", p)
        return Decision(DROP, "no seed with a value on both sides", p)
    if p.n < min_seeds:
        word = f"{p.n} paired seed{'s' if p.n > 1 else ''}, a screen"
        if p.mean > 0:
            return Decision(CONFIRM, f"{word}: gain {100 * p.mean:+.1f} points, to be confirmed on {min_seeds}+ seeds{tied}", p)
        return Decision(DROP, f"{word}: gain {100 * p.mean:+.1f} points{tied}", p)
    se, t = p.stderr, t_critical(p.n, alpha=alpha)
    text = f"mean gain {100 * p.mean:+.1f} points over {p.n} paired seeds, standard error {100 * se:.1f}"
    if p.mean > t * se:
        return Decision(ADOPT, f"{text}: more than t = {t:.2f} standard errors{tied}", p)
    return Decision(REJECT, f"{text}: not more than t = {t:.2f} standard errors{tied}", p)


def beyond_noise(p: Paired, min_seeds: int = MIN_SEEDS, alpha: float = ALPHA) -> bool:
    """Whether the change is larger than seed noise in either direction: at least ``min_seeds``
    paired gains whose mean lies beyond Student's two-sided critical value times its standard
    error, or a changed run that diverged on any seed both ran (``pair`` counts a seed where both
    diverged there too)."""
    if p.candidate_diverged:
        return True
    if p.n < max(2, min_seeds):
        return False
    return abs(p.mean) > t_critical(p.n, two_sided=True, alpha=alpha) * p.stderr


def direction(p: Paired, min_seeds: int = MIN_SEEDS, alpha: float = ALPHA) -> str:
    """``"helps"``, ``"hurts"`` or ``"nothing"`` (beyond seed noise, :func:`beyond_noise`): the
    one reading of a reported change. A diverged changed run hurts."""
    if not beyond_noise(p, min_seeds, alpha):
        return "nothing"
    return "hurts" if p.candidate_diverged or p.mean < 0 else "helps"


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
