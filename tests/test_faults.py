"""What a user can do wrong, and damage the cache can suffer: nothing is lost, nothing wrong is
served, and the command line answers in one line instead of a traceback."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

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
    run = json.loads(out, parse_constant=lambda c: pytest.fail(f"bare {c} in the JSON"))["runs"][0]
    assert run["diverged_at"] == run["epochs"][0]["step"] and run["epochs"][0]["train_loss"] is None


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


def test_real_svhn_files_that_fail_the_checksum_are_called_damaged_not_missing(monkeypatch, tmp_path, smoke):
    from svhn_debug.data import DataUnavailable, load_svhn

    monkeypatch.setenv("SVHN_DEBUG_DATA_DIR", str(tmp_path))
    (tmp_path / "svhn").mkdir()
    (tmp_path / "svhn" / "train_32x32.mat").write_bytes(b"half a download")
    with pytest.raises(DataUnavailable, match="is there but fails torchvision's checksum"):
        load_svhn(smoke)


def test_a_data_folder_that_is_a_file_is_one_line_not_a_traceback(one_experiment, monkeypatch, tmp_path, capsys):
    blocker = tmp_path / "data-is-a-file"
    blocker.write_text("x")
    monkeypatch.setenv("SVHN_DEBUG_DATA_DIR", str(blocker))
    runner._pools.cache_clear()  # no pools loaded by earlier tests
    assert main(["run", "tiny", "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert "\nerror: the data location" in err and "is a file, not a folder" in err and "Traceback" not in err


def test_a_truncated_generated_file_is_generated_again(monkeypatch, tmp_path, smoke):
    from svhn_debug.data import load_synthetic

    monkeypatch.setenv("SVHN_DEBUG_DATA_DIR", str(tmp_path))
    first = load_synthetic(smoke, progress=False)
    (train_file,) = tmp_path.glob("synthetic-*/train-*.npz")
    train_file.write_bytes(train_file.read_bytes()[:5000])
    with pytest.warns(UserWarning, match="is damaged .* generating it again"):
        again = load_synthetic(smoke, progress=False)
    assert torch.equal(again.train_images, first.train_images) and torch.equal(again.train_labels, first.train_labels)
    assert load_synthetic(smoke, progress=False).train_images.shape == first.train_images.shape  # now intact


def test_a_corrupt_entry_is_called_corrupt_by_show_and_noticed_in_one_line_by_run(one_experiment, capsys):
    assert main(["run", "tiny", "--jobs", "1"]) == 0
    (entry,) = [p for p in (cache.cache_root() / "smoke").iterdir() if p.is_dir()]
    (entry / "steps.csv").write_text("step,epoch,loss,lr\n1,1,0.0,0.001\n")
    capsys.readouterr()
    assert main(["show", "tiny"]) == 1
    assert "tiny (seed 0) is corrupt in the smoke cache" in capsys.readouterr().err
    assert main(["run", "tiny", "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert "warning: corrupt cache entry, recomputing:" in err and "UserWarning" not in err


def test_a_closed_pipe_ends_quietly():
    import subprocess
    import sys

    proc = subprocess.run(f"{sys.executable} -m svhn_debug list | head -1", shell=True, capture_output=True, text=True)
    assert proc.stdout.count("\n") == 1 and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def fake_runs(monkeypatch, values: dict[str, list]) -> None:
    """``runner.results`` answering made-up runs: a float is a final test, validation and
    held-out accuracy, ``None`` a run that diverged before its first evaluation."""
    from svhn_debug.training import RunResult

    def results(name, *args, **kwargs):
        return [RunResult(config={}, profile="smoke", seed=seed, steps=[], confusion=None, cockpit=None, meta={"seconds": 2.0},
                          epochs=[] if v is None else [{"epoch": 1, "test_accuracy": v, "validation_accuracy": v,
                                                        "heldout_accuracy": v}],
                          diverged_at=3 if v is None else None) for seed, v in enumerate(values[name])]
    monkeypatch.setattr(runner, "results", results)


def test_a_diverged_seed_is_shown_as_diverged_never_as_a_number(monkeypatch):
    from svhn_debug import report

    fake_runs(monkeypatch, {"parent": [0.8, 0.81, 0.79], "child": [0.9, None, 0.91]})
    monkeypatch.setattr(runner, "get", lambda name: type("E", (), {"parent": "parent"})())
    s = report.stats("child")
    assert s.diverged == 1 and s.mean is None and s.text() == "diverged (1 of 3 seeds)"
    assert report.pct(report.final("child")) == "n/a"
    assert not report.adopted("child")
    # a diverged change hurts beyond noise (stats.direction), and the verdict says so
    assert report.verdict("child") == "not adopted, it hurts beyond seed noise, against `parent` (diverged on seed 1)"
    assert report.paired_gains("child", "parent") == pytest.approx([0.1, 0.12])


def test_show_says_a_run_diverged_before_its_first_evaluation(one_experiment, capsys, monkeypatch):
    fake_runs(monkeypatch, {"tiny": [None]})
    assert main(["show", "tiny"]) == 0
    assert "DIVERGED at step 3, before its first evaluation: no metrics" in capsys.readouterr().out


def test_tables_and_plots_of_a_run_that_diverged_before_its_first_evaluation(monkeypatch):
    from svhn_debug import plots, report

    fake_runs(monkeypatch, {"broken": [None], "fine": [0.8]})
    monkeypatch.setattr(runner, "result", lambda name: runner.results(name)[0])
    table = report.best_vs_final_table(["broken", "fine"])
    assert "diverged at step 3" in table and "80.0%" in table
    assert "| diverged | diverged | 2 |" in report.timing_table(["broken"])
    fig = plots.compare({"broken": runner.results("broken"), "fine": runner.results("fine")}, metric="test_accuracy")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["broken, DIVERGED on 1", "fine"]
    texts = [t.get_text() for ax in plots.learning_curves(runner.results("broken")[0]).axes for t in ax.texts]
    assert texts == ["DIVERGED at step 3"] * 2


def test_run_seed_computes_only_that_seed_and_refuses_one_the_experiment_lacks(register_tiny, capsys):
    from svhn_debug import runner

    register_tiny("tiny", seeds=(0, 1, 2))
    assert main(["run", "tiny", "--seed", "1", "--jobs", "1"]) == 0
    assert [r["state"] for r in runner.status()] == ["missing", "cached", "missing"]
    assert "tiny seed 1:" in capsys.readouterr().out
    assert main(["run", "tiny", "--seed", "7"]) == 2
    err = capsys.readouterr().err
    assert "has seed(s) 0, 1, 2; 7 is not one of them" in err and "Traceback" not in err


def test_a_failing_run_does_not_stop_the_in_process_batch(tiny, tmp_path, monkeypatch):
    import time as _time

    from svhn_debug import runner

    real = runner.run_config

    def fail_b(config, name, *args, **kwargs):
        if name == "b":
            raise RuntimeError("planted failure")
        return real(config, name, *args, **kwargs)
    monkeypatch.setattr(runner, "run_config", fail_b)
    jobs = [runner.Job(n, tiny, "smoke", "synthetic", str(tmp_path / "cache"), str(tmp_path / "data"))
            for n in ("a", "b", "c")]
    monkeypatch.setenv("SVHN_DEBUG_CACHE", str(tmp_path / "cache"))
    outcomes = runner._execute_here(jobs, lambda *a: None, _time.time())
    assert [o.job.name for o in outcomes] == ["a", "b", "c"]
    assert "planted failure" in outcomes[1].error and outcomes[0].error is None and outcomes[2].error is None


def test_slurm_without_slurm_is_one_line_before_any_data_is_loaded(one_experiment, capsys, monkeypatch):
    import shutil

    from svhn_debug import runner

    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    monkeypatch.setattr(runner, "pools", lambda *a, **k: pytest.fail("the data were loaded"))
    assert main(["run", "tiny", "--executor", "slurm"]) == 2
    err = capsys.readouterr().err
    assert "needs a Slurm cluster" in err and "Traceback" not in err


def test_an_empty_variable_means_its_default(monkeypatch):
    from svhn_debug.cache import cache_root
    from svhn_debug.data import data_dir, data_source, repo_root
    from svhn_debug.profiles import active_profile

    for name in ("SVHN_DEBUG_CACHE", "SVHN_DEBUG_DATA_DIR", "SVHN_DEBUG_DATA", "SVHN_DEBUG_PROFILE"):
        monkeypatch.setenv(name, "")
    assert cache_root() == repo_root() / "cache" and data_dir() == repo_root() / "data"
    assert data_source() == "synthetic" and active_profile().name == "cpu"


def test_output_to_a_full_disk_is_one_line(tmp_path):
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "svhn_debug", "list"], stdout=full, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "SVHN_DEBUG_CACHE": str(tmp_path)})
    assert proc.returncode == 1 and "No space left on device" in proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr


def test_a_json_write_that_fails_leaves_no_temporary_file(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    from svhn_debug.cache import write_json

    real = Path.write_text

    def full(self, *a, **k):
        real(self, "{", encoding="utf-8")  # part of it reached the disk
        raise OSError(errno.ENOSPC, "No space left on device", str(self))
    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError):
        write_json(tmp_path / "d" / "x.json", {"a": 1})
    assert list((tmp_path / "d").iterdir()) == []


def test_a_diagnosis_that_cannot_be_saved_is_one_line(capsys, monkeypatch):
    import errno

    from svhn_debug import doctor

    monkeypatch.setattr(doctor, "diagnose", lambda name, steps=None: {"name": name})
    monkeypatch.setattr(doctor, "save", lambda d: (_ for _ in ()).throw(
        OSError(errno.EROFS, "Read-only file system", "cache/doctor/smoke/colleague.json")))
    assert main(["doctor", "colleague", "--save"]) == 1
    err = capsys.readouterr().err
    assert "error: Read-only file system (cache/doctor/smoke/colleague.json)" in err and "Traceback" not in err
