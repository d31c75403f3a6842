"""Invalidation that follows the executed code: which edits make which runs stale.

Three real smoke runs record what they executed: one with a constant learning rate, one with
warmup and cosine decay, one that rotates its training images. The edits are then made to a copy
of the package's source, and each run's record is checked against the copy.
"""

from __future__ import annotations

import ast
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from svhn_debug import executed_code
from svhn_debug.executed_code import ExecutedCode, SourceIndex, parse_module
from svhn_debug.training import train

TRAINING_MODULES = ("config", "profiles", "synthetic", "data", "model", "instruments", "training")


@pytest.fixture(scope="module")
def records(pools):
    """What each of three smoke runs executed (traced once for the whole module)."""
    from svhn_debug.config import COLLEAGUE
    from svhn_debug.profiles import get_profile

    tiny = replace(COLLEAGUE, width=0.25, pipeline="tensor", cockpit="off", zero_grad=True, lr=1e-3,
                   scheduler="constant", split="sound", train_transform="none", eval_transform="none",
                   per_example_losses=False)
    configs = {"constant": tiny, "cosine": replace(tiny, scheduler="warmup_cosine"),
               "rotate": replace(tiny, train_transform="rotate180")}
    out = {}
    for name, cfg in configs.items():
        with ExecutedCode() as executed:
            train(cfg, get_profile("smoke"), pools)
        out[name] = executed.record
    return out


@pytest.fixture
def package(tmp_path):
    """A copy of the package's source to edit."""
    copy = tmp_path / executed_code.PACKAGE
    shutil.copytree(executed_code.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def edit(package: Path, module: str, old: str, new: str) -> None:
    path = package / f"{module}.py"
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} must occur once in {module}.py"
    path.write_text(text.replace(old, new))


def stale(records: dict, package: Path) -> dict[str, list[str]]:
    index = SourceIndex(package)
    return {name: index.changed(record) for name, record in records.items()}


def reword_docstrings_and_comments(source: str) -> str:
    """Every docstring replaced by another, a comment before every top-level statement and
    after the last, blank lines doubled: the same program, differently written."""
    tree = ast.parse(source)
    lines = source.splitlines()
    docstrings = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.append(first)
    for doc in sorted(docstrings, key=lambda d: -d.lineno):  # bottom up: line numbers stay valid
        indent = " " * doc.col_offset
        lines[doc.lineno - 1:doc.end_lineno] = [f'{indent}"""Reworded for a test,', f"{indent}over two lines.", f'{indent}"""']
    tops = {stmt.lineno for stmt in ast.parse("\n".join(lines)).body}
    out = []
    for i, line in enumerate(lines, 1):
        if i in tops:
            out.append("# a comment added by the test")
        out.append(line)
        if not line.strip():
            out.append("")
    return "\n".join(out) + "\n# the end\n"


def test_the_three_runs_record_what_they_ran_and_only_that(records):
    assert "training:_constant" in records["constant"] and "training:_warmup_cosine" not in records["constant"]
    assert "training:_warmup_cosine" in records["cosine"] and "training:_constant" not in records["cosine"]
    assert "data:_rotate180" in records["rotate"] and "data:_rotate180" not in records["constant"]
    for record in records.values():
        assert {"training:_train", "model:build_model", "model:=ACTIVATIONS", "data:=TRANSFORMS"} <= set(record)
        assert not any(unit.startswith(("plots:", "report:", "cli:", "runner:", "executed_code:")) for unit in record)


def test_an_unedited_copy_leaves_every_run_cached(records, package):
    assert stale(records, package) == {"constant": [], "cosine": [], "rotate": []}


def test_docstring_comment_and_layout_edits_in_every_training_module_leave_every_run_cached(records, package):
    for module in TRAINING_MODULES:
        path = package / f"{module}.py"
        before = path.read_text()
        path.write_text(reword_docstrings_and_comments(before))
        assert path.read_text() != before
    assert stale(records, package) == {"constant": [], "cosine": [], "rotate": []}


def test_an_edit_in_one_schedule_makes_exactly_the_runs_that_used_it_stale(records, package):
    edit(package, "training", "return 0.5 * (1 + math.cos(math.pi * min(s - warm", "return 0.4 * (1 + math.cos(math.pi * min(s - warm")
    assert stale(records, package) == {"constant": [], "cosine": ["training:_warmup_cosine"], "rotate": []}


