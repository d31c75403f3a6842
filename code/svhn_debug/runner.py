"""Computing and finding runs: cache lookups that follow the code a run executed, training on a
miss, the state of every registered run, and executors that run many at once.

Reading is separate from computing: :func:`results` and :func:`result` only read the cache and
raise :class:`MissingRun` (naming the run and the command that computes it); :func:`compute` and
:func:`execute` train. The book's experiments are :data:`svhn_debug.logbook.BOOK`; every function
taking a ``registry`` uses that one when given none.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import cache
from .config import RunConfig
from .executed_code import ExecutedCode, SourceIndex, not_a_result
from .profiles import Profile, active_profile, get_profile
from .registry import Experiment, Registry

EXECUTORS = ("local", "slurm", "submitit-local")


def book() -> Registry:
    """The book's experiments (:mod:`svhn_debug.logbook`)."""
    from . import logbook

    return logbook.BOOK


def get(name: str, registry: Registry | None = None) -> Experiment:
    """Experiment ``name`` of ``registry`` (the book's by default)."""
    return (registry or book()).get(name)


class MissingRun(LookupError):
    """A run that reporting needs is not in the cache (reporting never trains)."""

    def __str__(self) -> str:
        return self.args[0]


# --------------------------------------------------------------------------- data


@functools.lru_cache(maxsize=4)
def _pools(profile: Profile, source: str):
    from .data import load_pools

    return load_pools(profile, source)


def pools(profile: Profile | None = None):
    """The data pools of the active profile and data source (loaded once per process)."""
    from .data import data_source

    return _pools(profile or active_profile(), data_source())


def batches_of(name: str, profile: Profile | None = None, registry: Registry | None = None) -> dict:
    """Splits and batch sources exactly as experiment ``name`` sees them (on the CPU).

    Returns:
        ``{"splits": {split: Split}, "batches": {split: batch source}}``; the training
        evaluation source is under ``batches["train_eval"]``.
    """
    import torch

    from .data import build_batches, make_splits

    profile = profile or active_profile()
    cfg = get(name, registry).config
    splits = make_splits(pools(profile), profile, cfg)
    return {"splits": splits, "batches": build_batches(splits, cfg, torch.device("cpu"))}


def _fingerprint(profile: Profile) -> str:
    from .data import data_fingerprint

    return data_fingerprint(profile)


# --------------------------------------------------------------------------- lookups


@dataclass
class Lookup:
    """Where one run stands in the cache.

    ``state`` is ``cached`` (an entry whose recorded code is unchanged), ``stale`` (entries
    exist, but the code they executed, or the run's configuration, profile or data, changed),
    ``missing`` or ``corrupt``; ``reasons`` says what changed or what is damaged.
    """

    state: str
    key: str
    folder: Path | None = None
    reasons: list[str] = field(default_factory=list)
    result: Any = None
    meta: dict | None = None


def _what_differs(old: dict, new: dict) -> list[str]:
    """The parts of two key-part dicts that differ, in words."""
    out = []
    if old.get("format") != new.get("format"):
        out.append(f"cache format {old.get('format')} -> {new.get('format')}")
    changed = sorted(k for k in set(old.get("config", {})) | set(new["config"])
                     if k != "seed" and old.get("config", {}).get(k) != new["config"].get(k))
    if changed:
        out.append("configuration: " + ", ".join(
            f"{k} {old.get('config', {}).get(k)!r} -> {new['config'].get(k)!r}" for k in changed))
    if old.get("profile") != new["profile"]:
        out.append("profile " + ", ".join(k for k in new["profile"] if old.get("profile", {}).get(k) != new["profile"][k]))
    if old.get("data") != new["data"]:
        out.append(f"data {old.get('data')} -> {new['data']}")
    return out


def lookup(config: RunConfig, profile: Profile, fingerprint: str, name: str | None = None,
           index: SourceIndex | None = None, known: list[dict] | None = None, load: bool = True) -> Lookup:
    """Find ``config``'s run in the cache, checking the code it executed against ``index``.

    An entry that another process moves or replaces while it is being read (``run --force``)
    is read again, and a damaged one is reported as ``corrupt`` only when two reads agree.

    Args:
        config, profile, fingerprint: What the run is (its seed is in ``config``).
        name: Its experiment; an entry of the same name and seed under another key explains a
            ``stale`` state (what differs). Without it, no such search.
        index: The source to check recorded code against (the package as it is now by default).
        known: :func:`cache.entries` of the profile, when the caller already has them.
        load: Load (and checksum) the cached result; ``False`` only reads its metadata.
    """
    previous = None
    for _ in range(20):
        found = _lookup_once(config, profile, fingerprint, name, index, known, load)
        if found.state == "raced":
            continue
        if found.state != "corrupt" or (previous is not None and (previous.folder, previous.reasons)
                                        == (found.folder, found.reasons)):
            return found
        previous = found
    return Lookup("missing", found.key) if found.state == "raced" else found  # replaced all the while


