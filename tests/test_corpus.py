"""The health checks on the corpus of training scripts (tests/corpus/): every clean script runs
as it would alone (same exit code, same output) with no finding, and every planted bug is named
at the step its rule allows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus"


def run(args: list[str], checked: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
    prefix = [sys.executable, "-m", "svhn_debug.checks"] if checked else [sys.executable]
    return subprocess.run(prefix + args, capture_output=True, text=True, timeout=300, cwd=cwd)


def findings(stderr: str) -> dict[str, int | None]:
    """``{code: step}`` of the report's findings."""
    return {m.group(2): (int(m.group(3)) if m.group(3) else None)
            for m in re.finditer(r"^- (ERROR|WARNING|INFO) ([A-Z_]+)(?: \(step (\d+)\))?:", stderr, re.M)}


CLEAN = [["cnn_classifier.py"], ["vae.py"], ["gan.py"], ["lstm_lm.py"], ["lstm_lm.py", "--optimizer"]]


@pytest.mark.parametrize("script", CLEAN, ids=" ".join)
def test_a_clean_script_runs_as_alone_with_no_finding(script, tmp_path):
    def args(saved: str) -> list[str]:  # the language model also saves itself with torch.save
        return [str(CORPUS / script[0]), *script[1:]] + (["--save", str(tmp_path / saved)] if "lstm" in script[0] else [])
    alone, checked = run(args("a.pt"), checked=False), run(args("b.pt"))
    assert alone.returncode == checked.returncode == 0, checked.stderr
    assert checked.stdout.replace("b.pt", "a.pt") == alone.stdout  # the script's own output, unchanged
    assert "svhn_debug.checks: no findings" in checked.stderr, checked.stderr
    if "lstm" in script[0]:  # torch.save(model) works with the monitor attached
        assert (tmp_path / "b.pt").stat().st_size > 0


PLANTED = [
    ("cnn_classifier.py", "no-zero-grad", "GRAD_ACCUMULATION", 1),
    ("cnn_classifier.py", "softmax", "LOSS_INPUT_MISMATCH", 0),
    ("cnn_classifier.py", "val-from-train", "SPLIT_OVERLAP", None),
    ("cnn_classifier.py", "eval-augment", "EVAL_AUGMENTATION", None),
    ("cnn_classifier.py", "lr-growth", "LR_GROWTH", 24),  # the third doubling, after epoch 3 of 8 steps
    ("cnn_classifier.py", "eval-mode", "TRAIN_IN_EVAL_MODE", 1),
    ("cnn_classifier.py", "detach", "NO_GRADIENT", 20),  # the third sampled step
    ("cnn_classifier.py", "nan", "NON_FINITE_LOSS", 0),
    ("vae.py", "no-zero-grad", "GRAD_ACCUMULATION", 1),
    ("vae.py", "logits-loss", "LOSS_INPUT_MISMATCH", 0),
    ("gan.py", "no-zero-grad-d", "GRAD_ACCUMULATION", 1),
    ("lstm_lm.py --optimizer", "no-zero-grad", "GRAD_ACCUMULATION", 1),
]


@pytest.mark.parametrize("script, bug, code, step", PLANTED, ids=[f"{s.split('.')[0]}-{b}" for s, b, _, _ in PLANTED])
def test_a_planted_bug_is_named_at_its_earliest_step(script, bug, code, step):
    name, *extra = script.split()
    proc = run([str(CORPUS / name), *extra, "--bug", bug])
    found = findings(proc.stderr)
    assert code in found, proc.stderr
    assert found[code] == step, proc.stderr
    # the only other finding a planted bug may bring is the loss it makes non-finite blowing up the gradients
    assert set(found) - {code} <= ({"EXPLODING_GRADIENTS"} if bug == "nan" else set()), proc.stderr


def test_weights_updated_by_hand_are_reported_as_not_seen():
    proc = run([str(CORPUS / "lstm_lm.py")])
    assert "not seen: no optimizer stepped" in proc.stderr and "no findings" in proc.stderr


def test_every_script_lists_the_bugs_it_plants():
    planted = {(s.split()[0], b) for s, b, _, _ in PLANTED}
    for path in CORPUS.glob("*.py"):
        bugs = re.search(r"^BUGS = \(([^)]*)\)", path.read_text(), re.M).group(1)
        for bug in re.findall(r'"([^"]+)"', bugs):
            assert (path.name, bug) in planted, f"{path.name} plants {bug!r} but no test runs it"
