"""gcop.results.ranks: rank-sets that cover the true ranks, and Pareto probabilities, on hand-made
cases and by simulation."""

from __future__ import annotations

import numpy as np

from bench.bench_ranks import simulate
from gcop.results.ranks import RankSet, paired_cohort, pareto_probability, rank_sets


def test_rank_sets_cover_every_true_rank_in_at_least_95_percent_of_leaderboards():
    """The bench's simulation, smaller (bench/bench_ranks.py runs 1,000 leaderboards)."""
    figures = simulate(np.array([0.50, 0.55, 0.60, 0.62, 0.70, 0.71]), problems=200, leaderboards=300, draws=400)
    assert figures["coverage"] >= 0.95, figures
    assert 1.0 < figures["mean_rank_set_size"] < 6.0  # informative: neither a single rank nor every rank


def test_clear_gaps_give_single_ranks_and_ties_give_shared_sets():
    n = 200
    top, middle, bottom = np.ones(n), np.r_[np.ones(n // 2), np.zeros(n // 2)], np.zeros(n)
    assert rank_sets(np.vstack([middle, top, bottom])) == [RankSet(2, 2), RankSet(1, 1), RankSet(3, 3)]
    twin = middle.copy()
    assert rank_sets(np.vstack([middle, twin, bottom])) == [RankSet(1, 2), RankSet(1, 2), RankSet(3, 3)]
    # one problem apart on 200: indistinguishable
    close = middle.copy()
    close[-1] = 1
    assert rank_sets(np.vstack([middle, close])) == [RankSet(1, 2), RankSet(1, 2)]
    assert str(RankSet(2, 4)) == "2–4" and str(RankSet(3, 3)) == "3"
    assert rank_sets(np.ones((1, 5))) == [RankSet(1, 1)]


def test_pareto_probability_by_hand():
    n = 100
    cheap_good = np.ones(n)
    dear_worse = np.r_[np.ones(50), np.zeros(50)]
    costs = np.vstack([np.full(n, 1.0), np.full(n, 2.0)])
    assert pareto_probability(np.vstack([cheap_good, dear_worse]), costs) == [1.0, 0.0]
    # a dearer row that is also more accurate is on the frontier in every draw too
    assert pareto_probability(np.vstack([dear_worse, cheap_good]), costs) == [1.0, 1.0]


def test_only_rows_on_the_same_problems_are_paired():
    ids = {0: frozenset("abc"), 1: frozenset("abc"), 2: frozenset("ab"), 3: frozenset("abc")}
    assert paired_cohort(ids) == ([0, 1, 3], [2])