def expected_seconds(found: Lookup) -> float | None:
    """What computing the run of ``found`` should take: the recorded time of an entry under the
    same key (same configuration, profile and data: cached, or stale only because the code
    changed); ``None`` when only entries under another key exist (their time says little)."""
    if not found.meta or found.meta.get("key") != found.key:
        return None
    return found.meta.get("seconds")


def _intact(folder: Path) -> bool:
    """Whether ``folder`` checks out now: damage stays, a folder moved away and back does not."""
    try:
        cache.verify(folder)
        return True
    except cache.CorruptEntry:
        return False


def _identity(folder: Path) -> tuple[int, int] | None:
    """Which folder sits at ``folder`` (device and inode); ``None`` when none does."""
    try:
        st = folder.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _lookup_once(config: RunConfig, profile: Profile, fingerprint: str, name: str | None,
                 index: SourceIndex | None, known: list[dict] | None, load: bool) -> Lookup:
    parts = cache.key_parts(config, profile, fingerprint)
    key = cache.cache_key(parts)
    index = index or SourceIndex()
    stale_reasons: list[str] = []
    stale_meta: dict | None = None
    corrupt: tuple[Path, str] | None = None
    for folder in cache.candidates(profile, key):
        identity = _identity(folder)
        if identity is None:
            return Lookup("raced", key, folder)  # gone since the listing
        try:
            meta = cache.read_meta(folder)
        except cache.CorruptEntry as err:
            if _identity(folder) != identity or _intact(folder):
                return Lookup("raced", key, folder)  # moved or replaced while being read
            corrupt = corrupt or (folder, str(err))
            continue
        changed = index.changed(meta["executed_code"])
        if changed:
            stale_reasons = stale_reasons or [f"code changed: {', '.join(changed)}"]
            stale_meta = stale_meta or meta
            continue
        try:
            hit = cache.load(folder) if load else None
        except cache.CorruptEntry as err:
            if _identity(folder) != identity or _intact(folder):
                return Lookup("raced", key, folder)
            return Lookup("corrupt", key, folder, [str(err)], meta=meta)
        if load and (hit is None or _identity(folder) != identity):
            return Lookup("raced", key, folder)  # gone (or replaced) between its metadata and its files
        return Lookup("cached", key, folder, [], hit, meta)
    if corrupt:
        return Lookup("corrupt", key, corrupt[0], [corrupt[1]])
    if stale_reasons:
        return Lookup("stale", key, None, stale_reasons, meta=stale_meta)
    if name is not None:
        source = fingerprint.split(":")[0]  # entries of another data source are not this run's past
        same = [m for m in (known if known is not None else cache.entries(profile))
                if m.get("name") == name and m.get("seed") == config.seed
                and str(m.get("key_parts", {}).get("data", "")).split(":")[0] == source]
        if same:
            newest = max(same, key=lambda m: m.get("finished_at", ""))
            return Lookup("stale", key, None, _what_differs(newest.get("key_parts", {}), parts) or ["key changed"],
                          meta=newest)
    return Lookup("missing", key)


# --------------------------------------------------------------------------- computing one run


@not_a_result
def _progress_bar(label: str):
    from tqdm.auto import tqdm

    state: dict[str, Any] = {}

    def update(step: int, total: int, last: dict) -> None:
        if "bar" not in state:
            state["bar"] = tqdm(total=total, desc=label, unit="step", leave=False, file=sys.stderr,
                                mininterval=1.0 if sys.stderr.isatty() else 30.0)
        bar = state["bar"]
        bar.update(step - bar.n)
        if last.get("validation_accuracy") is not None:
            bar.set_postfix(val_acc=f"{last['validation_accuracy']:.3f}", refresh=False)
        if step == total:
            bar.close()
    return update, state


