"""The HTML width check (bench/html_widths.py) on constructed pages whose answers are known,
and on the rendered book when there is one (Quarto's _book/)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("html_widths", ROOT / "bench" / "html_widths.py")
html_widths = importlib.util.module_from_spec(spec)
spec.loader.exec_module(html_widths)

CHROMIUM = html_widths.find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine")

PAGE = """<!doctype html><html><head><style>
main {{ width: 600px; margin: 0 auto; }} .scroll {{ overflow-x: auto; }}
</style></head><body><main>{body}</main></body></html>"""
WIDE_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="50"><rect width="{w}" height="50"/></svg>'


def page(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.html"
    path.write_text(PAGE.format(body=body), encoding="utf-8")
    return path


@needs_chromium
def test_a_figure_that_fits_is_not_reported(tmp_path):
    assert html_widths.measure(page(tmp_path, "fits", WIDE_SVG.format(w=500)), 1280, CHROMIUM) == []


@needs_chromium
def test_a_figure_wider_than_the_column_is_reported_outside(tmp_path):
    found = html_widths.measure(page(tmp_path, "wide", WIDE_SVG.format(w=900)), 1280, CHROMIUM)
    assert [f["kind"] for f in found] == ["outside"] and found[0]["column"] == 600


@needs_chromium
def test_a_figure_behind_a_scroll_bar_is_reported_clipped(tmp_path):
    found = html_widths.measure(page(tmp_path, "clipped", f'<div class="scroll">{WIDE_SVG.format(w=900)}</div>'),
                                1280, CHROMIUM)
    assert [f["kind"] for f in found] == ["clipped"]


@needs_chromium
def test_a_wide_table_in_its_own_scroll_box_is_allowed_but_not_outside_one(tmp_path):
    table = "<table><tr>" + "<td>column</td>" * 80 + "</tr></table>"
    assert html_widths.measure(page(tmp_path, "boxed", f'<div class="scroll">{table}</div>'), 1280, CHROMIUM) == []
    found = html_widths.measure(page(tmp_path, "loose", table), 1280, CHROMIUM)
    assert "outside" in [f["kind"] for f in found]


@needs_chromium
def test_a_page_wider_than_a_narrow_window_is_reported_and_the_copy_is_removed(tmp_path):
    found = html_widths.measure(page(tmp_path, "narrow", WIDE_SVG.format(w=500)), 400, CHROMIUM)
    assert "page" in [f["kind"] for f in found]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["narrow.html"]


def test_the_command_says_when_there_is_nothing_to_check(tmp_path, capsys):
    assert html_widths.main([str(tmp_path), "--chromium", str(tmp_path / "no-such-browser")]) == 2
    assert "nothing checked" in capsys.readouterr().err
    if CHROMIUM:
        assert html_widths.main([str(tmp_path)]) == 2
        assert "no HTML pages" in capsys.readouterr().err


@needs_chromium
@pytest.mark.skipif(not (ROOT / "_book" / "index.html").exists(), reason="no HTML book rendered (quarto render)")
def test_every_page_of_the_rendered_book_fits_from_400_to_1920_pixels():
    report = html_widths.check(ROOT / "_book", [400, 1280, 1920], CHROMIUM)
    assert report == {}
