"""Each chapter's numbers and word choices, computed from the cached runs by one function per
chapter, with the guards of its sentences declared beside them as data.

A chapter's first cell calls its function (``f = facts.tuning()``); its prose reads named values
(``{python} f.promoted_text``). Every :class:`Claim` a function declares is checked by one
mechanism, :func:`svhn_debug.report.claim`, when the function runs: a sentence the cached runs
stop supporting stops the render.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from . import report


@dataclass(frozen=True)
class Claim:
    """A sentence of a chapter (``text``) and whether the cached runs support it (``holds``)."""

    text: str
    holds: bool


class Facts(SimpleNamespace):
    """Named values for one chapter's prose; ``claims`` are its guarded sentences."""


def checked(chapter: str, claims: list[Claim], **values) -> Facts:
    """Check every claim of ``chapter`` (:func:`svhn_debug.report.claim`), then return its values."""
    for c in claims:
        report.claim(c.holds, chapter, c.text)
    return Facts(claims=claims, **values)


def tuning() -> Facts:
    """Chapter 6 (tuning): the screens, the confirmations, the bars and the longer run."""
    import numpy as np

    from . import runner as ex
    from . import stats as rule
    from .config import config_diff
    from .logbook import CONFIRM_SEEDS, CONFIRMED, REFERENCE, REFERENCE_LEARNING

    c, num, pct = report.code, report.num, report.pct
    s = lambda n: report.stats(n)  # noqa: E731
    v = lambda n: report.stats(n, "validation_accuracy")  # noqa: E731
    path = report.ladder()
    final, rb = path[-1], "relu-batchnorm"
    screens = ["warmup-linear", "label-smoothing", "nesterov", "decay-weights", "shift", "augment", "tta", "lr-2e-3",
               "cosine"]
    screened = {n: report.decision(n, rb) for n in screens}
    promoted = [n for n in screens if screened[n].outcome == rule.CONFIRM]
    confirmed = {n: report.decision(n, rb) for n in CONFIRMED}
    held = [n for n in CONFIRMED if confirmed[n].adopted]
    ref_screens = ["reference-normalize", "reference-lr-1e-3", "reference-bn-hidden"]
    screen_acc = {n: ex.result(n).final() for n in ref_screens}  # seed 0: one screen each
    learners = [n for n in ref_screens if screen_acc[n] is not None and not report.ends_on_plateau(ex.result(n))]
    bar = report.against_bar(final, REFERENCE)
    rb_decision = report.decision(rb, "normalize")
    bar_learning_seeds = (s(REFERENCE_LEARNING).n - s(REFERENCE_LEARNING).diverged
                          - len(report.plateau_seeds(REFERENCE_LEARNING)))
    nxt = path[path.index(rb) + 1] if rb in path and path.index(rb) + 1 < len(path) else None
    normalize_plateau = report.plateau_epochs("normalize")
    rb_changes = report.last_epoch_changes(rb)
    differs = set(config_diff(ex.get(REFERENCE).config, ex.get(rb).config))
    final_run = ex.result(final)
    reference_on_plateau = len(report.plateau_seeds(REFERENCE)) == s(REFERENCE).n

    tta_text = report.time_to_accuracy_text(reference_on_plateau)

    claims = [
        Claim("normalize spends the same number of epochs on the plateau on every seed",
              len(set(normalize_plateau)) == 1 and normalize_plateau[0] >= 1),
        Claim("ReLU alone and BatchNorm alone stay on the class-prior plateau",
              all(len(report.plateau_seeds(n)) == s(n).n for n in ("relu", "batchnorm"))),
        Claim("the course's recipe differs from relu-batchnorm in the inputs, the rate and the hidden BatchNorm",
              differs == {"normalize", "lr", "bn_hidden"}),
        Claim("the course's recipe stays on the plateau on every seed; with BatchNorm after the hidden layer it learns",
              reference_on_plateau and bar_learning_seeds >= 1),
        Claim("the confirmations ran on fresh seeds, without the screens' seed",
              all(set(r.seed for r in ex.results(n)) == set(CONFIRM_SEEDS) for n in CONFIRMED) and 0 not in CONFIRM_SEEDS),
        Claim("the adopted recipe's figures show a falling loss, a rising accuracy and a strong diagonal",
              final_run.epochs[-1]["train_loss"] < final_run.epochs[0]["train_loss"]
              and final_run.epochs[-1]["validation_accuracy"] > final_run.epochs[0]["validation_accuracy"]
              and min(report.confusion_rate(final, d, d) for d in range(10)) > 0.5),
        Claim("relu-batchnorm's mean validation accuracy still rises in its last epoch",
              (float(np.mean(rb_changes)) if rb_changes else 0.0) > 0),
        Claim("training accuracy ends above validation accuracy",
              report.stats(rb, "train_accuracy").mean > v(rb).mean
              and report.stats("longer-run", "train_accuracy").mean > v("longer-run").mean),
    ]
    Inline = report.Inline
    return checked(
        "Chapter 6", claims,
        s=s, v=v, rule=rule, REFERENCE=REFERENCE, REFERENCE_LEARNING=REFERENCE_LEARNING, CONFIRMED=CONFIRMED,
        final=final, rb=rb, rb_decision=rb_decision, screens=screens, promoted=promoted, held=held,
        ref_chance=report.majority_share(REFERENCE), bar=bar,
        bar_learning_seeds=bar_learning_seeds,
        bar_learning_reading=Inline(": whether the course's recipe leaves the plateau on this budget is a matter of "
                                    "the seed." if 0 < bar_learning_seeds < s(REFERENCE_LEARNING).n else "."),
        trap_cost=Inline("So the trap costs accuracy even on this short budget." if report.matters("ablate-eval-mode", rb)[1]
                         else "On this budget the trap costs little: after one epoch the running averages are close to "
                              "the batch statistics, so the frozen normalisation still trains."),
        arch_screens=Inline("; ".join(f"{c(n)} {report.OUTCOME_WORDS[report.decision(n).outcome]}"
                                      for n in ("relu", "batchnorm", "batchnorm-restore"))),
        ref_screen_text=Inline("; ".join(f"{c(n)} ends at {pct(screen_acc[n])}" for n in ref_screens)),
        learners_text=Inline((("Only " if len(learners) == 1 else "") + ", ".join(c(n) for n in learners)
                              + (" leaves" if len(learners) == 1 else " leave") + " the plateau.")
                             if learners else "None of them leaves the plateau."),
        promoted_text=Inline(", ".join(c(n) for n in promoted) if promoted else "none"),
        held_text=Inline(", ".join(c(n) for n in held) + (" holds." if len(held) == 1 else " hold.")
                         if held else "None of them holds:"),
        not_held_text=Inline("; ".join(f"{c(n)} is {report.verdict(n, rb)}" for n in CONFIRMED if n not in held)
                             or "Every confirmation holds."),
        path_text=Inline(f"The path takes {c(nxt)}, the first adopted step from {c(rb)}; the rule decides one step at a "
                         "time, so a second adopted change would be a candidate for the next round, against the new "
                         "baseline." if nxt else f"The path ends at {c(final)}."),
        tta_text=Inline(tta_text),
        fresh=Inline(f"{num(len(CONFIRM_SEEDS))} fresh seeds ({num(min(CONFIRM_SEEDS))} to {num(max(CONFIRM_SEEDS))})"),
        normalize_plateau=normalize_plateau, rb_changes=rb_changes,
        rb_last_step=float(np.mean(rb_changes)) if rb_changes else 0.0,
        epochs_ratio=ex.get("longer-run").config.epochs / ex.get(rb).config.epochs,
    )


