"""The training loop: one flat function driven by a :class:`RunConfig`, and the run's record."""

from __future__ import annotations

import contextlib
import math
import platform
import random
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import RunConfig
from .data import Pools, build_batches, heldout_source, load_pools, make_splits
from .instruments import Instruments
from .model import build_model, count_parameters
from .precision import autocast
from .profiles import Profile, active_profile


@dataclass
class RunResult:
    """Everything one run produced: metrics per step and epoch, the test confusion matrix,
    the Cockpit log, and the evidence (config, profile, seed, versions, device, timings).

    The last evaluated epoch also holds ``heldout_loss`` and ``heldout_accuracy``: the run scored
    on the one yardstick every run shares (:func:`svhn_debug.data.heldout_source`: the held-out
    test pool, upright), whatever its own split and evaluation transform; earlier epochs hold
    ``None`` there.
    """

    config: dict[str, Any]
    profile: str
    seed: int
    steps: list[dict[str, float]]  # step, epoch, loss, lr
    epochs: list[dict[str, float | None]]  # epoch, step, {split}_loss, {split}_accuracy, heldout_*, seconds
    confusion: list[list[int]] | None  # test confusion matrix of the last evaluation [true][pred]
    diverged_at: int | None  # step at which a loss or an evaluated metric was not finite (the run stopped)
    cockpit: dict | None  # Cockpit's log (None when Cockpit was off)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs_df(self):
        """Per-epoch metrics as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.epochs)

    @property
    def steps_df(self):
        """Per-step loss and learning rate as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.steps)

    def final(self, metric: str = "test_accuracy") -> float | None:
        """Value of ``metric`` at the last evaluated epoch (``None`` if never evaluated)."""
        values = [e.get(metric) for e in self.epochs if e.get(metric) is not None]
        return values[-1] if values else None

    def best(self, metric: str = "test_accuracy") -> float | None:
        """Maximum of ``metric`` over epochs: what the notebook's ``visualize_results`` reports."""
        values = [e.get(metric) for e in self.epochs if e.get(metric) is not None]
        return max(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("config", "profile", "seed", "steps", "epochs", "confusion",
                                              "diverged_at", "cockpit", "meta")}


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else the CPU (the notebook's ``get_default_device``)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("RunConfig.device='cuda' but no CUDA device is available")
    return torch.device(name)


def parameter_groups(config: RunConfig, model: nn.Module) -> list[dict]:
    """Parameters with their weight decay: all of them (``decay_scope="all"``, the library's
    way), or only the weights of convolutions and linear layers (``"weights"``: biases and
    BatchNorm's scales and shifts are not pulled towards zero)."""
    if config.decay_scope == "all" or not config.weight_decay:
        return [{"params": list(model.parameters()), "weight_decay": config.weight_decay}]
    decayed = [p for p in model.parameters() if p.ndim > 1]
    kept = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decayed, "weight_decay": config.weight_decay}, {"params": kept, "weight_decay": 0.0}]


def _adam(config: RunConfig, groups: list[dict]) -> torch.optim.Optimizer:
    return torch.optim.Adam(groups, lr=config.lr)


def _adamw(config: RunConfig, groups: list[dict]) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=config.lr)


def _sgd(config: RunConfig, groups: list[dict]) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)


# One function per update rule: editing one reruns only the runs that used it.
OPTIMIZERS = {"adam": _adam, "adamw": _adamw, "sgd": _sgd}