def test_an_edit_in_one_transform_makes_exactly_the_runs_that_used_it_stale(records, package):
    edit(package, "data", "generator=generator) * 180.0)", "generator=generator) * 179.0)")
    assert stale(records, package) == {"constant": [], "cosine": [], "rotate": ["data:_rotate180"]}


def test_an_edit_to_a_function_every_run_executes_makes_every_run_stale(records, package):
    edit(package, "model", "kernel_size=3, padding=1", "kernel_size=3, padding=1, bias=True")
    assert stale(records, package) == {name: ["model:build_model"] for name in records}


def test_an_edit_to_a_module_level_constant_they_read_makes_every_run_stale(records, package):
    edit(package, "model", '"relu": nn.ReLU,', '"relu": nn.ReLU6,')
    assert stale(records, package) == {name: ["model:=ACTIVATIONS"] for name in records}
    edit(package, "profiles", "SVHN_TRAIN_SIZE = 73_257", "SVHN_TRAIN_SIZE = 73_258")
    assert stale(records, package) == {name: ["model:=ACTIVATIONS", "profiles:=SVHN_TRAIN_SIZE"] for name in records}


def test_a_constant_class_or_import_that_no_run_reads_changes_nothing(records, package):
    for module in ("data", "training"):
        path = package / f"{module}.py"
        path.write_text(path.read_text() + "\nimport fractions\nNEW_CONSTANT = 3\n\n\nclass NewError(ValueError):\n"
                        "    code = 7\n\n    def explain(self):\n        return NEW_CONSTANT\n")
    assert stale(records, package) == {"constant": [], "cosine": [], "rotate": []}


def test_module_level_code_is_followed_by_name_across_modules():
    recorder = ExecutedCode()
    recorder.index = SourceIndex(sources={
        "a": "from .b import K\nfrom . import c\nimport os\nUNUSED = 1\n\ndef f():\n    return K + c.X\n",
        "b": "J = 3\nK = J * 2\nL = 5\nprint('imported')\n",
        "c": "X = 1\nY = 2\n"})
    assert recorder.closure({"a:f"}) == {"a:f", "a:=K", "a:=c", "a:<effects>", "b:=K", "b:=J", "b:<effects>",
                                         "c:<module>", "c:<effects>"}


def test_a_removed_function_counts_as_changed(records, package):
    edit(package, "training", "def _constant(", "def _constant_renamed(")
    assert stale(records, package)["constant"] == ["training:_constant"]


def test_parse_module_separates_functions_methods_and_module_code():
    source = ("import os\nX = 1\nclass A:\n    y = 2\n    def f(self):\n        return X\n"
              "def g():\n    def inner():\n        return 1\n    return inner\n")
    units = parse_module(source, "m")
    assert {"A.f", "g", "=X", "=A", "=os", "<effects>"} <= set(units.hashes) and "inner" not in str(set(units.hashes))
    assert units.reads["A.f"] == {"X", "A"}  # a method reads its class's body too
    moved = parse_module(source.replace("X = 1", "X = 2").replace("y = 2", "y = 3"), "m")
    changed = {u for u in units.hashes if units.hashes[u] != moved.hashes[u]}
    assert changed == {"=X", "=A", "<module>", "<whole>"}


def test_a_previous_trace_function_is_restored():
    def previous(frame, event, arg):
        return None

    sys.settrace(previous)
    try:
        with ExecutedCode():
            pass
        assert sys.gettrace() is previous
    finally:
        sys.settrace(None)


def test_lines_map_to_the_function_holding_them_and_module_lines_to_module_code():
    units = parse_module("X = 1\n\n\ndef f(a,\n      b=X):\n    y = a\n\n    def g():\n        return y\n"
                         "    return g\n\n\nclass C:\n    z = 2\n\n    def m(self):\n        return 3\n", "m")
    assert [units.unit_at(line) for line in (1, 6, 9, 10, 14, 17)] == ["<module>", "f", "f", "f", "<module>", "C.m"]


