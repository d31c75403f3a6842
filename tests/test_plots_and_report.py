"""Plots draw from results without training; report helpers format what the prose shows."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import matplotlib
import matplotlib.pyplot as plt
import pytest

from svhn_debug import plots, report, runner
from svhn_debug.training import train


@pytest.fixture(scope="module")
def tracked_run(smoke, pools):
    from svhn_debug.config import COLLEAGUE

    cfg = replace(COLLEAGUE, width=0.25, pipeline="tensor", epochs=30, batch_size=128)
    return train(cfg, smoke, pools)


def test_every_figure_function_draws_from_a_result(tracked_run):
    figs = [plots.learning_curves(tracked_run), plots.compare({"a": [tracked_run, tracked_run]}),
            plots.step_losses({"a": tracked_run}, smooth=3), plots.lr_trajectory({"a": tracked_run}),
            plots.confusion(tracked_run), plots.cockpit_scalars({"a": tracked_run})]
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figs)
    assert plt.get_fignums() == []  # closed: a notebook shows each once


def test_cockpit_series_reduces_per_parameter_values_to_their_norm(tracked_run):
    steps, values = plots.cockpit_series(tracked_run, "GradNorm")
    assert list(steps) == list(range(len(tracked_run.steps)))
    assert (values > 0).all()
    alpha_steps, _ = plots.cockpit_series(tracked_run, "Alpha")
    assert list(alpha_steps) == [s for s in steps if s % 10 == 0]


def test_cockpit_dashboard_draws_the_gauges_with_data_legibly_and_restores_matplotlib(tracked_run):
    size, interactive, face = list(plt.rcParams["figure.figsize"]), plt.isinteractive(), plt.rcParams["axes.facecolor"]
    fig, drawn = plots.cockpit_gauges(tracked_run)
    # the notebook's quantities (alpha, distance, update size, gradient norm, loss): Cockpit's
    # gauges for gradient tests, histograms and curvature would be empty and are not drawn
    assert drawn == ["alpha_gauge", "distance_gauge", "grad_norm_gauge", "hyperparameter_gauge", "performance_gauge"]
    titles = {ax.get_title() for ax in fig.axes}
    assert {"Alpha Distribution", "Distance", "Gradient Norm", "Hyperparameters", "Performance Plot"} <= titles
    assert not any(t.startswith(("Gradient Tests", "Gradient Element", "Max", "Trace", "TIC")) for t in titles)
    # printed across the 15 cm text block, the smallest text is still over 5 points
    scale = 15 / 2.54 / fig.get_size_inches()[0]
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text() and t.get_visible()]
    assert min(t.get_fontsize() for t in texts) * scale > 5
    assert fig.get_size_inches()[1] == pytest.approx(2.7 * 3)  # four gauges in two rows, performance below
    assert list(plt.rcParams["figure.figsize"]) == size and plt.isinteractive() == interactive
    assert plt.rcParams["axes.facecolor"] == face and plt.get_fignums() == []


def test_cockpit_dashboard_on_too_few_tracked_steps_says_so(tracked_run):
    from types import SimpleNamespace

    fig = plots.cockpit_dashboard(SimpleNamespace(cockpit={0: {"Loss": 2.3}, 10: {"Loss": 2.2}, 20: {}}))
    assert [t.get_text() for t in fig.findobj(matplotlib.text.Text) if "tracked" in t.get_text()] == [
        "Cockpit's dashboard needs at least 3 tracked steps; this run tracked 2."]
    # three tracked steps are enough for Cockpit's gauges
    three = dict(list((k, v) for k, v in tracked_run.cockpit.items() if "Loss" in v)[:3])
    fig = plots.cockpit_dashboard(SimpleNamespace(cockpit=three))
    assert "Performance Plot" in {ax.get_title() for ax in fig.axes}


@pytest.mark.parametrize("value,text", [(0.8123, "81.2%"), (None, "n/a")])
def test_percentages(value, text):
    assert report.pct(value) == text and repr(report.pct(value)) == text


def test_numbers_and_points():
    assert report.num(8192) == "8,192" and report.num(0.000123456) == "0.000123" and report.num(2345.6) == "2,346"
    assert report.pp(0.031) == "+3.1 points" and report.pp(-0.201) == "\u221220.1 points"
    # a change with no paired seed (both runs on the plateau on every seed) prints n/a, not a crash
    assert report.pp(None) == "n/a" and report.points(None) == "n/a" and report.points(-0.019) == "1.9 points"
    assert report.points(0.5) == "50.0 points" and report.num(2.0) == "2" and report.num(1200.5) == "1,200"
    assert report.num(45.67) == "45.7"  # three significant digits below a thousand
    # one scientific notation, as the prose writes it: 1e-5, never Python's 1e-05
    assert report.num(1e-5) == "1e-5" and report.num(1.08e-05) == "1.08e-5" and report.num(-2.5e-7, 2) == "-2.5e-7"
    assert report.num(3e-10) == "3e-10" and report.num(0.0001) == "0.0001"
    assert report.sci(1e-5) == "1e-5" and report.sci(0.000175) == "1.75e-4" and report.sci(0.0012345) == "1.23e-3"
    assert report.sci(2.0) == "2e0" and report.sci(150.0, 2) == "1.5e2" and report.sci(1e-3, 1) == "1e-3"


def test_a_printed_difference_is_the_difference_of_the_printed_percentages():
    # 84.8% and 84.3% are printed; the reader subtracts to 0.5, although the values differ by 0.54
    assert report.pp(report.printed_difference(0.8480, 0.8426)) == "+0.5 points"
    assert (report.pct(0.8536), report.pct(0.8434)) == ("85.4%", "84.3%")
    assert report.points(report.printed_difference(0.8536, 0.8434)) == "1.1 points"  # not 1.02, printed "1.0"
    assert report.pp(report.printed_difference(0.8426, 0.8480)) == "−0.5 points"
    assert report.printed_difference(0.5, 0.2, digits=0) == pytest.approx(0.3)
    assert report.printed_difference(0.12345, 0.1, digits=2) == pytest.approx(0.0235)
    assert report.printed_difference(None, 0.5) is None and report.printed_difference(0.5, float("nan")) is None


def test_seed_stats():
    s = report.SeedStats((0.8, 0.82, 0.81))
    assert s.mean == pytest.approx(0.81) and s.spread == pytest.approx(0.02)
    assert s.std == pytest.approx(0.01)
    assert s.text() == "81.0% ± 1.0 (3 seeds)"
    assert report.SeedStats((0.8,)).text() == "80.0%"


def test_markdown_table_escapes_pipes_and_aligns():
    table = report.markdown_table([{"a": "x|y", "b": 1}], align="lr")
    assert table.splitlines() == ["| a | b |", "|:--|--:|", "| x\\|y | 1 |"]
    wide = report.markdown_table([{"a": 1, "b": 2}], align="l-", widths=[6, 3])
    assert wide.splitlines()[1] == "|:-----|---|"


def test_report_decisions_pair_runs_by_seed_and_follow_the_rule(monkeypatch):
    from svhn_debug import runner
    from test_faults import fake_runs

    # seeds differ by 5 points; "steady" gains 1 point on each: adopted; "noisy" gains as much on
    # average but +6/-4/+1/+3/-1: not; "short" gains steadily on four seeds, one fewer than a
    # decision needs; "screen" has one seed and a large gain: only sent to confirmation
    fake_runs(monkeypatch, {"parent": [0.70, 0.75, 0.80, 0.72, 0.78], "steady": [0.71, 0.76, 0.81, 0.73, 0.79],
                            "noisy": [0.76, 0.71, 0.81, 0.75, 0.77], "short": [0.71, 0.76, 0.81, 0.73],
                            "screen": [0.95]})
    monkeypatch.setattr(runner, "get", lambda name: type("E", (), {"parent": "parent"})())
    assert report.adopted("steady") and not report.adopted("noisy") and not report.adopted("screen")
    assert not report.adopted("short")
    assert report.verdict("steady").startswith("adopted against `parent` (mean gain +1.0 points over 5 paired seeds")
    assert report.verdict("screen").startswith("screen passed")
    assert report.adopted_path("parent", [("screen", "parent"), ("noisy", "parent"), ("steady", "parent"),
                                          ("noisy", "parent")]) == ["parent", "steady"]


def test_every_bug_both_ways_reads_masking_from_the_two_directions(monkeypatch):
    from svhn_debug import logbook, runner
    from test_faults import fake_runs

    # "masked": putting it back costs 30 points, removing it from the broken start gains nothing;
    # "alone": both directions move the result; "inert": neither does beyond noise; "worse":
    # removing it alone lowers the broken run (another bug does more harm without it)
    # "reported": changes only what is reported, so the book runs no removal of it
    fake_runs(monkeypatch, {"fixed": [0.80, 0.82, 0.81, 0.80, 0.82], "start": [0.20, 0.20, 0.21, 0.20, 0.21],
                            "masked-back": [0.50, 0.52, 0.51, 0.50, 0.52], "masked-out": [0.20, 0.21, 0.20, 0.21, 0.20],
                            "alone-back": [0.60, 0.61, 0.62, 0.60, 0.61], "alone-out": [0.40, 0.41, 0.40, 0.41, 0.40],
                            "inert-back": [0.81, 0.80, 0.82, 0.81, 0.81], "inert-out": [0.21, 0.19, 0.21, 0.20, 0.20],
                            "worse-back": [0.20, 0.20, 0.20, 0.21, 0.20], "worse-out": [0.10, 0.11, 0.10, 0.10, 0.11],
                            "reported-back": [0.80, 0.82, 0.81, 0.80, 0.82]})
    monkeypatch.setattr(logbook, "COLLEAGUE_START", "start")
    monkeypatch.setattr(logbook, "BUGS", [{"bug": k, "fixed": "fixed", "broken": f"{k}-back", "removed": f"{k}-out"}
                                          for k in ("masked", "alone", "inert", "worse")]
                        + [{"bug": "reported", "fixed": "fixed", "broken": "reported-back", "removed": None}])
    rows = report.ablation()
    assert [(r["bug"], r["direction"], r["start"]) for r in rows][:2] == [("masked", "reintroduced", "fixed"),
                                                                          ("masked", "removed", "start")]
    assert rows[0]["mean"] == pytest.approx(0.51) and rows[0]["std"] == pytest.approx(0.01) and rows[0]["seeds"] == 5
    assert rows[0]["change"] == pytest.approx(-0.30)
    assert [r["direction"] for r in rows if r["bug"] == "reported"] == ["reintroduced"]
    effects = {e["bug"]: e["reading"] for e in report.bug_effects()}
    assert effects == {"masked": "matters alone, but the other bugs mask its removal",
                       "alone": "matters alone, and removing it alone already helps",
                       "inert": "no effect beyond seed noise either way on this budget",
                       "worse": "matters alone; removing it alone makes the notebook's run worse, "
                                "because another of its bugs then does more harm",
                       "reported": "leaves the model as it is: it changes only what is reported"}
    table = report.ablation_table()
    assert "| 51.0\u00a0±\u00a01.0 | 0 of 5 | -30.0 | yes |" in table  # one line: no-break spaces


def test_the_ablation_reads_the_yardstick_not_the_runs_own_test_view(monkeypatch):
    # catches: a bug measured on its own (rotated, or training-image) test view instead of the
    # held-out upright images every run is scored on
    from svhn_debug import logbook, runner
    from svhn_debug.training import RunResult

    def results(name, *args, **kwargs):
        test, held = {"fixed": (0.80, 0.80), "broken": (0.99, 0.80)}[name]
        return [RunResult(config={}, profile="smoke", seed=s, steps=[], confusion=None, cockpit=None, meta={},
                          epochs=[{"epoch": 1, "test_accuracy": test + 0.001 * s, "validation_accuracy": test,
                                   "heldout_accuracy": held + 0.001 * s}], diverged_at=None) for s in range(5)]
    monkeypatch.setattr(runner, "results", results)
    monkeypatch.setattr(logbook, "BUGS", [{"bug": "split", "fixed": "fixed", "broken": "broken", "removed": None}])
    (row,) = report.ablation()
    assert row["change"] == pytest.approx(0.0) and not row["matters"]
    flattery = report.misreport("broken")
    assert flattery.n == 5 and flattery.mean == pytest.approx(0.19)


def test_the_summary_figures_name_the_derived_final_recipe_over_all_its_seeds(monkeypatch):
    from svhn_debug import logbook, runner
    from svhn_debug.registry import Registry
    from svhn_debug.training import RunResult

    reg = Registry()
    reg.register("ref", None, "?", seeds=(0, 1, 2, 3, 4), lr=2e-3)
    reg.register("base", None, "?", seeds=(0, 1, 2, 3, 4, 5), lr=1e-3)
    reg.register("worse", "base", "?", seeds=(0, 1, 2, 3, 4), width=0.5)
    reg.register("better", "base", "?", seeds=(0,), width=2.0)  # one seed of the recipe ...
    reg.register("better-confirm", "better", "?", seeds=(1, 2, 3, 4, 5))  # ... and five more, declared apart
    values = {"ref": [0.19, 0.20, 0.21, 0.20, 0.20], "base": [0.80, 0.75, 0.70, 0.72, 0.78, 0.76],
              "worse": [0.79, 0.70, 0.80, 0.60, 0.70], "better": [0.83], "better-confirm": [0.77, 0.72, 0.74, 0.80, 0.78]}

    def results(name, *args, **kwargs):
        return [RunResult(config={}, profile="smoke", seed=seed, steps=[], confusion=None, cockpit=None,
                          meta={"seconds": 1.0}, epochs=[{"epoch": 1, "test_accuracy": v, "validation_accuracy": v}],
                          diverged_at=None) for seed, v in zip(reg.get(name).seeds, values[name])]
    monkeypatch.setattr(runner, "results", results)
    monkeypatch.setattr(runner, "book", lambda *a, **k: reg)
    monkeypatch.setattr(runner, "get", lambda name, *a, **k: reg.get(name))
    monkeypatch.setattr(logbook, "REFERENCE", "ref")
    monkeypatch.setattr(logbook, "FIX_PATH", ["base"])
    monkeypatch.setattr(logbook, "TUNING_STEPS", [("worse", "base"), ("better-confirm", "base")])
    monkeypatch.setattr(logbook, "BUGS", [])
    monkeypatch.setattr(report.results, "time_to_accuracy", lambda: {"ratio": 0.3})
    assert report.ladder() == ["base", "better-confirm"]  # decided on its own five seeds
    figures = report.summary_figures()
    assert figures["final"]["name"] == "better-confirm"
    assert figures["final"]["seeds"] == 6 and figures["final"]["mean"] == pytest.approx(0.7733333)  # every seed of the recipe
    assert figures["reference"]["mean"] == pytest.approx(0.20)
    assert figures["ablation"] == [] and figures["time_to_accuracy_ratio"] == 0.3
    assert report.against_bar("better-confirm", "ref").beats
    worse, better = figures["decisions"]
    assert (worse["candidate"], worse["against"], worse["seeds"]) == ("worse", "base", [0, 1, 2, 3, 4])
    assert worse["mean_gain"] == pytest.approx(-0.032) and worse["t_threshold"] == pytest.approx(2.131847, abs=1e-5)
    assert (worse["outcome"], worse["direction"]) == ("reject", "nothing")
    assert (better["outcome"], better["direction"], better["seeds"]) == ("adopt", "helps", [1, 2, 3, 4, 5])


def _plateau_run(seed: int, accuracy_digits: list[int], true_digits: list[int], diverged_at=None):
    """A run whose last test evaluation predicted ``accuracy_digits`` for images of ``true_digits``."""
    from svhn_debug.training import RunResult

    cm = [[0] * 10 for _ in range(10)]
    for t, p in zip(true_digits, accuracy_digits):
        cm[t][p] += 1
    return RunResult(config={}, profile="smoke", seed=seed, steps=[], confusion=cm, cockpit=None, meta={},
                     epochs=[{"epoch": 1, "test_accuracy": 0.0, "validation_accuracy": 0.0}], diverged_at=diverged_at)


def test_a_run_ends_on_the_plateau_below_the_prior_plus_the_escape_margin():
    truth = [1] * 30 + [d for d in range(10) for _ in range(7)]  # 100 images, digit 1 is 37% of them
    assert report.ends_on_plateau(_plateau_run(0, [1] * 100, truth))  # one class: 37% = the prior
    # 46 right: below 37% + 10 points; 47 right: at the margin, escaped
    assert report.ends_on_plateau(_plateau_run(0, truth[:46] + [0 if t else 2 for t in truth[46:]], truth))
    assert not report.ends_on_plateau(_plateau_run(0, truth[:47] + [0 if t else 2 for t in truth[47:]], truth))
    assert not report.ends_on_plateau(_plateau_run(0, [1] * 100, truth, diverged_at=5))  # diverged is its own outcome


def test_decisions_pair_plateau_seeds_as_ties(monkeypatch):
    from svhn_debug import runner
    from svhn_debug.registry import Registry

    truth = [d for d in range(10) for _ in range(10)]
    one_class = {"a": [1] * 100, "b": [2] * 100}  # both 10%: on the plateau, different digits
    learned = truth[:90] + [0] * 10
    reg = Registry()
    reg.register("base", None, "?", seeds=(0, 1, 2))
    reg.register("cand", "base", "?", seeds=(0, 1, 2), lr=3e-3)
    runs = {"base": [_plateau_run(0, one_class["a"], truth), _plateau_run(1, one_class["a"], truth),
                     _plateau_run(2, one_class["a"], truth)],
            "cand": [_plateau_run(0, one_class["b"], truth), _plateau_run(1, one_class["b"], truth),
                     _plateau_run(2, learned, truth)]}
    values = {"base": [0.10, 0.10, 0.10], "cand": [0.08, 0.08, 0.88]}
    for name in runs:
        for r, v in zip(runs[name], values[name]):
            r.epochs[0]["validation_accuracy"] = v
    monkeypatch.setattr(runner, "results", lambda name, *a, **k: runs[name])
    monkeypatch.setattr(runner, "get", lambda name, *a, **k: reg.get(name))
    assert report.plateau_seeds("cand") == (0, 1)
    d = report.decision("cand")
    assert d.paired.both_plateau == (0, 1) and d.paired.seeds == (2,) and d.screen
    record = report.decision_record("cand")
    assert record["left_out"]["both_plateau"] == [0, 1] and record["t_threshold"] is None
    assert "| 2 of 3 | +78.0 | to confirm |" in report.decision_table([("cand", "base")])  # plateau seeds, then the screen


def test_a_decision_table_names_every_field_a_candidate_changes_against_its_row(monkeypatch):
    # a candidate compared with a grandparent differs from it in its parent's change too; a
    # confirmation (no change of its own) says it ran on fresh seeds
    from svhn_debug import runner
    from svhn_debug.registry import Registry
    from test_faults import fake_runs

    reg = Registry()
    reg.register("base", None, "?", seeds=(0, 1, 2))
    reg.register("mid", "base", "?", seeds=(0,), activation="relu")
    reg.register("top", "mid", "?", seeds=(0, 1, 2), lr=3e-3)
    reg.register("top-confirm", "top", "?", seeds=(3, 4, 5))
    fake_runs(monkeypatch, {"base": [0.5] * 3, "mid": [0.6], "top": [0.7] * 3, "top-confirm": [0.7] * 3})
    monkeypatch.setattr(runner, "get", lambda name, *a, **k: reg.get(name))
    table = report.decision_table([("top", "base"), ("top", "mid"), ("top-confirm", "base")])
    rows = [line for line in table.splitlines() if line.startswith("| `top")]
    assert "activation=\u200brelu,\u200b lr=\u200b0.003 |" in rows[0]
    assert "| lr=\u200b0.003 |" in rows[1]
    reg.register("slow", "base", "?", seeds=(0, 1, 2), lr=2e-5)  # the book's notation, not 2e-05
    fake_runs(monkeypatch, {"base": [0.5] * 3, "slow": [0.4] * 3})
    assert "| lr=\u200b2e-5 |" in report.decision_table([("slow", "base")])
    assert "lr=\u200b2e-5" in report.changes_table(["slow"])
    # one seed prints its accuracy alone, several their mean ± standard deviation in percent
    reg.register("spread", "base", "?", seeds=(0, 1, 2), lr=3e-5)
    fake_runs(monkeypatch, {"base": [0.5] * 3, "mid": [0.6], "spread": [0.6, 0.7, 0.8]})
    assert "| 60.0 | 60.0 | none |" in report.decision_table([("mid", "base")])
    assert "| 70.0\u00a0±\u00a010.0 | 70.0\u00a0±\u00a010.0 |" in report.decision_table([("spread", "base")])
    assert "activation=\u200brelu,\u200b lr=\u200b0.003 (fresh seeds) |" in rows[2]


def test_a_change_of_epochs_says_how_many_the_runs_made(monkeypatch):
    from types import SimpleNamespace

    from svhn_debug import runner
    from svhn_debug.report import tables

    monkeypatch.setattr(runner, "result", lambda name, *a, **k: SimpleNamespace(meta={"epochs_run": 10, "total_steps": 320}))
    assert tables._as_run("longer", "epochs=25") == "epochs=25 (10 run, 320 steps)"
    assert tables._as_run("other", "lr=0.003") == "lr=0.003"

    def missing(name, *a, **k):
        raise runner.MissingRun("not cached")
    monkeypatch.setattr(runner, "result", missing)
    assert tables._as_run("longer", "epochs=25") == "epochs=25"


def test_epoch_axes_have_whole_number_ticks():
    import matplotlib
    import pandas as pd

    from svhn_debug import plots
    from svhn_debug.training import RunResult

    epochs = [{"epoch": e, "train_loss": 2.0 / e, "validation_loss": 2.1 / e, "test_loss": 2.2 / e,
               "train_accuracy": 0.2 * e, "validation_accuracy": 0.19 * e, "test_accuracy": 0.18 * e} for e in (1, 2, 3, 4)]
    run = RunResult(config={}, profile="smoke", seed=0, steps=[], confusion=None, cockpit=None, meta={}, epochs=epochs,
                    diverged_at=None)
    for fig in (plots.learning_curves(run), plots.compare({"a": [run]})):
        for ax in fig.axes:
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks
        matplotlib.pyplot.close(fig)


def test_label_entropy_and_majority_share_of_a_constructed_split(monkeypatch):
    # labels: half ones, a quarter twos, a quarter threes: entropy 1.5 bits = 1.0397 nats
    import math

    import torch
    from svhn_debug import runner
    from svhn_debug.data import Split

    labels = torch.tensor([1] * 8 + [2] * 4 + [3] * 4)
    split = Split(torch.zeros(16, 3, 2, 2, dtype=torch.uint8), labels, "train", torch.arange(16))
    monkeypatch.setattr(runner, "batches_of", lambda name, *a, **k: {"splits": {"train": split, "test": split}})
    assert report.label_entropy("x") == pytest.approx(1.5 * math.log(2))
    assert report.majority_share("x") == pytest.approx(0.5)
    assert report.majority_digit("x") == 1


def test_the_profile_table_keeps_the_notebooks_total_rate_growth_in_every_profile():
    # catches: a per-step factor that does not compensate the profile's fewer steps
    rows = [line.split("|")[1:-1] for line in report.profile_table().splitlines()[2:]]
    assert [r[0].strip() for r in rows] == ["`smoke`", "`cpu`", "`full`"]
    assert {r[-1].strip() for r in rows} == {"17.6x"}
    assert rows[-1][4].strip() == "1.00100"  # full SVHN: the notebook's own gamma


def made_up_run(monkeypatch, epoch_losses=(), test_accuracy=(), cockpit=None):
    """``runner.result`` answering one made-up run: two mini-batches per epoch averaging each of
    ``epoch_losses``, evaluated epochs with ``test_accuracy``, and a Cockpit log."""
    from svhn_debug import runner
    from svhn_debug.training import RunResult

    steps = [{"step": 2 * e + i + 1, "epoch": e + 1, "loss": loss + d, "lr": 1e-3}
             for e, loss in enumerate(epoch_losses) for i, d in enumerate((-0.1, 0.1))]
    epochs = [{"epoch": e + 1, "test_accuracy": a, "validation_accuracy": a} for e, a in enumerate(test_accuracy)]
    run = RunResult(config={}, profile="smoke", seed=0, steps=steps, epochs=epochs, confusion=None, cockpit=cockpit,
                    meta={}, diverged_at=None)
    monkeypatch.setattr(runner, "result", lambda name, *a, **k: run)


def test_late_rise_measures_the_last_epoch_against_the_lowest(monkeypatch):
    # catches: comparing with the epoch before the last only (2.2 > 2.3 is no rise, 1.5 is lower)
    made_up_run(monkeypatch, epoch_losses=[2.0, 1.5, 2.3, 2.2])
    assert report.late_rise("x") == (2, pytest.approx(1.5), pytest.approx(0.7))
    made_up_run(monkeypatch, epoch_losses=[2.0, 1.8, 1.6])
    assert report.late_rise("x") == (3, pytest.approx(1.6), 0)


def test_best_test_gap_is_the_notebooks_best_epoch_over_the_last(monkeypatch):
    made_up_run(monkeypatch, test_accuracy=[0.5, 0.8, 0.7])
    assert report.best_test_gap(["x"]) == pytest.approx(0.1)
    made_up_run(monkeypatch, test_accuracy=[0.5, 0.6, 0.7])
    assert report.best_test_gap(["x"]) == 0


def test_peak_of_a_cockpit_quantity_and_the_value_nearest_a_step(monkeypatch):
    # per-parameter gradient norms [3, 4] have norm 5
    log = {str(k): {"GradNorm": v, "Loss": loss} for k, v, loss in
           [(0, [0.6, 0.8], 2.3), (4, [3.0, 4.0], 1.0), (8, [1.2, 1.6], 0.5), (12, [0.6, 0.8], 0.4)]}
    made_up_run(monkeypatch, cockpit=log)
    assert report.peak("x", "GradNorm") == (4, pytest.approx(5.0), pytest.approx(0.2))
    assert report.cockpit_value_at("x", "Loss", 5) == pytest.approx(1.0)
    assert report.cockpit_value_at("x", "Loss", 100) == pytest.approx(0.4)


def test_gradient_histogram_shares_read_cockpits_stored_arrays(monkeypatch):
    # Cockpit stores arrays as {"__ndarray__": [...]}; 10 bins from -1 to 1
    edges = {"__ndarray__": [-1 + 0.2 * i for i in range(11)]}
    first = {"GradHist1d": {"edges": edges, "hist": {"__ndarray__": [1, 0, 0, 4, 40, 50, 4, 0, 0, 1]}}}
    second = {"GradHist1d": {"edges": edges, "hist": {"__ndarray__": [0, 0, 0, 0, 50, 50, 0, 0, 0, 0]}}}
    made_up_run(monkeypatch, cockpit={"0": first, "4": second, "8": {"Loss": 1.0}})
    central, edge = report.gradient_histogram_shares("x")
    assert central == pytest.approx((0.9 + 1.0) / 2) and edge == pytest.approx(0.02)
    assert report.histogram_bin_width("x") == pytest.approx(0.2)
    made_up_run(monkeypatch, cockpit={"0": {"Loss": 1.0}})
    with pytest.raises(ValueError, match="no gradient histogram"):
        report.gradient_histogram_shares("x")


def test_the_notebooks_schedule_on_full_svhn_is_what_the_profiles_keep():
    # 10 epochs of ceil(73,257 / 256) = 287 steps at 1.001 per step
    assert report.full_svhn_lr_growth("colleague") == pytest.approx(1.001 ** 2870)
    assert f"{report.full_svhn_lr_growth('colleague'):.1f}x" in report.profile_table()


def test_last_epoch_changes_per_seed_leave_out_runs_with_one_evaluation(monkeypatch):
    from test_faults import fake_runs

    from svhn_debug import runner

    fake_runs(monkeypatch, {"x": [0.5, 0.6]})  # one evaluation each: nothing to compare
    assert report.last_epoch_changes("x") == []
    runs = runner.results("x")
    runs[0].epochs.insert(0, {"epoch": 0, "validation_accuracy": 0.4, "test_accuracy": 0.4})
    monkeypatch.setattr(runner, "results", lambda name, *a, **k: runs)
    assert report.last_epoch_changes("x") == [pytest.approx(0.1)]


def test_a_rejected_change_that_hurts_beyond_noise_is_called_hurting(monkeypatch):
    from svhn_debug import runner
    from svhn_debug.registry import Registry
    from svhn_debug.training import RunResult

    reg = Registry()
    reg.register("base", None, "?", seeds=(1, 2, 3, 4, 5))
    reg.register("worse", "base", "?", seeds=(1, 2, 3, 4, 5), lr=3e-3)
    reg.register("same", "base", "?", seeds=(1, 2, 3, 4, 5), lr=2e-3)
    values = {"base": [0.80, 0.82, 0.84, 0.81, 0.83], "worse": [0.74, 0.79, 0.80, 0.76, 0.78],
              "same": [0.81, 0.80, 0.85, 0.80, 0.83]}

    def results(name, *args, **kwargs):
        return [RunResult(config={}, profile="smoke", seed=seed, steps=[], confusion=None, cockpit=None, meta={},
                          epochs=[{"epoch": 1, "test_accuracy": v, "validation_accuracy": v}], diverged_at=None)
                for seed, v in zip(reg.get(name).seeds, values[name])]
    monkeypatch.setattr(runner, "results", results)
    monkeypatch.setattr(runner, "get", lambda name, *a, **k: reg.get(name))
    assert str(report.verdict("worse")).startswith("not adopted, it hurts beyond seed noise, against `base`")
    assert str(report.verdict("same")).startswith("not adopted against `base`")


def test_the_data_and_budget_are_read_from_the_run(monkeypatch):
    from svhn_debug import runner
    from svhn_debug.registry import Registry
    from svhn_debug.training import RunResult

    reg = Registry()
    reg.register("ref", None, "?", seeds=(0,))
    meta = {"data_fingerprint": "synthetic:abc", "steps_per_epoch": 32, "total_steps": 128, "full_steps": 2870}
    run = RunResult(config={}, profile="cpu", seed=0, steps=[], confusion=None, cockpit=None, meta=meta,
                    epochs=[], diverged_at=None)
    monkeypatch.setattr(runner, "result", lambda name, *a, **k: run)
    monkeypatch.setattr(runner, "get", lambda name, *a, **k: reg.get(name))
    assert str(report.data_and_budget("ref")) == ("generated house numbers, about 8,192 training images, 128 optimizer "
                                                  "steps a run (the exercise's: 2,870 steps on SVHN)")
    assert str(report.data_and_budget("ref", short=True)) == "generated house numbers, 128 steps a run"
    meta["data_fingerprint"] = "svhn:def"
    assert str(report.data_and_budget("ref")).startswith("SVHN, ")
    meta["total_steps"] = 1234
    assert str(report.data_and_budget("ref", short=True)) == "SVHN, 1,234 steps a run"


def test_the_ablation_labels_plateau_runs_and_reads_two_of_them_as_a_tie(monkeypatch):
    from svhn_debug import logbook
    from test_faults import fake_runs

    # removing the bug from a start that predicts one class gives another one-class run: its
    # "change" (19.6% against 22.4%) is which class, not an effect
    fake_runs(monkeypatch, {"fixed": [0.80, 0.82, 0.81, 0.80, 0.82], "start": [0.224] * 5,
                            "b-back": [0.50, 0.52, 0.51, 0.50, 0.52], "b-out": [0.196] * 5})
    monkeypatch.setattr(logbook, "COLLEAGUE_START", "start")
    monkeypatch.setattr(logbook, "BUGS", [{"bug": "b", "fixed": "fixed", "broken": "b-back", "removed": "b-out"}])
    monkeypatch.setattr(report.results, "plateau_seeds", lambda name: tuple(range(5)) if name in ("start", "b-out") else ())
    back, out = report.ablation()
    assert out["both_plateau"] == 5 and out["change"] is None and out["effect"] == "nothing" and out["plateau"] == 5
    assert back["both_plateau"] == 0 and back["effect"] == "hurts"
    table = report.ablation_table()
    assert "| removed: `b-out` | 19.6\u00a0±\u00a00.0 | 5 of 5 | tie | no |" in table
    assert "| 51.0\u00a0±\u00a01.0 | 0 of 5 | -30.0 | yes |" in table  # one line: no-break spaces
    assert ": matters alone, but the other bugs mask its removal | put back: `b-back` |" in table
    # six columns, their headers, and widths that fit a printed page (identifiers whole)
    assert table.splitlines()[:2] == [
        "| bug: what both directions say | run | acc. % | plateau | change | beyond noise |",
        "|:" + "-" * 26 + "|:" + "-" * 30 + "|" + "-" * 12 + ":|" + "-" * 9 + ":|" + "-" * 9 + ":|:" + "-" * 8 + "|"]
    assert report.bug_effects()[0]["reading"] == "matters alone, but the other bugs mask its removal"


def test_the_corpus_sentence_says_what_was_found():
    r = {"scripts": ["a.py", "b.py"], "clean_runs": 3, "planted": 4, "named": 4, "at_expected_step": 4,
         "false_alarms": 0, "measured_on": "2026-12-02"}
    assert str(report.checks_corpus_text(r)) == (
        "On the 3 clean runs of the 2 scripts the checks report nothing, and each script keeps its exit code and its "
        "output; of the 4 planted bugs, 4 are named at the earliest step each rule allows (measured 2026-12-02).")
    worse = dict(r, named=3, at_expected_step=2, false_alarms=1)
    text = str(report.checks_corpus_text(worse))
    assert "1 false alarm," in text and "3 are named (1 later than its rule allows)" in text
    assert "not been measured" in str(report.checks_corpus_text({}))


def test_the_time_to_accuracy_sentence_reads_the_measurement_and_says_when_there_is_none(monkeypatch):
    monkeypatch.setattr(report.results, "time_to_accuracy", lambda: {"every": 8, "ratio": 0.3141})
    text = str(report.time_to_accuracy_text())
    assert "every 8 steps" in text and "accuracy in 0.31 of the course's recipe's own time" in text
    monkeypatch.setattr(report.results, "time_to_accuracy", lambda: {"every": 4, "ratio": None})
    assert "accuracy never, within its budget, of the course's" in str(report.time_to_accuracy_text())
    monkeypatch.setattr(report.results, "time_to_accuracy", lambda: None)
    assert "has not been measured" in str(report.time_to_accuracy_text())


def _diagnosis(findings, data_findings=()):
    return {"findings": [{"code": c, "step": s, "severity": "error", "message": "m."} for c, s in findings],
            "data_findings": [{"code": c, "step": None, "severity": "error", "message": "m."} for c in data_findings],
            "steps_per_epoch": 32}


def test_first_step_is_where_the_monitor_first_raised_that_code(monkeypatch):
    # catches: comparing a finding's code with anything but the code asked for (it once compared
    # with the formatting function report.words.code, so every bug read "not raised")
    monkeypatch.setattr(report.results, "diagnosis", lambda name: _diagnosis(
        [("GRAD_ACCUMULATION", 1), ("LR_GROWTH", 20), ("GRAD_ACCUMULATION", 40)], ["SPLIT_OVERLAP"]))
    assert report.first_step("colleague", "GRAD_ACCUMULATION") == 1
    assert report.first_step("colleague", "LR_GROWTH") == 20
    assert report.first_step("colleague", "SPLIT_OVERLAP") == 0  # a data finding: before training
    assert report.first_step("colleague", "NOT_LEARNING") is None


def test_the_codes_table_lists_every_code_and_leaves_the_formatting_function_alone():
    from svhn_debug.checks import CODES

    table = report.codes_table()
    assert all(f"`{name}`" in table for name in CODES)
    assert callable(report.words.code) and report.words.code("x") == "`x`"


def test_bug_checks_report_each_bugs_check_at_its_first_step(monkeypatch):
    from svhn_debug import logbook

    monkeypatch.setattr(report.results, "diagnosis", lambda name: _diagnosis(
        [("GRAD_ACCUMULATION", 1), ("LR_TOO_SMALL", 20)] if name == "colleague" else [("TRAIN_IN_EVAL_MODE", 33)]))
    rows = {r["code"]: r for r in report.bug_checks()}
    assert rows["GRAD_ACCUMULATION"]["colleague"] == 1 and rows["LR_TOO_SMALL"]["colleague"] == 20
    assert rows["LR_GROWTH"]["colleague"] is None
    trap = rows["TRAIN_IN_EVAL_MODE"]
    assert trap["where it matters"] in logbook.DIAGNOSED and trap["there"] == 33


def test_a_time_to_accuracy_measurement_counts_only_for_the_adopted_recipe_and_its_steps(monkeypatch):
    measured = {"final": "relu-batchnorm", "steps": 704, "every": 8, "ratio": 0.5}
    monkeypatch.setattr(report.results, "bench_result", lambda name: dict(measured) if name == "time_to_accuracy" else None)
    steps = {"relu-batchnorm": 704, "cosine": 704}
    monkeypatch.setattr(runner, "result", lambda name, *a, **k: SimpleNamespace(meta={"total_steps": steps[name]}))
    assert report.results.time_to_accuracy("relu-batchnorm") == measured
    assert report.results.time_to_accuracy("cosine") is None  # measured for another recipe
    steps["relu-batchnorm"] = 128
    assert report.results.time_to_accuracy("relu-batchnorm") is None  # measured at another budget
    steps["relu-batchnorm"] = 704
    del measured["steps"]
    assert report.results.time_to_accuracy("relu-batchnorm") is None  # an old measurement without its steps
    monkeypatch.setattr(report.results, "bench_result", lambda name: None)
    assert report.results.time_to_accuracy("relu-batchnorm") is None


def test_the_dominant_prediction_is_the_fullest_column_of_the_confusion_matrix(monkeypatch):
    # rows: true digit, columns: prediction; the 6 collects 7 of 10 images whatever their labels
    cm = [[0] * 10 for _ in range(10)]
    cm[1][6], cm[6][6], cm[9][6], cm[1][1], cm[2][2], cm[3][6] = 3, 2, 1, 2, 1, 1
    monkeypatch.setattr(runner, "result", lambda name, *a, **k: SimpleNamespace(confusion=cm))
    assert report.dominant_prediction("x") == (6, pytest.approx(0.7))
    assert report.dominant_prediction_share("x") == pytest.approx(0.7)
