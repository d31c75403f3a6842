"""The figures that combine results (drawn by :mod:`svhn_debug.plots`)."""

from __future__ import annotations

from .. import runner
from .. import stats as stats_module
from . import results
from . import decisions


def ladder_figure():
    """Test accuracy along :func:`ladder`, seeds as ranges."""
    from ..plots import accuracy_ladder

    names = decisions.ladder()
    s = [results.stats(n) for n in names]
    return accuracy_ladder(names, [x.mean for x in s], [x.low for x in s], [x.high for x in s])


def summary_figures() -> dict:
    """The figures the summary rests on (``python -m svhn_debug report --json``): the bar to
    beat, the adopted recipe, every bug both ways (test accuracies as fractions), and the
    time-to-accuracy ratio measured by ``bench/time_to_accuracy.py`` (``None`` until measured)."""
    from ..logbook import REFERENCE

    def block(name):
        s = results.all_seeds(name)
        return {"name": name, "mean": s.mean, "std": s.std, "seeds": s.n}
    from ..logbook import TUNING_STEPS

    def bug_row(r):
        n = r["seeds"] - r["both_plateau"]
        return {**{k: r[k] for k in ("bug", "direction", "experiment", "start", "mean", "std", "seeds", "change",
                                     "stderr", "both_plateau", "effect")},
                "t_threshold": stats_module.t_critical(n, two_sided=True) if n >= stats_module.MIN_SEEDS else None}
    return {"reference": block(REFERENCE), "final": block(decisions.final_recipe()),
            "decisions": [decisions.decision_record(c, b) for c, b in TUNING_STEPS],
            "ablation": [bug_row(r) for r in decisions.ablation()],
            "time_to_accuracy_ratio": (results.time_to_accuracy() or {}).get("ratio")}
