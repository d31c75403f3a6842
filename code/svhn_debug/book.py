"""The book's offline render path, for machines without Quarto.

It does what ``quarto render`` does for the features this book uses, with the libraries that
Quarto itself stands on: each ``.qmd`` becomes a notebook (Quarto's Jupyter engine), executed by
nbclient through jupyter-cache; outputs, cell options (echo, output, include, label, fig-cap,
fig-alt, tbl-cap), inline ``{python}`` expressions, callouts and cross-references are turned into
plain Markdown; pandoc writes Typst and the ``typst`` package compiles the PDF into ``_book/``.

``python -m svhn_debug.book`` renders; ``--execute-only`` runs the chapters and stops (the
smoke test of the book).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

CELL_RE = re.compile(r"^```\{python\}[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
INLINE_RE = re.compile(r"`\{python\}\s+([^`]+?)`")
XREF_RE = re.compile(r"(?<![\w@])@((?:fig|tbl|sec)-[A-Za-z0-9_-]*[A-Za-z0-9_])")
HEADING_ID_RE = re.compile(r"^#\s+(.*?)\s*\{#(sec-[\w-]+)([^}]*)\}\s*$", re.M)
CALLOUT_RE = re.compile(r"^:::+\s*\{\.callout-(\w+)([^}]*)\}\s*\n(.*?)^:::+\s*$", re.S | re.M)
TABLE_CAPTION_RE = re.compile(r"^:[ \t]+(.*?)[ \t]*\{#(tbl-[\w-]+)\}[ \t]*$", re.M)
INLINE_MARK = "__SVHN_INLINE__"


@dataclass
class Cell:
    kind: str  # "markdown" or "code"
    source: str
    options: dict = field(default_factory=dict)


def parse_qmd(text: str) -> list[Cell]:
    """Split a ``.qmd`` into Markdown and Python cells; ``#|`` lines become the cell's options."""
    cells: list[Cell] = []
    pos = 0
    for match in CELL_RE.finditer(text):
        if text[pos:match.start()].strip():
            cells.append(Cell("markdown", text[pos:match.start()].strip("\n")))
        lines = match.group(1).splitlines()
        opt_lines = []
        while lines and lines[0].startswith("#|"):
            opt_lines.append(lines.pop(0)[2:].strip())
        options = yaml.safe_load("\n".join(opt_lines)) or {} if opt_lines else {}
        cells.append(Cell("code", "\n".join(lines).strip("\n"), options))
        pos = match.end()
    if text[pos:].strip():
        cells.append(Cell("markdown", text[pos:].strip("\n")))
    return cells


