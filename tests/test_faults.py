"""What a user can do wrong, and damage the cache can suffer: nothing is lost, nothing wrong is
served, and the command line answers in one line instead of a traceback."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from svhn_debug import cache, runner
from svhn_debug.cli import main


@pytest.fixture
def one_experiment(register_tiny):
    register_tiny("tiny")


def test_prune_keeps_the_entries_of_the_other_data_source(one_experiment, capsys, monkeypatch):
    assert main(["run", "tiny", "--jobs", "1"]) == 0
    folder = cache.cache_root() / "smoke"
    (entry,) = [p for p in folder.iterdir() if p.is_dir()]
    meta = json.loads((entry / "meta.json").read_text())
    # The same run made on real SVHN: another data fingerprint, another key.
    other = folder / ("f" * 20 + "-" + entry.name.split("-")[1])
    other.mkdir()
    meta["key_parts"]["data"] = "svhn:0123456789abcdef"
    (other / "meta.json").write_text(json.dumps(meta))
    assert main(["prune"]) == 0
    assert other.exists() and entry.exists()
    assert main(["status", "--check"]) == 0  # and the other source's entry does not make it stale


def test_show_json_is_strict_json_even_for_a_diverged_run(one_experiment, capsys, monkeypatch):
    import svhn_debug.training as training

    real = training.evaluate
    monkeypatch.setattr(training, "evaluate", lambda *a, **k: (float("nan"),) + real(*a, **k)[1:])
    assert main(["run", "tiny", "--jobs", "1"]) == 0
    capsys.readouterr()
    assert main(["show", "tiny", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out, parse_constant=lambda c: pytest.fail(f"bare {c} in the JSON"))
    assert data["diverged_at"] == data["epochs"][0]["step"] and data["epochs"][0]["train_loss"] is None


def test_an_unwritable_cache_is_refused_before_anything_trains(one_experiment, capsys, monkeypatch, tmp_path):
    import svhn_debug.training as training

    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SVHN_DEBUG_CACHE", str(blocker))
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("trained although nothing could be saved"))
    assert main(["run", "tiny", "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "Traceback" not in err


def test_status_on_a_cache_that_is_a_file_says_so_instead_of_empty(one_experiment, capsys, monkeypatch, tmp_path):
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SVHN_DEBUG_CACHE", str(blocker))
    for command in (["status"], ["show", "tiny"], ["prune"]):
        assert main(command) == 2, command
        assert "is a file, not a folder" in capsys.readouterr().err
