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

# The colleague's notebook in the fastest memory layout: channels_last activations are about 1.4x
# faster on this CPU (bench/loop_speed.py). Other kernels round differently, so the layout is part
# of every run's configuration; the thread count is fixed per run too (RunConfig.threads).
BOOK_ROOT = replace(COLLEAGUE, channels_last=True)

BOOK = Registry(root=BOOK_ROOT)
register = BOOK.register

# The seeds of every family are declared here, before its runs, and never added after a result:
SEEDS_3 = (0, 1, 2)  # a run's outcome on three seeds: where the book says *whether* a run learns
SEEDS_5 = (0, 1, 2, 3, 4)  # every decision and every bar: five seeds, paired by seed

# --- Reproduce the colleague's run, then make one iteration cheap -------------------------------
# The notebook as handed over (PIL pipeline, Cockpit every step, float32): the one run that keeps
# all of it, so one seed. `colleague-tensor` and `lean` make one iteration cheap without changing
# what is trained (float32, one seed each: chapter 2 compares them step by step); `lean-bf16`
# adds bfloat16 mixed precision, and every run after it descends from it.
register("colleague", None, "Does the handed-over notebook reproduce the colleague's failure?")
register("colleague-tensor", "colleague", "Does the batched tensor pipeline tell the same story at a lower cost?",
         pipeline="tensor")
# Every second epoch evaluated: 11 points of the curves for 22 epochs, a sixth less compute; the
# evaluation draws from generators of its own, so it changes no training step.
register("lean", "colleague-tensor",
         "Can Cockpit, the unused per-example losses and most of the evaluation go, without changing what is "
         "trained?", cockpit="off", per_example_losses=False, eval_train_examples=2048, eval_every=2)
# bfloat16 mixed precision (float32 weights): 1.8x faster a step here, and no different in final
# accuracy beyond seed noise (chapter 1's study measures it); Cockpit cannot save bfloat16
# quantities, so its runs stay float32.
register("lean-bf16", "lean", "Does bfloat16 mixed precision tell the same story at a lower cost?",
         precision="bf16", seeds=SEEDS_3)

# --- Bugs found by reading the code ------------------------------------------------------------
register("zero-grad", "lean-bf16", "Does clearing the gradients before every backward pass let the network learn?",
         seeds=SEEDS_3, zero_grad=True)
register("accumulating-lr-1e-3", "lean-bf16",
         "Is the tiny learning rate the only problem, even while gradients accumulate?", seeds=SEEDS_3, lr=1e-3)
register("lr-1e-3", "zero-grad", "Does Adam's customary learning rate train where 1e-5 barely moves?", lr=1e-3)
register("constant-lr", "lr-1e-3", "Does the ever-growing learning rate (ExponentialLR with gamma > 1) hurt?",
         scheduler="constant")

# --- Bugs found by looking at the data ----------------------------------------------------------
register("no-rotation", "constant-lr", "Does training on upright digits (6 and 9 stay apart) help?",
         train_transform="none", eval_transform="none")
register("sound-split", "no-rotation",
         "What is the accuracy on images the model never saw (validation off the training pool, test from the "
         "test split)?", split="sound")
register("normalize", "sound-split", "Does standardising the inputs per channel help?", seeds=SEEDS_5,
         normalize=True)

# --- The course's recipe, and the step from the fixed notebook to a BatchNorm network -------------
register("reference", "lean-bf16",
         "What does the course's recipe reach here: every bug fixed the course's way, ReLU, BatchNorm after each "
         "convolution, Adam at 2e-3 with a constant rate, no augmentation, the profile's epochs and batch size?",
         seeds=SEEDS_5, zero_grad=True, lr=2e-3, scheduler="constant", train_transform="none", eval_transform="none",
         split="sound", restore_train_mode=True, activation="relu", batchnorm=True, bn_hidden=False)
register("relu-batchnorm", "normalize",
         "Does a ReLU network with BatchNorm (after the convolutions and the hidden layer, switched back to train "
         "mode after each evaluation) beat the fixed notebook's tanh network?", seeds=SEEDS_5,
         activation="relu", batchnorm=True, restore_train_mode=True)

# --- Ablations: put one bug back into the fixed configuration (five seeds each) -----------------
register("ablate-accumulate", "normalize", "Does gradient accumulation alone break the fixed run?", seeds=SEEDS_5,
         zero_grad=False)
register("ablate-lr-1e-5", "normalize", "Does the notebook's learning rate alone break the fixed run?",
         seeds=SEEDS_5, lr=1e-5)
register("ablate-lr-growth", "normalize", "Does the growing learning rate alone break the fixed run?",
         seeds=SEEDS_5, scheduler="exponential")
register("ablate-train-rotation", "normalize", "Do rotated training digits alone break the fixed run?",
         seeds=SEEDS_5, train_transform="rotate180")
register("ablate-eval-rotation", "normalize", "Would rotating the evaluation images hide a model that has learned?",
         seeds=SEEDS_5, eval_transform="rotate180")