def package_fingerprint() -> str:
    """Hash of the package's whole source: a chapter re-executes when any of it changes
    (jupyter-cache alone hashes only the notebook's own text)."""
    digest, here = hashlib.sha256(), Path(__file__).parent
    for path in sorted(here.rglob("*.py")):  # subpackages (report/) included
        digest.update(path.relative_to(here).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def results_fingerprint() -> str:
    """Hash of what the chapters read besides the package: every cache entry's checksum file of
    the active profile, and the saved diagnoses and benchmark results. A recomputed run, a new
    diagnosis or a new measurement changes it, so the chapters that read them run again."""
    from .cache import cache_root
    from .profiles import active_profile

    root, name = cache_root(), active_profile().name
    files = sorted((root / name).glob("*/meta.sha256")) + sorted((root / "doctor" / name).glob("*.json")) \
        + sorted((root / "bench").glob(f"*-{name}.json"))
    digest = hashlib.sha256()
    for path in files:
        try:
            digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
        except OSError:
            continue  # gone since the listing (a replacement in progress): the next render sees it
    return digest.hexdigest()[:16]


def freshen_freeze(root: Path) -> bool:
    """Quarto's ``freeze: auto`` re-executes a chapter only when its own text changes. Run before
    every Quarto render (``pre-render`` in ``_quarto.yml``): when the package, the profile, the
    data source or the cached results differ from those of the last render, remove ``_freeze``
    so that every chapter executes again. Returns whether it removed it."""
    state = json.dumps({"package": package_fingerprint(), "results": results_fingerprint(),
                        "profile": (os.environ.get("SVHN_DEBUG_PROFILE") or "cpu"),
                        "data": (os.environ.get("SVHN_DEBUG_DATA") or "synthetic")}, sort_keys=True)
    freeze = root / "_freeze"
    stamp = freeze / "svhn-debug-state.json"
    if stamp.is_file() and stamp.read_text() == state:
        return False
    removed = freeze.exists()
    shutil.rmtree(freeze, ignore_errors=True)
    freeze.mkdir(parents=True, exist_ok=True)
    stamp.write_text(state)
    return removed


def to_notebook(cells: list[Cell]):
    """The notebook Quarto's Jupyter engine would run: code cells, plus one hidden cell after
    every Markdown cell with inline expressions, which prints their values."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["svhn_debug"] = {
        "package": package_fingerprint(),
        "profile": (os.environ.get("SVHN_DEBUG_PROFILE") or "cpu"),
        "data": (os.environ.get("SVHN_DEBUG_DATA") or "synthetic"),
        "cache": os.environ.get("SVHN_DEBUG_CACHE", ""),
        "results": results_fingerprint(),
    }
    for i, cell in enumerate(cells):
        if cell.kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(cell.source))
            exprs = INLINE_RE.findall(cell.source)
            if exprs:
                src = ("import json as __j\n"
                       f"print({INLINE_MARK!r} + __j.dumps([__svhn_inline(__v) for __v in [{', '.join(exprs)}]]))")
                nb.cells.append(nbformat.v4.new_code_cell(src, metadata={"inline_for": len(nb.cells) - 1}))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(cell.source, metadata={"quarto": cell.options}))
    # How Quarto shows an inline value: its Markdown form if it has one, else its plain text.
    # jupyter-cache hashes code cells, not notebook metadata: the prelude carries what else must
    # re-execute a chapter (the package's source, profile, data source, experiment cache).
    prelude = (f"# svhn_debug: {json.dumps(nb.metadata['svhn_debug'], sort_keys=True)}\n"
               "def __svhn_inline(v):\n"
               "    md = getattr(v, '_repr_markdown_', None)\n"
               "    text = md() if md else (v if isinstance(v, str) else repr(v))\n"
               "    if not str(text).strip():\n"
               "        raise ValueError('an inline expression printed nothing; Quarto would print its source instead')\n"
               "    return text\n")
    nb.cells.insert(0, nbformat.v4.new_code_cell(prelude, metadata={"quarto": {"include": False}}))
    for c in nb.cells:  # inline_for indices shifted by the prelude
        if "inline_for" in c.metadata:
            c.metadata["inline_for"] += 1
    return nb


def execute(nb, cwd: Path, cache_dir: Path, timeout: int = 3600):
    """Execute ``nb`` through jupyter-cache: a cached identical notebook is reused, not rerun."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    jc = get_cache(str(cache_dir))
    try:
        _, merged = jc.merge_match_into_notebook(nb)
        return merged
    except KeyError:
        pass
    kernelspec = dict(nb.metadata["kernelspec"])  # part of the cache's hash; execution rewrites it
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no transport chatter
                            record_timing=False)  # timings in cell metadata would change the cache hash
    try:
        client.execute()
    except CellExecutionError as err:
        raise RuntimeError(f"a chapter cell failed:\n{err}") from None
    nb.metadata["kernelspec"] = kernelspec
    jc.cache_notebook_bundle(CacheBundleIn(nb, uri=str(cwd)), check_validity=False, overwrite=True)
    return nb


# --------------------------------------------------------------------------- Markdown out


class UnresolvedReference(RuntimeError):
    """A cross-reference to a label no chapter defines."""


@dataclass
class Numbering:
    """Cross-reference numbers: figures and tables per chapter (``2.3``), chapters, appendices."""

    labels: dict[str, str] = field(default_factory=dict)

    def text(self, label: str) -> str:
        kind = {"fig": "Figure", "tbl": "Table", "sec": "Chapter"}[label.split("-")[0]]
        number = self.labels.get(label)
        if number is None:
            raise UnresolvedReference(f"@{label} refers to no figure, table or chapter of the book "
                                      f"(Quarto would print ?{label}); known labels of that kind: "
                                      f"{', '.join(sorted(k for k in self.labels if k.startswith(label.split('-')[0]))) or 'none'}")
        if kind == "Chapter" and number[:1].isalpha():
            kind = "Appendix"
        return f"{kind} {number}"


def _callout(match: re.Match) -> str:
    kind, attrs, body = match.group(1), match.group(2), match.group(3).strip("\n")
    title = re.search(r'title="([^"]*)"', attrs)
    heading = title.group(1) if title else kind.capitalize()
    return ("```{=typst}\n#block(fill: luma(242), stroke: (left: 2pt + luma(140)), inset: 8pt, width: 100%)[\n```\n\n"
            f"**{heading}.** {body}\n\n```{{=typst}}\n]\n```")


def _width(png: bytes, out) -> str:
    """Printed width of a figure: its natural size at the figure dpi, at most the text width."""
    import struct

    px = struct.unpack(">I", png[16:20])[0]  # PNG header: width of the IHDR chunk
    requested = (out.get("metadata", {}).get("image/png", {}) or {}).get("width")
    inches = (requested or px) / 110  # plots are drawn at 110 dpi (svhn_debug.chapter)
    return f"{min(100, round(100 * inches / 6.3))}%"


