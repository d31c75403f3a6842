"""The plateau study's definitions, on constructed curves whose answers are known."""

from __future__ import annotations

import pytest

from svhn_debug import plateau


def run(recipe, seed, accuracies, prior=0.2, every=32):
    return {"recipe": recipe, "seed": seed, "steps": every * len(accuracies), "class_prior": prior,
            "curve": [{"step": every * (i + 1), "test_accuracy": a, "test_loss": None} for i, a in enumerate(accuracies)]}


def test_a_run_escapes_at_its_first_evaluation_ten_points_above_the_prior():
    assert plateau.escape_step(run("r", 0, [0.2, 0.29, 0.30, 0.8])) == 96  # 0.30 = prior + 0.10 counts
    assert plateau.escape_step(run("r", 0, [0.2, 0.29, 0.25])) is None
    assert plateau.escape_step(run("r", 0, [0.45, 0.2], prior=0.35)) == 32


def test_the_converged_value_is_the_mean_of_the_last_ten_evaluations_of_each_run():
    a = run("r", 0, [0.0] * 5 + [0.8] * 10)
    b = run("r", 1, [0.0] * 5 + [0.9] * 9 + [1.0])
    assert plateau.converged_value([a, b]) == pytest.approx((0.8 + 0.91) / 2)
    assert plateau.converged_value([]) is None


def test_the_budget_is_the_first_step_with_every_seed_escaped_by_half_of_it_and_close_to_converged():
    long = [0.2, 0.2, 0.6, 0.7, 0.75, 0.8, 0.82, 0.84] + [0.85] * 10  # escapes at 96, converged 0.85
    runs = [run("reference", 0, long), run("reference", 1, [0.2, 0.2, 0.2, 0.5] + long[4:] + [0.85] * 10),
            run("reference", 2, long[:8])]  # a short seed: its accuracy counts while it lasts
    # seed 1 escapes at 128, so B >= 256; at 256 the mean of seeds 0-2 is 0.84 (within 5 points of 0.85).
    chosen = plateau.choose_budget(runs)
    assert chosen["escapes"] == {0: 96, 1: 128, 2: 96} and chosen["at_least"] == 256
    assert chosen["budget"] == 256 and chosen["seeds"] == [0, 1, 2]


def test_a_short_seed_that_escapes_late_still_sets_the_least_budget():
    long = [0.2, 0.2, 0.6, 0.7] + [0.85] * 14  # escapes at 96, 576 steps
    runs = [run("reference", 0, long), run("reference", 1, [0.2] * 9 + [0.6])]  # escapes at 320 in a 320-step run
    chosen = plateau.choose_budget(runs)
    assert chosen["at_least"] == 640 and chosen["budget"] is None  # the runs end before 640
    assert chosen["converged"] == pytest.approx(0.85)


def test_no_budget_when_a_seed_never_escapes():
    runs = [run("reference", 0, [0.2] * 12), run("reference", 1, [0.2, 0.9] + [0.9] * 10)]
    chosen = plateau.choose_budget(runs)
    assert chosen["budget"] is None and chosen["escapes"][0] is None


def test_the_escape_table_has_a_row_per_recipe_and_a_column_per_seed():
    runs = [dict(run("reference", 1, [0.2, 0.5]), precision="fp32"), dict(run("reference", 0, [0.5]), precision="fp32"),
            dict(run("normalize", 0, [0.2]), precision="fp32")]
    table = plateau.escape_table(runs)
    assert [(r["recipe"], r["precision"]) for r in table] == [("`reference`", "fp32"), ("`normalize`", "fp32")]
    assert table[0]["seed 0"] == "32" and table[0]["seed 1"] == "64" and table[0]["steps run"] == "32, 64"
    assert table[1]["seed 0"] == "never" and table[1]["seed 1"] == ""


