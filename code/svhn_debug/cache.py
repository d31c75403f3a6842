"""The experiment cache: one folder per (config, profile, data, seed, code the run executed).

An entry is ``<cache>/<profile>/<key>-<code>/``: ``<key>`` hashes what is known before the run
(configuration with its seed, profile, data fingerprint), ``<code>`` the record of the package
code the run executed (:mod:`svhn_debug.executed_code`). A lookup takes the entries of ``<key>``
and keeps the one whose recorded code still hashes the same. Files: ``meta.json`` (config, key
parts, executed code, checksums, versions, numerics, timings), ``epochs.csv``, ``steps.csv``, ``result.json`` (confusion matrix, divergence)
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
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from .config import RunConfig
from .profiles import Profile

CACHE_FORMAT = 2  # 2: entries keyed by the code each run executed (executed_code)


class CorruptEntry(RuntimeError):
    """A cache entry whose files do not match their recorded checksums."""


class CacheUnavailable(ValueError):
    """The cache folder cannot be read or written (a file in its place, no permission)."""


def cache_root() -> Path:
    """``SVHN_DEBUG_CACHE`` or (unset or empty) the project's ``cache/`` folder."""
    from .data import repo_root

    return Path(os.environ.get("SVHN_DEBUG_CACHE") or repo_root() / "cache")


def key_parts(config: RunConfig, profile: Profile, data_fingerprint: str) -> dict[str, Any]:
    """What a run's key covers before it runs (the seed is a config field); the code it
    executed completes the key once it has run."""
    return {"format": CACHE_FORMAT, "config": config.to_dict(), "profile": profile.to_dict(),
            "data": data_fingerprint}


def cache_key(parts: dict[str, Any]) -> str:
    """Short hash of the key parts: the first half of an entry's folder name."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def entry_name(key: str, executed: dict[str, str]) -> str:
    """Folder name of an entry: ``<key>-<hash of the executed code's record>``."""
    from .executed_code import record_digest

    return f"{key}-{record_digest(executed)}"


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


def entry_dir(profile: Profile, name: str) -> Path:
    return cache_root() / profile.name / name


def profile_folder(profile: Profile) -> Path | None:
    """The profile's folder of the cache, ``None`` when it does not exist yet.

    Raises:
        CacheUnavailable: the cache or the profile's folder is not a readable folder.
    """
    root = cache_root()
    folder = root / profile.name
    for path in (root, folder):
        if path.exists() and not path.is_dir():
            raise CacheUnavailable(f"the cache location {path} is a file, not a folder; "
                                   f"move it away or set SVHN_DEBUG_CACHE to a folder")
    if not folder.exists():
        return None
    if not os.access(folder, os.R_OK | os.X_OK):
        raise CacheUnavailable(f"the cache folder {folder} cannot be read (permissions)")
    return folder


def check_writable(profile: Profile) -> Path:
    """Make sure an entry can be saved for ``profile`` before anything trains; its folder back.

    Raises:
        CacheUnavailable: with the reason and what to do.
    """
    profile_folder(profile)
    folder = cache_root() / profile.name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=".probe.", dir=folder))
    except OSError as err:
        raise CacheUnavailable(f"the cache folder {folder} cannot be written ({err.strerror or err}); "
                               f"fix its permissions or set SVHN_DEBUG_CACHE to a writable folder") from None
    return folder


def recover(folder: Path, key: str) -> None:
    """Finish a replacement that a crash interrupted: an entry moved aside by ``save(...,
    replace=True)`` goes back into place when no new entry took it; otherwise it is removed."""
    for aside in folder.glob(f".old.{key}-*"):
        name = aside.name[len(".old."):].rsplit(".", 1)[0]
        try:
            if (aside / "entry").is_dir() and not (folder / name).exists():
                os.rename(aside / "entry", folder / name)
            shutil.rmtree(aside)
        except OSError:
            pass  # another process is recovering it, or it is still being written


