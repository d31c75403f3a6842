"""Random search: reproducible draws inside the space, on the right scale, and clear errors."""

import math

import pytest

from svhn_debug.search import draw


def test_the_same_search_seed_draws_the_same_trials_and_another_differs():
    space = {"lr": (1e-4, 1e-1, "log"), "momentum": (0.8, 0.99, "linear")}
    assert draw(space, 5, search_seed=1) == draw(space, 5, search_seed=1)
    assert draw(space, 5, search_seed=1) != draw(space, 5, search_seed=2)


def test_draws_stay_inside_the_bounds():
    space = {"lr": (1e-4, 1e-1, "log"), "momentum": (0.8, 0.99, "linear")}
    for t in draw(space, 200, search_seed=0):
        assert 1e-4 <= t["lr"] <= 1e-1 and 0.8 <= t["momentum"] <= 0.99


def test_a_log_scale_is_uniform_in_the_exponent():
    # catches: a linear draw on a log space (then ~90% of rates would fall in the top decade)
    draws = [t["lr"] for t in draw({"lr": (1e-4, 1.0, "log")}, 2000, search_seed=3)]
    below_1e_2 = sum(x < 1e-2 for x in draws) / len(draws)
    assert below_1e_2 == pytest.approx(0.5, abs=0.05)
    lin = [t["m"] for t in draw({"m": (0.0, 1.0, "linear")}, 2000, search_seed=3)]
    assert sum(x < 0.5 for x in lin) / len(lin) == pytest.approx(0.5, abs=0.05)


def test_values_are_rounded_to_three_significant_digits():
    for t in draw({"lr": (1e-4, 1e-1, "log")}, 20, search_seed=0):
        mantissa = t["lr"] / 10 ** math.floor(math.log10(t["lr"]))
        assert round(mantissa, 2) == pytest.approx(mantissa)


@pytest.mark.parametrize("space, n, message", [
    ({}, 3, "empty"),
    ({"lr": (1e-3, 1e-4, "log")}, 3, "below the high bound"),
    ({"lr": (0.0, 1.0, "log")}, 3, "positive bounds"),
    ({"lr": (1e-4, 1.0, "cubic")}, 3, "unknown scale"),
    ({"lr": (1e-4, 1.0, "log")}, 0, "at least one trial"),
])
def test_bad_spaces_are_refused_with_a_reason(space, n, message):
    with pytest.raises(ValueError, match=message):
        draw(space, n, search_seed=0)
