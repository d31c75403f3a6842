"""Statistics read out: paired decisions under the t rule, the adopted path, the ablation on one
yardstick, the bar, two recipes read at every horizon, and the sentences they make."""

from __future__ import annotations

from .. import runner
from .. import stats as stats_module
from . import words
from . import results


def ladder() -> list[str]:
    """The path from the notebook to the adopted recipe: the fixes, then every tuning step the rule
    adopts (:func:`adopted_path` over ``logbook.TUNING_STEPS``)."""
    from ..logbook import FIX_PATH, TUNING_STEPS

    return FIX_PATH[:-1] + adopted_path(FIX_PATH[-1], TUNING_STEPS)


def final_recipe() -> str:
    """The last experiment of :func:`ladder`: the recipe the decisions lead to."""
    return ladder()[-1]


def paired(name: str, against: str, metric: str) -> stats_module.Paired:
    """``name`` against ``against``, paired by seed, with the seeds where both ended on the
    plateau as ties (:func:`svhn_debug.stats.pair`)."""
    return stats_module.pair(results.by_seed(name, metric), results.by_seed(against, metric),
                             plateau=(results.plateau_seeds(name), results.plateau_seeds(against)))


def decision(name: str, against: str | None = None, metric: str = "validation_accuracy") -> stats_module.Decision:
    """The decision rule (:data:`svhn_debug.stats.RULE`) for ``name`` against ``against``
    (default: its parent), paired by seed."""
    ref = against or runner.get(name).parent
    return stats_module.decide(paired(name, ref, metric))


def adopted(name: str, against: str | None = None, metric: str = "validation_accuracy") -> bool:
    """Whether the rule adopts ``name`` against ``against`` (default: its parent)."""
    return decision(name, against, metric).adopted


OUTCOME_WORDS = {stats_module.ADOPT: "adopted", stats_module.REJECT: "not adopted",
                 stats_module.CONFIRM: "screen passed, to confirm on more seeds", stats_module.DROP: "screen failed"}


def verdict(name: str, against: str | None = None, metric: str = "validation_accuracy") -> words.Inline:
    """The rule's decision on ``name`` against ``against`` (default: parent), in words; a
    rejected change that hurts beyond seed noise says so."""
    ref = against or runner.get(name).parent
    d = decision(name, ref, metric)
    hurts = d.outcome == stats_module.REJECT and stats_module.direction(d.paired) == "hurts"
    return words.Inline(f"{OUTCOME_WORDS[d.outcome]}{', it hurts beyond seed noise,' if hurts else ''} against `{ref}` ({d.reason})")


def decision_record(name: str, against: str | None = None, metric: str = "validation_accuracy") -> dict:
    """One decision as data (``report --json``): the seeds paired, those left out, the paired
    mean gain and its standard error, the t threshold applied, the outcome and the two-sided reading."""
    ref = against or runner.get(name).parent
    d = decision(name, ref, metric)
    p = d.paired
    return {"candidate": name, "against": ref, "metric": metric, "seeds": list(p.seeds),
            "left_out": {"both_plateau": list(p.both_plateau), "baseline_diverged": list(p.baseline_only_diverged)},
            "candidate_diverged": list(p.candidate_diverged), "mean_gain": p.mean, "stderr": p.stderr,
            "t_threshold": stats_module.t_critical(p.n) if p.n >= stats_module.MIN_SEEDS else None,
            "outcome": d.outcome, "direction": stats_module.direction(p), "reason": d.reason}


def adopted_path(start: str, steps: list[tuple[str, str]]) -> list[str]:
    """The path the decisions take: from ``start``, each ``(candidate, starting point)`` in
    order is taken when its starting point is where the path stands and the rule adopts it."""
    path = [start]
    for candidate, base in steps:
        if base == path[-1] and adopted(candidate, against=base):
            path.append(candidate)
    return path


def paired_gains(name: str, against: str, metric: str = "validation_accuracy") -> list[float]:
    """Per-seed gains of ``name`` over ``against`` for the seeds both ran with a value (same
    seed, same initialisation and data order at the start)."""
    return list(stats_module.pair(results.by_seed(name, metric), results.by_seed(against, metric)).gains)


def matters(changed: str, start: str, metric: str = "test_accuracy") -> tuple[stats_module.Paired, bool]:
    """``changed`` against ``start`` paired by seed, and whether the rule calls the change larger
    than seed noise in either direction (``stats.beyond_noise``)."""
    p = paired(changed, start, metric)
    return p, stats_module.beyond_noise(p)


