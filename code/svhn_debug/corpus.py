"""The corpus of training scripts the health checks are measured on (``tests/corpus/``): which
runs are clean, which plant which bug, what the checks must say, and how to run one case.

``tests/test_corpus.py`` asserts every case; ``bench/checks_corpus.py`` runs them all and saves
the measurement the checks chapter reports (``cache/bench/checks_corpus-<profile>.json``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


def corpus_dir() -> Path:
    from .data import repo_root

    return repo_root() / "tests" / "corpus"


@dataclass(frozen=True)
class Case:
    """One run of a corpus script: ``args`` after the script's path, and the finding expected
    (``code`` at ``step``; ``None`` for a clean run, which must have none)."""

    script: str
    args: tuple[str, ...] = ()
    code: str | None = None
    step: int | None = None

    @property
    def name(self) -> str:
        return " ".join((self.script, *self.args))


CLEAN = [Case("cnn_classifier.py"), Case("vae.py"), Case("gan.py"), Case("lstm_lm.py"),
         Case("lstm_lm.py", ("--optimizer",))]
"""Correct scripts: no finding, the same exit code and output as without the checks."""

PLANTED = [
    Case("cnn_classifier.py", ("--bug", "no-zero-grad"), "GRAD_ACCUMULATION", 1),
    Case("cnn_classifier.py", ("--bug", "softmax"), "LOSS_INPUT_MISMATCH", 0),
    Case("cnn_classifier.py", ("--bug", "val-from-train"), "SPLIT_OVERLAP", None),
    Case("cnn_classifier.py", ("--bug", "eval-augment"), "EVAL_AUGMENTATION", None),
    Case("cnn_classifier.py", ("--bug", "lr-growth"), "LR_GROWTH", 24),  # the third doubling (epochs of 8 steps)
    Case("cnn_classifier.py", ("--bug", "eval-mode"), "TRAIN_IN_EVAL_MODE", 1),
    Case("cnn_classifier.py", ("--bug", "detach"), "NO_GRADIENT", 20),  # the third sampled step
    Case("cnn_classifier.py", ("--bug", "nan"), "NON_FINITE_LOSS", 0),
    Case("cnn_classifier.py", ("--bug", "clear-before-step"), "NO_GRADIENT", 20),  # no gradient at all
    Case("cnn_classifier.py", ("--bug", "int-lr-factor"), "UNCHANGED_WEIGHTS", 20),  # the third sampled step
    Case("vae.py", ("--bug", "no-zero-grad"), "GRAD_ACCUMULATION", 1),
    Case("vae.py", ("--bug", "logits-loss"), "LOSS_INPUT_MISMATCH", 0),
    Case("vae.py", ("--bug", "standardised-targets"), "OUTPUT_RANGE", 0),
    Case("gan.py", ("--bug", "no-zero-grad-d"), "GRAD_ACCUMULATION", 1),
    Case("gan.py", ("--bug", "negative-bias"), "SATURATED_ACTIVATIONS", 10),  # G's monitor starts at G's first step
    Case("lstm_lm.py", ("--optimizer", "--bug", "no-zero-grad"), "GRAD_ACCUMULATION", 1),
]
"""One planted bug each, with the code that must name it and the earliest step its rule allows."""

CONSEQUENCES = {"NON_FINITE_LOSS": {"EXPLODING_GRADIENTS"}, "NO_GRADIENT": {"LR_TOO_SMALL"},
                "SATURATED_ACTIVATIONS": {"NO_GRADIENT", "LR_TOO_SMALL"}}
"""Findings a planted bug may bring besides its own (a NaN loss makes the gradients NaN; a step
on no gradient at all moves no weight; ReLUs that never fire pass no gradient to the layers
before them)."""


def findings(report: str) -> dict[str, int | None]:
    """``{code: step}`` of the findings in a checks report."""
    return {m.group(2): (int(m.group(3)) if m.group(3) else None)
            for m in re.finditer(r"^- (ERROR|WARNING|INFO) ([A-Z_]+)(?: \(step (\d+)\))?:", report, re.M)}


def run(case: Case, checked: bool = True, extra: tuple[str, ...] = (), timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``case``'s script, under ``python -m svhn_debug.checks`` (``checked``) or alone."""
    prefix = [sys.executable, "-m", "svhn_debug.checks"] if checked else [sys.executable]
    return subprocess.run(prefix + [str(corpus_dir() / case.script), *case.args, *extra],
                          capture_output=True, text=True, timeout=timeout)


def outcome(case: Case, proc: subprocess.CompletedProcess) -> dict:
    """What a checked run of ``case`` showed: its findings, and whether it is what the case
    expects (named at the expected step, nothing else but allowed consequences; clean: nothing)."""
    found = findings(proc.stderr)
    if case.code is None:
        ok = not found and "no findings" in proc.stderr
    else:
        ok = found.get(case.code, -1) == case.step and set(found) - {case.code} <= CONSEQUENCES.get(case.code, set())
    return {"case": case.name, "expected": case.code, "step_expected": case.step, "found": found,
            "named": case.code in found if case.code else None, "false_alarms": 0 if case.code else len(found),
            "as_expected": ok, "exit_code": proc.returncode}