def build_optimizer(config: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD with the config's learning rate and weight decay (library defaults
    otherwise)."""
    return OPTIMIZERS[config.optimizer](config, parameter_groups(config, model))


def schedule_growth_per_step(config: RunConfig, total_steps: int, full_steps: int) -> float:
    """Per-step factor of the ``exponential`` schedule on this run.

    Chosen so that the run ends with the same total growth as ``config.lr_growth`` gives over
    ``full_steps`` (the steps of the same config on full SVHN): ``g**total = lr_growth**full``.
    """
    return config.lr_growth ** (full_steps / total_steps)


def _exponential(config: RunConfig, optimizer, total_steps: int, full_steps: int):
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=schedule_growth_per_step(config, total_steps, full_steps))


def _constant(config: RunConfig, optimizer, total_steps: int, full_steps: int):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)


def _cosine(config: RunConfig, optimizer, total_steps: int, full_steps: int):
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps)))


def _warmup_cosine(config: RunConfig, optimizer, total_steps: int, full_steps: int):
    warm = max(1, round(config.warmup_fraction * total_steps))

    def factor(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(s - warm, total_steps - warm) / max(1, total_steps - warm)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _warmup_linear(config: RunConfig, optimizer, total_steps: int, full_steps: int):
    """Linear warmup over ``warmup_fraction`` of the steps, then a linear decay to zero at the
    last step: the shape short speed-run schedules use, fitted to the run's own budget."""
    warm = max(1, round(config.warmup_fraction * total_steps))

    def factor(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        return max(0.0, (total_steps - s) / max(1, total_steps - warm))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _onecycle(config: RunConfig, optimizer, total_steps: int, full_steps: int):
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps + 1,
                                               pct_start=config.warmup_fraction)


# One function per schedule: a run records the one it executed, so editing a schedule reruns only
# the runs that used it.
SCHEDULERS = {"exponential": _exponential, "constant": _constant, "cosine": _cosine,
              "warmup_cosine": _warmup_cosine, "warmup_linear": _warmup_linear, "onecycle": _onecycle}


def build_scheduler(config: RunConfig, optimizer, total_steps: int, full_steps: int):
    """The learning-rate schedule, stepped after every optimizer step."""
    return SCHEDULERS[config.scheduler](config, optimizer, total_steps, full_steps)


