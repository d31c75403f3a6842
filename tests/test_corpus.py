"""The health checks on the corpus of training scripts (``tests/corpus/``, cases in
``svhn_debug.corpus``): every clean script runs as it would alone (same exit code, same output)
with no finding, and every planted bug is named at the step its rule allows."""

from __future__ import annotations

import re
import subprocess

import pytest

from svhn_debug import corpus
from svhn_debug.corpus import CLEAN, PLANTED, Case


@pytest.mark.parametrize("case", CLEAN, ids=lambda c: c.name)
def test_a_clean_script_runs_as_alone_with_no_finding(case, tmp_path):
    saves = "lstm" in case.script  # the language model also saves itself with torch.save
    alone = corpus.run(case, checked=False, extra=("--save", str(tmp_path / "a.pt")) if saves else ())
    checked = corpus.run(case, extra=("--save", str(tmp_path / "b.pt")) if saves else ())
    assert alone.returncode == checked.returncode == 0, checked.stderr
    assert checked.stdout.replace("b.pt", "a.pt") == alone.stdout  # the script's own output, unchanged
    result = corpus.outcome(case, checked)
    assert result["as_expected"] and result["false_alarms"] == 0, checked.stderr
    if saves:  # torch.save(model) works with the monitor attached
        assert (tmp_path / "b.pt").stat().st_size > 0


@pytest.mark.parametrize("case", PLANTED, ids=lambda c: c.name)
def test_a_planted_bug_is_named_at_its_earliest_step(case):
    proc = corpus.run(case)
    result = corpus.outcome(case, proc)
    assert result["named"] and result["found"][case.code] == case.step, proc.stderr
    assert result["as_expected"], proc.stderr


def test_the_outcome_reads_the_report():
    report = ("svhn_debug.checks: 2 finding(s)\n- ERROR NON_FINITE_LOSS (step 0): x\n- ERROR EXPLODING_GRADIENTS "
              "(step 0): y\n- ERROR SPLIT_OVERLAP: z\n")
    assert corpus.findings(report) == {"NON_FINITE_LOSS": 0, "EXPLODING_GRADIENTS": 0, "SPLIT_OVERLAP": None}
    proc = subprocess.CompletedProcess([], 0, "", report)
    nan_only = subprocess.CompletedProcess([], 0, "", report.rsplit("- ERROR SPLIT", 1)[0])
    assert corpus.outcome(Case("s.py", (), "NON_FINITE_LOSS", 0), nan_only)["as_expected"]  # with its consequence
    assert not corpus.outcome(Case("s.py", (), "NON_FINITE_LOSS", 1), nan_only)["as_expected"]  # named too late
    assert not corpus.outcome(Case("s.py", (), "NON_FINITE_LOSS", 0), proc)["as_expected"]  # another finding
    assert not corpus.outcome(Case("s.py", (), "SPLIT_OVERLAP", None), proc)["as_expected"]
    clean = corpus.outcome(Case("s.py"), proc)
    assert not clean["as_expected"] and clean["false_alarms"] == 3


def test_weights_updated_by_hand_are_reported_as_not_seen():
    proc = corpus.run(Case("lstm_lm.py"))
    assert "not seen: no optimizer stepped" in proc.stderr and "no findings" in proc.stderr


def test_every_script_lists_the_bugs_it_plants_and_each_is_a_case():
    planted = {(c.script, c.args[c.args.index("--bug") + 1]) for c in PLANTED}
    for path in corpus.corpus_dir().glob("*.py"):
        bugs = re.search(r"^BUGS = \(([^)]*)\)", path.read_text(), re.M).group(1)
        for bug in re.findall(r'"([^"]+)"', bugs):
            assert (path.name, bug) in planted, f"{path.name} plants {bug!r} but no case runs it"