def cells_to_markdown(nb, chapter_no: str, figdir: Path, numbering: Numbering, echo_default: bool) -> str:
    """Markdown of one executed chapter: inline values substituted, outputs placed."""
    inline_values: dict[int, list[str]] = {}
    for c in nb.cells:
        if c.cell_type == "code" and "inline_for" in c.metadata:
            text = "".join(o.get("text", "") for o in c.outputs if o.get("output_type") == "stream")
            payload = text[text.index(INLINE_MARK) + len(INLINE_MARK):]
            inline_values[c.metadata["inline_for"]] = json.loads(payload)
    parts: list[str] = []
    fig_n = tbl_n = 0
    for idx, c in enumerate(nb.cells):
        if c.cell_type == "markdown":
            values = iter(inline_values.get(idx, []))
            text = INLINE_RE.sub(lambda m: next(values), c.source)

            def caption(m: re.Match) -> str:  # a Markdown table's caption with a label
                nonlocal tbl_n
                tbl_n += 1
                numbering.labels[m.group(2)] = f"{chapter_no}.{tbl_n}"
                return f": Table {chapter_no}.{tbl_n}: {m.group(1)}"
            parts.append(TABLE_CAPTION_RE.sub(caption, text))
            continue
        opts = c.metadata.get("quarto")
        if opts is None or opts.get("include") is False:
            continue
        if opts.get("echo", echo_default):
            parts.append(f"```python\n{c.source}\n```")
        if opts.get("output", True) is False:
            continue
        label = opts.get("label", "")
        for out in c.outputs:
            if out.output_type == "stream" and out.name == "stdout":
                parts.append(out.text if opts.get("output") == "asis" else f"```\n{out.text.rstrip()}\n```")
            elif out.output_type in ("display_data", "execute_result"):
                data = out.get("data", {})
                if "image/png" in data:
                    fig_n += 1
                    number = f"{chapter_no}.{fig_n}"
                    if label:
                        numbering.labels[label] = number
                    name = f"{label or 'fig'}-{chapter_no}-{fig_n}.png"
                    png = base64.b64decode(data["image/png"])
                    (figdir / name).write_bytes(png)
                    cap = opts.get("fig-cap", "")
                    alt = str(opts.get("fig-alt", cap)).replace('"', "'")
                    parts.append(f'![Figure {number}: {cap}](figures/{name}){{fig-alt="{alt}" width={_width(png, out)}}}')
                elif "text/markdown" in data:
                    parts.append(data["text/markdown"])
                elif "text/plain" in data:
                    parts.append(f"```\n{data['text/plain']}\n```")
        if opts.get("tbl-cap"):
            tbl_n += 1
            number = f"{chapter_no}.{tbl_n}"
            if label:
                numbering.labels[label] = number
            parts.append(f": Table {number}: {opts['tbl-cap']}")
    text = "\n\n".join(p.strip("\n") for p in parts if p.strip())
    return CALLOUT_RE.sub(_callout, text)


def _unnumbered(match: re.Match) -> str:
    """Mark a heading ``{.unnumbered}`` (Quarto leaves the preface's sections unnumbered)."""
    heading = match.group(1)
    if ".unnumbered" in heading:
        return heading
    if heading.endswith("}"):
        return heading[:-1] + " .unnumbered}"
    return heading + " {.unnumbered}"


def load_book(root: Path) -> dict:
    """``_quarto.yml`` as a dict."""
    return yaml.safe_load((root / "_quarto.yml").read_text())


def chapter_files(config: dict) -> list[tuple[str, str]]:
    """``[(path, kind)]`` in book order; kind is ``index``, ``chapter`` or ``appendix``."""
    book = config["book"]
    out = []
    for i, path in enumerate(book["chapters"]):
        out.append((path, "index" if i == 0 else "chapter"))
    out += [(path, "appendix") for path in book.get("appendices", [])]
    return out


def execute_chapters(root: Path, only: list[str] | None = None, cache_dir: Path | None = None,
                     progress: bool = True) -> list[tuple[str, str, object]]:
    """Execute every chapter (or those in ``only``); returns ``[(path, kind, notebook)]``."""
    import nbformat

    config = load_book(root)
    cache_dir = cache_dir or root / ".jupyter_cache"
    done = []
    for path, kind in chapter_files(config):
        if only and path not in only:
            continue
        if progress:
            print(f"executing {path}", file=sys.stderr, flush=True)
        nb = to_notebook(parse_qmd((root / path).read_text()))
        nbformat.validate(nb)
        done.append((path, kind, execute(nb, root, cache_dir)))
    return done


