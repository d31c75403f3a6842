"""The class-prior plateau, measured: definitions and read-outs of the budget study.

``bench/plateau_study.py`` trains recipes far beyond the book's budget and evaluates a fixed test
subset after every epoch; its result (``cache/bench/plateau_study-cpu.json``) is read here. The
definitions are fixed before the runs and applied as stated:

- the **class prior** is the share of the most common digit in the evaluated test subset: what a
  network that predicts one class for every image scores;
- a run **escapes** at the first evaluation whose test accuracy is at least the prior plus
  :data:`ESCAPE_MARGIN` (10 points: more than 7 standard errors of an accuracy on 1,024 images);
- a recipe's **converged value** is the mean, over its long runs, of the mean test accuracy of
  their last :data:`CONVERGED_EVALS` evaluations;
- the **budget** to choose is the smallest step count ``B`` on the evaluation grid at which every
  seed of the course's recipe has escaped by ``B / 2`` (at least half of the run left to learn)
  and its mean test accuracy at ``B`` is within :data:`CONVERGED_GAP` (5 points) of its
  converged value.
"""

from __future__ import annotations

import statistics

ESCAPE_MARGIN = 0.10
CONVERGED_EVALS = 10
CONVERGED_GAP = 0.05
RECIPES = {"reference": "the course's recipe", "relu-batchnorm": "the book's best recipe",
           "normalize": "the notebook with its bugs fixed"}
"""The recipes the study trains, with what each is."""
PRECISION_NAMES = {"fp32": "float32", "bf16": "bfloat16"}
"""How the book names each precision of ``svhn_debug.precision``."""


def not_escaped(accuracy: float | None, class_prior: float) -> bool:
    """Whether an evaluation lies on the class-prior plateau: accuracy below the prior plus
    :data:`ESCAPE_MARGIN` (or no accuracy). The book's one definition of "on the plateau"."""
    return accuracy is None or accuracy < class_prior + ESCAPE_MARGIN - 1e-12


def escape_step(run: dict) -> int | None:
    """First evaluated step at least :data:`ESCAPE_MARGIN` above the class prior (``None``: never)."""
    for point in run["curve"]:
        if not not_escaped(point["test_accuracy"], run["class_prior"]):
            return point["step"]
    return None


def accuracy_at(run: dict, step: int) -> float | None:
    """Test accuracy at the evaluation at ``step`` (``None``: not evaluated there)."""
    for point in run["curve"]:
        if point["step"] == step:
            return point["test_accuracy"]
    return None


def converged_value(runs: list[dict]) -> float | None:
    """Mean over ``runs`` of their last :data:`CONVERGED_EVALS` test accuracies (``None``: no runs)."""
    if not runs:
        return None
    return statistics.mean(statistics.mean(p["test_accuracy"] for p in r["curve"][-CONVERGED_EVALS:]) for r in runs)


def of(runs: list[dict], recipe: str, precision: str | None = None) -> list[dict]:
    """The runs of ``recipe`` (in ``precision`` only, when given), by seed."""
    return sorted((r for r in runs if r["recipe"] == recipe and precision in (None, r.get("precision"))),
                  key=lambda r: r["seed"])


def by_precision(runs: list[dict], precision: str) -> list[dict]:
    """The runs made in ``precision`` (``fp32`` or ``bf16``)."""
    return [r for r in runs if r.get("precision") == precision]


def precision_contrast(runs: list[dict], recipe: str = "reference") -> list[dict]:
    """Seed by seed, ``recipe``'s escape step in float32 and in bfloat16 (``None``: never within
    the run) and the steps each run made, for the seeds run in both precisions."""
    fp32 = {r["seed"]: r for r in of(runs, recipe, "fp32")}
    bf16 = {r["seed"]: r for r in of(runs, recipe, "bf16")}
    return [{"seed": s, "fp32": escape_step(fp32[s]), "fp32_steps": fp32[s]["steps"],
             "bf16": escape_step(bf16[s]), "bf16_steps": bf16[s]["steps"]} for s in sorted(fp32.keys() & bf16.keys())]


def precision_difference(runs: list[dict], recipe: str, step: int) -> dict:
    """Seed by seed, ``recipe``'s test accuracy at ``step`` in bfloat16 minus float32, for the
    seeds run in both precisions to at least ``step``: the mean difference with its two-sided 95%
    confidence interval (Student's t over the paired seeds, :func:`svhn_debug.stats.t_critical`).

    Returns:
        ``{"step", "seeds", "fp32": {seed: acc}, "bf16": {seed: acc}, "mean", "low", "high"}``;
        ``low``/``high`` are ``None`` below two paired seeds, and everything but ``step`` and the
        accuracies is empty or ``None`` without any.
    """
    from .stats import pair, t_critical

    at = {p: {r["seed"]: accuracy_at(r, step) for r in of(runs, recipe, p) if r["steps"] >= step}
          for p in ("fp32", "bf16")}
    paired = pair(at["bf16"], at["fp32"])
    half = None if paired.stderr is None else t_critical(paired.n, two_sided=True) * paired.stderr
    return {"step": step, "seeds": list(paired.seeds), "fp32": at["fp32"], "bf16": at["bf16"], "mean": paired.mean,
            "low": None if half is None else paired.mean - half, "high": None if half is None else paired.mean + half}


