"""Figures. Every function takes results (live or from the cache) and returns a Figure: plotting
never trains."""

from __future__ import annotations

import contextlib
import functools
import tempfile
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np

SPLIT_STYLE = {"train": "-", "validation": "--", "test": ":"}
DIGITS = [str(d) for d in range(10)]


def _closed(make):
    """Close the figure before returning it: a notebook then shows it once (as the cell's
    result), and scripts don't pile up open figures."""
    @functools.wraps(make)
    def wrapper(*args, **kwargs):
        fig = make(*args, **kwargs)
        plt.close(fig)
        return fig
    return wrapper


def _runs(results) -> dict[str, list]:
    """Normalise ``{label: result or [results]}`` to ``{label: [results]}``."""
    return {k: (v if isinstance(v, (list, tuple)) else [v]) for k, v in results.items()}


@_closed
def learning_curves(result, title: str = "") -> plt.Figure:
    """Loss and accuracy per epoch of one run, for every evaluated split."""
    df = result.epochs_df
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8, 3))
    for split, style in SPLIT_STYLE.items():
        if df.get(f"{split}_loss") is not None and df[f"{split}_loss"].notna().any():
            ax_loss.plot(df["epoch"], df[f"{split}_loss"], style, marker="o", ms=3, label=split)
            ax_acc.plot(df["epoch"], df[f"{split}_accuracy"], style, marker="o", ms=3, label=split)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    for a in (ax_loss, ax_acc):
        a.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1))
    ax_acc.axhline(0.1, color="grey", lw=0.8, ls="-.", label="chance (10 classes)")
    ax_acc.legend(fontsize=7)
    if result.diverged_at is not None:  # a diverged run is marked as such, not left as a number
        for ax in (ax_loss, ax_acc):
            ax.text(0.5, 0.5, f"DIVERGED at step {result.diverged_at}", transform=ax.transAxes, ha="center",
                    color="crimson", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@_closed
def compare(results, metric: str = "validation_accuracy", ylabel: str | None = None, ylim=None) -> plt.Figure:
    """One line per experiment over epochs; several seeds are drawn as mean and min-max band."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for label, runs in _runs(results).items():
        diverged = sum(r.diverged_at is not None for r in runs)
        label += (f" ({len(runs)} seeds)" if len(runs) > 1 else "") + (f", DIVERGED on {diverged}" if diverged else "")
        frames = [r.epochs_df for r in runs if r.diverged_at is None]
        if not frames:  # every seed diverged: a legend entry, no line
            ax.plot([], [], color="crimson", ls=":", label=label)
            continue
        x = frames[0]["epoch"].to_numpy()
        ys = np.array([f[metric].to_numpy(dtype=float)[: len(x)] for f in frames])
        line, = ax.plot(x, ys.mean(axis=0), marker="o", ms=3, label=label)
        if len(frames) > 1:
            ax.fill_between(x, ys.min(axis=0), ys.max(axis=0), color=line.get_color(), alpha=0.2)
    ax.set(xlabel="epoch", ylabel=ylabel or metric.replace("_", " "))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


@_closed
def step_losses(results, smooth: int = 1, logy: bool = False) -> plt.Figure:
    """Training loss per optimizer step (optionally a moving average over ``smooth`` steps)."""
    fig, ax = plt.subplots(figsize=(7, 3))
    for label, runs in _runs(results).items():
        df = runs[0].steps_df
        y = df["loss"].rolling(smooth, min_periods=1).mean() if smooth > 1 else df["loss"]
        ax.plot(df["step"], y, label=label)
    ax.set(xlabel="optimizer step", ylabel="training loss (mini-batch)")
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


@_closed
def lr_trajectory(results) -> plt.Figure:
    """Learning rate per step (log scale)."""
    fig, ax = plt.subplots(figsize=(7, 2.8))
    for label, runs in _runs(results).items():
        df = runs[0].steps_df
        ax.plot(df["step"], df["lr"], label=label)
    ax.set(xlabel="optimizer step", ylabel="learning rate", yscale="log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


@_closed
def image_grid(images, labels, title: str = "", rows: int = 3, cols: int = 10) -> plt.Figure:
    """A grid of images (N, 3, 32, 32) in [0, 1] or uint8, with their labels."""
    imgs = images if images.dtype.is_floating_point else images.float() / 255
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.75, rows * 0.85))
    for i, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if i < len(imgs):
            ax.imshow(imgs[i].permute(1, 2, 0).clamp(0, 1).numpy())
            ax.set_title(str(int(labels[i])), fontsize=7, pad=1)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig


@_closed
def split_grids(batches: dict, n: int = 10, titles: dict | None = None) -> plt.Figure:
    """First images of every split as the model sees them (after the split's transform)."""
    names = [k for k in ("train", "validation", "test") if k in batches]
    fig, axes = plt.subplots(len(names), n, figsize=(n * 0.75, len(names) * 0.95))
    for row, name in enumerate(names):
        x, y = next(iter(batches[name]))
        for col in range(n):
            ax = axes[row, col]
            ax.axis("off")
            img = x[col]
            img = (img - img.min()) / (img.max() - img.min() + 1e-8)
            ax.imshow(img.permute(1, 2, 0).numpy())
            ax.set_title(str(int(y[col])), fontsize=7, pad=1)
        axes[row, 0].text(-0.3, 0.5, (titles or {}).get(name, name), transform=axes[row, 0].transAxes,
                          ha="right", va="center", fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig


@_closed
def confusion(result, title: str = "") -> plt.Figure:
    """Row-normalised test confusion matrix (true digit down, predicted across)."""
    cm = np.asarray(result.confusion, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(10):
        for j in range(10):
            if norm[i, j] >= 0.05:
                ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=5.5,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set(xticks=range(10), yticks=range(10), xticklabels=DIGITS, yticklabels=DIGITS,
           xlabel="predicted digit", ylabel="true digit")
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def cockpit_series(result, quantity: str, reduce: str = "norm") -> tuple[np.ndarray, np.ndarray]:
    """Steps and values of one Cockpit quantity (per-parameter lists reduced to one number)."""
    steps, values = [], []
    for step, entry in sorted(((int(k), v) for k, v in (result.cockpit or {}).items()), key=lambda kv: kv[0]):
        if quantity in entry and entry[quantity] is not None:
            v = np.asarray(entry[quantity], dtype=float)
            steps.append(step)
            values.append(float(np.linalg.norm(v)) if (v.ndim and reduce == "norm") else float(np.sum(v)) if v.ndim else float(v))
    return np.asarray(steps), np.asarray(values)


@_closed
def cockpit_scalars(results, quantities=("Loss", "GradNorm", "UpdateSize", "Distance", "Alpha"), logy=("GradNorm", "UpdateSize", "Distance")) -> plt.Figure:
    """Small multiples of Cockpit's scalar quantities for one or several runs."""
    runs = _runs(results)
    cols = min(3, len(quantities))
    rows = -(-len(quantities) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.3 * rows), squeeze=False)
    for ax in np.ravel(axes)[len(quantities):]:
        ax.axis("off")
    for ax, q in zip(np.ravel(axes), quantities):
        for label, rs in runs.items():
            x, y = cockpit_series(rs[0], q)
            if len(x):
                ax.plot(x, y, marker="o" if q == "Alpha" else None, ms=3, lw=1, label=label)
        ax.set_title({"GradNorm": "gradient norm", "UpdateSize": "update size", "Distance": "distance from init",
                      "Alpha": "alpha (local step size)", "Loss": "mini-batch loss"}.get(q, q), fontsize=8)
        ax.set_xlabel("step", fontsize=7)
        ax.tick_params(labelsize=6)
        if q in logy:
            ax.set_yscale("log")
        if q == "Alpha":
            ax.axhline(0, color="grey", lw=0.8)
    np.ravel(axes)[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


# Cockpit's gauges (its own drawing functions in ``cockpit.instruments``) in the order its
# dashboard shows them, each with the logged quantities it draws and how many tracked steps it
# needs: the gauge is drawn when Cockpit's own ``check_data`` finds them in the log.
GAUGES = (
    ("alpha_gauge", ("Alpha",), 2),
    ("distance_gauge", ("Distance", "UpdateSize"), 1),
    ("grad_norm_gauge", ("GradNorm",), 1),
    ("gradient_tests_gauge", ("iteration", "InnerTest", "NormTest", "OrthoTest"), 1),
    ("histogram_1d_gauge", ("GradHist1d",), 1),
    ("histogram_2d_gauge", ("GradHist2d",), 1),
    ("max_ev_gauge", ("HessMaxEV",), 1),
    ("trace_gauge", ("HessTrace",), 1),
    ("tic_gauge", ("TICDiag",), 1),
    ("hyperparameter_gauge", ("iteration", "learning_rate"), 1),
)


def cockpit_gauges(result, width: float = 9.0) -> tuple[plt.Figure, list[str]]:
    """Cockpit's dashboard for a run, drawn by Cockpit's own gauges on a figure that stays legible
    in print: two columns, ``width`` inches wide, the performance gauge across the bottom.

    ``CockpitPlotter`` draws its dashboard 30 by 15 inches in 8-point type (about 1.6 points on a
    15 cm text block) and leaves a gauge's panel empty when the log lacks its quantities; here
    only the gauges with data are drawn, so nothing is empty. Returns the figure (closed) and
    the names of the gauges drawn. Cockpit's plotter switches matplotlib to interactive mode and
    seaborn's style; both are undone.
    """
    import math
    import warnings

    from cockpit import CockpitPlotter, instruments
    from cockpit.instruments.utils_instruments import check_data

    from .instruments import write_log

    was_interactive = plt.isinteractive()
    with tempfile.TemporaryDirectory() as tmp, matplotlib.rc_context(), warnings.catch_warnings():
        # seaborn's scatter warns that Cockpit's pixel marker becomes a small square
        warnings.filterwarnings("ignore", message="The pixel maker", category=UserWarning)
        log = write_log(result.cockpit, Path(tmp) / "log")
        with contextlib.redirect_stdout(None):
            plotter = CockpitPlotter()
        plotter.debug, plotter.show_log_iter = False, False
        plotter._read_tracking_results(str(log.with_suffix("")))  # what CockpitPlotter.plot reads first
        drawn = [name for name, needs, least in GAUGES
                 if check_data(plotter.tracking_data, list(needs), min_elements=least)]
        rows = math.ceil(len(drawn) / 2) + 1
        fig = plt.figure(figsize=(width, 2.7 * rows))
        grid = fig.add_gridspec(rows, 2, hspace=0.7, wspace=0.5)
        for i, name in enumerate(drawn):
            getattr(instruments, name)(plotter, fig, grid[i // 2, i % 2])
        instruments.performance_gauge(plotter, fig, grid[rows - 1, :])
        plt.close(fig)
    if not was_interactive:
        plt.ioff()
    return fig, drawn + ["performance_gauge"]


@_closed
def accuracy_ladder(labels: list[str], means: list[float], lows: list[float], highs: list[float]) -> plt.Figure:
    """Test accuracy from the colleague's run to the final one, one bar per adopted step."""
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    x = np.arange(len(labels))
    ax.bar(x, means, color="#4c72b0")
    ax.errorbar(x, means, yerr=[np.subtract(means, lows), np.subtract(highs, means)], fmt="none", color="black", capsize=3)
    for xi, m in zip(x, means):
        ax.text(xi, m + 0.02, f"{m:.0%}", ha="center", fontsize=7)
    ax.axhline(0.1, color="grey", lw=0.8, ls="-.")
    ax.set(xticks=x, ylim=(0, 1.05), ylabel="test accuracy")
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
    fig.tight_layout()
    return fig


@_closed
def exam_curves() -> plt.Figure:
    """A re-drawing of the exam sheet's figure from the values stated in the task."""
    e = np.linspace(0, 100, 201)
    a = np.interp(e, [0, 10, 30, 50, 80, 100], [0, 0.45, 0.8, 0.9, 1.0, 1.05])
    b = np.interp(e, [0, 20, 40, 60, 80, 100], [0, 0.5, 0.75, 0.9, 1.0, 1.09])
    fig, ax = plt.subplots(figsize=(5.5, 3))
    ax.plot(e, a, label="A(H_A)")
    ax.plot(e, b, label="B(H_B)")
    ax.axvline(80, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="epoch", ylabel="Performance")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.legend()
    fig.tight_layout()
    return fig


def cockpit_dashboard(result) -> plt.Figure:
    """Cockpit's dashboard for a chapter cell (:func:`cockpit_gauges`); on a budget too small for
    it (fewer than three tracked steps), a figure that says so."""
    tracked = [k for k, v in (result.cockpit or {}).items() if "Loss" in v]
    if len(tracked) < 3:
        return _too_few_steps(len(tracked))
    return cockpit_gauges(result)[0]


@_closed
def _too_few_steps(n: int) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 1))
    ax.axis("off")
    ax.text(0.5, 0.5, f"Cockpit's dashboard needs at least 3 tracked steps; this run tracked {n}.",
            ha="center", va="center")
    return fig


@_closed
def search_trials(trials: dict[str, list[tuple[float, float | None, bool]]], title: str = "") -> plt.Figure:
    """Random-search trials: final validation accuracy against the learning rate, one colour per
    update rule (``{rule: [(lr, accuracy or None, is_best), ...]}``); the best trial is ringed,
    a trial without a value (diverged) is drawn at the bottom as a cross."""
    fig, ax = plt.subplots(figsize=(5.5, 2.8))
    for rule, points in trials.items():
        lrs = [p[0] for p in points if p[1] is not None]
        accs = [p[1] for p in points if p[1] is not None]
        dots = ax.scatter(lrs, accs, s=18, label=rule)
        failed = [p[0] for p in points if p[1] is None]
        if failed:
            ax.scatter(failed, [0.0] * len(failed), marker="x", color=dots.get_facecolor()[0])
        for lr, acc, best in points:
            if best and acc is not None:
                ax.scatter([lr], [acc], s=90, facecolors="none", edgecolors=dots.get_facecolor()[0])
    ax.set(xscale="log", xlabel="learning rate", ylabel="final validation accuracy", ylim=(0, 1), title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


@_closed
def plateau_study(runs: list[dict], marks: dict[str, int] | None = None) -> plt.Figure:
    """Test accuracy against optimizer steps of the budget study (:mod:`svhn_debug.plateau`):
    one panel per recipe and precision, a thin line per seed, the class prior and its escape
    threshold dashed, and vertical marks at the step counts in ``marks`` (label: step)."""
    from . import plateau

    recipes = [r for r in plateau.RECIPES if plateau.of(runs, r)]
    precisions = [p for p in ("bf16", "fp32") if any(r.get("precision") == p for r in runs)]
    fig, axes = plt.subplots(len(recipes), len(precisions), figsize=(8, 2.3 * len(recipes)), sharey=True,
                             squeeze=False)
    legend_ax, legend_seeds = None, 0
    for row, recipe in enumerate(recipes):
        for col, precision in enumerate(precisions):
            ax = axes[row][col]
            mine = plateau.of(runs, recipe, precision)
            if not mine:
                ax.set_axis_off()
                ax.text(0.5, 0.5, f"{recipe}: not run in {plateau.PRECISION_NAMES[precision]}",
                        ha="center", va="center", fontsize=8, color="grey", transform=ax.transAxes)
                continue
            for r in mine:
                ax.plot([p["step"] for p in r["curve"]], [p["test_accuracy"] for p in r["curve"]], lw=1,
                        label=f"seed {r['seed']}")
            prior = mine[0]["class_prior"]
            ax.axhline(prior, color="grey", lw=0.8, ls="--", label="class prior")
            ax.axhline(prior + plateau.ESCAPE_MARGIN, color="grey", lw=0.8, ls=":", label="escape threshold")
            for i, (label, step) in enumerate((marks or {}).items()):
                ax.axvline(step, color=("crimson", "black", "tab:purple")[i % 3], lw=0.9, ls="-.", label=label)
            last = max([r["steps"] for r in mine] + [step for step in (marks or {}).values() if step])
            ax.set(title=f"{recipe}, {plateau.PRECISION_NAMES[precision]}", ylim=(0, 1),
                   xlim=(0, 1.02 * last))
            ax.set_xlabel("optimizer steps", fontsize=8)
            ax.title.set_fontsize(9)
            if col == 0:
                ax.set_ylabel("test accuracy")
            if len(mine) > legend_seeds:
                legend_ax, legend_seeds = (recipe, precision), len(mine)
    if legend_ax:  # one legend under the panels, from the panel with the most seeds (it names every seed)
        row, col = recipes.index(legend_ax[0]), precisions.index(legend_ax[1])
        handles, labels = axes[row][col].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=7, frameon=False)
        fig.tight_layout(rect=(0, 0.14 / len(recipes) + 0.02, 1, 1))
    else:
        fig.tight_layout()
    return fig
