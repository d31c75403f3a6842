"""The decision rule on constructed numbers: each case names the break it catches."""

import functools
import math
import statistics

import pytest

from svhn_debug import stats

# The rule's mechanics, tested on three and four seeds; the book decides on at least
# stats.MIN_SEEDS (five), which test_the_book_decides_on_five_seeds pins.
decide = functools.partial(stats.decide, min_seeds=3)
beyond_noise = functools.partial(stats.beyond_noise, min_seeds=3)
direction = functools.partial(stats.direction, min_seeds=3)


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
    d = decide(stats.pair(cand, base))
    assert d.outcome == stats.ADOPT, d.reason
    assert d.adopted


def test_a_mean_gain_within_the_t_threshold_is_rejected():
    # gains +5, -3, +1 points: mean 1, std 4, se 2.31: 1 < 2.92 * 2.31
    d = decide(stats.pair({0: 0.55, 1: 0.47, 2: 0.51}, {0: 0.5, 1: 0.5, 2: 0.5}))
    assert d.outcome == stats.REJECT
    assert d.paired.stderr == pytest.approx(0.04 / math.sqrt(3))


@pytest.mark.parametrize("n, one_sided, two_sided", [(3, 2.919986, 4.302653), (4, 2.353363, 3.182446),
                                                     (5, 2.131847, 2.776445)])
def test_t_critical_values_for_three_four_and_five_seeds(n, one_sided, two_sided):
    # Student's t table, n - 1 degrees of freedom; catches: n degrees of freedom, the normal 1.645 /
    # 1.96, or the two readings swapped
    assert stats.t_critical(n) == pytest.approx(one_sided, abs=1e-5)
    assert stats.t_critical(n, two_sided=True) == pytest.approx(two_sided, abs=1e-5)


def test_t_critical_needs_two_values():
    with pytest.raises(ValueError, match="at least 2"):
        stats.t_critical(1)


