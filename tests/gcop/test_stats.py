"""gcop.stats: the intervals and tests the leaderboard, the regression gate and training's
evaluation report, checked against hand-computed values and scipy."""

import pytest

from gcop.stats import mcnemar_exact, wilson_interval


def test_wilson_interval_matches_hand_values():
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson_interval(9, 10)
    assert lo == pytest.approx(0.5958, abs=1e-4) and hi == pytest.approx(0.9821, abs=1e-4)
    assert wilson_interval(0, 0) is None


def test_exact_mcnemar_p_values():
    # b = 8, c = 0: two-sided 2 * (1/2)^8, one-sided (1/2)^8
    p = mcnemar_exact(8, 0)
    assert p["two_sided"] == pytest.approx(2 / 256) and p["one_sided_worse"] == pytest.approx(1 / 256)
    assert mcnemar_exact(0, 0) == {"two_sided": 1.0, "one_sided_worse": 1.0}
    # b = 2, c = 5: P[X <= 2 | n = 7] = (1 + 7 + 21) / 128; one-sided (worse) P[X >= 2] = 1 - 8/128
    p = mcnemar_exact(2, 5)
    assert p["two_sided"] == pytest.approx(2 * 29 / 128) and p["one_sided_worse"] == pytest.approx(120 / 128)
    scipy_stats = pytest.importorskip("scipy.stats")
    for b, c in [(3, 9), (10, 4), (1, 1), (12, 0)]:
        assert mcnemar_exact(b, c)["two_sided"] == pytest.approx(scipy_stats.binomtest(b, b + c, 0.5).pvalue)
