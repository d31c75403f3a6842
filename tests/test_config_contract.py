"""The configuration contract as a property: any value outside a field's type or range is
refused when the configuration is built, by RunConfig itself, with the field's name."""

from __future__ import annotations

import math
from dataclasses import fields, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svhn_debug.config import COLLEAGUE, RULES, ConfigError, RunConfig

FIELDS = [f.name for f in fields(RunConfig)]
NOT_A_NUMBER = st.one_of(st.text(max_size=5), st.none(), st.booleans(), st.lists(st.integers(), max_size=2))


def invalid_values(name: str):
    """Values that break the rule of field ``name``, built from its kind and range."""
    rule = RULES[name]
    if rule.kind is bool:
        return st.one_of(st.integers(), st.text(max_size=5), st.none(), st.floats())
    if rule.kind is str:
        return st.one_of(st.text(max_size=12).filter(lambda s: s not in rule.choices), st.integers(), st.none())
    if rule.kind is tuple:
        return st.one_of(st.just(()), st.lists(st.text(max_size=6), min_size=1, max_size=3).map(tuple).filter(
            lambda t: any(v not in rule.choices for v in t)), st.text(max_size=6), st.none())
    below = [] if rule.low is None else [st.just(rule.low)] if rule.low_open else []
    above = [] if rule.high is None else [st.just(rule.high)] if rule.high_open else []
    out_of_range = []
    if rule.low is not None:
        out_of_range.append(st.floats(max_value=rule.low, exclude_max=True, allow_nan=False, allow_infinity=False)
                            .filter(lambda v: v < rule.low))
    if rule.high is not None:
        out_of_range.append(st.floats(min_value=rule.high, exclude_min=True, allow_nan=False, allow_infinity=False)
                            .filter(lambda v: v > rule.high))
    special = st.sampled_from([math.nan, math.inf, -math.inf])
    if rule.kind is int:
        fractional = st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: not float(v).is_integer())
        out_of_range = [s.map(lambda v: int(math.floor(v)) if v < (rule.low or 0) else int(math.ceil(v)))
                        .filter(lambda v: (rule.low is not None and v < rule.low) or (rule.high is not None and v > rule.high))
                        for s in out_of_range]
        return st.one_of(NOT_A_NUMBER, special, fractional, *out_of_range, *below, *above)
    return st.one_of(NOT_A_NUMBER, special, *out_of_range, *below, *above)


@pytest.mark.parametrize("name", FIELDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_invalid_value_is_refused_when_the_configuration_is_built(name, data):
    value = data.draw(invalid_values(name))
    with pytest.raises(ConfigError, match=rf"^RunConfig\.{name}=.* is not allowed: must be "):
        replace(COLLEAGUE, **{name: value})


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_values_inside_every_rule_are_accepted(data):
    changes = {}
    for name, rule in RULES.items():
        if rule.kind is bool:
            changes[name] = data.draw(st.booleans())
        elif rule.kind is str:
            changes[name] = data.draw(st.sampled_from(rule.choices))
        elif rule.kind is tuple:
            changes[name] = tuple(data.draw(st.lists(st.sampled_from(rule.choices), min_size=1, unique=True)))
        else:
            low = rule.low if rule.low is not None else 0
            high = rule.high if rule.high is not None else low + 1000
            if rule.kind is int:
                changes[name] = data.draw(st.integers(min_value=int(low), max_value=int(high)))
            else:
                changes[name] = data.draw(st.floats(min_value=low, max_value=high, exclude_min=rule.low_open,
                                                    exclude_max=rule.high_open, allow_nan=False))
    # Three combinations that cannot run are refused on purpose (tested elsewhere): avoid them here.
    changes["label_smoothing"] = 0.0
    changes["nesterov"] = False
    if changes["cockpit"] != "off" and changes["precision"] == "bf16":
        changes["precision"] = "fp32"  # Cockpit cannot save bfloat16 quantities
    assert replace(COLLEAGUE, **changes).to_dict()["lr"] == changes["lr"]