def test_the_chapters_facts_count_escapes_within_the_books_budget():
    runs = [dict(run("reference", s, [0.2, 0.2, 0.2, 0.2, 0.5, 0.7] + [0.8] * 12), precision="fp32",
                 profile={"n_test": 1024}) for s in (0, 1)]
    runs.append(dict(run("normalize", 0, [0.2, 0.6, 0.8]), precision="fp32", profile={"n_test": 1024}))
    runs.append(dict(run("reference", 1, [0.2] * 20), precision="bf16", profile={"n_test": 1024}))  # not counted
    f = plateau.facts(runs, book_steps=128)
    ref = f["recipes"]["reference"]
    assert ref["escapes"] == [160, 160] and ref["escaped_by_book"] == 0 and ref["at_book"] == pytest.approx(0.2)
    assert f["recipes"]["normalize"]["escaped_by_book"] == 1 and f["recipes"]["normalize"]["first"] == 64
    assert f["long_seeds"] == 2 and f["long_steps"] == 18 * 32 and f["precision"] == "fp32"
    assert f["contrast"] == [{"seed": 1, "fp32": 160, "fp32_steps": 576, "bf16": None, "bf16_steps": 640}]
    assert f["budget"]["budget"] == 320 and f["test_images"] == [1024]
    assert f["book_steps"] == 128 and f["short_steps"] == 18 * 32
    assert ref["seeds"] == 2 and ref["prior"] == 0.2 and ref["first"] == ref["last"] == 160
    runs.append(dict(run("reference", 0, [0.2, 0.6] + [0.8] * 18), precision="bf16", profile={"n_test": 1024}))
    stuck = plateau.facts(runs, book_steps=128, precision="bf16")["recipes"]["reference"]
    assert stuck["escapes"] == [64, None] and stuck["first"] is None and stuck["last"] is None  # one seed never escapes


def test_the_precision_contrast_pairs_seeds_run_in_both_precisions():
    runs = [dict(run("reference", 0, [0.2, 0.5]), precision="fp32"), dict(run("reference", 0, [0.2] * 4), precision="bf16"),
            dict(run("reference", 1, [0.2, 0.5]), precision="fp32")]
    assert plateau.precision_contrast(runs) == [{"seed": 0, "fp32": 64, "fp32_steps": 64, "bf16": None, "bf16_steps": 128}]
    assert [r["seed"] for r in plateau.of(runs, "reference", "fp32")] == [0, 1]
    assert len(plateau.by_precision(runs, "bf16")) == 1


@pytest.mark.parametrize("budget, at_least, says", [(704, 640, "the rule picks 704 steps (85.0% there)."),
                                                     (None, None, "a seed never escapes"),
                                                     (None, 832, "end at 768 steps, before that")])
def test_the_budget_sentence_says_what_the_rule_picks_or_why_it_cannot(budget, at_least, says):
    study = {"precision": "fp32", "long_steps": 768,
             "budget": {"budget": budget, "at_least": at_least, "mean_accuracy": 0.85}}
    assert says in plateau.budget_sentence(study)


def test_the_budget_waits_until_the_accuracy_is_close_to_converged():
    slow = [0.2, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8] + [0.9] * 11  # escapes at 64; 5 points of 0.9 only at 224+
    chosen = plateau.choose_budget([run("reference", 0, slow)])
    assert chosen["at_least"] == 128 and chosen["budget"] == 256  # 0.8 at 224 is 10 points short; 0.9 at 256


def test_a_seed_that_escapes_exactly_at_the_books_last_step_has_escaped_by_then():
    runs = [dict(run("reference", 0, [0.2, 0.2, 0.2, 0.5] + [0.8] * 12), precision="fp32", profile={"n_test": 1024})]
    assert plateau.facts(runs, book_steps=128)["recipes"]["reference"]["escaped_by_book"] == 1