def candidates(profile: Profile, key: str) -> list[Path]:
    """Entries of ``key`` (one per version of the code it executed), newest first."""
    folder = profile_folder(profile)
    if folder:
        recover(folder, key)
    found = []
    for path in folder.glob(f"{key}-*") if folder else []:
        try:
            found.append((path.stat().st_mtime, path))
        except OSError:
            continue  # gone since the listing (another process is replacing it)
    return [path for _, path in sorted(found, reverse=True) if path.is_dir()]


def read_meta(folder: Path) -> dict[str, Any]:
    """An entry's ``meta.json``, checked against ``meta.sha256``; :class:`CorruptEntry` when
    either is missing, unreadable or they disagree (an edited seed or learning rate included)."""
    try:
        raw = (folder / "meta.json").read_bytes()
        if (folder / "meta.sha256").read_text().strip() != _sha(raw):
            raise CorruptEntry(f"{folder / 'meta.json'}: checksum mismatch")
        meta = json.loads(raw)
        meta["key_parts"], meta["checksums"], meta["executed_code"]  # noqa: B018 (must be there)
        return meta
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CorruptEntry(f"{folder}: unreadable metadata ({type(err).__name__}: {err})") from None


def save(result, parts: dict[str, Any], executed: dict[str, str], name: str, profile: Profile,
         replace: bool = False) -> Path:
    """Write ``result`` (a :class:`~svhn_debug.training.RunResult`) atomically; return its folder.

    Args:
        result: The run.
        parts: Its :func:`key_parts`.
        executed: The code it executed (:class:`~svhn_debug.executed_code.ExecutedCode`'s record).
        name: The experiment's name (for ``status`` and people reading the folder).
        profile: The budget it ran on.
        replace: Replace an existing entry of the same key and code (``run --force``); the old
            one stays in place until the new one is complete.

    When another process finished the same entry first and ``replace`` is off, its entry is kept
    (both are identical runs) and this one is discarded: nothing is lost either way.
    """
    key = cache_key(parts)
    target = entry_dir(profile, entry_name(key, executed))
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
    meta = {"name": name, "key": key, "key_parts": parts, "executed_code": executed, "profile": result.profile,
            "seed": result.seed, "checksums": {fname: _sha(data) for fname, data in files.items()}, **result.meta}
    files["meta.json"] = json.dumps(meta, indent=1, sort_keys=True).encode()
    files["meta.sha256"] = (_sha(files["meta.json"]) + "\n").encode()
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=target.parent))
    old = None
    try:
        for fname, data in files.items():
            (tmp / fname).write_bytes(data)
        if replace and target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".old.{target.name}.", dir=target.parent))
            try:
                os.rename(target, old / "entry")  # the new entry is complete before the old one moves
            except FileNotFoundError:
                pass  # another writer moved it first
        for attempt in range(20):
            try:
                os.rename(tmp, target)  # atomic; fails if the target exists
                break
            except OSError:
                if target.exists():
                    shutil.rmtree(tmp)  # another process won the race with an identical run
                    break
                if attempt == 19:
                    raise
                # The target vanished between the two calls: another writer is replacing it. Again.
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            if target.exists():
                shutil.rmtree(old, ignore_errors=True)
            elif (old / "entry").exists():
                try:
                    os.rename(old / "entry", target)  # the new one failed: put the old one back
                except OSError:
                    pass  # another writer's complete entry took the place meanwhile
                shutil.rmtree(old, ignore_errors=True)
    return target


def load(folder: Path):
    """The cached :class:`RunResult` in ``folder``, ``None`` if absent.

    Raises:
        CorruptEntry: a file is missing or does not match its checksum.
    """
    from .training import RunResult

    if not folder.is_dir():
        return None
    meta = read_meta(folder)
    try:
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
    run_meta = {k: v for k, v in meta.items()
                if k not in ("key_parts", "checksums", "name", "key", "profile", "seed", "executed_code")}
    return RunResult(config=meta["key_parts"]["config"], profile=meta["profile"], seed=meta["seed"],
                     steps=_read_csv(data["steps.csv"]), epochs=_read_csv(data["epochs.csv"]),
                     confusion=extra["confusion"], diverged_at=extra["diverged_at"], cockpit=cockpit,
                     meta={**run_meta, "cache_dir": str(folder), "name": meta["name"]})