def run_config(config: RunConfig, name: str, profile: Profile | None = None, force: bool = False,
               progress: bool = True, pools=None):
    """Result of ``config``: from the cache, or trained (and cached) when missing, stale,
    corrupt or ``force``d. With ``force`` the cached entry stays until the new one is saved."""
    from .training import train

    profile = profile or active_profile()
    fingerprint = pools.fingerprint if pools is not None else _fingerprint(profile)
    found = lookup(config, profile, fingerprint, load=not force)
    if found.state == "cached" and not force:
        return found.result
    if found.state == "corrupt":
        warnings.warn(f"corrupt cache entry, recomputing: {'; '.join(found.reasons)}", stacklevel=2)
        if found.folder is not None:
            try:
                cache.verify(found.folder)  # still damaged? (not replaced meanwhile by another process)
            except cache.CorruptEntry:
                cache.discard(found.folder)
    cache.check_writable(profile)  # before training, not after: a result that cannot be saved is lost
    if pools is None:
        from .data import data_source

        pools = _pools(profile, data_source())
    update, state = _progress_bar(f"{name} (seed {config.seed})") if progress else (None, {})
    try:
        with ExecutedCode() as executed:
            result = train(config, profile, pools, progress=update)
    finally:
        if "bar" in state:
            state["bar"].close()
    parts = cache.key_parts(config, profile, fingerprint)
    folder = cache.save(result, parts, executed.record, name, profile, replace=force)
    return cache.load(folder)


def compute(name: str, profile: Profile | None = None, force: bool = False, progress: bool = True,
            registry: Registry | None = None) -> list:
    """Every seed of experiment ``name``, computing what the cache lacks, one after the other."""
    exp = get(name, registry)
    return [run_config(cfg, name, profile, force, progress) for cfg in exp.seed_configs()]


# --------------------------------------------------------------------------- reading (never trains)


def results(name: str, profile: Profile | None = None, registry: Registry | None = None,
            seeds: list[int] | None = None) -> list:
    """The cached result of every seed of ``name`` (or of ``seeds`` among them); never trains.

    Raises:
        MissingRun: a seed is not cached (missing, stale or corrupt); the message names it,
            says why, and gives the command that computes it.
    """
    profile = profile or active_profile()
    exp = get(name, registry)
    fingerprint = _fingerprint(profile)
    index = SourceIndex()
    out = []
    for cfg in exp.seed_configs():
        if seeds and cfg.seed not in seeds:
            continue
        found = lookup(cfg, profile, fingerprint, name, index)
        if found.state != "cached":
            why = f" ({'; '.join(found.reasons)})" if found.reasons else ""
            raise MissingRun(f"run {name} (seed {cfg.seed}) is {found.state} in the {profile.name} cache{why}; "
                             f"compute it with `python -m svhn_debug run {name} --seed {cfg.seed}`")
        out.append(found.result)
    return out


def result(name: str, profile: Profile | None = None, registry: Registry | None = None):
    """The first seed's cached result of ``name`` (see :func:`results`)."""
    return results(name, profile, registry)[0]


def status(profile: Profile | None = None, registry: Registry | None = None) -> list[dict[str, Any]]:
    """For every registered run of ``registry``: name, seed, state, why, key, entry folder and
    the seconds it took when it was computed (``None`` unless cached)."""
    profile = profile or active_profile()
    fingerprint = _fingerprint(profile)
    index = SourceIndex()
    known = cache.entries(profile)
    rows = []
    for exp in (registry or book()):
        for cfg in exp.seed_configs():
            found = lookup(cfg, profile, fingerprint, exp.name, index, known, load=False)
            if found.state == "cached":
                try:
                    cache.verify(found.folder)
                except cache.CorruptEntry as err:
                    found = Lookup("corrupt", found.key, found.folder, [str(err)])
            seconds = expected_seconds(found)
            rows.append({"name": exp.name, "seed": cfg.seed, "state": found.state, "reasons": found.reasons,
                         "key": found.key, "folder": found.folder.name if found.folder else None,
                         "seconds": seconds if found.state == "cached" else None,
                         "estimate_seconds": seconds})
    return rows


def compute_seconds(rows: list[dict[str, Any]]) -> float:
    """Recorded seconds of the cached runs among :func:`status` rows; experiments with equal
    configurations share one entry, whose seconds count once."""
    return sum({r["folder"]: r["seconds"] or 0 for r in rows if r["state"] == "cached"}.values())


def referenced_entries(profile: Profile | None = None, registry: Registry | None = None) -> set[str]:
    """Entry folders the registered runs use now (the rest may be pruned)."""
    return {row["folder"] for row in status(profile, registry) if row["folder"]}


