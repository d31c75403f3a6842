"""Health checks: each code on a planted plain-PyTorch example, and clean loops that stay silent.

None of these examples is the colleague's code: each plants one problem into a small loop
written here, and each clean counterpart does the same job without it.
"""

import math
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from svhn_debug import checks, precision
from svhn_debug.checks import (CODES, GlobalAttach, TrainingMonitor, _extremes, _same_factor_above_one,
                               check_eval_transforms, check_splits, format_findings, output_range_problem)

D, C = 16, 4  # input features, classes
TEACHER = torch.Generator().manual_seed(123)
W_TRUE = torch.randn(D, C, generator=TEACHER)


def batch(g: torch.Generator, n: int = 64, scale: float = 1.0, shift: float = 0.0, random_labels: bool = False):
    x = torch.randn(n, D, generator=g)
    y = torch.randint(0, C, (n,), generator=g) if random_labels else (x @ W_TRUE).argmax(1)
    return x * scale + shift, y


def altered(change, calls):
    """Batches as :func:`batch` draws them, with ``change`` applied to the inputs of the calls
    (counted from 0) in ``calls``: a planted problem that starts, or stops, at a chosen step."""
    count = []

    def data(g):
        x, y = batch(g)
        count.append(1)
        return (change(x) if len(count) - 1 in calls else x), y
    return data


def mlp(act=nn.ReLU, bn=False, depth=1, width=32) -> nn.Sequential:
    layers, d = [], D
    for _ in range(depth):
        layers += [nn.Linear(d, width)] + ([nn.BatchNorm1d(width)] if bn else []) + [act()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, C))


def train(model, opt, steps=120, zero_grad=True, sched=None, accumulate=1, eval_every=0, restore=True,
          loss_fn=None, data=None, **batch_kw):
    """A plain loop; the keyword arguments plant the problems."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    model.train()
    for step in range(steps):
        for _ in range(accumulate):
            x, y = data(g) if data else batch(g, **batch_kw)
            loss = loss_fn(model(x), y) / accumulate
            loss.backward()
        opt.step()
        if sched:
            sched.step()
        if zero_grad:
            opt.zero_grad()
        if eval_every and (step + 1) % eval_every == 0:
            model.eval()
            with torch.no_grad():
                model(batch(g)[0])
            if restore:
                model.train()


def codes(model, opt, **kw) -> dict:
    with TrainingMonitor(model, opt) as monitor:
        train(model, opt, **kw)
        found = monitor.findings()
    return {f.code: f for f in found}


def fresh(act=nn.ReLU, bn=False, depth=1, lr=1e-2, opt=torch.optim.Adam, **opt_kw):
    torch.manual_seed(0)
    model = mlp(act, bn, depth)
    return model, opt(model.parameters(), lr=lr, **opt_kw)


# --------------------------------------------------------------------------- clean loops stay silent


def test_a_clean_loop_is_silent():
    model, opt = fresh()
    assert codes(model, opt, steps=150) == {}


def test_a_warmup_that_levels_off_is_not_lr_growth():
    model, opt = fresh()
    warm = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 40))
    assert codes(model, opt, steps=150, sched=warm) == {}


def test_gradient_accumulation_on_purpose_is_silent():
    model, opt = fresh()  # four backward passes, then one step, then clearing
    assert codes(model, opt, steps=60, accumulate=4) == {}


def test_eval_mode_only_during_evaluation_is_silent():
    model, opt = fresh(bn=True)
    assert codes(model, opt, steps=150, eval_every=10, restore=True) == {}


def test_the_books_fixed_configuration_is_silent(monkeypatch):
    from svhn_debug import logbook  # noqa: F401  (registers the book's experiments)
    from svhn_debug.profiles import get_profile
    from svhn_debug.runner import get
    from svhn_debug.training import train as train_run

    if not precision.cpu_has_bf16():
        # The recipe computes in bfloat16, which the package refuses on a CPU without its instructions
        # (emulated, it is slow: about 35 s for this run); the judgement is what is tested, so emulate.
        monkeypatch.setattr(precision, "cpu_has_bf16", lambda *args: True)
    with GlobalAttach() as attach:
        train_run(get("relu-batchnorm").config, get_profile("smoke"))
        found = attach.findings()
    assert len(attach.monitors) == 1
    assert found == []


# --------------------------------------------------------------------------- each code on a planted example


def test_grad_accumulation_without_zero_grad():
    model, opt = fresh()
    found = codes(model, opt, steps=10, zero_grad=False)
    assert "GRAD_ACCUMULATION" in found and found["GRAD_ACCUMULATION"].step == 1


def test_lr_growth_from_an_exponential_schedule():
    model, opt = fresh(lr=1e-4)
    found = codes(model, opt, steps=60, sched=torch.optim.lr_scheduler.ExponentialLR(opt, gamma=1.01))
    assert "LR_GROWTH" in found and found["LR_GROWTH"].step <= 25


def test_lr_too_small():
    model, opt = fresh(lr=1e-7)
    f = codes(model, opt, steps=40)["LR_TOO_SMALL"]
    assert set(f.evidence) == {"median_update_ratio", "samples"} and f.evidence["samples"] == 3


def test_not_learning_on_labels_unrelated_to_the_inputs():
    model, opt = fresh(lr=1e-3)
    found = codes(model, opt, steps=150, random_labels=True)
    assert "NOT_LEARNING" in found and "OSCILLATING_LOSS" not in found


@pytest.mark.parametrize("eval_every", [0, 3, 7])
def test_not_learning_is_named_at_the_hundredth_loss_whenever_the_evaluations_fall(eval_every):
    # evaluations flush the loss buffer in between; the judgement still falls on step 99
    model, opt = fresh(lr=1e-3)
    with TrainingMonitor(model, opt) as monitor:
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(0)
        for step in range(150):
            x, y = batch(g, random_labels=True)
            nn.CrossEntropyLoss()(model(x), y).backward()
            opt.step()
            opt.zero_grad()
            if eval_every and step % eval_every == 0:
                with torch.no_grad():
                    nn.CrossEntropyLoss()(model(x), y)
        found = {f.code: f for f in monitor.findings()}
    assert found["NOT_LEARNING"].step == 99


def test_training_in_eval_mode_after_the_first_evaluation():
    model, opt = fresh(bn=True)
    found = codes(model, opt, steps=40, eval_every=10, restore=False)
    assert "TRAIN_IN_EVAL_MODE" in found and found["TRAIN_IN_EVAL_MODE"].step == 10
    assert found["TRAIN_IN_EVAL_MODE"].evidence == {"layers_in_eval_mode": 1}


def test_eval_mode_without_batchnorm_or_dropout_is_not_reported():
    model, opt = fresh(bn=False)  # eval() changes nothing in such a model
    assert "TRAIN_IN_EVAL_MODE" not in codes(model, opt, steps=40, eval_every=10, restore=False)


@pytest.mark.parametrize("scale, shift", [(40.0, 128.0), (0.1, 0.5)], ids=["pixels-0-255", "squeezed-off-centre"])
def test_unnormalised_inputs(scale, shift):
    model, opt = fresh()
    found = codes(model, opt, steps=5, scale=scale, shift=shift)
    # judged on the first three batches pooled: at the third
    assert "UNNORMALISED_INPUTS" in found and found["UNNORMALISED_INPUTS"].step == 2
    assert found["UNNORMALISED_INPUTS"].evidence["batches"] == 3


def test_one_odd_batch_is_not_unnormalised_inputs():
    # catches: judging each batch alone (one batch of 64 drawn from a clean source can look squeezed)
    model, opt = fresh()
    assert "UNNORMALISED_INPUTS" not in codes(model, opt, steps=5, data=altered(lambda x: x * 0.4, range(1)))


def test_fewer_batches_than_pooled_are_still_judged_at_the_end():
    model, opt = fresh()
    assert "UNNORMALISED_INPUTS" in codes(model, opt, steps=2, scale=40.0, shift=128.0)


def test_saturated_tanh():
    model, opt = fresh(act=nn.Tanh)
    assert "SATURATED_ACTIVATIONS" in codes(model, opt, steps=5, data=lambda g: (batch(g)[0] * 300, batch(g)[1]))


def test_saturated_sigmoid_names_its_range_and_layer():
    model, opt = fresh(act=nn.Sigmoid)
    f = codes(model, opt, steps=5, data=altered(lambda x: x * 300, range(5)))["SATURATED_ACTIVATIONS"]
    assert f.message.startswith(f"{100 * f.evidence['share']:.0f}% of sigmoid outputs beyond 0.01/0.99 at layer 1. ")


def test_a_loss_below_zero_is_never_called_oscillating():
    """The spread relative to the mean says nothing when the mean is not positive (a Gaussian
    likelihood's loss can sit below zero): a rising, jittering negative loss is not OSCILLATING_LOSS."""
    def judged(level: float, jitter: float) -> set[str]:
        values = iter([level + 2.0 * i / 60 + (jitter if i % 2 else -jitter) for i in range(60)])
        model, opt = fresh()
        with GlobalAttach() as attach:  # the runner reads a functional loss's values
            train(model, opt, steps=60, loss_fn=lambda out, y: out.mean() * 0 + next(values))
        return {f.code for f in attach.findings()}
    assert "OSCILLATING_LOSS" not in judged(-3.0, 0.5)
    assert "OSCILLATING_LOSS" in judged(3.0, 2.5)  # the same kind of jitter around a positive mean is


def test_dead_relus():
    model, opt = fresh()
    with torch.no_grad():
        model[0].bias.fill_(-50.0)
    found = codes(model, opt, steps=5)
    assert "SATURATED_ACTIVATIONS" in found and found["SATURATED_ACTIVATIONS"].evidence["share"] == 1.0


def test_vanishing_gradients_through_a_deep_sigmoid_stack():
    model, opt = fresh(act=nn.Sigmoid, depth=12)
    f = codes(model, opt, steps=5)["VANISHING_GRADIENTS"]
    e = f.evidence
    assert f.message.startswith(f"The first layer's gradients are {e['first_rms'] / e['last_rms']:.2g} times those of "
                                f"the last (RMS {e['first_rms']:.2g} against {e['last_rms']:.2g}).")


def test_exploding_gradients_when_sgd_diverges():
    torch.manual_seed(0)
    model = nn.Linear(D, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.5)  # twice the stable limit for these inputs
    found = codes(model, opt, steps=60, loss_fn=nn.MSELoss(),
                  data=lambda g: (torch.randn(64, D, generator=g), torch.randn(64, 1, generator=g)))
    assert "EXPLODING_GRADIENTS" in found


def test_oscillating_loss_with_a_far_too_large_rate():
    model, opt = fresh(lr=3.0, opt=torch.optim.SGD)
    f = codes(model, opt, steps=120)["OSCILLATING_LOSS"]
    e = f.evidence  # the spread and both halves of the window, as the message quotes them
    assert set(e) == {"coefficient_of_variation", "first_half", "second_half"} and e["coefficient_of_variation"] > 0.5
    assert f"did not fall ({e['first_half']:.3g} then {e['second_half']:.3g})" in f.message


def _with_a_nan(x):
    x[0, 0] = float("nan")
    return x


def test_non_finite_loss():
    model, opt = fresh()
    found = codes(model, opt, steps=12, data=altered(_with_a_nan, range(12)))
    assert "NON_FINITE_LOSS" in found and found["NON_FINITE_LOSS"].step == 0
    assert found["NON_FINITE_LOSS"].evidence["layer"] == "input" and "look at the data" in found["NON_FINITE_LOSS"].message


class _Log(nn.Module):
    def forward(self, x):
        return torch.log(x)


def test_a_non_finite_loss_is_traced_to_the_layer_that_first_produced_it():
    # a log of ReLU outputs: -inf wherever a unit is off, from the first step
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, 32), nn.ReLU(), _Log(), nn.Linear(32, C))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    f = codes(model, opt, steps=12)["NON_FINITE_LOSS"]
    assert (f.evidence["layer"], f.evidence["layer_step"], f.step) == ("2", 0, 0)
    assert "layer 2 (_Log)" in f.message


