"""The experiment registry and the cached way to get an experiment's results.

Every experiment is a named diff of a parent: ``register("zero-grad", "colleague-lean",
zero_grad=True)``. The book and the CLI ask :func:`results` for runs; it returns cached ones and
trains only what is missing or stale.
"""

from __future__ import annotations

import difflib
import functools
import sys
import warnings
from dataclasses import dataclass, replace
from typing import Any

from . import cache
from .config import COLLEAGUE, RunConfig, config_diff, format_changes
from .profiles import Profile, active_profile


@dataclass(frozen=True)
class Experiment:
    """One registered experiment: a parent, the fields it changes, and why."""

    name: str
    parent: str | None
    changes: tuple[tuple[str, Any], ...]  # the scientific variable(s), as (field, value)
    question: str
    seeds: tuple[int, ...]  # the noise: one run per seed
    config: RunConfig

    @property
    def changes_text(self) -> str:
        return format_changes(dict(self.changes))

    def seed_configs(self) -> list[RunConfig]:
        return [replace(self.config, seed=s) for s in self.seeds]


REGISTRY: dict[str, Experiment] = {}


class UnknownExperiment(KeyError):
    """No experiment of that name; the message suggests close matches."""

    def __str__(self) -> str:
        return self.args[0]


def register(name: str, parent: str | None, question: str, seeds: tuple[int, ...] = (0,), **changes) -> Experiment:
    """Register ``name`` as ``parent``'s config with ``changes`` applied (``None``: the colleague's)."""
    if name in REGISTRY:
        raise ValueError(f"experiment {name!r} is registered twice")
    base = get(parent).config if parent else COLLEAGUE
    exp = Experiment(name, parent, tuple(changes.items()), question, tuple(seeds), replace(base, **changes))
    REGISTRY[name] = exp
    return exp


def get(name: str) -> Experiment:
    """The experiment called ``name``; :class:`UnknownExperiment` with suggestions otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, REGISTRY, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `python -m svhn_debug list` shows them all"
        raise UnknownExperiment(f"unknown experiment {name!r}{hint}") from None


def lineage(name: str) -> list[Experiment]:
    """The chain from the root experiment down to ``name``."""
    chain = [get(name)]
    while chain[-1].parent:
        chain.append(get(chain[-1].parent))
    return chain[::-1]


def diff_from_colleague(name: str) -> dict[str, tuple[Any, Any]]:
    """All fields in which ``name`` differs from the colleague's notebook."""
    return config_diff(COLLEAGUE, get(name).config)


# --------------------------------------------------------------------------- running


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


@functools.lru_cache(maxsize=4)
def _pools(profile: Profile, source: str):
    from .data import load_pools

    return load_pools(profile, source)


def pools(profile: Profile | None = None):
    """The data pools of the active profile and data source (loaded once per process)."""
    from .data import data_source

    return _pools(profile or active_profile(), data_source())


def batches_of(name: str, profile: Profile | None = None) -> dict:
    """Splits and batch sources exactly as experiment ``name`` sees them (on the CPU).

    Returns:
        ``{"splits": {split: Split}, "batches": {split: batch source}}``; the training
        evaluation source is under ``batches["train_eval"]``.
    """
    import torch

    from .data import build_batches, make_splits

    profile = profile or active_profile()
    cfg = get(name).config
    splits = make_splits(pools(profile), profile, cfg)
    return {"splits": splits, "batches": build_batches(splits, cfg, torch.device("cpu"))}


def run_config(config: RunConfig, name: str, profile: Profile | None = None, force: bool = False,
               progress: bool = True, pools=None):
    """Result of ``config`` from the cache, or trained (and cached) when missing, stale or corrupt."""
    from .data import data_fingerprint
    from .training import train

    profile = profile or active_profile()
    parts = cache.key_parts(config, profile, pools.fingerprint if pools else data_fingerprint(profile))
    key = cache.cache_key(parts)
    if force:
        cache.discard(profile, key)
    else:
        try:
            hit = cache.load(profile, key)
        except cache.CorruptEntry as err:
            warnings.warn(f"corrupt cache entry, recomputing: {err}")
            cache.discard(profile, key)
            hit = None
        if hit is not None:
            return hit
    update, state = _progress_bar(f"{name} (seed {config.seed})") if progress else (None, {})
    try:
        result = train(config, profile, pools, progress=update)
    finally:
        if "bar" in state:
            state["bar"].close()
    cache.save(result, parts, name, profile)
    return cache.load(profile, key)


def results(name: str, profile: Profile | None = None, force: bool = False, progress: bool = True) -> list:
    """One :class:`RunResult` per seed of experiment ``name`` (cached or computed now)."""
    exp = get(name)
    return [run_config(cfg, name, profile, force, progress) for cfg in exp.seed_configs()]


def cached_results(name: str, profile: Profile | None = None) -> list | None:
    """The cached results of every seed of ``name``, or ``None`` if any is missing (never trains)."""
    from .data import data_fingerprint

    profile = profile or active_profile()
    fp = data_fingerprint(profile)
    out = []
    for cfg in get(name).seed_configs():
        try:
            hit = cache.load(profile, cache.cache_key(cache.key_parts(cfg, profile, fp)))
        except cache.CorruptEntry:
            hit = None
        if hit is None:
            return None
        out.append(hit)
    return out


def result(name: str, profile: Profile | None = None) -> Any:
    """The first seed's result of ``name``."""
    return results(name, profile)[0]


def status(profile: Profile | None = None) -> list[dict[str, Any]]:
    """For every registered run: ``cached``, ``missing``, ``stale`` (an older entry exists for
    this name and seed, under another key) or ``corrupt``."""
    from .data import data_fingerprint

    profile = profile or active_profile()
    fp = data_fingerprint(profile)
    known = {(m.get("name"), m.get("seed")) for m in cache.entries(profile)}
    rows = []
    for exp in REGISTRY.values():
        for cfg in exp.seed_configs():
            key = cache.cache_key(cache.key_parts(cfg, profile, fp))
            try:
                state = "cached" if cache.load(profile, key) is not None else (
                    "stale" if (exp.name, cfg.seed) in known else "missing")
            except cache.CorruptEntry:
                state = "corrupt"
            rows.append({"name": exp.name, "seed": cfg.seed, "state": state, "key": key})
    return rows


def referenced_keys(profile: Profile | None = None) -> set[str]:
    """Cache keys of every registered run under ``profile`` (the rest may be pruned)."""
    return {row["key"] for row in status(profile)}


# The registry itself lives in one module so that the book, the CLI and the tests see the same.
from . import registry  # noqa: E402,F401  (registers every experiment)
