"""Shared fixtures: the smoke profile, its data, a temporary cache, tiny configurations."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from svhn_debug.config import COLLEAGUE
from svhn_debug.data import load_pools
from svhn_debug.profiles import get_profile


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """Every test uses the smoke profile and a throwaway cache, never the committed one."""
    monkeypatch.setenv("SVHN_DEBUG_PROFILE", "smoke")
    monkeypatch.setenv("SVHN_DEBUG_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SVHN_DEBUG_DATA", raising=False)
    # parsed sources are cached per process; under mutmut (which forks every mutant's test run from
    # a process that has parsed them already) each test parses afresh, or a mutant of the parser
    # would never run
    if os.environ.get("MUTANT_UNDER_TEST"):
        from svhn_debug.executed_code import parsed
        parsed.cache_clear()
        # tests that start `python -m svhn_debug...` would import the installed package, not the
        # mutant: put the package this process imported first on the subprocesses' path
        import svhn_debug
        package_root = os.path.dirname(os.path.dirname(svhn_debug.__file__))
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
            p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p))


@pytest.fixture(scope="session")
def smoke():
    return get_profile("smoke")


@pytest.fixture(scope="session")
def pools(smoke):
    return load_pools(smoke, progress=False)


@pytest.fixture
def tiny():
    """A quick sound configuration: a quarter-width CNN, no Cockpit, tensor pipeline."""
    return replace(COLLEAGUE, width=0.25, pipeline="tensor", cockpit="off", zero_grad=True, lr=1e-3,
                   scheduler="constant", split="sound", train_transform="none", eval_transform="none",
                   per_example_losses=False)


@pytest.fixture
def register_tiny(monkeypatch, tiny):
    """An empty registry in place of the book's, and a function that registers experiments as
    diffs of ``tiny``."""
    from svhn_debug import logbook
    from svhn_debug.registry import Registry

    registry = Registry(root=tiny)
    monkeypatch.setattr(logbook, "BOOK", registry)

    def register(name, parent=None, **changes):
        return registry.register(name, parent, "?", **changes)
    return register
