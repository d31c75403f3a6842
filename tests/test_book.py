"""The book: every chapter executes (smoke profile, throwaway cache), and the offline render path
honours the Quarto features the book uses."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from svhn_debug import book, precision

ROOT = Path(__file__).resolve().parents[1]


def test_cell_options_and_inline_expressions_are_parsed():
    cells = book.parse_qmd("# T {#sec-t}\n\nx is `{python} 1 + 1`.\n\n```{python}\n#| label: fig-a\n#| fig-cap: \"A: b\"\nprint(1)\n```\n")
    assert [c.kind for c in cells] == ["markdown", "code"]
    assert cells[1].options == {"label": "fig-a", "fig-cap": "A: b"} and cells[1].source == "print(1)"
    assert book.INLINE_RE.findall(cells[0].source) == ["1 + 1"]


def test_every_chapter_of_the_book_is_listed_and_exists():
    files = [path for path, _ in book.chapter_files(book.load_book(ROOT))]
    assert files[0] == "index.qmd" and len(files) >= 8
    for path in files:
        assert (ROOT / path).is_file(), path
    on_disk = {str(p.relative_to(ROOT)) for p in (ROOT / "chapters").glob("*.qmd")}
    assert on_disk <= set(files), "a chapter file is not in _quarto.yml"


def test_every_chapter_opens_with_a_labelled_heading_and_the_shared_setup():
    for path, kind in book.chapter_files(book.load_book(ROOT)):
        text = (ROOT / path).read_text()
        if path == "references.qmd":
            continue
        assert re.match(r"# .+\{#sec-[\w-]+|# .+\{\.unnumbered\}", text), path
        first_cell = book.parse_qmd(text)[1]
        assert first_cell.kind == "code" and "from svhn_debug.chapter import" in first_cell.source, path
        assert first_cell.options.get("include") is False, path


def test_every_chapter_opens_with_prose_its_numbers_come_from_its_facts_function():
    # the reader of a chapter's source meets the question and the prose, not a long code cell:
    # the numbers, word choices and guarded claims live in svhn_debug.facts, one function a chapter
    from svhn_debug import facts

    for path in sorted((ROOT / "chapters").glob("*.qmd")):
        first_cell = book.parse_qmd(path.read_text())[1]
        code = [line for line in first_cell.source.splitlines() if line.strip() and not line.startswith("#|")]
        assert len(code) <= 2, (path.name, code)
        called = re.search(r"^f = facts\.(\w+)\(\)", first_cell.source, re.M)
        assert called and callable(getattr(facts, called.group(1), None)), path.name
        assert "report.claim(" not in path.read_text(), f"{path.name}: claims belong in its facts function"


def test_every_figure_has_a_caption_and_alt_text():
    for path in (ROOT / "chapters").glob("*.qmd"):
        for cell in book.parse_qmd(path.read_text()):
            label = str(cell.options.get("label", ""))
            if label.startswith("fig-"):
                assert cell.options.get("fig-cap") and cell.options.get("fig-alt"), f"{path.name}: {label}"
            if label.startswith("tbl-"):
                assert cell.options.get("tbl-cap"), f"{path.name}: {label}"


def test_offline_render_resolves_quarto_features(tmp_path, monkeypatch):
    (tmp_path / "_quarto.yml").write_text(
        "project: {type: book}\nbook:\n  title: T\n  chapters: [index.qmd, c.qmd]\nexecute: {echo: false}\n")
    (tmp_path / "index.qmd").write_text("# Preface {.unnumbered}\n\nHello.\n")
    (tmp_path / "c.qmd").write_text(
        "# Chap {#sec-c}\n\n```{python}\n#| include: false\nimport matplotlib.pyplot as plt\nx = 21\n```\n\n"
        "See @fig-line and @tbl-t in @sec-c; x is `{python} x * 2`.\n\n"
        "```{python}\n#| label: fig-line\n#| fig-cap: \"A line.\"\n#| fig-alt: \"A rising line.\"\n"
        "fig, ax = plt.subplots(); ax.plot([1, 2]); plt.close(fig); fig\n```\n\n"
        "```{python}\n#| label: tbl-t\n#| tbl-cap: \"A table.\"\n#| output: asis\nprint('| a | b |\\n|---|---|\\n| 1 | 2 |')\n```\n\n"
        "::: {.callout-note}\nAn aside.\n:::\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n: Pipe caption. {#tbl-pipe}\n\n"
        "After the table, @tbl-pipe.\n")
    pdf = book.render(tmp_path)
    md = (tmp_path / "_book" / "book.md").read_text()
    assert pdf.exists() and pdf.stat().st_size > 1000
    assert "See Figure 1.1 and Table 1.1 in Chapter 1; x is 42." in md
    assert "#|" not in md and "@fig-" not in md and "{python}" not in md and ".callout" not in md
    assert 'fig-alt="A rising line."' in md and ": Table 1.1: A table." in md
    assert ": Table 1.2: Pipe caption.\n\nAfter the table, Table 1.2." in md


@pytest.mark.skipif(os.environ.get("SVHN_DEBUG_SKIP_BOOK") == "1", reason="SVHN_DEBUG_SKIP_BOOK=1")
@pytest.mark.skipif(not precision.cpu_has_bf16(), reason=(
    "the book's runs compute in bfloat16, which this CPU lacks (the package refuses it: emulated, a smoke run "
    "of the fixed recipe took 32 s against 3 s in float32); the chapters still execute against the committed cache: "
    "python -m svhn_debug.book --execute-only, as .ci/run does"))
def test_every_chapter_executes_on_the_smoke_budget(tmp_path):
    # The autouse fixture has set the smoke profile and a throwaway experiment cache; the
    # kernels inherit them. The committed cache is never touched.
    assert os.environ["SVHN_DEBUG_PROFILE"] == "smoke"
    import shutil

    from svhn_debug import cli
    from svhn_debug.cache import bench_path

    # The benchmarks' results on the cpu profile (the budget study, the loop's speed, ...) are
    # measurements on its pools and this machine that chapter 1 shows whatever the profile: they
    # travel with the committed cache.
    bench_dir = bench_path("plateau_study", "cpu").parent
    bench_dir.mkdir(parents=True, exist_ok=True)
    for saved in sorted((ROOT / "cache" / "bench").glob("*-cpu.json")):
        shutil.copy(saved, bench_dir / saved.name)

    # Chapters only read the cache (they never train): `run-all` computes every run and the saved
    # diagnoses the checks chapter reads, two at a time; then nothing the book needs is missing.
    assert cli.main(["run-all", "--jobs", "2"]) == 0
    assert cli.main(["status", "--check"]) == 0
    done = book.execute_chapters(ROOT, cache_dir=tmp_path / "jupyter-cache", progress=False)
    assert len(done) == len(book.chapter_files(book.load_book(ROOT)))
    for path, _, nb in done:
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors, f"{path}: {errors[0]['ename']}: {errors[0]['evalue']}"


def test_an_unchanged_chapter_is_not_executed_twice(tmp_path, monkeypatch):
    import nbclient

    text = "# T {#sec-t}\n\n```{python}\nx = 1\n```\n\nx is `{python} x`.\n"
    cache_dir = tmp_path / "jc"
    first = book.execute(book.to_notebook(book.parse_qmd(text)), tmp_path, cache_dir)
    calls = []
    monkeypatch.setattr(nbclient.NotebookClient, "execute", lambda self, **kw: calls.append(1))
    second = book.execute(book.to_notebook(book.parse_qmd(text)), tmp_path, cache_dir)
    assert calls == []  # merged from jupyter-cache
    assert second.cells[-1].outputs == first.cells[-1].outputs


def test_a_change_in_the_package_or_profile_re_executes_a_chapter(monkeypatch):
    text = "# T {#sec-t}\n\n```{python}\nx = 1\n```\n"
    from jupyter_cache.cache.main import JupyterCacheBase

    def key(nb):
        return JupyterCacheBase.create_hashed_notebook(None, nb)[1]
    base = key(book.to_notebook(book.parse_qmd(text)))
    with monkeypatch.context() as m:
        m.setattr(book, "package_fingerprint", lambda: "edited")
        assert key(book.to_notebook(book.parse_qmd(text))) != base
    with monkeypatch.context() as m:
        m.setenv("SVHN_DEBUG_PROFILE", "full")
        assert key(book.to_notebook(book.parse_qmd(text))) != base
    assert key(book.to_notebook(book.parse_qmd(text))) == base


def test_an_unresolved_cross_reference_stops_the_offline_render(tmp_path):
    (tmp_path / "_quarto.yml").write_text(
        "project: {type: book}\nbook:\n  title: T\n  chapters: [index.qmd, c.qmd]\nexecute: {echo: false}\n")
    (tmp_path / "index.qmd").write_text("# Preface {.unnumbered}\n\nHello.\n")
    (tmp_path / "c.qmd").write_text("# Chap {#sec-c}\n\nSee @fig-nowhere and @sec-c.\n")
    with pytest.raises(book.UnresolvedReference, match="@fig-nowhere"):
        book.render(tmp_path)
    assert book.main(["--root", str(tmp_path)]) == 1


def test_a_recomputed_run_re_executes_the_chapters_that_read_it(tmp_path, monkeypatch):
    # catches: a render that reuses a chapter's old outputs after `run --force` changed the cache
    from svhn_debug.cache import cache_root

    text = "# T {#sec-t}\n\n```{python}\nx = 1\n```\n"
    entry = cache_root() / "smoke" / "abc-def"
    entry.mkdir(parents=True)
    (entry / "meta.sha256").write_text("1" * 64)
    before = book.to_notebook(book.parse_qmd(text)).cells[0].source
    (entry / "meta.sha256").write_text("2" * 64)
    assert book.to_notebook(book.parse_qmd(text)).cells[0].source != before


def test_the_quarto_pre_render_step_removes_a_stale_freeze(tmp_path):
    from svhn_debug.cache import cache_root

    frozen = tmp_path / "_freeze" / "chapters" / "c" / "execute-results"
    frozen.mkdir(parents=True)
    (frozen / "typ.json").write_text("{}")
    assert book.freshen_freeze(tmp_path) is True and not frozen.exists()  # no stamp: stale
    frozen.mkdir(parents=True)
    assert book.freshen_freeze(tmp_path) is False and frozen.exists()  # nothing changed since
    entry = cache_root() / "smoke" / "abc-def"
    entry.mkdir(parents=True)
    (entry / "meta.sha256").write_text("3" * 64)  # a run was (re)computed
    assert book.freshen_freeze(tmp_path) is True and not frozen.exists()


def test_the_offline_renderer_prints_what_quarto_prints_for_the_same_source(tmp_path):
    # Each imitation (inline values, cross-reference texts, captions, callout title and body)
    # against the text real Quarto produced for the same source (tests/fixtures/mini-book).
    import shutil

    fixture = ROOT / "tests" / "fixtures" / "mini-book"
    shutil.copytree(fixture, tmp_path / "book")
    book.render(tmp_path / "book")
    md = (tmp_path / "book" / "_book" / "book.md").read_text()
    plain = re.sub(r"\*\*|(?<!\w)\*|\*(?!\w)", "", md)
    expected = [line.strip() for line in (fixture / "quarto-expected.txt").read_text().splitlines() if line.strip()]
    assert len(expected) >= 8
    missing = [line for line in expected if line not in plain]
    assert missing == [], f"the offline render differs from Quarto's in: {missing}"


def test_every_cell_and_inline_expression_of_the_book_is_python():
    # An inline expression ends at the first backtick: a backtick inside one (say, a code span
    # in an f-string) cuts it short, and the render fails late. catches that before any run.
    import ast

    for path, _ in book.chapter_files(book.load_book(ROOT)):
        for cell in book.parse_qmd((ROOT / path).read_text()):
            sources = [cell.source] if cell.kind == "code" else book.INLINE_RE.findall(cell.source)
            for src in sources:
                try:
                    ast.parse(src)
                except SyntaxError as err:
                    pytest.fail(f"{path}: {err.msg} in {src[:80]!r}")


def test_an_inline_expression_that_prints_nothing_fails_as_quarto_would_show_its_source(tmp_path):
    # Quarto prints the source of an inline expression whose value is empty; the offline path
    # stops instead, so that CI's execution of the chapters catches such a sentence.
    text = "# T {#sec-t}\n\nA `{python} ''` sentence.\n"
    with pytest.raises(RuntimeError, match="printed nothing"):
        book.execute(book.to_notebook(book.parse_qmd(text)), tmp_path, tmp_path / "jc")


def test_table_cells_never_hyphenate_in_either_pdf(tmp_path):
    # A narrow column split "precision" into "preci-sion" and identifiers mid-name; both PDF
    # paths (the offline renderer's Typst and Quarto's Typst include) turn hyphenation off in tables.
    (tmp_path / "_quarto.yml").write_text("project: {type: book}\nbook:\n  title: T\n  chapters: [index.qmd]\n")
    (tmp_path / "index.qmd").write_text("# Preface {.unnumbered}\n\n| precision | a |\n|---|---|\n| bf16 | 1 |\n")
    book.render(tmp_path)
    # ... and set table cells ragged right, in 9 points (a justified narrow cell spread its words
    # and broke the identifier after them)
    assert "#show table: set text(hyphenate: false)" in book.TABLE_RULES
    assert "#show table: set par(justify: false)" in book.TABLE_RULES
    for rule in book.TABLE_RULES:
        assert rule in (tmp_path / "_book" / "book.typ").read_text()
        assert rule in (ROOT / "book-typst.typ").read_text()
    assert "book-typst.typ" in (ROOT / "_quarto.yml").read_text()


def test_quarto_chapters_start_on_the_next_page_without_blank_pages_between(tmp_path):
    # Quarto's Typst book template breaks to the next odd page before every chapter; the blank
    # left-hand pages it left carried the running header. book-typst.typ (Quarto's include)
    # turns those breaks into plain page breaks: three short chapters take three pages, not seven.
    import typst

    template = ('#let tpl(body) = { show heading.where(level: 1): it => { pagebreak(to: "odd"); it }; body }\n'
                "#show: tpl\n= One\nText.\n= Two\nText.\n= Three\nText.\n")
    (tmp_path / "with.typ").write_text((ROOT / "book-typst.typ").read_text() + "\n" + template)
    (tmp_path / "without.typ").write_text(template)
    assert len(typst.compile(str(tmp_path / "without.typ"), format="svg")) == 7  # the template alone
    assert len(typst.compile(str(tmp_path / "with.typ"), format="svg")) == 3


@pytest.mark.parametrize("kind", ['"quarto-float-tbl"', "table"])
def test_a_table_caption_moves_to_the_next_page_with_its_table(tmp_path, kind):
    # Quarto's tables are figures of kind "quarto-float-tbl", pandoc's (the offline path) of kind
    # table; both may break across pages, and a caption above a table that did not fit stood alone
    # at the foot of the page. Here the page has room for the caption but not for the first row.
    import json

    import typst

    table = (f'#figure(table(columns: 2, [#metadata("row") <row-mark> first], ..range(11).map(i => [#i])), '
             f'caption: figure.caption(position: top, [A caption #metadata("cap") <cap-mark>]), kind: {kind}, '
             'supplement: "Table")\n')
    pages = ("#context [#metadata((query(<row-mark>).first().location().page(), "
             "query(<cap-mark>).first().location().page())) <pages>]\n")
    for header, expected in (("#show figure: set block(breakable: true)\n", [2, 1]),  # the old rule
                             ((ROOT / "book-typst.typ").read_text(), [2, 2])):
        (tmp_path / "t.typ").write_text(header + "#v(24cm)\n" + table + pages)
        assert json.loads(typst.query(str(tmp_path / "t.typ"), "<pages>", field="value", one=True)) == expected


def test_the_bibliography_prints_every_address_as_written(tmp_path):
    # an address in `howpublished` is read as a sentence and printed "Https://..."; in `url` it is not
    import pypandoc

    keys = re.findall(r"^@\w+\{([^,]+),", (ROOT / "references.bib").read_text(), re.M)
    (tmp_path / "cite.md").write_text("---\ntitle: t\nnocite: '@*'\n---\n\nText.\n")
    out = pypandoc.convert_file(str(tmp_path / "cite.md"), "plain", format="markdown",
                                extra_args=["--citeproc", "--bibliography", str(ROOT / "references.bib")])
    assert len(keys) >= 8 and "https://github.com/google-research/tuning_playbook" in out
    assert "Https://" not in out and "Http://" not in out
