"""Numbers and tables for the prose: inline values, seed statistics, lineage and diff tables."""

from __future__ import annotations

import math
import statistics

from . import runner
from . import stats as stats_module
from .config import COLLEAGUE, format_changes


class Inline(str):
    """Text for an inline ``{python}`` expression: shown as is (no quotes) by Quarto and the
    offline renderer alike."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_markdown_(self) -> str:
        return str(self)


def pct(x: float | None, digits: int = 1) -> Inline:
    """``0.8123`` -> ``81.2%``; no value (a diverged run): ``n/a``."""
    return Inline("n/a" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}%")


def pp(x: float | None, digits: int = 1) -> Inline:
    """A difference of two fractions in percentage points, signed: ``+3.2 points``; no value (no
    seed to pair: diverged, or both runs on the plateau): ``n/a``."""
    if x is None or not math.isfinite(x):
        return Inline("n/a")
    return Inline(f"{100 * x:+.{digits}f} points".replace("-", "\u2212"))  # a minus sign, not a hyphen


def points(x: float | None, digits: int = 1) -> Inline:
    """A size of a difference of two fractions, unsigned: ``1.9 points``; no value: ``n/a``."""
    if x is None or not math.isfinite(x):
        return Inline("n/a")
    return Inline(f"{100 * abs(x):.{digits}f} points")


def num(x: float | int, digits: int = 3) -> Inline:
    """A number with ``digits`` significant digits (integers with thousands separators)."""
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 1):
        return Inline(f"{int(x):,}")
    if abs(x) >= 10 ** digits:
        return Inline(f"{x:,.0f}")
    return Inline(f"{x:.{digits}g}")


def code(text: str) -> Inline:
    """Inline code formatting."""
    return Inline(f"`{text}`")


class SeedStats(stats_module.Summary):
    """A metric over the seeds of one experiment (:class:`svhn_debug.stats.Summary`), with its
    text for the prose; ``None`` for a seed whose run diverged (or was never evaluated)."""

    def text(self) -> Inline:
        """``82.7% ± 2.1 (3 seeds)``: mean ± standard deviation in points; one seed: ``82.7%``."""
        if self.diverged:
            return Inline(f"diverged ({self.diverged} of {len(self.values)} seed{'s' if len(self.values) > 1 else ''})")
        if len(self.values) == 1:
            return pct(self.mean)
        return Inline(f"{100 * self.mean:.1f}% ± {100 * self.std:.1f} ({len(self.values)} seeds)")


def _value(run, metric: str, how: str) -> float | None:
    """``metric`` of one run, ``None`` when it diverged or was never evaluated."""
    if run.diverged_at is not None:
        return None
    value = getattr(run, how)(metric)
    return value if value is not None and math.isfinite(value) else None


def stats(name: str, metric: str = "test_accuracy", how: str = "final") -> SeedStats:
    """``metric`` of experiment ``name`` over its seeds, at the last epoch (or the best epoch)."""
    return SeedStats(tuple(_value(r, metric, how) for r in runner.results(name)))


def final(name: str, metric: str = "test_accuracy") -> float | None:
    """``metric`` at the last epoch, mean over the experiment's seeds (``None``: diverged)."""
    return stats(name, metric).mean


