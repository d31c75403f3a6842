"""Tables for the chapters, as Markdown: what each shows is said in its docstring and caption."""

from __future__ import annotations

import math

from .. import runner
from .. import stats as stats_module
from ..config import COLLEAGUE, format_changes
from . import words
from . import results
from . import decisions


# "±" between no-break spaces: a table cell keeps "84.2 ± 2.3" on one line (a narrow column
# printed "84.2 ±" over "2.3"); the columns are sized for it.
PM = "\u00a0±\u00a0"


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
        val, test = results.stats(name, "validation_accuracy"), results.stats(name, "test_accuracy")
        rows.append({"experiment": f"`{name}`", "parent": f"`{exp.parent}`" if exp.parent else "(notebook)",
                     "change": _breakable(_as_run(name, _changes(dict(exp.changes)))),
                     "seeds": len(test.values), "validation acc.": words.pct(val.mean), "test acc.": words.pct(test.mean)})
    return markdown_table(rows, align="lllrrr", widths=[28, 28, 18, 6, 11, 9])


def _changes(changes: dict) -> str:
    """Configuration changes as a table shows them: ``lr=1e-5, epochs=10`` (no quotes, and the
    book's one scientific notation where Python writes ``1e-05``)."""
    return words.plain_exponents(format_changes(changes).replace("'", ""))


def _as_run(name: str, change: str) -> str:
    """``change`` with the epochs and steps ``name``'s runs actually made where it sets the
    notebook's epochs (a profile scales them: ``epochs=25`` makes 10 epochs of 320 steps on
    ``cpu``)."""
    if "epochs=" not in change:
        return change
    try:
        meta = runner.result(name).meta
    except runner.MissingRun:
        return change
    return f"{change} ({meta['epochs_run']} run, {meta['total_steps']:,} steps)"


def lineage_table() -> str:
    """Every registered experiment: parent, diff, final test accuracy (mean over seeds)."""
    return changes_table(runner.book().names())


def profile_table() -> str:
    """The three budget profiles: data sizes, epochs and steps of the notebook's run, and the
    per-step factor of its ExponentialLR in that profile."""
    import math

    from ..profiles import PROFILES

    rows = []
    for p in PROFILES.values():
        epochs = p.epochs(COLLEAGUE.epochs)
        steps = epochs * math.ceil(p.n_train / COLLEAGUE.batch_size)
        full = p.full_steps(COLLEAGUE.epochs, COLLEAGUE.batch_size)
        results.growth = COLLEAGUE.lr_growth ** (full / steps)
        rows.append({"profile": f"`{p.name}`", "training images": f"{p.n_train:,}", "epochs (of 10)": epochs,
                     "steps": f"{steps:,}", "ExponentialLR gamma": f"{results.growth:.5f}",
                     "total growth": f"{results.growth ** steps:.1f}x"})
    return markdown_table(rows, align="lrrrrr")


def timing_table(names: list[str]) -> str:
    """Mean seconds per epoch spent training and per evaluation, per experiment (first seed)."""
    rows = []
    for name in names:
        df = runner.result(name).epochs_df
        if df.empty:
            rows.append({"experiment": f"`{name}`", "training s/epoch": "diverged", "s per evaluation": "diverged",
                         "whole run (s)": f"{runner.result(name).meta['seconds']:.0f}"})
            continue
        rows.append({"experiment": f"`{name}`", "training s/epoch": f"{df['train_seconds'].mean():.1f}",
                     "s per evaluation": f"{df['eval_seconds'].mean():.1f}",
                     "whole run (s)": f"{runner.result(name).meta['seconds']:.0f}"})
    return markdown_table(rows, align="lrrr")