# --------------------------------------------------------------------------- many runs at once


@dataclass(frozen=True)
class Job:
    """One run (or, with ``kind="diagnosis"``, one saved whole-run diagnosis of an experiment)
    to compute, with everything a worker on another machine needs to find its data and write
    into the same cache."""

    name: str
    config: RunConfig
    profile: str
    data_source: str
    cache_dir: str
    data_dir: str
    force: bool = False
    kind: str = "run"  # or "diagnosis": doctor NAME --steps 0 --save


def run_job(job: Job) -> dict[str, Any]:
    """Compute one :class:`Job` in this process (what every executor calls); a summary back."""
    os.environ.update({"SVHN_DEBUG_CACHE": job.cache_dir, "SVHN_DEBUG_DATA": job.data_source,
                       "SVHN_DEBUG_DATA_DIR": job.data_dir, "SVHN_DEBUG_PROFILE": job.profile})
    return _compute(job, progress=False)


def _compute(job: Job, progress: bool) -> dict[str, Any]:
    """Compute ``job`` here: its run, or its diagnosis."""
    profile = get_profile(job.profile)
    if job.kind == "diagnosis":
        from . import doctor

        d = doctor.compute_saved(job.name, profile)
        return {"findings": len(d["findings"]) + len(d["data_findings"]), "seconds": d["seconds"],
                "test_accuracy": None, "diverged_at": None, "folder": Path(d["path"]).name}
    return _summary(run_config(job.config, job.name, profile, force=job.force, progress=progress,
                               pools=_pools(profile, job.data_source)))


def _summary(res) -> dict[str, Any]:
    """What a finished run reports back: its final test accuracy, divergence, time, entry."""
    return {"test_accuracy": res.final("test_accuracy"), "diverged_at": res.diverged_at,
            "seconds": res.meta.get("seconds"), "folder": Path(res.meta["cache_dir"]).name}


