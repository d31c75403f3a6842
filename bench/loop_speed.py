"""Time one epoch of work of the colleague's loop and of ours, on the same model, data and device.

One epoch of work is the training epoch plus the evaluation that goes with it. The colleague's
loop: per-sample PIL transforms, per-example losses, Cockpit's five quantities, evaluation of the
whole training set and both halves of the held-out data. Ours: batched tensor transforms on the
device, channels_last, no per-example losses, no Cockpit, evaluation of 2,048 training images and
the validation and test splits. Training throughput is also compared with the float32
matrix-product peak measured here. Our loop also runs in bfloat16 mixed precision
(``svhn_debug.precision.autocast``, where the hardware has it), compared with the float32 loop and
with a bfloat16 matrix-product peak measured in the same run (goal: at least 1.7 times the
float32 loop's images per second).

Usage: python bench/loop_speed.py [--images 8192] [--device auto] [--skip-colleague]
The result is also written to ``cache/bench/loop_speed-<profile>.json``. The last line is
``speedup_vs_colleague=<number>`` (``bf16_speedup=<number>`` with ``--skip-colleague``).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from svhn_debug.cache import bench_path, write_json
from svhn_debug.config import COLLEAGUE
from svhn_debug.data import load_pools
from svhn_debug.precision import PrecisionUnavailable, autocast, check_available
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


def matmul_peak(device: torch.device, n: int = 2048, repeats: int = 20, dtype: torch.dtype = torch.float32) -> float:
    """Best matrix-product rate (FLOP/s) in ``dtype`` over a few timed repeats."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
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
    parser.add_argument("--skip-colleague", action="store_true",
                        help="time only our loop, in float32 and bfloat16 (the colleague's takes minutes)")
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
    variants = {} if args.skip_colleague else {
        "colleague (as run: Cockpit on)": (colleague, "fp32"),
        "colleague without Cockpit": (replace(colleague, cockpit="off"), "fp32"),
        "ours, default memory layout": (replace(ours, channels_last=False), "fp32"),
    }
    variants["ours"] = (ours, "fp32")
    bf16 = True
    try:
        check_available("bf16", device)
        variants["ours, bfloat16"] = (ours, "bf16")
    except PrecisionUnavailable as err:
        bf16 = False
        print(f"no bfloat16 run: {err}")
    torch.set_num_threads(args.threads)  # for the matrix-product peak; train() sets its own
    train(replace(ours, epochs=1), profile, pools)  # warm-up: first-call allocations, thread pools
    peaks = {"fp32": matmul_peak(device)}
    if bf16:
        peaks["bf16"] = matmul_peak(device, dtype=torch.bfloat16)
    fwd = conv_net_flops_per_image()
    print(f"device: {device}, threads: {args.threads}, images per epoch: {args.images}")
    print(", ".join(f"{p} matrix-product peak: {v / 1e9:.1f} GFLOP/s" for p, v in peaks.items())
          + f"; CNN forward: {fwd / 1e6:.1f} MFLOP per image")
    times, rates, rows = {}, {}, {}
    for label, (cfg, precision) in variants.items():
        with autocast(precision, device):
            run = train(cfg, profile, pools)
        row = run.epochs[0]
        total = row["train_seconds"] + row["eval_seconds"]
        times[label] = total
        rates[label] = rate = args.images / row["train_seconds"]
        fraction = 3 * fwd * rate / peaks[precision]  # training = forward + backward (about 2x forward)
        rows[label] = {"precision": precision, "train_seconds": row["train_seconds"], "eval_seconds": row["eval_seconds"],
                       "images_per_second": rate, "fraction_of_peak": fraction}
        print(f"{label:<32} train {row['train_seconds']:6.1f} s ({rate:6.0f} img/s, {fraction:.2f} of its "
              f"{precision} peak)  eval {row['eval_seconds']:5.1f} s  total {total:6.1f} s")
    result = {"device": str(device), "threads": args.threads, "images": args.images, "peaks_flops": peaks,
              "cpu_capability": torch.backends.cpu.get_cpu_capability(), "variants": rows,
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if bf16:
        result["bf16_speedup"] = rates["ours, bfloat16"] / rates["ours"]
        result["bf16_peak_ratio"] = peaks["bf16"] / peaks["fp32"]
        print(f"bfloat16 matrix-product peak / float32: {result['bf16_peak_ratio']:.2f}")
    if not args.skip_colleague:
        result["speedup_vs_colleague"] = times["colleague (as run: Cockpit on)"] / times["ours"]
        result["speedup_vs_colleague_without_cockpit"] = times["colleague without Cockpit"] / times["ours"]
    print(f"saved {write_json(bench_path('loop_speed', get_profile('cpu').name), result)}")
    if not args.skip_colleague:
        print(f"speedup_vs_colleague_without_cockpit={result['speedup_vs_colleague_without_cockpit']:.2f}")
        print(f"speedup_vs_colleague={result['speedup_vs_colleague']:.2f}")
    elif bf16:
        print(f"bf16_speedup={result['bf16_speedup']:.2f}")


if __name__ == "__main__":
    main()
