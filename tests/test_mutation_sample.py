"""The mutation sample (bench/mutation_sample.py) on mutmut result files whose answers are known."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest
from scipy.stats import binomtest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("mutation_sample", ROOT / "bench" / "mutation_sample.py")
mutation_sample = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mutation_sample)


def worktree(tmp_path: Path, modules: dict[str, dict[str, int | None]]) -> Path:
    """A mutmut ``mutants/`` folder holding the given exit codes (mutmut's layout of its meta files)."""
    for module, codes in modules.items():
        meta = tmp_path / "mutants" / "src" / (module.replace(".", "/") + ".py.meta")
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps({"exit_code_by_key": codes, "durations_by_key": {}}))
    return tmp_path / "mutants"


def names(module: str, function: str, n: int) -> list[str]:
    return [f"{module}.x_{function}__mutmut_{i}" for i in range(1, n + 1)]


@pytest.fixture
def two_modules(tmp_path):
    codes = {"pkg.alpha": dict.fromkeys(names("pkg.alpha", "f", 12) + names("pkg.alpha", "g", 3)),
             "pkg.beta": dict.fromkeys(names("pkg.beta", "h", 4)),
             "pkg.empty": {}}
    return mutation_sample.exit_codes(worktree(tmp_path, codes))


def test_each_module_is_drawn_from_its_sorted_names_with_a_generator_seeded_for_it(two_modules):
    chosen = mutation_sample.matching(two_modules, ["pkg.*"])
    assert sorted(chosen) == ["pkg.alpha", "pkg.beta"]  # a module without mutants is not one to draw from
    sample = mutation_sample.draw(chosen, 5, seed=7)
    assert sample[:5] == random.Random(7).sample(sorted(chosen["pkg.alpha"]), 5)
    assert sample[5:] == sorted(chosen["pkg.beta"])  # fewer than asked for: all of them
    assert mutation_sample.draw({"pkg.beta": chosen["pkg.beta"][::-1]}, 4, seed=7) == sorted(chosen["pkg.beta"])
    # one module's draw does not depend on which other modules were asked for
    assert mutation_sample.draw(mutation_sample.matching(two_modules, ["pkg.alpha*"]), 5, seed=7) == sample[:5]
    assert mutation_sample.draw(chosen, 2, seed=7)[2:] == random.Random(7).sample(sorted(chosen["pkg.beta"]), 2)
    assert mutation_sample.draw(chosen, 5, seed=8)[:5] != sample[:5]


def test_patterns_choose_mutants_as_mutmut_s_names_do(two_modules):
    only_g = mutation_sample.matching(two_modules, ["pkg.alpha.x_g*"])
    assert only_g == {"pkg.alpha": names("pkg.alpha", "g", 3)}
    both = mutation_sample.matching(two_modules, ["pkg.alpha.x_g__mutmut_1", "pkg.beta.x_h__mutmut_2"])
    assert both == {"pkg.alpha": ["pkg.alpha.x_g__mutmut_1"], "pkg.beta": ["pkg.beta.x_h__mutmut_2"]}


def test_the_score_counts_timeouts_as_killed_and_leaves_unrun_mutants_out(tmp_path):
    alpha = names("pkg.alpha", "f", 8)
    codes = {"pkg.alpha": dict(zip(alpha, [1, 1, 3, -24, 0, 33, None, None])),
             "pkg.beta": {"pkg.beta.x_h__mutmut_1": 1, "pkg.beta.x_h__mutmut_2": 0}}
    report = mutation_sample.score(mutation_sample.exit_codes(worktree(tmp_path, codes)),
                                   alpha + ["pkg.beta.x_h__mutmut_2"])
    assert report["pkg.alpha"] == {"drawn": 8, "ran": 6, "killed": 4,
                                   "statuses": {"killed": 3, "no tests": 1, "not checked": 2, "survived": 1,
                                                "timeout": 1},
                                   "ci95": list(binomtest(4, 6).proportion_ci(0.95, method="exact"))}
    assert report["pkg.beta"]["killed"] == 0 and report["pkg.beta"]["ran"] == 1  # only what was drawn counts
    assert (report["all"]["drawn"], report["all"]["ran"], report["all"]["killed"]) == (9, 7, 4)
    low, high = report["all"]["ci95"]
    assert low < 4 / 7 < high and (low, high) == pytest.approx(binomtest(4, 7).proportion_ci(method="exact"))


def test_the_command_draws_then_scores_and_names_the_survivors(tmp_path, capsys, monkeypatch):
    alpha = names("pkg.alpha", "f", 40)
    mutants = worktree(tmp_path, {"pkg.alpha": dict.fromkeys(alpha)})
    assert mutation_sample.main(["--mutants", str(mutants), "draw", "pkg.alpha*", "--per-module", "4",
                                 "--seed", "3"]) == 0
    drawn = capsys.readouterr().out.split()
    assert drawn == random.Random(3).sample(sorted(alpha), 4)
    # mutmut ran them: two killed, one survived, one not reached
    worktree(tmp_path, {"pkg.alpha": {**dict.fromkeys(alpha), **dict(zip(drawn, [1, 0, 1, None]))}})
    (tmp_path / "sample.txt").write_text("\n".join(drawn) + "\n")
    monkeypatch.chdir(tmp_path)  # mutmut's folder by default
    assert mutation_sample.main(["score", "--names", "sample.txt"]) == 0
    out = capsys.readouterr().out
    low, high = binomtest(2, 3).proportion_ci(method="exact")
    assert out.splitlines()[0] == (f"pkg.alpha: 2 of 3 run: 66.7% killed (95% interval {low:.1%} to {high:.1%}); "
                                   "drawn 4: 2 killed, 1 not checked, 1 survived")
    assert out.splitlines()[-2:] == ["survived or untested (equivalent, or a test to write; mutmut show NAME):",
                                     f"  {drawn[1]}"]
    assert mutation_sample.main(["score", "--names", "sample.txt", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["all"]["killed"] == 2


def test_what_cannot_be_drawn_or_scored_is_one_line_error(tmp_path, two_modules):
    with pytest.raises(SystemExit, match="no mutants under .*: run mutmut in this folder first"):
        mutation_sample.exit_codes(tmp_path / "nothing")
    with pytest.raises(SystemExit, match="no mutant matches pkg.gamma"):
        mutation_sample.matching(two_modules, ["pkg.gamma*"])
    with pytest.raises(SystemExit, match="--per-module must be at least 1, got 0"):
        mutation_sample.draw({"pkg.beta": ["pkg.beta.x_h__mutmut_1"]}, 0, seed=1)
    with pytest.raises(SystemExit, match="pkg.beta.x_h__mutmut_9 is not a mutant of this worktree"):
        mutation_sample.score(two_modules, ["pkg.beta.x_h__mutmut_9"])