def checks() -> Facts:
    """Chapter 8 (the health checks): the saved diagnoses of the notebook's run, the trap and the
    adopted recipe, and the monitor's measured cost."""
    import numpy as np

    c = report.code
    col, trap = report.diagnosis("colleague"), report.diagnosis("ablate-eval-mode")
    final = report.final_recipe()
    fin = report.diagnosis(final)
    rows = report.bug_checks()
    seen = [r for r in rows if r["colleague"] is not None]
    per_epoch = col["steps_per_epoch"]
    latest = max((r["colleague"] for r in seen), default=None)
    found_fin = fin["findings"] + fin["data_findings"]
    not_learning = report.first_step("colleague", "NOT_LEARNING")
    overhead = report.bench_result("checks_overhead")
    eval_mode_at = report.first_step("ablate-eval-mode", "TRAIN_IN_EVAL_MODE")
    if overhead:
        verdict = ("the monitored runs were not slower, so no cost is measurable against the noise of this machine; "
                   "within the goal of 5%." if overhead["overhead"] <= 0 else
                   "within the goal of 5%." if overhead["overhead"] <= 0.05 else "above the goal of 5%.")
        overhead_text = (f"On {c(overhead['experiment'])}, {overhead['repeats']} alternating repeats of {overhead['steps']} "
                         f"steps with and without the monitor ({c('bench/checks_overhead.py')}, measured "
                         f"{overhead.get('measured_at', 'earlier')[:10]}) put the median training step at "
                         f"{np.median(overhead['plain_ms_per_step']):.1f} ms without and "
                         f"{np.median(overhead['monitored_ms_per_step']):.1f} ms with it, a difference of "
                         f"{100 * overhead['overhead']:+.1f}%: " + verdict)
    else:
        overhead_text = f"The overhead has not been measured on this machine yet ({c('python bench/checks_overhead.py')})."
    Inline = report.Inline
    return checked(
        "Chapter 8", [],
        col=col, trap=trap, final=final, per_epoch=per_epoch,
        first_epoch=bool(seen) and latest < per_epoch,
        eval_mode_at=eval_mode_at,
        seen_codes=Inline(", ".join(c(r["code"]) for r in seen) or "nothing"),
        answer=Inline(f"{'Yes' if seen else 'No'}, {len(seen)} of the {len(rows)} bugs"),
        adopted_findings=Inline("no finding" if not found_fin else f"{len(found_fin)} finding(s)"),
        last_text=Inline(f"The last of them is raised at step {latest}, "
                         + ("inside the first epoch." if bool(seen) and latest < per_epoch
                            else f"after the first epoch of {per_epoch} steps.") if seen else "None of them is raised."),
        eval_mode_text=Inline("never raised" if eval_mode_at is None else f"raised at step {eval_mode_at}"),
        not_learning_text=Inline(f"The loss itself says it later: {c('NOT_LEARNING')} needs {not_learning} steps of a "
                                 "loss at the level of guessing, which is a symptom and names no cause."
                                 if not_learning is not None else
                                 f"The loss alone never raised {c('NOT_LEARNING')} on this run."),
        final_text=Inline("It gets none, over its whole run." if not found_fin else
                          "It gets " + ", ".join(c(f["code"]) for f in found_fin) + ": " + found_fin[0]["message"]),
        overhead_text=Inline(overhead_text),
    )


