"""Which code of this package a run executed, and a fingerprint of that code that ignores
comments, docstrings and formatting.

A run's cache entry records the *units* it executed with a hash of each: a unit is one
function or method (``training:train``, ``data:BatchSource.__iter__``; nested functions, lambdas
and comprehensions belong to the function they sit in) or the module-level code of a module
(``data:<module>``: imports, constants, class bodies without their methods). A cached run stays
valid while every unit it recorded hashes the same in the current source; an edit anywhere else
reruns nothing.

How units are recorded: :class:`ExecutedCode` measures the lines that run with coverage.py,
restricted to this package, and maps each line to the function or method whose body holds it
(module-level lines, such as a lambda at module level or a module first imported during the
run, count as all of the module's module-level code). Module-level code is then followed by
name: the statements binding every name an executed unit reads, the statements those read,
across ``from .x import y`` into ``x``, and each involved module's import-time side effects.
When in doubt the recorder widens: a removed unit counts as changed, a line it cannot place
counts as the whole module.

Hashes come from the abstract syntax tree with docstrings removed (``ast.dump`` without line
numbers), so comments, docstrings, blank lines and formatting do not count; everything else
(a renamed variable, a changed default, a decorator) does.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE = PACKAGE_DIR.name
MODULE = "<module>"
WHOLE = "<whole>"  # the whole normalised module: the fallback for code that maps to no unit

# Units whose code cannot change a result (progress display); see :func:`not_a_result`.
_IGNORED: set[str] = set()


def not_a_result(func: Callable) -> Callable:
    """Mark a function whose code cannot change any result (progress bars, logging to the
    terminal): editing it must not make runs stale. Use sparingly; when in doubt, don't."""
    _IGNORED.add(f"{Path(func.__code__.co_filename).stem}:{func.__qualname__.split('.<locals>.')[0]}")
    return func


def _is_string_statement(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    """Remove docstrings, and every other statement that is a bare string (attribute
    docstrings): they do nothing when run."""
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                kept = [stmt for stmt in body if not _is_string_statement(stmt)]
                setattr(node, name, kept or ([ast.Pass()] if name == "body" else []))
    return tree


def _digest(node: ast.AST | list) -> str:
    text = ast.dump(node, include_attributes=False) if isinstance(node, ast.AST) else \
        "\n".join(ast.dump(n, include_attributes=False) for n in node)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _loaded_names(node: ast.AST) -> set[str]:
    """Every name ``node`` reads (``x``, and ``x`` of ``x.attr``)."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _bound_names(stmt: ast.stmt) -> set[str]:
    """The names a module-level statement binds (empty for a pure side effect)."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names}
    if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return {stmt.name}
    targets = stmt.targets if isinstance(stmt, ast.Assign) else \
        [stmt.target] if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) else []
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


@dataclass
class ModuleUnits:
    """The units of one module and what links them.

    ``hashes``: ``{qualname: hash}`` for functions and methods, ``=NAME`` for the module-level
    statements binding ``NAME`` (a class counts with its body, without its methods),
    ``<effects>`` for statements that bind nothing (calls run at import), ``<module>`` for all
    module-level code and ``<whole>`` for the whole module. ``reads``: the names each unit
    reads. ``imports``: ``{local name: (package module, name there or None for the module)}``.
    """

    hashes: dict[str, str]
    reads: dict[str, set[str]] = field(default_factory=dict)
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    spans: list[tuple[int, int, str]] = field(default_factory=list)  # (first, last body line, qualname)

    def unit_at(self, line: int) -> str:
        """The function or method whose body holds ``line``, else module-level code."""
        for first, last, qualname in self.spans:
            if first <= line <= last:
                return qualname
        return MODULE


def _package_import(stmt: ast.ImportFrom) -> str | None:
    """The package module a ``from ... import`` reads from, ``None`` outside the package."""
    if stmt.level == 1:
        return stmt.module or ""
    if stmt.level == 0 and stmt.module and stmt.module.split(".")[0] == PACKAGE:
        return stmt.module.partition(".")[2] or "__init__"
    return None


