"""Cockpit instruments around ``backward()``: which quantities, how often, and one context manager.

Facts this module is built on (measured on this stack):

- Every backward pass of a BackPACK-extended model prints torch's "Full backward hook is firing"
  warning; it is harmless here, so that one message is filtered.
- ``HessMaxEV`` draws from torch's global random generator; the context runs inside
  ``torch.random.fork_rng`` so that tracking never changes the training trajectory.
- With the default ``curvature="diag_h"``, HessTrace/TICDiag/TICTrace run out of memory on the
  tanh CNN; ``diag_ggn_exact`` is used instead.
- With BatchNorm in train mode, per-example gradients are not defined (BatchNorm mixes the
  examples of a batch), so per-example quantities would be meaningless and curvature quantities
  fail. Such quantities are dropped, loudly and on record (``Instruments.dropped``); Loss,
  GradNorm, Distance, UpdateSize and HessMaxEV stay correct and are kept.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from .config import RunConfig

warnings.filterwarnings("ignore", message="Full backward hook is firing when gradients are computed with respect")
warnings.filterwarnings("ignore", message="pkg_resources is deprecated as an API")

CHEAP = ("Distance", "GradNorm", "Loss", "UpdateSize")
BATCHNORM_SAFE = frozenset({"Loss", "GradNorm", "Distance", "UpdateSize", "HessMaxEV"})
CURVATURE = frozenset({"HessTrace", "TICDiag", "TICTrace"})


def quantity_plan(config: RunConfig) -> tuple[list[tuple[str, int]], list[str]]:
    """Quantities to track as ``[(class name, interval)]``, and those dropped (with the reason).

    ``colleague``: Alpha every 10 intervals, the four cheap ones every interval (the notebook's
    setting with interval 1). ``scalars``: the four cheap ones. ``economy``/``business``/``full``:
    Cockpit's presets, every quantity at the interval.
    """
    k = config.cockpit_interval
    if config.cockpit == "off":
        return [], []
    if config.cockpit == "colleague":
        plan = [("Alpha", 10 * k)] + [(name, k) for name in CHEAP]
    elif config.cockpit == "scalars":
        plan = [(name, k) for name in CHEAP]
    else:
        from cockpit.utils.configuration import quantities_cls_for_configuration

        plan = [(cls.__name__, k) for cls in quantities_cls_for_configuration(config.cockpit)]
    dropped = []
    if config.batchnorm:
        dropped = [f"{name}: per-example gradients are undefined with BatchNorm in train mode"
                   for name, _ in plan if name not in BATCHNORM_SAFE]
        plan = [(name, interval) for name, interval in plan if name in BATCHNORM_SAFE]
    return plan, dropped


def _make_quantity(name: str, interval: int):
    from cockpit import quantities
    from cockpit.utils import schedules

    schedule = schedules.linear(interval=interval)
    kwargs: dict[str, Any] = {"curvature": "diag_ggn_exact"} if name in CURVATURE else {}
    return getattr(quantities, name)(track_schedule=schedule, **kwargs)


class Instruments:
    """Cockpit (or nothing) attached around ``backward()``.

    Usage in the loop::

        with instruments.around_backward(step, loss, losses, optimizer) as create_graph:
            loss.backward(create_graph=create_graph)
    """

    def __init__(self, config: RunConfig, model: torch.nn.Module) -> None:
        self.plan, self.dropped = quantity_plan(config)
        for reason in self.dropped:
            warnings.warn(f"Cockpit quantity dropped: {reason}", stacklevel=2)
        self.cockpit = None
        self._model = model
        self._device = None

    @property
    def enabled(self) -> bool:
        return bool(self.plan)

    def extend(self, module: torch.nn.Module) -> torch.nn.Module:
        """BackPACK's ``extend`` when Cockpit is on (free when nothing is tracked), else as is."""
        if not self.enabled:
            return module
        from backpack import extend

        return extend(module)

    def attach(self, model: torch.nn.Module) -> None:
        """Build the Cockpit over the (extended, moved) model's parameters."""
        if self.enabled:
            from cockpit import Cockpit

            self.cockpit = Cockpit(model.parameters(), quantities=[_make_quantity(n, k) for n, k in self.plan])
            self._device = next(model.parameters()).device

    @contextlib.contextmanager
    def around_backward(self, step: int, loss: torch.Tensor, losses: torch.Tensor | None,
                        optimizer: torch.optim.Optimizer):
        """Context for one ``backward()``; yields the ``create_graph`` flag to pass to it."""
        if self.cockpit is None:
            yield False
            return
        devices = [self._device] if self._device.type == "cuda" else []
        # Some quantities draw from the global generator: fork it so training never notices.
        with torch.random.fork_rng(devices=devices):
            info = {"batch_size": losses.shape[0], "individual_losses": losses, "loss": loss, "optimizer": optimizer}
            with self.cockpit(step, info=info):
                yield self.cockpit.create_graph(step)

    def log(self, step: int, epoch: int, metrics: dict[str, float | None], lr: float) -> None:
        """Cockpit's per-epoch log entry (losses, accuracies, learning rate)."""
        if self.cockpit is not None:
            self.cockpit.log(step, epoch, metrics.get("train_loss"), metrics.get("validation_loss"),
                             metrics.get("test_loss"), metrics.get("train_accuracy"),
                             metrics.get("validation_accuracy"), metrics.get("test_accuracy"), lr)

    def output(self) -> dict | None:
        """Cockpit's log as plain JSON data (what ``Cockpit.write`` stores), or ``None``."""
        if self.cockpit is None:
            return None
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
            path = Path(tmp) / "log"
            self.cockpit.write(str(path))  # prints "[cockpit] writing output to ..."
            return json.loads((Path(tmp) / "log.json").read_text())


def write_log(log: dict, path: Path) -> Path:
    """Write a Cockpit log in the format Cockpit's plotter reads (``<path>.json``)."""
    target = Path(str(path) + ".json")
    target.write_text(json.dumps(log))
    return target


def gzip_json(data: Any) -> bytes:
    """Compact, gzipped JSON (Cockpit logs shrink about tenfold)."""
    return gzip.compress(json.dumps(data, separators=(",", ":")).encode(), mtime=0)