def reproduce() -> Facts:
    """Chapter 1 (reproducing the failure): the notebook's run, the data, and the plateau study
    behind the budget."""
    from . import plateau
    from . import runner as ex
    from .profiles import active_profile, get_profile
    from .synthetic import PARAMS as SYNTHETIC

    run = ex.result("colleague")
    pools = ex.pools()
    majority = report.majority_share("colleague")
    lr_first, lr_last = run.steps[0]["lr"], run.steps[-1]["lr"]
    loss_first, loss_last = run.steps[0]["loss"], run.steps[-1]["loss"]
    grad_growth = report.growth(run, "GradNorm")
    epoch_loss = report.epoch_losses("colleague")
    study_runs = plateau.load(report.bench_result("plateau_study", "cpu"))
    book_steps = ex.result("reference").meta["total_steps"]
    study = plateau.facts(study_runs, book_steps, precision="bf16")
    ref_study, chosen, contrast = study["recipes"]["reference"], study["budget"], study["contrast"]
    best = study["recipes"].get("relu-batchnorm")
    withdrawn = plateau.load(report.bench_result("plateau_study_withdrawn", "cpu"))
    cached = report.bench_result("bf16_weight_cache", "cpu")["runs"]
    first_move = {mode: r["losses"][1] - r["losses"][0] for mode, r in cached.items()}
    equal = plateau.precision_difference(study_runs, "relu-batchnorm",
                                         min(r["steps"] for r in plateau.of(study_runs, "relu-batchnorm", "fp32")))
    tracked = dict(run.meta["cockpit_quantities"])
    claims = [
        Claim("nearly every image is predicted as the same class", report.dominant_prediction_share("colleague") > 0.9),
        Claim("the test accuracy is almost exactly the share of the most common digit", abs(run.final() - majority) < 0.01),
        Claim("the loss does not fall (last mini-batch above the first, last epoch not below the first)",
              loss_last > loss_first and epoch_loss[-1] >= epoch_loss[0]),
        Claim("the learning rate grows, and the gradient norm grows to the end of the run",
              lr_last > lr_first and grad_growth > 10 and report.peak("colleague", "GradNorm")[2] == 1),
        Claim("no seed of the course's recipe leaves the plateau within the book's budget, and every seed leaves it later",
              ref_study["escaped_by_book"] == 0 and ref_study["last"] is not None),
        Claim("the rule's budget is at least twice the latest escape, and undecided only when the runs end before it",
              chosen["at_least"] is not None and (chosen["budget"] is None) == (chosen["at_least"] > study["long_steps"])),
        Claim("no withdrawn bfloat16 run (weight cache on) ever left the plateau",
              len(withdrawn) >= 3 and all(plateau.escape_step(r) is None for r in withdrawn)),
        Claim("the first update moves the loss in bfloat16 as in float32, and with the weight cache hardly at all",
              first_move["fp32"] > 1 and abs(first_move["bf16"] - first_move["fp32"]) < 0.1 * first_move["fp32"]
              and abs(first_move["bf16-cached"]) < 0.05),
        Claim("every seed run in both precisions escapes in both",
              len(contrast) >= 3 and all(c["fp32"] is not None and c["bf16"] is not None for c in contrast)),
        Claim("the precision comparison pairs at least five seeds", len(equal["seeds"]) >= 5),
        Claim("the notebook tracks five quantities, alpha every tenth step and the others every step",
              len(tracked) == 5 and tracked["Alpha"] == 10 and all(k == 1 for q, k in tracked.items() if q != "Alpha")),
    ]
    return checked(
        "Chapter 1", claims,
        run=run, pools=pools, profile=active_profile(), full=get_profile("full"), SYNTHETIC=SYNTHETIC, plateau=plateau,
        shares=report.label_shares(pools.train_labels), majority=majority, lr_first=lr_first, lr_last=lr_last,
        loss_first=loss_first, loss_last=loss_last, grad_growth=grad_growth, epoch_loss=epoch_loss,
        study_runs=study_runs, study=study, ref_study=ref_study, chosen=chosen, contrast=contrast,
        withdrawn=withdrawn, withdrawn_best=max(p["test_accuracy"] for r in withdrawn for p in r["curve"]),
        cached=cached, equal=equal,
        bf16_speedup=report.bench_result("loop_speed", "cpu")["bf16_speedup"],
        best_text=report.Inline(
            f"The book's best recipe, `relu-batchnorm`, leaves the plateau between step {best['first']} and step "
            f"{best['last']} on its {best['seeds']} seeds (bfloat16, runs of {', '.join(f'{n:,}' for n in best['steps'])} "
            f"steps), on {best['escaped_by_book']} of them within the book's {study['book_steps']} steps."
            if best and best["last"] is not None else
            "The book's best recipe has not been run in the study yet, or one of its seeds never left the plateau."),
    )



