"""The experiment cache: hits, misses, invalidation, corruption, interruption, races."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from svhn_debug import cache, experiments
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
    first = experiments.run_config(tiny, "t", smoke, pools=pools, progress=False)
    second = experiments.run_config(tiny, "t", smoke, pools=pools, progress=False)
    assert calls["n"] == 1
    assert first.steps == second.steps and first.epochs == second.epochs and first.confusion == second.confusion


def test_a_config_change_is_a_miss(tiny, smoke, pools, calls):
    experiments.run_config(tiny, "t", smoke, pools=pools, progress=False)
    experiments.run_config(replace(tiny, lr=2e-3), "t", smoke, pools=pools, progress=False)
    assert calls["n"] == 2


def test_a_change_in_the_training_code_invalidates_the_entry(tiny, smoke, pools, calls, monkeypatch):
    experiments.run_config(tiny, "t", smoke, pools=pools, progress=False)
    monkeypatch.setattr(cache, "code_fingerprint", lambda: "edited-training-code")
    experiments.run_config(tiny, "t", smoke, pools=pools, progress=False)
    assert calls["n"] == 2


def test_the_code_fingerprint_covers_training_modules_but_not_plotting():
    assert "training" in cache.TRAINING_MODULES and "data" in cache.TRAINING_MODULES
    assert "plots" not in cache.TRAINING_MODULES and "cli" not in cache.TRAINING_MODULES


def test_key_covers_profile_data_and_seed(tiny, smoke):
    from svhn_debug.profiles import get_profile

    base = cache.cache_key(cache.key_parts(tiny, smoke, "data-a"))
    assert base != cache.cache_key(cache.key_parts(tiny, get_profile("cpu"), "data-a"))
    assert base != cache.cache_key(cache.key_parts(tiny, smoke, "data-b"))
    assert base != cache.cache_key(cache.key_parts(replace(tiny, seed=1), smoke, "data-a"))


def test_a_corrupted_entry_is_reported_and_recomputed(tiny, smoke, pools, calls):
    res = experiments.run_config(tiny, "t", smoke, pools=pools, progress=False)
    epochs_csv = Path(res.meta["cache_dir"]) / "epochs.csv"
    epochs_csv.write_text(epochs_csv.read_text().replace("0.", "9.", 1))
    with pytest.warns(UserWarning, match="corrupt cache entry"):
        again = experiments.run_config(tiny, "t", smoke, pools=pools, progress=False)
    assert calls["n"] == 2 and again.steps == res.steps


def test_a_missing_file_counts_as_corruption(tiny, smoke, pools):
    res = experiments.run_config(tiny, "t", smoke, pools=pools, progress=False)
    (Path(res.meta["cache_dir"]) / "steps.csv").unlink()
    key = Path(res.meta["cache_dir"]).name
    with pytest.raises(cache.CorruptEntry):
        cache.load(smoke, key)


def test_an_interrupted_write_leaves_no_entry(tiny, smoke, pools, monkeypatch):
    from svhn_debug.training import train

    result = train(tiny, smoke, pools)
    parts = cache.key_parts(tiny, smoke, pools.fingerprint)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        cache.save(result, parts, "t", smoke)
    folder = cache.cache_root() / smoke.name
    assert list(folder.iterdir()) == []  # neither the entry nor its temporary folder
    assert cache.load(smoke, cache.cache_key(parts)) is None


def test_two_writers_of_the_same_key_lose_nothing(tiny, smoke, pools):
    from svhn_debug.training import train

    result = train(tiny, smoke, pools)
    parts = cache.key_parts(tiny, smoke, pools.fingerprint)
    first = cache.save(result, parts, "t", smoke)
    second = cache.save(result, parts, "t", smoke)  # the slower process finishes later
    assert first == second
    assert len(list((cache.cache_root() / smoke.name).iterdir())) == 1
    assert cache.load(smoke, cache.cache_key(parts)).steps == result.steps


def test_cockpit_logs_are_stored_gzipped_and_come_back(tiny, smoke, pools):
    res = experiments.run_config(replace(tiny, cockpit="scalars"), "t", smoke, pools=pools, progress=False)
    assert (Path(res.meta["cache_dir"]) / "cockpit.json.gz").exists()
    assert isinstance(res, RunResult) and "GradNorm" in res.cockpit["0"]


def test_status_tells_cached_missing_and_stale(monkeypatch, register_tiny, smoke, pools):
    register_tiny("a")
    register_tiny("b", "a", lr=2e-3)
    experiments.results("a", smoke, progress=False)
    states = {r["name"]: r["state"] for r in experiments.status(smoke)}
    assert states == {"a": "cached", "b": "missing"}
    monkeypatch.setattr(cache, "code_fingerprint", lambda: "changed")
    states = {r["name"]: r["state"] for r in experiments.status(smoke)}
    assert states == {"a": "stale", "b": "missing"}
