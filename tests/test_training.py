"""The training loop: each knob does what it claims, runs are reproducible, failures are recorded."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from svhn_debug.config import COLLEAGUE
from svhn_debug.data import build_batches, make_splits
from svhn_debug.model import build_model
from svhn_debug.training import build_scheduler, schedule_growth_per_step, train


def test_same_config_and_seed_give_bitwise_identical_runs(tiny, smoke, pools):
    a = train(tiny, smoke, pools, keep_model=True)
    b = train(tiny, smoke, pools, keep_model=True)
    assert a.steps == b.steps and a.epochs_df.drop(columns=["train_seconds", "eval_seconds"]).equals(
        b.epochs_df.drop(columns=["train_seconds", "eval_seconds"]))
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)


def test_another_seed_gives_another_run(tiny, smoke, pools):
    a = train(tiny, smoke, pools)
    b = train(replace(tiny, seed=1), smoke, pools)
    assert a.steps != b.steps


def test_without_zero_grad_the_gradient_is_the_sum_of_all_batch_gradients(tiny, smoke, pools):
    # lr so small that the parameters do not move: the gradient of every step is then the
    # gradient of that batch at the initial point, and the stored .grad their running sum.
    cfg = replace(tiny, zero_grad=False, optimizer="sgd", momentum=0.0, lr=1e-30, epochs=20)
    run = train(cfg, smoke, pools, keep_model=True)
    torch.manual_seed(cfg.seed)
    fresh = build_model(cfg)
    batches = build_batches(make_splits(pools, smoke, cfg), cfg, torch.device("cpu"))
    expected = [torch.zeros_like(p) for p in fresh.parameters()]
    steps = 0
    for _ in range(smoke.epochs(cfg.epochs)):
        for x, y in batches["train"]:
            fresh.zero_grad()
            torch.nn.functional.cross_entropy(fresh(x), y).backward()
            expected = [e + p.grad for e, p in zip(expected, fresh.parameters())]
            steps += 1
    assert steps == len(run.steps) > 1
    for got, want in zip(run.model.parameters(), expected):
        torch.testing.assert_close(got.grad, want, rtol=1e-4, atol=1e-6)


def test_with_zero_grad_the_gradient_is_the_last_batch_gradient_only(tiny, smoke, pools):
    cfg = replace(tiny, optimizer="sgd", momentum=0.0, lr=1e-30, epochs=20)
    run = train(cfg, smoke, pools, keep_model=True)
    accumulated = train(replace(cfg, zero_grad=False), smoke, pools, keep_model=True)
    ratio = [a.grad.norm() / b.grad.norm() for a, b in zip(accumulated.model.parameters(), run.model.parameters())]
    assert min(ratio) > 1.5  # several batch gradients summed vs one


def test_colleague_schedule_multiplies_the_rate_by_1_001_per_step_on_full_svhn():
    full_steps = 10 * 287
    assert schedule_growth_per_step(COLLEAGUE, full_steps, full_steps) == pytest.approx(1.001)
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    sched = build_scheduler(COLLEAGUE, opt, full_steps, full_steps)
    lrs = []
    for _ in range(full_steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    t = torch.arange(full_steps, dtype=torch.float64)
    torch.testing.assert_close(torch.tensor(lrs, dtype=torch.float64), 1e-5 * 1.001 ** t, rtol=1e-9, atol=0)
    assert lrs[-1] / lrs[0] == pytest.approx(1.001 ** (full_steps - 1))


def test_a_smaller_profile_keeps_the_total_learning_rate_growth(smoke, pools):
    cfg = replace(COLLEAGUE, width=0.25, cockpit="off", pipeline="tensor", eval_splits=("validation",))
    run = train(cfg, smoke, pools)
    lrs = [s["lr"] for s in run.steps]  # the rates the optimizer actually used, one per step
    per_step = lrs[1] / lrs[0]
    assert lrs == pytest.approx([1e-5 * per_step ** t for t in range(len(lrs))], rel=1e-9)
    # over the run's steps the rate grows as much as over the 2,870 steps of full SVHN
    assert (lrs[-1] / lrs[0]) * per_step == pytest.approx(1.001 ** (10 * 287), rel=1e-9)
    assert len(lrs) < 10 * 287


@pytest.mark.parametrize("scheduler", ["constant", "cosine", "warmup_cosine", "warmup_linear", "onecycle"])
def test_every_schedule_runs_to_the_end_without_error(tiny, smoke, pools, scheduler):
    run = train(replace(tiny, scheduler=scheduler, epochs=40, eval_splits=("validation",)), smoke, pools)
    assert len(run.steps) == run.meta["total_steps"]
    if scheduler != "constant":
        assert run.steps[-1]["lr"] < max(s["lr"] for s in run.steps)


def test_training_on_smoke_data_beats_chance(tiny, smoke, pools):
    # 512 images, 16 steps of 32 an epoch, 6 epochs; ReLU with BatchNorm skips the initial plateau.
    cfg = replace(tiny, width=0.5, batch_size=32, epochs=60, normalize=True, batchnorm=True, restore_train_mode=True,
                  activation="relu")
    run = train(cfg, smoke, pools)
    majority = torch.bincount(pools.train_labels).max().item() / len(pools.train_labels)
    assert run.final("train_accuracy") > majority + 0.05


def test_non_finite_loss_stops_the_run_and_records_divergence(tiny, smoke, pools):
    run = train(replace(tiny, activation="relu", optimizer="sgd", lr=1e10, momentum=0.0, epochs=40), smoke, pools)
    assert run.diverged_at is not None
    assert len(run.steps) == run.diverged_at
    assert all(math.isfinite(s["loss"]) for s in run.steps)
    # stopped at the loss: the weights it left are never evaluated
    assert all(e["step"] < run.diverged_at for e in run.epochs)


def test_with_the_notebooks_helper_every_epoch_after_the_first_trains_in_eval_mode(tiny, smoke, pools):
    # catches: a loop that calls model.train() at the start of every epoch (the bug would vanish)
    modes = []
    hook = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda m, a: modes.append(m.training) if isinstance(m, torch.nn.Sequential) and torch.is_grad_enabled() else None)
    try:
        run = train(replace(tiny, batchnorm=True, epochs=30), smoke, pools)
    finally:
        hook.remove()
    per_epoch = run.meta["steps_per_epoch"]
    assert run.meta["epochs_run"] >= 3
    assert modes[:per_epoch] == [True] * per_epoch
    assert modes[per_epoch:] == [False] * (len(modes) - per_epoch)


def test_the_colleagues_loop_computes_per_example_losses_every_step(tiny, smoke, pools):
    # catches: per_example_losses silently ignored (the cost the iteration chapter removes)
    calls = []
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda m, a, out: calls.append(out.ndim) if isinstance(m, torch.nn.CrossEntropyLoss) and torch.is_grad_enabled() else None)
    try:
        on = train(replace(tiny, per_example_losses=True), smoke, pools)
        n_on = calls.count(1)
        calls.clear()
        train(replace(tiny, per_example_losses=False), smoke, pools)
    finally:
        hook.remove()
    assert n_on == len(on.steps) and calls.count(1) == 0


def test_evaluation_leaves_the_model_in_eval_mode_unless_restored(tiny, smoke, pools):
    cfg = replace(tiny, batchnorm=True, epochs=20)
    assert train(cfg, smoke, pools, keep_model=True).model.training is False
    assert train(replace(cfg, restore_train_mode=True), smoke, pools, keep_model=True).model.training is True


def test_partial_training_set_evaluation_uses_only_that_many_examples(tiny, smoke, pools):
    full = train(tiny, smoke, pools)
    part = train(replace(tiny, eval_train_examples=64), smoke, pools)
    assert full.steps == part.steps  # evaluation never changes training
    assert full.final("train_accuracy") != part.final("train_accuracy") or full.final("train_loss") != part.final("train_loss")


def test_eval_every_skips_epochs_but_always_evaluates_the_last(tiny, smoke, pools):
    run = train(replace(tiny, epochs=40, eval_every=3), smoke, pools)
    assert [e["epoch"] for e in run.epochs] == [3, 4]


def test_pil_pipeline_matches_the_tensor_pipeline_without_random_transforms(tiny, smoke, pools):
    # Same images, same order: only the conversion path differs.
    cfg = replace(tiny, eval_splits=("validation",))
    tensor = train(cfg, smoke, pools)
    pil_run = train(replace(cfg, pipeline="pil"), smoke, pools)
    assert pil_run.final("validation_accuracy") == pytest.approx(tensor.final("validation_accuracy"), abs=0.02)


def test_the_best_vs_final_table_separates_the_notebooks_pick_from_the_honest_ones(monkeypatch):
    # The notebook prints the best test accuracy over epochs; the honest numbers are the last
    # epoch and the test accuracy at the best *validation* epoch. Three different epochs here.
    # catches: the table reading the test column for the validation pick, or best() for final().
    from svhn_debug import report, runner
    from svhn_debug.training import RunResult

    epochs = [{"epoch": 1, "test_accuracy": 0.5, "validation_accuracy": 0.70},
              {"epoch": 2, "test_accuracy": 0.8, "validation_accuracy": 0.60},
              {"epoch": 3, "test_accuracy": 0.6, "validation_accuracy": 0.65}]
    run = RunResult(config={}, profile="smoke", seed=0, steps=[], confusion=None, diverged_at=None, cockpit=None,
                    epochs=epochs, meta={})
    monkeypatch.setattr(runner, "result", lambda name, *a, **k: run)
    row = report.best_vs_final_table(["x"]).splitlines()[-1]
    assert row == "| `x` | 80.0% | 50.0% | 60.0% |"


def test_warmup_linear_rises_for_the_warmup_then_falls_to_zero_at_the_last_step():
    from svhn_debug.training import build_scheduler

    cfg = replace(COLLEAGUE, scheduler="warmup_linear", lr=1.0, warmup_fraction=0.2)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched = build_scheduler(cfg, opt, 10, 10)
    rates = []
    for _ in range(10):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert rates[:3] == pytest.approx([0.5, 1.0, 1.0]) and rates[-1] == pytest.approx(1 / 8)
    assert all(a >= b for a, b in zip(rates[1:], rates[2:])) and opt.param_groups[0]["lr"] == 0.0


@pytest.mark.parametrize("nesterov", [True, False])
def test_sgd_gets_the_configured_rate_momentum_and_nesterov(nesterov):
    from svhn_debug.training import build_optimizer

    cfg = replace(COLLEAGUE, optimizer="sgd", lr=0.05, momentum=0.8, nesterov=nesterov)
    opt = build_optimizer(cfg, torch.nn.Linear(2, 2))
    assert isinstance(opt, torch.optim.SGD)
    assert (opt.defaults["lr"], opt.defaults["momentum"], opt.defaults["nesterov"]) == (0.05, 0.8, nesterov)


@pytest.mark.parametrize("rule,kind", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_adam_and_adamw_get_the_configured_rate(rule, kind):
    from svhn_debug.training import build_optimizer

    opt = build_optimizer(replace(COLLEAGUE, optimizer=rule, lr=0.003), torch.nn.Linear(2, 2))
    assert type(opt) is kind and opt.defaults["lr"] == 0.003


def test_final_and_best_read_the_last_and_the_highest_evaluated_value():
    from svhn_debug.training import RunResult

    epochs = [{"test_accuracy": 0.5}, {"test_accuracy": None}, {"test_accuracy": 0.7}, {"test_accuracy": 0.6}, {}]
    run = RunResult(config={}, profile="smoke", seed=0, steps=[], epochs=epochs, confusion=None, diverged_at=None,
                    cockpit=None)
    assert run.final() == 0.6 and run.best() == 0.7
    assert run.final("validation_accuracy") is None and run.best("validation_accuracy") is None


def test_auto_device_is_cuda_when_available_else_the_cpu(monkeypatch):
    from svhn_debug.training import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        resolve_device("cuda")


def test_a_run_records_the_versions_of_python_and_the_packages_it_ran_on():
    import platform
    from importlib.metadata import version

    from svhn_debug.training import _versions

    recorded = _versions()
    assert recorded["python"] == platform.python_version()
    for pkg in ("torch", "torchvision", "numpy", "cockpit-for-pytorch", "backpack-for-pytorch"):
        assert recorded[pkg] == version(pkg)


def test_train_runs_on_the_profile_and_pools_it_is_given_and_loads_only_what_is_missing(tiny, smoke, pools, monkeypatch):
    from svhn_debug import training

    other = replace(smoke, name="smoke-copy")
    loaded = []
    monkeypatch.setattr(training, "load_pools", lambda profile: loaded.append(profile) or pools)
    monkeypatch.setattr(training, "active_profile", lambda: pytest.fail("the active profile replaced the given one"))
    cfg = replace(tiny, epochs=20, eval_splits=("validation",))  # two epochs of two steps on smoke
    seen = []
    run = training.train(cfg, other, pools, progress=lambda step, total, last: seen.append((step, total, dict(last))))
    assert loaded == [] and run.profile == "smoke-copy"
    assert getattr(run, "model", None) is None  # the model is kept only when asked for
    assert run.confusion is None  # no test split evaluated: no confusion matrix
    assert run.meta["n_params"] == sum(p.numel() for p in build_model(cfg).parameters())
    total = run.meta["total_steps"]
    # progress after every step, with the last evaluation's metrics (none before the first)
    assert total > 1 and [s[:2] for s in seen] == [(k, total) for k in range(1, total + 1)]
    assert seen[0][2] == {} and seen[-1][2]["validation_accuracy"] == run.epochs[0]["validation_accuracy"]
    training.train(cfg, other)  # no pools given: those of the given profile are loaded
    assert loaded == [other]


def test_a_run_numbers_its_steps_and_epochs_and_scores_the_test_split_in_its_confusion_matrix(tiny, smoke, pools):
    import numpy as np

    run = train(replace(tiny, epochs=20, eval_splits=("validation", "test")), smoke, pools)  # 2 epochs of 2 steps
    assert [(s["step"], s["epoch"]) for s in run.steps] == [(1, 1), (2, 1), (3, 2), (4, 2)]
    first, last = run.epochs
    assert (first["epoch"], first["step"], last["epoch"], last["step"]) == (1, 2, 2, 4)
    # the held-out yardstick is scored once, after the last epoch
    assert first["heldout_loss"] is None and first["heldout_accuracy"] is None
    assert last["heldout_loss"] > 0 and 0 <= last["heldout_accuracy"] <= 1
    # the confusion matrix counts the test split at the last evaluation
    conf = np.array(run.confusion)
    assert conf.shape == (10, 10) and conf.sum() == smoke.n_test
    assert np.trace(conf) / conf.sum() == pytest.approx(last["test_accuracy"])
    # the validation split (as large here) does not enter it: a run that scores the test split alone has the same
    assert train(replace(tiny, epochs=20, eval_splits=("test",)), smoke, pools).confusion == run.confusion
    assert 0 < last["train_seconds"] < 600 and 0 < last["eval_seconds"] < 600


def test_train_seeds_pythons_and_numpys_generators_as_the_notebook_did(tiny, smoke, pools, monkeypatch):
    import random

    import numpy as np

    seeded = []
    monkeypatch.setattr(random, "seed", lambda s: seeded.append(("random", s)))
    monkeypatch.setattr(np.random, "seed", lambda s: seeded.append(("numpy", s)))
    train(replace(tiny, epochs=1, seed=7, eval_splits=("validation",)), smoke, pools)
    assert seeded == [("random", 7), ("numpy", 7)]


def test_a_tracked_run_records_cockpits_quantities_of_its_model(tiny, smoke, pools):
    run = train(replace(tiny, epochs=20, cockpit="colleague", eval_splits=("validation",)), smoke, pools)
    first = run.cockpit[min(run.cockpit, key=int)]
    assert {"Distance", "GradNorm", "Loss", "UpdateSize"} <= set(first)
    # each evaluation is logged at its step, for Cockpit's performance gauge
    for row in run.epochs:
        logged = run.cockpit[str(row["step"])]
        assert (logged["epoch_count"], logged["valid_accuracy"], logged["valid_loss"], logged["learning_rate"]) == (
            row["epoch"], row["validation_accuracy"], row["validation_loss"], tiny.lr)


@pytest.mark.skipif(not __import__("svhn_debug.precision").precision.cpu_has_bf16(), reason="no bfloat16 on this CPU")
def test_a_bf16_run_computes_under_autocast_and_records_it(tiny, smoke, pools):
    run = train(replace(tiny, epochs=2, precision="bf16", eval_splits=("validation",)), smoke, pools)
    assert run.meta["numerics"]["precision"] == "bf16" and run.meta["numerics"]["autocast_dtype"] == "bfloat16"


def _scheduled_rates(scheduler: str, steps: int, warmup_fraction: float, beyond: int = 0) -> list[float]:
    """The rate of every step of a run of ``steps`` steps at lr 1, then the rate after the last
    step (and after ``beyond`` more)."""
    cfg = replace(COLLEAGUE, scheduler=scheduler, lr=1.0, warmup_fraction=warmup_fraction)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched = build_scheduler(cfg, opt, steps, steps)
    rates = []
    for _ in range(steps + beyond):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates + [opt.param_groups[0]["lr"]]


@pytest.mark.parametrize("scheduler,steps,fraction,expected", [
    ("constant", 3, 0.2, [1.0, 1.0, 1.0, 1.0]),
    # half a cosine from the full rate to zero after the last step: 1, (1 + cos(pi/4)) / 2, ...
    ("cosine", 4, 0.2, [1.0, 0.853553, 0.5, 0.146447, 0.0]),
    # round(0.34 * 6) = 2 warmup steps rising to the full rate, then the same half cosine
    ("warmup_cosine", 6, 0.34, [0.5, 1.0, 1.0, 0.853553, 0.5, 0.146447, 0.0]),
    # a warmup of round(0.5) = 0 steps is still one step
    ("warmup_cosine", 10, 0.05, [1.0, 1.0, 0.969846, 0.883022, 0.75, 0.586824, 0.413176, 0.25, 0.116978, 0.030154, 0.0]),
    # one warmup step, then a decay over the one step left: the full rate, then zero
    ("warmup_linear", 2, 0.5, [1.0, 1.0, 0.0]),
    # PyTorch's one-cycle over one step more than the run (so that it can step after the last
    # step): the peak after round(0.2 * 11) steps, near zero at the end
    ("onecycle", 10, 0.2, [0.04, 0.935692, 0.979747, 0.900271, 0.770321, 0.606284, 0.428845, 0.260378,
                           0.122129, 0.031529, 4e-06]),
])
def test_each_schedule_gives_the_rates_it_describes(scheduler, steps, fraction, expected):
    assert _scheduled_rates(scheduler, steps, fraction) == pytest.approx(expected, abs=1e-6)


def test_a_decayed_schedule_stays_at_zero_past_the_last_step():
    assert _scheduled_rates("warmup_cosine", 6, 0.34, beyond=3)[-4:] == pytest.approx([0.0] * 4, abs=1e-12)


def test_decay_scope_weights_spares_biases_and_batchnorm(tiny):
    from svhn_debug.training import build_optimizer

    cfg = replace(tiny, batchnorm=True, weight_decay=5e-4, decay_scope="weights")
    model = build_model(cfg)
    groups = build_optimizer(cfg, model).param_groups
    decayed = {id(p) for g in groups if g["weight_decay"] for p in g["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decayed) == (p.ndim > 1), name
    everything = build_optimizer(replace(cfg, decay_scope="all"), model).param_groups
    assert all(g["weight_decay"] == 5e-4 for g in everything)


def test_label_smoothing_changes_the_training_loss_but_not_the_evaluation(tiny, smoke, pools):
    plain = train(tiny, smoke, pools)
    smooth = train(replace(tiny, label_smoothing=0.2), smoke, pools)
    assert smooth.steps[0]["loss"] != plain.steps[0]["loss"]  # the same initial model, a softer target
    torch.manual_seed(tiny.seed)
    model = build_model(tiny)
    x, y = next(iter(build_batches(make_splits(pools, smoke, tiny), tiny, torch.device("cpu"))["train"]))
    expected = torch.nn.functional.cross_entropy(model(x), y, label_smoothing=0.2).item()
    assert smooth.steps[0]["loss"] == pytest.approx(expected, rel=1e-5)


def test_shifted_views_move_the_image_by_two_pixels_each_way():
    from svhn_debug.training import shifted_views

    x = torch.rand(2, 3, 32, 32)
    views = shifted_views(x)
    assert len(views) == 5 and torch.equal(views[0], x)
    assert torch.equal(views[1][..., 2:, :], x[..., :-2, :]) and torch.equal(views[2][..., :-2, :], x[..., 2:, :])
    assert torch.equal(views[3][..., :, 2:], x[..., :, :-2]) and torch.equal(views[4][..., :, :-2], x[..., :, 2:])
    # the rows and columns the shift uncovers repeat the edge (zeros would darken the border)
    assert torch.equal(views[1][..., :2, :], x[..., :1, :].expand(-1, -1, 2, -1))
    assert torch.equal(views[4][..., :, -2:], x[..., :, -1:].expand(-1, -1, -1, 2))


def test_test_time_augmentation_changes_the_evaluation_only(tiny, smoke, pools):
    plain = train(tiny, smoke, pools)
    tta = train(replace(tiny, tta="shift"), smoke, pools)
    assert plain.steps == tta.steps
    assert plain.epochs[-1]["test_loss"] != tta.epochs[-1]["test_loss"]
    assert plain.epochs[-1]["heldout_loss"] != tta.epochs[-1]["heldout_loss"]  # the yardstick too
    # ... also where the yardstick is a set of its own (the colleague's split cuts its test from train)
    plain, tta = (train(replace(tiny, split="colleague", tta=t), smoke, pools) for t in ("none", "shift"))
    assert plain.epochs[-1]["test_loss"] != plain.epochs[-1]["heldout_loss"]
    assert plain.epochs[-1]["heldout_loss"] != tta.epochs[-1]["heldout_loss"]


def test_a_non_finite_evaluation_marks_the_run_diverged_at_that_step(tiny, smoke, pools, monkeypatch):
    import svhn_debug.training as training

    real = training.evaluate
    monkeypatch.setattr(training, "evaluate", lambda *a, **k: (float("nan"),) + real(*a, **k)[1:])
    run = train(replace(tiny, epochs=20), smoke, pools)
    assert run.diverged_at == run.epochs[0]["step"] and len(run.epochs) == 1


def test_the_confusion_matrix_is_indexed_true_then_predicted():
    from svhn_debug.training import evaluate

    class AlwaysThree(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            logits = torch.zeros(len(x), 10)
            logits[:, 3] = 1.0
            return logits
    batches = [(torch.zeros(4, 3, 32, 32), torch.tensor([1, 1, 1, 7]))]
    _, accuracy, confusion = evaluate(AlwaysThree(), batches)
    assert accuracy == 0.0
    assert confusion[1, 3] == 3 and confusion[7, 3] == 1 and confusion.sum() == 4  # [true][predicted]


def test_each_reported_metric_comes_from_its_own_split(tiny, smoke, pools, monkeypatch):
    import svhn_debug.training as training

    # Every split has its own size here (eval-train 64, validation 153, test 256): an evaluation
    # that reports the number of examples it saw tells which split each column came from.
    monkeypatch.setattr(training, "evaluate", lambda model, batches, tta="none": (
        float(sum(len(y) for _, y in batches)), 0.5, torch.zeros(10, 10, dtype=torch.int64)))
    cfg = replace(tiny, eval_train_examples=64, epochs=1)
    splits = make_splits(pools, smoke, cfg)
    row = train(cfg, smoke, pools).epochs[-1]
    assert row["train_loss"] == 64
    assert row["validation_loss"] == len(splits["validation"].labels) == 153
    assert row["test_loss"] == len(splits["test"].labels) == 256


def _count_examples(monkeypatch):
    """Make ``evaluate`` report how many examples it saw (as the loss) and the sum of their first
    pixel (as the accuracy): which images, and how transformed, each column came from."""
    import svhn_debug.training as training

    def evaluate(model, batches, tta="none"):
        n, first = 0, 0.0
        for x, y in batches:
            n += len(y)
            first += float(x[:, 0, 0, 0].float().sum())
        return float(n), first, torch.zeros(10, 10, dtype=torch.int64)
    monkeypatch.setattr(training, "evaluate", evaluate)


def test_every_run_is_scored_on_the_held_out_upright_test_pool_after_its_last_epoch(tiny, smoke, pools, monkeypatch):
    _count_examples(monkeypatch)
    sound = train(replace(tiny, epochs=20, eval_every=1), smoke, pools)
    # earlier evaluations carry no yardstick; the last one does
    assert [e["heldout_accuracy"] for e in sound.epochs[:-1]] == [None] * (len(sound.epochs) - 1)
    last = sound.epochs[-1]
    # the sound split evaluated upright: its test view is the yardstick
    assert (last["heldout_loss"], last["heldout_accuracy"]) == (last["test_loss"], last["test_accuracy"])
    # the notebook's split scores its "test" half on training images, the yardstick on the test pool
    colleague = train(replace(tiny, split="colleague", epochs=20, eval_every=1), smoke, pools).epochs[-1]
    assert colleague["heldout_loss"] == smoke.n_test and colleague["heldout_accuracy"] == last["test_accuracy"]
    assert colleague["test_accuracy"] != last["test_accuracy"]
    # rotated evaluation images: the run's test view is rotated, the yardstick upright
    rotated = train(replace(tiny, eval_transform="rotate180", epochs=20, eval_every=1), smoke, pools).epochs[-1]
    assert rotated["heldout_accuracy"] == last["test_accuracy"] != rotated["test_accuracy"]


def test_the_yardstick_is_standardised_like_the_runs_inputs(tiny, smoke, pools, monkeypatch):
    _count_examples(monkeypatch)
    plain = train(replace(tiny, split="colleague"), smoke, pools).epochs[-1]
    standardised = train(replace(tiny, split="colleague", normalize=True), smoke, pools).epochs[-1]
    assert plain["heldout_accuracy"] >= 0  # pixels in [0, 1]
    assert standardised["heldout_accuracy"] != plain["heldout_accuracy"]


def test_a_bug_that_only_changes_what_is_reported_leaves_the_yardstick_unchanged(tiny, smoke, pools):
    fixed = train(replace(tiny, normalize=True), smoke, pools)
    for bug in ({"split": "colleague"}, {"eval_transform": "rotate180"}):
        broken = train(replace(tiny, normalize=True, **bug), smoke, pools)
        assert [s["loss"] for s in broken.steps] == [s["loss"] for s in fixed.steps]
        assert broken.final("heldout_accuracy") == fixed.final("test_accuracy")