def iteration() -> Facts:
    """Chapter 2 (iterating faster): the lean loop and the batched pipeline against the notebook's."""
    from . import runner as ex

    colleague, tensor, lean = ex.result("colleague"), ex.result("colleague-tensor"), ex.result("lean")
    same_trajectory = report.max_step_loss_difference("colleague-tensor", "lean")
    speedup = colleague.meta["seconds"] / lean.meta["seconds"]
    saved = colleague.meta["seconds"] - lean.meta["seconds"]
    saved_by_instruments = tensor.meta["seconds"] - lean.meta["seconds"]
    claims = [
        Claim("the lean loop leaves every training step unchanged",
              same_trajectory == 0),
        Claim("both the lean loop and the batched pipeline save time",
              0 < saved_by_instruments < saved),
        Claim("the batched pipeline's run ends where the notebook's does",
              abs(tensor.final() - colleague.final()) < 0.01),
    ]
    return checked(
        "Chapter 2", claims,
        colleague=colleague, tensor=tensor, lean=lean, same_trajectory=same_trajectory, speedup=speedup,
        saved=saved, saved_by_instruments=saved_by_instruments,
    )



def code_review() -> Facts:
    """Chapter 3 (reading the code): the optimizer-protocol bugs, one change at a time."""
    from . import runner as ex

    names = ["zero-grad", "accumulating-lr-1e-3", "lr-1e-3", "constant-lr"]
    runs = {n: ex.result(n) for n in names}
    prior_loss = report.label_entropy("lean")
    acc_loss = report.last_loss("accumulating-lr-1e-3")
    clean_loss = report.last_loss("lr-1e-3")
    settled = [n for n in names if abs(report.last_loss(n) - prior_loss) < 0.1]  # within 0.1 nats of the prior
    settled_loss = sum(report.last_loss(n) for n in settled) / len(settled)  # no such run: the entry cannot render
    low_epoch, low_loss, rise = report.late_rise("lr-1e-3")
    _, _, rise_constant = report.late_rise("constant-lr")
    zero_grad_start = ex.result("zero-grad").steps[0]["loss"]
    claims = [
        Claim("with cleared gradients at 1e-5 the loss ends barely below where it started",
              0 < zero_grad_start - report.last_loss("zero-grad") < 0.1),
        Claim("without zero_grad the larger rate makes the loss explode",
              acc_loss > 10 * clean_loss),
        Claim("with the growing schedule the loss of lr-1e-3 rises again after its lowest epoch",
              rise > 0.02 and low_epoch < len(report.epoch_losses("lr-1e-3"))),
        Claim("with a constant rate the late rise is gone",
              rise_constant < 0.01),
        Claim("none of the loop fixes lifts the test accuracy above the class prior",
              all(report.ends_on_plateau(runs[n]) for n in names)),
    ]
    return checked(
        "Chapter 3", claims,
        names=names, runs=runs, prior_loss=prior_loss, acc_loss=acc_loss, clean_loss=clean_loss,
        settled=settled, settled_loss=settled_loss, low_epoch=low_epoch, low_loss=low_loss, rise=rise,
        rise_constant=rise_constant, zero_grad_start=zero_grad_start,
    )



