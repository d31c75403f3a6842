"""Run the health checks on every case of the script corpus (``svhn_debug.corpus``) and save
what they found: per case the findings, whether the planted bug was named at the expected step,
and false alarms on the clean scripts. The checks chapter reports the saved result.

Usage: python bench/checks_corpus.py
The result is written to ``cache/bench/checks_corpus-<profile>.json``; the last line is
``named=<planted named>/<planted> false_alarms=<findings on clean runs>``.
"""

from __future__ import annotations

import time

from svhn_debug import corpus
from svhn_debug.cache import bench_path, write_json
from svhn_debug.profiles import active_profile


def main() -> None:
    results = []
    for i, case in enumerate(corpus.CLEAN + corpus.PLANTED, start=1):
        started = time.time()
        result = corpus.outcome(case, corpus.run(case))
        results.append(result)
        print(f"[{i}/{len(corpus.CLEAN) + len(corpus.PLANTED)}] {case.name}: found {result['found'] or 'nothing'}"
              f"{'' if result['as_expected'] else ' (NOT AS EXPECTED)'} ({time.time() - started:.0f} s)", flush=True)
    planted = [r for r in results if r["expected"]]
    clean = [r for r in results if not r["expected"]]
    summary = {"scripts": sorted({c.script for c in corpus.CLEAN}), "clean_runs": len(clean), "planted": len(planted),
               "named": sum(r["named"] for r in planted),
               "at_expected_step": sum(r["as_expected"] for r in planted),
               "false_alarms": sum(r["false_alarms"] for r in clean), "cases": results,
               "measured_on": time.strftime("%Y-%m-%d")}
    path = bench_path("checks_corpus", active_profile().name)
    write_json(path, summary)
    print(f"saved {path}")
    print(f"named={summary['named']}/{summary['planted']} false_alarms={summary['false_alarms']}")


if __name__ == "__main__":
    main()