def verify(folder: Path) -> dict[str, Any]:
    """Check every file of an entry against its checksum; its metadata back.

    Raises:
        CorruptEntry: a file is missing or does not match.
    """
    meta = read_meta(folder)
    for fname, digest in meta["checksums"].items():
        try:
            raw = (folder / fname).read_bytes()
        except OSError as err:
            raise CorruptEntry(f"{folder / fname}: unreadable ({type(err).__name__})") from None
        if _sha(raw) != digest:
            raise CorruptEntry(f"{folder / fname}: checksum mismatch")
    return meta


def discard(folder: Path) -> None:
    """Remove an entry (a corrupt one, before recomputing it)."""
    shutil.rmtree(folder, ignore_errors=True)


def entries(profile: Profile) -> list[dict[str, Any]]:
    """Metadata of every entry of ``profile`` (unreadable ones are skipped with a warning)."""
    out = []
    folder = profile_folder(profile)
    for meta_path in sorted(folder.glob("*/meta.json")) if folder else []:
        if not is_entry_name(meta_path.parent.name):
            continue  # a save's temporary folder, or something that is not an entry
        try:
            meta = json.loads(meta_path.read_text())
            if not isinstance(meta, dict):
                raise ValueError(f"a JSON {type(meta).__name__}, not an object")
            out.append({**meta, "folder": meta_path.parent.name})
        except (OSError, ValueError) as err:
            warnings.warn(f"unreadable cache metadata {meta_path}: {err}")
    return out


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` atomically: a crash leaves the old file or the new
    one, never half of one (saved diagnoses, benchmark results); a failed write (a full or
    read-only file system) leaves no temporary file and raises the ``OSError``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


_ENTRY_NAME = re.compile(r"[0-9a-f]{20}-[0-9a-f]{12}")
_TEMPORARY_NAME = re.compile(r"\.(old\.)?[0-9a-f]{20}[.-].*|\.probe\..*")


def is_entry_name(name: str) -> bool:
    """Whether ``name`` is shaped like an entry's folder: ``<key>-<code>`` (20 and 12 hex digits)."""
    return _ENTRY_NAME.fullmatch(name) is not None


def prunable(profile: Profile, keep: set[str], older_than: float = 600.0) -> list[Path]:
    """What ``prune`` may delete in ``profile``'s folder: entries (recognisably named, with a
    ``meta.json`` that is a JSON object with the entry's key parts) not in ``keep``, and
    temporary folders of saves (``.<key>.*``, ``.old.<entry>.*``, ``.probe.*``) untouched for
    ``older_than`` seconds (a live save finishes in well under a second). Nothing else: a folder
    of notes put there stays."""
    import time

    folder = profile_folder(profile)
    found = []
    for path in sorted(folder.iterdir()) if folder else []:
        if not path.is_dir() or path.is_symlink():
            continue
        if _TEMPORARY_NAME.fullmatch(path.name):
            try:
                if time.time() - path.stat().st_mtime > older_than:
                    found.append(path)
            except OSError:
                pass  # gone meanwhile
            continue
        if not is_entry_name(path.name) or path.name in keep:
            continue
        try:
            meta = json.loads((path / "meta.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and isinstance(meta.get("key_parts"), dict) and meta.get("key") == path.name[:20]:
            found.append(path)
    return found


def bench_path(bench: str, profile_name: str) -> Path:
    """Where ``bench/<bench>.py`` keeps its last result for a profile (beside the runs)."""
    return cache_root() / "bench" / f"{bench}-{profile_name}.json"

