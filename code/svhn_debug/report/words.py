"""How numbers and code read in a sentence (``Inline`` values for ``{python}`` expressions), and
``claim``, the one guard of a sentence against the cached runs."""

from __future__ import annotations

import math
import re



class Inline(str):
    """Text for an inline ``{python}`` expression: shown as is (no quotes) by Quarto and the
    offline renderer alike."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_markdown_(self) -> str:
        return str(self)


def pct(x: float | None, digits: int = 1) -> Inline:
    """``0.8123`` -> ``81.2%``; no value (a diverged run): ``n/a``."""
    return Inline("n/a" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}%")


def pp(x: float | None, digits: int = 1) -> Inline:
    """A difference of two fractions in percentage points, signed: ``+3.2 points``; no value (no
    seed to pair: diverged, or both runs on the plateau): ``n/a``."""
    if x is None or not math.isfinite(x):
        return Inline("n/a")
    return Inline(f"{100 * x:+.{digits}f} points".replace("-", "\u2212"))  # a minus sign, not a hyphen


def points(x: float | None, digits: int = 1) -> Inline:
    """A size of a difference of two fractions, unsigned: ``1.9 points``; no value: ``n/a``."""
    if x is None or not math.isfinite(x):
        return Inline("n/a")
    return Inline(f"{100 * abs(x):.{digits}f} points")


def printed_difference(a: float | None, b: float | None, digits: int = 1) -> float | None:
    """``a - b`` as a reader computes it from ``pct(a)`` and ``pct(b)``: the difference of the
    two printed, rounded percentages, as a fraction (``0.848, 0.8426`` -> ``0.005``, not
    ``0.0054``); ``None`` when either is missing."""
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return None
    printed = [float(f"{100 * x:.{digits}f}") for x in (a, b)]  # rounded exactly as pct() prints them
    return (printed[0] - printed[1]) / 100


def plain_exponents(text: str) -> str:
    """``text`` with every exponent in the book's notation: ``1e-5``, not Python's ``1e-05``."""
    return re.sub(r"(\d)e([+-])0+(\d)", r"\1e\2\3", text)


def num(x: float | int, digits: int = 3) -> Inline:
    """A number with ``digits`` significant digits (integers with thousands separators); below
    10⁻⁴ in the book's one scientific notation, ``1e-5`` (Python writes ``1e-05``)."""
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 1):
        return Inline(f"{int(x):,}")
    if abs(x) >= 10 ** digits:
        return Inline(f"{x:,.0f}")
    return Inline(plain_exponents(f"{x:.{digits}g}"))


def sci(x: float, digits: int = 3) -> Inline:
    """``x`` in scientific notation with at most ``digits`` significant digits, as the book writes a
    learning rate: ``1e-5``, ``1.75e-4`` (a quantity printed in one notation throughout a sentence)."""
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return Inline(f"{mantissa}e{int(exponent)}")


def code(text: str) -> Inline:
    """Inline code formatting."""
    return Inline(f"`{text}`")


class ClaimFailed(AssertionError):
    """A sentence of the book that the cached runs no longer support."""


def claim(holds: bool, chapter: str, text: str) -> None:
    """Guard a claim the prose makes (call it in a chapter's code cell): stop the render with a
    message naming the chapter and the claim when the cached runs contradict it. In the
    ``smoke`` profile (whose numbers only show that the code runs) a failed claim is a warning
    instead."""
    import warnings

    from ..profiles import active_profile

    if not holds:
        message = f"{chapter}: the claim {text!r} does not hold for the cached {active_profile().name} runs"
        if active_profile().name != "smoke":
            raise ClaimFailed(message)
        warnings.warn(message, stacklevel=2)