def test_a_non_finite_loss_made_by_the_loss_itself_says_so():
    torch.manual_seed(0)
    model, opt = fresh()

    def hand_loss(out, y):  # log(0) for the classes the softmax underflows on
        return -(torch.log(torch.softmax(out * 1e4, 1))[torch.arange(len(y)), y]).mean()
    with GlobalAttach() as attach:
        train(model, opt, steps=12, loss_fn=hand_loss)
    f = {x.code: x for x in attach.findings()}["NON_FINITE_LOSS"]
    assert f.evidence["layer"] is None and "it arose after the layers" in f.message, (f, attach.monitors[0]._losses[:3])


@pytest.mark.parametrize("planted, finite", [(None, True), (float("nan"), False), (float("inf"), False),
                                             (-float("inf"), False), (3e38, True)])
def test_a_layer_output_is_finite_exactly_when_its_extremes_are(planted, finite):
    # in the channels-last layout the book's runs use, and for a lone value anywhere in the map

    x = torch.randn(4, 3, 5, 5).contiguous(memory_format=torch.channels_last)
    if planted is not None:
        x[2, 1, 3, 4] = planted
    assert bool(torch.isfinite(_extremes(x)).all()) == finite == bool(torch.isfinite(x).all())
    assert bool(torch.isfinite(_extremes(torch.empty(0, 3))).all())


def test_split_overlap_by_content_not_by_index():
    g = torch.Generator().manual_seed(0)
    pool = torch.randint(0, 255, (100, 3, 8, 8), generator=g, dtype=torch.uint8)
    train_set = torch.utils.data.TensorDataset(pool[:60], torch.zeros(60))
    copies = pool[40:70].clone()  # 20 of these 30 are training images, stored elsewhere
    found = check_splits(train_set, {"validation": copies, "test": pool[80:]})
    assert [f.code for f in found] == ["SPLIT_OVERLAP"]
    assert found[0].evidence == {"split": "validation", "shared": 20, "size": 30}


def test_eval_augmentation_and_its_clean_counterpart():
    class Images(torch.utils.data.Dataset):
        def __init__(self, random):
            self.x, self.random = torch.rand(10, 3, 8, 8), random

        def __len__(self):
            return 10

        def __getitem__(self, i):
            x = self.x[i]
            return (torch.rot90(x, int(torch.randint(0, 4, ())), (1, 2)) if self.random else x), 0

    assert [f.code for f in check_eval_transforms(Images(random=True))] == ["EVAL_AUGMENTATION"]
    assert check_eval_transforms(Images(random=False)) == []


