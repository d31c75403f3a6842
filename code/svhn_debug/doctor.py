"""The health checks (:mod:`svhn_debug.checks`) on a registered experiment: ``python -m svhn_debug doctor NAME``.

A doctor's run trains the experiment's configuration exactly as configured (its seed field: 0
unless the experiment changes it), with a monitor attached from outside through PyTorch's global
hooks (the loop is not changed), stops after ``steps``
optimizer steps, and checks the experiment's splits and its evaluation transform. A saved
diagnosis (``--save``) is a JSON file under ``cache/doctor/<profile>/``, keyed like a run by the
configuration, profile, data and the code the diagnosis executed, so the book reads it without
training and a change to that code makes it stale.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from . import cache, runner
from .checks import GlobalAttach, check_eval_transforms, check_splits
from .executed_code import ExecutedCode, SourceIndex
from .profiles import Profile, active_profile


class _Enough(Exception):
    """Raised from the progress callback to end a doctor's run after its steps."""


class MissingDiagnosis(LookupError):
    """No saved diagnosis for this experiment (or a stale one); the message says how to make it."""


def diagnose(name: str, profile: Profile | None = None, steps: int | None = None) -> dict[str, Any]:
    """Run experiment ``name``'s configuration under the monitor for ``steps`` optimizer steps
    (default: one epoch; 0: the whole run) and check its data.

    Returns:
        ``{"name", "seed", "steps", "steps_per_epoch", "seconds", "findings": [...],
        "data_findings": [...], "executed_code", "key"}``.
    """
    from .data import PILDataset, make_splits, pil_transform
    from .training import train

    profile = profile or active_profile()
    config = runner.get(name).config
    pools = runner.pools(profile)
    limit, steps_per_epoch = _limit(config, profile, pools, steps)

    def stop(step: int, total: int, last: dict) -> None:
        if limit and step >= limit:
            raise _Enough

    started = time.time()
    with ExecutedCode() as executed:
        with GlobalAttach() as attach:
            try:
                train(config, profile, pools, progress=stop)
            except _Enough:
                pass
            findings = attach.findings()
        splits = make_splits(pools, profile, config)
        data_findings = check_splits(splits["train"].images, {"validation": splits["validation"].images,
                                                              "test": splits["test"].images})
        for split in ("validation", "test"):
            data_findings += check_eval_transforms(PILDataset(splits[split], pil_transform(config.eval_transform, None, None)),
                                                   name=split)
    return {"name": name, "seed": config.seed, "steps": limit or None, "steps_per_epoch": steps_per_epoch,
            "seconds": time.time() - started, "findings": [f.to_dict() for f in findings],
            "data_findings": [f.to_dict() for f in data_findings], "executed_code": executed.record,
            "key": _key(config, profile, pools, limit)}


def _limit(config, profile: Profile, pools, steps: int | None) -> tuple[int, int]:
    """Steps a doctor's run makes (0: the whole run) and the steps of one epoch."""
    from .data import make_splits

    steps_per_epoch = -(-len(make_splits(pools, profile, config)["train"].labels) // config.batch_size)
    limit = steps_per_epoch if steps is None else steps
    if limit < 0:
        raise ValueError(f"steps must be 0 (the whole run) or more, got {steps}")
    return limit, steps_per_epoch


def _key(config, profile: Profile, pools, limit: int) -> str:
    return cache.cache_key({**cache.key_parts(config, profile, pools.fingerprint), "doctor_steps": limit})


def _path(name: str, profile: Profile) -> Path:
    return cache.cache_root() / "doctor" / profile.name / f"{name}.json"  # outside the profile's run entries


def save(diagnosis: dict, profile: Profile | None = None) -> Path:
    """Write a diagnosis atomically (a crash leaves the old file or the new one, never half)."""
    return cache.write_json(_path(diagnosis["name"], profile or active_profile()), diagnosis)


def saved(name: str, steps: int | None = None, profile: Profile | None = None) -> dict[str, Any]:
    """The saved diagnosis of ``name`` made with ``steps`` (as :func:`diagnose`); never trains.

    Raises:
        MissingDiagnosis: none saved, or it no longer matches the configuration, data or code.
    """
    profile = profile or active_profile()
    path = _path(name, profile)
    command = f"python -m svhn_debug doctor {name}{'' if steps is None else f' --steps {steps}'} --save"
    if not path.is_file():
        raise MissingDiagnosis(f"no saved diagnosis of {name!r} for profile {profile.name}; run `{command}`")
    try:
        d = json.loads(path.read_text())
    except ValueError as err:
        raise MissingDiagnosis(f"the saved diagnosis of {name!r} is damaged ({err}); run `{command}`") from None
    config = runner.get(name).config
    pools = runner.pools(profile)
    if d.get("key") != _key(config, profile, pools, _limit(config, profile, pools, steps)[0]):
        raise MissingDiagnosis(f"the saved diagnosis of {name!r} was made for another configuration, data or step "
                               f"count; run `{command}`")
    changed = SourceIndex().changed(d.get("executed_code", {}))
    if changed:
        raise MissingDiagnosis(f"the saved diagnosis of {name!r} is stale (code changed: {', '.join(changed)}); "
                               f"run `{command}`")
    return d


# --------------------------------------------------------------------------- the book's diagnoses


def book_diagnoses(profile: Profile | None = None) -> list[str]:
    """The experiments whose saved whole-run diagnoses the book reads: ``logbook.DIAGNOSED``
    and the adopted recipe (derived from the decisions, so known only once those runs are cached)."""
    from . import report
    from .logbook import DIAGNOSED

    book = runner.book()
    try:
        names = DIAGNOSED + [report.final_recipe()]
    except (runner.MissingRun, KeyError):
        names = list(DIAGNOSED)
    return [n for n in dict.fromkeys(names) if n in book]  # a registry without the book's experiments has none


def states(profile: Profile | None = None) -> list[dict[str, Any]]:
    """Every diagnosis of :func:`book_diagnoses`: ``{"name", "state": "cached" | "missing",
    "reasons"}``, a missing one (absent, damaged, stale, or made for another configuration)
    with the reason and the command that makes it."""
    rows = []
    for name in book_diagnoses(profile):
        try:
            saved(name, steps=0, profile=profile)
            rows.append({"name": name, "state": "cached", "reasons": []})
        except MissingDiagnosis as err:
            rows.append({"name": name, "state": "missing", "reasons": [str(err)]})
    return rows


def plan(profile: Profile | None = None, force: bool = False) -> list["runner.Job"]:
    """Jobs (kind ``diagnosis``) for the book's diagnoses that are missing (all with ``force``)."""
    from .data import data_dir, data_source

    profile = profile or active_profile()
    return [runner.Job(row["name"], runner.get(row["name"]).config, profile.name, data_source(),
                       str(cache.cache_root()), str(data_dir()), force, kind="diagnosis")
            for row in states(profile) if force or row["state"] != "cached"]


def compute_saved(name: str, profile: Profile) -> dict[str, Any]:
    """Diagnose ``name`` over its whole run and save it; what a diagnosis job does."""
    d = diagnose(name, profile, steps=0)
    path = save(d, profile)
    return {**d, "path": str(path)}

