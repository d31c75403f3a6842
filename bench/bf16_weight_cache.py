"""Why the course's recipe stayed on the plateau in bfloat16: autocast's weight cache, measured.

``torch.autocast`` keeps the bfloat16 copy of every float32 weight it casts until the outermost
autocast context exits (``cache_enabled=True``, its default). The first bfloat16 runs of the budget
study entered one context around the whole run, so every forward pass after the first computed
with the initial weights of the convolutions and linear layers: only BatchNorm's scales and
shifts, which autocast does not cast, trained. ``svhn_debug.precision.autocast`` now turns the
cache off.

This script trains the course's recipe (``reference``, seed 0, the budget study's profile and
test subset) for ``--steps`` steps three ways, each with one context around the whole run:

- ``fp32``: float32 throughout;
- ``bf16-cached``: bfloat16 autocast with the weight cache on (the study's first bfloat16 runs);
- ``bf16``: bfloat16 autocast as ``svhn_debug.precision.autocast`` enters it (no weight cache).

It records every step's training loss and the test accuracy after every epoch in
``cache/bench/bf16_weight_cache-cpu.json`` with the configuration, the data fingerprint and the
record of the package code each run executed. The float32 and bfloat16 runs start from the same
weights and draw the same batches, so their first steps differ only by rounding; the cached
run's first update leaves the loss where it was.

Usage: python bench/bf16_weight_cache.py [--steps 64]
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plateau_study import STEPS_PER_EPOCH, study_config, study_profile  # noqa: E402

from svhn_debug.cache import bench_path, write_json  # noqa: E402
from svhn_debug.data import load_pools  # noqa: E402
from svhn_debug.executed_code import ExecutedCode  # noqa: E402
from svhn_debug.precision import autocast, check_available  # noqa: E402
from svhn_debug.training import train  # noqa: E402

MODES = ("fp32", "bf16-cached", "bf16")


@contextlib.contextmanager
def _cached_bf16(device: torch.device):
    """The study's first bfloat16 context: autocast with its weight cache (torch's default)."""
    check_available("bf16", device)
    with torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=True):
        yield {"precision": "bf16", "autocast_dtype": "bfloat16", "autocast_weight_cache": True}


def run_mode(mode: str, steps: int, test_images: int) -> dict:
    """Train the course's recipe for ``steps`` steps in ``mode``; its losses and accuracies."""
    profile = study_profile(steps, test_images)
    config, _ = study_config("reference", 0, "fp32")
    pools = load_pools(profile, "synthetic", progress=False)
    device = torch.device("cpu")
    context = _cached_bf16(device) if mode == "bf16-cached" else autocast(mode, device)
    with ExecutedCode() as executed, context as numerics:
        result = train(config, profile, pools)
    labels = pools.test_labels[:test_images]
    return {"mode": mode, "steps": result.meta["total_steps"], "losses": [s["loss"] for s in result.steps],
            "test_accuracy": [e["test_accuracy"] for e in result.epochs],
            "class_prior": float(torch.bincount(labels, minlength=10).max()) / len(labels),
            "seconds": result.meta["seconds"], "config": config.to_dict(), "profile": profile.to_dict(),
            "data_fingerprint": pools.fingerprint, "executed_code": executed.record,
            "numerics": {**result.meta["numerics"], **numerics}, "versions": result.meta["versions"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2 * STEPS_PER_EPOCH, help="steps of each run (whole epochs)")
    parser.add_argument("--test-images", type=int, default=1024, help="fixed test subset evaluated every epoch")
    args = parser.parse_args()
    if args.steps < STEPS_PER_EPOCH or args.steps % STEPS_PER_EPOCH:
        parser.error(f"--steps must be a positive multiple of {STEPS_PER_EPOCH} (one epoch)")
    try:
        check_available("bf16", torch.device("cpu"))
    except RuntimeError as err:
        raise SystemExit(f"bf16_weight_cache: {err}") from None
    runs = {}
    for mode in MODES:
        runs[mode] = run_mode(mode, args.steps, args.test_images)
        print(f"{mode:12s} loss at steps 0-3: {' '.join(f'{v:.3f}' for v in runs[mode]['losses'][:4])}; "
              f"test accuracy by epoch: {' '.join(f'{a:.3f}' for a in runs[mode]['test_accuracy'])}", flush=True)
    write_json(bench_path("bf16_weight_cache", "cpu"),
               {"runs": runs, "machine": platform.processor() or platform.machine(),
                "cpu_capability": torch.backends.cpu.get_cpu_capability()})


if __name__ == "__main__":
    main()