def parse_module(source: str, module: str) -> ModuleUnits:
    """Split one module's source into units and hash each (see :class:`ModuleUnits`)."""
    tree = _strip_docstrings(ast.parse(source))
    defs: dict[str, list[ast.AST]] = {}
    reads: dict[str, set[str]] = {}
    spans: list[tuple[int, int, str]] = []

    def collect(body: list[ast.stmt], prefix: str) -> list[ast.stmt]:
        """Record the functions of ``body``; return ``body`` without them (its module-level part)."""
        rest = []
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + stmt.name
                defs.setdefault(name, []).append(stmt)
                spans.append((stmt.lineno + 1, stmt.end_lineno, name))
                # A method depends on its class's body (fields, class attributes) too.
                reads[name] = reads.get(name, set()) | _loaded_names(stmt) | ({prefix.split(".")[0]} if prefix else set())
            elif isinstance(stmt, ast.ClassDef):
                inner = collect(stmt.body, f"{prefix}{stmt.name}.")
                rest.append(ast.ClassDef(stmt.name, stmt.bases, stmt.keywords, inner or [ast.Pass()],
                                         stmt.decorator_list, *([stmt.type_params] if sys.version_info >= (3, 12) else [])))
            else:
                rest.append(stmt)
        return rest

    module_level = collect(tree.body, "")
    hashes = {name: _digest(nodes) for name, nodes in defs.items()}  # redefinitions hash together
    bindings: dict[str, list[ast.stmt]] = {}
    effects = []
    imports: dict[str, tuple[str, str | None]] = {}
    for stmt in module_level:
        bound = _bound_names(stmt)
        if not bound:
            effects.append(stmt)
        for name in bound:
            bindings.setdefault(name, []).append(stmt)
        if isinstance(stmt, ast.ImportFrom) and (source_module := _package_import(stmt)) is not None:
            for alias in stmt.names:
                if source_module == "":  # from . import x: the module x itself
                    imports[alias.asname or alias.name] = (alias.name, None)
                else:
                    imports[alias.asname or alias.name] = (source_module, alias.name)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name.startswith(PACKAGE + ".") and alias.asname:
                    imports[alias.asname] = (alias.name.partition(".")[2], None)
    for name, stmts in bindings.items():
        hashes[f"={name}"] = _digest(stmts)
        reads[f"={name}"] = set().union(*(_loaded_names(s) for s in stmts))
    # Functions defined at module level bind their name too: a read of it is not a constant.
    for name in defs:
        if "." not in name:
            hashes.setdefault(f"={name}", "function")
    hashes["<effects>"] = _digest(effects)
    reads["<effects>"] = set().union(*(_loaded_names(s) for s in effects)) if effects else set()
    hashes[MODULE] = _digest(module_level)
    hashes[WHOLE] = _digest(tree)
    return ModuleUnits(hashes, reads, imports, spans)


@functools.lru_cache(maxsize=256)
def parsed(source: str, module: str) -> ModuleUnits:
    """:func:`parse_module`, once per distinct source text in this process (keyed by the text
    itself, so an edited module is parsed again). Shared: callers must not change the result."""
    return parse_module(source, module)


def parse_imported() -> None:
    """Parse every module of the package as this process imported it, into :func:`parsed`'s
    cache: a process that forks one worker per run does it once for all of them."""
    for module, source in IMPORTED_SOURCES.items():
        parsed(source, module)


class SourceIndex:
    """Normalised unit hashes of the package's source in ``root`` (read once, on first use)."""

    def __init__(self, root: Path | None = None, sources: dict[str, str] | None = None) -> None:
        self.root = Path(root) if root else PACKAGE_DIR
        self._sources = sources
        self._modules: dict[str, ModuleUnits | None] = {}

    def _source(self, module: str) -> str | None:
        if self._sources is not None:
            return self._sources.get(module)
        path = self.root / f"{module}.py"
        return path.read_text() if path.is_file() else None

    def module(self, module: str) -> ModuleUnits | None:
        """The units of ``module``, ``None`` if it no longer exists."""
        if module not in self._modules:
            source = self._source(module)
            self._modules[module] = None if source is None else parsed(source, module)
        return self._modules[module]

    def hash(self, unit: str) -> str | None:
        """Hash of ``module:qualname`` now; ``None`` when the unit no longer exists."""
        module, _, qualname = unit.partition(":")
        units = self.module(module)
        return None if units is None else units.hashes.get(qualname)

    def changed(self, recorded: dict[str, str]) -> list[str]:
        """The recorded units whose hash differs now (removed units included), sorted."""
        return sorted(unit for unit, digest in recorded.items() if self.hash(unit) != digest)

    def snapshot(self) -> "SourceIndex":
        """An index frozen on the source as it is now (later edits on disk do not show)."""
        sources = {p.stem: p.read_text() for p in self.root.glob("*.py")} if self._sources is None else self._sources
        return SourceIndex(self.root, dict(sources))


def _read_sources(root: Path) -> dict[str, str]:
    return {p.stem: p.read_text() for p in root.glob("*.py")}