def test_the_study_figure_has_a_panel_per_recipe_and_precision_and_shows_every_mark():
    from svhn_debug import plots

    runs = [dict(run("reference", 0, [0.2, 0.5]), precision="fp32"), dict(run("reference", 0, [0.2] * 4), precision="bf16"),
            dict(run("normalize", 1, [0.2, 0.6]), precision="bf16"), dict(run("normalize", 2, [0.2, 0.7]), precision="bf16")]
    fig = plots.plateau_study(runs, {"the book's runs": 32, "twice the latest escape": 200})
    # a row per recipe, a column per precision (bfloat16 first); a pair never run says so
    assert [ax.get_title() for ax in fig.axes] == ["reference, bfloat16", "reference, float32", "normalize, bfloat16", ""]
    assert [t.get_text() for t in fig.axes[3].texts] == ["normalize: not run in float32"]
    drawn = [ax for ax in fig.axes if ax.get_title()]
    assert all(ax.get_xlim()[1] >= 200 for ax in drawn)  # a mark beyond a panel's last step stays visible
    assert not fig.axes[3].axison
    # one legend, under the panels, from the panel with the most seeds (it names every seed)
    assert len(fig.legends) == 1 and not any(ax.get_legend() for ax in fig.axes)
    assert [t.get_text() for t in fig.legends[0].get_texts()][:2] == ["seed 1", "seed 2"]


def test_a_gap_exactly_at_the_convergence_limit_counts_as_converged(monkeypatch):
    # catches: "<=" turned into "<" on the convergence gap (binary-exact numbers: 0.875 - 0.8125 = 0.0625)
    monkeypatch.setattr(plateau, "CONVERGED_GAP", 0.0625)
    curve = [0.2, 0.8125] + [0.875] * 10
    chosen = plateau.choose_budget([run("reference", 0, curve)])
    assert chosen["at_least"] == 128 and chosen["budget"] == 128  # accuracy 0.875 at 128: gap 0
    slow = [0.2, 0.8125, 0.8125, 0.8125, 0.8125] + [0.875] * 10
    assert plateau.choose_budget([run("reference", 0, slow)])["budget"] == 128  # gap exactly 0.0625


def test_a_run_that_ends_exactly_at_the_budget_counts_there():
    # catches: ">=" turned into ">" on a run's length: the short seed's accuracy at its last step
    # is what holds the budget back
    long = [0.2, 0.6] + [0.85] * 10  # escapes at 64, 384 steps
    short = [0.2, 0.6, 0.6, 0.6]  # escapes at 64, ends at 128 far from converged
    chosen = plateau.choose_budget([run("reference", 0, long), run("reference", 1, short)])
    assert chosen["budget"] == 160 and chosen["seeds"] == [0]
    assert plateau.not_escaped(0.2999, 0.2) and not plateau.not_escaped(0.30, 0.2) and plateau.not_escaped(None, 0.2)


def test_the_precision_difference_pairs_seeds_at_one_step_with_a_t_interval():
    runs = [dict(run("relu-batchnorm", s, [0.5, a32]), precision="fp32") for s, a32 in enumerate([0.80, 0.82, 0.84])]
    runs += [dict(run("relu-batchnorm", s, [0.5, a16, 0.9]), precision="bf16") for s, a16 in enumerate([0.81, 0.81, 0.86])]
    runs.append(dict(run("relu-batchnorm", 3, [0.5]), precision="fp32"))  # too short for step 64: left out
    runs.append(dict(run("relu-batchnorm", 4, [0.5, 0.7]), precision="bf16"))  # one precision only: left out
    diff = plateau.precision_difference(runs, "relu-batchnorm", 64)
    assert diff["seeds"] == [0, 1, 2]
    assert diff["step"] == 64 and diff["fp32"] == {0: 0.80, 1: 0.82, 2: 0.84}
    assert diff["bf16"] == {0: 0.81, 1: 0.81, 2: 0.86, 4: 0.7}
    gains = [0.01, -0.01, 0.02]
    mean = sum(gains) / 3
    se = (sum((g - mean) ** 2 for g in gains) / 2) ** 0.5 / 3 ** 0.5
    assert diff["mean"] == pytest.approx(mean)
    assert diff["high"] - diff["mean"] == pytest.approx(4.302653 * se, rel=1e-5)  # t(0.975, 2 df)
    assert diff["low"] == pytest.approx(mean - 4.302653 * se, rel=1e-5)
    one = plateau.precision_difference(runs[:1] + runs[3:4], "relu-batchnorm", 64)
    assert one["seeds"] == [0] and one["low"] is None and one["high"] is None
