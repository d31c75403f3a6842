"""Health checks for any PyTorch training: could a machine have caught the colleague's bugs?

Three ways in:

* :class:`TrainingMonitor` attaches hooks to a model and its optimizer, with no change to the
  training loop, and reports :class:`Finding`\\ s (``.findings()``); ``.detach()`` removes every hook.
* :func:`check_splits` and :func:`check_eval_transforms` look at the data: samples shared
  between the training split and the others (by a hash of their content), and random transforms
  on evaluation data (the same index read twice differs).
* ``python -m svhn_debug.checks SCRIPT.py [ARGS...]`` runs a training script unchanged (its folder
  first on ``sys.path``, as ``python SCRIPT.py`` has it): PyTorch's global hooks (optimizer steps,
  module calls) attach a monitor to every optimizer it steps and the model it trains, the loss is
  read from the scalar ``.backward()`` is called on (functional and hand-written losses count),
  and the findings are printed when the script ends or is interrupted, followed by what was
  monitored and what could not be seen; the script's exit code is kept.

What the monitor sees: the optimizer's steps and learning rates, the gradients present when a
backward pass starts (left-over gradients are judged when their own optimizer steps on them, so a
GAN's generator backpropagating through its discriminator is no accumulation), the model's mode
and inputs (inputs that another module made, such as a generator's images, are not data), the
outputs of its activation modules, and the loss: from ``.backward()`` under the script runner,
otherwise from a loss *module* (``nn.CrossEntropyLoss()``; a :class:`TrainingMonitor` attached by
hand does not see ``F.cross_entropy``). Costly looks (weights, gradient norms, activations) are
taken every ``interval`` steps only.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import statistics
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook  # global: every optimizer
from torch import nn
from torch.nn import functional as F

SEVERITIES = ("info", "warning", "error")

CODES: dict[str, tuple[str, str]] = {
    "GRAD_ACCUMULATION": ("error", "Gradients from before the last optimizer step were still there when the next "
                                   "backward pass started, so every step adds up all earlier gradients. Clear them "
                                   "with optimizer.zero_grad() once per step (before backward)."),
    "LR_GROWTH": ("error", "The learning rate keeps rising without levelling off, which no warmup does. Check the "
                           "scheduler (an ExponentialLR with gamma > 1, a step schedule with gamma > 1, a warmup "
                           "that never ends?)."),
    "LR_TOO_SMALL": ("warning", "The updates are negligible against the weights, so training barely moves them. "
                                "The learning rate is probably far too small for this optimizer."),
    "NOT_LEARNING": ("warning", "The loss stays at the level of guessing from the class frequencies alone: the "
                                "network has learned nothing about its inputs. Look at the learning rate, the "
                                "gradients and the labels."),
    "TRAIN_IN_EVAL_MODE": ("error", "The optimizer stepped while BatchNorm or dropout layers were in evaluation mode, "
                                    "so they do not behave as in training. Call model.train() after evaluating."),
    "UNNORMALISED_INPUTS": ("warning", "The inputs are far from zero mean and unit variance per channel, which slows "
                                       "or stalls training. Standardise them with the training set's statistics."),
    "SATURATED_ACTIVATIONS": ("warning", "Many activations sit where their gradient is (nearly) zero: tanh or "
                                         "sigmoid saturated, or ReLUs that never fire. Check the initialisation, the "
                                         "input scale and the learning rate."),
    "VANISHING_GRADIENTS": ("warning", "The gradients of the first layers are tiny against those of the last, so the "
                                       "early layers barely learn. Consider normalisation layers or another activation."),
    "EXPLODING_GRADIENTS": ("error", "The gradient norm grew by orders of magnitude or became non-finite. Lower the "
                                     "learning rate, clip gradients, or look for a growing schedule."),
    "OSCILLATING_LOSS": ("warning", "The loss swings up and down without a downward trend. The learning rate is "
                                    "probably too large."),
    "NON_FINITE_LOSS": ("error", "The loss became NaN or infinite; training cannot continue meaningfully. Lower the "
                                 "learning rate or look for a division by zero or log(0)."),
    "SPLIT_OVERLAP": ("error", "Samples of the training split also appear in an evaluation split, so its scores "
                               "measure memory, not generalisation. Build the splits from disjoint samples."),
    "LOSS_INPUT_MISMATCH": ("error", "The loss is fed outputs of the wrong kind: probabilities where it applies its own "
                                     "(log-)softmax or sigmoid (softmax before CrossEntropyLoss, sigmoid before "
                                     "BCEWithLogitsLoss), or raw scores where it expects log-probabilities (NLLLoss "
                                     "without log_softmax). The loss then trains on squashed or wrongly scaled "
                                     "outputs. Give the loss what its documentation asks for."),
    "OVERFITTING": ("warning", "The evaluation loss has risen at each of the last evaluations while the training loss "
                               "kept falling: the network is fitting its training data at the expense of new data. "
                               "Stop earlier (keep the model with the best validation loss), regularise, augment, or "
                               "use more data."),
    "NO_GRADIENT": ("warning", "Parameters the optimizer updates never had a gradient when it stepped: they are not on "
                               "the path from the inputs to the loss (a detached tensor, a layer built but never "
                               "called, a branch under no_grad), so they never learn; where no parameter has one, "
                               "the gradients are cleared between backward() and step(), or backward() is never "
                               "called. Check the model's forward pass and the order of the calls."),
    "OUTPUT_RANGE": ("error", "The loss compares outputs squashed into a range (a sigmoid's 0 to 1, a tanh's -1 to 1, "
                              "a softmax's probabilities, a ReLU's non-negative values) with targets outside it: the "
                              "outputs can never reach those targets, so the loss cannot approach zero and the "
                              "network is pushed to saturate. Scale the targets into the output's range, or drop the "
                              "squashing before the loss."),
    "UNCHANGED_WEIGHTS": ("warning", "Weights the optimizer holds had a gradient but did not change at any sampled "
                                     "step: their parameter group's learning rate is 0, or the update skips them. "
                                     "They never learn. Check the parameter groups given to the optimizer."),
    "EVAL_AUGMENTATION": ("warning", "Reading the same evaluation sample twice gives different inputs: a random "
                                     "transform is applied to evaluation data, which makes its scores noisy and "
                                     "biased. Use deterministic transforms for evaluation."),
}
"""Every finding code: its severity and what it means, in words."""

_NORM_OR_DROPOUT = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)  # behave differently in eval mode


@dataclass(frozen=True)
class Finding:
    """One problem found: ``code`` (a key of :data:`CODES`), ``severity``, ``message`` (what was
    seen, what it usually means, what to try), ``evidence`` (the numbers behind it) and ``step``
    (the optimizer step at which it was first raised; ``None`` for the data checks)."""

    code: str
    severity: str
    message: str
    evidence: dict = field(default_factory=dict)
    step: int | None = None

    def __str__(self) -> str:
        at = f" (step {self.step})" if self.step is not None else ""
        return f"{self.severity.upper()} {self.code}{at}: {self.message}"

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "message": self.message,
                "evidence": self.evidence, "step": self.step}


def _finding(code: str, seen: str, evidence: dict, step: int | None = None) -> Finding:
    severity, meaning = CODES[code]
    return Finding(code, severity, f"{seen} {meaning}", evidence, step)


@dataclass(frozen=True)
class Thresholds:
    """When the monitor speaks. The defaults are rules of thumb (noted beside each)."""

    interval: int = 10  # costly looks (weights, gradient norms, activations) every this many steps
    lr_growth_steps: int = 20  # this many steps in a row rising by the same factor > 1 is not a warmup
    lr_growth_jumps: int = 3  # ... nor this many jumps by the same factor > 1 with flat stretches between (step doubling)
    lr_rising_steps: int = 5000  # a rate only rising this long, to twice its value, is no warmup (Transformer's: 4000; CyclicLR's half-cycle: 2000)
    update_ratio: float = 1e-3  # median |update| / |weights| below this: negligible (healthy is ~1e-3 to 1e-2)
    update_samples: int = 3  # sampled steps needed before judging the update size
    not_learning_steps: int = 100  # judge "not learning" only after this many steps
    not_learning_share: float = 0.9  # recent loss above this share of log(classes) ...
    not_learning_drop: float = 0.05  # ... and less than 5% below the first losses
    input_mean: float = 1.0  # |channel mean| / channel std above this: off-centre inputs
    input_std: tuple[float, float] = (0.5, 2.0)  # channel std outside this range: badly scaled inputs
    input_batches: int = 3  # training batches whose inputs are looked at
    saturation: float = 0.5  # share of saturated tanh/sigmoid outputs, or of ReLU channels never firing
    vanishing_ratio: float = 1e-3  # RMS gradient of the first layer over that of the last
    exploding_factor: float = 1e3  # gradient norm above this multiple of the first sampled one
    overfit_rises: int = 2  # evaluation loss rising at this many evaluations in a row ...
    overfit_margin: float = 0.1  # ... to at least this fraction above its lowest value, while training loss falls
    oscillation_window: int = 50  # losses looked at for oscillation
    oscillation_cv: float = 0.5  # std/mean of the window's losses above this ...


class TrainingMonitor:
    """Watches one model and its optimizer through hooks; the loop stays as it is.

    Args:
        model: The network being trained.
        optimizer: Its optimizer.
        **options: Fields of :class:`Thresholds` (``interval=5``, ``update_ratio=1e-4``, ...).

    Usage::

        monitor = TrainingMonitor(model, optimizer)
        ...  # the unchanged training loop
        for finding in monitor.findings():
            print(finding)
        monitor.detach()
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, **options: Any) -> None:
        unknown = set(options) - set(Thresholds.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}; choose from "
                            f"{', '.join(Thresholds.__dataclass_fields__)}")
        self.t = Thresholds(**options)
        if self.t.interval < 1:
            raise ValueError(f"interval must be at least 1, got {self.t.interval}")
        self.model, self.optimizer = model, optimizer
        self.steps = 0
        self._found: dict[str, Finding] = {}
        self._handles: list = []
        self._lrs: list[float] = []
        self._losses: list[float] = []
        self._pending_losses: list[torch.Tensor] = []
        self._loss_seen_this_step = False
        self.loss_source: str | None = None  # "loss module" or ".backward()": where the training loss was read
        self.loss_from_backward = False  # GlobalAttach hands over the tensors .backward() was called on
        self._stepped = False  # an optimizer step happened since the last backward pass started
        self._stale: dict | None = None  # gradients left from before the last step, not cleared since
        self._produced: set[int] = set()  # storage of tensors some module made this step (not data)
        self._snapshot: list[torch.Tensor] | None = None
        self._update_ratios: list[float] = []
        self._update_samples_seen = 0  # sampled steps whose update was looked at per weight tensor
        self._unchanged: set[int] | None = None  # weights (by index in _layers) unchanged at every such step
        self._first_grad_norm: float | None = None
        self._input_batches = 0
        self._classes: int | None = None
        self._graphs_left = 3  # losses whose autograd graph is read for LOSS_INPUT_MISMATCH
        self._unnormalised: tuple | None = None  # UNNORMALISED_INPUTS, held until the step's loss is seen
        self._input_moments: tuple | None = None  # (count, sum, sum of squares) per channel of the inputs looked at
        self._input_storages: list[int] = []
        self.bce_target_storages: set[int] = set()  # inputs that are BCE targets must stay in [0, 1]
        self.inputs_are_targets = False
        self._gradient_samples = 0  # sampled steps at which the gradients were looked at
        self._never_grad: dict[int, torch.Tensor] | None = None  # parameters without a gradient so far
        self.eval_phases: list[tuple[int, float, int]] = []  # (step, mean evaluation loss, training losses seen)
        self._eval_pending: list[torch.Tensor] = []  # evaluation losses of loss modules since the last step
        self._leaves = {id(m): n for n, m in model.named_modules() if not any(True for _ in m.children())}
        self._finite: list[tuple[int, int, torch.Tensor]] = []  # (step, layer, output's min and max) not yet read
        self._first_non_finite: tuple[int, str] | None = None  # (step, layer) of the first non-finite output
        self._norm_layers = [m for m in model.modules() if isinstance(m, _NORM_OR_DROPOUT)]
        params = [p for g in optimizer.param_groups for p in g["params"] if p.requires_grad]
        if not params:
            raise ValueError("the optimizer has no parameter that requires a gradient")
        self._watched = params[0]
        self._params = params
        self._layers = [p for p in params if p.ndim > 1] or params  # weights, in the optimizer's order
        self._handles.append(optimizer.register_step_pre_hook(self._before_step))
        self._handles.append(optimizer.register_step_post_hook(self._after_step))
        self._handles.append(self._watched.register_hook(self._on_first_grad))
        # Module hooks are global and filter by module: hooks stored on the model itself would
        # travel with it into torch.save(model) (which then fails to pickle the monitor) and
        # copy.deepcopy(model) (which would copy the monitor too).
        self._activations = {id(m) for m in model.modules() if isinstance(m, (nn.Tanh, nn.Sigmoid, nn.ReLU))}
        self._handles.append(nn.modules.module.register_module_forward_pre_hook(self._on_any_input))
        self._handles.append(nn.modules.module.register_module_forward_hook(self._on_any_module))

    # ----------------------------------------------------------------- bookkeeping

    def _raise(self, code: str, seen: str, evidence: dict, step: int | None = None) -> None:
        if code not in self._found:
            self._found[code] = _finding(code, seen, evidence, self.steps if step is None else step)

    @property
    def _sampling(self) -> bool:
        return self.steps % self.t.interval == 0

    def detach(self) -> None:
        """Remove every hook this monitor attached."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __enter__(self) -> "TrainingMonitor":
        return self

    def __exit__(self, *exc) -> None:
        self.detach()

    # ----------------------------------------------------------------- hooks

    def _on_first_grad(self, grad: torch.Tensor) -> None:
        # Called with the new gradient *before* it is added to .grad: what .grad holds now is left
        # over. Left over after a step is only a suspicion: another network's backward pass may run
        # through this one (a GAN's generator through its discriminator), and the script may clear
        # the gradients before this optimizer steps again. So it is judged at that step.
        if self._stepped or self._stale is not None:
            old = _grad_values(self._watched)
            left = old is not None and bool(_has_grad(self._watched))  # a host-device sync
            if self._stepped and left:
                new = grad.detach().coalesce().values() if grad.is_sparse else grad
                self._stale = {"stale_grad_norm": float(old.norm()), "new_grad_norm": float(new.norm())}
            elif not left:
                self._stale = None  # cleared since the step
            self._stepped = False

    def _on_input(self, module: nn.Module, args: tuple) -> None:
        if args and isinstance(args[0], torch.Tensor) and args[0].is_floating_point() and module.training \
                and torch.is_grad_enabled() and self._first_non_finite is None:
            self._finite.append((self.steps, _INPUT, _extremes(args[0])))
        if not module.training or self._input_batches >= self.t.input_batches or not args:
            return
        x = args[0]
        if not isinstance(x, torch.Tensor) or x.ndim < 2 or not x.is_floating_point():
            return
        if x.requires_grad or x.grad_fn is not None or _storage(x) in self._produced:
            return  # made by another module of the script (a generator's images): not data
        self._input_batches += 1
        dims = [d for d in range(x.ndim) if d != 1]
        v = x.detach().double()
        moments = (torch.tensor(float(v.numel() // v.shape[1]), dtype=torch.float64), v.sum(dim=dims), v.pow(2).sum(dim=dims))
        if self._input_moments is not None and self._input_moments[1].shape != moments[1].shape:
            return  # another input shape: keep the first one's statistics
        self._input_moments = moments if self._input_moments is None else \
            tuple(a + b for a, b in zip(self._input_moments, moments))
        self._input_storages.append(_storage(x))
        if self._input_batches == self.t.input_batches:
            self._pool_inputs()

    def _pool_inputs(self) -> None:
        """Judge the input statistics pooled over the batches looked at (one batch's channel
        statistics are too noisy to judge alone)."""
        if not self._input_moments or self._unnormalised is not None:
            return
        n, total, squares = self._input_moments
        mean = (total / n).float()
        std = ((squares / n - (total / n) ** 2).clamp_min(0) * n / (n - 1).clamp_min(1)).sqrt().float().clamp_min(1e-12)
        off_centre = (mean.abs() / std > self.t.input_mean).any().item()
        low, high = self.t.input_std
        badly_scaled = ((std < low) | (std > high)).any().item()
        if off_centre or badly_scaled:
            # held until the optimizer steps: an input that is also the target of a binary
            # cross-entropy loss (an autoencoder's) must stay in [0, 1]
            self._unnormalised = (set(self._input_storages), self.steps,
                                  f"Training inputs ({self._input_batches} batches) have per-channel means {_fmt(mean)} "
                                  f"and standard deviations {_fmt(std)}.",
                                  {"mean": mean.tolist(), "std": std.tolist(), "batches": self._input_batches})
        self._input_moments = ()

    def _judge_inputs(self) -> None:
        if self._unnormalised is None or "UNNORMALISED_INPUTS" in self._found:
            return
        storages, step, seen, evidence = self._unnormalised
        self._unnormalised = None
        if storages & self.bce_target_storages:
            self.inputs_are_targets = True
        if not self.inputs_are_targets:
            self._raise("UNNORMALISED_INPUTS", seen, evidence, step=step)

    def _on_output(self, module: nn.Module, args: tuple, output: Any) -> None:
        if self._classes is None and isinstance(output, torch.Tensor) and output.ndim == 2 and output.shape[1] > 1:
            self._classes = int(output.shape[1])

    def _on_any_input(self, module: nn.Module, args: tuple) -> None:
        if module is self.model:
            self._on_input(module, args)

    def _on_any_module(self, module: nn.Module, args: tuple, output: Any) -> None:
        if module is self.model:
            self._on_output(module, args, output)
        elif id(module) in self._activations:
            self._on_activation(module, args, output)
        if module is not self.model and isinstance(output, torch.Tensor):
            self._produced.add(_storage(output))
            if id(module) in self._leaves and self._first_non_finite is None and module.training \
                    and torch.is_grad_enabled() and output.is_floating_point():
                # read with the losses, once an interval: no host-device sync per layer
                self._finite.append((self.steps, id(module), _extremes(output)))
        if isinstance(module, nn.modules.loss._Loss) and not self.loss_from_backward and not torch.is_grad_enabled() \
                and isinstance(output, torch.Tensor):
            self.evaluation_loss(output)
            return
        # The training loss: the first loss module called with gradients on since the last step.
        if not isinstance(module, nn.modules.loss._Loss) or self.loss_from_backward or not torch.is_grad_enabled():
            return
        if isinstance(output, torch.Tensor):
            self.take_loss(output, "loss module")

    def read_loss_graph(self, loss: torch.Tensor) -> None:
        """Look at what fed the loss (:func:`read_graph`), for the first few losses."""
        if self._graphs_left <= 0 or loss.grad_fn is None:
            return
        self._graphs_left -= 1
        self.note_graph(read_graph(loss))

    def note_graph(self, facts: "GraphFacts") -> None:
        """What a loss's autograd graph showed (:func:`read_graph`): its problems are raised at
        this step, its binary cross-entropy targets remembered."""
        self.bce_target_storages |= facts.bce_targets
        for code, problem in facts.problems:
            self._raise(code, f"At step {self.steps}, the training loss was computed from {problem}.",
                        {"problem": problem})

    def take_loss(self, loss: torch.Tensor, source: str) -> None:
        """Record this step's training loss (the first one offered since the last step)."""
        self.read_loss_graph(loss)
        if self._loss_seen_this_step:
            return
        self._loss_seen_this_step = True
        self.loss_source = source
        self._pending_losses.append(loss.detach().float().mean())
        # At multiples of the interval, counted from the first loss: an evaluation flushes in between
        # and must not delay the judgements that fall on a multiple (NOT_LEARNING at step 99).
        if (len(self._losses) + len(self._pending_losses)) % self.t.interval == 0:
            self._flush_losses()

    def _read_finite_flags(self) -> None:
        """Find the first training-mode layer output (in call order) that was not finite."""
        if not self._finite:
            return
        flags = torch.isfinite(torch.stack([f for _, _, f in self._finite])).all(dim=1).tolist()  # one sync per interval
        for (step, layer, _), ok in zip(self._finite, flags):
            if not ok:
                self._first_non_finite = (step, self._leaves.get(layer, "input"))
                break
        self._finite.clear()

    def _flush_losses(self) -> None:
        self._read_finite_flags()
        if not self._pending_losses:
            return
        first = len(self._losses)
        values = torch.stack(self._pending_losses).tolist()  # one host-device sync per interval
        self._pending_losses.clear()
        self._losses.extend(values)
        for i, v in enumerate(values):
            if not math.isfinite(v):
                origin = self._first_non_finite
                origin = origin if origin is not None and origin[0] <= first + i else None  # later: a consequence
                if origin is not None and origin[1] == "input":
                    where = f" The model's input batch held NaN or infinite values at step {origin[0]}: look at the data."
                elif origin is not None:
                    where = (f" The first non-finite output came from layer {origin[1]} "
                             f"({type(dict(self.model.named_modules())[origin[1]]).__name__}) at step {origin[0]}.")
                else:
                    where = (" Every layer's output was finite: it arose after the layers, in the forward pass's own "
                             "arithmetic or in the loss computation.")
                self._raise("NON_FINITE_LOSS", f"The training loss was {v} at step {first + i}.{where}",
                            {"loss": str(v), "layer": None if origin is None else origin[1],
                             "layer_step": None if origin is None else origin[0]}, step=first + i)
                break
        self._judge_losses()

    def _on_activation(self, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        if not (module.training and torch.is_grad_enabled() and self._sampling) or not isinstance(output, torch.Tensor):
            return
        y = output.detach()
        if isinstance(module, nn.Tanh):
            share, what = (y.abs() > 0.99).float().mean().item(), "tanh outputs beyond ±0.99"
        elif isinstance(module, nn.Sigmoid):
            share, what = ((y < 0.01) | (y > 0.99)).float().mean().item(), "sigmoid outputs beyond 0.01/0.99"
        else:
            if y.ndim < 2:
                return
            fired = (y > 0).flatten(2).any(dim=2).any(dim=0) if y.ndim > 2 else (y > 0).any(dim=0)
            share, what = 1.0 - fired.float().mean().item(), "ReLU channels that never fired on the batch"
        if share > self.t.saturation:
            name = next((n for n, m in self.model.named_modules() if m is module), type(module).__name__)
            self._raise("SATURATED_ACTIVATIONS", f"{100 * share:.0f}% of {what} at layer {name}.",
                        {"layer": name, "share": share})

    def _before_step(self, optimizer, args, kwargs) -> None:
        step = self.steps
        if self._stale is not None:
            self._raise("GRAD_ACCUMULATION",
                        f"At step {step}, the optimizer stepped on gradients of a {tuple(self._watched.shape)} parameter "
                        f"that were not cleared after its previous step (left-over norm "
                        f"{self._stale['stale_grad_norm']:.3g}).", dict(self._stale))
            self._stale = None
        self._close_eval_pending()
        self._judge_inputs()
        self._produced.clear()
        self._lrs.append(float(optimizer.param_groups[0]["lr"]))
        self._judge_lr()
        # Training in evaluation mode: only matters where a layer behaves differently.
        in_eval = [type(m).__name__ for m in self._norm_layers if not m.training]
        if in_eval:
            self._raise("TRAIN_IN_EVAL_MODE", f"At step {step}, {len(in_eval)} layer(s) ({', '.join(sorted(set(in_eval)))}) "
                                              f"were in evaluation mode during an optimizer step.",
                        {"layers_in_eval_mode": len(in_eval)})
        if self._sampling:
            self._look_at_gradients()
            self._snapshot = [p.detach().clone() for p in self._layers]

    def _after_step(self, optimizer, args, kwargs) -> None:
        if self._snapshot is not None:
            moved = [(p.detach() - s).float().pow(2).sum() for p, s in zip(self._layers, self._snapshot)]
            pulled = [_has_grad(p) for p in self._layers]
            moved, pulled = torch.stack(moved).tolist(), torch.stack(pulled).tolist()  # one sync per sample
            num = math.sqrt(sum(moved))
            den = math.sqrt(sum(float(s.pow(2).sum()) for s in self._snapshot))
            self._snapshot = None
            self._judge_unchanged([m == 0 and g for m, g in zip(moved, pulled)])
            if den > 0:
                self._update_ratios.append(num / den)
                self._judge_updates()
        self.steps += 1
        self._stepped = True
        self._loss_seen_this_step = False

    # ----------------------------------------------------------------- judgements

    def _judge_lr(self) -> None:
        """Growth in any shape that no warmup has: the same factor > 1 at every one of the last
        ``lr_growth_steps`` steps (exponential), or at each of the last ``lr_growth_jumps``
        changes with flat stretches between (stepwise), or a rate that has only risen for
        ``lr_rising_steps`` steps to at least twice its value and still rises (linear, never
        levelling off). A
        warmup's factors shrink as it levels off, and a cyclic schedule or a restart falls in between."""
        lrs = self._lrs
        if "LR_GROWTH" in self._found or len(lrs) < 2:
            return
        changes = [(i, b / a if a > 0 else math.inf) for i, (a, b) in enumerate(zip(lrs[:-1], lrs[1:]), start=1)
                   if a != b and (a <= 0 or abs(b / a - 1) > 1e-9)]
        n, k = self.t.lr_growth_steps, self.t.lr_growth_jumps
        last = changes[-n:]
        if len(last) == n and last[0][0] == len(lrs) - n and _same_factor_above_one(r for _, r in last):
            self._raise("LR_GROWTH", f"The learning rate rose by a factor of {last[-1][1]:.5g} on each of the last {n} "
                                     f"steps (now {lrs[-1]:.3g}, from {lrs[0]:.3g}).",
                        {"shape": "exponential", "factor_per_step": last[-1][1], "lr_first": lrs[0], "lr_now": lrs[-1]})
            return
        jumps = changes[-k:]
        if len(jumps) == k and changes[-1][0] == len(lrs) - 1 and _same_factor_above_one(r for _, r in jumps) \
                and all(b - a > 1 for (a, _), (b, _) in zip(jumps[:-1], jumps[1:])):
            every = (jumps[-1][0] - jumps[0][0]) / (k - 1)
            self._raise("LR_GROWTH", f"The learning rate was multiplied by {jumps[-1][1]:.3g} at each of its last {k} "
                                     f"changes, about every {every:.0f} steps (now {lrs[-1]:.3g}, from {lrs[0]:.3g}).",
                        {"shape": "stepwise", "factor_per_jump": jumps[-1][1], "every_steps": every,
                         "lr_first": lrs[0], "lr_now": lrs[-1]})
            return
        window = self.t.lr_rising_steps
        if len(lrs) > window and changes and changes[-1][0] == len(lrs) - 1 \
                and all(r > 1 for i, r in changes if i >= len(lrs) - window) and lrs[-1] >= 2 * lrs[-window - 1]:
            self._raise("LR_GROWTH", f"The learning rate has only risen for the last {window} steps, from "
                                     f"{lrs[-window - 1]:.3g} to {lrs[-1]:.3g}, without levelling off.",
                        {"shape": "rising", "steps": window, "lr_then": lrs[-window - 1], "lr_now": lrs[-1]})

    def _judge_unchanged(self, unchanged: list[bool]) -> None:
        """UNCHANGED_WEIGHTS: weights with a gradient that the step left exactly as they were, at
        every one of the first ``update_samples`` sampled steps (a warmup from a rate of 0 moves
        them by the second sample)."""
        if self._update_samples_seen >= self.t.update_samples:
            return
        self._update_samples_seen += 1
        now = {i for i, u in enumerate(unchanged) if u}
        self._unchanged = now if self._unchanged is None else self._unchanged & now
        if self._update_samples_seen == self.t.update_samples and self._unchanged:
            names = {id(p): n for n, p in self.model.named_parameters()}
            groups = {id(p): g for g in self.optimizer.param_groups for p in g["params"]}
            which = [self._layers[i] for i in sorted(self._unchanged)]
            listed = [names.get(id(p), f"a {tuple(p.shape)} parameter") for p in which]
            lrs = sorted({float(groups[id(p)].get("lr", math.nan)) for p in which if id(p) in groups})
            shown = ", ".join(listed[:5]) + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")
            self._raise("UNCHANGED_WEIGHTS", f"{len(listed)} of the {len(self._layers)} weight tensors the optimizer "
                                             f"updates had a gradient but did not change at any of "
                                             f"{self._update_samples_seen} sampled steps: {shown} (learning rate of "
                                             f"their group: {', '.join(f'{lr:g}' for lr in lrs)}).",
                        {"parameters": listed, "learning_rates": lrs, "sampled_steps": self._update_samples_seen})

    def _judge_updates(self) -> None:
        r = self._update_ratios
        if len(r) >= self.t.update_samples and statistics.median(r) < self.t.update_ratio:
            self._raise("LR_TOO_SMALL", f"The median update was {statistics.median(r):.2g} of the weights' norm "
                                        f"over {len(r)} sampled steps.",
                        {"median_update_ratio": statistics.median(r), "samples": len(r)})

    def _judge_missing_gradients(self) -> None:
        """NO_GRADIENT: parameters without a (non-zero) gradient at every one of the first
        ``update_samples`` sampled steps (some of them, or all: a step on no gradient at all)."""
        if self._never_grad is None:
            self._never_grad = {id(p): p for p in self._params}
        for key in [k for k, p in self._never_grad.items() if bool(_has_grad(p))]:
            del self._never_grad[key]
        self._gradient_samples += 1
        if self._gradient_samples == self.t.update_samples and self._never_grad:
            names = {id(p): n for n, p in self.model.named_parameters()}
            missing = [names.get(k, f"a {tuple(p.shape)} parameter") for k, p in self._never_grad.items()]
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            every = len(missing) == len(self._params)
            seen = (f"None of the {len(self._params)} parameters the optimizer updates had a gradient when it stepped, at "
                    f"any of {self._gradient_samples} sampled steps." if every else
                    f"{len(missing)} of the {len(self._params)} parameters the optimizer updates had no gradient when it "
                    f"stepped, at any of {self._gradient_samples} sampled steps: {shown}.")
            self._raise("NO_GRADIENT", seen, {"parameters": missing, "sampled_steps": self._gradient_samples,
                                              "all": every})

    def _look_at_gradients(self) -> None:
        if self._gradient_samples < self.t.update_samples:
            self._judge_missing_gradients()
        grads = [g for g in map(_grad_values, self._layers) if g is not None and g.numel()]
        if not grads:
            return
        norm = math.sqrt(sum(float(g.detach().float().pow(2).sum()) for g in grads))
        if not math.isfinite(norm):
            self._raise("EXPLODING_GRADIENTS", f"The gradient norm was {norm} at step {self.steps}.", {"grad_norm": str(norm)})
            return
        if self._first_grad_norm is None and norm > 0:
            self._first_grad_norm = norm
        elif self._first_grad_norm and norm > self.t.exploding_factor * self._first_grad_norm:
            self._raise("EXPLODING_GRADIENTS", f"The gradient norm grew from {self._first_grad_norm:.3g} to {norm:.3g}.",
                        {"first": self._first_grad_norm, "now": norm})
        if len(grads) >= 2:
            rms = [float(g.detach().float().pow(2).mean().sqrt()) for g in (grads[0], grads[-1])]
            if rms[1] > 0 and rms[0] / rms[1] < self.t.vanishing_ratio:
                self._raise("VANISHING_GRADIENTS", f"The first layer's gradients are {rms[0] / rms[1]:.2g} times those "
                                                   f"of the last (RMS {rms[0]:.2g} against {rms[1]:.2g}).",
                            {"first_rms": rms[0], "last_rms": rms[1]})

    def _judge_losses(self) -> None:
        losses = [v for v in self._losses if math.isfinite(v)]
        if len(losses) >= self.t.not_learning_steps and self._classes and "NOT_LEARNING" not in self._found:
            chance = math.log(self._classes)
            recent, start = statistics.fmean(losses[-20:]), statistics.fmean(losses[:20])
            if recent > self.t.not_learning_share * chance and recent > (1 - self.t.not_learning_drop) * start:
                self._raise("NOT_LEARNING", f"After {len(losses)} steps the loss is {recent:.3g}, against "
                                            f"log({self._classes}) = {chance:.3g} for guessing.",
                            {"recent_loss": recent, "first_loss": start, "log_classes": chance})
        w = self.t.oscillation_window
        if len(losses) >= w and "OSCILLATING_LOSS" not in self._found:
            window = losses[-w:]
            mean = statistics.fmean(window)
            cv = statistics.pstdev(window) / mean if mean > 0 else 0.0
            first, second = statistics.fmean(window[: w // 2]), statistics.fmean(window[w // 2:])
            if cv > self.t.oscillation_cv and second > 0.9 * first:
                self._raise("OSCILLATING_LOSS", f"Over the last {w} steps the loss varied by {100 * cv:.0f}% of its mean "
                                                f"({mean:.3g}) and did not fall ({first:.3g} then {second:.3g}).",
                            {"coefficient_of_variation": cv, "first_half": first, "second_half": second})

    def evaluation_loss(self, loss: torch.Tensor) -> None:
        """A loss computed with gradients off; those between two optimizer steps are one
        evaluation (closed at the next step, or by :meth:`findings`)."""
        if loss.is_floating_point():
            self._eval_pending.append(loss.detach().float().mean())  # no host-device sync here

    def _close_eval_pending(self) -> None:
        if self._eval_pending:
            value = float(torch.stack(self._eval_pending).mean())  # one sync per evaluation
            self._eval_pending = []
            self.evaluation(value)

    def evaluation(self, loss: float) -> None:
        """One evaluation's mean loss (what the script computed with gradients off, between two
        optimizer steps); judged for OVERFITTING against the training losses between evaluations."""
        if not math.isfinite(loss):
            return
        self._flush_losses()
        self.eval_phases.append((self.steps, loss, len(self._losses)))
        self._judge_overfitting()

    def _judge_overfitting(self) -> None:
        k = self.t.overfit_rises
        phases = self.eval_phases
        if "OVERFITTING" in self._found or len(phases) < k + 2:
            return
        last = phases[-(k + 1):]
        rising = all(b[1] > a[1] for a, b in zip(last, last[1:]))
        lowest = min(p[1] for p in phases)
        train = [statistics.fmean(self._losses[a[2]:b[2]]) for a, b in zip(phases[-(k + 2):], phases[-(k + 1):])
                 if b[2] > a[2]]
        falling = len(train) == k + 1 and all(b < a for a, b in zip(train, train[1:]))
        if rising and falling and last[-1][1] >= (1 + self.t.overfit_margin) * lowest:
            self._raise("OVERFITTING", f"The evaluation loss rose from {last[0][1]:.3g} to {last[-1][1]:.3g} over the last "
                                       f"{k + 1} evaluations (lowest {lowest:.3g}) while the mean training loss fell from "
                                       f"{train[0]:.3g} to {train[-1]:.3g}.",
                        {"evaluation_losses": [p[1] for p in phases], "training_losses": train, "lowest": lowest})

    def findings(self) -> list[Finding]:
        """Everything found so far, in the order it was first raised (errors before warnings
        on the same step)."""
        self._close_eval_pending()
        self._flush_losses()
        if self._input_moments:  # fewer batches than input_batches: judge what was seen
            self._pool_inputs()
        self._judge_inputs()
        order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
        return sorted(self._found.values(), key=lambda f: (f.step if f.step is not None else -1, order[f.severity]))


_EVAL_LOSSES = ("cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss")
"""Loss functions of ``torch.nn.functional`` whose values with gradients off are evaluation losses."""

_INPUT = 0  # layer key of the model's input in the finiteness flags (module ids are never 0)

_PASS_THROUGH = ("View", "Reshape", "UnsafeView", "Squeeze", "Unsqueeze", "Permute", "Transpose", "T",
                 "Clone", "ToCopy", "Contiguous", "Expand", "Alias")
"""Autograd nodes that only reshape or copy: looked through when reading what fed a loss."""


def _node_name(node) -> str:
    name = type(node).__name__
    for suffix in ("Backward0", "Backward1", "Backward"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _graph_nodes(loss: torch.Tensor, depth: int = 12):
    """The nodes of ``loss``'s autograd graph, breadth first, down to ``depth`` levels."""
    frontier, seen = [loss.grad_fn], set()
    for _ in range(depth):
        nxt = []
        for node in frontier:
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            yield node
            nxt.extend(n for n, _ in getattr(node, "next_functions", ()) if n is not None)
        frontier = nxt


def bce_targets(loss: torch.Tensor) -> list[torch.Tensor]:
    """The targets of the binary cross-entropy losses in ``loss``'s autograd graph (as saved by
    autograd for the backward pass): inputs that are also such targets must stay in [0, 1]."""
    return [t for node in _graph_nodes(loss)
            if _node_name(node) in ("BinaryCrossEntropy", "BinaryCrossEntropyWithLogits")
            for t in [getattr(node, "_saved_target", None)] if isinstance(t, torch.Tensor)]


def _source(node, depth: int = 8):
    """The first node feeding ``node``'s first input that is not a reshape or a copy."""
    for _ in range(depth):
        inputs = [n for n, _ in getattr(node, "next_functions", ()) if n is not None]
        if not inputs:
            return None
        node = inputs[0]
        if _node_name(node) not in _PASS_THROUGH:
            return node
    return None


def loss_input_problem(loss: torch.Tensor) -> str | None:
    """What is wrong with the input of the loss that produced ``loss``, read from its autograd
    graph (so a loss module, ``F.cross_entropy`` and ``F.nll_loss`` all count); ``None``: nothing
    found. Looks only at the graph; computes nothing."""
    for node in _graph_nodes(loss):
        name = _node_name(node)
        fed = _source(node)
        fed_name = _node_name(fed) if fed is not None else None
        if name.startswith("NllLoss"):
            if fed_name == "LogSoftmax":
                before = _source(fed)
                if before is not None and _node_name(before) == "Softmax":
                    return "softmax, then a cross-entropy loss that applies log_softmax again"
            elif fed_name == "Softmax":
                return "softmax probabilities fed to NLLLoss, which expects log-probabilities"
            elif fed_name in ("Addmm", "Mm", "Linear", "Convolution", "MkldnnConvolution"):
                return "raw scores of a linear layer fed to NLLLoss, which expects log-probabilities"
        if name == "BinaryCrossEntropyWithLogits" and fed_name == "Sigmoid":
            return "sigmoid, then BCEWithLogitsLoss, which applies the sigmoid again"
    return None


_SQUASHED = {"Sigmoid": ("a sigmoid", 0.0, 1.0), "Tanh": ("a tanh", -1.0, 1.0), "Softmax": ("a softmax", 0.0, 1.0),
             "Relu": ("a ReLU", 0.0, math.inf)}
"""Outputs with a bounded range: what they are called and their range."""

_REGRESSION_LOSSES = ("MseLoss", "SmoothL1Loss", "HuberLoss")
"""Losses whose backward node keeps the target (``_saved_target``) beside the output."""


def output_range_problem(loss: torch.Tensor, share: float = 0.01) -> str | None:
    """A regression loss fed outputs of bounded range (sigmoid, tanh, softmax, ReLU) whose targets
    lie outside that range (more than ``share`` of them): outputs that cannot reach their labels.
    Reads the target autograd saved for the backward pass (one host-device sync)."""
    for node in _graph_nodes(loss):
        if _node_name(node) not in _REGRESSION_LOSSES:
            continue
        fed = _source(node)
        target = getattr(node, "_saved_target", None)
        if fed is None or _node_name(fed) not in _SQUASHED or not isinstance(target, torch.Tensor) \
                or not target.is_floating_point() or target.numel() == 0:
            continue
        what, low, high = _SQUASHED[_node_name(fed)]
        t = target.detach()
        outside = float(((t < low) | (t > high)).float().mean())
        if outside > share:
            lo, hi = float(t.min()), float(t.max())
            span = f"[{low:g}, {high:g}]" if math.isfinite(high) else f"[{low:g}, infinity)"
            return (f"{what}'s outputs, which lie in {span}, against targets from {lo:.3g} to {hi:.3g} "
                    f"({100 * outside:.0f}% of them out of reach)")
    return None


@dataclass(frozen=True)
class GraphFacts:
    """What one loss's autograd graph shows: ``problems`` as (code, what was seen) and the
    storages of its binary cross-entropy targets."""

    problems: tuple[tuple[str, str], ...] = ()
    bce_targets: frozenset[int] = frozenset()


def read_graph(loss: torch.Tensor) -> GraphFacts:
    """Read ``loss``'s autograd graph once for every check that looks at it (before its backward
    pass frees what it saved). A graph whose saved tensors are already freed (a second backward
    pass, which PyTorch itself then refuses) shows nothing."""
    try:
        problems = tuple((code, problem) for code, problem in
                         (("LOSS_INPUT_MISMATCH", loss_input_problem(loss)), ("OUTPUT_RANGE", output_range_problem(loss)))
                         if problem)
        return GraphFacts(problems, frozenset(_storage(t) for t in bce_targets(loss)))
    except RuntimeError:
        return GraphFacts()


def _extremes(x: torch.Tensor) -> torch.Tensor:
    """The largest and smallest value of ``x`` as a float tensor of two, on its device (zeros for
    an empty tensor): both are finite exactly when every value is (NaN reaches both, an infinity
    one of them). Two reductions in the tensor's own memory layout, without a temporary:
    ``torch.isfinite(x).all()`` and ``torch.aminmax`` were each over ten times slower here on the
    book's channels-last feature maps. No host-device sync."""
    x = x.detach()
    if x.numel() == 0:
        return torch.zeros(2, device=x.device)
    return torch.stack((x.amax(), x.amin())).float()


def _grad_values(p: torch.Tensor) -> torch.Tensor | None:
    """``p``'s gradient as a dense tensor (a sparse one's stored values, as an embedding with
    ``sparse=True`` has them), or ``None``."""
    g = p.grad
    if g is None:
        return None
    return g.detach().coalesce().values() if g.is_sparse else g.detach()


def _has_grad(p: torch.Tensor) -> torch.Tensor:
    """Whether ``p`` has a gradient with a value other than zero (NaN counts: it is a gradient,
    a broken one), as a 0-d bool tensor on its device. No host-device sync."""
    g = _grad_values(p)
    if g is None or g.numel() == 0:
        return torch.zeros((), dtype=torch.bool, device=p.device)
    return (g != 0).any()


def _storage(x: torch.Tensor) -> int:
    try:
        return x.untyped_storage().data_ptr()
    except RuntimeError:  # a tensor without storage (a meta or sparse one)
        return id(x)


def _same_factor_above_one(ratios: Iterable[float]) -> bool:
    ratios = list(ratios)
    return bool(ratios) and all(math.isfinite(r) for r in ratios) and min(ratios) > 1 \
        and max(ratios) - min(ratios) <= 1e-6 * max(ratios)


def _fmt(t: torch.Tensor) -> str:
    return "(" + ", ".join(f"{v:.2g}" for v in t.tolist()) + ")"


# --------------------------------------------------------------------------- data checks


def _samples(data: Any) -> Iterable[Any]:
    """The raw samples of a split, before any transform where the dataset keeps them."""
    if isinstance(data, (torch.Tensor, np.ndarray)):
        return data
    if isinstance(data, torch.utils.data.Subset):
        inner = _samples(data.dataset)
        return (inner[int(i)] for i in data.indices) if hasattr(inner, "__getitem__") else \
            (data.dataset[int(i)][0] for i in data.indices)
    if isinstance(data, torch.utils.data.TensorDataset):
        return data.tensors[0]
    if hasattr(data, "data") and isinstance(getattr(data, "data"), (torch.Tensor, np.ndarray)):
        return data.data  # torchvision's SVHN, CIFAR, MNIST keep the raw images here
    if hasattr(data, "images") and isinstance(getattr(data, "images"), (torch.Tensor, np.ndarray)):
        return data.images
    return (data[i][0] for i in range(len(data)))  # transforms applied: random ones defeat the check


def _digest(sample: Any) -> bytes:
    a = sample.detach().cpu().numpy() if isinstance(sample, torch.Tensor) else np.asarray(sample)
    return hashlib.blake2b(np.ascontiguousarray(a).tobytes() + str(a.shape).encode(), digest_size=16).digest()


def check_splits(train: Any, others: Mapping[str, Any]) -> list[Finding]:
    """Samples of ``train`` that also appear in any of ``others`` (a dict of named splits),
    compared by a hash of their content. A split may be a tensor or array of samples, a
    ``TensorDataset``, a ``Subset``, or a dataset with a ``data`` array (torchvision's)."""
    seen = {_digest(s) for s in _samples(train)}
    out = []
    for name, split in others.items():
        digests = [_digest(s) for s in _samples(split)]
        shared = sum(d in seen for d in digests)
        if shared:
            out.append(_finding("SPLIT_OVERLAP", f"{shared:,} of {len(digests):,} samples of the {name} split "
                                                 f"({100 * shared / len(digests):.0f}%) are also training samples.",
                                {"split": name, "shared": shared, "size": len(digests)}))
    return out


def check_eval_transforms(dataset: Any, name: str = "evaluation", samples: int = 8) -> list[Finding]:
    """Read the first ``samples`` items of ``dataset`` twice; any difference means a random
    transform on data that should be read the same way every time."""
    n = min(samples, len(dataset))
    differ = [i for i in range(n) if _digest(_first(dataset[i])) != _digest(_first(dataset[i]))]
    if not differ:
        return []
    return [_finding("EVAL_AUGMENTATION", f"{len(differ)} of {n} {name} samples read twice gave different inputs.",
                     {"dataset": name, "differing": len(differ), "read": n})]


def _first(item: Any) -> Any:
    return item[0] if isinstance(item, (tuple, list)) else item


# --------------------------------------------------------------------------- unchanged scripts


class GlobalAttach:
    """Attach a :class:`TrainingMonitor` to every optimizer that steps while this is active, paired
    with the top-level module whose parameters it updates."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.monitors: list[TrainingMonitor] = []
        self._by_optimizer: dict[int, TrainingMonitor] = {}
        self._top: list[nn.Module] = []
        self._depth = 0
        self._handles: list = []
        self._losses: list[torch.Tensor] = []  # what .backward() was called on since the last step
        self._backward = None
        self.backward_calls = 0
        self._graphs_left = 3  # .backward() losses whose autograd graph is read
        self._graph_facts: list[GraphFacts] = []  # what those graphs showed, for the next optimizer step
        self._last_monitor: TrainingMonitor | None = None
        self._functional: dict[str, Any] = {}
        self._loader_iter = None
        self._last_loader = None  # the DataLoader that yielded most recently
        self.train_sets: list = []  # datasets behind loaders whose batches fed an optimizer step
        self.eval_sets: list = []  # datasets behind loaders iterated with gradients off, never feeding a step

    def __enter__(self) -> "GlobalAttach":
        self._handles = [nn.modules.module.register_module_forward_pre_hook(self._enter_module),
                         nn.modules.module.register_module_forward_hook(self._leave_module),
                         register_optimizer_step_pre_hook(self._on_step)]
        # The training loss wherever it is computed (a loss module, F.cross_entropy, by hand): the
        # scalar that .backward() is called on. The call itself goes on unchanged.
        self._backward = original = torch.Tensor.backward
        attach = self

        @functools.wraps(original)
        def backward(tensor, *args, **kwargs):
            if isinstance(tensor, torch.Tensor) and tensor.numel() == 1:
                attach.backward_calls += 1
                attach._losses.append(tensor.detach())
                if attach._graphs_left > 0 and tensor.grad_fn is not None:
                    attach._graphs_left -= 1  # read now: the backward pass frees what the graph saved
                    attach._graph_facts.append(read_graph(tensor))
            return original(tensor, *args, **kwargs)
        torch.Tensor.backward = backward
        # Evaluation losses: a loss function called with gradients off (loss modules call these
        # too). The call goes on unchanged; its value is kept without a host-device sync.
        for name in _EVAL_LOSSES:
            self._functional[name] = fn = getattr(F, name)
            setattr(F, name, self._watch_loss(fn))
        # Which DataLoaders train and which evaluate, for the data checks at the end.
        self._loader_iter = original_iter = torch.utils.data.DataLoader.__iter__

        @functools.wraps(original_iter)
        def loader_iter(loader):
            return _WatchedIterator(attach, loader, original_iter(loader))
        torch.utils.data.DataLoader.__iter__ = loader_iter
        return self

    def _watch_loss(self, fn):
        attach = self

        @functools.wraps(fn)
        def loss(*args, **kwargs):
            out = fn(*args, **kwargs)
            # an evaluation loss, for the monitor of the optimizer that stepped last, which closes
            # the evaluation at its next step (losses before any step have no monitor to go to)
            if not torch.is_grad_enabled() and isinstance(out, torch.Tensor) and out.is_floating_point() \
                    and attach._last_monitor is not None:
                attach._last_monitor.evaluation_loss(out)
            return out
        return loss

    def __exit__(self, *exc) -> None:
        for name, fn in self._functional.items():
            setattr(F, name, fn)
        self._functional.clear()
        if self._backward is not None:
            torch.Tensor.backward = self._backward
            self._backward = None
        if self._loader_iter is not None:
            torch.utils.data.DataLoader.__iter__ = self._loader_iter
            self._loader_iter = None
        for h in self._handles:
            h.remove()
        for m in self.monitors:
            m.detach()

    def _enter_module(self, module, args) -> None:
        if self._depth == 0 and not isinstance(module, nn.modules.loss._Loss) and module not in self._top:
            self._top.append(module)
        self._depth += 1

    def _leave_module(self, module, args, output) -> None:
        self._depth = max(0, self._depth - 1)

    def _yielded(self, loader) -> None:
        self._last_loader = loader
        ds = loader.dataset
        if not torch.is_grad_enabled() and not any(ds is x for x in self.eval_sets + self.train_sets):
            self.eval_sets.append(ds)

    def _on_step(self, optimizer, args, kwargs) -> None:
        loader = self._last_loader
        if loader is not None and not any(loader.dataset is x for x in self.train_sets):
            self.train_sets.append(loader.dataset)
            self.eval_sets = [x for x in self.eval_sets if x is not loader.dataset]
        losses, self._losses = self._losses, []
        monitor = self._by_optimizer.get(id(optimizer))
        if monitor is None:
            params = {id(p) for g in optimizer.param_groups for p in g["params"]}
            best = max(self._top, key=lambda m: sum(id(p) in params for p in m.parameters()), default=None)
            if best is None or not any(id(p) in params for p in best.parameters()):
                return
            monitor = TrainingMonitor(best, optimizer, **self.options)
            monitor.loss_from_backward = True
            monitor._lrs.append(float(optimizer.param_groups[0]["lr"]))  # this step's rate: its own hook comes next time
            self._by_optimizer[id(optimizer)] = monitor
            self.monitors.append(monitor)
        self._last_monitor = monitor
        for facts in self._graph_facts:
            monitor.note_graph(facts)
        self._graph_facts = []
        if losses:  # the backward passes since the last step of any optimizer belong to this one's step
            monitor.take_loss(torch.stack([v.float().reshape(()) for v in losses]).sum(), ".backward()")

    def findings(self) -> list[Finding]:
        return [f for m in self.monitors for f in m.findings()]

    def data_findings(self, limit: int = 100_000) -> list[Finding]:
        """The split and evaluation-transform checks on the datasets behind the script's own
        loaders: each training set against every evaluation set, and every evaluation set read
        twice. Datasets of more than ``limit`` samples are not hashed (said in :meth:`coverage`)."""
        found: list[Finding] = []
        self.data_skipped: list[str] = []
        evals = {f"evaluation set {i + 1} ({_describe(ds)})": ds for i, ds in enumerate(self.eval_sets)}
        for name, ds in evals.items():
            found += check_eval_transforms(ds, name=name)
        for train in self.train_sets:
            if len(train) > limit:
                self.data_skipped.append(f"{_describe(train)} (more than {limit:,} samples)")
                continue
            others = {n: d for n, d in evals.items() if d is not train and len(d) <= limit}
            if others:
                found += check_splits(train, others)
        return found

    def coverage(self) -> list[str]:
        """What the checks saw and what they could not: lines for the end of a report."""
        if not self.monitors:
            return ["not seen: no optimizer stepped, so nothing was monitored (weights updated by hand, or "
                    "training never started): none of the training checks ran"]
        lines = []
        for m in self.monitors:
            model = type(m.model).__name__
            n = sum(p.numel() for p in m.model.parameters())
            lines.append(f"monitored: {type(m.optimizer).__name__} over {m.steps} step(s) on {model} ({n:,} parameters); "
                         + (f"loss read from {m.loss_source}" if m.loss_source else "no training loss seen"))
        if any(not m._activations for m in self.monitors):
            lines.append("not seen: activation layers (the model applies its activations as functions, such as "
                         "F.relu or torch.tanh), so SATURATED_ACTIVATIONS could not judge them")
        if any(m.inputs_are_targets for m in self.monitors):
            lines.append("not judged: the input scale (UNNORMALISED_INPUTS), because the inputs are also the targets "
                         "of a binary cross-entropy loss and must stay in [0, 1]")
        if not any(m.loss_source for m in self.monitors):
            lines.append("not seen: the training loss (.backward() was never called on a scalar), so "
                         "NOT_LEARNING, OSCILLATING_LOSS, NON_FINITE_LOSS and LOSS_INPUT_MISMATCH could not be judged")
        if self.train_sets or self.eval_sets:
            lines.append(f"data: {len(self.train_sets)} training and {len(self.eval_sets)} evaluation "
                         f"dataset(s) behind the script's DataLoaders checked for shared samples and random "
                         f"evaluation transforms"
                         + ("" if self.eval_sets else " (no evaluation loader was iterated, so no split check)"))
            for what in getattr(self, "data_skipped", []):
                lines.append(f"not checked: splits of {what}")
        else:
            lines.append("not seen: no DataLoader was iterated (batches built by hand), so the data splits and "
                         "evaluation transforms were not checked (call check_splits and check_eval_transforms)")
        return lines


class _WatchedIterator:
    """A DataLoader's iterator, unchanged, that tells :class:`GlobalAttach` when it yields."""

    def __init__(self, attach: GlobalAttach, loader, iterator) -> None:
        self._attach, self._loader, self._iterator = attach, loader, iterator

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self._iterator)
        self._attach._yielded(self._loader)
        return batch

    def __len__(self) -> int:
        return len(self._iterator)

    def __getattr__(self, name: str):
        return getattr(self._iterator, name)


def _describe(dataset) -> str:
    try:
        return f"{type(dataset).__name__} of {len(dataset):,}"
    except TypeError:
        return type(dataset).__name__


def format_findings(findings: list[Finding], title: str = "svhn_debug.checks") -> str:
    """The findings as plain text, one block each (or a line saying there are none)."""
    if not findings:
        return f"{title}: no findings"
    lines = [f"{title}: {len(findings)} finding(s)"]
    for f in findings:
        lines.append(f"- {f}")
    return "\n".join(lines)


def run_script(argv: list[str]) -> int:
    """Run ``argv[0]`` as ``__main__`` with ``argv[1:]`` as its arguments, under :class:`GlobalAttach`;
    print the findings to stderr when it ends, fails or is interrupted; return its exit code."""
    import runpy
    import traceback

    usage = ("usage: python -m svhn_debug.checks SCRIPT.py [ARGS...]\n"
             "Runs a training script unchanged under the health checks and prints their findings when it ends;\n"
             "the script's exit code is kept. Example: python -m svhn_debug.checks train.py --epochs 2")
    if not argv or argv[0] in ("-h", "--help"):
        print(usage, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    script = argv[0]
    if not os.path.exists(script):
        print(f"error: no such script: {script} (from {os.getcwd()})", file=sys.stderr)
        return 2
    if not os.path.isfile(script):
        print(f"error: {script} is not a file: give the training script itself", file=sys.stderr)
        return 2
    saved, saved_path = sys.argv, list(sys.path)
    sys.argv = list(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # as `python SCRIPT.py` does
    code = 0
    with GlobalAttach() as attach:
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, (int, type(None))):
                print(e.code, file=sys.stderr)
        except KeyboardInterrupt:
            code = 130
            print("interrupted", file=sys.stderr)
        except FileNotFoundError as e:
            traceback.print_exc()
            code = 1
        except BaseException:  # the script's own failure: show it, then the findings
            traceback.print_exc()
            code = 1
        finally:
            sys.argv = saved
            sys.path[:] = saved_path
            try:
                data = attach.data_findings()
            except Exception as err:  # noqa: BLE001 (a dataset the checks cannot read must not hide the rest)
                data = []
                print(f"data checks failed: {type(err).__name__}: {err}", file=sys.stderr)
            print(format_findings(attach.findings() + data), file=sys.stderr)
            for line in attach.coverage():
                print(line, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(run_script(sys.argv[1:]))
