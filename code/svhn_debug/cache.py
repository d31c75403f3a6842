"""The experiment cache: one folder per (config, profile, data, seed, training code).

An entry is ``<cache>/<profile>/<key>/`` with ``meta.json`` (config, key parts, checksums,
versions, timings), ``epochs.csv``, ``steps.csv``, ``result.json`` (confusion matrix, divergence)
and, when Cockpit was on, ``cockpit.json.gz``. Entries are written into a temporary folder and
renamed into place, so an interrupted run leaves nothing half-written; a checksum mismatch marks
an entry as corrupt, which is reported and recomputed.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from .config import RunConfig
from .profiles import Profile

# Modules whose source can change a training result. Plotting, the CLI, the registry and this
# cache are left out: editing them must not invalidate any run.
TRAINING_MODULES = ("config", "profiles", "synthetic", "data", "model", "instruments", "training")
CACHE_FORMAT = 1


class CorruptEntry(RuntimeError):
    """A cache entry whose files do not match their recorded checksums."""


def cache_root() -> Path:
    """``SVHN_DEBUG_CACHE`` or the project's ``cache/`` folder."""
    from .data import repo_root

    return Path(os.environ.get("SVHN_DEBUG_CACHE", repo_root() / "cache"))


def code_fingerprint() -> str:
    """Hash of the source of every module that influences training results."""
    folder = Path(__file__).parent
    digest = hashlib.sha256()
    for name in TRAINING_MODULES:
        digest.update(name.encode())
        digest.update((folder / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]


def key_parts(config: RunConfig, profile: Profile, data_fingerprint: str) -> dict[str, Any]:
    """Everything that can change a result (the seed is a config field)."""
    return {"format": CACHE_FORMAT, "config": config.to_dict(), "profile": profile.to_dict(),
            "data": data_fingerprint, "code": code_fingerprint()}


def cache_key(parts: dict[str, Any]) -> str:
    """Short hash of the key parts (folder name of the entry)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _csv(rows: list[dict]) -> bytes:
    if not rows:
        return b""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else (repr(v) if isinstance(v, float) else v)) for k, v in row.items()})
    return buf.getvalue().encode()


def _read_csv(data: bytes) -> list[dict]:
    def parse(value: str):
        if value == "":
            return None
        try:
            return int(value)
        except ValueError:
            return float(value)
    return [{k: parse(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(data.decode()))]


def entry_dir(profile: Profile, key: str) -> Path:
    return cache_root() / profile.name / key


def save(result, parts: dict[str, Any], name: str, profile: Profile) -> Path:
    """Write ``result`` (a :class:`~svhn_debug.training.RunResult`) atomically; return its folder.

    When another process finished the same key first, its entry is kept (both are identical
    runs) and this one is discarded: nothing is lost either way.
    """
    key = cache_key(parts)
    target = entry_dir(profile, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    files = {
        "epochs.csv": _csv(result.epochs),
        "steps.csv": _csv(result.steps),
        "result.json": json.dumps({"confusion": result.confusion, "diverged_at": result.diverged_at},
                                  indent=1).encode(),
    }
    if result.cockpit is not None:
        from .instruments import gzip_json

        files["cockpit.json.gz"] = gzip_json(result.cockpit)
    meta = {"name": name, "key": key, "key_parts": parts, "profile": result.profile, "seed": result.seed,
            "checksums": {fname: _sha(data) for fname, data in files.items()}, **result.meta}
    files["meta.json"] = json.dumps(meta, indent=1, sort_keys=True).encode()
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=target.parent))
    try:
        for fname, data in files.items():
            (tmp / fname).write_bytes(data)
        try:
            os.rename(tmp, target)  # atomic; fails if the target exists
        except OSError:
            if not target.exists():
                raise
            shutil.rmtree(tmp)  # another process won the race with an identical run
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def load(profile: Profile, key: str):
    """The cached :class:`RunResult` under ``key``, ``None`` if absent.

    Raises:
        CorruptEntry: a file is missing or does not match its checksum.
    """
    from .training import RunResult

    folder = entry_dir(profile, key)
    if not folder.is_dir():
        return None
    try:
        meta = json.loads((folder / "meta.json").read_text())
        data = {}
        for fname, digest in meta["checksums"].items():
            raw = (folder / fname).read_bytes()
            if _sha(raw) != digest:
                raise CorruptEntry(f"{folder / fname}: checksum mismatch")
            data[fname] = raw
        extra = json.loads(data["result.json"])
        cockpit = json.loads(gzip.decompress(data["cockpit.json.gz"])) if "cockpit.json.gz" in data else None
    except CorruptEntry:
        raise
    except (OSError, ValueError, KeyError) as err:
        raise CorruptEntry(f"{folder}: unreadable ({type(err).__name__}: {err})") from None
    run_meta = {k: v for k, v in meta.items() if k not in ("key_parts", "checksums", "name", "key", "profile", "seed")}
    return RunResult(config=meta["key_parts"]["config"], profile=meta["profile"], seed=meta["seed"],
                     steps=_read_csv(data["steps.csv"]), epochs=_read_csv(data["epochs.csv"]),
                     confusion=extra["confusion"], diverged_at=extra["diverged_at"], cockpit=cockpit,
                     meta={**run_meta, "cache_dir": str(folder), "name": meta["name"]})


def discard(profile: Profile, key: str) -> None:
    """Remove an entry (used for corrupt ones before recomputing)."""
    shutil.rmtree(entry_dir(profile, key), ignore_errors=True)


def entries(profile: Profile) -> list[dict[str, Any]]:
    """Metadata of every entry of ``profile`` (unreadable ones are skipped with a warning)."""
    out = []
    folder = cache_root() / profile.name
    for meta_path in sorted(folder.glob("*/meta.json")) if folder.is_dir() else []:
        try:
            out.append(json.loads(meta_path.read_text()))
        except (OSError, ValueError) as err:
            warnings.warn(f"unreadable cache metadata {meta_path}: {err}")
    return out