def _gains_for(mean: float, se: float, n: int) -> dict[int, float]:
    """``n`` gains with exactly this mean and standard error (symmetric around the mean)."""
    half = [(i + 1) for i in range(n // 2)]
    offsets = [-h for h in half] + ([0] if n % 2 else []) + half
    sd = statistics.stdev(offsets)
    return {s: mean + o * se * math.sqrt(n) / sd for s, o in enumerate(offsets)}


@pytest.mark.parametrize("n", [3, 4, 5])
def test_adoption_threshold_is_the_one_sided_t_value_for_the_seeds_paired(n):
    # adopt just above t(n) standard errors, reject just below; catches: a fixed 2 standard errors
    # (adopts at 3 seeds with 2.1 se), or the two-sided value (rejects at 2.5 se with 5 seeds)
    zero = {s: 0.0 for s in range(n)}
    t = stats.t_critical(n)
    above = stats.pair(_gains_for(0.01 * (t + 0.01), 0.01, n), zero)
    below = stats.pair(_gains_for(0.01 * (t - 0.01), 0.01, n), zero)
    assert above.stderr == pytest.approx(0.01)
    assert decide(above).adopted
    assert not decide(below).adopted
    assert "t = " in decide(below).reason


def test_two_standard_errors_do_not_adopt_on_three_seeds():
    zero = {0: 0.0, 1: 0.0, 2: 0.0}
    assert not decide(stats.pair(_gains_for(0.021, 0.01, 3), zero)).adopted


@pytest.mark.parametrize("n", [3, 5])
def test_beyond_noise_is_the_two_sided_t_value_on_either_side(n):
    zero = {s: 0.0 for s in range(n)}
    t2 = stats.t_critical(n, two_sided=True)
    for sign in (1, -1):
        assert beyond_noise(stats.pair(_gains_for(sign * 0.01 * (t2 + 0.01), 0.01, n), zero))
        assert not beyond_noise(stats.pair(_gains_for(sign * 0.01 * (t2 - 0.01), 0.01, n), zero))
    # between the one-sided and the two-sided value: adopted, yet a loss that size is not beyond noise
    middle = 0.01 * (stats.t_critical(n) + t2) / 2
    assert decide(stats.pair(_gains_for(middle, 0.01, n), zero)).adopted
    assert direction(stats.pair(_gains_for(-middle, 0.01, n), zero)) == "nothing"


def test_direction_names_a_hurting_change_as_hurting():
    # the confirmations that lost 4.5 +- 1.8 points on 4 seeds were called "does not hold";
    # read two-sided they hurt
    base = {1: 0.80, 2: 0.82, 3: 0.84, 4: 0.81}
    worse = {1: 0.74, 2: 0.79, 3: 0.80, 4: 0.76}
    assert direction(stats.pair(worse, base)) == "hurts"
    assert direction(stats.pair(base, worse)) == "helps"
    assert direction(stats.pair({1: None, 2: 0.9, 3: 0.9}, base)) == "hurts"
    assert direction(stats.pair({1: 0.81, 2: 0.80, 3: 0.85, 4: 0.80}, base)) == "nothing"


def test_seeds_where_both_runs_are_on_the_plateau_are_ties_not_gains():
    # two one-class runs differ only in which class: 19.6% against 22.4% is no effect
    cand = {0: 0.196, 1: 0.196, 2: 0.201, 3: 0.85}
    base = {0: 0.224, 1: 0.224, 2: 0.224, 3: 0.80}
    p = stats.pair(cand, base, plateau=({0, 1, 2}, {0, 1, 2}))
    assert p.both_plateau == (0, 1, 2) and p.seeds == (3,)
    assert p.gains == pytest.approx((0.05,))
    assert not beyond_noise(p)
    d = decide(p)
    assert d.screen and "0, 1, 2 left out" in d.reason
    everywhere = stats.pair(cand, base, plateau=({0, 1, 2, 3}, {0, 1, 2, 3}))
    assert decide(everywhere).outcome == stats.DROP and "plateau on every seed" in decide(everywhere).reason
    assert decide(everywhere).paired is everywhere


def test_a_seed_where_only_one_side_is_on_the_plateau_keeps_its_gain():
    # leaving the plateau is what the change did
    p = stats.pair({0: 0.8, 1: 0.81, 2: 0.79}, {0: 0.2, 1: 0.2, 2: 0.2}, plateau=((), {0, 1, 2}))
    assert p.n == 3 and decide(p).adopted
    q = stats.pair({0: 0.2, 1: 0.2, 2: 0.2}, {0: 0.8, 1: 0.81, 2: 0.79}, plateau=({0, 1, 2}, ()))
    assert direction(q) == "hurts"


def test_a_loss_is_never_adopted_even_with_zero_spread():
    d = decide(stats.pair({0: 0.4, 1: 0.4, 2: 0.4}, {0: 0.5, 1: 0.5, 2: 0.5}))
    assert d.outcome == stats.REJECT


def test_a_one_seed_screen_never_adopts_a_large_gain():
    # catches: the old rule, where the spread of one seed is zero and any gain adopts
    d = decide(stats.pair({0: 0.9}, {0: 0.2}))
    assert d.outcome == stats.CONFIRM and not d.adopted and d.screen


def test_a_screen_that_loses_is_dropped():
    assert decide(stats.pair({0: 0.2}, {0: 0.3})).outcome == stats.DROP


def test_two_seeds_are_still_a_screen():
    d = decide(stats.pair({0: 0.9, 1: 0.91}, {0: 0.2, 1: 0.2}))
    assert d.outcome == stats.CONFIRM


def test_a_candidate_that_diverged_on_one_seed_is_rejected():
    d = decide(stats.pair({0: 0.9, 1: None, 2: 0.9, 3: 0.9}, {0: 0.2, 1: 0.2, 2: 0.2, 3: 0.2}))
    assert d.outcome == stats.REJECT and "diverged" in d.reason and "1" in d.reason


def test_seeds_where_only_the_baseline_diverged_are_left_out():
    p = stats.pair({0: 0.9, 1: 0.9, 2: 0.9, 3: 0.8}, {0: 0.8, 1: None, 2: 0.8, 3: 0.7})
    assert p.baseline_only_diverged == (1,) and p.seeds == (0, 2, 3)
    assert decide(p).adopted


def test_beyond_noise_reads_the_rule_both_ways_and_counts_a_divergence():
    base = {0: 0.80, 1: 0.82, 2: 0.84}
    assert beyond_noise(stats.pair({0: 0.60, 1: 0.61, 2: 0.65}, base))  # a steady loss
    assert beyond_noise(stats.pair({0: 0.85, 1: 0.87, 2: 0.89}, base))  # a steady gain
    assert not beyond_noise(stats.pair({0: 0.90, 1: 0.72, 2: 0.84}, base))  # within the noise
    assert not beyond_noise(stats.pair({0: 0.10}, {0: 0.80}))  # one seed: a screen, either way
    # catches: a run that diverged read as "no effect" because it has no value to pair
    assert beyond_noise(stats.pair({0: None, 1: 0.82, 2: 0.84}, base))


def test_the_bar_needs_five_seeds_each_and_twice_the_larger_std():
    bar = stats.Summary((0.50, 0.52, 0.48, 0.50, 0.50))  # std 0.01414
    good = stats.Summary((0.60, 0.61, 0.59, 0.60, 0.60))
    assert stats.beats_bar(good, bar).beats
    near = stats.Summary((0.52, 0.53, 0.51, 0.52, 0.52))  # margin 0.02 < 2 * 0.01414
    assert not stats.beats_bar(near, bar).beats
    three = stats.Summary((0.60, 0.61, 0.59))
    assert not stats.beats_bar(three, bar).beats  # too few seeds, however large the margin
    assert not stats.beats_bar(stats.Summary((0.9, None, 0.9, 0.9, 0.9)), bar).beats



def test_a_change_that_changes_nothing_is_not_adopted():
    # catches: ">=" for ">" in the threshold: gains of exactly zero on every seed (standard error 0)
    same = {0: 0.8, 1: 0.7, 2: 0.75}
    assert decide(stats.pair(same, same)).outcome == stats.REJECT
    assert direction(stats.pair(same, same)) == "nothing"


def test_two_seeds_are_never_beyond_noise():
    # catches: beyond_noise judging two paired seeds (fewer than the rule's minimum) by t alone
    p = stats.pair({0: 0.30, 1: 0.31}, {0: 0.80, 1: 0.80})
    assert p.n == 2 and not beyond_noise(p) and direction(p) == "nothing"


def test_two_paired_seeds_have_a_critical_value_and_can_be_read_with_a_lower_seed_minimum():
    assert stats.t_critical(2) == pytest.approx(6.3138, rel=1e-4)  # one degree of freedom
    wide = stats.pair({0: 0.90, 1: 0.91}, {0: 0.50, 1: 0.50})  # two large, nearly equal gains
    assert stats.beyond_noise(wide, min_seeds=2) and stats.direction(wide, min_seeds=2) == "helps"
    assert not stats.beyond_noise(wide)  # the book's minimum is five seeds


def test_a_stricter_alpha_reaches_the_direction_reading():
    p = stats.pair({0: 0.60, 1: 0.62, 2: 0.66}, {0: 0.50, 1: 0.50, 2: 0.50})  # t about 7.6 on 2 df
    assert direction(p) == "helps"
    assert direction(p, alpha=0.01) == "nothing"  # two-sided 1%: 9.92


def test_a_diverged_change_is_rejected_with_its_pairing_and_every_reason_names_its_seeds():
    p = stats.pair({0: None, 1: 0.7, 2: 0.7}, {0: 0.5, 1: 0.5, 2: 0.5})
    d = decide(p)
    assert d.outcome == stats.REJECT and d.paired is p and "diverged on seed 0" in d.reason
    tie = stats.pair({0: 0.2, 1: 0.7, 2: 0.72, 3: 0.71}, {0: 0.2, 1: 0.5, 2: 0.5, 3: 0.5}, plateau=({0}, {0}))
    assert "seed 0 left out, both runs on the plateau" in decide(tie).reason
    screen = decide(stats.pair({0: 0.6}, {0: 0.5}))
    assert screen.outcome == stats.CONFIRM and screen.reason.startswith("1 paired seed, a screen: gain +10.0 points")


def test_the_bar_is_beaten_by_more_than_twice_the_larger_standard_deviation_by_default():
    bar = stats.Summary((0.50, 0.52, 0.54, 0.50, 0.52))  # std 0.0167
    close = stats.Summary((0.56, 0.56, 0.56, 0.56, 0.56))  # 4.4 points above: 2.6 standard deviations
    assert stats.beats_bar(close, bar).beats
    assert not stats.beats_bar(close, bar, k=3.0).beats


def test_the_bar_comparison_records_its_margin_its_need_and_the_seeds_of_both_sides():
    bar = stats.Summary((0.50, 0.52, 0.54, 0.50, 0.52))
    c = stats.beats_bar(stats.Summary((0.56, 0.56, 0.56, 0.56)), bar)
    assert c.margin == pytest.approx(0.044) and c.needed == pytest.approx(2 * statistics.stdev(bar.values))
    assert c.seeds == (4, 5) and not c.beats  # four seeds: fewer than the five a bar needs
    exact = stats.beats_bar(stats.Summary((0.516 + c.needed,) * 5), bar)
    assert exact.margin == pytest.approx(exact.needed) and not exact.beats  # the margin must exceed the need
    none = stats.beats_bar(stats.Summary((None,)), bar)
    assert none == stats.BarComparison(None, None, (1, 5), False)
    dropped = stats.pair({0: 0.4}, {0: 0.5})
    assert decide(dropped).paired is dropped and decide(dropped).outcome == stats.DROP
    assert stats._seeds((1, 2)) == "seeds 1, 2" and stats._seeds((3,)) == "seed 3"


def test_the_book_decides_on_five_seeds():
    # catches: a decision (or a "beyond noise" reading) on fewer than the five seeds the registry
    # declares for every decision
    assert stats.MIN_SEEDS == 5
    base = {s: 0.50 for s in range(5)}
    four = stats.pair({s: 0.90 + 0.001 * s for s in range(4)}, base)
    assert stats.decide(four).outcome == stats.CONFIRM and not stats.beyond_noise(four)
    five = stats.pair({s: 0.90 + 0.001 * s for s in range(5)}, base)
    assert stats.decide(five).adopted and stats.direction(five) == "helps"
    assert "5 seeds" in stats.RULE


def test_a_margin_equal_to_the_need_does_not_beat_the_bar_and_a_reason_prints_the_gain_in_points():
    same = stats.Summary((0.5,) * 5)
    tie = stats.beats_bar(same, same)  # margin 0 and need 0, exactly
    assert tie.margin == 0 == tie.needed and not tie.beats
    base = {s: 0.3 for s in range(5)}
    p = stats.pair({s: 0.3 + g for s, g in enumerate((0.2, 0.8, 0.5, 0.5, 0.5))}, base)
    adopted = stats.decide(p)
    assert adopted.outcome == stats.ADOPT and adopted.paired is p
    assert adopted.reason == "mean gain +50.0 points over 5 paired seeds, standard error 9.5: more than t = 2.13 standard errors"
    assert "t = 3.75 standard errors" in stats.decide(p, alpha=0.01).reason  # alpha reaches the critical value


def test_a_screen_confirms_only_a_positive_gain_and_says_so_in_words():
    base = {0: 0.3, 1: 0.3}
    up = stats.pair({0: 0.4, 1: 0.5}, base)
    confirm = stats.decide(up)
    assert confirm.outcome == stats.CONFIRM and confirm.paired is up
    assert confirm.reason == f"2 paired seeds, a screen: gain +15.0 points, to be confirmed on {stats.MIN_SEEDS}+ seeds"
    flat = stats.pair({0: 0.3}, {0: 0.3})
    drop = stats.decide(flat)
    assert drop.outcome == stats.DROP and drop.reason == "1 paired seed, a screen: gain +0.0 points"
    down = stats.decide(stats.pair({0: 0.2}, {0: 0.3}))
    assert down.reason == "1 paired seed, a screen: gain -10.0 points"
