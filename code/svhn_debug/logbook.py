"""The book's experiments, as data: every experiment of the logbook, in the order the book runs them.

Each line names its parent and the one thing it changes (the scientific variable); everything
else is held fixed; ``seeds`` is the noise. The cache is keyed by content, so two experiments with
the same configuration share their runs. The mechanism (what an experiment is, how runs are
computed and cached) lives in :mod:`svhn_debug.registry` and :mod:`svhn_debug.runner`.
"""

from __future__ import annotations

from dataclasses import replace

from .config import COLLEAGUE
from .registry import Registry
from .search import draw

# The colleague's notebook in the fastest memory layout: channels_last activations are about 1.4x
# faster on this CPU (bench/loop_speed.py). Other kernels round differently, so the layout is part
# of every run's configuration; the thread count is fixed per run too (RunConfig.threads).
BOOK_ROOT = replace(COLLEAGUE, channels_last=True)

BOOK = Registry(root=BOOK_ROOT)
register = BOOK.register

SEEDS = (0, 1, 2)  # the noise: three seeds where a decision rests on a difference
SEEDS_5 = (0, 1, 2, 3, 4)  # the bar to beat and what claims to beat it: five seeds each

# --- Reproduce the colleague's run, then make one iteration cheap -------------------------------
register("colleague", None, "Does the handed-over notebook reproduce the colleague's failure?")
register("colleague-tensor", "colleague", "Does the batched tensor pipeline tell the same story at a lower cost?",
         pipeline="tensor")
# `lean` and every run after it compute in bfloat16 mixed precision (float32 weights): 1.8x faster
# a step here and no different in final accuracy beyond seed noise (chapter 1 measures both);
# Cockpit cannot record bfloat16 quantities, so its runs stay float32. They evaluate every second
# epoch: 11 points of the curves for 22 epochs, a sixth less compute.
register("lean", "colleague-tensor",
         "Can Cockpit, the unused per-example losses and most of the evaluation go, and bfloat16 come in, "
         "without changing what is trained?", cockpit="off", per_example_losses=False, eval_train_examples=2048,
         eval_every=2, precision="bf16", seeds=SEEDS)

# --- Bugs found by reading the code ------------------------------------------------------------
register("zero-grad", "lean", "Does clearing the gradients before every backward pass let the network learn?",
         seeds=SEEDS, zero_grad=True)
register("accumulating-lr-1e-3", "lean",
         "Is the tiny learning rate the only problem, even while gradients accumulate?", seeds=SEEDS, lr=1e-3)
register("lr-1e-3", "zero-grad", "Does Adam's customary learning rate train where 1e-5 barely moves?", lr=1e-3)
register("constant-lr", "lr-1e-3", "Does the ever-growing learning rate (ExponentialLR with gamma > 1) hurt?",
         scheduler="constant")

# --- Bugs found by looking at the data ----------------------------------------------------------
register("rotate-train-only", "constant-lr",
         "Is rotating the evaluation images what hides a model that has learned?", eval_transform="none")
register("no-rotation", "constant-lr", "Does training on upright digits (6 and 9 stay apart) help?",
         train_transform="none", eval_transform="none")
register("sound-split", "no-rotation",
         "What is the accuracy on images the model never saw (validation off the training pool, test from the "
         "test split)?", split="sound")
register("normalize", "sound-split", "Does standardising the inputs per channel help?", seeds=SEEDS_5,
         normalize=True)

# --- Tuning: one variable at a time against the seed spread of `normalize` ----------------------
register("lr-3e-4", "normalize", "Is 1e-3 too large for this network?", lr=3e-4)
register("lr-3e-3", "normalize", "Is 1e-3 too small for this budget?", lr=3e-3)
register("relu", "normalize", "Does ReLU train faster than tanh here?", activation="relu")
register("batchnorm", "normalize", "Does BatchNorm speed up training (with the notebook's evaluation helper)?",
         batchnorm=True)
register("batchnorm-restore", "batchnorm",
         "Does switching back to train mode after evaluation matter once the model has BatchNorm?",
         restore_train_mode=True)
