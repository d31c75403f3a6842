"""Command line: ``python -m svhn_debug {list,run,run-all,status,show,prune,doctor,report}``."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import warnings

from . import cache, runner
from .config import ConfigError
from .data import DataUnavailable
from .executed_code import SourceChanged
from .profiles import active_profile
from .registry import UnknownExperiment


def _cmd_list(args) -> int:
    book = runner.book()
    width = max(len(n) for n in book.names())
    for exp in book:
        seeds = f" seeds={list(exp.seeds)}" if len(exp.seeds) > 1 else ""
        print(f"{exp.name:<{width}}  <- {exp.parent or '(colleague notebook)'}: {exp.changes_text}{seeds}")
    return 0


def _slurm_options(args) -> dict:
    options = {"timeout_min": args.slurm_time}
    if args.slurm_partition:
        options["slurm_partition"] = args.slurm_partition
    for item in args.slurm_option or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--slurm-option takes KEY=VALUE, got {item!r}")
        options[key] = int(value) if value.isdigit() else value
    return options


def _cmd_run(args) -> int:
    book = runner.book()
    names = book.names() if args.all else args.names
    for name in names:
        book.get(name)  # fail early on a typo, before training anything
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    profile = active_profile()
    if args.executor == "slurm" and shutil.which("sbatch") is None:
        raise ValueError("--executor slurm needs a Slurm cluster (no `sbatch` on the PATH here); "
                         "use --executor local, or submitit-local to try the Slurm path without Slurm")
    jobs = runner.plan_jobs(names, profile, force=args.force, seeds=args.seed)
    print(f"{len(jobs)} run(s) to compute for profile {profile.name}"
          + (f" on {args.executor} with --jobs {args.jobs or runner.default_jobs()}" if jobs else ""), file=sys.stderr)
    if jobs:
        runner.pools(profile)  # generate (or check) the data once, before the workers start
    outcomes = runner.execute(jobs, args.jobs, args.executor, _slurm_options(args))
    if args.all:  # the book's saved diagnoses: the adopted recipe among them is known only now
        from . import doctor

        diagnoses = doctor.plan(profile, force=args.force)
        if diagnoses:
            print(f"{len(diagnoses)} diagnos{'i' if len(diagnoses) == 1 else 'e'}s to compute: "
                  + ", ".join(d.name for d in diagnoses), file=sys.stderr)
            outcomes += runner.execute(diagnoses, args.jobs, args.executor, _slurm_options(args))
    failed = [o for o in outcomes if o.error]
    computed = {o.job.name for o in outcomes if not o.error and o.job.kind == "run"}
    if args.all:  # the whole book: only what this call computed (`status` lists the rest)
        names = [n for n in names if n in computed]
        if not jobs:
            print(f"every registered run of profile {profile.name} is cached; nothing to compute", file=sys.stderr)
    for name in names:
        try:
            runs = runner.results(name, profile, seeds=args.seed)
        except runner.MissingRun:
            continue  # its failure is reported below
        for res in runs:
            acc = res.final("test_accuracy")
            print(f"{name} seed {res.seed}: test accuracy {'n/a' if acc is None else f'{acc:.4f}'}"
                  f"{'  (diverged at step %d)' % res.diverged_at if res.diverged_at is not None else ''}"
                  f"  [{res.meta['seconds']:.0f} s when computed]")
    if failed:
        print(f"\n{len(failed)} of {len(outcomes)} run(s) failed:", file=sys.stderr)
        for o in failed:
            what = f"doctor {o.job.name}" if o.job.kind == "diagnosis" else f"{o.job.name} (seed {o.job.config.seed})"
            print(f"--- {what}\n{o.error.rstrip()}", file=sys.stderr)
        return 1
    return 0


def _cmd_status(args) -> int:
    from . import doctor

    rows = runner.status()
    diagnoses = doctor.states()
    profile = active_profile()
    counts = {s: sum(r["state"] == s for r in rows) for s in ("cached", "missing", "stale", "corrupt")}
    compute = runner.compute_seconds(rows)
    if args.json:
        print(json.dumps({"profile": profile.name, "runs": [
            {k: r[k] for k in ("name", "seed", "state", "reasons", "seconds", "folder")} for r in rows],
            "counts": counts, "compute_seconds": compute, "diagnoses": diagnoses}, indent=1))
    else:
        width = max(len(r["name"]) for r in rows)
        for r in (r for r in rows if not args.short or r["state"] != "cached"):
            seconds = f"{r['seconds']:6.0f} s" if r["seconds"] is not None else " " * 8
            why = f"  ({'; '.join(r['reasons'])})" if r["reasons"] else ""
            print(f"{r['state']:<8} {r['name']:<{width}} seed {r['seed']}  {seconds}{why}")
        for d in (d for d in diagnoses if not args.short or d["state"] != "cached"):
            why = f"  ({'; '.join(d['reasons'])})" if d["reasons"] else ""
            print(f"{d['state']:<8} doctor {d['name']}{why}")
        print(f"profile {profile.name}: " + ", ".join(f"{n} {s}" for s, n in counts.items())
              + f"; cached runs took {compute / 60:.1f} min of compute; "
              + f"{sum(d['state'] == 'cached' for d in diagnoses)} of {len(diagnoses)} diagnoses saved")
        if any(r["state"] != "cached" for r in rows) or any(d["state"] != "cached" for d in diagnoses):
            print("`python -m svhn_debug run-all` computes everything missing: the runs, then the diagnoses")
    if args.check and (any(r["state"] != "cached" for r in rows) or any(d["state"] != "cached" for d in diagnoses)):
        return 1
    return 0


def _cmd_show(args) -> int:
    exp = runner.get(args.name)
    try:
        runs = runner.results(exp.name)
    except runner.MissingRun as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:  # one document; strict JSON: a non-finite number (a diverged run's loss) becomes null
        print(json.dumps(_finite({"name": exp.name, "parent": exp.parent, "changes": dict(exp.changes),
                                  "runs": [{"seed": res.seed, "diverged_at": res.diverged_at, "epochs": res.epochs}
                                           for res in runs]}), indent=1, allow_nan=False))
        return 0
    for res in runs:
        ran = (f"; ran {res.meta['epochs_run']} epochs of {res.meta['steps_per_epoch']} steps on profile {res.profile} "
               f"(the configuration's epochs={exp.config.epochs} are full-SVHN epochs)") if "epochs_run" in res.meta else ""
        print(f"{exp.name} (seed {res.seed}) <- {exp.parent}: {exp.changes_text}{ran}")
        if res.epochs:
            print(res.epochs_df.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        if res.diverged_at is not None:
            print(f"DIVERGED at step {res.diverged_at}"
                  + ("" if res.epochs else ", before its first evaluation: no metrics"))
    return 0


def _cmd_prune(args) -> int:
    from .data import data_fingerprint

    profile = active_profile()
    keep = runner.referenced_entries(profile)
    source = data_fingerprint(profile).split(":")[0]
    # Entries made with the other data source are not unreferenced: they belong to another book.
    other = {m["folder"] for m in cache.entries(profile)
             if str(m.get("key_parts", {}).get("data", "")).split(":")[0] not in ("", source)}
    removed = 0
    for entry in cache.prunable(profile, keep | other):
        what = "a save's leftover temporary folder" if entry.name.startswith(".") else "unreferenced"
        print(f"{'would remove' if args.dry_run else 'removing'} {entry} ({what})")
        if not args.dry_run:
            shutil.rmtree(entry)
        removed += 1
    print(f"{removed} folder(s) {'to remove' if args.dry_run else 'removed'}")
    return 0


def _cmd_doctor(args) -> int:
    from . import doctor
    from .checks import Finding, format_findings

    runner.book().get(args.name)
    d = doctor.diagnose(args.name, steps=args.steps)
    if args.save:
        print(f"saved {doctor.save(d)}", file=sys.stderr)
    if args.json:
        print(json.dumps({k: v for k, v in d.items() if k not in ("executed_code", "key")}, indent=1))
        return 0
    ran = f"{d['steps']} steps" if d["steps"] else "the whole run"
    print(format_findings([Finding(**f) for f in d["findings"]], f"{args.name}, seed {d['seed']}, {ran}"))
    print(format_findings([Finding(**f) for f in d["data_findings"]], f"{args.name}: splits and evaluation transform"))
    return 0


def _cmd_report(args) -> int:
    from . import report

    figures = _finite(report.summary_figures())
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0

    def line(b):
        return "n/a" if b["mean"] is None else f"{100 * b['mean']:.1f}% ± {100 * b['std']:.1f} over {b['seeds']} seeds"
    print(f"reference ({figures['reference']['name']}): {line(figures['reference'])}")
    print(f"adopted recipe ({figures['final']['name']}): {line(figures['final'])}")
    for r in figures["ablation"]:
        print(f"{r['bug']:<45} {r['direction']:<13} {r['experiment']:<22} {line(r)}")
    ratio = figures["time_to_accuracy_ratio"]
    print(f"time to accuracy (final / reference): {'not measured' if ratio is None else f'{ratio:.2f}'}")
    return 0


def _finite(value):
    """``value`` with every non-finite float replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m svhn_debug", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The SVHN debugging logbook's experiments: compute, inspect and check the cached runs.",
        epilog="examples:\n"
               "  python -m svhn_debug status --short          what is not cached, and the counts\n"
               "  python -m svhn_debug run normalize --jobs 2  compute what the cache lacks of one experiment\n"
               "  python -m svhn_debug run relu-batchnorm --seed 2 --force   recompute one seed\n"
               "  python -m svhn_debug run-all                 everything the book needs (runs, then diagnoses)\n"
               "  python -m svhn_debug show relu-batchnorm     per-epoch metrics of every seed\n"
               "  python -m svhn_debug doctor colleague        one epoch of the notebook under the health checks\n"
               "  python -m svhn_debug.checks train.py ARGS    any training script under the health checks\n"
               "(after `make setup`: .venv/bin/python, or the .venv/bin/svhn-debug command)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="registered experiments with their parent and diff").set_defaults(func=_cmd_list)
    run = sub.add_parser("run", help="compute what the cache lacks of the named experiments")
    run.add_argument("names", nargs="+")
    run.add_argument("--seed", type=int, action="append", metavar="N",
                     help="only this seed of each named experiment (repeatable; with --force: recompute just it)")
    run.set_defaults(func=_cmd_run, all=False)
    run_all = sub.add_parser("run-all", help="compute what the cache lacks of every registered experiment, then the book's saved diagnoses")
    run_all.set_defaults(func=_cmd_run, all=True, names=[], seed=None)
    for p in (run, run_all):
        p.add_argument("--force", action="store_true",
                       help="recompute even when cached (the old entry stays until the new one is saved)")
        p.add_argument("--jobs", type=int, default=None,
                       help="runs at once (default: the cores this process may use, divided by the threads of a run)")
        p.add_argument("--executor", choices=runner.EXECUTORS, default="local",
                       help="local: a process pool (default); slurm: a Slurm cluster through submitit; "
                            "submitit-local: submitit's local executor (the Slurm path without Slurm)")
        p.add_argument("--slurm-partition", default=None, help="Slurm partition (--executor slurm)")
        p.add_argument("--slurm-time", type=int, default=120, help="minutes per run (--executor slurm)")
        p.add_argument("--slurm-option", action="append", metavar="KEY=VALUE",
                       help="any other option of submitit's update_parameters, e.g. slurm_account=abc")
    status = sub.add_parser("status", help="cached, missing, stale or corrupt, for the active profile")
    status.add_argument("--check", action="store_true", help="exit 1 if anything is not cached")
    status.add_argument("--short", action="store_true", help="only what is not cached, and the counts")
    status.add_argument("--json", action="store_true",
                        help="every run (name, seed, state, reasons, seconds) and the total compute_seconds")
    status.set_defaults(func=_cmd_status)
    show = sub.add_parser("show", help="per-epoch metrics of one experiment")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_cmd_show)
    prune = sub.add_parser("prune", help="remove cache entries no registered experiment uses")
    prune.add_argument("--dry-run", action="store_true")
    prune.set_defaults(func=_cmd_prune)
    doctor = sub.add_parser("doctor", help="a short run of one experiment under the health checks, and its data checked")
    doctor.add_argument("name")
    doctor.add_argument("--steps", type=int, default=None, help="optimizer steps to run (default: one epoch; 0: all)")
    doctor.add_argument("--save", action="store_true", help="save the diagnosis for the book (cache/doctor/)")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(func=_cmd_doctor)
    rep = sub.add_parser("report", help="the figures the summary rests on: the bar, the adopted recipe, every bug both ways")
    rep.add_argument("--json", action="store_true", help="as JSON (test accuracies as fractions)")
    rep.set_defaults(func=_cmd_report)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings for a person at a terminal: ``warning: <message>``, no source line."""
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def _quiet_stdout() -> None:
    """Send what is still buffered for stdout nowhere (its reader is gone, or its disk full), so
    the interpreter's exit does not fail on it again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a file (a test's capture): nothing to flush at exit


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    show = warnings.showwarning
    warnings.showwarning = _one_line_warning
    try:
        code = args.func(args)
        sys.stdout.flush()  # here, not at exit: a full disk is an error message, not a traceback
        return code
    except (UnknownExperiment, ConfigError, DataUnavailable, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (SourceChanged, runner.MissingRun) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `status | head`: the reader has gone; say nothing more
        _quiet_stdout()
        return 141
    except OSError as err:  # a full or read-only file system, output that cannot be written
        _quiet_stdout()
        where = f" ({err.filename})" if err.filename else ""
        print(f"error: {err.strerror or err}{where}", file=sys.stderr)
        return 1
    except runner.Interrupted as err:
        print(f"interrupted: {err}; a --force run kept the entry it was replacing", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted: finished runs are cached; unfinished ones left nothing behind, "
              "and a --force run kept the entry it was replacing", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = show
