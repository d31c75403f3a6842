"""Arithmetic precision of a run: float32 throughout, or bfloat16 mixed precision.

``bf16`` runs the forward passes (training and evaluation) under ``torch.autocast`` with
bfloat16: convolutions and matrix products compute in bfloat16, while the weights, the
optimizer's state and the updates stay float32 (the "master weights"), and the loss and the
reductions autocast keeps in float32 stay there. The backward pass follows the dtypes the
forward pass recorded. On a CPU this is only worth it, and only offered, where the processor has
bfloat16 dot-product instructions (oneDNN uses them: AVX-512 BF16 or AMX); elsewhere
:func:`autocast` refuses with an error instead of quietly running float32 or a slow emulation.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

PRECISIONS = ("fp32", "bf16")
"""The allowed values: float32 everywhere, or bfloat16 autocast with float32 master weights."""


class PrecisionUnavailable(RuntimeError):
    """The hardware cannot run the asked precision natively."""


def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU has bfloat16 dot-product instructions that oneDNN uses (AVX-512 BF16
    or AMX), read from the kernel's CPU flags; ``False`` where they cannot be read."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        return False
    return False


def check_available(precision: str, device: torch.device) -> None:
    """Raise :class:`PrecisionUnavailable` (or ``ValueError`` for an unknown name) unless
    ``device`` can run ``precision`` natively."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported(including_emulation=False):
            raise PrecisionUnavailable(f"precision='bf16' needs a GPU with bfloat16 support; "
                                       f"{torch.cuda.get_device_name(device)} has none: use precision='fp32'")
        return
    if not cpu_has_bf16():
        raise PrecisionUnavailable("precision='bf16' needs a CPU with bfloat16 instructions (AVX-512 BF16 or AMX); "
                                   "this one has none, so bfloat16 would be emulated and slower: use precision='fp32'")


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[dict]:
    """Run the block in ``precision`` on ``device``; yields what to record with the run.

    ``fp32`` changes nothing. ``bf16`` enters ``torch.autocast(device.type, torch.bfloat16)``
    after :func:`check_available`, with autocast's weight cache off: the cache keeps the bfloat16
    copy of each float32 weight until the outermost context exits, so a context around a whole
    run would feed every forward pass the initial weights (only BatchNorm's parameters, which are
    not cast, would train; ``bench/bf16_weight_cache.py`` measures it). Without the cache a weight
    is cast again at each use, which is what a context around each step would do anyway.
    """
    check_available(precision, device)
    record = {"precision": precision}
    if precision == "fp32":
        yield record
        return
    record["autocast_dtype"] = "bfloat16"
    with torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False):
        yield record