# --------------------------------------------------------------------------- loss inputs, missing gradients


class _Softmaxed(nn.Module):
    """The MLP with a softmax on its output: probabilities, not logits."""

    def __init__(self, log: bool = False):
        super().__init__()
        self.net, self.log = mlp(), log

    def forward(self, x):
        return torch.log_softmax(self.net(x), 1) if self.log else torch.softmax(self.net(x), 1)


@pytest.mark.parametrize("model_kind, loss_fn, says", [
    ("softmax", nn.CrossEntropyLoss(), "softmax, then a cross-entropy loss"),
    ("softmax", nn.NLLLoss(), "softmax probabilities fed to NLLLoss"),
    ("plain", nn.NLLLoss(), "raw scores of a linear layer fed to NLLLoss"),
])
def test_a_loss_fed_the_wrong_kind_of_output_is_named_at_the_first_step(model_kind, loss_fn, says):
    # a monitor alone reads loss modules; the runner reads functional losses too (test below)
    torch.manual_seed(0)
    model = _Softmaxed() if model_kind == "softmax" else mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    found = codes(model, opt, steps=5, loss_fn=loss_fn)
    assert "LOSS_INPUT_MISMATCH" in found and found["LOSS_INPUT_MISMATCH"].step == 0
    assert says in found["LOSS_INPUT_MISMATCH"].message


def test_each_wrong_loss_input_is_described_in_full():
    torch.manual_seed(0)
    x, y = torch.randn(8, D), torch.randint(0, C, (8,))
    scores = mlp()(x)
    assert checks.loss_input_problem(nn.NLLLoss()(scores, y)) == \
        "raw scores of a linear layer fed to NLLLoss, which expects log-probabilities"
    assert checks.loss_input_problem(nn.NLLLoss()(torch.softmax(scores, 1), y)) == \
        "softmax probabilities fed to NLLLoss, which expects log-probabilities"
    assert checks.loss_input_problem(nn.CrossEntropyLoss()(torch.softmax(scores, 1), y)) == \
        "softmax, then a cross-entropy loss that applies log_softmax again"
    assert checks.loss_input_problem(nn.CrossEntropyLoss()(scores, y)) is None


def test_a_graph_node_is_named_by_its_operation_whatever_its_overload():
    x = torch.randn(3, 4, requires_grad=True)
    assert [checks._node_name(t.grad_fn) for t in (x.sum(), x.sum(dim=0), x.mean(dim=0), x * 2)] == \
        ["Sum", "Sum", "Mean", "Mul"]  # SumBackward0, SumBackward1, MeanBackward1, MulBackward0


@pytest.mark.parametrize("model_kind, loss_fn", [
    ("plain", nn.CrossEntropyLoss()), ("log", nn.NLLLoss()),
    ("plain", lambda out, y: nn.functional.nll_loss(torch.log_softmax(out, 1), y)),
    ("softmax", lambda out, y: nn.functional.nll_loss(torch.log(out), y)),  # log of softmax by hand: right
    ("plain", lambda out, y: nn.functional.cross_entropy(out, y, label_smoothing=0.1)),
])
def test_the_right_output_for_each_loss_is_silent(model_kind, loss_fn):
    torch.manual_seed(0)
    model = {"plain": mlp, "log": lambda: _Softmaxed(log=True), "softmax": _Softmaxed}[model_kind]()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    assert "LOSS_INPUT_MISMATCH" not in codes(model, opt, steps=5, loss_fn=loss_fn)
    with GlobalAttach() as attach:  # the runner reads the graph of every loss .backward() is called on
        train(model, opt, steps=5, loss_fn=loss_fn)
    assert attach.backward_calls == 5 and "LOSS_INPUT_MISMATCH" not in {f.code for f in attach.findings()}


def test_sigmoid_before_a_loss_with_logits_is_named_and_plain_bce_on_a_sigmoid_is_not():
    def run(loss_fn):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(D, 1), nn.Sigmoid())
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        data = lambda g: (torch.randn(32, D, generator=g), torch.randint(0, 2, (32, 1), generator=g).float())
        return codes(model, opt, steps=3, loss_fn=loss_fn, data=data)
    assert "sigmoid, then BCEWithLogitsLoss" in run(nn.BCEWithLogitsLoss())["LOSS_INPUT_MISMATCH"].message
    assert "LOSS_INPUT_MISMATCH" not in run(nn.BCELoss())


def test_the_runner_reads_the_loss_graph_of_backward_for_a_functional_loss():
    torch.manual_seed(0)
    model = _Softmaxed()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with GlobalAttach() as attach:
        train(model, opt, steps=4, loss_fn=lambda out, y: nn.functional.cross_entropy(out, y))
    found = {f.code: f for f in attach.findings()}
    assert found["LOSS_INPUT_MISMATCH"].step == 0


class _Detached(nn.Module):
    """A bug seen in real code: the first layer's output is detached, so it never learns."""

    def __init__(self):
        super().__init__()
        self.first, self.head = nn.Linear(D, 32), nn.Linear(32, C)
        self.unused = nn.Linear(32, 32)  # built, never called

    def forward(self, x):
        return self.head(torch.relu(self.first(x)).detach())


def test_parameters_without_a_gradient_are_named_at_the_third_sampled_step():
    torch.manual_seed(0)
    model = _Detached()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    found = codes(model, opt, steps=40)
    f = found["NO_GRADIENT"]
    assert f.step == 20  # sampled at steps 0, 10 and 20 (interval 10, three samples)
    assert f.evidence["parameters"] == ["first.weight", "first.bias", "unused.weight", "unused.bias"]
    assert "UNCHANGED_WEIGHTS" not in found  # weights without a gradient are NO_GRADIENT's, not unchanged by a step


def test_more_than_five_parameters_without_a_gradient_are_named_five_and_counted():
    torch.manual_seed(0)
    model = _Detached()
    model.spare = nn.Linear(2, 2)  # built, never called: six of eight parameters without a gradient
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    f = codes(model, opt, steps=40)["NO_GRADIENT"]
    assert f.message.startswith("6 of the 8 parameters the optimizer updates had no gradient when it stepped, at any "
                                "of 3 sampled steps: first.weight, first.bias, unused.weight, unused.bias, spare.weight "
                                "and 1 more. ")


def test_gradients_that_are_cleared_before_the_step_are_not_missing_gradients():
    # zero_grad(set_to_none) before backward is the usual order; a BatchNorm net's biases before
    # BatchNorm get (nearly) zero but existing gradients: silent
    model, opt = fresh(bn=True, depth=2)
    assert "NO_GRADIENT" not in codes(model, opt, steps=40)


def test_a_step_on_no_gradient_at_all_is_named():
    # backward, then zero_grad, then step: the order bug clears every gradient before it is used
    model, opt = fresh()
    g = torch.Generator().manual_seed(0)
    with TrainingMonitor(model, opt) as monitor:
        for _ in range(25):
            x, y = batch(g)
            nn.CrossEntropyLoss()(model(x), y).backward()
            opt.zero_grad()
            opt.step()
        found = {f.code: f for f in monitor.findings()}
    f = found["NO_GRADIENT"]
    assert f.step == 20 and f.evidence["all"] is True
    assert f.message.startswith("None of the 4 parameters") and len(f.evidence["parameters"]) == 4