YARDSTICK = "heldout_accuracy"
"""The metric every bug is measured on, both ways: the held-out test pool, upright, after the
last epoch (:func:`svhn_debug.data.heldout_source`), whatever the run's own split and evaluation."""


def ablation() -> list[dict]:
    """Every bug both ways, on the one yardstick (:data:`YARDSTICK`): put back alone into the
    fixed run, and removed alone from the colleague's configuration where removing it can change
    the model (``BUGS[...]["removed"]``). One row per bug and direction: mean and std over seeds
    (fractions; ``None`` if any seed diverged), the paired change against the starting point,
    seeds on the plateau, and the two-sided reading of the change (``stats.direction``)."""
    from ..logbook import BUGS, COLLEAGUE_START

    rows = []
    for b in BUGS:
        for direction, name, start in (("reintroduced", b["broken"], b["fixed"]),
                                       ("removed", b["removed"], COLLEAGUE_START)):
            if name is None:
                continue
            s, base = results.stats(name, YARDSTICK), results.stats(start, YARDSTICK)
            p, beyond_noise = matters(name, start, YARDSTICK)
            rows.append({"bug": b["bug"], "direction": direction, "experiment": name, "start": start,
                         "mean": s.mean, "std": s.std, "seeds": s.n, "start_mean": base.mean,
                         "change": p.mean, "stderr": p.stderr, "matters": beyond_noise,
                         "diverged": s.diverged, "both_plateau": len(p.both_plateau),
                         "plateau": len(results.plateau_seeds(name)),
                         "effect": stats_module.direction(p)})
    return rows


def bug_effects() -> list[dict]:
    """Per bug, what the two directions say together: ``alone`` (putting it back into the fixed
    run changes the model's accuracy on the yardstick beyond seed noise), ``removal`` (taking only
    it out of the colleague's run: ``"helps"``, ``"hurts"`` or ``"nothing"`` beyond seed noise;
    ``None`` where the book runs no removal because removing it cannot change the model), and the
    reading of the pair."""
    by_bug: dict[str, dict] = {}
    for r in ablation():
        by_bug.setdefault(r["bug"], {})[r["direction"]] = r
    out = []
    for bug, rows in by_bug.items():
        alone = rows["reintroduced"]["matters"]
        removal = rows["removed"]["effect"] if "removed" in rows else None
        reading = {(True, "helps"): "matters alone, and removing it alone already helps",
                   (True, "hurts"): "matters alone; removing it alone makes the notebook's run worse, "
                                    "because another of its bugs then does more harm",
                   (True, "nothing"): "matters alone, but the other bugs mask its removal",
                   (False, "helps"): "hurts only together with the others",
                   (False, "hurts"): "no effect alone; removing it alone makes the notebook's run worse",
                   (False, "nothing"): "no effect beyond seed noise either way on this budget",
                   (True, None): "changes the model alone",
                   (False, None): "leaves the model as it is: it changes only what is reported"}[alone, removal]
        out.append({"bug": bug, "alone": alone, "removal": removal, "removal_alone": removal not in (None, "nothing"),
                    "reading": reading})
    return out


def misreport(name: str, metric: str = "test_accuracy") -> stats_module.Paired:
    """What a run's own evaluation reports minus what its model scores on the yardstick, per seed
    (``metric`` minus :data:`YARDSTICK`, paired within each run): how much a bug that changes only
    the measurement flatters (positive) or hides (negative) the model."""
    reported = results.by_seed(name, metric)
    truth = results.by_seed(name, YARDSTICK)
    return stats_module.pair(reported, truth)


def horizon_reading(a: str, b: str, metric: str = "test_accuracy") -> list[dict]:
    """Two recipes read at every evaluated step their runs share, paired by seed: per step, the
    mean of each, the paired difference ``a - b`` with its standard error, and its two-sided
    reading (``stats.direction``: ``"helps"`` means ``a`` is ahead beyond seed noise)."""
    runs_a = {r.seed: {e["step"]: e[metric] for e in r.epochs} for r in runner.results(a)}
    runs_b = {r.seed: {e["step"]: e[metric] for e in r.epochs} for r in runner.results(b)}
    steps = sorted(set.intersection(*(set(c) for c in list(runs_a.values()) + list(runs_b.values()))))
    out = []
    for step in steps:
        p = stats_module.pair({s: c[step] for s, c in runs_a.items()}, {s: c[step] for s, c in runs_b.items()})
        va = [c[step] for c in runs_a.values() if c[step] is not None]
        vb = [c[step] for c in runs_b.values() if c[step] is not None]
        out.append({"step": step, "a": sum(va) / len(va) if va else None, "b": sum(vb) / len(vb) if vb else None,
                    "difference": p.mean, "stderr": p.stderr, "seeds": p.n, "reading": stats_module.direction(p)})
    return out