def data() -> Facts:
    """Chapter 4 (the data): the rotation, the leaking split and the input scale, measured."""
    from . import runner as ex

    colleague_view = ex.batches_of("lean")
    no_rot, sound = ex.result("no-rotation"), ex.result("sound-split")
    rot_train = ex.result("rotate-train-only")
    fixed = report.stats("normalize")
    eval_rot = report.stats("ablate-eval-rotation")
    leaky = report.stats("ablate-split")
    nine_as_six = report.confusion_rate("ablate-rotation", 9, 6)
    nine_as_six_fixed = report.confusion_rate("normalize", 9, 6)
    nines_right = report.confusion_rate("ablate-rotation", 9, 9)
    lean = ex.result("lean")
    eval_rot_effect, eval_rot_matters = report.matters("ablate-eval-rotation", "normalize")
    leak_effect, leak_matters = report.matters("ablate-split", "normalize")
    bench_names = ["no-rotation", "sound-split", "normalize", "ablate-split", "longer-run"]
    best_gap = report.best_test_gap(bench_names)
    claims = [
        Claim("the notebook's pipeline rotates the images of all three splits",
              lean.config["train_transform"] == lean.config["eval_transform"] == "rotate180"),
        Claim("upright evaluation alone changes nothing",
              abs(rot_train.final() - lean.final()) < 0.01),
        Claim("without rotation the network leaves the plateau in the last epoch of the budget",
              report.plateau_epochs("no-rotation") == [len(no_rot.epochs) - 1] and not report.ends_on_plateau(no_rot)),
        Claim("rotated evaluation images cost the fixed network accuracy beyond seed noise",
              eval_rot_matters and eval_rot_effect.mean < 0),
        Claim("with rotations more 9s are read as 6s",
              nine_as_six > nine_as_six_fixed),
        Claim("while the network underfits, the leak is invisible",
              abs(sound.final() - no_rot.final()) < 0.03),
        Claim("once the network learns, the leak flatters it beyond seed noise",
              leak_matters and leak_effect.mean > 0),
        Claim("with normalised inputs the plateau is gone after the first epoch, on every seed",
              max(report.plateau_epochs("normalize")) <= 1),
        Claim("every evaluation image is a training image with the notebook's split, none with the sound one",
              report.split_overlaps("lean") == (1.0, 1.0) and report.split_overlaps("sound-split") == (0.0, 0.0)),
    ]
    return checked(
        "Chapter 4", claims,
        colleague_view=colleague_view, no_rot=no_rot, sound=sound, rot_train=rot_train, fixed=fixed,
        eval_rot=eval_rot, leaky=leaky, nine_as_six=nine_as_six, nine_as_six_fixed=nine_as_six_fixed,
        nines_right=nines_right, eval_rot_effect=eval_rot_effect,
        leak_effect=leak_effect, bench_names=bench_names, best_gap=best_gap,
    )



