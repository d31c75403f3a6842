"""The plateau, measured: when does each recipe leave the class-prior plateau, and where does it settle?

Trains three registered recipes on the generated house numbers of the ``cpu`` profile's pools
(8,192 training images, batch 256: 32 steps an epoch) for many more steps than the profile
gives them, and evaluates a fixed test subset (the first ``--test-images`` images of the test
pool) after every epoch, i.e. every 32 steps:

- ``reference``: the course's recipe (ReLU, BatchNorm after the convolutions, Adam 2e-3, constant
  rate, no augmentation), on 5 seeds; seeds 0-2 run the exercise's 2,870 steps (90 epochs, 2,880
  steps), the others ``--reference-short-steps`` (1,024);
- ``relu-batchnorm``: the book's best recipe, and ``normalize``: the notebook with its bugs fixed,
  5 seeds of ``--short-steps`` (768) each.

Every recipe here trains at a constant learning rate and draws its data order from its seed, so
the first ``S`` steps of a longer run *are* an ``S``-step run: one run per seed gives the
accuracy at every budget up to its length.

The definitions (class prior, escape, converged value, the budget rule) are fixed before the runs
in :mod:`svhn_debug.plateau`, which also reads the result for the book.

The runs use ``--precision`` (default ``bf16``: bfloat16 autocast around the whole run, float32
weights, as ``svhn_debug.precision.autocast`` applies it), one thread each, ``--jobs`` at once,
longest first. Each finished run is written at once to
``cache/bench/plateau_study-<profile>.json`` (atomically), with its configuration, profile,
data fingerprint and the record of the package code it executed, so an interrupted study keeps
what finished and a rerun computes only the runs it lacks (``--force``: all of them). The summary
(escape steps per seed, accuracy at each budget, the chosen budget) is printed at the end.

Usage: python bench/plateau_study.py [--jobs 2] [--short-steps 768] [--long-steps 2880]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace

import torch

from svhn_debug import runner
from svhn_debug.cache import bench_path, write_json
from svhn_debug.data import load_pools
from svhn_debug.executed_code import ExecutedCode
from svhn_debug.plateau import CONVERGED_EVALS, CONVERGED_GAP, ESCAPE_MARGIN, RECIPES, choose_budget, escape_step, of
from svhn_debug.precision import autocast
from svhn_debug.profiles import Profile, get_profile
from svhn_debug.training import resolve_device, train

STEPS_PER_EPOCH = 32  # 8,192 images in batches of 256
SEEDS = (0, 1, 2, 3, 4)
LONG_SEEDS = {"reference": (0, 1, 2)}


def study_profile(steps: int, test_images: int) -> Profile:
    """The ``cpu`` profile's pools and training images, ``steps`` steps (whole epochs), the
    first ``test_images`` images of the test pool."""
    cpu = get_profile("cpu")
    epochs = math.ceil(steps / STEPS_PER_EPOCH)
    return replace(cpu, name=f"plateau-{epochs}ep", n_test=test_images, epoch_scale=epochs / 10)


def study_config(name: str, seed: int, precision: str):
    """The registered recipe, evaluating only the test subset after every epoch (evaluation
    does not change training: these recipes switch back to train mode and draw nothing)."""
    config = runner.get(name).config
    assert config.epochs == 10 and config.scheduler == "constant", "the prefix argument needs a constant rate"
    return replace(config, seed=seed, eval_splits=("test",), eval_every=1, device="cpu"), precision


def run_one(name: str, seed: int, steps: int, test_images: int, precision: str) -> dict:
    """Train one run of the study; its curve and evidence."""
    profile = study_profile(steps, test_images)
    config, precision = study_config(name, seed, precision)
    pools = load_pools(profile, "synthetic", progress=False)
    device = resolve_device(config.device)
    with ExecutedCode() as executed, autocast(precision, device) as numerics:
        result = train(config, profile, pools)
    labels = pools.test_labels[:test_images]
    prior = float(torch.bincount(labels, minlength=10).max()) / len(labels)
    curve = [{"step": e["step"], "test_accuracy": e["test_accuracy"], "test_loss": e["test_loss"]}
             for e in result.epochs]
    return {"recipe": name, "seed": seed, "steps": result.meta["total_steps"], "precision": precision,
            "class_prior": prior, "curve": curve, "diverged_at": result.diverged_at,
            "train_loss": [s["loss"] for s in result.steps[STEPS_PER_EPOCH - 1::STEPS_PER_EPOCH]],
            "seconds": result.meta["seconds"], "config": config.to_dict(), "profile": profile.to_dict(),
            "data_fingerprint": pools.fingerprint, "executed_code": executed.record,
            "numerics": {**result.meta["numerics"], **numerics}, "versions": result.meta["versions"],
            "finished_at": result.meta["finished_at"]}


def summarise(runs: list[dict], precision: str) -> dict:
    """Escape steps per recipe and seed, and the chosen budget, of the runs in ``precision``."""
    return {"precision": precision,
            "escapes": {recipe: {r["seed"]: escape_step(r) for r in of(runs, recipe, precision)} for recipe in RECIPES},
            "budget": choose_budget(runs, precision=precision) if of(runs, "reference", precision) else None}


def _job_key(recipe: str, seed: int, steps: int, precision: str) -> str:
    return f"{recipe}/seed{seed}/{steps}/{precision}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="runs at once (one thread each)")
    parser.add_argument("--short-steps", type=int, default=768, help="steps of the short runs")
    parser.add_argument("--reference-short-steps", type=int, default=1024,
                        help="steps of the course's recipe on the seeds without a long run")
    parser.add_argument("--long-steps", type=int, default=2880, help="steps of the long runs (the exercise: 2,870)")
    parser.add_argument("--test-images", type=int, default=1024, help="fixed test subset evaluated every epoch")
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated recipes to train (default: all)")
    parser.add_argument("--force", action="store_true", help="recompute runs already in the result file")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")

    path = bench_path("plateau_study", "cpu")
    import json

    saved = json.loads(path.read_text()) if path.exists() and not args.force else {"runs": {}}
    runs: dict[str, dict] = saved.get("runs", {})
    jobs = []
    chosen = args.recipes.split(",")
    unknown = sorted(set(chosen) - set(RECIPES))
    if unknown:
        parser.error(f"unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    for recipe in chosen:
        for seed in SEEDS:
            short = args.reference_short_steps if recipe == "reference" else args.short_steps
            steps = args.long_steps if seed in LONG_SEEDS.get(recipe, ()) else short
            key = _job_key(recipe, seed, steps, args.precision)
            if key not in runs:
                jobs.append((steps, recipe, seed, key))
    jobs.sort(reverse=True)  # longest first: the pool ends together
    print(f"plateau study: {len(jobs)} runs to compute, {len(runs)} already in {path.name}", flush=True)

    def save() -> None:
        write_json(path, {"runs": runs, "machine": platform.processor() or platform.machine(),
                          "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                          "definitions": {"escape_margin": ESCAPE_MARGIN, "converged_evals": CONVERGED_EVALS,
                                          "converged_gap": CONVERGED_GAP, "steps_per_epoch": STEPS_PER_EPOCH}})

    started = time.time()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_one, recipe, seed, steps, args.test_images, args.precision): key
                   for steps, recipe, seed, key in jobs}
        failed = []
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                try:
                    run = future.result()
                except Exception as err:  # noqa: BLE001 (one failing run must not lose the others' results)
                    failed.append(futures[future])
                    print(f"[{done}/{len(jobs)}] FAILED {futures[future]}: {type(err).__name__}: {err}", flush=True)
                    continue
                runs[futures[future]] = run
                save()
                print(f"[{done}/{len(jobs)}, {time.time() - started:.0f} s] {futures[future]}: "
                      f"escape at step {escape_step(run)}, final {run['curve'][-1]['test_accuracy']:.3f} "
                      f"({run['seconds']:.0f} s)", flush=True)
        except KeyboardInterrupt:
            for f in futures:
                f.cancel()
            print("interrupted: finished runs are saved", file=sys.stderr)
            raise SystemExit(130)
    if failed:
        print(f"{len(failed)} run(s) failed: {', '.join(failed)}; run the study again to compute them", file=sys.stderr)
    summary = summarise(list(runs.values()), args.precision)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