def test_status_through_the_cache_follows_an_edited_copy(register_tiny, smoke, package, monkeypatch):
    from svhn_debug import runner

    register_tiny("constant")
    register_tiny("cosine", scheduler="warmup_cosine")
    runner.compute("constant", smoke, progress=False)
    runner.compute("cosine", smoke, progress=False)
    edit(package, "training", "LambdaLR(optimizer, lambda s: 1.0)", "LambdaLR(optimizer, lambda s: 1.0 * 1)")
    monkeypatch.setattr(executed_code, "PACKAGE_DIR", package)
    rows = {r["name"]: r for r in runner.status(smoke)}
    assert rows["cosine"]["state"] == "cached"
    assert rows["constant"]["state"] == "stale" and rows["constant"]["reasons"] == ["code changed: training:_constant"]


def test_a_run_whose_code_changed_on_disk_while_it_ran_is_refused(tiny, smoke, pools, monkeypatch):
    real = SourceIndex._source

    def edited_on_disk(self, module):
        text = real(self, module)
        return text + "\n# edited while the run was going\n" if self._sources is None and module == "model" else text

    with pytest.raises(executed_code.SourceChanged, match=r"model\.py"):
        with ExecutedCode():
            monkeypatch.setattr(SourceIndex, "_source", edited_on_disk)
            train(tiny, smoke, pools)


def test_the_record_is_made_from_the_source_as_imported(tiny, smoke, pools, monkeypatch):
    monkeypatch.setitem(executed_code.IMPORTED_SOURCES, "model",
                        executed_code.IMPORTED_SOURCES["model"].replace("kernel_size=3", "kernel_size=5"))
    with pytest.raises(executed_code.SourceChanged):  # the disk and the imported copy now differ
        with ExecutedCode() as recorder:
            train(tiny, smoke, pools)
    assert recorder.record["model:build_model"] != SourceIndex().hash("model:build_model")


def test_a_module_is_parsed_once_per_source_text_and_again_when_it_changes():
    from svhn_debug.executed_code import parsed

    source = "X = 1\n\n\ndef f():\n    return X\n"
    first = parsed(source, "cached_m")
    assert parsed(source, "cached_m") is first
    changed = parsed(source.replace("X = 1", "X = 2"), "cached_m")
    assert changed is not first and changed.hashes["=X"] != first.hashes["=X"]
    assert changed.hashes["f"] == first.hashes["f"]


def test_a_module_that_no_longer_exists_has_no_units():
    from svhn_debug.executed_code import SourceIndex

    index = SourceIndex(sources={"kept": "X = 1\n"})
    assert index.module("gone") is None
    assert "=X" in index.module("kept").hashes


def test_parse_imported_parses_every_module_of_the_package_once():
    from svhn_debug.executed_code import IMPORTED_SOURCES, parse_imported, parsed

    parsed.cache_clear()
    parse_imported()
    assert parsed.cache_info().currsize == len(IMPORTED_SOURCES) >= 20
    hits = parsed.cache_info().hits
    parsed(IMPORTED_SOURCES["stats"], "stats")
    assert parsed.cache_info().hits == hits + 1


def test_absolute_imports_of_the_package_are_followed_and_others_are_not():
    units = parse_module("from svhn_debug.data import TRANSFORMS\nfrom os.path import join\n"
                         "from svhn_debugger.x import y\nfrom . import stats\n", "m")
    assert units.imports["TRANSFORMS"] == ("data", "TRANSFORMS")
    assert units.imports["stats"] == ("stats", None)
    assert "join" not in units.imports and "y" not in units.imports


def test_a_unit_hash_ignores_where_the_unit_sits_and_binds_every_kind_of_assignment():
    # a function moved down by a comment is the same code: its recorded hash must not change
    assert parse_module("def f():\n    return 1\n", "m").hashes["f"] == \
        parse_module("# a comment\n\n\ndef f():\n    return 1\n", "m").hashes["f"]
    # ... and so is a module whose only change is a comment line
    assert parse_module("X = 1\n", "m").hashes["<whole>"] == parse_module("# c\nX = 1\n", "m").hashes["<whole>"]
    names = set(parse_module("import os.path\nY: int = 2\nZ = 0\nZ += 1\n", "m").hashes)
    assert {"=os", "=Y", "=Z"} <= names and "=os.path" not in names


def test_the_digest_of_a_unit_is_pinned():
    # every committed cache entry records these digests: a change to how they are computed makes
    # every run of the book stale at once, so it must be a deliberate change of this value
    assert parse_module("X = 1\n", "m").hashes["=X"] == "96e9d1263f0edda2"
