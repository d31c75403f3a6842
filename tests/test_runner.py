"""Running many runs: executors, launch settings that must not change a result, failures,
and the status report."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from svhn_debug import runner
from svhn_debug.cli import main
from svhn_debug.training import train


def metrics(result) -> list[dict]:
    """Per-epoch numbers without the timings (the only thing a rerun may change)."""
    return [{k: v for k, v in row.items() if not k.endswith("_seconds")} for row in result.epochs]


@pytest.fixture
def sensitive(tiny):
    """Full width in the default layout: with two threads instead of one, its losses differ."""
    return replace(tiny, width=1.0)


def test_the_thread_count_changes_results_so_it_must_be_fixed(sensitive, smoke, pools):
    one = train(sensitive, smoke, pools)
    two = train(replace(sensitive, threads=2), smoke, pools)
    if one.steps == two.steps:  # a fact of the CPU's kernels, not of this project: say so, do not pass
        pytest.skip(f"on this CPU ({torch.backends.cpu.get_cpu_capability()}) one and two threads give the same "
                    "losses for this run, so the control cannot show the leak here (it does on AVX-512)")
    assert one.steps != two.steps  # the control: launch settings would leak into the numbers


def test_a_run_ignores_the_threads_of_the_process_that_launches_it(sensitive, smoke, pools):
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = train(sensitive, smoke, pools)
        torch.set_num_threads(2)
        crowded = train(sensitive, smoke, pools)
        assert torch.get_num_threads() == 2  # restored afterwards
    finally:
        torch.set_num_threads(previous)
    assert alone.steps == crowded.steps and metrics(alone) == metrics(crowded)
    assert alone.meta["numerics"]["torch_threads"] == 1


@pytest.mark.parametrize("executor,jobs", [("local", 2), ("submitit-local", 2)])
def test_a_rerun_on_an_executor_reproduces_the_cached_metrics_bit_for_bit(register_tiny, smoke, sensitive,
                                                                           executor, jobs, capsys):
    register_tiny("a", width=sensitive.width)
    register_tiny("b", "a", scheduler="warmup_cosine")
    (first,) = runner.compute("a", smoke, progress=False)
    assert main(["run", "a", "b", "--force", "--jobs", str(jobs), "--executor", executor]) == 0
    (again,) = runner.results("a", smoke)
    assert again.steps == first.steps and metrics(again) == metrics(first) and again.confusion == first.confusion
    assert again.meta["finished_at"] >= first.meta["finished_at"]
    assert runner.results("b", smoke)[0].config["scheduler"] == "warmup_cosine"
    err = capsys.readouterr().err
    assert "2 run(s) to compute" in err and "[2 done, 0 running, 0 left" in err


def test_a_failing_run_does_not_stop_the_others_and_is_named_at_the_end(register_tiny, smoke, capsys):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA to make a run fail at its start")
    register_tiny("good")
    register_tiny("bad", device="cuda")
    assert main(["run", "good", "bad", "--jobs", "2"]) == 1
    err = capsys.readouterr().err
    assert "1 of 2 run(s) failed" in err and "--- bad (seed 0)" in err and "no CUDA device" in err
    assert runner.results("good", smoke)[0].final() is not None


def test_status_json_lists_every_run_and_the_compute_it_took(register_tiny, smoke, capsys):
    register_tiny("a", seeds=(0, 1))
    register_tiny("b", "a", lr=2e-3)
    runner.compute("a", smoke, progress=False)
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    states = {(r["name"], r["seed"]): r["state"] for r in data["runs"]}
    assert states == {("a", 0): "cached", ("a", 1): "cached", ("b", 0): "missing"}
    seconds = [r["seconds"] for r in data["runs"] if r["state"] == "cached"]
    assert all(s > 0 for s in seconds) and data["compute_seconds"] == pytest.approx(sum(seconds))


def test_experiments_with_equal_configurations_are_computed_once(register_tiny, smoke):
    register_tiny("a")
    register_tiny("same-as-a", "a", lr=1e-3)  # the parent's value: no change
    jobs = runner.plan_jobs(["a", "same-as-a"], smoke)
    assert [job.name for job in jobs] == ["a"]


def test_jobs_start_with_the_longest_recorded_time_and_unknown_costs_first(register_tiny, tiny, smoke, monkeypatch):
    from svhn_debug import logbook
    from svhn_debug.executed_code import SourceIndex
    from svhn_debug.registry import Registry

    register_tiny("short")
    register_tiny("long", epochs=100)  # ten times the steps of "short"
    runner.compute("short", smoke, progress=False)
    runner.compute("long", smoke, progress=False)
    # Every function the runs executed has changed: both are stale, their configurations are not,
    # so their recorded times still say what they cost.
    monkeypatch.setattr(SourceIndex, "changed", lambda self, recorded: ["svhn_debug.training.train"])
    # catches: a stale run planned as if its cost were unknown, in the order it was listed
    assert [job.name for job in runner.plan_jobs(["short", "long"], smoke)] == ["long", "short"]
    # Another configuration under the same name: the old entry's time is not this run's.
    register_tiny("edited")
    runner.compute("edited", smoke, progress=False)
    edited = Registry(root=tiny)  # the experiment list after "edited" was edited
    for name, changes in (("short", {}), ("long", {"epochs": 100}), ("edited", {"lr": 2e-3, "epochs": 200})):
        edited.register(name, None, "?", **changes)
    monkeypatch.setattr(logbook, "BOOK", edited)
    assert [job.name for job in runner.plan_jobs(["short", "long", "edited"], smoke)][0] == "edited"


def test_jobs_must_be_positive(register_tiny, capsys):
    register_tiny("a")
    assert main(["run", "a", "--jobs", "0"]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_importing_the_package_registers_nothing_and_the_mechanism_imports_no_experiments():
    code = ("import sys, svhn_debug.runner, svhn_debug.registry, svhn_debug.cache;"
            "print('svhn_debug.logbook' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_default_jobs_divides_the_usable_cores_by_the_threads_of_a_run(monkeypatch):
    # catches: the threads per run ignored, a zero or negative thread count dividing, no floor of one
    from svhn_debug import datagen

    monkeypatch.setattr(datagen, "usable_cores", lambda: 8)
    assert runner.default_jobs() == 8 and runner.default_jobs(2) == 4 and runner.default_jobs(3) == 2
    assert runner.default_jobs(0) == 8
    monkeypatch.setattr(datagen, "usable_cores", lambda: 1)
    assert runner.default_jobs(4) == 1


def test_what_differs_names_a_new_cache_format():
    parts = {"config": {"lr": 0.1}, "profile": {"n_train": 1}, "data": "synthetic:x"}
    said = runner._what_differs({**parts, "format": 3}, {**parts, "format": 4})
    assert said == ["cache format 3 -> 4"]


def test_the_entries_in_use_are_those_of_the_profile_and_registry_asked_for(monkeypatch):
    asked = []
    rows = [{"folder": "a" * 20 + "-x"}, {"folder": None}]
    monkeypatch.setattr(runner, "status", lambda profile, registry: asked.append((profile, registry)) or rows)
    assert runner.referenced_entries("the profile", "the registry") == {"a" * 20 + "-x"}
    assert asked == [("the profile", "the registry")]


def test_batches_of_an_experiment_are_its_splits_and_sources_on_the_cpu(register_tiny, smoke, pools):
    from svhn_debug import logbook
    from svhn_debug.data import build_batches, make_splits

    register_tiny("sound")
    register_tiny("halved", "sound", split="colleague", eval_transform="rotate180", batch_size=64)
    got = runner.batches_of("halved", smoke, logbook.BOOK)
    config = logbook.BOOK.get("halved").config
    splits = make_splits(pools, smoke, config)
    assert set(got["splits"]) == set(splits) and set(got["batches"]) == {"train", "train_eval", "validation", "test"}
    for name, split in splits.items():
        assert torch.equal(got["splits"][name].indices, split.indices) and got["splits"][name].pool == split.pool
    for name, source in build_batches(splits, config, torch.device("cpu")).items():
        (x, y), (x2, y2) = next(iter(got["batches"][name])), next(iter(source))
        assert torch.equal(x, x2) and torch.equal(y, y2) and x.device.type == "cpu" and len(y) == 64
    # the registry and the profile asked for, not the book's and the active one
    from svhn_debug.registry import Registry

    other = Registry(root=config)
    other.register("halved", None, "?", batch_size=32)
    assert len(next(iter(runner.batches_of("halved", smoke, other)["batches"]["train"]))[1]) == 32
    smaller = replace(smoke, name="smaller", n_train=760, n_synthetic_train=700)  # a prefix of the saved pool
    assert len(runner.batches_of("halved", smaller, logbook.BOOK)["splits"]["validation"].labels) == 700 // 2
    # by default: the active profile and the book's registry (here the registered tiny one)
    assert runner.batches_of("halved")["splits"]["train"].indices.tolist() == splits["train"].indices.tolist()


def test_an_entry_is_intact_when_the_cache_verifies_that_folder(monkeypatch, tmp_path):
    from svhn_debug import cache

    checked = []

    def verify(folder):
        checked.append(folder)
        if folder.name == "damaged":
            raise cache.CorruptEntry(folder, "steps.csv: unreadable")
    monkeypatch.setattr(cache, "verify", verify)
    assert runner._intact(tmp_path / "fine") and not runner._intact(tmp_path / "damaged")
    assert checked == [tmp_path / "fine", tmp_path / "damaged"]


def test_what_differs_names_changed_added_and_removed_settings_but_not_the_seed():
    parts = {"profile": {"n_train": 1}, "data": "synthetic:x", "format": 4}
    said = runner._what_differs({**parts, "config": {"lr": 0.1, "legacy": 1, "seed": 0}},
                                {**parts, "config": {"lr": 0.2, "width": 0.5, "seed": 1}})
    assert said == ["configuration: legacy 1 -> None, lr 0.1 -> 0.2, width None -> 0.5"]
    assert runner._what_differs({**parts, "config": {"seed": 0}}, {**parts, "config": {"seed": 1}}) == []
    # an entry written before configurations were recorded
    assert runner._what_differs(parts, {**parts, "config": {"lr": 0.1}}) == ["configuration: lr None -> 0.1"]


def test_workers_start_from_a_fork_server_that_preloads_the_package_else_spawn(monkeypatch):
    import multiprocessing
    import multiprocessing.forkserver

    context = runner._process_context()
    assert context.get_start_method() == "forkserver"
    assert multiprocessing.forkserver._forkserver._preload_modules == ["svhn_debug.worker_start"]
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])  # no fork server here
    assert runner._process_context().get_start_method() == "spawn"


def test_compute_seconds_counts_a_shared_entry_once_and_a_missing_time_as_none():
    rows = [{"folder": "a", "seconds": None, "state": "cached"}, {"folder": "a", "seconds": None, "state": "cached"},
            {"folder": "b", "seconds": 2.5, "state": "cached"}, {"folder": "b", "seconds": 2.5, "state": "cached"},
            {"folder": "c", "seconds": 9.0, "state": "missing"}]
    assert runner.compute_seconds(rows) == 2.5


def test_the_local_submitit_executor_takes_its_time_limit_from_the_settings(monkeypatch, tmp_path):
    given = []

    class LocalExecutor:
        def __init__(self, folder):
            self.folder = folder

        def update_parameters(self, **params):
            given.append(params)
    monkeypatch.setitem(sys.modules, "submitit", types.SimpleNamespace(LocalExecutor=LocalExecutor))
    monkeypatch.setenv("SVHN_DEBUG_CACHE", str(tmp_path))
    assert runner._execute_submitit([], 1, "submitit-local", {"timeout_min": 7}, print, 0.0) == []
    assert runner._execute_submitit([], 1, "submitit-local", {}, print, 0.0) == []
    assert given == [{"timeout_min": 7}, {"timeout_min": 120}]


def test_compute_and_results_read_the_registry_they_are_given(register_tiny, tiny, smoke):
    from svhn_debug.registry import Registry
    own = Registry(root=tiny)  # the book's registry (replaced by an empty one here) does not hold it
    own.register("mine", None, "?")
    (computed,) = runner.compute("mine", smoke, progress=False, registry=own)
    (read,) = runner.results("mine", smoke, registry=own)
    assert metrics(read) == metrics(computed)
    with pytest.raises(KeyError):
        runner.get("mine")


def test_a_corrupt_read_counts_only_when_a_second_read_of_the_same_folder_agrees(monkeypatch):
    """A read that raced a replacement (``run --force`` in another process) can see a half-moved entry;
    lookup reads again and calls an entry corrupt only when two reads find the same damage."""
    Lookup = runner.Lookup

    def reads(*found):
        queue = list(found)
        monkeypatch.setattr(runner, "_lookup_once", lambda *a: queue.pop(0))
        return queue
    damaged = Lookup("corrupt", "k", Path("a"), ["steps.csv: checksum mismatch"])
    left = reads(damaged, Lookup("cached", "k", Path("a")))
    assert runner.lookup(None, None, "f").state == "cached" and not left
    left = reads(damaged, Lookup("corrupt", "k", Path("b"), damaged.reasons), damaged, damaged)
    assert runner.lookup(None, None, "f") == damaged and not left  # another folder's damage is a new first read
    reads(*[Lookup("raced", "k")] * 20)
    assert runner.lookup(None, None, "f") == Lookup("missing", "k")  # replaced all the while: not there to use