def _squashed(act, targets, loss_fn=None, steps=3, attach=False):
    """A regression net ending in ``act``, trained towards ``targets(g)`` (a batch of 32 by 4)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, 4), act())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    data = lambda g: (torch.randn(32, D, generator=g), targets(g))
    if attach:
        with GlobalAttach() as watch:
            train(model, opt, steps=steps, loss_fn=loss_fn or nn.MSELoss(), data=data)
        return {f.code: f for f in watch.findings()}
    return codes(model, opt, steps=steps, loss_fn=loss_fn or nn.MSELoss(), data=data)


@pytest.mark.parametrize("act, targets, says", [
    (nn.Sigmoid, lambda g: torch.randint(0, 256, (32, 4), generator=g).float(), "a sigmoid's outputs, which lie in [0, 1]"),
    (nn.Tanh, lambda g: 3 * torch.randn(32, 4, generator=g), "a tanh's outputs, which lie in [-1, 1]"),
    (nn.ReLU, lambda g: torch.randn(32, 4, generator=g), "a ReLU's outputs, which lie in [0, infinity)"),
])
def test_outputs_that_cannot_reach_their_targets_are_named_at_the_first_step(act, targets, says):
    found = _squashed(act, targets)
    assert found["OUTPUT_RANGE"].step == 0 and says in found["OUTPUT_RANGE"].message
    functional = _squashed(act, targets, loss_fn=lambda out, y: nn.functional.huber_loss(out, y), attach=True)
    assert says in functional["OUTPUT_RANGE"].message  # the runner reads it from .backward()'s graph


def test_a_second_backward_through_a_freed_graph_fails_as_it_would_alone():
    model = nn.Sequential(nn.Linear(D, 4), nn.Sigmoid())
    loss = nn.functional.mse_loss(model(torch.randn(8, D)), torch.rand(8, 4))
    loss.backward()
    with GlobalAttach(), pytest.raises(RuntimeError, match="backward through the graph a second time") as raised:
        loss.backward()
    assert "checks.py" not in str(raised.traceback[-1].path)  # raised by PyTorch's backward, not by the checks


@pytest.mark.parametrize("act, targets", [
    (nn.Sigmoid, lambda g: torch.rand(32, 4, generator=g)),  # targets in [0, 1], the ends included
    (nn.Sigmoid, lambda g: torch.randint(0, 2, (32, 4), generator=g).float()),
    (nn.Tanh, lambda g: 2 * torch.rand(32, 4, generator=g) - 1),
    (nn.Identity, lambda g: 255 * torch.rand(32, 4, generator=g)),  # unbounded outputs reach anything
])
def test_targets_within_the_outputs_range_are_silent(act, targets):
    assert "OUTPUT_RANGE" not in _squashed(act, targets)


def test_a_few_targets_out_of_reach_are_within_the_share_allowed():
    # 1 of 128 target values (0.8%) above 1: not judged a range problem (the rule asks more than 1%)
    def targets(g):
        t = torch.rand(32, 4, generator=g)
        t[0, 0] = 1.5
        return t
    assert "OUTPUT_RANGE" not in _squashed(nn.Sigmoid, targets)


def _groups(first_lr, steps=25, sched=None):
    torch.manual_seed(0)
    model = mlp()
    opt = torch.optim.SGD([{"params": model[0].parameters(), "lr": first_lr},
                           {"params": model[2].parameters()}], lr=0.05)
    return codes(model, opt, steps=steps, sched=sched(opt) if sched else None)


def test_weights_whose_group_has_a_rate_of_zero_are_named_at_the_third_sampled_step():
    f = _groups(first_lr=0.0)["UNCHANGED_WEIGHTS"]
    assert f.step == 20 and f.evidence["parameters"] == ["0.weight"] and f.evidence["learning_rates"] == [0.0]


def test_a_warmup_from_zero_and_a_frozen_layer_are_not_unchanged_weights():
    warmup = lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, step / 5))
    assert "UNCHANGED_WEIGHTS" not in _groups(first_lr=0.05, sched=warmup)
    torch.manual_seed(0)
    model = mlp()
    model[0].requires_grad_(False)  # frozen on purpose: not given to the optimizer
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
    assert codes(model, opt, steps=25) == {}


@pytest.mark.parametrize("zero_grad, named", [(True, set()), (False, {"GRAD_ACCUMULATION"})])
def test_sparse_gradients_are_read_like_dense_ones(zero_grad, named):
    # an embedding with sparse=True (a language model's) gives sparse gradients to the monitor
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(50, 8, sparse=True), nn.Linear(8, C))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = lambda g: (torch.randint(0, 50, (32,), generator=g), torch.randint(0, C, (32,), generator=g))
    found = codes(model, opt, steps=25, data=data, zero_grad=zero_grad)
    assert set(found) - {"NOT_LEARNING"} == named


def _fit(train_n: int, steps: int = 150, functional: bool = False, attach: bool = False):
    """Train on ``train_n`` fixed samples (random labels when few), evaluating the loss on 256
    fresh samples every 10 steps with gradients off."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = mlp(width=64)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = batch(g, n=train_n, random_labels=train_n < 100)
    xv, yv = batch(g, n=256)
    loss_fn = nn.CrossEntropyLoss()
    monitor = None if attach else TrainingMonitor(model, opt)
    ctx = GlobalAttach() if attach else monitor
    with ctx:
        for step in range(steps):
            if train_n >= 100:
                x, y = batch(g, n=64)  # fresh data every step: nothing to memorise
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            if step % 10 == 9:
                model.eval()
                with torch.no_grad():
                    out = model(xv)
                    (nn.functional.cross_entropy(out, yv) if functional else loss_fn(out, yv))
                model.train()
        found = (ctx.findings() if attach else monitor.findings())
    return {f.code: f for f in found}


def test_an_evaluation_loss_rising_while_the_training_loss_falls_is_overfitting():
    found = _fit(train_n=16)
    f = found["OVERFITTING"]
    ev = f.evidence["evaluation_losses"]
    assert ev[-1] > ev[-2] > ev[-3] and ev[-1] >= 1.1 * min(ev)
    assert f.evidence["training_losses"][-1] < f.evidence["training_losses"][0]


def test_the_runner_reads_a_functional_evaluation_loss():
    assert "OVERFITTING" in _fit(train_n=16, functional=True, attach=True)


def test_an_evaluation_before_the_first_step_is_read_without_a_monitor_to_go_to():
    # a baseline evaluation before training: no optimizer has stepped, so no monitor exists yet;
    # the loss goes on unchanged and is not an evaluation of any monitor
    model, opt = fresh()
    g = torch.Generator().manual_seed(0)
    with GlobalAttach() as attach:
        with torch.no_grad():
            x, y = batch(g)
            before = nn.functional.cross_entropy(model(x), y)
        train(model, opt, steps=3)
    assert torch.isfinite(before) and len(attach.monitors) == 1 and attach.monitors[0].eval_phases == []


