"""Job bodies for the process-pool tests: importable by worker processes (they run in a fresh
interpreter, where a test's monkeypatching does not reach)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path


def quick_or_doomed(job) -> dict:
    """Dies from SIGKILL (as from the out-of-memory killer) for a job named ``doomed``."""
    if job.name == "doomed":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.2)
    return {"test_accuracy": 0.5, "diverged_at": None, "seconds": 0.2, "folder": job.name}


def slow(job) -> dict:
    """Writes its pid into the folder ``job.cache_dir``, then works for a minute; records its end."""
    folder = Path(job.cache_dir)
    (folder / f"{job.name}.pid").write_text(str(os.getpid()))
    time.sleep(60)
    (folder / f"{job.name}.done").write_text("done")
    return {"test_accuracy": 0.5, "diverged_at": None, "seconds": 60.0, "folder": job.name}


def loaded(job) -> dict:
    """What the worker had loaded before its job began: torch's compiler stack, parsed modules."""
    import sys

    inductor = "torch._inductor" in sys.modules
    from svhn_debug import executed_code

    return {"test_accuracy": None, "diverged_at": None, "seconds": 0.0, "folder": job.name,
            "inductor": inductor, "parsed": executed_code.parsed.cache_info().currsize}


def daemonic(job) -> dict:
    """Whether the worker is a daemon process (one its parent ends when it exits)."""
    return {"test_accuracy": 0.5, "diverged_at": None, "seconds": 0.0, "folder": job.name,
            "daemon": multiprocessing.current_process().daemon}
