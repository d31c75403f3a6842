"""The experiment cache: hits, misses, invalidation, corruption, interruption, races."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from svhn_debug import cache, runner
from svhn_debug.training import RunResult


@pytest.fixture
def calls(monkeypatch):
    """Count the trainings run_config really starts (a cache hit starts none)."""
    import svhn_debug.training as training

    count = {"n": 0}
    real = training.train

    def counting(*args, **kwargs):
        count["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "train", counting)
    return count


def test_a_second_request_is_a_hit_with_identical_results(tiny, smoke, pools, calls):
    first = runner.run_config(tiny, "t", smoke, pools=pools, progress=False)
    second = runner.run_config(tiny, "t", smoke, pools=pools, progress=False)
    assert calls["n"] == 1
    assert first.steps == second.steps and first.epochs == second.epochs and first.confusion == second.confusion


def test_a_config_change_is_a_miss(tiny, smoke, pools, calls):
    runner.run_config(tiny, "t", smoke, pools=pools, progress=False)
    runner.run_config(replace(tiny, lr=2e-3), "t", smoke, pools=pools, progress=False)
    assert calls["n"] == 2


def test_a_change_in_code_the_run_executed_invalidates_the_entry(tiny, smoke, pools, calls, monkeypatch):
    from svhn_debug import executed_code

    first = runner.run_config(tiny, "t", smoke, pools=pools, progress=False)
    # The training loop's unit as the run recorded it ("training:_train"; under a mutation tester,
    # whose trampolines rename functions, the name it has there).
    recorded = cache.read_meta(Path(first.meta["cache_dir"]))["executed_code"]
    unit = next(u for u in recorded if u.startswith("training:") and "_train" in u)
    real = executed_code.SourceIndex.hash
    monkeypatch.setattr(executed_code.SourceIndex, "hash",
                        lambda self, u: "edited" if u == unit else real(self, u))
    second = runner.run_config(tiny, "t", smoke, pools=pools, progress=False)
    assert calls["n"] == 2
    assert first.meta["cache_dir"] != second.meta["cache_dir"]  # the old entry stays for prune


def test_key_covers_profile_data_and_seed(tiny, smoke):
    from svhn_debug.profiles import get_profile

    base = cache.cache_key(cache.key_parts(tiny, smoke, "data-a"))
    assert base != cache.cache_key(cache.key_parts(tiny, get_profile("cpu"), "data-a"))
    assert base != cache.cache_key(cache.key_parts(tiny, smoke, "data-b"))
    assert base != cache.cache_key(cache.key_parts(replace(tiny, seed=1), smoke, "data-a"))


def test_a_corrupted_entry_is_reported_and_recomputed(tiny, smoke, pools, calls):
    res = runner.run_config(tiny, "t", smoke, pools=pools, progress=False)
    epochs_csv = Path(res.meta["cache_dir"]) / "epochs.csv"
    epochs_csv.write_text(epochs_csv.read_text().replace("0.", "9.", 1))
    with pytest.warns(UserWarning, match="corrupt cache entry"):
        again = runner.run_config(tiny, "t", smoke, pools=pools, progress=False)
    assert calls["n"] == 2 and again.steps == res.steps


def test_a_missing_file_counts_as_corruption(tiny, smoke, pools):
    res = runner.run_config(tiny, "t", smoke, pools=pools, progress=False)
    (Path(res.meta["cache_dir"]) / "steps.csv").unlink()
    with pytest.raises(cache.CorruptEntry):
        cache.load(Path(res.meta["cache_dir"]))


def test_an_interrupted_write_leaves_no_entry(tiny, smoke, pools, monkeypatch):
    from svhn_debug.training import train

    result = train(tiny, smoke, pools)
    parts = cache.key_parts(tiny, smoke, pools.fingerprint)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        cache.save(result, parts, {"training:train": "x"}, "t", smoke)
    folder = cache.cache_root() / smoke.name
    assert list(folder.iterdir()) == []  # neither the entry nor its temporary folder
    assert cache.candidates(smoke, cache.cache_key(parts)) == []


def test_two_writers_of_the_same_key_lose_nothing(tiny, smoke, pools):
    from svhn_debug.training import train

    result = train(tiny, smoke, pools)
    parts = cache.key_parts(tiny, smoke, pools.fingerprint)
    first = cache.save(result, parts, {"training:train": "x"}, "t", smoke)
    second = cache.save(result, parts, {"training:train": "x"}, "t", smoke)  # the slower process finishes later
    assert first == second
    assert len(list((cache.cache_root() / smoke.name).iterdir())) == 1
    assert cache.load(first).steps == result.steps


def test_force_replaces_an_entry_only_once_the_new_one_is_complete(tiny, smoke, pools, monkeypatch):
    res = runner.run_config(tiny, "t", smoke, pools=pools, progress=False)
    folder = Path(res.meta["cache_dir"])
    import svhn_debug.training as training

    monkeypatch.setattr(training, "train", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        runner.run_config(tiny, "t", smoke, pools=pools, progress=False, force=True)
    assert cache.load(folder).steps == res.steps  # the interrupted --force lost nothing


def test_cockpit_logs_are_stored_gzipped_and_come_back(tiny, smoke, pools):
    res = runner.run_config(replace(tiny, cockpit="scalars"), "t", smoke, pools=pools, progress=False)
    assert (Path(res.meta["cache_dir"]) / "cockpit.json.gz").exists()
    assert isinstance(res, RunResult) and "GradNorm" in res.cockpit["0"]


def test_status_tells_cached_missing_and_stale(monkeypatch, register_tiny, smoke, pools):
    from svhn_debug import executed_code

    register_tiny("a")
    register_tiny("b", "a", lr=2e-3)
    runner.compute("a", smoke, progress=False)
    states = {r["name"]: r["state"] for r in runner.status(smoke)}
    assert states == {"a": "cached", "b": "missing"}
    real = executed_code.SourceIndex.hash
    monkeypatch.setattr(executed_code.SourceIndex, "hash",
                        lambda self, unit: "edited" if unit == "model:build_model" else real(self, unit))
    rows = {r["name"]: r for r in runner.status(smoke)}
    assert {n: r["state"] for n, r in rows.items()} == {"a": "stale", "b": "missing"}
    assert rows["a"]["reasons"] == ["code changed: model:build_model"]


def test_status_names_the_configuration_field_that_changed(register_tiny, smoke, pools, monkeypatch):
    from svhn_debug import logbook
    from svhn_debug.registry import Registry

    register_tiny("a")
    runner.compute("a", smoke, progress=False)
    edited = Registry(root=replace(logbook.BOOK.root, lr=5e-3))
    edited.register("a", None, "?")
    monkeypatch.setattr(logbook, "BOOK", edited)
    (row,) = runner.status(smoke)
    assert row["state"] == "stale" and row["reasons"] == ["configuration: lr 0.001 -> 0.005"]


def test_reading_never_trains_and_names_the_command(register_tiny, smoke, calls):
    register_tiny("a")
    with pytest.raises(runner.MissingRun, match=r"run a \(seed 0\) is missing .*python -m svhn_debug run a"):
        runner.results("a", smoke)
    assert calls["n"] == 0


def test_an_edited_meta_json_that_stays_valid_json_is_corrupt_not_served(tiny, smoke, pools, calls):
    import json

    res = runner.run_config(tiny, "t", smoke, pools=pools, progress=False)
    meta = Path(res.meta["cache_dir"]) / "meta.json"
    data = json.loads(meta.read_text())
    data["key_parts"]["config"]["lr"] = 0.5
    meta.write_text(json.dumps(data, indent=1, sort_keys=True))
    with pytest.warns(UserWarning, match="corrupt cache entry, recomputing: .*meta.json: checksum mismatch"):
        runner.run_config(tiny, "t", smoke, pools=pools, progress=False)
    assert calls["n"] == 2



def test_prune_never_takes_a_folder_whose_metadata_names_another_key(tmp_path, monkeypatch):
    import json as _json

    from svhn_debug import cache
    from svhn_debug.profiles import get_profile

    monkeypatch.setenv("SVHN_DEBUG_CACHE", str(tmp_path))
    folder = tmp_path / "smoke" / ("a" * 20 + "-" + "b" * 12)
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(_json.dumps({"key": "c" * 20, "key_parts": {}}))  # copied from elsewhere
    assert cache.prunable(get_profile("smoke"), keep=set()) == []
    (folder / "meta.json").write_text(_json.dumps({"key": "a" * 20, "key_parts": {}}))
    assert cache.prunable(get_profile("smoke"), keep=set()) == [folder]


def test_prune_keeps_what_is_kept_copies_under_other_names_links_and_files(tmp_path, monkeypatch):
    import json as _json

    from svhn_debug import cache
    from svhn_debug.profiles import get_profile

    monkeypatch.setenv("SVHN_DEBUG_CACHE", str(tmp_path))
    smoke = tmp_path / "smoke"
    name = "a" * 20 + "-" + "b" * 12
    meta = _json.dumps({"key": "a" * 20, "key_parts": {}})
    for folder in (smoke / name, smoke / (name + "-backup")):  # an entry, and a user's copy of it
        folder.mkdir(parents=True)
        (folder / "meta.json").write_text(meta)
    other = tmp_path / "elsewhere" / name
    other.mkdir(parents=True)
    (other / "meta.json").write_text(meta)
    link = smoke / ("a" * 20 + "-" + "d" * 12)
    link.symlink_to(other, target_is_directory=True)  # a link to an entry kept elsewhere
    (smoke / ("e" * 20 + "-" + "f" * 12)).write_text(meta)  # a file with an entry's name
    (smoke / "0-notes.txt").write_text("listed first")  # a file before every entry ends nothing
    assert cache.prunable(get_profile("smoke"), keep={name}) == []  # the kept entry, the copy, the link, the file
    assert cache.prunable(get_profile("smoke"), keep=set()) == [smoke / name]
    assert (other / "meta.json").is_file()


def test_small_cache_helpers_empty_cells_missing_folders_probe_names_and_entry_folders(tmp_path, monkeypatch):
    import json as _json

    from svhn_debug import cache
    from svhn_debug.profiles import get_profile

    # an empty CSV cell (an epoch without a held-out evaluation) reads back as None
    assert cache._read_csv(b"epoch,heldout_accuracy\n1,\n2,0.5\n") == [
        {"epoch": 1, "heldout_accuracy": None}, {"epoch": 2, "heldout_accuracy": 0.5}]
    cache.discard(tmp_path / "gone")  # discarding what is already gone is no error
    monkeypatch.setenv("SVHN_DEBUG_CACHE", str(tmp_path))
    smoke = get_profile("smoke")
    monkeypatch.setattr(cache.os, "rmdir", lambda path: None)  # a probe left behind, as by a kill
    cache.check_writable(smoke)
    probes = [p for p in (tmp_path / "smoke").iterdir() if p.name.startswith(".")]
    assert len(probes) == 1 and cache.prunable(smoke, keep=set(), older_than=-1) == probes  # prune cleans it
    monkeypatch.undo()
    monkeypatch.setenv("SVHN_DEBUG_CACHE", str(tmp_path))
    name = "a" * 20 + "-" + "b" * 12
    (tmp_path / "smoke" / name).mkdir()
    (tmp_path / "smoke" / name / "meta.json").write_text(_json.dumps({"key": "a" * 20}))
    assert [e["folder"] for e in cache.entries(smoke)] == [name]


def test_a_saves_temporary_folder_is_prunable_only_past_ten_minutes(tmp_path, monkeypatch):
    import time

    from svhn_debug import cache
    from svhn_debug.profiles import get_profile

    monkeypatch.setenv("SVHN_DEBUG_CACHE", str(tmp_path))
    leftover = tmp_path / "smoke" / ".probe.1234"
    leftover.mkdir(parents=True)
    born = leftover.stat().st_mtime
    for age, prunable in ((599.5, False), (600.0, False), (600.5, True)):
        monkeypatch.setattr(time, "time", lambda: born + age)
        assert cache.prunable(get_profile("smoke"), keep=set()) == ([leftover] if prunable else []), age


def test_json_files_are_written_into_new_and_existing_folders_and_replaced_whole(tmp_path):
    import json as _json

    from svhn_debug import cache

    first = cache.write_json(tmp_path / "new" / "deeper" / "a.json", {"n": 1})
    cache.write_json(tmp_path / "new" / "deeper" / "b.json", {"n": 2})  # the folder exists now
    cache.write_json(first, {"n": 3, "a": [1]})
    assert first.read_text() == '{\n "a": [\n  1\n ],\n "n": 3\n}'  # sorted and indented: stable diffs
    assert sorted(p.name for p in (tmp_path / "new" / "deeper").iterdir()) == ["a.json", "b.json"]