def test_a_model_that_generalises_is_not_overfitting():
    found = _fit(train_n=10_000)
    assert "OVERFITTING" not in found
    found = _fit(train_n=10_000, functional=True, attach=True)
    assert "OVERFITTING" not in found


def _phases(monitor, evaluations, trainings):
    """Feed constructed losses: the training losses before each evaluation, then the evaluation."""
    for ev, tr in zip(evaluations, trainings):
        monitor._losses.extend(tr)
        monitor.evaluation(ev)
    return {f.code for f in monitor.findings()}


@pytest.mark.parametrize("evaluations, trainings, named", [
    ([1.0, 0.9, 1.0, 1.1], [[2.0], [1.5], [1.0], [0.5]], True),  # rises 0.9 -> 1.1 (22%) while training falls
    ([1.0, 0.9, 1.0, 1.1], [[2.0], [1.5], [1.6], [1.7]], False),  # training rises too: not overfitting
    ([1.0, 0.9, 0.93, 0.95], [[2.0], [1.5], [1.0], [0.5]], False),  # rises by less than 10% of its lowest
    ([1.0, 0.9, 1.1, 1.0], [[2.0], [1.5], [1.0], [0.5]], False),  # not rising at both of the last evaluations
    ([1.0, 0.9, 1.1, 1.1], [[2.0], [1.5], [1.0], [0.5]], False),  # level at the last one is not rising
    ([1.0, 0.9, 1.0, 1.1], [[2.0], [1.0], [1.0], [1.0]], False),  # level training is not falling
    ([1.0, 0.9, 1.0, 1.1], [[2.0], [1.5], [1.6], [1.0]], False),  # falling overall, but not at each evaluation
    ([1.0, 0.9, 0.95, 1.1], [[2.0], [1.5], [1.0], [0.5]], True),  # the margin is the last evaluation's, not the middle one's
    ([1.2, 1.0, 1.05, 1.1], [[2.0], [1.5], [1.0], [0.5]], True),  # exactly 10% above the lowest is enough
    ([1.0, 0.9, 1.0, 1.1], [[2.0], [1.5], [], [0.5]], False),  # two evaluations without a step between: not judged
    # five evaluations: the last three and the training between them count, not the window before them
    ([1.0, 0.9, 1.0, 1.1, 1.2], [[2.0], [1.0], [1.5], [1.2], [0.9]], True),
    ([1.0, 1.0, 0.9, 1.0, 1.1], [[2.0], [1.5], [1.2], [0.9], [1.0]], False),
])
def test_overfitting_needs_a_rising_evaluation_loss_a_falling_training_loss_and_a_margin(evaluations, trainings, named):
    model, opt = fresh()
    with TrainingMonitor(model, opt) as monitor:
        assert ("OVERFITTING" in _phases(monitor, evaluations, trainings)) == named


def test_every_code_has_a_planted_test_here():
    import inspect
    source = inspect.getsource(sys.modules[__name__])
    assert {c for c in CODES if f'"{c}"' in source.split("def test_every_code")[0]} == set(CODES)


# --------------------------------------------------------------------------- the monitor's contract


def test_detach_removes_every_hook():
    model, opt = fresh()
    monitor = TrainingMonitor(model, opt)
    monitor.detach()
    train(model, opt, steps=5, zero_grad=False)
    assert monitor.findings() == [] and monitor.steps == 0


def test_unknown_options_are_refused():
    model, opt = fresh()
    with pytest.raises(TypeError, match="intervall"):
        TrainingMonitor(model, opt, intervall=5)
    with pytest.raises(TypeError, match=r"^unknown option\(s\) saturaton, warmup; choose from interval, "):
        TrainingMonitor(model, opt, warmup=5, saturaton=0.5)


# --------------------------------------------------------------------------- unchanged scripts


SCRIPT = textwrap.dedent("""
    import sys, torch
    from torch import nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(30):
        x = torch.randn(32, 8)
        y = (x[:, 0] > 0).long()
        loss = loss_fn(model(x), y)
        loss.backward()          # never cleared: the planted bug
        opt.step()
        if step == 20 and "--interrupt" in sys.argv:
            raise KeyboardInterrupt
    sys.exit(int(sys.argv[1]))
""")


@pytest.mark.parametrize("args, code", [(["0"], 0), (["3"], 3), (["0", "--interrupt"], 130)])
def test_a_script_runs_unchanged_and_keeps_its_exit_code(tmp_path, args, code):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, "-m", "svhn_debug.checks", str(script), *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == code, proc.stderr
    assert "GRAD_ACCUMULATION (step 1)" in proc.stderr