def cockpit() -> Facts:
    """Chapter 5 (Cockpit): the instruments on the broken and the fixed run."""
    from . import runner as ex
    from . import plots
    import numpy as np

    broken, fixed, bn = ex.result("colleague"), ex.result("cockpit-fixed"), ex.result("cockpit-batchnorm")
    same = report.max_step_loss_difference("normalize", "cockpit-fixed")
    tests = {q: report.cockpit_mean("cockpit-fixed", q) for q in ("NormTest", "InnerTest", "OrthoTest")}
    tests_pass = all(v < 1 for v in tests.values())
    alpha_before, alpha_after = report.cockpit_mean("colleague", "Alpha"), report.cockpit_mean("cockpit-fixed", "Alpha")
    peak_step, peak_growth, end_of_peak = report.peak("cockpit-fixed", "GradNorm")
    loss_start, loss_at_peak = (report.cockpit_value_at("cockpit-fixed", "Loss", k) for k in (0, peak_step))
    loss_end = report.cockpit_value_at("cockpit-fixed", "Loss", fixed.meta["total_steps"])
    central, edge = report.gradient_histogram_shares("cockpit-fixed")
    bin_width = report.histogram_bin_width("cockpit-fixed")
    lr_gains = {n: report.paired_gains(n, "normalize") for n in ("lr-3e-4", "lr-3e-3")}
    claims = [
        Claim("the colleague's gradient norm grows to the end; the fixed run's peaks while its loss falls and sinks after",
              report.peak("colleague", "GradNorm")[2] == 1 and end_of_peak < 0.9 and loss_at_peak < loss_start - 0.5 and loss_end < loss_at_peak),
        Claim("the distance from the initialisation grows steadily",
              all((np.diff(plots.cockpit_series(r, "Distance")[1]) > 0).all() for r in (broken, fixed))),
        Claim("the colleague's alpha is near minus one, the fixed run's slightly above zero",
              alpha_before < -0.8 and 0 < alpha_after < 0.5),
        Claim("one-seed screens of both neighbouring rates do worse than 1e-3",
              all(len(g) == 1 and g[0] < 0 for g in lr_gains.values())),
        Claim("the fixed run tracks Cockpit's economy preset every fourth step",
              fixed.config["cockpit"] == "economy" and fixed.config["cockpit_interval"] == 4),
        Claim("the gradient elements concentrate around zero, with a thin tail at the histogram's edges",
              central > 0.9 and edge < 1e-4),
    ]
    return checked(
        "Chapter 5", claims,
        broken=broken, fixed=fixed, bn=bn, same=same, tests=tests, tests_pass=tests_pass,
        alpha_before=alpha_before, alpha_after=alpha_after, peak_step=peak_step, peak_growth=peak_growth,
        end_of_peak=end_of_peak, loss_start=loss_start, loss_at_peak=loss_at_peak, loss_end=loss_end,
        central=central, edge=edge, bin_width=bin_width, lr_gains=lr_gains,
    )



def summary() -> Facts:
    """Chapter 9 (summary): the path, the bugs' effects and the bars."""
    from .logbook import BUGS, REFERENCE, REFERENCE_LEARNING

    path = report.ladder()
    final = path[-1]
    start, end = report.stats(path[0]), report.all_seeds(final)
    effects = report.bug_effects()
    alone = [e["bug"] for e in effects if e["alone"]]
    masked = [e["bug"] for e in effects if e["alone"] and e["removal"] == "nothing"]
    worse = [e["bug"] for e in effects if e["removal"] == "hurts"]
    bar = report.against_bar(final, REFERENCE)
    c = report.code
    path_text = report.Inline(" → ".join(c(n) for n in path))
    tta_text = report.time_to_accuracy_text()
    claims = [
    ]
    return checked(
        "Chapter 9", claims,
        BUGS=BUGS, REFERENCE=REFERENCE, REFERENCE_LEARNING=REFERENCE_LEARNING, final=final,
        start=start, end=end, effects=effects, alone=alone, masked=masked, worse=worse, bar=bar,
        path_text=path_text, tta_text=tta_text,
    )