# The package's source as this process imported it: read when the package is first imported,
# before any of its other modules. A run's record is made from this copy, and a run whose
# recorded modules differ on disk at its end (edited while it ran) is refused, not cached.
IMPORTED_SOURCES = _read_sources(PACKAGE_DIR)


class SourceChanged(RuntimeError):
    """The package's source changed on disk while a run was being recorded."""


class ExecutedCode:
    """Context manager recording which package units run inside it.

    Usage::

        with ExecutedCode() as executed:
            result = train(config)
        executed.record  # {"training:train": "3f2a...", "data:=TRANSFORMS": "...", ...}

    The lines that ran are measured by coverage.py's C tracer restricted to the package (files
    outside it are dismissed once per code object, in C); each line maps to the function or
    method whose body holds it, or to module-level code. A trace function already installed
    (a debugger) is paused while recording and restored afterwards.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root).resolve() if root else PACKAGE_DIR
        imported = IMPORTED_SOURCES if self.root == PACKAGE_DIR else _read_sources(self.root)
        self.index = SourceIndex(self.root, dict(imported))
        self.record: dict[str, str] = {}
        self._coverage = None
        self._previous = None

    def __enter__(self) -> "ExecutedCode":
        import coverage

        self._previous = sys.gettrace()  # a debugger's: paused while recording, then restored
        self._coverage = coverage.Coverage(data_file=None, config_file=False, branch=False, source=[str(self.root)],
                                           omit=[str(Path(__file__).resolve())])
        self._coverage.start()
        return self

    def __exit__(self, *exc) -> None:
        from coverage.exceptions import CoverageWarning

        self._coverage.stop()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CoverageWarning)  # "no data collected" and such
            data = self._coverage.get_data()
        units = set()
        for filename in data.measured_files():
            path = Path(filename).resolve()
            if path.parent != self.root:
                continue
            module = path.stem
            found = self.index.module(module)
            for line in data.lines(filename) or ():
                unit = f"{module}:{found.unit_at(line) if found else WHOLE}"
                if unit not in _IGNORED:
                    units.add(unit)
        self.record = {unit: self.index.hash(unit) for unit in sorted(self.closure(units))}
        on_disk = SourceIndex(self.root)
        edited = sorted({u.partition(":")[0] for u in self.record
                         if on_disk._source(u.partition(":")[0]) != self.index._source(u.partition(":")[0])})
        # Coverage's tracer stays attached to the frames that were running when it started and
        # would switch tracing off at their next event: detach it, then restore the previous one.
        frame = sys._getframe()
        while frame is not None:
            if frame.f_trace is not None and type(frame.f_trace).__module__.startswith("coverage"):
                frame.f_trace = None
            frame = frame.f_back
        sys.settrace(self._previous)
        if edited and not exc[0]:
            raise SourceChanged(f"the package's source changed on disk while this run was recorded "
                                f"({', '.join(f'{m}.py' for m in edited)}); the run is not cached, start it again")

    def closure(self, units: set[str]) -> set[str]:
        """``units`` with the module-level units they depend on (see :meth:`units_to_record`)."""
        done: set[str] = set()
        todo = list(units)
        own_module = Path(__file__).stem
        while todo:
            unit = todo.pop()
            if unit in done:
                continue
            done.add(unit)
            module, _, name = unit.partition(":")
            units_of = self.index.module(module)
            if units_of is None:
                continue
            todo.append(f"{module}:<effects>")
            whole = name in (MODULE, WHOLE)  # all of its module-level code: follow only its imports
            names = set().union(*units_of.reads.values()) | set(units_of.imports) if whole else \
                units_of.reads.get(name, set())
            for read in names:
                if not whole and f"={read}" in units_of.hashes and units_of.hashes[f"={read}"] != "function":
                    todo.append(f"{module}:={read}")
                if read in units_of.imports:
                    source, original = units_of.imports[read]
                    if source == own_module or self.index.module(source) is None:
                        continue
                    if original is None:
                        todo.append(f"{source}:{MODULE}")
                    elif f"={original}" in self.index.module(source).hashes:
                        if self.index.module(source).hashes[f"={original}"] != "function":
                            todo.append(f"{source}:={original}")
        return {u for u in done if self.index.hash(u) is not None or u.partition(":")[2] != "<effects>"}


def record_digest(record: dict[str, str]) -> str:
    """Short hash of a whole record (part of an entry's folder name)."""
    return hashlib.sha256(repr(sorted(record.items())).encode()).hexdigest()[:12]