register("relu-batchnorm", "batchnorm-restore", "With BatchNorm, does ReLU now beat tanh?", seeds=SEEDS_5,
         activation="relu")

# --- Tuning the new baseline (ReLU with BatchNorm): schedule, augmentation, budget ---------------
register("cosine", "relu-batchnorm", "Does a warmup and cosine decay of the learning rate beat a constant rate?",
         scheduler="warmup_cosine")
register("augment", "relu-batchnorm", "Do small shifts and brightness/contrast jitter reduce the train-test gap?",
         train_transform="shift_jitter")
register("longer-run", "relu-batchnorm", "How much does a 2.5 times longer run add?",
         seeds=SEEDS, epochs=25)

# --- Ablations: put one bug back into the fixed configuration --------------------------------
register("ablate-accumulate", "normalize", "Does gradient accumulation alone break the fixed run?", seeds=SEEDS,
         zero_grad=False)
register("ablate-lr-1e-5", "normalize", "Does the notebook's learning rate alone break the fixed run?", seeds=SEEDS,
         lr=1e-5)
register("ablate-lr-growth", "normalize", "Does the growing learning rate alone break the fixed run?", seeds=SEEDS,
         scheduler="exponential")
register("ablate-rotation", "normalize", "Do the 0-180 degree rotations alone break the fixed run?", seeds=SEEDS,
         train_transform="rotate180", eval_transform="rotate180")
register("ablate-eval-rotation", "normalize", "Would the notebook's evaluation hide a model that has learned?",
         seeds=SEEDS, eval_transform="rotate180")
register("ablate-eval-mode", "relu-batchnorm",
         "Does the notebook's evaluation helper, which leaves the model in eval mode, break the BatchNorm run?",
         seeds=SEEDS, restore_train_mode=False)
register("ablate-split", "normalize", "How much does the notebook's split flatter the fixed run?", seeds=SEEDS,
         split="colleague")

# --- Removals: take one bug out of the colleague's configuration --------------------------------
# `zero-grad` and `accumulating-lr-1e-3` above are two of them; the colleague's bugs mask each
# other, so a bug that matters alone in the fixed run may change nothing here.
register("remove-lr-growth", "lean", "Does a constant rate alone change the colleague's run?", seeds=SEEDS,
         scheduler="constant")
register("remove-rotation", "lean", "Do upright digits alone change the colleague's run?", seeds=SEEDS,
         train_transform="none", eval_transform="none")
register("remove-split", "lean", "Does a sound split alone change the colleague's run?", seeds=SEEDS,
         split="sound")
register("remove-eval-mode", "lean", "Does switching back to train mode alone change the colleague's run?",
         seeds=SEEDS, restore_train_mode=True)

# --- Instruments before and after the fixes ------------------------------------------------------
register("cockpit-fixed", "normalize",
         "What do Cockpit's instruments show once the bugs are fixed (economy preset)?",
         cockpit="economy", cockpit_interval=4, precision="fp32")
register("cockpit-batchnorm", "batchnorm-restore",
         "Which instruments stay correct with BatchNorm, and what do they show?",
         cockpit="economy", cockpit_interval=4, precision="fp32")


# --- The bar to beat: the course's own solution on our data and budget --------------------------
register("reference", "lean",
         "What does the course's recipe reach here: every bug fixed the course's way, ReLU, BatchNorm after each "
         "convolution, Adam at 2e-3 with a constant rate, no augmentation, the profile's epochs and batch size?",
         seeds=SEEDS_5, zero_grad=True, lr=2e-3, scheduler="constant", train_transform="none", eval_transform="none",
         split="sound", restore_train_mode=True, activation="relu", batchnorm=True, bn_hidden=False)


# Screens: which of the reference's differences from `relu-batchnorm` keeps it on the plateau?
register("reference-normalize", "reference", "Does standardising the inputs let the course's recipe learn?",
         normalize=True)
register("reference-lr-1e-3", "reference", "Is 2e-3 too large a rate for the course's recipe here?", lr=1e-3)
register("reference-bn-hidden", "reference", "Does BatchNorm after the hidden layer let the course's recipe learn?",
         seeds=SEEDS_5, bn_hidden=True)


