"""Chapter facts: one function per chapter returns its named values after checking every claim
it declares, through the one guard (``report.claim``)."""

from __future__ import annotations

import pytest

from svhn_debug import facts, report


def test_the_values_come_back_when_every_claim_holds():
    f = facts.checked("Chapter 0", [facts.Claim("one is one", True)], answer=42, text=report.Inline("x"))
    assert f.answer == 42 and f.text == "x" and [c.text for c in f.claims] == ["one is one"]


def test_a_claim_that_fails_stops_the_chapter_outside_the_smoke_profile(monkeypatch):
    monkeypatch.setenv("SVHN_DEBUG_PROFILE", "cpu")
    claims = [facts.Claim("one is one", True), facts.Claim("two is three", False)]
    with pytest.raises(report.ClaimFailed, match="Chapter 0: the claim 'two is three' does not hold"):
        facts.checked("Chapter 0", claims, answer=42)


def test_a_claim_that_fails_on_the_smoke_budget_is_a_warning():
    # the smoke profile's numbers only show that the code runs: a claim about them warns
    with pytest.warns(UserWarning, match="two is three"):
        f = facts.checked("Chapter 0", [facts.Claim("two is three", False)], answer=42)
    assert f.answer == 42


def test_every_claim_of_a_chapter_is_checked_not_only_the_first(monkeypatch):
    seen = []
    monkeypatch.setattr(report, "claim", lambda holds, chapter, text: seen.append((holds, text)))
    facts.checked("Chapter 0", [facts.Claim(t, t != "b") for t in ("a", "b", "c")])
    assert seen == [(True, "a"), (False, "b"), (True, "c")]