def default_jobs(threads_per_run: int = 1) -> int:
    """Runs at once that the cores this process may use allow, each with its fixed threads."""
    from .datagen import usable_cores

    return max(1, usable_cores() // max(1, threads_per_run))


def plan_jobs(names: list[str], profile: Profile | None = None, force: bool = False,
              registry: Registry | None = None, seeds: list[int] | None = None) -> list[Job]:
    """The runs of ``names`` that need computing (all of them with ``force``), one job per
    distinct run (experiments with equal configurations share one), longest expected first;
    with ``seeds``, only those seeds of each experiment (each must be one of its seeds)."""
    from .data import data_dir, data_source

    profile = profile or active_profile()
    fingerprint = _fingerprint(profile)
    index = SourceIndex()
    known = cache.entries(profile)
    jobs: dict[str, tuple[float, Job]] = {}
    for name in names:
        exp = get(name, registry)
        unknown = sorted(set(seeds or ()) - set(exp.seeds))
        if unknown:
            raise ValueError(f"experiment {name!r} has seed(s) {', '.join(map(str, exp.seeds))}; "
                             f"{', '.join(map(str, unknown))} is not one of them")
        for cfg in exp.seed_configs():
            if seeds and cfg.seed not in seeds:
                continue
            found = lookup(cfg, profile, fingerprint, name, index, known, load=False)
            if found.state == "cached":
                try:
                    cache.verify(found.folder)  # a damaged data file makes it a job (recomputed)
                except cache.CorruptEntry:
                    found.state = "corrupt"
            if found.state == "cached" and not force or found.key in jobs:
                continue
            estimate = expected_seconds(found) or float("inf")  # unknown: start early
            jobs[found.key] = (estimate, Job(name, cfg, profile.name, data_source(), str(cache.cache_root()),
                                             str(data_dir()), force))
    return [job for _, job in sorted(jobs.values(), key=lambda item: -item[0])]


@dataclass
class Outcome:
    """What became of one job: its summary, or the error that stopped it."""

    job: Job
    summary: dict | None = None
    error: str | None = None


@not_a_result
def _report_progress(done: int, running: int, left: int, outcome: Outcome | None, started: float) -> None:
    head = f"[{done} done, {running} running, {left} left, {time.time() - started:.0f} s]"
    if outcome is None:
        print(head, file=sys.stderr, flush=True)
        return
    job = outcome.job
    what = f"doctor {job.name}" if job.kind == "diagnosis" else f"{job.name} (seed {job.config.seed})"
    if outcome.error:
        print(f"{head} FAILED {what}: {outcome.error.strip().splitlines()[-1]}", file=sys.stderr, flush=True)
    elif job.kind == "diagnosis":
        s = outcome.summary
        print(f"{head} {what}: {s['findings']} finding(s), saved in {s['seconds']:.0f} s", file=sys.stderr, flush=True)
    else:
        s = outcome.summary
        acc = "n/a" if s["test_accuracy"] is None else f"{100 * s['test_accuracy']:.1f}%"
        div = f", diverged at step {s['diverged_at']}" if s["diverged_at"] is not None else ""
        print(f"{head} {job.name} (seed {job.config.seed}): test {acc}{div} in {s['seconds']:.0f} s",
              file=sys.stderr, flush=True)


def execute(jobs: list[Job], n_jobs: int | None = None, executor: str = "local",
            slurm: dict[str, Any] | None = None, report: Callable = _report_progress) -> list[Outcome]:
    """Compute ``jobs`` on ``executor``, at most ``n_jobs`` at a time; a failing job does not
    stop the others (its error is in its :class:`Outcome`).

    Args:
        jobs: From :func:`plan_jobs`.
        n_jobs: Runs at once (default: :func:`default_jobs`). With the local executor and one
            job, runs happen in this process with a progress bar per run.
        executor: ``local`` (a process pool), ``slurm`` (a Slurm cluster through submitit) or
            ``submitit-local`` (submitit's local executor: the Slurm path, without Slurm).
        slurm: Options for submitit's ``update_parameters`` (``slurm_partition``,
            ``timeout_min``, ...).
        report: Called as ``report(done, running, left, outcome, started)``.

    Every executor writes into the same content-addressed cache; entries are written atomically,
    so runs of one key racing each other leave one complete entry.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if not jobs:
        return []
    for profile in {job.profile for job in jobs}:
        cache.check_writable(get_profile(profile))
    most = default_jobs(max(job.config.threads for job in jobs))
    n_jobs = n_jobs or most
    if n_jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {n_jobs}")
    if executor == "local" and n_jobs > most:
        print(f"note: --jobs {n_jobs} capped at {most}: the cores this process may use allow {most} run(s) of "
              f"{max(job.config.threads for job in jobs)} thread(s) at once", file=sys.stderr)
        n_jobs = most
    started = time.time()
    if executor == "local" and n_jobs == 1:
        return _execute_here(jobs, report, started)
    if executor == "local":
        return _execute_pool(jobs, n_jobs, report, started)
    return _execute_submitit(jobs, n_jobs, executor, slurm or {}, report, started)


def _execute_here(jobs: list[Job], report: Callable, started: float) -> list[Outcome]:
    outcomes = []
    for i, job in enumerate(jobs):
        report(i, 1, len(jobs) - i - 1, None, started)
        try:
            outcome = Outcome(job, _compute(job, progress=True))
        except KeyboardInterrupt:
            raise
        except Exception:  # noqa: BLE001 (reported with the run's name at the end)
            outcome = Outcome(job, error=traceback.format_exc())
        outcomes.append(outcome)
        report(i + 1, 0, len(jobs) - i - 1, outcome, started)
    return outcomes


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped a batch; the message says what finished and what did not."""


def _die_with(parent_pid: int) -> None:
    """End this worker when the process that started the batch dies (killed, even by SIGKILL):
    Linux's parent-death signal where it exists, and a thread that watches the parent anyway
    (a worker started by a fork server has the server, not the batch, as its parent)."""
    import ctypes
    import signal
    import threading

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def gone() -> bool:
        try:
            os.kill(parent_pid, 0)
        except (ProcessLookupError, PermissionError):  # PermissionError: the pid now belongs to someone else
            return True
        try:  # dead but not yet reaped by its own parent (a zombie) is dead too
            return Path(f"/proc/{parent_pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            return False

    def watch() -> None:
        while not gone():
            time.sleep(1.0)
        os._exit(137)
    threading.Thread(target=watch, daemon=True, name="watch-parent").start()


def _worker(job: Job, conn, parent_pid: int, target: Callable[[Job], dict]) -> None:
    """One job in its own process: ``target(job)``'s summary or its traceback back through ``conn``."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the batch decides
    _die_with(parent_pid)
    try:
        message = ("ok", target(job))
    except BaseException:  # noqa: BLE001 (sent back and reported with the run's name)
        message = ("error", traceback.format_exc())
    conn.send(message)
    conn.close()


def _process_context():
    """A fork server where there is one (a cheap start for every job, without forking a process
    whose torch has started threads; it loads :mod:`svhn_debug.worker_start` first), spawn
    elsewhere."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["svhn_debug.worker_start"])
        return context
    return multiprocessing.get_context("spawn")


def _death(exitcode: int | None) -> str:
    import signal

    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (the out-of-memory killer sends this)" if name == "SIGKILL" else ""
        return f"the worker process died from {name}{hint} before reporting a result"
    return f"the worker process exited with code {exitcode} before reporting a result"


def _execute_pool(jobs: list[Job], n_jobs: int, report: Callable, started: float,
                  target: Callable[[Job], dict] = run_job) -> list[Outcome]:
    """Each job in a process of its own, ``n_jobs`` at a time. A worker that dies (killed by the
    out-of-memory killer, say) fails its own job only. Ctrl-C or SIGTERM ends the running
    workers at once, starts nothing more, and raises :class:`Interrupted`; workers also end when
    this process is killed outright."""
    import signal
    from multiprocessing.connection import wait

    context = _process_context()
    waiting = list(jobs)
    running: dict[Any, tuple[Job, Any]] = {}  # process -> (job, receiving end)
    outcomes: list[Outcome] = []

    def on_term(signum, frame):
        raise KeyboardInterrupt
    previous_term = signal.signal(signal.SIGTERM, on_term) if _main_thread() else None
    try:
        while waiting or running:
            while waiting and len(running) < n_jobs:
                job = waiting.pop(0)
                receive, send = context.Pipe(duplex=False)
                proc = context.Process(target=_worker, args=(job, send, os.getpid(), target), name=f"svhn-run-{job.name}",
                                       daemon=True)
                proc.start()
                send.close()
                running[proc] = (job, receive)
            ready = wait([conn for _, conn in running.values()] + [p.sentinel for p in running], timeout=60)
            if not ready:
                report(len(outcomes), len(running), len(waiting), None, started)
                continue
            for proc in [p for p, (_, conn) in running.items() if conn in ready or p.sentinel in ready]:
                job, conn = running[proc]
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    proc.join()
                    kind, payload = "error", _death(proc.exitcode)
                proc.join()
                conn.close()
                del running[proc]
                outcome = Outcome(job, payload) if kind == "ok" else Outcome(job, error=payload)
                outcomes.append(outcome)
                report(len(outcomes), len(running), len(waiting), outcome, started)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the clean-up
        try:
            for proc in running:
                proc.kill()
            for proc, (_, conn) in running.items():
                proc.join()
                conn.close()
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        raise Interrupted(f"{len(outcomes)} run(s) finished and cached, {len(running)} stopped "
                          f"(nothing of them saved), {len(waiting)} not started") from None
    finally:
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
    return outcomes


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _execute_submitit(jobs: list[Job], n_jobs: int, executor: str, slurm: dict[str, Any], report: Callable,
                      started: float) -> list[Outcome]:
    try:
        import submitit
    except ImportError:
        raise ValueError("the slurm executors need submitit (`pip install -r requirements.txt`)") from None
    folder = cache.cache_root() / ".submitit" / "%j"
    if executor == "slurm":
        ex = submitit.AutoExecutor(folder=folder, cluster="slurm")
        params = {"timeout_min": 120, "cpus_per_task": max(job.config.threads for job in jobs), "nodes": 1,
                  "tasks_per_node": 1, **slurm}
        ex.update_parameters(**params)
    else:
        ex = submitit.LocalExecutor(folder=folder)
        ex.update_parameters(timeout_min=slurm.get("timeout_min", 120))
    waiting = list(jobs)
    running: list[tuple[Any, Job]] = []
    outcomes: list[Outcome] = []
    try:
        while waiting or running:
            while waiting and len(running) < n_jobs:
                job = waiting.pop(0)
                running.append((ex.submit(run_job, job), job))
            still = []
            for handle, job in running:
                if not handle.done():
                    still.append((handle, job))
                    continue
                try:
                    outcome = Outcome(job, handle.result())
                except Exception as err:  # noqa: BLE001 (submitit's FailedJobError carries the traceback)
                    outcome = Outcome(job, error=str(err))
                outcomes.append(outcome)
                report(len(outcomes), len(still), len(waiting), outcome, started)
            running = still
            if running:
                time.sleep(1.0)
    except KeyboardInterrupt:
        for handle, _ in running:
            handle.cancel(check=False)
        raise
    return outcomes