def overlap_table(names: list[str]) -> str:
    """Per experiment: split sizes, which pool each comes from, and the share of validation and
    test images that are also training images."""
    from ..data import split_overlap

    rows = []
    for name in names:
        splits = runner.batches_of(name)["splits"]
        rows.append({"experiment": f"`{name}`", "split rule": f"`{runner.get(name).config.split}`",
                     "train": f"{len(splits['train'].labels):,}",
                     "validation (pool)": f"{len(splits['validation'].labels):,} ({splits['validation'].pool})",
                     "test (pool)": f"{len(splits['test'].labels):,} ({splits['test'].pool})",
                     "validation in train": words.pct(split_overlap(splits, "train", "validation"), 0),
                     "test in train": words.pct(split_overlap(splits, "train", "test"), 0)})
    return markdown_table(rows, align="llrrrrr")


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
        rows.append({"experiment": f"`{name}`", "best test (notebook)": words.pct(df["test_accuracy"].max()),
                     "test at best validation": words.pct(at_best_val), "test at last epoch": words.pct(df["test_accuracy"].iloc[-1])})
    return markdown_table(rows, align="lrrr")


def bug_table() -> str:
    """Every demonstrated bug: cause and fix, how it showed, and the accuracy on the yardstick
    (the held-out test images, upright) of the fixed run next to the same run with only this bug
    put back (mean over seeds)."""
    from ..logbook import BUGS

    y = decisions.YARDSTICK
    rows = []
    for b in BUGS:
        fixed, broken = results.stats(b["fixed"], y), results.stats(b["broken"], y)
        rows.append({"bug: cause → fix": f"**{b['bug']}**: {b['cause']} → {b['fix']}", "how it showed": b["symptom"],
                     "fixed": fixed.text() if fixed.diverged else words.pct(fixed.mean),
                     "bug put back": broken.text() if broken.diverged else words.pct(broken.mean),
                     "ablation": f"`{b['broken']}`"})
    return markdown_table(rows, align="llrrl", widths=[42, 22, 9, 11, 16])


def ablation_table() -> str:
    """The both-ways table for the book: per bug and direction, mean ± std accuracy on the
    yardstick, how many seeds ended on the plateau (of how many), the paired change against the
    starting point, whether it lies beyond seed noise, and (in the bug's first cell) what the two
    directions say together. Six columns, so that identifiers and numbers fit a printed page."""
    rows, effects = decisions.ablation(), {e["bug"]: e for e in decisions.bug_effects()}

    def acc(r):
        if r["diverged"]:
            return f"diverged ({r['diverged']} of {r['seeds']})"
        return f"{100 * r['mean']:.1f}{PM}{100 * r['std']:.1f}"
    out = []
    for r in rows:
        if r["change"] is None:
            change = "tie" if r["both_plateau"] else "n/a"
        else:
            change = f"{100 * r['change']:+.1f}"
        back = r["direction"] == "reintroduced"
        out.append({"bug: what both directions say": f"**{r['bug']}**: {effects[r['bug']]['reading']}" if back else "",
                    "run": f"{'put back' if back else 'removed'}: `{r['experiment']}`",
                    "acc. %": acc(r), "plateau": f"{r['plateau']} of {r['seeds']}",
                    "change": change, "beyond noise": "yes" if r["matters"] else "no"})
    return markdown_table(out, align="llrrrl", widths=[27, 31, 13, 10, 10, 9])


def _change_text(name: str, against: str | None = None) -> str:
    """What ``name`` changes against ``against`` (default: its parent): every configuration field
    that differs between the two, with ``name``'s value; a confirmation (no change of its own,
    its screen's configuration) says so."""
    from ..config import config_diff

    exp = runner.get(name)
    base = against or exp.parent
    if not base:
        return _changes(dict(exp.changes))
    diff = {k: new for k, (_, new) in config_diff(runner.get(base).config, exp.config).items() if k != "seed"}
    return _as_run(name, _changes(diff)) + ("" if exp.changes else " (fresh seeds)")


SHORT_OUTCOME = {stats_module.ADOPT: "adopted", stats_module.REJECT: "not adopted",
                 stats_module.CONFIRM: "to confirm", stats_module.DROP: "dropped"}