# --- Tuning to beat the reference at its budget: one-seed screens from `relu-batchnorm` -------
# What the fastest small-budget recipes use (the CIFAR-10 speed runs): a schedule shaped to the
# budget, label smoothing, Nesterov momentum, decay on the weights only, translations, and
# test-time augmentation that keeps labels. A screen can only send a change to confirmation.
register("warmup-linear", "relu-batchnorm", "Does a short warmup and a linear decay to zero fit this budget better?",
         scheduler="warmup_linear")
register("label-smoothing", "relu-batchnorm", "Does label smoothing (0.1) help on this budget?", label_smoothing=0.1)
register("nesterov", "relu-batchnorm", "Does SGD with Nesterov momentum (rate 0.05) beat Adam here?",
         optimizer="sgd", nesterov=True, lr=0.05)
register("decay-weights", "relu-batchnorm", "Does decoupled weight decay on the weights only (AdamW, 0.05) help?",
         optimizer="adamw", weight_decay=0.05, decay_scope="weights")
register("shift", "relu-batchnorm", "Do translations alone (up to 2 px, no jitter) help?", train_transform="shift")
register("tta", "relu-batchnorm", "Does averaging the predictions over 2-px shifts at evaluation help?", tta="shift")
register("lr-2e-3", "relu-batchnorm", "With BatchNorm, does the reference's rate of 2e-3 beat 1e-3?", lr=2e-3)

# Confirmations: a screen that passed, run again on four fresh seeds (the screen's seed chose it,
# so it takes no part in the decision), paired with `relu-batchnorm` on the same seeds.
CONFIRM_SEEDS = (1, 2, 3, 4)


def confirm(name: str) -> str:
    """Register the confirmation of screen ``name``: the same configuration on CONFIRM_SEEDS."""
    register(f"{name}-confirm", name, f"Does {name!r} hold on four fresh seeds?", seeds=CONFIRM_SEEDS)
    return f"{name}-confirm"


CONFIRMED = [confirm(n) for n in ("shift", "augment", "decay-weights", "tta")]


# --- The exam question with our own runs (chapter 7) --------------------------------------------
# A half-width network on the cpu profile keeps it affordable. Two update rules, Adam and SGD with
# Nesterov momentum, each tuned by random search over its own space, at the profile's four epochs
# (the long horizon) and, drawn afresh, at two epochs (the short horizon).
register("exam-base", "relu-batchnorm", "The exam's network: half the width, a smaller training-set evaluation",
         width=0.5, eval_train_examples=512)
EXAM_RULES = {"adam": ({"lr": (1e-4, 3e-2, "log")}, {"optimizer": "adam"}),
              "sgd": ({"lr": (1e-3, 1.0, "log"), "momentum": (0.8, 0.99, "linear")},
                      {"optimizer": "sgd", "nesterov": True})}
EXAM_HORIZONS = {"long": 10, "short": 5}  # the notebook's epochs asked for; the cpu profile runs 4 and 2
EXAM_TRIALS = 8
EXAM_SEARCH: dict[tuple[str, str], list[str]] = {}  # (rule, horizon) -> its trials' names
for _i, ((_rule, (_space, _fixed)), (_horizon, _epochs)) in enumerate(
        [(r, h) for h in EXAM_HORIZONS.items() for r in EXAM_RULES.items()]):
    EXAM_SEARCH[_rule, _horizon] = []
    for _t, _trial in enumerate(draw(_space, EXAM_TRIALS, search_seed=_i + 1), start=1):
        _name = f"exam-{_rule}-{_horizon}-{_t}"
        register(_name, "exam-base", f"Random-search trial {_t} of {_rule} at the {_horizon} horizon",
                 epochs=_epochs, **_fixed, **_trial)
        EXAM_SEARCH[_rule, _horizon].append(_name)