register("ablate-split", "normalize", "How much does the notebook's split flatter the fixed run?", seeds=SEEDS_5,
         split="colleague")
register("ablate-eval-mode", "relu-batchnorm",
         "Does the notebook's evaluation helper, which leaves the model in eval mode, break the BatchNorm run?",
         seeds=SEEDS_5, restore_train_mode=False)

# --- Removals: take one bug out of the colleague's configuration (three seeds each) --------------
# `zero-grad` and `accumulating-lr-1e-3` above are two of them; the colleague's bugs mask each
# other, so a bug that matters alone in the fixed run may change nothing here. The split and the
# evaluation helper have no removal: neither changes what the notebook's model trains on or how
# (its tanh network has no BatchNorm or dropout, and both splits train on the same images), so
# removing either from `lean-bf16` cannot change the model, only what is reported about it.
register("remove-lr-growth", "lean-bf16", "Does a constant rate alone change the colleague's run?", seeds=SEEDS_3,
         scheduler="constant")
register("remove-rotation", "lean-bf16", "Do upright digits alone change the colleague's run?", seeds=SEEDS_3,
         train_transform="none", eval_transform="none")

# --- Instruments before and after the fixes (float32: Cockpit saves no bfloat16) ----------------
register("cockpit-fixed", "normalize",
         "What do Cockpit's instruments show once the bugs are fixed (economy preset)?",
         cockpit="economy", cockpit_interval=16, precision="fp32")
register("cockpit-batchnorm", "relu-batchnorm",
         "Which instruments stay correct with BatchNorm, and what do they show?",
         cockpit="economy", cockpit_interval=16, precision="fp32")

# --- Tuning the BatchNorm network: one change at a time, five seeds each, paired by seed --------
# What the fastest small-budget recipes use (the CIFAR-10 speed runs): a schedule shaped to the
# budget, augmentation that keeps labels, decoupled weight decay on the weights only.
register("cosine", "relu-batchnorm", "Does a warmup and cosine decay of the learning rate beat a constant rate?",
         seeds=SEEDS_5, scheduler="warmup_cosine")
register("augment", "relu-batchnorm", "Do small shifts and brightness/contrast jitter reduce the train-test gap?",
         seeds=SEEDS_5, train_transform="shift_jitter")
register("decay-weights", "relu-batchnorm", "Does decoupled weight decay on the weights only (AdamW, 0.05) help?",
         seeds=SEEDS_5, optimizer="adamw", weight_decay=0.05, decay_scope="weights")


# --- The path: fixes, then the tuning steps the rule decides ----------------------------------
# The fixes are taken because they remove bugs (each is measured both ways in the ablation); the
# tuning steps are proposals, in the order the logbook made them, each against its starting
# point: `report.ladder()` keeps those the rule adopts, so the path and the adopted recipe are
# derived from the decisions, never typed.
FIX_PATH = ["colleague", "colleague-tensor", "lean", "lean-bf16", "zero-grad", "lr-1e-3", "constant-lr", "no-rotation", "sound-split", "normalize"]
TUNING_STEPS = [("relu-batchnorm", "normalize")] + [(c, "relu-batchnorm") for c in ("cosine", "augment", "decay-weights")]
REFERENCE = "reference"  # the bar to beat: the course's recipe

# --- The bugs the logbook demonstrates ---------------------------------------------------------
# Each names the chapter that finds it, the fixed run, the ablation that puts the bug back into
# that run (the bug's effect on its own), and the run that removes only this bug from the
# colleague's configuration (`COLLEAGUE_START`): the two directions differ where bugs mask each other.
# `check` is the health check's code that names the bug (svhn_debug.checks).
COLLEAGUE_START = "lean-bf16"

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
    {"bug": "training digits rotated by up to 180 degrees", "symptom": "upside-down digits; 9s read as 6s",
     "cause": "RandomRotation((0, 180)) on the training images", "fix": "no rotation",
     "fixed": "normalize", "broken": "ablate-train-rotation", "check": None, "removed": "remove-rotation", "chapter": "sec-data"},
    {"bug": "evaluation digits rotated too", "symptom": "the reported accuracy is below what the model can do",
     "cause": "the same RandomRotation on every evaluated split", "fix": "evaluate upright",
     "fixed": "normalize", "broken": "ablate-eval-rotation", "check": "EVAL_AUGMENTATION", "removed": "remove-rotation", "chapter": "sec-data"},
    {"bug": "validation and test are training images", "symptom": "the three curves coincide",
     "cause": "evaluation set from the train split", "fix": "sound split",
     "fixed": "normalize", "broken": "ablate-split", "check": "SPLIT_OVERLAP", "removed": None, "chapter": "sec-data"},
    {"bug": "model left in eval mode after evaluation", "symptom": "BatchNorm model trains in eval mode",
     "cause": "eval_model never calls model.train()", "fix": "switch back after evaluating",
     "fixed": "relu-batchnorm", "broken": "ablate-eval-mode", "check": "TRAIN_IN_EVAL_MODE", "removed": None, "chapter": "sec-tuning"},
]
