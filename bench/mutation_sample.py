"""A random sample of mutmut's mutants, declared before any runs, and its score with an interval.

Making mutants is cheap; testing them is not on two cores (about six hours for every mutant of
``checks``, several for ``runner``). A sample drawn before any mutant runs estimates the share of
all mutants the tests kill, and the interval says how far that estimate can be trusted.

``draw`` reads the mutants mutmut generated (``mutants/**/*.py.meta`` in mutmut's worktree) and
prints, one per line, ``--per-module`` names drawn from each module's mutants that match the
patterns, with ``random.Random(seed).sample`` over the module's sorted names (all of them when a
module has fewer). ``score`` reads the same files after ``mutmut run NAMES...`` and prints, per
module and for the sample as a whole, how many were killed (a timeout counts as killed: the mutant
changed behaviour a test noticed), survived, had no test or were not run, and the killed share
among those that ran with its exact 95% interval (Clopper-Pearson, ``scipy.stats.binomtest``).
Survivors still need a person: each is either equivalent or a missing test.

Usage (``make mutants MUTANT_SAMPLE=30`` runs both):
    python bench/mutation_sample.py draw --per-module 30 --seed 20261203 'svhn_debug.cache*' > sample.txt
    python bench/mutation_sample.py score --names sample.txt
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import random
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code
from scipy.stats import binomtest

KILLED = ("killed", "timeout")  # mutmut's statuses that mean a test noticed the mutant


def module_of(name: str) -> str:
    """The module a mutant belongs to: ``svhn_debug.cache`` for ``svhn_debug.cache.x_save__mutmut_3``."""
    return name.rsplit(".", 1)[0]


def exit_codes(mutants: Path) -> dict[str, dict[str, int | None]]:
    """Every module's mutants and their exit codes (``None``: not run yet), from mutmut's files."""
    found = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if codes:
            found[module_of(next(iter(codes)))] = codes
    if not found:
        raise SystemExit(f"error: no mutants under {mutants}: run mutmut in this folder first (make mutants)")
    return found


def matching(codes: dict[str, dict[str, int | None]], patterns: list[str]) -> dict[str, list[str]]:
    """Each module's mutant names that match one of ``patterns`` (fnmatch), sorted; modules without any
    left out."""
    chosen = {}
    for module, names in codes.items():
        hits = sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))
        if hits:
            chosen[module] = hits
    if not chosen:
        raise SystemExit(f"error: no mutant matches {' '.join(patterns)}")
    return chosen


def draw(names: dict[str, list[str]], per_module: int, seed: int) -> list[str]:
    """``per_module`` names of each module (all when it has fewer), drawn with a generator seeded
    afresh for every module, so one module's draw does not depend on which others were asked for."""
    if per_module < 1:
        raise SystemExit(f"error: --per-module must be at least 1, got {per_module}")
    sample = []
    for module in sorted(names):
        pool = sorted(names[module])
        sample += pool if per_module >= len(pool) else random.Random(seed).sample(pool, per_module)
    return sample


def score(codes: dict[str, dict[str, int | None]], sample: list[str]) -> dict[str, dict]:
    """Per module (and ``"all"``): the sample's statuses, killed among those run, and the interval."""
    by_module: dict[str, Counter] = {}
    for name in sample:
        module = module_of(name)
        if name not in codes.get(module, {}):
            raise SystemExit(f"error: {name} is not a mutant of this worktree (drawn from another version?)")
        by_module.setdefault(module, Counter())[status_by_exit_code[codes[module][name]]] += 1
    by_module["all"] = sum(by_module.values(), Counter())
    report = {}
    for module, counts in by_module.items():
        ran = sum(counts.values()) - counts["not checked"]
        killed = sum(counts[s] for s in KILLED)
        low, high = binomtest(killed, ran).proportion_ci(0.95, method="exact") if ran else (float("nan"),) * 2
        report[module] = {"drawn": sum(counts.values()), "ran": ran, "killed": killed,
                          "statuses": dict(sorted(counts.items())), "ci95": [low, high]}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's folder (default: mutants)")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("draw", help="print a sample of mutant names, one per line")
    d.add_argument("patterns", nargs="+", help="mutant names or patterns, as mutmut takes them")
    d.add_argument("--per-module", type=int, required=True)
    d.add_argument("--seed", type=int, required=True, help="declared before the draw")
    s = sub.add_parser("score", help="the sample's score, once mutmut ran it")
    s.add_argument("--names", type=Path, required=True, help="the file draw wrote")
    s.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    codes = exit_codes(args.mutants)
    if args.command == "draw":
        print("\n".join(draw(matching(codes, args.patterns), args.per_module, args.seed)))
        return 0
    sample = args.names.read_text().split()
    report = score(codes, sample)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    for module, r in report.items():
        low, high = r["ci95"]
        share = f"{r['killed'] / r['ran']:.1%} killed (95% interval {low:.1%} to {high:.1%})" if r["ran"] else "none ran"
        statuses = ", ".join(f"{n} {s}" for s, n in r["statuses"].items())
        print(f"{module}: {r['killed']} of {r['ran']} run: {share}; drawn {r['drawn']}: {statuses}")
    survivors = [n for n in sample if status_by_exit_code[codes[module_of(n)][n]] in ("survived", "no tests")]
    if survivors:
        print("survived or untested (equivalent, or a test to write; mutmut show NAME):", *survivors, sep="\n  ")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as the package's commands do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
