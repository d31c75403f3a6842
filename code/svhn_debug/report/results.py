"""Reading results: what the cached runs, benchmarks and saved diagnoses hold, as numbers
(no statistics beyond a seed mean, no words)."""

from __future__ import annotations

import math
import statistics

from .. import runner
from .. import stats as stats_module
from . import words


class SeedStats(stats_module.Summary):
    """A metric over the seeds of one experiment (:class:`svhn_debug.stats.Summary`), with its
    text for the prose; ``None`` for a seed whose run diverged (or was never evaluated)."""

    def text(self) -> words.Inline:
        """``82.7% ± 2.1 (3 seeds)``: mean ± standard deviation in points; one seed: ``82.7%``."""
        if self.diverged:
            return words.Inline(f"diverged ({self.diverged} of {len(self.values)} seed{'s' if len(self.values) > 1 else ''})")
        if len(self.values) == 1:
            return words.pct(self.mean)
        return words.Inline(f"{100 * self.mean:.1f}% ± {100 * self.std:.1f} ({len(self.values)} seeds)")


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


def label_shares(labels) -> dict[int, float]:
    """Share of each digit among ``labels``."""
    import numpy as np

    counts = np.bincount(np.asarray(labels), minlength=10)
    return {d: counts[d] / counts.sum() for d in range(10)}


def max_step_loss_difference(a: str, b: str) -> float:
    """Largest absolute difference of the per-step training losses of two experiments."""
    la = [s["loss"] for s in runner.result(a).steps]
    lb = [s["loss"] for s in runner.result(b).steps]
    if len(la) != len(lb):
        return float("inf")
    return max(abs(x - y) for x, y in zip(la, lb))


def growth(result, quantity: str) -> float:
    """Ratio of a Cockpit quantity's last tracked value to its first (norm over parameters)."""
    from ..plots import cockpit_series

    _, values = cockpit_series(result, quantity)
    return float(values[-1] / values[0])


def majority_share(name: str, split: str = "test") -> float:
    """Share of the most common digit in a split of experiment ``name``: what always answering
    that digit scores."""
    return max(label_shares(runner.batches_of(name)["splits"][split].labels).values())


def confusion_rate(name: str, true: int, predicted: int) -> float:
    """Share of test images of digit ``true`` predicted as ``predicted`` (first seed)."""
    cm = runner.result(name).confusion
    return cm[true][predicted] / max(1, sum(cm[true]))


def cache_summary() -> dict:
    """Entries and size of the active profile's cache, the registered runs and how many are
    cached, the compute they took, and what their recorded code covers: the distinct functions
    and modules the runs executed, and the fewest and most functions one run executed."""
    from .. import cache
    from ..profiles import active_profile

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


def label_entropy(name: str, split: str = "train") -> float:
    """Entropy (nats) of the label distribution of a split: the cross-entropy of a network that
    predicts the class prior for every image, whatever the image."""
    import math

    return -sum(p * math.log(p) for p in label_shares(runner.batches_of(name)["splits"][split].labels).values() if p > 0)


def last_loss(name: str, window: int = 8) -> float:
    """Mean training loss of the last ``window`` mini-batches (first seed)."""
    steps = runner.result(name).steps
    return sum(s["loss"] for s in steps[-window:]) / min(window, len(steps))


def _cockpit_values(name: str, quantity: str):
    from ..plots import cockpit_series

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


def heldout_prior() -> float:
    """Share of the most common digit among the yardstick's images (the first ``n_test`` of the
    test pool, :func:`svhn_debug.data.heldout_source`): what a model that answers one digit
    scores there."""
    from ..profiles import active_profile

    labels = runner.pools().test_labels[:active_profile().n_test]
    return max(label_shares(labels).values())


def ends_on_plateau(run) -> bool:
    """Whether a run ended on the class-prior plateau, by the one definition of
    :mod:`svhn_debug.plateau` (accuracy below the share of the most common digit plus
    :data:`~svhn_debug.plateau.ESCAPE_MARGIN`): on the yardstick (``heldout_accuracy``, the
    held-out test pool upright) where the run has it, so that a run whose own evaluation is
    rotated or drawn from the training images is classified by what its model does; otherwise on
    its last test evaluation. A diverged run, or one without a confusion matrix, is not on the
    plateau."""
    from ..plateau import not_escaped

    if run.diverged_at is not None or not run.confusion:
        return False
    heldout = run.final("heldout_accuracy")
    if heldout is not None:
        return not_escaped(heldout, heldout_prior())
    total = sum(map(sum, run.confusion))
    correct = sum(run.confusion[i][i] for i in range(len(run.confusion)))
    prior = max(map(sum, run.confusion)) / total  # rows are the true digits
    return not_escaped(correct / total, prior)


