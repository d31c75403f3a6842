"""Processes under faults: a worker that dies, Ctrl-C, a killed parent, too many jobs.

Every test starts real processes (the pool's workers run in fresh interpreters), signals them,
and checks that no process of the batch is left and nothing more is done after the signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import pool_targets
from svhn_debug import executed_code, runner

TESTS = Path(__file__).resolve().parent


def _jobs(config, names, folder):
    return [runner.Job(n, config, "smoke", "synthetic", str(folder), str(folder)) for n in names]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by its parent) holds no memory and runs nothing.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(predicate, seconds: float = 60.0) -> bool:
    end = time.time() + seconds
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_workers_start_with_torchs_compiler_and_the_parsed_source_already_loaded(tiny, tmp_path):
    # every run calls torch.use_deterministic_algorithms, which imports torch's compiler stack (3 to
    # 7 s), and records its executed code from the parsed package source: the fork server loads
    # both once for all workers instead of every worker on its own
    (outcome,) = runner._execute_pool(_jobs(tiny, ["a"], tmp_path), 1, lambda *a: None, time.time(),
                                      target=pool_targets.loaded)
    assert outcome.error is None and outcome.summary["inductor"]
    assert outcome.summary["parsed"] >= len(executed_code.IMPORTED_SOURCES)


def test_workers_are_daemons_that_end_with_their_parent(tiny, tmp_path):
    (outcome,) = runner._execute_pool(_jobs(tiny, ["a"], tmp_path), 1, lambda *a: None, time.time(),
                                      target=pool_targets.daemonic)
    assert outcome.error is None and outcome.summary["daemon"] is True


def test_a_worker_that_dies_fails_its_own_run_only(tiny, tmp_path):
    jobs = _jobs(tiny, ["a", "doomed", "b", "c"], tmp_path)
    outcomes = runner._execute_pool(jobs, 2, lambda *a: None, time.time(), target=pool_targets.quick_or_doomed)
    by_name = {o.job.name: o for o in outcomes}
    assert set(by_name) == {"a", "doomed", "b", "c"}
    assert "SIGKILL" in by_name["doomed"].error and "out-of-memory" in by_name["doomed"].error
    assert all(by_name[n].error is None and by_name[n].summary["folder"] == n for n in "abc")


BATCH = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    import pool_targets
    from dataclasses import replace
    from svhn_debug import runner
    from svhn_debug.config import COLLEAGUE
    config = replace(COLLEAGUE, width=0.25)
    jobs = [runner.Job(f"j{{i}}", config, "smoke", "synthetic", {folder!r}, {folder!r}) for i in range(4)]
    try:
        runner._execute_pool(jobs, 2, lambda *a: None, time.time(), target=pool_targets.slow)
    except runner.Interrupted as err:
        print("interrupted:", err, flush=True)
        sys.exit(130)
""")


def _start_batch(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", BATCH.format(tests=str(TESTS), folder=str(folder))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert _wait_for(lambda: len(list(folder.glob("*.pid"))) == 2), "the two workers did not start"
    return proc


def _worker_pids(folder: Path) -> list[int]:
    return [int(p.read_text()) for p in folder.glob("*.pid")]


def test_ctrl_c_ends_the_workers_starts_nothing_more_and_exits_130(tmp_path):
    proc = _start_batch(tmp_path)
    workers = _worker_pids(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "0 run(s) finished and cached, 2 stopped (nothing of them saved), 2 not started" in out
    assert "Traceback" not in err
    assert _wait_for(lambda: not any(_alive(p) for p in workers), 10)
    time.sleep(1.0)
    assert len(list(tmp_path.glob("*.pid"))) == 2 and not list(tmp_path.glob("*.done"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_end_when_the_batch_is_killed(tmp_path, sig):
    proc = _start_batch(tmp_path)
    workers = _worker_pids(tmp_path)
    os.kill(proc.pid, sig)  # the batch's process alone, not its group
    proc.communicate(timeout=30)
    assert _wait_for(lambda: not any(_alive(p) for p in workers), 15), "a worker outlived the batch"
    time.sleep(1.0)
    assert len(list(tmp_path.glob("*.pid"))) == 2 and not list(tmp_path.glob("*.done"))


def test_more_jobs_than_the_cores_allow_are_capped_with_a_note(tiny, tmp_path, monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(runner, "_execute_pool", lambda jobs, n_jobs, *a, **k: seen.setdefault("n", n_jobs) and [])
    runner.execute(_jobs(tiny, ["a", "b"], tmp_path), n_jobs=100_000)
    assert seen["n"] == runner.default_jobs()
    assert f"--jobs 100000 capped at {runner.default_jobs()}" in capsys.readouterr().err
