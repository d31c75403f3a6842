"""Overhead of recording which package code a run executes (``executed_code.ExecutedCode``,
coverage.py's C tracer restricted to the package).

Trains the same run (one epoch of the book's ``normalize`` recipe and of the colleague's notebook
on the ``cpu`` profile's data) alternately with and without the recorder, several times, and
compares the medians of the training time. Goal: under 2% (the engine issue).

Usage: python bench/tracer_overhead.py [--repeats 5] [--images 4096]
The last line is ``tracer_overhead=<fraction>`` (the larger of the two recipes).
"""

from __future__ import annotations

import argparse
import statistics
import time

from svhn_debug import runner
from svhn_debug.data import load_pools
from svhn_debug.executed_code import ExecutedCode
from svhn_debug.profiles import Profile, get_profile
from svhn_debug.training import train


def timed(config, profile, pools, record: bool) -> float:
    started = time.perf_counter()
    if record:
        with ExecutedCode():
            train(config, profile, pools)
    else:
        train(config, profile, pools)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, default=4096, help="training images of the timed epoch")
    args = parser.parse_args()
    base = get_profile("cpu")
    profile = Profile("bench", n_train=args.images, n_test=512, n_validation=512, epoch_scale=0.1,
                      n_synthetic_train=base.n_synthetic_train, n_synthetic_test=base.n_synthetic_test)
    pools = load_pools(base)
    worst = 0.0
    for name in ("normalize", "colleague"):
        config = runner.get(name).config
        timed(config, profile, pools, record=False)  # warm-up
        plain, traced = [], []
        for _ in range(args.repeats):
            plain.append(timed(config, profile, pools, record=False))
            traced.append(timed(config, profile, pools, record=True))
        overhead = statistics.median(traced) / statistics.median(plain) - 1
        worst = max(worst, overhead)
        print(f"{name:<10} plain {statistics.median(plain):6.2f} s  recorded {statistics.median(traced):6.2f} s  "
              f"overhead {100 * overhead:+.2f}% (medians of {args.repeats})", flush=True)
    print(f"tracer_overhead={worst:.4f}")


if __name__ == "__main__":
    main()