def choose_budget(runs: list[dict], recipe: str = "reference", precision: str | None = None) -> dict:
    """The budget rule of the module docstring applied to ``recipe``'s runs.

    The escape condition counts every seed (its escape step is known whatever its length); the
    accuracy condition counts the seeds whose runs reach ``B``.

    Returns:
        ``{"budget": B or None, "seeds": [...], "mean_accuracy", "converged", "escapes": {seed: step},
        "at_least"}``: ``budget`` is ``None`` when no evaluated step satisfies the rule (a seed
        never escapes, or the runs end before twice the latest escape); ``at_least`` is twice the
        latest escape step (``None`` if a seed never escapes), the least budget the first
        condition allows.
    """
    mine = of(runs, recipe, precision)
    if not mine:
        raise ValueError(f"no runs of {recipe!r} in the study")
    longest = max(r["steps"] for r in mine)
    converged = converged_value([r for r in mine if r["steps"] == longest])
    escapes = {r["seed"]: escape_step(r) for r in mine}
    at_least = None if None in escapes.values() else 2 * max(escapes.values())
    grid = [p["step"] for p in next(r for r in mine if r["steps"] == longest)["curve"]]
    for b in grid:
        seeds = [r["seed"] for r in mine if r["steps"] >= b]
        at_b = [accuracy_at(r, b) for r in mine if r["steps"] >= b]
        if at_least is not None and at_least <= b and converged - statistics.mean(at_b) <= CONVERGED_GAP:
            return {"budget": b, "seeds": seeds, "mean_accuracy": statistics.mean(at_b), "converged": converged,
                    "escapes": escapes, "at_least": at_least}
    return {"budget": None, "seeds": [r["seed"] for r in mine], "mean_accuracy": None, "converged": converged,
            "escapes": escapes, "at_least": at_least}


def escape_table(runs: list[dict]) -> list[dict]:
    """One row per recipe and precision (for ``report.markdown_table``): its escape step on
    every seed ("never" within its run) and the steps its runs made."""
    seeds = sorted({r["seed"] for r in runs})
    rows = []
    for recipe, precision in ((r, p) for r in RECIPES for p in ("fp32", "bf16")):
        mine = {r["seed"]: r for r in of(runs, recipe, precision)}
        if not mine:
            continue
        row = {"recipe": f"`{recipe}`", "precision": precision}
        for s in seeds:
            e = escape_step(mine[s]) if s in mine else None
            row[f"seed {s}"] = "" if s not in mine else ("never" if e is None else f"{e:,}")
        row["steps run"] = ", ".join(f"{n:,}" for n in sorted({r["steps"] for r in mine.values()}))
        rows.append(row)
    return rows


def load(study: dict | None) -> list[dict]:
    """The runs of a saved study (``report.bench_result("plateau_study")``), ``[]`` when none."""
    return list((study or {}).get("runs", {}).values())


def facts(runs: list[dict], book_steps: int, precision: str = "fp32") -> dict:
    """The named values chapter 1 states about the study's ``precision`` runs, for a book whose
    runs make ``book_steps`` optimizer steps, and the float32/bfloat16 contrast.

    Returns:
        ``{"recipes": {recipe: {"seeds", "steps", "escapes", "first", "last", "escaped_by_book",
        "at_book"}}, "budget": choose_budget(...), "long_seeds", "long_steps", "precision",
        "test_images", "book_steps"}``; per recipe, ``first``/``last`` are the earliest and latest
        escape step (``None`` if a seed never escapes), ``at_book`` the mean test accuracy at
        ``book_steps`` (``None`` when not evaluated there). ``"contrast"`` is
        :func:`precision_contrast` of the course's recipe.
    """
    if not runs:
        raise LookupError("the budget study has not been run here: `python bench/plateau_study.py` computes it "
                          "(cache/bench/plateau_study-cpu.json)")
    out: dict = {"recipes": {}, "book_steps": book_steps, "contrast": precision_contrast(runs)}
    for recipe in RECIPES:
        mine = of(runs, recipe, precision)
        if not mine:
            continue
        escapes = [escape_step(r) for r in mine]
        at_book = [accuracy_at(r, book_steps) for r in mine]
        out["recipes"][recipe] = {
            "seeds": len(mine), "steps": sorted({r["steps"] for r in mine}), "escapes": escapes,
            "first": None if None in escapes else min(escapes), "last": None if None in escapes else max(escapes),
            "escaped_by_book": sum(e is not None and e <= book_steps for e in escapes),
            "at_book": None if None in at_book else statistics.mean(at_book),
            "prior": mine[0]["class_prior"]}
    reference = of(runs, "reference", precision)
    longest = max(r["steps"] for r in reference)
    out["long_seeds"] = sum(r["steps"] == longest for r in reference)
    out["long_steps"] = longest
    out["short_steps"] = min(r["steps"] for r in reference)
    out["budget"] = choose_budget(runs, precision=precision)
    out["precision"] = precision
    out["test_images"] = sorted({r["profile"]["n_test"] for r in runs})
    return out


def budget_sentence(study: dict) -> str:
    """The end of chapter 1's sentence on the budget: what the rule picks, or why it cannot yet."""
    from .report import num, pct

    chosen = study["budget"]
    if chosen["budget"] is not None:
        return f"the rule picks {num(chosen['budget'])} steps ({pct(chosen['mean_accuracy'])} there)."
    if chosen["at_least"] is None:
        return "a seed never escapes, so no budget satisfies the rule."
    return (f"the {PRECISION_NAMES[study['precision']]} runs here end at "
            f"{num(study['long_steps'])} steps, before that, so the second condition is still to be checked on longer runs.")
