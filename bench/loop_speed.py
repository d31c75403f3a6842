"""Time one epoch of work of the colleague's loop and of ours, on the same model, data and device.

One epoch of work is the training epoch plus the evaluation that goes with it. The colleague's
loop: per-sample PIL transforms, per-example losses, Cockpit's five quantities, evaluation of the
whole training set and both halves of the held-out data. Ours: batched tensor transforms on the
device, channels_last, no per-example losses, no Cockpit, evaluation of 2,048 training images and
the validation and test splits. Training throughput is also compared with the float32
matrix-product peak measured here.

Usage: python bench/loop_speed.py [--images 8192] [--device auto]
The last line is ``speedup_vs_colleague=<number>``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from svhn_debug.config import COLLEAGUE
from svhn_debug.data import load_pools
from svhn_debug.profiles import Profile, get_profile
from svhn_debug.training import resolve_device, train


def conv_net_flops_per_image(width: float = 1.0) -> float:
    """Forward multiply-adds x 2 of the colleague's CNN for one 32x32 image."""
    c = [3] + [round(k * width) for k in (32, 64, 128)]
    flops, side = 0.0, 32
    for c_in, c_out in zip(c[:-1], c[1:]):
        flops += 2 * side * side * 9 * (c_in * c_out + c_out * c_out)
        side //= 2
    return flops + 2 * (c[-1] * 16 * 128 + 128 * 10)


def matmul_peak(device: torch.device, n: int = 2048, repeats: int = 20) -> float:
    """Best float32 matrix-product rate (FLOP/s) over a few timed repeats."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=8192, help="training images in the timed epoch")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch threads of every timed run (default: this process's)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    base = get_profile("cpu")
    profile = Profile("bench", n_train=args.images, n_test=base.n_test, n_validation=base.n_validation,
                      epoch_scale=0.1, n_synthetic_train=args.images + base.n_validation,
                      n_synthetic_test=base.n_synthetic_test)  # 0.1 x 10 epochs = one epoch
    pools = load_pools(profile)
    colleague = replace(COLLEAGUE, device=args.device, threads=args.threads)
    ours = replace(COLLEAGUE, device=args.device, threads=args.threads, pipeline="tensor", channels_last=True, per_example_losses=False,
                   cockpit="off", eval_train_examples=2048, zero_grad=True, lr=1e-3, scheduler="constant")
    variants = {
        "colleague (as run: Cockpit on)": colleague,
        "colleague without Cockpit": replace(colleague, cockpit="off"),
        "ours, default memory layout": replace(ours, channels_last=False),
        "ours": ours,
    }
    torch.set_num_threads(args.threads)  # for the matrix-product peak; train() sets its own
    train(replace(ours, epochs=1), profile, pools)  # warm-up: first-call allocations, thread pools
    peak = matmul_peak(device)
    fwd = conv_net_flops_per_image()
    print(f"device: {device}, threads: {args.threads}, images per epoch: {args.images}")
    print(f"float32 matrix-product peak: {peak / 1e9:.1f} GFLOP/s; CNN forward: {fwd / 1e6:.1f} MFLOP per image")
    times = {}
    for label, cfg in variants.items():
        run = train(cfg, profile, pools)
        row = run.epochs[0]
        total = row["train_seconds"] + row["eval_seconds"]
        times[label] = total
        rate = args.images / row["train_seconds"]
        fraction = 3 * fwd * rate / peak  # training = forward + backward (about 2x forward)
        print(f"{label:<32} train {row['train_seconds']:6.1f} s ({rate:6.0f} img/s, {fraction:.2f} of peak)  "
              f"eval {row['eval_seconds']:5.1f} s  total {total:6.1f} s")
    speedup = times["colleague (as run: Cockpit on)"] / times["ours"]
    print(f"speedup_vs_colleague_without_cockpit={times['colleague without Cockpit'] / times['ours']:.2f}")
    print(f"speedup_vs_colleague={speedup:.2f}")


if __name__ == "__main__":
    main()