def markdown_table(rows: list[dict], align: str | None = None, widths: list[int] | None = None) -> str:
    """A pipe table from dicts sharing keys (printed by an ``output: asis`` cell).

    ``align`` has one letter per column (``l``, ``r``, ``-`` for default); ``widths`` gives
    relative column widths (pandoc reads them from the length of the separator dashes).
    """
    if not rows:
        return ""
    keys = list(rows[0])
    align = align or "-" * len(keys)
    widths = widths or [3] * len(keys)
    esc = lambda v: str(v).replace("|", "\\|")  # noqa: E731

    def rule(a: str, w: int) -> str:
        dashes = "-" * max(3, w)
        return {"l": ":" + dashes[1:], "r": dashes[1:] + ":"}.get(a, dashes)
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join(rule(a, w) for a, w in zip(align, widths)) + "|"]
    lines += ["| " + " | ".join(esc(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def changes_table(names: list[str]) -> str:
    """Experiment, parent, what it changes, and its final validation and test accuracy."""
    rows = []
    for name in names:
        exp = runner.get(name)
        val, test = stats(name, "validation_accuracy"), stats(name, "test_accuracy")
        rows.append({"experiment": f"`{name}`", "parent": f"`{exp.parent}`" if exp.parent else "(notebook)",
                     "change": _breakable(format_changes(dict(exp.changes)).replace("'", "")),
                     "seeds": len(test.values), "validation acc.": pct(val.mean), "test acc.": pct(test.mean)})
    return markdown_table(rows, align="lllrrr", widths=[18, 16, 36, 7, 11, 10])


def lineage_table() -> str:
    """Every registered experiment: parent, diff, final test accuracy (mean over seeds)."""
    return changes_table(runner.book().names())


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


def timing_table(names: list[str]) -> str:
    """Mean seconds per epoch spent training and evaluating, per experiment (first seed)."""
    rows = []
    for name in names:
        df = runner.result(name).epochs_df
        if df.empty:
            rows.append({"experiment": f"`{name}`", "training s/epoch": "diverged", "evaluation s/epoch": "diverged",
                         "whole run (s)": f"{runner.result(name).meta['seconds']:.0f}"})
            continue
        rows.append({"experiment": f"`{name}`", "training s/epoch": f"{df['train_seconds'].mean():.1f}",
                     "evaluation s/epoch": f"{df['eval_seconds'].mean():.1f}",
                     "whole run (s)": f"{runner.result(name).meta['seconds']:.0f}"})
    return markdown_table(rows, align="lrrr")


def max_step_loss_difference(a: str, b: str) -> float:
    """Largest absolute difference of the per-step training losses of two experiments."""
    la = [s["loss"] for s in runner.result(a).steps]
    lb = [s["loss"] for s in runner.result(b).steps]
    if len(la) != len(lb):
        return float("inf")
    return max(abs(x - y) for x, y in zip(la, lb))


def growth(result, quantity: str) -> float:
    """Ratio of a Cockpit quantity's last tracked value to its first (norm over parameters)."""
    from .plots import cockpit_series

    _, values = cockpit_series(result, quantity)
    return float(values[-1] / values[0])


def majority_share(name: str, split: str = "test") -> float:
    """Share of the most common digit in a split of experiment ``name``: what always answering
    that digit scores."""
    return max(label_shares(runner.batches_of(name)["splits"][split].labels).values())


def overlap_table(names: list[str]) -> str:
    """Per experiment: split sizes, which pool each comes from, and the share of validation and
    test images that are also training images."""
    from .data import split_overlap

    rows = []
    for name in names:
        splits = runner.batches_of(name)["splits"]
        rows.append({"experiment": f"`{name}`", "split rule": f"`{runner.get(name).config.split}`",
                     "train": f"{len(splits['train'].labels):,}",
                     "validation (pool)": f"{len(splits['validation'].labels):,} ({splits['validation'].pool})",
                     "test (pool)": f"{len(splits['test'].labels):,} ({splits['test'].pool})",
                     "validation in train": pct(split_overlap(splits, "train", "validation"), 0),
                     "test in train": pct(split_overlap(splits, "train", "test"), 0)})
    return markdown_table(rows, align="llrrrrr")


def confusion_rate(name: str, true: int, predicted: int) -> float:
    """Share of test images of digit ``true`` predicted as ``predicted`` (first seed)."""
    cm = runner.result(name).confusion
    return cm[true][predicted] / max(1, sum(cm[true]))


def best_vs_final_table(names: list[str]) -> str:
    """What the notebook's report prints (best test accuracy over epochs) next to the honest
    numbers: the final epoch, and the test accuracy at the epoch with the best validation score."""
    rows = []
    for name in names:
        run = runner.result(name)
        df = run.epochs_df
        if run.diverged_at is not None:
            cell = f"diverged at step {run.diverged_at}"
            rows.append({"experiment": f"`{name}`", "best test (notebook)": cell, "test at best validation": cell,
                         "test at last epoch": cell})
            continue
        at_best_val = df.loc[df["validation_accuracy"].idxmax(), "test_accuracy"]
        rows.append({"experiment": f"`{name}`", "best test (notebook)": pct(df["test_accuracy"].max()),
                     "test at best validation": pct(at_best_val), "test at last epoch": pct(df["test_accuracy"].iloc[-1])})
    return markdown_table(rows, align="lrrr")


def cache_summary() -> dict:
    """Entries and size of the active profile's cache, the registered runs and how many are
    cached, the compute they took, and what their recorded code covers: the distinct functions
    and modules the runs executed, and the fewest and most functions one run executed."""
    from . import cache
    from .profiles import active_profile

    folder = cache.cache_root() / active_profile().name
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    metas = cache.entries(active_profile())
    units = [set(m.get("executed_code", {})) for m in metas]
    functions = [{u for u in us if not (u.partition(":")[2].startswith(("=", "<")))} for us in units]
    every = set().union(*units) if units else set()
    runs = runner.status()
    compute = runner.compute_seconds(runs)
    return {"entries": len(metas), "megabytes": sum(p.stat().st_size for p in files) / 1e6,
            "runs": len(runs), "cached": sum(r["state"] == "cached" for r in runs), "compute_minutes": compute / 60,
            "functions": len(set().union(*functions)) if functions else 0,
            "modules": sorted({u.partition(":")[0] for u in every}),
            "fewest": min(map(len, functions), default=0), "most": max(map(len, functions), default=0)}


def bug_table() -> str:
    """Every demonstrated bug: cause and fix, how it showed, and the measured test accuracy of
    the fixed run next to the same run with only this bug put back (mean over seeds)."""
    from .logbook import BUGS

    rows = []
    for b in BUGS:
        rows.append({"bug: cause → fix": f"**{b['bug']}**: {b['cause']} → {b['fix']}", "how it showed": b["symptom"],
                     "fixed": stats(b["fixed"]).text() if stats(b["fixed"]).diverged else pct(final(b["fixed"])),
                     "bug put back": stats(b["broken"]).text() if stats(b["broken"]).diverged else pct(final(b["broken"])),
                     "ablation": f"`{b['broken']}`"})
    return markdown_table(rows, align="llrrl", widths=[42, 22, 9, 11, 16])


def label_entropy(name: str, split: str = "train") -> float:
    """Entropy (nats) of the label distribution of a split: the cross-entropy of a network that
    predicts the class prior for every image, whatever the image."""
    import math

    return -sum(p * math.log(p) for p in label_shares(runner.batches_of(name)["splits"][split].labels).values() if p > 0)


def last_loss(name: str, window: int = 8) -> float:
    """Mean training loss of the last ``window`` mini-batches (first seed)."""
    steps = runner.result(name).steps
    return sum(s["loss"] for s in steps[-window:]) / min(window, len(steps))


def ladder() -> list[str]:
    """The path from the notebook to the adopted recipe: the fixes, then every tuning step the rule
    adopts (:func:`adopted_path` over ``logbook.TUNING_STEPS``)."""
    from .logbook import FIX_PATH, TUNING_STEPS

    return FIX_PATH[:-1] + adopted_path(FIX_PATH[-1], TUNING_STEPS)


def final_recipe() -> str:
    """The last experiment of :func:`ladder`: the recipe the decisions lead to."""
    return ladder()[-1]


def ladder_figure():
    """Test accuracy along :func:`ladder`, seeds as ranges."""
    from .plots import accuracy_ladder

    names = ladder()
    s = [stats(n) for n in names]
    return accuracy_ladder(names, [x.mean for x in s], [x.low for x in s], [x.high for x in s])


def _cockpit_values(name: str, quantity: str):
    from .plots import cockpit_series

    return cockpit_series(runner.result(name), quantity, reduce="sum")[1]


def cockpit_mean(name: str, quantity: str) -> float:
    """Mean of a scalar Cockpit quantity over the tracked steps (first seed)."""
    return float(_cockpit_values(name, quantity).mean())


def cockpit_share(name: str, quantity: str, above: float) -> float:
    """Share of tracked steps where a scalar Cockpit quantity exceeds ``above``."""
    return float((_cockpit_values(name, quantity) > above).mean())


def by_seed(name: str, metric: str = "validation_accuracy") -> dict[int, float | None]:
    """``{seed: last-epoch metric}`` of one experiment (``None``: diverged)."""
    return {r.seed: _value(r, metric, "final") for r in runner.results(name)}


def ends_on_plateau(run) -> bool:
    """Whether a run ended on the class-prior plateau: its last test evaluation has not escaped,
    by the one definition of :mod:`svhn_debug.plateau` (accuracy below the share of the most
    common digit of the evaluated images plus :data:`~svhn_debug.plateau.ESCAPE_MARGIN`). A
    diverged run, or one without a confusion matrix, is not on the plateau."""
    from .plateau import not_escaped

    if run.diverged_at is not None or not run.confusion:
        return False
    total = sum(map(sum, run.confusion))
    correct = sum(run.confusion[i][i] for i in range(len(run.confusion)))
    prior = max(map(sum, run.confusion)) / total  # rows are the true digits
    return not_escaped(correct / total, prior)


def plateau_seeds(name: str) -> tuple[int, ...]:
    """The seeds of ``name`` whose runs ended on the class-prior plateau (:func:`ends_on_plateau`)."""
    return tuple(r.seed for r in runner.results(name) if ends_on_plateau(r))


def paired(name: str, against: str, metric: str) -> stats_module.Paired:
    """``name`` against ``against``, paired by seed, with the seeds where both ended on the
    plateau as ties (:func:`svhn_debug.stats.pair`)."""
    return stats_module.pair(by_seed(name, metric), by_seed(against, metric),
                             plateau=(plateau_seeds(name), plateau_seeds(against)))


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


def verdict(name: str, against: str | None = None, metric: str = "validation_accuracy") -> Inline:
    """The rule's decision on ``name`` against ``against`` (default: parent), in words; a
    rejected change that hurts beyond seed noise says so."""
    ref = against or runner.get(name).parent
    d = decision(name, ref, metric)
    hurts = d.outcome == stats_module.REJECT and stats_module.direction(d.paired) == "hurts"
    return Inline(f"{OUTCOME_WORDS[d.outcome]}{', it hurts beyond seed noise,' if hurts else ''} against `{ref}` ({d.reason})")


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
    return list(stats_module.pair(by_seed(name, metric), by_seed(against, metric)).gains)


def matters(changed: str, start: str, metric: str = "test_accuracy") -> tuple[stats_module.Paired, bool]:
    """``changed`` against ``start`` paired by seed, and whether the rule calls the change larger
    than seed noise in either direction (``stats.beyond_noise``)."""
    p = paired(changed, start, metric)
    return p, stats_module.beyond_noise(p)


def ablation() -> list[dict]:
    """Every bug both ways: put back alone into the fixed run, and removed alone from the
    colleague's configuration. One row per bug and direction: mean and std of the final test
    accuracy over seeds (fractions; ``None`` if any seed diverged), the paired change against the
    starting point, and whether the rule calls that change larger than seed noise."""
    from .logbook import BUGS, COLLEAGUE_START

    rows = []
    for b in BUGS:
        for direction, name, start in (("reintroduced", b["broken"], b["fixed"]),
                                       ("removed", b["removed"], COLLEAGUE_START)):
            s, base = stats(name), stats(start)
            p, beyond_noise = matters(name, start)
            rows.append({"bug": b["bug"], "direction": direction, "experiment": name, "start": start,
                         "mean": s.mean, "std": s.std, "seeds": s.n, "start_mean": base.mean,
                         "change": p.mean, "stderr": p.stderr, "matters": beyond_noise,
                         "diverged": s.diverged, "both_plateau": len(p.both_plateau),
                         "plateau": len(plateau_seeds(name)),
                         "effect": stats_module.direction(p)})
    return rows


def bug_effects() -> list[dict]:
    """Per bug, what the two directions say together: ``alone`` (putting it back into the fixed
    run changes the result beyond seed noise), ``removal`` (taking only it out of the
    colleague's run: ``"helps"``, ``"hurts"`` or ``"nothing"`` beyond seed noise), and the
    reading of the pair."""
    rows = ablation()
    out = []
    for i in range(0, len(rows), 2):
        back, removed = rows[i], rows[i + 1]
        alone = back["matters"]
        removal = removed["effect"]
        reading = {(True, "helps"): "matters alone, and removing it alone already helps",
                   (True, "hurts"): "matters alone; removing it alone makes the notebook's run worse, "
                                    "because another of its bugs then does more harm",
                   (True, "nothing"): "matters alone, but the other bugs mask its removal",
                   (False, "helps"): "hurts only together with the others",
                   (False, "hurts"): "no effect alone; removing it alone makes the notebook's run worse",
                   (False, "nothing"): "no effect beyond seed noise either way on this budget"}[alone, removal]
        out.append({"bug": back["bug"], "alone": alone, "removal": removal, "removal_alone": removal != "nothing",
                    "reading": reading})
    return out


def ablation_table() -> str:
    """The both-ways table for the book: per bug and direction, mean ± std test accuracy, the
    paired change against the starting point, and what it says."""
    rows, effects = ablation(), {e["bug"]: e for e in bug_effects()}

    def acc(r):
        if r["diverged"]:
            return f"diverged ({r['diverged']} of {r['seeds']})"
        return f"{100 * r['mean']:.1f} ± {100 * r['std']:.1f}"
    out = []
    for r in rows:
        if r["change"] is None:
            change = "tie" if r["both_plateau"] else "n/a"
        else:
            change = f"{100 * r['change']:+.1f}"
        out.append({"bug": f"**{r['bug']}**" if r["direction"] == "reintroduced" else "",
                    "direction": f"{r['direction']}: `{r['experiment']}`",
                    "test acc. % (seeds)": f"{acc(r)} ({r['seeds']})", "on plateau": f"{r['plateau']} of {r['seeds']}",
                    "change, points": change, "beyond noise": "yes" if r["matters"] else "no",
                    "reading": effects[r["bug"]]["reading"] if r["direction"] == "reintroduced" else ""})
    return markdown_table(out, align="llrrrll", widths=[13, 19, 14, 9, 9, 8, 28])


def summary_figures() -> dict:
    """The figures the summary rests on (``python -m svhn_debug report --json``): the bar to
    beat, the adopted recipe, every bug both ways (test accuracies as fractions), and the
    time-to-accuracy ratio measured by ``bench/time_to_accuracy.py`` (``None`` until measured)."""
    from .logbook import REFERENCE

    def block(name):
        s = all_seeds(name)
        return {"name": name, "mean": s.mean, "std": s.std, "seeds": s.n}
    from .logbook import TUNING_STEPS

    def bug_row(r):
        n = r["seeds"] - r["both_plateau"]
        return {**{k: r[k] for k in ("bug", "direction", "experiment", "start", "mean", "std", "seeds", "change",
                                     "stderr", "both_plateau", "effect")},
                "t_threshold": stats_module.t_critical(n, two_sided=True) if n >= stats_module.MIN_SEEDS else None}
    return {"reference": block(REFERENCE), "final": block(final_recipe()),
            "decisions": [decision_record(c, b) for c, b in TUNING_STEPS],
            "ablation": [bug_row(r) for r in ablation()],
            "time_to_accuracy_ratio": (time_to_accuracy() or {}).get("ratio")}


def data_and_budget(name: str = "reference") -> Inline:
    """What the book's results are measured on, read from a cached run (first seed): the data
    (generated house numbers or SVHN, from the run's data fingerprint), the training images and
    the optimizer steps a run of the notebook's epochs makes, against the exercise's."""
    run = runner.result(name)
    source = run.meta["data_fingerprint"].split(":", 1)[0]
    data = "generated house numbers" if source == "synthetic" else "SVHN"
    images = run.meta["steps_per_epoch"] * runner.get(name).config.batch_size
    return Inline(f"{data}, about {images:,} training images, {run.meta['total_steps']:,} optimizer steps a run "
                  f"(the exercise's: {run.meta['full_steps']:,} steps on SVHN)")


def bench_result(name: str, profile_name: str | None = None) -> dict | None:
    """The last saved measurement of ``bench/<name>.py`` for the active profile (or
    ``profile_name``; ``None``: not measured yet). Benchmarks measure one machine; their results
    sit beside the cache."""
    import json

    from .cache import bench_path
    from .profiles import active_profile

    path = bench_path(name, profile_name or active_profile().name)
    return json.loads(path.read_text()) if path.is_file() else None


def checks_corpus_text(result: dict | None = None) -> Inline:
    """What the health checks found on the script corpus (``bench/checks_corpus.py``), in words."""
    r = result if result is not None else bench_result("checks_corpus")
    if not r:
        return Inline("The corpus has not been measured on this machine yet (`python bench/checks_corpus.py`).")
    late = r["named"] - r["at_expected_step"]
    return Inline(
        f"On the {r['clean_runs']} clean runs of the {len(r['scripts'])} scripts the checks report "
        + ("nothing" if r["false_alarms"] == 0 else f"{r['false_alarms']} false alarm{'s' if r['false_alarms'] != 1 else ''}")
        + f", and each script keeps its exit code and its output; of the {r['planted']} planted bugs, {r['named']} "
        + ("are" if r["named"] != 1 else "is") + " named"
        + (" at the earliest step each rule allows" if late == 0 and r["named"] else f" ({late} later than its rule allows)")
        + f" (measured {r['measured_on']}).")


def time_to_accuracy() -> dict | None:
    """The last measurement of ``bench/time_to_accuracy.py`` for the active profile, if any."""
    return bench_result("time_to_accuracy")


def _change_text(name: str) -> str:
    """What ``name`` changes; for a confirmation (no change of its own), its screen's change."""
    exp = runner.get(name)
    if exp.changes or not exp.parent:
        return format_changes(dict(exp.changes)).replace("'", "")
    return _change_text(exp.parent) + " (fresh seeds)"


SHORT_OUTCOME = {stats_module.ADOPT: "adopted", stats_module.REJECT: "not adopted",
                 stats_module.CONFIRM: "to confirm", stats_module.DROP: "dropped"}


def _breakable(text: str) -> str:
    """``text`` with invisible break opportunities after ``_``, ``=`` and ``,`` (narrow table
    columns would otherwise overflow on long field names)."""
    for ch in "_=,":
        text = text.replace(ch, ch + "\u200b")
    return text


def _acc_cell(st: SeedStats) -> str:
    """Accuracy in percent for a table cell: ``84.2 ± 2.3`` (one seed: ``84.2``)."""
    if st.diverged:
        return f"diverged ({st.diverged} of {st.n})"
    return f"{100 * st.mean:.1f}" + ("" if st.n == 1 else f" ± {100 * st.std:.1f}")


def _plateau_note(name: str) -> str:
    """``", plateau on 2"``: how many of ``name``'s seeds ended on the class-prior plateau (empty: none)."""
    n = len(plateau_seeds(name))
    return f", plateau on {n}" if n else ""


def decision_table(pairs: list[tuple[str, str]], metric: str = "validation_accuracy") -> str:
    """One row per ``(candidate, starting point)``: the change, the paired seeds, the candidate's
    validation and test accuracy (mean ± std over its seeds, in percent), the paired gain (± its
    standard error), and the rule's decision."""
    rows = []
    for name, base in pairs:
        d = decision(name, base, metric)
        p = d.paired
        gain = "n/a" if p.mean is None else (f"{100 * p.mean:+.1f}" + ("" if p.stderr is None else f" ± {100 * p.stderr:.1f}"))
        rows.append({"candidate": f"`{name}`", "against": f"`{base}`", "change": _breakable(_change_text(name)),
                     "paired seeds": p.n, "val. acc. %": _acc_cell(stats(name, metric)),
                     "test acc. %": _acc_cell(stats(name)) + _plateau_note(name), "gain, points": gain,
                     "decision": SHORT_OUTCOME[d.outcome]})
    return markdown_table(rows, align="lllrrrrl", widths=[14, 17, 21, 6, 10, 10, 9, 9])


def all_seeds(name: str, metric: str = "test_accuracy") -> SeedStats:
    """``metric`` over every cached seed of ``name``'s configuration, whichever registered
    experiments ran them (a confirmation's seeds and its screen's seed are one recipe)."""
    from dataclasses import replace

    target = replace(runner.get(name).config, seed=0)
    values: dict[int, float | None] = {}
    for exp in runner.book():
        if replace(exp.config, seed=0) == target:
            for r in runner.results(exp.name):
                values[r.seed] = _value(r, metric, "final")
    return SeedStats(tuple(values[k] for k in sorted(values)))


def against_bar(name: str, bar: str) -> stats_module.BarComparison:
    """Final test accuracy of ``name``'s recipe (all its seeds) against the bar ``bar``
    (:func:`svhn_debug.stats.beats_bar`)."""
    return stats_module.beats_bar(all_seeds(name), all_seeds(bar))


def bar_sentence(name: str, bar: str) -> Inline:
    """``name`` against the bar, in words: the margin, what it needs, and the verdict."""
    c = against_bar(name, bar)
    if c.margin is None:
        return Inline(f"`{name}` cannot be compared with `{bar}`: a run diverged")
    verdict = "beats it" if c.beats else "does not beat it by the goal's margin"
    return Inline(f"`{name}` ends {points(c.margin)} {'above' if c.margin > 0 else 'below'} `{bar}` "
                  f"({c.seeds[0]} and {c.seeds[1]} seeds); the goal asks for more than twice the larger seed "
                  f"standard deviation, {points(c.needed)}, so it {verdict}")


def diagnosis(name: str) -> dict:
    """The saved whole-run diagnosis of ``name`` (``python -m svhn_debug doctor NAME --steps 0 --save``)."""
    from . import doctor

    return doctor.saved(name, steps=0)


def findings_table(name: str) -> str:
    """The monitor's and the data checks' findings on experiment ``name``: code, severity, the
    optimizer step it was first raised at (and in which epoch), and what was seen."""
    d = diagnosis(name)
    rows = []
    for f in d["findings"] + d["data_findings"]:
        step = "data" if f["step"] is None else f"{f['step']} (epoch {f['step'] // d['steps_per_epoch'] + 1})"
        seen = f["message"].split(". ")[0].rstrip(".") + "."
        rows.append({"code": f"`{f['code']}`", "severity": f["severity"], "first step": step, "what was seen": seen})
    if not rows:
        return "*No findings.*\n"
    return markdown_table(rows, align="llrl", widths=[20, 10, 14, 46])


def first_step(name: str, code: str) -> int | None:
    """Step at which the monitor first raised ``code`` on ``name`` (``None``: never; data
    findings count as step 0, before training)."""
    d = diagnosis(name)
    for f in d["findings"] + d["data_findings"]:
        if f["code"] == code:
            return 0 if f["step"] is None else f["step"]
    return None


def bug_checks() -> list[dict]:
    """Per bug: its check's code, and the step at which the monitor raised it on the notebook's
    run and on the run where the bug first matters (``None``: not raised)."""
    from .logbook import BUGS, DIAGNOSED

    return [{"bug": b["bug"], "code": b["check"], "colleague": first_step("colleague", b["check"]),
             "where it matters": b["broken"] if b["broken"] in DIAGNOSED else None,
             "there": first_step(b["broken"], b["check"]) if b["broken"] in DIAGNOSED else None} for b in BUGS]


def bug_checks_table() -> str:
    """:func:`bug_checks` as a table for the book."""
    def at(step):
        return "not raised" if step is None else f"step {step}"
    rows = [{"bug": r["bug"], "check": f"`{r['code']}`", "on the notebook's run": at(r["colleague"]),
             "where it matters": f"{at(r['there'])} (`{r['where it matters']}`)" if r["where it matters"] else ""}
            for r in bug_checks()]
    return markdown_table(rows, align="llll", widths=[30, 22, 16, 24])


def codes_table() -> str:
    """Every code of the health checks with its severity and what it means."""
    from .checks import CODES

    rows = [{"code": f"`{code}`", "severity": severity, "what it means and what to try": meaning}
            for code, (severity, meaning) in CODES.items()]
    return markdown_table(rows, align="lll", widths=[25, 11, 52])


def images_read(result) -> int:
    """Images one run read through its data pipeline: every epoch's training images and the
    evaluated images of every evaluation."""
    n = result.meta["n_examples"]
    limit = result.config.get("eval_train_examples") or n["train"]
    per_eval = min(limit, n["train"]) + n["validation"] + n["test"]
    return result.meta["epochs_run"] * n["train"] + len(result.epochs) * per_eval


def pipeline_ms_per_image(slow: str, fast: str) -> float:
    """Extra milliseconds per image read that run ``slow`` spent over run ``fast`` (first seeds)."""
    a, b = runner.result(slow), runner.result(fast)
    return 1000 * (a.meta["seconds"] - b.meta["seconds"]) / images_read(a)


def epoch_losses(name: str) -> list[float]:
    """Mean training loss of every epoch's mini-batches (first seed)."""
    steps = runner.result(name).steps
    epochs = sorted({s["epoch"] for s in steps})
    return [statistics.fmean([s["loss"] for s in steps if s["epoch"] == e]) for e in epochs]


def lr_growth_at_last_epoch(name: str) -> float:
    """Learning rate at the first step of the last epoch over the first step's (first seed)."""
    steps = runner.result(name).steps
    last = max(s["epoch"] for s in steps)
    return next(s["lr"] for s in steps if s["epoch"] == last) / steps[0]["lr"]


class ClaimFailed(AssertionError):
    """A sentence of the book that the cached runs no longer support."""


def claim(holds: bool, chapter: str, text: str) -> None:
    """Guard a claim the prose makes (call it in a chapter's code cell): stop the render with a
    message naming the chapter and the claim when the cached runs contradict it. In the
    ``smoke`` profile (whose numbers only show that the code runs) a failed claim is a warning
    instead."""
    import warnings

    from .profiles import active_profile

    if not holds:
        message = f"{chapter}: the claim {text!r} does not hold for the cached {active_profile().name} runs"
        if active_profile().name != "smoke":
            raise ClaimFailed(message)
        warnings.warn(message, stacklevel=2)


def trial_value(name: str, epoch: int | None = None, metric: str = "validation_accuracy") -> float | None:
    """``metric`` of a one-seed trial at ``epoch`` (default: its last; ``None``: diverged)."""
    run = runner.result(name)
    if run.diverged_at is not None:
        return None
    rows = run.epochs if epoch is None else [r for r in run.epochs if r["epoch"] == epoch]
    value = rows[-1][metric] if rows else None
    return value if value is not None and math.isfinite(value) else None


def exam_best(rule: str, horizon: str) -> str:
    """The best trial of a random search (final validation accuracy, seed 0)."""
    from .logbook import EXAM_SEARCH

    trials = EXAM_SEARCH[rule, horizon]
    return max(trials, key=lambda n: -1.0 if trial_value(n) is None else trial_value(n))


def exam_rankings() -> dict:
    """The exam's three readings of two update rules: the long-horizon searches' best settings
    at the long horizon; the same settings read off at the short horizon (their curves at that
    epoch); and both rules retuned by a search at the short horizon."""
    from .logbook import EXAM_RULES

    rules = list(EXAM_RULES)
    short_epoch = runner.result(exam_best(rules[0], "short")).meta["epochs_run"]
    long_best = {r: exam_best(r, "long") for r in rules}
    short_best = {r: exam_best(r, "short") for r in rules}
    readings = {"long": {r: trial_value(long_best[r]) for r in rules},
                "read_off": {r: trial_value(long_best[r], short_epoch) for r in rules},
                "retuned": {r: trial_value(short_best[r]) for r in rules}}

    def order(values):
        return sorted(rules, key=lambda r: -1.0 if values[r] is None else values[r], reverse=True)
    return {"rules": rules, "short_epoch": short_epoch, "long_epoch": runner.result(long_best[rules[0]]).meta["epochs_run"],
            "long_best": long_best, "short_best": short_best, "values": readings,
            "order": {k: order(v) for k, v in readings.items()},
            "flips": order(readings["read_off"]) != order(readings["retuned"])}


def exam_search_figure(horizon: str):
    """The trials of both rules' searches at one horizon (plots.search_trials)."""
    from .logbook import EXAM_RULES, EXAM_SEARCH
    from .plots import search_trials

    data = {}
    for rule in EXAM_RULES:
        best = exam_best(rule, horizon)
        data[rule] = [(runner.get(n).config.lr, trial_value(n), n == best) for n in EXAM_SEARCH[rule, horizon]]
    return search_trials(data)


def dominant_prediction_share(name: str) -> float:
    """Share of the test images (first seed) predicted as the most predicted digit."""
    cm = runner.result(name).confusion
    columns = [sum(row[j] for row in cm) for j in range(len(cm))]
    return max(columns) / max(1, sum(columns))


def split_overlaps(name: str) -> tuple[float, float]:
    """Shares of the validation and of the test images of ``name`` that are training images."""
    from .data import split_overlap

    splits = runner.batches_of(name)["splits"]
    return split_overlap(splits, "train", "validation"), split_overlap(splits, "train", "test")


def rising_epoch_share(names: list[str], metric: str = "test_accuracy") -> float:
    """Share of epoch-to-epoch steps (first seeds of ``names``) on which ``metric`` rose."""
    ups = total = 0
    for name in names:
        values = [row[metric] for row in runner.result(name).epochs]
        ups += sum(b > a for a, b in zip(values, values[1:]))
        total += max(0, len(values) - 1)
    return ups / total if total else 0.0


def majority_digit(name: str, split: str = "test") -> int:
    """The most common digit of a split of experiment ``name``."""
    shares = label_shares(runner.batches_of(name)["splits"][split].labels)
    return max(shares, key=shares.get)


def late_rise(name: str) -> tuple[int, float, float]:
    """The epoch with the lowest mean training loss (first seed), that loss, and how far the
    last epoch's mean loss lies above it (0 when the last epoch is the lowest)."""
    losses = epoch_losses(name)
    low = min(range(len(losses)), key=losses.__getitem__)
    return low + 1, losses[low], losses[-1] - losses[low]


def best_test_gap(names: list[str]) -> float:
    """Largest excess of the best epoch's test accuracy (the notebook's report) over the last
    epoch's, over the first seeds of ``names`` that did not diverge."""
    gaps = [run.epochs_df["test_accuracy"].max() - run.epochs_df["test_accuracy"].iloc[-1]
            for run in map(runner.result, names) if run.diverged_at is None]
    return float(max(gaps))


def plateau_epochs(name: str) -> list[int]:
    """Per cached seed of ``name``, the evaluated epochs whose validation accuracy has not escaped
    the class-prior plateau (:func:`svhn_debug.plateau.not_escaped`, against the share of the most
    common digit of the validation split)."""
    from .plateau import not_escaped

    chance = majority_share(name, "validation")
    return [int(sum(not_escaped(row["validation_accuracy"], chance) for row in run.epochs)) for run in runner.results(name)]


def peak(name: str, quantity: str) -> tuple[int, float, float]:
    """Step at which a Cockpit quantity (norm over parameters, first seed) is largest, its value
    there over its first tracked value, and its last tracked value over the largest."""
    from .plots import cockpit_series

    steps, values = cockpit_series(runner.result(name), quantity)
    top = int(values.argmax())
    return int(steps[top]), float(values[top] / values[0]), float(values[-1] / values[top])


def cockpit_value_at(name: str, quantity: str, step: int) -> float:
    """A scalar Cockpit quantity at the tracked step nearest to ``step`` (first seed)."""
    from .plots import cockpit_series

    steps, values = cockpit_series(runner.result(name), quantity)
    return float(values[abs(steps - step).argmin()])


def _gradient_histograms(name: str) -> list[tuple]:
    """Cockpit's GradHist1d of ``name`` (first seed) as ``(edges, counts)`` arrays, one per
    tracked step; Cockpit's log stores arrays as ``{"__ndarray__": [...]}``."""
    import numpy as np

    def array(value):
        return np.asarray(value["__ndarray__"] if isinstance(value, dict) else value, dtype=float)
    out = [(array(e["GradHist1d"]["edges"]), array(e["GradHist1d"]["hist"]))
           for e in (runner.result(name).cockpit or {}).values() if isinstance(e, dict) and e.get("GradHist1d")]
    if not out:
        raise ValueError(f"{name!r} tracked no gradient histogram")
    return out


def gradient_histogram_shares(name: str, central_bins: int = 2) -> tuple[float, float]:
    """From Cockpit's GradHist1d (first seed): the mean share, over the tracked steps, of the
    per-example gradient elements in the ``central_bins`` bins around zero, and the largest
    share in the two outermost bins (where the histogram's range ends)."""
    central, edge = [], []
    for _, counts in _gradient_histograms(name):
        start = len(counts) // 2 - central_bins // 2
        central.append(counts[start:start + central_bins].sum() / counts.sum())
        edge.append((counts[0] + counts[-1]) / counts.sum())
    return float(statistics.fmean(central)), float(max(edge))


def histogram_bin_width(name: str) -> float:
    """Width of a GradHist1d bin of ``name`` (first tracked step)."""
    edges, _ = _gradient_histograms(name)[0]
    return float(edges[1] - edges[0])


def full_svhn_lr_growth(name: str) -> float:
    """Factor by which the growing schedule of ``name`` would multiply the rate over its epochs
    on full SVHN (the total that every profile keeps)."""
    from .profiles import get_profile

    config = runner.get(name).config
    return config.lr_growth ** get_profile("full").full_steps(config.epochs, config.batch_size)


def last_epoch_changes(name: str, metric: str = "validation_accuracy") -> list[float]:
    """Per seed of ``name``, how much ``metric`` changed from the second-to-last evaluated epoch
    to the last (seeds with fewer than two evaluations are left out)."""
    return [run.epochs[-1][metric] - run.epochs[-2][metric] for run in runner.results(name) if len(run.epochs) > 1]