def _breakable(text: str) -> str:
    """``text`` with invisible break opportunities after ``_``, ``=`` and ``,`` (narrow table
    columns would otherwise overflow on long field names)."""
    for ch in "_=,":
        text = text.replace(ch, ch + "\u200b")
    return text


def _acc_cell(st: results.SeedStats) -> str:
    """Accuracy in percent for a table cell: ``84.2 ± 2.3`` (one seed: ``84.2``)."""
    if st.diverged:
        return f"diverged ({st.diverged} of {st.n})"
    return f"{100 * st.mean:.1f}" + ("" if st.n == 1 else f"{PM}{100 * st.std:.1f}")


def _plateau_cell(name: str) -> str:
    """``"2 of 3"``: how many of ``name``'s seeds ended on the class-prior plateau (``"none"``)."""
    n = len(results.plateau_seeds(name))
    return f"{n} of {results.stats(name).n}" if n else "none"


def decision_table(pairs: list[tuple[str, str]], metric: str = "validation_accuracy") -> str:
    """One row per ``(candidate, starting point)``: the change, the paired seeds, the candidate's
    validation and test accuracy (mean ± std over its seeds, in percent), the paired gain (± its
    standard error), and the rule's decision."""
    rows = []
    for name, base in pairs:
        d = decisions.decision(name, base, metric)
        p = d.paired
        gain = "n/a" if p.mean is None else (f"{100 * p.mean:+.1f}" + ("" if p.stderr is None else f"{PM}{100 * p.stderr:.1f}"))
        rows.append({"candidate against start": f"`{name}` against `{base}`", "change": _breakable(_change_text(name, base)),
                     "paired seeds": p.n, "val. %": _acc_cell(results.stats(name, metric)),
                     "test %": _acc_cell(results.stats(name)), "plateau": _plateau_cell(name),
                     "gain, pts": gain, "decision": SHORT_OUTCOME[d.outcome]})
    # the candidate and its start share a column (a name a line), as wide as the longest name of the
    # book's decisions (`relu-batchnorm`, which identifiers never break); then "89.2 ± 0.9" fits a line
    return markdown_table(rows, align="llrrrlrl", widths=[21, 16, 8, 11, 11, 8, 13, 12])


def findings_table(name: str) -> str:
    """The monitor's and the data checks' findings on experiment ``name``: code, severity, the
    optimizer step it was first raised at (and in which epoch), and what was seen."""
    d = results.diagnosis(name)
    rows = []
    for f in d["findings"] + d["data_findings"]:
        step = "data" if f["step"] is None else f"{f['step']} (epoch {f['step'] // d['steps_per_epoch'] + 1})"
        seen = f["message"].split(". ")[0].rstrip(".") + "."
        rows.append({"code": f"`{f['code']}`", "severity": f["severity"], "first step": step, "what was seen": seen})
    if not rows:
        return "*No findings.*\n"
    return markdown_table(rows, align="llrl", widths=[27, 9, 16, 38])


def bug_checks_table() -> str:
    """:func:`bug_checks` as a table for the book."""
    def at(step):
        return "not raised" if step is None else f"step {step}"
    rows = [{"bug": r["bug"], "check": f"`{r['code']}`" if r["code"] else "no check names it", "on the notebook's run": at(r["colleague"]),
             "where it matters": f"{at(r['there'])} (`{r['where it matters']}`)" if r["where it matters"] else ""}
            for r in results.bug_checks()]
    return markdown_table(rows, align="llll", widths=[30, 22, 16, 24])


def codes_table() -> str:
    """Every code of the health checks with its severity and what it means."""
    from ..checks import CODES

    rows = [{"code": f"`{name}`", "severity": severity, "what it means and what to try": meaning}
            for name, (severity, meaning) in CODES.items()]
    return markdown_table(rows, align="lll", widths=[28, 10, 50])
