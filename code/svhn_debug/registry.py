"""The mechanism of experiments: a named diff of a parent configuration, and a registry of them.

This module holds no experiments. The book's experiments are data in :mod:`svhn_debug.logbook`;
how runs are computed, cached and reported is in :mod:`svhn_debug.runner`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import Any, Iterator

from .config import COLLEAGUE, RunConfig, config_diff, format_changes


@dataclass(frozen=True)
class Experiment:
    """One experiment: a parent, the fields it changes, and why."""

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


class UnknownExperiment(KeyError):
    """No experiment of that name; the message suggests close matches."""

    def __str__(self) -> str:
        return self.args[0]


class Registry:
    """Experiments by name, each a diff of a registered parent or of ``root``.

    Args:
        root: The configuration an experiment without a parent starts from.
    """

    def __init__(self, root: RunConfig = COLLEAGUE) -> None:
        self.root = root
        self._experiments: dict[str, Experiment] = {}

    def register(self, name: str, parent: str | None, question: str, seeds: tuple[int, ...] = (0,),
                 **changes) -> Experiment:
        """Register ``name`` as ``parent``'s config with ``changes`` applied (``None``: ``root``'s)."""
        if name in self._experiments:
            raise ValueError(f"experiment {name!r} is registered twice")
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"experiment {name!r}: seeds must be distinct and at least one, got {seeds!r}")
        base = self.get(parent).config if parent else self.root
        exp = Experiment(name, parent, tuple(changes.items()), question, tuple(seeds), replace(base, **changes))
        self._experiments[name] = exp
        return exp

    def get(self, name: str) -> Experiment:
        """The experiment called ``name``; :class:`UnknownExperiment` with suggestions otherwise."""
        try:
            return self._experiments[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._experiments, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else "; `python -m svhn_debug list` shows them all"
            raise UnknownExperiment(f"unknown experiment {name!r}{hint}") from None

    def __iter__(self) -> Iterator[Experiment]:
        return iter(self._experiments.values())

    def __len__(self) -> int:
        return len(self._experiments)

    def __contains__(self, name: object) -> bool:
        return name in self._experiments

    def names(self) -> list[str]:
        return list(self._experiments)

    def lineage(self, name: str) -> list[Experiment]:
        """The chain from the root experiment down to ``name``."""
        chain = [self.get(name)]
        while chain[-1].parent:
            chain.append(self.get(chain[-1].parent))
        return chain[::-1]

    def diff_from_root(self, name: str) -> dict[str, tuple[Any, Any]]:
        """All fields in which ``name`` differs from ``root``."""
        return config_diff(self.root, self.get(name).config)