def plateau_seeds(name: str) -> tuple[int, ...]:
    """The seeds of ``name`` whose runs ended on the class-prior plateau (:func:`ends_on_plateau`)."""
    return tuple(r.seed for r in runner.results(name) if ends_on_plateau(r))


def bench_result(name: str, profile_name: str | None = None) -> dict | None:
    """The last saved measurement of ``bench/<name>.py`` for the active profile (or
    ``profile_name``; ``None``: not measured yet). Benchmarks measure one machine; their results
    sit beside the cache."""
    import json

    from ..cache import bench_path
    from ..profiles import active_profile

    path = bench_path(name, profile_name or active_profile().name)
    return json.loads(path.read_text()) if path.is_file() else None


def time_to_accuracy(final: str | None = None) -> dict | None:
    """The last measurement of ``bench/time_to_accuracy.py`` for the active profile, or ``None``
    when there is none or it is out of date: made for another adopted recipe than ``final``
    (default: the one the rule adopts now) or for another number of steps than its cached runs
    make (a measurement from before a budget change says nothing about the new budget)."""
    measured = bench_result("time_to_accuracy")
    if not measured:
        return None
    if final is None:
        from .decisions import final_recipe
        final = final_recipe()
    steps = runner.result(final).meta["total_steps"]
    if measured.get("final") != final or measured.get("steps") != steps:
        return None
    return measured


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


def diagnosis(name: str) -> dict:
    """The saved whole-run diagnosis of ``name`` (``python -m svhn_debug doctor NAME --steps 0 --save``)."""
    from .. import doctor

    return doctor.saved(name, steps=0)


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
    from ..logbook import BUGS, DIAGNOSED

    return [{"bug": b["bug"], "code": b["check"], "colleague": first_step("colleague", b["check"]),
             "where it matters": b["broken"] if b["broken"] in DIAGNOSED else None,
             "there": first_step(b["broken"], b["check"]) if b["broken"] in DIAGNOSED else None} for b in BUGS]


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


def trial_value(name: str, epoch: int | None = None, metric: str = "validation_accuracy") -> float | None:
    """``metric`` of a one-seed trial at ``epoch`` (default: its last; ``None``: diverged)."""
    run = runner.result(name)
    if run.diverged_at is not None:
        return None
    rows = run.epochs if epoch is None else [r for r in run.epochs if r["epoch"] == epoch]
    value = rows[-1][metric] if rows else None
    return value if value is not None and math.isfinite(value) else None


def dominant_prediction(name: str) -> tuple[int, float]:
    """The digit most test images (first seed, last epoch) are predicted as, and their share."""
    cm = runner.result(name).confusion
    columns = [sum(row[j] for row in cm) for j in range(len(cm))]
    digit = max(range(len(columns)), key=columns.__getitem__)
    return digit, columns[digit] / max(1, sum(columns))


def dominant_prediction_share(name: str) -> float:
    """Share of the test images (first seed) predicted as the most predicted digit."""
    return dominant_prediction(name)[1]


def split_overlaps(name: str) -> tuple[float, float]:
    """Shares of the validation and of the test images of ``name`` that are training images."""
    from ..data import split_overlap

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
    from ..plateau import not_escaped

    chance = majority_share(name, "validation")
    return [int(sum(not_escaped(row["validation_accuracy"], chance) for row in run.epochs)) for run in runner.results(name)]


def peak(name: str, quantity: str) -> tuple[int, float, float]:
    """Step at which a Cockpit quantity (norm over parameters, first seed) is largest, its value
    there over its first tracked value, and its last tracked value over the largest."""
    from ..plots import cockpit_series

    steps, values = cockpit_series(runner.result(name), quantity)
    top = int(values.argmax())
    return int(steps[top]), float(values[top] / values[0]), float(values[-1] / values[top])


def cockpit_value_at(name: str, quantity: str, step: int) -> float:
    """A scalar Cockpit quantity at the tracked step nearest to ``step`` (first seed)."""
    from ..plots import cockpit_series

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
    from ..profiles import get_profile

    config = runner.get(name).config
    return config.lr_growth ** get_profile("full").full_steps(config.epochs, config.batch_size)


def last_epoch_changes(name: str, metric: str = "validation_accuracy") -> list[float]:
    """Per seed of ``name``, how much ``metric`` changed from the second-to-last evaluated epoch
    to the last (seeds with fewer than two evaluations are left out)."""
    return [run.epochs[-1][metric] - run.epochs[-2][metric] for run in runner.results(name) if len(run.epochs) > 1]
