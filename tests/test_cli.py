"""The command line: listing, running, status, show, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from svhn_debug.cli import main


@pytest.fixture
def one_experiment(register_tiny):
    register_tiny("tiny")


def test_list_shows_parents_and_diffs(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "zero-grad" in out and "<- lean: zero_grad=True" in out


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
    assert "tiny (seed 0) is missing in the smoke cache; compute it with `python -m svhn_debug run tiny`" in \
        capsys.readouterr().err
    assert main(["status", "--check"]) == 1  # still missing: show trained nothing


def test_show_json_prints_the_epochs(one_experiment, capsys):
    main(["run", "tiny"])
    capsys.readouterr()
    assert main(["show", "tiny", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "tiny" and data["epochs"][-1]["validation_accuracy"] is not None


def test_prune_removes_only_unreferenced_entries(one_experiment, capsys):
    from svhn_debug import cache

    main(["run", "tiny"])
    stray = cache.cache_root() / "smoke" / "0123stray"
    stray.mkdir()
    assert main(["prune"]) == 0
    assert not stray.exists() and main(["status", "--check"]) == 0


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


def test_prune_dry_run_names_what_it_would_remove_and_removes_nothing(one_experiment, capsys):
    from svhn_debug import cache

    main(["run", "tiny"])
    stray = cache.cache_root() / "smoke" / "0123stray"
    stray.mkdir()
    capsys.readouterr()
    assert main(["prune", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would remove {stray}" in out and "1 unreferenced entry" in out
    assert stray.exists() and main(["status", "--check"]) == 0
