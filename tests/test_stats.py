"""The decision rule on constructed numbers: each case names the break it catches."""

import math

import pytest

from svhn_debug import stats


def test_summary_uses_the_sample_standard_deviation():
    # catches: population std (n in the denominator) instead of n - 1
    s = stats.Summary((0.80, 0.82, 0.84))
    assert s.mean == pytest.approx(0.82)
    assert s.std == pytest.approx(0.02)
    assert s.spread == pytest.approx(0.04)


def test_summary_of_one_seed_has_zero_std_and_a_diverged_seed_has_no_mean():
    assert stats.Summary((0.5,)).std == 0.0
    s = stats.Summary((0.5, None, 0.7))
    assert s.diverged == 1 and s.mean is None and s.std is None and s.finite == (0.5, 0.7)


def test_pairing_is_by_seed_not_by_position():
    # catches: zip() of the two lists in run order
    p = stats.pair({0: 0.9, 1: 0.5, 2: 0.7}, {2: 0.6, 0: 0.8, 1: 0.4})
    assert p.seeds == (0, 1, 2)
    assert p.gains == pytest.approx((0.1, 0.1, 0.1))


def test_pairing_ignores_seeds_only_one_side_ran():
    p = stats.pair({0: 0.9, 1: 0.5, 7: 0.1}, {0: 0.8, 1: 0.4, 3: 0.9})
    assert p.seeds == (0, 1)


def test_consistent_small_gains_are_adopted_where_a_spread_rule_would_not_be():
    # Seeds vary by 10 points, but the change gains 1 point on each seed, +-0.1:
    # paired, this is clear; compared by the seed spread it would be noise.
    base = {0: 0.70, 1: 0.75, 2: 0.80}
    cand = {0: 0.711, 1: 0.760, 2: 0.809}
    d = stats.decide(stats.pair(cand, base))
    assert d.outcome == stats.ADOPT, d.reason
    assert d.adopted


def test_a_mean_gain_within_two_standard_errors_is_rejected():
    # gains +5, -3, +1 points: mean 1, std 4, se 2.31: 1 < 4.62
    d = stats.decide(stats.pair({0: 0.55, 1: 0.47, 2: 0.51}, {0: 0.5, 1: 0.5, 2: 0.5}))
    assert d.outcome == stats.REJECT
    assert d.paired.stderr == pytest.approx(0.04 / math.sqrt(3))


def test_the_threshold_is_two_standard_errors():
    # gains with mean m and se s: adopt just above 2s, reject just below
    def gains_for(mean, se):
        sd = se * math.sqrt(3)
        return {0: mean - sd, 1: mean, 2: mean + sd}
    zero = {0: 0.0, 1: 0.0, 2: 0.0}
    assert stats.decide(stats.pair(gains_for(0.0201, 0.01), zero)).adopted
    assert not stats.decide(stats.pair(gains_for(0.0199, 0.01), zero)).adopted


def test_a_loss_is_never_adopted_even_with_zero_spread():
    d = stats.decide(stats.pair({0: 0.4, 1: 0.4, 2: 0.4}, {0: 0.5, 1: 0.5, 2: 0.5}))
    assert d.outcome == stats.REJECT


def test_a_one_seed_screen_never_adopts_a_large_gain():
    # catches: the old rule, where the spread of one seed is zero and any gain adopts
    d = stats.decide(stats.pair({0: 0.9}, {0: 0.2}))
    assert d.outcome == stats.CONFIRM and not d.adopted and d.screen


def test_a_screen_that_loses_is_dropped():
    assert stats.decide(stats.pair({0: 0.2}, {0: 0.3})).outcome == stats.DROP


def test_two_seeds_are_still_a_screen():
    d = stats.decide(stats.pair({0: 0.9, 1: 0.91}, {0: 0.2, 1: 0.2}))
    assert d.outcome == stats.CONFIRM


def test_a_candidate_that_diverged_on_one_seed_is_rejected():
    d = stats.decide(stats.pair({0: 0.9, 1: None, 2: 0.9, 3: 0.9}, {0: 0.2, 1: 0.2, 2: 0.2, 3: 0.2}))
    assert d.outcome == stats.REJECT and "diverged" in d.reason and "1" in d.reason


def test_seeds_where_only_the_baseline_diverged_are_left_out():
    p = stats.pair({0: 0.9, 1: 0.9, 2: 0.9, 3: 0.8}, {0: 0.8, 1: None, 2: 0.8, 3: 0.7})
    assert p.baseline_only_diverged == (1,) and p.seeds == (0, 2, 3)
    assert stats.decide(p).adopted


def test_beyond_noise_reads_the_rule_both_ways_and_counts_a_divergence():
    base = {0: 0.80, 1: 0.82, 2: 0.84}
    assert stats.beyond_noise(stats.pair({0: 0.60, 1: 0.61, 2: 0.65}, base))  # a steady loss
    assert stats.beyond_noise(stats.pair({0: 0.85, 1: 0.87, 2: 0.89}, base))  # a steady gain
    assert not stats.beyond_noise(stats.pair({0: 0.90, 1: 0.72, 2: 0.84}, base))  # within the noise
    assert not stats.beyond_noise(stats.pair({0: 0.10}, {0: 0.80}))  # one seed: a screen, either way
    # catches: a run that diverged read as "no effect" because it has no value to pair
    assert stats.beyond_noise(stats.pair({0: None, 1: 0.82, 2: 0.84}, base))


def test_the_bar_needs_five_seeds_each_and_twice_the_larger_std():
    bar = stats.Summary((0.50, 0.52, 0.48, 0.50, 0.50))  # std 0.01414
    good = stats.Summary((0.60, 0.61, 0.59, 0.60, 0.60))
    assert stats.beats_bar(good, bar).beats
    near = stats.Summary((0.52, 0.53, 0.51, 0.52, 0.52))  # margin 0.02 < 2 * 0.01414
    assert not stats.beats_bar(near, bar).beats
    three = stats.Summary((0.60, 0.61, 0.59))
    assert not stats.beats_bar(three, bar).beats  # too few seeds, however large the margin
    assert not stats.beats_bar(stats.Summary((0.9, None, 0.9, 0.9, 0.9)), bar).beats

