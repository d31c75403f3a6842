"""Wall time each recipe needs to reach a target test accuracy, in one process on one machine.

Trains the adopted recipe and the bar to beat (first seed, the profile's budget) one after the
other, evaluates the test split every ``--every`` optimizer steps from an optimizer-step hook (the
training loop is not changed), and stops each clock while it evaluates. The target is the final
mean test accuracy (over its cached seeds) of ``REFERENCE``, the course's recipe, as the goal
asks; a recipe that never reaches it reports ``None``.

The ratio the goal names is final's time over ``REFERENCE``'s time to ``REFERENCE``'s mean (goal:
at most 0.4). The result, with the adopted recipe and the steps the runs made, is written to
``cache/bench/time_to_accuracy-<profile>.json`` (the book and ``report --json`` read it from there
while both are current) and printed; the last line is
``time_to_accuracy_ratio=<number or None>``.

Usage: python bench/time_to_accuracy.py [--every 8]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from svhn_debug import report, runner
from svhn_debug.cache import bench_path, write_json
from svhn_debug.logbook import REFERENCE
from svhn_debug.profiles import active_profile
from svhn_debug.training import evaluate, train


def timed_run(name: str, targets: dict[str, float], every: int) -> dict:
    """Train ``name`` (first seed); training seconds until each target is first reached."""
    # The run's own evaluations only after its last epoch: the clock measures training alone.
    config = replace(runner.get(name).config, eval_every=1000)
    test = runner.batches_of(name)["batches"]["test"]
    top: list[nn.Module] = []
    depth = [0]
    state = {"eval": 0.0, "steps": 0, "curve": []}
    reached: dict[str, float | None] = {k: None for k in targets}

    def enter(module, args):
        if depth[0] == 0 and not top and not isinstance(module, nn.modules.loss._Loss):
            top.append(module)
        depth[0] += 1

    def leave(module, args, output):
        depth[0] -= 1

    def after_step(optimizer, args, kwargs):
        state["steps"] += 1
        if state["steps"] % every or not top:
            return
        paused = time.perf_counter()
        elapsed = paused - start - state["eval"]  # training seconds so far (earlier evaluations excluded)
        model = top[0]
        was_training = model.training
        model.eval()
        with torch.no_grad():
            _, acc, _ = evaluate(model, test, tta=config.tta)
        model.train(was_training)
        state["eval"] += time.perf_counter() - paused
        state["curve"].append((state["steps"], round(elapsed, 3), acc))
        for k, target in targets.items():
            if reached[k] is None and acc >= target:
                reached[k] = elapsed

    hooks = [nn.modules.module.register_module_forward_pre_hook(enter),
             nn.modules.module.register_module_forward_hook(leave), register_optimizer_step_post_hook(after_step)]
    start = time.perf_counter()
    try:
        train(config, pools=runner.pools())
    finally:
        for h in hooks:
            h.remove()
    total = time.perf_counter() - start - state["eval"]
    print(f"{name}: {state['steps']} steps, {total:.1f} s training; reached "
          + ", ".join(f"{k} at {'never' if v is None else f'{v:.1f} s'}" for k, v in reached.items()), flush=True)
    return {"name": name, "seconds": total, "steps": state["steps"], "reached": reached, "curve": state["curve"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--every", type=int, default=8, help="evaluate the test split every this many steps")
    args = parser.parse_args()
    if args.every < 1:
        parser.error("--every must be at least 1")
    final = report.final_recipe()
    targets = {REFERENCE: report.final(REFERENCE)}
    print("targets (final mean test accuracy over cached seeds): "
          + ", ".join(f"{k} {100 * v:.1f}%" for k, v in targets.items()), flush=True)
    runs = {name: timed_run(name, targets, args.every) for name in (REFERENCE, final)}

    def ratio(target: str) -> float | None:
        mine, bar = runs[final]["reached"][target], runs[target]["reached"][target]
        return None if mine is None or not bar else mine / bar
    steps = {run["steps"] for run in runs.values()}
    if len(steps) != 1:
        raise SystemExit(f"the two recipes made different numbers of steps ({sorted(steps)}); no ratio")
    out = {"profile": active_profile().name, "every": args.every, "targets": targets, "runs": runs,
           "ratio": ratio(REFERENCE), "final": final, "steps": steps.pop(),
           "machine": {"processor": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                       "cpus": os.cpu_count()},
           "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path = write_json(bench_path("time_to_accuracy", out["profile"]), out)
    print(f"written to {path}")
    print(f"time_to_accuracy_ratio={out['ratio']}")


if __name__ == "__main__":
    main()
