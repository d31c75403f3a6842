"""Does every figure of the HTML book fit its column? Headless Chromium at several window widths.

Loads every page of a rendered HTML book (Quarto's ``_book/`` by default) in headless Chromium at
each ``--widths`` window width and reports, per page and width:

- **clipped**: an element holding a figure (an image, an SVG, a figure) wider than the box it sits
  in while that box hides or scrolls the rest (the reader sees part of the figure, or a scroll bar);
- **outside**: a figure, table or code block reaching beyond the content column (``main``), unless
  it is a table inside its own horizontal scroll box (what narrow screens should get);
- **page**: the page itself wider than the window (the whole page scrolls sideways).

Each page is copied next to itself with a small script appended that measures the laid-out page
on load and writes its findings into the DOM, which Chromium prints (``--dump-dom``); the copy is
removed afterwards. Exit code 1 when anything is reported, 0 when every page fits at every width,
2 when there is nothing to check (no pages, or no Chromium).

Usage: python bench/html_widths.py [FOLDER] [--widths 400,1280,1920] [--chromium PATH] [--json]
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MEASURE = r"""
<script>
window.addEventListener('load', () => {
  const found = [];
  const main = document.querySelector('main') || document.body;
  const column = main.getBoundingClientRect();
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (el.getAttribute('src') ? '[' + el.getAttribute('src').split('/').pop() + ']' : '');
  const scrollBox = (el) => {
    for (let p = el.parentElement; p && p !== main; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') return p;
    }
    return null;
  };
  for (const el of main.querySelectorAll('img, svg, figure, table, pre')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || el.closest('nav, header, footer, .sidebar, #quarto-margin-sidebar')) continue;
    const box = scrollBox(el);
    const figure = !['table', 'pre'].includes(el.tagName.toLowerCase());
    if (figure && box && box.scrollWidth > box.clientWidth + 1) {
      found.push({kind: 'clipped', element: name(el), width: Math.round(r.width), box: Math.round(box.clientWidth)});
    } else if (r.right > column.right + 1 || r.left < column.left - 1) {
      if (!(box && !figure)) {
        found.push({kind: 'outside', element: name(el), width: Math.round(r.width), column: Math.round(column.width)});
      }
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    found.push({kind: 'page', element: 'html', width: document.documentElement.scrollWidth, column: window.innerWidth});
  }
  const out = document.createElement('pre');
  out.id = 'html-widths-report';
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>
"""
REPORT = re.compile(r'<pre id="html-widths-report">(.*?)</pre>', re.S)


def find_chromium(given: str | None = None) -> str | None:
    """The Chromium executable to use: ``given``, else the first of the usual names on the PATH."""
    if given:
        return shutil.which(given) or (given if Path(given).exists() else None)
    for candidate in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(candidate):
            return shutil.which(candidate)
    return None


def measure(page: Path, width: int, chromium: str, height: int = 900, timeout: float = 60.0) -> list[dict]:
    """What does not fit on ``page`` in a window ``width`` pixels wide (see the module docstring)."""
    text = page.read_text(encoding="utf-8")
    marked = text.replace("</body>", MEASURE + "</body>") if "</body>" in text else text + MEASURE
    with tempfile.NamedTemporaryFile("w", suffix=".html", prefix=".widths-", dir=page.parent, delete=False,
                                     encoding="utf-8") as copy:
        copy.write(marked)
    try:
        with tempfile.TemporaryDirectory() as profile:
            done = subprocess.run(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
                 f"--window-size={width},{height}", "--virtual-time-budget=10000", "--dump-dom",
                 Path(copy.name).as_uri()], capture_output=True, text=True, timeout=timeout)
    finally:
        Path(copy.name).unlink(missing_ok=True)
    match = REPORT.search(done.stdout)
    if not match:
        raise RuntimeError(f"{page.name} at {width} px: Chromium printed no measurement "
                           f"(exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return json.loads(html.unescape(match.group(1)))


def check(folder: Path, widths: list[int], chromium: str) -> dict[str, dict[int, list[dict]]]:
    """Every HTML page under ``folder`` at every width: ``{page: {width: [finding, ...]}}`` (only
    pages and widths with findings)."""
    report: dict[str, dict[int, list[dict]]] = {}
    for page in sorted(p for p in folder.rglob("*.html") if not p.name.startswith(".widths-")):
        for width in widths:
            found = measure(page, width, chromium)
            if found:
                report.setdefault(str(page.relative_to(folder)), {})[width] = found
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", default="_book", help="the rendered HTML book (default: _book)")
    parser.add_argument("--widths", default="400,1280,1920", help="window widths in pixels, comma-separated")
    parser.add_argument("--chromium", default=None, help="Chromium executable (default: found on the PATH)")
    parser.add_argument("--json", action="store_true", help="print the findings as one JSON document")
    args = parser.parse_args(argv)
    try:
        widths = [int(w) for w in args.widths.split(",")]
    except ValueError:
        parser.error(f"--widths takes whole numbers separated by commas, got {args.widths!r}")
    if any(w < 200 for w in widths):
        parser.error("--widths: every width must be at least 200 pixels")
    folder = Path(args.folder)
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print("html_widths: no Chromium found (install chromium, or pass --chromium PATH); nothing checked",
              file=sys.stderr)
        return 2
    if not folder.is_dir() or not any(folder.rglob("*.html")):
        print(f"html_widths: no HTML pages under {folder} (render the book with Quarto first); nothing checked",
              file=sys.stderr)
        return 2
    report = check(folder, widths, chromium)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        pages = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.html"))
        for page in pages:
            for width in widths:
                for f in report.get(page, {}).get(width, []):
                    limit = f.get("box", f.get("column"))
                    print(f"{page} at {width} px: {f['kind']} {f['element']}: {f['width']} px in {limit} px")
        print(f"{len(pages)} page(s) at {len(widths)} width(s): "
              + ("everything fits" if not report else f"{sum(len(v) for w in report.values() for v in w.values())} finding(s)"))
    return 1 if report else 0


if __name__ == "__main__":
    raise SystemExit(main())