# Tables in both PDFs (this offline path and Quarto's, through book-typst.typ): a long table breaks
# across pages (an image figure does not, or its caption would end up on the next page); cells never
# hyphenate (identifiers and headers stay whole), are set ragged right rather than justified (a
# justified narrow cell spreads "put back:" over its width and breaks the identifier after it), in 9
# points, and an identifier (inline code) moves to the next line whole instead of breaking at a
# hyphen: at 9 points the longest experiment name fits a column of a quarter of the text width. A
# table's caption (above it) sticks to its table: tables may break across pages, and without it a
# caption could stand alone at the foot of a page with its table on the next.
TABLE_RULES = ("#show figure.where(kind: table): set block(breakable: true)",
               "#show table: set text(hyphenate: false)", "#show table: set text(size: 9pt)",
               "#show table: set par(justify: false)",
               "#show table: it => { show raw.where(block: false): box; it }",
               "#show figure.caption.where(kind: table): it => block(sticky: true, it)")


def render(root: Path, out_dir: Path | None = None) -> Path:
    """Render the whole book to ``_book/<title>.pdf`` without Quarto; returns the PDF's path."""
    import pypandoc
    import typst

    config = load_book(root)
    book = config["book"]
    out_dir = out_dir or root / config.get("project", {}).get("output-dir", "_book")
    figdir = out_dir / "figures"
    shutil.rmtree(figdir, ignore_errors=True)
    figdir.mkdir(parents=True)
    numbering = Numbering()
    echo_default = bool(config.get("execute", {}).get("echo", True))
    chapters_md = []
    chapter_no = appendix_no = 0
    for path, kind, nb in execute_chapters(root):
        first_heading = re.search(r"^# .*$", "\n".join(c.source for c in nb.cells if c.cell_type == "markdown"), re.M)
        if kind == "chapter" and first_heading and ".unnumbered" in first_heading.group(0):
            kind = "unnumbered"
        if kind == "chapter":
            chapter_no += 1
            number = str(chapter_no)
        elif kind == "appendix":
            number = "ABCDEFGH"[appendix_no]
            appendix_no += 1
        else:
            number = "0" if kind == "index" else "R"
        md = cells_to_markdown(nb, number, figdir, numbering, echo_default)
        sec = HEADING_ID_RE.search(md)
        if sec and kind in ("chapter", "appendix"):
            numbering.labels[sec.group(2)] = number
        if kind in ("index", "unnumbered"):
            md = re.sub(r"^(#+ .*?)\s*$", _unnumbered, md, flags=re.M)
        if kind == "appendix" and appendix_no == 1:
            md = ('```{=typst}\n#counter(heading).update(0)\n#set heading(numbering: "A.1")\n```\n\n' + md)
        chapters_md.append(md)
    text = "\n\n".join(chapters_md)
    text = XREF_RE.sub(lambda m: numbering.text(m.group(1)), text)
    bib = config.get("bibliography")
    meta = {"title": book.get("title", ""), "subtitle": book.get("subtitle", ""), "author": book.get("author", "")}
    header = "---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\n\n"
    md_path = out_dir / "book.md"
    md_path.write_text(header + text)
    extra = ["--standalone", "--number-sections", "--toc", "--citeproc",
             "-V", "header-includes=#set figure(numbering: none)\n"
             "#set text(size: 10pt)\n#set par(justify: true)\n" + "\n".join(TABLE_RULES),
             "-V", "papersize=a4", "--resource-path", str(out_dir)]
    if bib:
        extra += ["--bibliography", str(root / bib)]
    typ = pypandoc.convert_file(str(md_path), "typst", format="markdown", extra_args=extra)
    typ_path = out_dir / "book.typ"
    typ_path.write_text(typ)
    pdf = out_dir / f"{re.sub(r'[^A-Za-z0-9]+', '-', book.get('title', 'book')).strip('-').lower()}.pdf"
    typst.compile(str(typ_path), output=str(pdf), root=str(out_dir))
    return pdf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m svhn_debug.book", description="Render the book without Quarto.")
    parser.add_argument("--root", default=".", help="the book project's folder (with _quarto.yml)")
    parser.add_argument("--execute-only", action="store_true", help="run every chapter's cells, render nothing")
    parser.add_argument("--jupyter-cache", default=None, help="jupyter-cache folder (default: <root>/.jupyter_cache)")
    parser.add_argument("--freshen-freeze", action="store_true",
                        help="Quarto's pre-render step: remove _freeze when the package or the results changed")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    cache_dir = Path(args.jupyter_cache) if args.jupyter_cache else None
    if args.freshen_freeze:
        print("_freeze removed: the package or the cached results changed" if freshen_freeze(root)
              else "_freeze is current", file=sys.stderr)
        return 0
    try:
        if args.execute_only:
            execute_chapters(root, cache_dir=cache_dir)
            print("every chapter executed without error")
        else:
            print(f"wrote {render(root)}")
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