def data_and_budget(name: str = "reference", short: bool = False) -> words.Inline:
    """What the book's results are measured on, read from a cached run (first seed): the data
    (generated house numbers or SVHN, from the run's data fingerprint), the training images and
    the optimizer steps a run of the notebook's epochs makes, against the exercise's. ``short``
    gives only the data and the steps (for chapter leads)."""
    run = runner.result(name)
    source = run.meta["data_fingerprint"].split(":", 1)[0]
    data = "generated house numbers" if source == "synthetic" else "SVHN"
    if short:
        return words.Inline(f"{data}, {run.meta['total_steps']:,} steps a run")
    images = run.meta["steps_per_epoch"] * runner.get(name).config.batch_size
    return words.Inline(f"{data}, about {images:,} training images, {run.meta['total_steps']:,} optimizer steps a run "
                  f"(the exercise's: {run.meta['full_steps']:,} steps on SVHN)")


def checks_corpus_text(result: dict | None = None) -> words.Inline:
    """What the health checks found on the script corpus (``bench/checks_corpus.py``), in words."""
    r = result if result is not None else results.bench_result("checks_corpus")
    if not r:
        return words.Inline("The corpus has not been measured on this machine yet (`python bench/checks_corpus.py`).")
    late = r["named"] - r["at_expected_step"]
    return words.Inline(
        f"On the {r['clean_runs']} clean runs of the {len(r['scripts'])} scripts the checks report "
        + ("nothing" if r["false_alarms"] == 0 else f"{r['false_alarms']} false alarm{'s' if r['false_alarms'] != 1 else ''}")
        + f", and each script keeps its exit code and its output; of the {r['planted']} planted bugs, {r['named']} "
        + ("are" if r["named"] != 1 else "is") + " named"
        + (" at the earliest step each rule allows" if late == 0 and r["named"] else f" ({late} later than its rule allows)")
        + f" (measured {r['measured_on']}).")


def time_to_accuracy_text() -> words.Inline:
    """The sentence on ``bench/time_to_accuracy.py``'s last measurement (chapter 6): how much of
    the course's recipe's time the adopted recipe needs to reach the course's recipe's final mean."""
    c = words.code
    tta = results.time_to_accuracy()
    if not tta:
        return words.Inline(f"The time to accuracy has not been measured for this recipe and budget yet "
                            f"({c('python bench/time_to_accuracy.py')}).")
    share = "never, within its budget," if tta["ratio"] is None else f"in {tta['ratio']:.2f}"
    return words.Inline(
        f"{c('bench/time_to_accuracy.py')} trains both (seed 0) in one process on this machine and evaluates the "
        f"test split every {tta['every']} steps: the adopted recipe reaches the course's recipe's final mean test "
        f"accuracy {share} of the course's recipe's own time (the goal is at most 0.4).")


def against_bar(name: str, bar: str) -> stats_module.BarComparison:
    """Final test accuracy of ``name``'s recipe (all its seeds) against the bar ``bar``
    (:func:`svhn_debug.stats.beats_bar`)."""
    return stats_module.beats_bar(results.all_seeds(name), results.all_seeds(bar))


def bar_sentence(name: str, bar: str) -> words.Inline:
    """``name`` against the bar, in words: the margin, what it needs, and the verdict."""
    c = against_bar(name, bar)
    if c.margin is None:
        return words.Inline(f"`{name}` cannot be compared with `{bar}`: a run diverged")
    verdict = "beats it" if c.beats else "does not beat it by the goal's margin"
    return words.Inline(f"`{name}` ends {words.points(c.margin)} {'above' if c.margin > 0 else 'below'} `{bar}` "
                  f"({c.seeds[0]} and {c.seeds[1]} seeds); the goal asks for more than twice the larger seed "
                  f"standard deviation, {words.points(c.needed)}, so it {verdict}")