# The best long-horizon trial of each rule (final validation accuracy of seed 0), run again on
# three fresh seeds: how much does the best of a search overestimate its setting? The choice is
# read off the cached trials; chapter 7 stops the render if it no longer is the best.
EXAM_BEST = {"adam": "exam-adam-long-8", "sgd": "exam-sgd-long-8"}
for _rule, _trial in EXAM_BEST.items():
    register(f"exam-{_rule}-best", _trial, f"Does the best {_rule} trial hold on fresh seeds?", seeds=(1, 2, 3))


# --- The path: fixes, then the tuning steps the rule decides ----------------------------------
# The fixes are taken because they remove bugs (each is measured both ways in the ablation); the
# tuning steps are proposals, in the order the logbook made them, each against its starting
# point: `report.ladder()` keeps those the rule adopts, so the path and the adopted recipe are
# derived from the decisions, never typed.
FIX_PATH = ["colleague", "lean", "zero-grad", "lr-1e-3", "constant-lr", "no-rotation", "sound-split", "normalize"]
TUNING_STEPS = [("relu-batchnorm", "normalize")] + [(c, "relu-batchnorm") for c in CONFIRMED]
REFERENCE = "reference"  # the bar to beat: the course's recipe
REFERENCE_LEARNING = "reference-bn-hidden"  # the course's recipe with the one change that lets it learn here

# --- The bugs the logbook demonstrates ---------------------------------------------------------
# Each names the chapter that finds it, the fixed run, the ablation that puts the bug back into
# that run (the bug's effect on its own), and the run that removes only this bug from the
# colleague's configuration (`COLLEAGUE_START`): the two directions differ where bugs mask each other.
# `check` is the health check's code that names the bug (svhn_debug.checks).
COLLEAGUE_START = "lean"

# The runs the checks chapter diagnoses with the monitor (besides the adopted recipe, derived):
# the notebook, and the BatchNorm model with the notebook's evaluation helper, where training in
# evaluation mode first matters.
DIAGNOSED = ["colleague", "ablate-eval-mode"]
BUGS = [
    {"bug": "gradients are never cleared", "symptom": "gradient norm grows while the loss stays flat",
     "cause": "no zero_grad() in the batch loop", "fix": "clear before each backward pass",
     "fixed": "normalize", "broken": "ablate-accumulate", "check": "GRAD_ACCUMULATION", "removed": "zero-grad", "chapter": "sec-code"},
    {"bug": "learning rate far too small", "symptom": "loss and accuracy do not move",
     "cause": "Adam with lr 1e-5", "fix": "lr 1e-3", "fixed": "normalize", "broken": "ablate-lr-1e-5", "check": "LR_TOO_SMALL", "removed": "accumulating-lr-1e-3",
     "chapter": "sec-code"},
    {"bug": "learning rate grows every step", "symptom": "rising learning-rate trajectory",
     "cause": "ExponentialLR, gamma 1.001, per batch", "fix": "constant rate",
     "fixed": "normalize", "broken": "ablate-lr-growth", "check": "LR_GROWTH", "removed": "remove-lr-growth", "chapter": "sec-code"},
    {"bug": "digits rotated by up to 180 degrees", "symptom": "upside-down digits; 9s read as 6s",
     "cause": "RandomRotation((0, 180)) on every split", "fix": "no rotation",
     "fixed": "normalize", "broken": "ablate-rotation", "check": "EVAL_AUGMENTATION", "removed": "remove-rotation", "chapter": "sec-data"},
    {"bug": "validation and test are training images", "symptom": "the three curves coincide",
     "cause": "evaluation set from the train split", "fix": "sound split",
     "fixed": "normalize", "broken": "ablate-split", "check": "SPLIT_OVERLAP", "removed": "remove-split", "chapter": "sec-data"},
    {"bug": "model left in eval mode after evaluation", "symptom": "BatchNorm model trains in eval mode",
     "cause": "eval_model never calls model.train()", "fix": "switch back after evaluating",
     "fixed": "relu-batchnorm", "broken": "ablate-eval-mode", "check": "TRAIN_IN_EVAL_MODE", "removed": "remove-eval-mode", "chapter": "sec-tuning"},
]
