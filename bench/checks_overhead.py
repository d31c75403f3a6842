"""Overhead of the default health monitor (svhn_debug.checks) on a training step.

Trains the same short run (a registered experiment, first seed, one epoch by default) with and
without :class:`~svhn_debug.checks.GlobalAttach`, alternating the two so that drifts of the
machine hit both alike, and compares the training seconds the runs record (evaluation excluded).
The monitor attaches through PyTorch's global hooks, exactly as ``doctor`` and
``python -m svhn_debug.checks`` do. The goal is at most 5%. The result is also written to
``cache/bench/checks_overhead-<profile>.json`` for the book.

Usage: python bench/checks_overhead.py [--name relu-batchnorm] [--repeats 3] [--profile cpu]
The last line is ``monitor_overhead=<fraction>``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

from svhn_debug import runner
from svhn_debug.cache import bench_path, write_json
from svhn_debug.checks import GlobalAttach
from svhn_debug.profiles import get_profile
from svhn_debug.training import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", default="relu-batchnorm")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--epochs", type=int, default=3, help="the notebook's epochs asked for (the profile scales them)")
    args = parser.parse_args()
    profile = get_profile(args.profile)
    config = replace(runner.get(args.name).config, epochs=args.epochs, eval_splits=("test",), eval_every=99)
    pools = runner.pools(profile)
    train(config, profile, pools)  # warm-up: allocator, kernels, data on the device
    plain, watched = [], []
    for r in range(args.repeats):
        for label, out in (("plain", plain), ("monitored", watched)):
            if label == "monitored":
                with GlobalAttach() as attach:
                    result = train(config, profile, pools)
                found = attach.findings()
            else:
                result, found = train(config, profile, pools), None
            seconds = sum(e["train_seconds"] for e in result.epochs)
            out.append(seconds / result.meta["total_steps"])
            print(f"repeat {r + 1} {label:9s}: {1000 * out[-1]:.1f} ms/step"
                  + ("" if found is None else f"  ({len(found)} finding(s))"), flush=True)
    a, b = statistics.median(plain), statistics.median(watched)
    print(f"experiment {args.name}, profile {profile.name}, {result.meta['total_steps']} steps a run, "
          f"{args.repeats} repeats; median ms/step plain {1000 * a:.2f}, monitored {1000 * b:.2f}")
    out = {"profile": profile.name, "experiment": args.name, "steps": result.meta["total_steps"],
           "repeats": args.repeats, "plain_ms_per_step": [1000 * v for v in plain],
           "monitored_ms_per_step": [1000 * v for v in watched], "overhead": b / a - 1,
           "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path = write_json(bench_path("checks_overhead", profile.name), out)
    print(f"written to {path}")
    print(f"monitor_overhead={b / a - 1:.4f}")


if __name__ == "__main__":
    main()
