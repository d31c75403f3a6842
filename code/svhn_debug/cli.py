"""Command line: ``python -m svhn_debug {list,run,run-all,status,show,prune}``."""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from . import cache, experiments
from .config import ConfigError
from .data import DataUnavailable
from .profiles import active_profile


def _cmd_list(args) -> int:
    width = max(len(n) for n in experiments.REGISTRY)
    for exp in experiments.REGISTRY.values():
        seeds = f" seeds={list(exp.seeds)}" if len(exp.seeds) > 1 else ""
        print(f"{exp.name:<{width}}  <- {exp.parent or '(colleague notebook)'}: {exp.changes_text}{seeds}")
    return 0


def _cmd_run(args) -> int:
    names = list(experiments.REGISTRY) if args.all else args.names
    for name in names:
        experiments.get(name)  # fail early on a typo, before training anything
    profile = active_profile()
    for i, name in enumerate(names, 1):
        print(f"[{i}/{len(names)}] {name}", file=sys.stderr)
        for res in experiments.results(name, profile, force=args.force):
            acc = res.final("test_accuracy")
            print(f"  seed {res.seed}: test accuracy {acc if acc is None else f'{acc:.4f}'}"
                  f"{'  (diverged at step %d)' % res.diverged_at if res.diverged_at is not None else ''}"
                  f"  [{res.meta['seconds']:.0f} s when computed]")
    return 0


def _cmd_status(args) -> int:
    rows = experiments.status()
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['state']:<8} {r['name']:<{width}} seed {r['seed']}  {r['key']}")
    counts = {s: sum(r["state"] == s for r in rows) for s in ("cached", "missing", "stale", "corrupt")}
    print(f"profile {active_profile().name}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    if args.check and any(r["state"] != "cached" for r in rows):
        return 1
    return 0


def _cmd_show(args) -> int:
    exp = experiments.get(args.name)
    runs = experiments.cached_results(exp.name)
    if runs is None:
        print(f"error: {exp.name} is not cached for profile {active_profile().name}; "
              f"run `python -m svhn_debug run {exp.name}` first", file=sys.stderr)
        return 1
    for res in runs:
        if args.json:
            print(json.dumps({"name": exp.name, "seed": res.seed, "epochs": res.epochs}, indent=1))
        else:
            print(f"{exp.name} (seed {res.seed}) <- {exp.parent}: {exp.changes_text}")
            print(res.epochs_df.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def _cmd_prune(args) -> int:
    profile = active_profile()
    keep = experiments.referenced_keys(profile)
    folder = cache.cache_root() / profile.name
    removed = 0
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        if entry.is_dir() and entry.name not in keep:
            print(f"{'would remove' if args.dry_run else 'removing'} {entry}")
            if not args.dry_run:
                shutil.rmtree(entry)
            removed += 1
    print(f"{removed} unreferenced entr{'y' if removed == 1 else 'ies'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m svhn_debug", description=__doc__.split(":")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="registered experiments with their parent and diff").set_defaults(func=_cmd_list)
    run = sub.add_parser("run", help="run (or load from the cache) the named experiments")
    run.add_argument("names", nargs="+")
    run.add_argument("--force", action="store_true", help="recompute even when cached")
    run.set_defaults(func=_cmd_run, all=False)
    run_all = sub.add_parser("run-all", help="every registered experiment")
    run_all.add_argument("--force", action="store_true")
    run_all.set_defaults(func=_cmd_run, all=True, names=[])
    status = sub.add_parser("status", help="cached, missing or stale, for the active profile")
    status.add_argument("--check", action="store_true", help="exit 1 if anything is missing or stale")
    status.set_defaults(func=_cmd_status)
    show = sub.add_parser("show", help="per-epoch metrics of one experiment")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_cmd_show)
    prune = sub.add_parser("prune", help="remove cache entries no registered experiment uses")
    prune.add_argument("--dry-run", action="store_true")
    prune.set_defaults(func=_cmd_prune)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (experiments.UnknownExperiment, ConfigError, DataUnavailable, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are cached, the unfinished one left nothing behind", file=sys.stderr)
        return 130