@pytest.mark.parametrize("target, says", [("nope.py", "no such script: nope.py"), (".", "is not a file")])
def test_a_missing_script_or_a_folder_is_one_line(tmp_path, target, says):
    proc = subprocess.run([sys.executable, "-m", "svhn_debug.checks", target], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr
    assert "finding" not in proc.stderr  # nothing ran, so nothing is reported as checked


def test_help_is_usage_with_an_example_not_a_script():
    proc = subprocess.run([sys.executable, "-m", "svhn_debug.checks", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "Example: python -m svhn_debug.checks train.py" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_a_script_imports_a_module_beside_it_from_any_working_folder(tmp_path):
    (tmp_path / "helper.py").write_text("VALUE = 42\n")
    (tmp_path / "train.py").write_text("import helper\nprint('helper', helper.VALUE)\n")
    proc = subprocess.run([sys.executable, "-m", "svhn_debug.checks", str(tmp_path / "train.py")], cwd="/",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "helper 42" in proc.stdout, proc.stderr


# --------------------------------------------------------------------------- growth in any shape


def _lr_codes(factor, steps: int, **options) -> dict:
    """A tiny loop whose rate follows ``factor(step)`` (times the base rate 1e-3)."""
    model, opt = fresh(lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    with TrainingMonitor(model, opt, **options) as monitor:
        g = torch.Generator().manual_seed(0)
        x, y = batch(g)
        loss_fn = nn.CrossEntropyLoss()
        for _ in range(steps):
            loss_fn(model(x), y).backward()
            opt.step()
            sched.step()
            opt.zero_grad()
        return {f.code: f for f in monitor.findings() if f.code.startswith("LR_")}


def test_lr_growth_in_steps_is_named_at_the_third_jump():
    found = _lr_codes(lambda s: 2.0 ** (s // 5), 40)  # doubling every 5 steps
    assert found["LR_GROWTH"].evidence["shape"] == "stepwise" and found["LR_GROWTH"].step == 15
    assert found["LR_GROWTH"].evidence["every_steps"] == 5 and "about every 5 steps" in found["LR_GROWTH"].message
    assert (found["LR_GROWTH"].evidence["lr_first"], found["LR_GROWTH"].evidence["lr_now"]) == (1e-3, 8e-3)


def test_lr_growth_that_is_linear_and_never_levels_off_is_named():
    # The rule scaled down tenfold (500 steps instead of 5000) to keep the test short.
    found = _lr_codes(lambda s: 1 + s / 100, 560, lr_rising_steps=500)
    assert found["LR_GROWTH"].evidence["shape"] == "rising" and found["LR_GROWTH"].step == 500


@pytest.mark.parametrize("name, factor, steps", [
    ("linear warmup from zero, then constant", lambda s: min(1.0, s / 300), 600),
    ("a short exponential warmup (5 doublings), then constant", lambda s: 2.0 ** min(s, 5) / 32, 100),
    ("step decay", lambda s: 0.5 ** (s // 50), 300),
    ("cosine with warm restarts", lambda s: 0.5 * (1 + math.cos(math.pi * (s % 100) / 100)), 600),
    ("triangular cycles", lambda s: 1 + abs((s % 200) - 100) / 100, 600),
    ("a Transformer's warmup, then inverse square root decay (scaled tenfold down, as the rule below)",
     lambda s: min((s + 1) / 400, (400 / (s + 1)) ** 0.5), 600),
])
def test_schedules_that_level_off_fall_or_cycle_are_not_lr_growth(name, factor, steps):
    assert "LR_GROWTH" not in _lr_codes(factor, steps, lr_rising_steps=500), name


# --------------------------------------------------------------------------- other people's loops


def _gan(steps: int = 40, clear_d: bool = True) -> GlobalAttach:
    """A small GAN in the usual shape: the generator's backward pass runs through the
    discriminator, whose gradients the loop clears before its own next backward pass."""
    torch.manual_seed(0)
    g_net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, D), nn.Tanh())  # images in (-1, 1), as DCGAN's
    d_net = nn.Sequential(nn.Linear(D, 16), nn.ReLU(), nn.Linear(16, 1))
    opt_g, opt_d = torch.optim.Adam(g_net.parameters(), 1e-3), torch.optim.Adam(d_net.parameters(), 1e-3)
    criterion = nn.BCEWithLogitsLoss()
    with GlobalAttach() as attach:
        for _ in range(steps):
            real = torch.randn(32, D)
            if clear_d:
                d_net.zero_grad()
            loss_real = criterion(d_net(real), torch.ones(32, 1))
            loss_real.backward()
            fake = g_net(torch.randn(32, 4))  # small and off-centre at first: not standardised data, and not data
            loss_fake = criterion(d_net(fake.detach()), torch.zeros(32, 1))
            loss_fake.backward()
            opt_d.step()
            g_net.zero_grad()
            criterion(d_net(fake), torch.ones(32, 1)).backward()
            opt_g.step()
        attach.findings()
    return attach


def test_a_gan_whose_generator_backpropagates_through_the_discriminator_is_silent():
    attach = _gan()
    assert len(attach.monitors) == 2 and attach.findings() == []


def test_a_gan_that_never_clears_the_discriminator_is_named_at_its_second_step():
    found = {f.code: f for f in _gan(clear_d=False).findings()}
    assert set(found) == {"GRAD_ACCUMULATION"} and found["GRAD_ACCUMULATION"].step == 1


def test_a_functional_loss_is_read_from_backward():
    model, opt = fresh()
    g = torch.Generator().manual_seed(0)
    with GlobalAttach() as attach:
        for _ in range(120):
            x, y = batch(g, random_labels=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()  # no loss module anywhere
            opt.step()
            opt.zero_grad()
        found = {f.code for f in attach.findings()}
    assert "NOT_LEARNING" in found
    assert any("loss read from .backward()" in line for line in attach.coverage())
    assert torch.Tensor.backward.__name__ == "backward" and not hasattr(torch.Tensor.backward, "__wrapped__")


class _FunctionalRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(D, 32), nn.Linear(32, C)

    def forward(self, x):
        return self.b(nn.functional.relu(self.a(x)))


@pytest.mark.parametrize("model_kind, said", [("module", False), ("functional", True)])
def test_activations_applied_as_functions_are_reported_as_not_seen(model_kind, said):
    torch.manual_seed(0)
    model = mlp() if model_kind == "module" else _FunctionalRelu()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with GlobalAttach() as attach:
        train(model, opt, steps=3)
    assert any("not seen: activation layers" in line for line in attach.coverage()) == said


def test_weights_updated_without_an_optimizer_are_reported_as_not_seen():
    model = mlp()
    with GlobalAttach() as attach:
        for _ in range(3):
            nn.CrossEntropyLoss()(model(torch.randn(8, D)), torch.zeros(8, dtype=torch.long)).backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= 0.01 * p.grad
    assert attach.findings() == [] and "no optimizer stepped" in attach.coverage()[0]


LOADER_SCRIPT = textwrap.dedent("""
    import sys, torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset
    torch.manual_seed(0)
    x = torch.randn(512, 8)
    data = TensorDataset(x, (x[:, 0] > 0).long())
    train = Subset(data, range(0, 400))
    val = Subset(data, range(300, 512) if "--overlap" in sys.argv else range(400, 512))

    class Noisy(Dataset):  # a test set with a random transform when planted
        def __init__(self):
            self.x = torch.randn(128, 8)
        def __len__(self):
            return len(self.x)
        def __getitem__(self, i):
            noise = torch.randn(8) * 0.1 if "--augment-eval" in sys.argv else 0
            return self.x[i] + noise, int(self.x[i, 0] > 0)

    test = Noisy()
    # Input statistics from a part of the training data, with gradients on: neither training nor evaluation.
    mean = sum(xb.sum(0) for xb, _ in DataLoader(Subset(data, range(100)), batch_size=50)) / 100
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(3):
        model.train()
        for xb, yb in DataLoader(train, batch_size=32, shuffle=True):
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
            opt.zero_grad()
        model.eval()
        with torch.no_grad():
            for loader in (DataLoader(val, batch_size=64), DataLoader(test, batch_size=64)):
                correct = sum((model(xb).argmax(1) == yb).sum().item() for xb, yb in loader)
    print("done", correct)
""")


@pytest.mark.parametrize("planted, code", [([], None), (["--overlap"], "SPLIT_OVERLAP"),
                                           (["--augment-eval"], "EVAL_AUGMENTATION")])
def test_the_runner_checks_the_data_behind_the_scripts_own_loaders(tmp_path, planted, code):
    script = tmp_path / "train.py"
    script.write_text(LOADER_SCRIPT)
    proc = subprocess.run([sys.executable, "-m", "svhn_debug.checks", str(script), *planted],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "done" in proc.stdout, proc.stderr
    assert "data: 1 training and 2 evaluation dataset(s) behind the script's DataLoaders checked" in proc.stderr
    assert "loss read from .backward()" in proc.stderr
    if code is None:
        assert "no findings" in proc.stderr, proc.stderr
    else:
        assert f" {code}" in proc.stderr and "1 finding(s)" in proc.stderr, proc.stderr


# --------------------------------------------------------------------------- what a report says


def test_overfitting_says_what_rose_what_fell_and_keeps_the_losses():
    model, opt = fresh()
    with TrainingMonitor(model, opt) as monitor:
        _phases(monitor, [1.0, 0.9, 1.0, 1.1], [[2.0], [1.5], [1.0], [0.5]])
        f = {f.code: f for f in monitor.findings()}["OVERFITTING"]
    assert f.message.startswith("The evaluation loss rose from 0.9 to 1.1 over the last 3 evaluations (lowest 0.9) "
                                "while the mean training loss fell from 1.5 to 0.5. ")
    assert f.evidence == {"evaluation_losses": [1.0, 0.9, 1.0, 1.1], "training_losses": [1.5, 1.0, 0.5], "lowest": 0.9}


def test_unnormalised_inputs_quote_each_channels_mean_and_spread():
    model, opt = fresh()
    f = codes(model, opt, steps=5, scale=40.0, shift=128.0)["UNNORMALISED_INPUTS"]
    said = re.search(r"per-channel means \(([^)]*)\) and standard deviations \(([^)]*)\)\.", f.message)
    assert said, f.message
    for text, values in zip(said.groups(), (f.evidence["mean"], f.evidence["std"])):
        quoted = [float(v) for v in text.split(", ")]
        assert quoted == pytest.approx(values, rel=0.05) and len(quoted) == D


def test_split_overlap_says_how_many_of_which_split():
    pool = torch.arange(40, dtype=torch.float32).reshape(10, 4)
    f, = check_splits(pool, {"test": torch.cat([pool[:3], pool[:1] + 100])})
    assert f.message.startswith("3 of 4 samples of the test split (75%) are also training samples. ")
    assert f.evidence == {"split": "test", "shared": 3, "size": 4} and f.step is None


def test_splits_of_arrays_and_of_tensors_that_carry_a_graph_are_compared_by_content():
    pool = np.arange(40, dtype=np.float32).reshape(10, 4)
    assert check_splits(pool[:6], {"test": pool[6:]}) == []  # arrays, all different: no overlap
    assert check_splits(pool[:6], {"test": pool[4:]})[0].evidence["shared"] == 2
    features = torch.randn(8, 4, requires_grad=True)
    assert check_splits(features[:5], {"test": features[3:]})[0].evidence["shared"] == 2


def test_samples_with_the_same_values_in_another_shape_are_different_samples():
    train_set = torch.utils.data.TensorDataset(torch.zeros(1, 2, 3))
    test_set = torch.utils.data.TensorDataset(torch.zeros(1, 3, 2))
    assert check_splits(train_set, {"test": test_set}) == []


class _Jittered(torch.utils.data.Dataset):
    """Items that are bare tensors (no label), random in their last value only."""

    def __len__(self):
        return 20

    def __getitem__(self, i):
        return torch.tensor([float(i), float(torch.rand(()))])


def test_eval_transforms_reads_eight_samples_and_names_them_evaluation_by_default():
    f, = check_eval_transforms(_Jittered())
    assert f.message.startswith("8 of 8 evaluation samples read twice gave different inputs. ")
    assert f.evidence == {"dataset": "evaluation", "differing": 8, "read": 8}


def test_no_findings_is_one_line_under_the_checks_name():
    assert format_findings([]) == "svhn_debug.checks: no findings"


def _loop_with_loaders(model, opt, train_sets, eval_sets=(), steps_before=0):
    """A loop that draws its batches from DataLoaders and evaluates with a loss module."""
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(steps_before):
        opt.step()  # stepped before any forward pass (as some scripts do to silence a scheduler warning)
    for ds in train_sets:
        for x, y in torch.utils.data.DataLoader(ds, batch_size=16):
            loss_fn(model(x), y).backward()
            opt.step()
            opt.zero_grad()
    with torch.no_grad():
        for ds in eval_sets:
            for x, y in torch.utils.data.DataLoader(ds, batch_size=16):
                loss_fn(model(x), y)


def _labelled(n, seed):
    g = torch.Generator().manual_seed(seed)
    x, y = batch(g, n=n)
    return torch.utils.data.TensorDataset(x, y)


def _data_line(train, evaluation):
    return (f"data: {train} training and {evaluation} evaluation dataset(s) behind the script's DataLoaders checked "
            "for shared samples and random evaluation transforms")


def test_the_coverage_names_the_optimizer_the_model_the_loss_and_the_data():
    model, opt = fresh()
    with GlobalAttach() as attach:
        _loop_with_loaders(model, opt, [_labelled(48, 1)], [_labelled(32, 2)])
        assert attach.data_findings() == []
    assert attach.coverage() == [
        "monitored: Adam over 3 step(s) on Sequential (676 parameters); loss read from .backward()",
        _data_line(1, 1)]


def test_every_training_loader_is_checked_against_the_evaluation_ones():
    model, opt = fresh()
    first, second = _labelled(32, 1), _labelled(32, 2)
    with GlobalAttach() as attach:
        _loop_with_loaders(model, opt, [first, second], [torch.utils.data.Subset(second, range(8))])
        found = attach.data_findings()
    assert attach.train_sets == [first, second] and len(attach.eval_sets) == 1
    assert [f.evidence["shared"] for f in found] == [8] and attach.coverage()[-1] == _data_line(2, 1)


def test_training_without_an_evaluation_loader_says_no_split_was_checked():
    model, opt = fresh()
    with GlobalAttach() as attach:
        _loop_with_loaders(model, opt, [_labelled(32, 1)])
        attach.data_findings()
    assert attach.coverage()[-1] == _data_line(1, 0) + " (no evaluation loader was iterated, so no split check)"


def test_a_step_before_any_forward_pass_is_not_monitored_and_the_rest_is():
    model, opt = fresh()
    with GlobalAttach(interval=7) as attach:
        _loop_with_loaders(model, opt, [_labelled(32, 1)], steps_before=2)
    monitor, = attach.monitors
    assert monitor.model is model and monitor.steps == 2 and monitor.t.interval == 7


@pytest.fixture
def graphs_read(monkeypatch) -> list:
    """The losses whose autograd graph the checks read (each read is recorded, nothing is found)."""
    read = []
    monkeypatch.setattr(checks, "read_graph", lambda loss: read.append(loss) or checks.GraphFacts())
    return read


def test_only_the_first_three_losses_graphs_are_read(graphs_read):
    model, opt = fresh()
    with GlobalAttach() as attach:
        _loop_with_loaders(model, opt, [_labelled(96, 1)])
    assert len(graphs_read) == 3 and attach.backward_calls == 6


def test_the_model_is_remembered_once_however_often_it_is_called():
    model, opt = fresh()
    with GlobalAttach() as attach:
        _loop_with_loaders(model, opt, [_labelled(64, 1)], [_labelled(64, 2)])
    assert attach._top == [model]


def test_hand_made_batches_functional_activations_and_no_loss_are_each_said():
    torch.manual_seed(0)
    model = _FunctionalRelu()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with GlobalAttach() as attach:
        for _ in range(2):
            model(torch.randn(4, D))
            for p in model.parameters():
                p.grad = torch.ones_like(p)  # gradients set by hand: no .backward(), so no loss
            opt.step()
    assert attach.coverage() == [
        "monitored: SGD over 2 step(s) on _FunctionalRelu (676 parameters); no training loss seen",
        "not seen: activation layers (the model applies its activations as functions, such as F.relu or torch.tanh), "
        "so SATURATED_ACTIVATIONS could not judge them",
        "not seen: the training loss (.backward() was never called on a scalar), so NOT_LEARNING, OSCILLATING_LOSS, "
        "NON_FINITE_LOSS and LOSS_INPUT_MISMATCH could not be judged",
        "not seen: no DataLoader was iterated (batches built by hand), so the data splits and evaluation transforms "
        "were not checked (call check_splits and check_eval_transforms)"]


def test_nothing_stepped_is_said_and_nothing_else():
    with GlobalAttach() as attach:
        mlp()(torch.randn(2, D))
    assert attach.coverage() == [
        "not seen: no optimizer stepped, so nothing was monitored (weights updated by hand, or training never "
        "started): none of the training checks ran"]


def test_a_training_set_over_the_limit_is_not_hashed_and_says_so():
    attach = GlobalAttach()
    big = torch.utils.data.TensorDataset(torch.zeros(100_001, 1))
    attach.train_sets, attach.eval_sets = [big], [torch.utils.data.TensorDataset(torch.ones(4, 1))]
    assert attach.data_findings() == []
    assert attach.data_skipped == ["TensorDataset of 100,001 (more than 100,000 samples)"]


def test_activations_are_judged_at_sampled_training_steps_only():
    model, opt = fresh(act=nn.Tanh)  # saturating from step 3 on: first looked at at step 10
    f = codes(model, opt, steps=12, data=altered(lambda x: x * 300, range(3, 12)))["SATURATED_ACTIVATIONS"]
    assert f.step == 10 and f.message.startswith("99% of tanh outputs beyond ±0.99 at layer 1. ")
    assert f.evidence == {"layer": "1", "share": pytest.approx(0.988, abs=5e-4)}
    model, opt = fresh(act=nn.Tanh)  # saturated only in the evaluations (no gradients, eval mode): not judged
    g = torch.Generator().manual_seed(1)
    with TrainingMonitor(model, opt) as monitor:
        train(model, opt, steps=30, eval_every=10)
        model.eval()
        with torch.no_grad():
            model(batch(g)[0] * 300)
        assert "SATURATED_ACTIVATIONS" not in {f.code for f in monitor.findings()}


def test_the_same_factor_allows_rounding_relative_to_the_factor():
    same = _same_factor_above_one
    assert same([100.0, 100.0 * (1 + 5e-7)]) and not same([100.0, 100.0 * (1 + 2e-6)])  # rates held in float32
    assert same([1.01] * 20) and not same([1.01, 1.02]) and not same([0.5, 0.5]) and not same([])


def test_leaving_restores_torch_and_leaving_again_or_unentered_changes_nothing():
    F = nn.functional
    originals = (torch.Tensor.backward, F.cross_entropy, F.mse_loss, torch.utils.data.DataLoader.__iter__)
    model, opt = fresh()
    attach = GlobalAttach()
    with attach:
        _loop_with_loaders(model, opt, [_labelled(32, 1)], [_labelled(16, 2)])
    attach.__exit__(None, None, None)
    GlobalAttach().__exit__(None, None, None)
    assert (torch.Tensor.backward, F.cross_entropy, F.mse_loss, torch.utils.data.DataLoader.__iter__) == originals


@pytest.mark.parametrize("loss_fn, named", [(nn.BCELoss(), False), (nn.BCEWithLogitsLoss(), False),
                                            (nn.MSELoss(), True)])
def test_an_autoencoders_inputs_that_are_its_bce_targets_are_not_unnormalised(loss_fn, named):
    # images in [0, 1] (mean 0.5, spread 0.29: off centre by the rule) that a BCE loss also takes as
    # targets must stay in [0, 1]; the same inputs reconstructed under a squared error are judged
    torch.manual_seed(0)
    squash = [nn.Sigmoid()] if isinstance(loss_fn, nn.BCELoss) else []
    model = nn.Sequential(nn.Linear(D, 8), nn.ReLU(), nn.Linear(8, D), *squash)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    with TrainingMonitor(model, opt) as monitor:
        for _ in range(5):
            x = torch.rand(64, D)
            loss_fn(model(x), x).backward()
            opt.step()
            opt.zero_grad()
        found = {f.code for f in monitor.findings()}
    assert ("UNNORMALISED_INPUTS" in found) == named and monitor.inputs_are_targets == (not named)


def test_the_monitor_reads_the_first_three_losses_graphs(graphs_read):
    model, opt = fresh()
    codes(model, opt, steps=6)
    assert len(graphs_read) == 3


def test_targets_out_of_reach_must_be_more_than_the_share_allowed():
    out = torch.sigmoid(torch.randn(64, requires_grad=True))
    targets = torch.rand(64) * 0.5
    targets[0] = 2.0  # one of 64 out of a sigmoid's reach
    assert output_range_problem(nn.functional.mse_loss(out, targets), share=1 / 64) is None
    assert "(2% of them out of reach)" in output_range_problem(nn.functional.mse_loss(out, targets), share=1 / 65)


def test_a_two_class_problem_is_judged_against_guessing_too():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    found = codes(model, opt, steps=150, data=lambda g: (torch.randn(64, D, generator=g),
                                                          torch.randint(0, 2, (64,), generator=g)))
    assert "NOT_LEARNING" in found and found["NOT_LEARNING"].evidence["log_classes"] == pytest.approx(math.log(2))


class _DictInput(nn.Module):
    """A model called with a dict of tensors, as many libraries batch their inputs."""

    def __init__(self):
        super().__init__()
        self.net = mlp()

    def forward(self, batch):
        return self.net(batch["x"])


def test_a_model_called_with_a_dict_is_monitored_without_error():
    torch.manual_seed(0)
    model = _DictInput()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    with TrainingMonitor(model, opt) as monitor:
        for _ in range(12):
            x, y = batch(g)
            nn.CrossEntropyLoss()(model({"x": x}), y).backward()
            opt.step()
            opt.zero_grad()
        assert monitor.findings() == [] and monitor.steps == 12


def test_unchanged_weights_list_five_and_count_the_rest():
    torch.manual_seed(0)
    model = mlp(depth=6)  # seven weight tensors
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    f = codes(model, opt, steps=25)["UNCHANGED_WEIGHTS"]
    assert f.message.startswith("7 of the 7 weight tensors the optimizer updates had a gradient but did not change at "
                                "any of 3 sampled steps: 0.weight, 2.weight, 4.weight, 6.weight, 8.weight and 2 more "
                                "(learning rate of their group: 0). ")
    assert f.evidence == {"parameters": [f"{i}.weight" for i in range(0, 13, 2)], "learning_rates": [0.0],
                          "sampled_steps": 3}


def test_a_non_finite_loss_between_flushes_is_named_at_its_own_step():
    model, opt = fresh()
    found = codes(model, opt, steps=12, data=altered(_with_a_nan, range(3, 12)))  # from the fourth batch on
    f = found["NON_FINITE_LOSS"]
    assert (f.step, f.evidence["layer"], f.evidence["layer_step"], f.evidence["loss"]) == (3, "input", 3, "nan")
    assert found["EXPLODING_GRADIENTS"].evidence == {"grad_norm": "nan"} and found["EXPLODING_GRADIENTS"].step == 10


def test_a_rate_that_has_exactly_doubled_over_the_window_is_growth():
    found = _lr_codes(lambda s: 1 + s / 500, 520, lr_rising_steps=500)
    assert found["LR_GROWTH"].step == 500 and found["LR_GROWTH"].evidence["lr_now"] == 2e-3


def test_the_extremes_of_an_empty_tensor_are_two_zeros():
    assert torch.equal(_extremes(torch.empty(0, 3)), torch.zeros(2))
    assert torch.equal(_extremes(torch.tensor([[1.0, -2.0], [3.0, 0.5]])), torch.tensor([3.0, -2.0]))
