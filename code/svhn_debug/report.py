"""Numbers and tables for the prose: inline values, seed statistics, lineage and diff tables."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from . import experiments
from .config import COLLEAGUE, config_diff, format_changes


class Inline(str):
    """Text for an inline ``{python}`` expression: shown as is (no quotes) by Quarto and the
    offline renderer alike."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_markdown_(self) -> str:
        return str(self)


def pct(x: float | None, digits: int = 1) -> Inline:
    """``0.8123`` -> ``81.2%``."""
    return Inline("n/a" if x is None else f"{100 * x:.{digits}f}%")


def pp(x: float, digits: int = 1) -> Inline:
    """A difference of two fractions in percentage points, signed: ``+3.2 points``."""
    return Inline(f"{100 * x:+.{digits}f} points")


def num(x: float | int, digits: int = 3) -> Inline:
    """A number with ``digits`` significant digits (integers with thousands separators)."""
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 1):
        return Inline(f"{int(x):,}")
    return Inline(f"{x:.{digits}g}")


def code(text: str) -> Inline:
    """Inline code formatting."""
    return Inline(f"`{text}`")


@dataclass(frozen=True)
class SeedStats:
    """A metric over the seeds of one experiment."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    @property
    def spread(self) -> float:
        """Max minus min over seeds (0 for one seed)."""
        return self.high - self.low

    def text(self) -> Inline:
        if len(self.values) == 1:
            return pct(self.mean)
        return Inline(f"{100 * self.mean:.1f}% (seeds: {100 * self.low:.1f}-{100 * self.high:.1f}%)")


def stats(name: str, metric: str = "test_accuracy", how: str = "final") -> SeedStats:
    """``metric`` of experiment ``name`` over its seeds, at the last epoch (or the best epoch)."""
    runs = experiments.results(name)
    return SeedStats(tuple(getattr(r, how)(metric) for r in runs))


def final(name: str, metric: str = "test_accuracy") -> float:
    """``metric`` at the last epoch, mean over the experiment's seeds."""
    return stats(name, metric).mean


def seconds(name: str) -> float:
    """Wall time of the first seed's run when it was computed."""
    return experiments.result(name).meta["seconds"]


def markdown_table(rows: list[dict], align: str | None = None) -> str:
    """A pipe table from dicts sharing keys (printed by an ``output: asis`` cell)."""
    if not rows:
        return ""
    keys = list(rows[0])
    esc = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join((align or "-" * len(keys))[i].replace("-", "---")
                                                            .replace("r", "--:").replace("l", ":--")
                                                            for i in range(len(keys))) + "|"]
    lines += ["| " + " | ".join(esc(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def changes_table(names: list[str]) -> str:
    """Experiment, parent, what it changes, and its final validation and test accuracy."""
    rows = []
    for name in names:
        exp = experiments.get(name)
        val, test = stats(name, "validation_accuracy"), stats(name, "test_accuracy")
        rows.append({"experiment": f"`{name}`", "parent": f"`{exp.parent}`" if exp.parent else "(notebook)",
                     "change": format_changes(dict(exp.changes)).replace("'", ""),
                     "seeds": len(test.values), "validation acc.": pct(val.mean), "test acc.": pct(test.mean)})
    return markdown_table(rows, align="lllrrr")


def lineage_table() -> str:
    """Every registered experiment: parent, diff, final test accuracy (mean over seeds)."""
    return changes_table(list(experiments.REGISTRY))


def diff_text(name: str) -> Inline:
    """``zero_grad=True, lr=0.001`` for everything ``name`` changes relative to the notebook."""
    diff = config_diff(COLLEAGUE, experiments.get(name).config)
    return Inline(format_changes({k: new for k, (old, new) in diff.items()}).replace("'", ""))


def profile_table() -> str:
    """The three budget profiles: data sizes, epochs and steps of the notebook's run, and the
    per-step factor of its ExponentialLR in that profile."""
    import math

    from .profiles import PROFILES

    rows = []
    for p in PROFILES.values():
        epochs = p.epochs(COLLEAGUE.epochs)
        steps = epochs * math.ceil(p.n_train / COLLEAGUE.batch_size)
        full = p.full_steps(COLLEAGUE.epochs, COLLEAGUE.batch_size)
        growth = COLLEAGUE.lr_growth ** (full / steps)
        rows.append({"profile": f"`{p.name}`", "training images": f"{p.n_train:,}", "epochs (of 10)": epochs,
                     "steps": f"{steps:,}", "ExponentialLR gamma": f"{growth:.5f}",
                     "total growth": f"{growth ** steps:.1f}x"})
    return markdown_table(rows, align="lrrrrr")


def label_shares(labels) -> dict[int, float]:
    """Share of each digit among ``labels``."""
    import numpy as np

    counts = np.bincount(np.asarray(labels), minlength=10)
    return {d: counts[d] / counts.sum() for d in range(10)}
