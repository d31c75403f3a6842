"""The command line: listing, running, status, show, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from svhn_debug.cli import main
from svhn_debug.profiles import active_profile


@pytest.fixture
def one_experiment(register_tiny):
    register_tiny("tiny")


def test_list_shows_parents_and_diffs(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "zero-grad" in out and "<- lean-bf16: zero_grad=True" in out


def test_unknown_name_exits_2_with_suggestion_and_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "svhn_debug", "run", "colleage"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "did you mean colleague" in proc.stderr and "Traceback" not in proc.stderr


def test_status_check_fails_while_missing_and_passes_once_run(one_experiment, capsys):
    assert main(["status", "--check"]) == 1
    assert main(["run", "tiny"]) == 0
    assert main(["status", "--check"]) == 0
    assert "1 cached, 0 missing" in capsys.readouterr().out


def test_show_never_trains_and_says_how_to_get_a_missing_result(one_experiment, capsys):
    assert main(["show", "tiny"]) == 1
    assert "tiny (seed 0) is missing in the smoke cache; compute it with `python -m svhn_debug run tiny --seed 0`" in \
        capsys.readouterr().err
    assert main(["status", "--check"]) == 1  # still missing: show trained nothing


def test_show_json_prints_one_document_with_every_seed(register_tiny, capsys):
    register_tiny("tiny", seeds=(0, 1))
    main(["run", "tiny", "--jobs", "1"])
    capsys.readouterr()
    assert main(["show", "tiny", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)  # one JSON document, whatever the number of seeds
    assert data["name"] == "tiny" and [r["seed"] for r in data["runs"]] == [0, 1]
    assert all(r["epochs"][-1]["validation_accuracy"] is not None for r in data["runs"])


def test_offline_svhn_error_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SVHN_DEBUG_DATA", "svhn")
    monkeypatch.setenv("SVHN_DEBUG_DATA_DIR", str(tmp_path))
    import torchvision.datasets.utils as tvu

    monkeypatch.setattr(tvu, "download_url", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: SVHN's train split is not in") and err.count("\n") == 1


def test_run_all_computes_what_is_missing_and_force_recomputes_in_place(register_tiny, capsys):
    from svhn_debug import cache
    from svhn_debug.profiles import active_profile

    register_tiny("tiny")
    register_tiny("tiny-lr", "tiny", lr=2e-3)
    assert main(["run-all", "--jobs", "1"]) == 0 and main(["status", "--check"]) == 0
    before = {m["folder"]: m["finished_at"] for m in cache.entries(active_profile())}
    assert len(before) == 2
    assert main(["run-all", "--jobs", "1"]) == 0  # nothing missing: nothing recomputed
    assert {m["folder"]: m["finished_at"] for m in cache.entries(active_profile())} == before
    capsys.readouterr()
    time.sleep(1.1)  # finished_at has a resolution of one second
    assert main(["run", "tiny", "--force", "--jobs", "1"]) == 0
    after = {m["folder"]: m for m in cache.entries(active_profile())}
    assert set(after) == set(before)  # replaced in place, no second entry
    changed = [f for f in before if after[f]["finished_at"] != before[f]]
    assert len(changed) == 1 and after[changed[0]]["name"] == "tiny"


def test_prune_removes_only_unreferenced_entries_and_old_leftovers_of_saves(register_tiny, capsys):
    import os

    from svhn_debug import cache, logbook

    register_tiny("tiny")
    register_tiny("dropped", lr=3e-3)
    assert main(["run", "tiny", "dropped", "--jobs", "1"]) == 0
    folder = cache.cache_root() / "smoke"
    dropped = next(folder / m["folder"] for m in cache.entries(active_profile()) if m["name"] == "dropped")
    del logbook.BOOK._experiments["dropped"]  # no experiment uses its entry any more
    notes = folder / "0123notes"  # somebody's folder: not an entry, never touched
    notes.mkdir()
    (notes / "meta.json").write_text("[1, 2]")  # JSON, but not an entry's metadata
    old_tmp = folder / f".{dropped.name[:20]}.abc123"  # a save killed midway, long ago
    old_tmp.mkdir()
    (old_tmp / "meta.json").write_text("{")
    os.utime(old_tmp, (0, 0))
    live_tmp = folder / f".{dropped.name[:20]}.def456"  # a save happening now
    live_tmp.mkdir()
    capsys.readouterr()
    assert main(["status", "--check"]) == 0  # leftovers are not entries: no stale run, no warning
    assert "warning" not in capsys.readouterr().err
    assert main(["prune", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would remove {dropped} (unreferenced)" in out and f"would remove {old_tmp}" in out
    assert "2 folder(s) to remove" in out and str(notes) not in out and str(live_tmp) not in out
    assert dropped.exists() and old_tmp.exists()
    assert main(["prune"]) == 0
    assert not dropped.exists() and not old_tmp.exists()
    assert notes.exists() and live_tmp.exists() and main(["status", "--check"]) == 0


def test_run_all_computes_the_missing_diagnoses_through_the_executor_and_status_names_the_command(
        monkeypatch, capsys):
    # The runs are not what this test is about: none to compute; the book reads one diagnosis.
    from svhn_debug import doctor, runner

    monkeypatch.setattr(runner, "plan_jobs", lambda *a, **k: [])
    monkeypatch.setattr(doctor, "book_diagnoses", lambda profile=None: ["colleague"])
    assert [d["state"] for d in doctor.states()] == ["missing"]
    main(["status"])
    assert "`python -m svhn_debug run-all` computes everything missing" in capsys.readouterr().out
    assert main(["run-all", "--jobs", "1"]) == 0
    assert "doctor colleague:" in capsys.readouterr().err
    assert [d["state"] for d in doctor.states()] == ["cached"]
    assert doctor.plan() == []  # nothing left to compute: a second run-all trains nothing


def test_status_short_lists_only_what_is_not_cached_and_run_all_is_quiet_when_nothing_is_missing(
        register_tiny, capsys, monkeypatch):
    from svhn_debug import doctor

    monkeypatch.setattr(doctor, "book_diagnoses", lambda profile=None: [])
    register_tiny("tiny")
    register_tiny("other", lr=3e-3)
    main(["run", "tiny", "--jobs", "1"])
    capsys.readouterr()
    main(["status", "--short"])
    out = capsys.readouterr().out
    assert "missing  other" in out and "cached   tiny" not in out and "1 cached, 1 missing" in out
    main(["run-all", "--jobs", "1"])
    out = capsys.readouterr().out
    assert "other seed 0:" in out and "tiny seed 0:" not in out  # only what this call computed
    main(["run-all"])
    captured = capsys.readouterr()
    assert captured.out == "" and "nothing to compute" in captured.err


def test_every_experiment_named_in_the_help_examples_is_registered():
    import re

    from svhn_debug import runner
    from svhn_debug.cli import build_parser

    epilog = build_parser().epilog
    named = re.findall(r"python -m svhn_debug (?:run|show|doctor) ([a-z0-9-]+)", epilog)
    assert len(named) >= 3
    registered = {e.name for e in runner.book()}
    assert [n for n in named if n not in registered] == []