def running() -> Facts:
    """Appendix A (running the book): what the cache holds and how it was computed."""
    from . import runner as ex
    from .profiles import active_profile

    summary = report.cache_summary()
    profile = active_profile()
    threads = sorted({exp.config.threads for exp in ex.book()})
    module_list = report.Inline(", ".join(f"`{m}`" for m in summary["modules"]))
    claims = [
    ]
    return checked(
        "Appendix A", claims,
        summary=summary, profile=profile, threads=threads,
        module_list=module_list,
    )



def exam() -> Facts:
    """Chapter 7 (the exam question): the two rules' searches at both horizons, and their best settings on fresh seeds."""
    from .logbook import EXAM_BEST, EXAM_TRIALS

    seeds = report.stats("normalize")
    rk = report.exam_rankings()
    a, b = rk["rules"]
    fresh = {r: report.stats(f"exam-{r}-best", "validation_accuracy") for r in rk["rules"]}
    picked = {r: report.trial_value(rk["long_best"][r]) for r in rk["rules"]}
    optimism = {r: None if fresh[r].mean is None or picked[r] is None else picked[r] - fresh[r].mean for r in rk["rules"]}
    gap = None if None in picked.values() else abs(picked[a] - picked[b])
    spreads = {r: fresh[r].spread for r in rk["rules"]}
    names = {"adam": "Adam", "sgd": "SGD with Nesterov momentum"}
    worse_retunes = [r for r in rk["rules"] if None not in (rk["values"]["retuned"][r], rk["values"]["read_off"][r])
                     and rk["values"]["retuned"][r] < rk["values"]["read_off"][r]]
    retune_note = report.Inline(
        " ".join(f"For {names[r]}, the search at the short horizon found a worse setting "
                 f"({report.pct(rk['values']['retuned'][r])}) than the long search's best read at that epoch "
                 f"({report.pct(rk['values']['read_off'][r])}): {EXAM_TRIALS} random trials are noisy too, and the tuning "
                 "budget is part of the comparison." for r in worse_retunes)
        or "Both searches at the short horizon found settings at least as good as the long searches' best read at that epoch.")
    max_note = report.Inline(
        f"The maximum over {EXAM_TRIALS} noisy trials is, on average over the two rules, "
        f"{report.points(sum(optimism.values()) / 2)} {'above' if sum(optimism.values()) > 0 else 'below'} what the same "
        "setting gives on new seeds." if None not in optimism.values() else
        "A run diverged, so the optimism of the best trials cannot be averaged.")
    Inline, points = report.Inline, report.points
    values_text = {h: Inline(", ".join(f"{names[r]} {report.pct(rk['values'][h][r])}" for r in rk["rules"]))
                   for h in ("long", "read_off", "retuned")}
    picked_text = Inline("; ".join(
        f"{names[r]}: the trial scored {report.pct(picked[r])}, its setting on fresh seeds {fresh[r].text()}"
        + ("" if optimism[r] is None else f", {points(optimism[r])} {'lower' if optimism[r] > 0 else 'higher'}")
        for r in rk["rules"]))
    if gap is not None and None not in spreads.values():
        gap_text = Inline(
            f"The two winning single runs differ by {points(gap)}; the same setting on {fresh[a].n} fresh seeds spans "
            f"{points(spreads[a])} ({names[a]}) and {points(spreads[b])} ({names[b]}). "
            + ("A gap of that size between single curves says nothing about which rule is better."
               if gap <= max(spreads.values()) else
               "Here the gap is larger than either spread, so it survives the seeds; with one run each, nobody could "
               "have known that."))
    else:
        gap_text = Inline("A run diverged, so the gap and the spreads cannot be compared.")
    claims = [  # the fresh-seed runs must repeat the search's best trial
        Claim(f"the fresh-seed runs exam-{r}-best repeat the best long-horizon trial of {r} ({EXAM_BEST[r]})",
              report.exam_best(r, "long") == EXAM_BEST[r]) for r in rk["rules"]
    ]
    return checked(
        "Chapter 7 (sec-exam)", claims,
        seeds=seeds, EXAM_TRIALS=EXAM_TRIALS, rk=rk, b=b,
        names=names,
        retune_note=retune_note, max_note=max_note, values_text=values_text,
        picked_text=picked_text, gap_text=gap_text,
    )