@contextlib.contextmanager
def fixed_numerics(config: RunConfig, device: torch.device):
    """Fix what decides a run's numerics besides its config and data, whatever launched it.

    Sets torch's CPU thread count to ``config.threads`` (a sum split over two threads rounds
    differently from one: launched with the machine's two threads, ``ablate-lr-growth`` ended at
    34.7% instead of 58.4%), asks for deterministic algorithms, and restores the process's
    settings afterwards. Yields a dict recorded with the run: the settings, the CPU's vector
    instruction set (oneDNN picks kernels by it, so another CPU can round differently), and on a
    GPU every operation that has no deterministic implementation (torch's warnings).
    """
    previous = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(), torch.backends.cudnn.benchmark)
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    record: dict[str, Any] = {"torch_threads": torch.get_num_threads(), "deterministic_algorithms": True,
                              "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if device.type == "cuda":
        record["cudnn_deterministic"] = torch.backends.cudnn.deterministic = True
    nondeterministic: set[str] = set()
    show = warnings.showwarning

    def note(message, category, filename, lineno, file=None, line=None):
        """Keep torch's "no deterministic implementation" warnings for the record; show the rest."""
        if "does not have a deterministic implementation" in str(message):
            nondeterministic.add(str(message).split(".")[0])
        else:
            show(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():  # the filters in force stay; only how warnings are shown changes
        warnings.showwarning = note
        try:
            yield record
        finally:
            torch.set_num_threads(previous[0])
            torch.use_deterministic_algorithms(previous[1], warn_only=previous[2])
            torch.backends.cudnn.benchmark = previous[3]
            record["nondeterministic_ops"] = sorted(nondeterministic)


def shifted_views(x: torch.Tensor, pixels: int = 2) -> list[torch.Tensor]:
    """``x`` and four copies shifted by ``pixels`` up, down, left and right (edges repeated):
    label-preserving views for test-time augmentation (flips are not: they turn a 2 into
    something else)."""
    padded = torch.nn.functional.pad(x, (pixels,) * 4, mode="replicate")
    h, w = x.shape[-2:]
    views = [x]
    for dy, dx in ((-pixels, 0), (pixels, 0), (0, -pixels), (0, pixels)):
        views.append(padded[..., pixels + dy:pixels + dy + h, pixels + dx:pixels + dx + w])
    return views


def _logits_plain(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x)


def _logits_shift(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean of the logits of the image and its four 2-pixel shifts."""
    return torch.stack([model(v) for v in shifted_views(x)]).mean(dim=0)


# Test-time augmentation, one function per kind.
EVAL_VIEWS = {"none": _logits_plain, "shift": _logits_shift}


@torch.no_grad()
def evaluate(model: nn.Module, batches, num_classes: int = 10, tta: str = "none") -> tuple[float, float, torch.Tensor]:
    """Mean loss and accuracy over all batches (weighted by batch size, as ``eval_dataset``),
    and the confusion matrix ``[true, predicted]``; ``tta`` names the views averaged per image."""
    logits_of = EVAL_VIEWS[tta]
    total_loss, correct, count = 0.0, 0, 0
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for x, y in batches:
        device = next(model.parameters()).device
        x, y = x.to(device), y.to(device)
        logits = logits_of(model, x)
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        pred = logits.argmax(dim=1)
        correct += (pred == y).sum().item()
        count += len(y)
        confusion += torch.bincount((y * num_classes + pred).cpu(), minlength=num_classes ** 2).view(num_classes, num_classes)
    return total_loss / count, correct / count, confusion


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("torch", "torchvision", "numpy", "cockpit-for-pytorch", "backpack-for-pytorch"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def train(config: RunConfig, profile: Profile | None = None, pools: Pools | None = None,
          progress: Callable[[int, int, dict], None] | None = None, keep_model: bool = False) -> RunResult:
    """Train one model as ``config`` says, on ``profile``'s budget; return its :class:`RunResult`.

    Args:
        config: What to run.
        profile: Budget (data sizes, epoch scaling); the active profile when ``None``.
        pools: Pre-loaded data pools; loaded for ``profile`` when ``None``.
        progress: Called as ``progress(step, total_steps, last_metrics)`` after every step.
        keep_model: Attach the trained model and optimizer as ``result.model`` and
            ``result.optimizer`` (never cached; for tests and interactive inspection).

    Returns:
        The run's record. A non-finite loss stops the run; ``diverged_at`` holds that step.
        ``meta["numerics"]`` records the thread count, the determinism settings and the
        precision the run computed in (``config.precision``: ``bf16`` runs the whole loop under
        :func:`svhn_debug.precision.autocast`, evaluations included).
    """
    profile = profile or active_profile()
    pools = pools or load_pools(profile)
    device = resolve_device(config.device)
    with fixed_numerics(config, device) as numerics, autocast(config.precision, device) as arithmetic:
        result = _train(config, profile, pools, device, progress, keep_model)
    result.meta["numerics"] = {**numerics, **arithmetic}
    return result


def _train(config: RunConfig, profile: Profile, pools: Pools, device: torch.device,
           progress: Callable[[int, int, dict], None] | None, keep_model: bool) -> RunResult:
    """The loop itself, top to bottom (:func:`train` fixes the numerics around it)."""
    started = time.time()

    # --- seeds: the notebook's set_seeds() ---
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)

    # --- data: uint8 tensors on the device; shuffling and augmentation draw from own generators ---
    splits = make_splits(pools, profile, config)
    batches = build_batches(splits, config, device, eval_limit=config.eval_train_examples)
    heldout = heldout_source(pools, profile, config, device)  # the yardstick, after the last epoch

    # --- model, losses and instruments (BackPACK's extend only when Cockpit is on) ---
    model = build_model(config)
    instruments = Instruments(config, model)
    model = instruments.extend(model).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    instruments.attach(model)
    loss_fn = instruments.extend(nn.CrossEntropyLoss(label_smoothing=config.label_smoothing))
    per_example_loss_fn = instruments.extend(nn.CrossEntropyLoss(reduction="none"))

    # --- optimizer and schedule ---
    epochs = profile.epochs(config.epochs)
    steps_per_epoch = len(batches["train"])
    total_steps = epochs * steps_per_epoch
    full_steps = profile.full_steps(config.epochs, config.batch_size)
    optimizer = build_optimizer(config, model)
    scheduler = build_scheduler(config, optimizer, total_steps, full_steps)

    steps: list[dict] = []
    epoch_rows: list[dict] = []
    confusion = None
    diverged_at = None
    step = 0
    last: dict = {}
    model.train()
    for epoch in range(epochs):
        epoch_start = time.time()
        for x, y in batches["train"]:
            x, y = x.to(device), y.to(device)  # no-op on the fast path (already there)
            if config.zero_grad:
                optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            loss = loss_fn(logits, y)
            losses = per_example_loss_fn(logits, y) if (config.per_example_losses or instruments.enabled) else None
            lr = optimizer.param_groups[0]["lr"]
            loss_value = loss.item()  # host-device sync point, once per step
            if not math.isfinite(loss_value):
                diverged_at = step
                break
            with instruments.around_backward(step, loss, losses, optimizer) as create_graph:
                loss.backward(create_graph=create_graph)
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            step += 1
            scheduler.step()
            steps.append({"step": step, "epoch": epoch + 1, "loss": loss_value, "lr": lr})
            if progress:
                progress(step, total_steps, last)
        train_seconds = time.time() - epoch_start
        if diverged_at is not None:
            break

        # --- evaluation: the notebook's eval_model(), every eval_every epochs and at the end ---
        if (epoch + 1) % config.eval_every and epoch + 1 != epochs:
            continue
        eval_start = time.time()
        model.eval()
        row: dict[str, Any] = {"epoch": epoch + 1, "step": step}
        for split in ("train", "validation", "test"):
            key = "train_eval" if split == "train" else split
            if key in batches:
                row[f"{split}_loss"], row[f"{split}_accuracy"], conf = evaluate(model, batches[key], tta=config.tta)
                if split == "test":
                    confusion = conf.tolist()
            else:
                row[f"{split}_loss"] = row[f"{split}_accuracy"] = None
        row["heldout_loss"] = row["heldout_accuracy"] = None
        if epoch + 1 == epochs:
            if heldout is None:
                row["heldout_loss"], row["heldout_accuracy"] = row["test_loss"], row["test_accuracy"]
            else:
                row["heldout_loss"], row["heldout_accuracy"], _ = evaluate(model, heldout, tta=config.tta)
        if config.restore_train_mode:
            model.train()
        row["train_seconds"] = train_seconds
        row["eval_seconds"] = time.time() - eval_start
        epoch_rows.append(row)
        last = row
        instruments.log(step, epoch + 1, row, optimizer.param_groups[0]["lr"])
        # A finite last loss does not make a sound model: the last update can still leave
        # non-finite weights, which only the evaluation shows.
        if any(v is not None and not math.isfinite(v) for k, v in row.items() if k.endswith(("_loss", "_accuracy"))):
            diverged_at = step
            break

    meta = {
        "n_params": count_parameters(model),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "versions": _versions(),
        "epochs_run": epochs,
        "steps_per_epoch": steps_per_epoch,
        "total_steps": total_steps,
        "full_steps": full_steps,
        "lr_growth_per_step": schedule_growth_per_step(config, total_steps, full_steps),
        "n_examples": {name: len(s.labels) for name, s in splits.items()},
        "data_fingerprint": pools.fingerprint,
        "cockpit_quantities": instruments.plan,
        "cockpit_dropped": instruments.dropped,
        "seconds": time.time() - started,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    result = RunResult(config=config.to_dict(), profile=profile.name, seed=config.seed, steps=steps,
                       epochs=epoch_rows, confusion=confusion, diverged_at=diverged_at,
                       cockpit=instruments.output(), meta=meta)
    if keep_model:
        result.model, result.optimizer = model, optimizer
    return result
