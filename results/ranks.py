"""Ranks with their uncertainty: a leaderboard's rows compared on the problems they share.

A sorted table hides ties: two rows 1 point apart on 100 problems are not ranked. For the rows of
one benchmark/split/variant that were run on the same problem ids, :func:`rank_sets` resamples the
problems with replacement (the same draw for every row: the comparison is paired) and builds
simultaneous 95% intervals for every pairwise accuracy difference with the studentised maximum
over the pairs (one critical value for all of them, so the intervals hold *together*). Row i's
rank-set is then ``[1 + #rows surely better, m - #rows surely worse]``, where "surely" means the
difference's interval excludes 0. Because the intervals hold together with probability >= 95%,
every row's true rank lies in its rank-set at once with that probability (the idea of rank-sets
from simultaneous comparisons, as in Chatzi et al., "Prediction-Powered Ranking of Large Language
Models", without the prediction-powered part: here every sample is scored).

Under the same resampling, :func:`pareto_probability` is the share of draws in which a row lies on
the accuracy-vs-cost frontier (each draw recomputes both the accuracy and the cost per problem).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Bootstrap draws behind every rank-set and Pareto probability (seeded: the page is reproducible).
DRAWS = 2000
SEED = 0


@dataclass(frozen=True)
class RankSet:
    low: int
    high: int

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}–{self.high}"


def _draws(n: int, draws: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(draws, n))


def rank_sets(scores: np.ndarray, *, level: float = 0.95, draws: int = DRAWS, seed: int = SEED) -> list[RankSet]:
    """Rank-sets (1 = the most accurate) of the rows of ``scores`` (rows x problems, each cell a
    problem's mean score), jointly covering the true ranks with probability ``level``."""
    scores = np.asarray(scores, dtype=float)
    m, n = scores.shape
    if m == 1:
        return [RankSet(1, 1)]
    means = scores.mean(axis=1)
    boot = scores[:, _draws(n, draws, seed)].mean(axis=2)  # rows x draws
    i, j = np.triu_indices(m, k=1)
    diff = means[i] - means[j]
    boot_diff = boot[i] - boot[j]  # pairs x draws
    se = boot_diff.std(axis=1, ddof=1)
    # A pair whose difference never varies across draws (same outcome on every problem, or one row
    # always right where the other is always wrong) has no sampling error to scale by: its
    # difference is taken as it is (0: no evidence either way).
    se_safe = np.where(se > 0, se, np.inf)
    stat = np.abs(boot_diff - diff[:, None]) / se_safe[:, None]
    critical = float(np.quantile(stat.max(axis=0), level))
    lower, upper = diff - critical * se, diff + critical * se
    better = np.zeros((m, m), dtype=bool)  # better[a, b]: row a surely more accurate than row b
    for pair, (a, b) in enumerate(zip(i, j, strict=True)):
        if se[pair] == 0:
            if diff[pair] != 0:
                better[(a, b) if diff[pair] > 0 else (b, a)] = True
            continue
        if lower[pair] > 0:
            better[a, b] = True
        elif upper[pair] < 0:
            better[b, a] = True
    return [RankSet(1 + int(better[:, r].sum()), m - int(better[r, :].sum())) for r in range(m)]


def pareto_probability(scores: np.ndarray, costs: np.ndarray, *, draws: int = DRAWS, seed: int = SEED) -> list[float]:
    """Each row's share of bootstrap draws (the same draws as :func:`rank_sets`) in which no other
    row is at most as costly and at least as accurate, with one of the two strictly. ``costs``:
    rows x problems, each problem's $ (all its attempts)."""
    scores = np.asarray(scores, dtype=float)
    costs = np.asarray(costs, dtype=float)
    m, n = scores.shape
    idx = _draws(n, draws, seed)
    acc = scores[:, idx].mean(axis=2)  # rows x draws
    cost = costs[:, idx].mean(axis=2)
    on_frontier = np.ones((m, draws), dtype=bool)
    for a in range(m):
        for b in range(m):
            if a == b:
                continue
            dominated = (cost[b] <= cost[a]) & (acc[b] >= acc[a]) & ((cost[b] < cost[a]) | (acc[b] > acc[a]))
            on_frontier[a] &= ~dominated
    return [float(v) for v in on_frontier.mean(axis=1)]


def paired_cohort(ids: Mapping[int, frozenset[str]]) -> tuple[list[int], list[int]]:
    """(rows ranked together, rows left out): the largest set of rows run on the same problem ids
    (ties: the one with more problems); the others cannot be paired with it."""
    by_ids: dict[frozenset[str], list[int]] = {}
    for row, problem_ids in ids.items():
        by_ids.setdefault(problem_ids, []).append(row)
    cohort = max(by_ids.items(), key=lambda item: (len(item[1]), len(item[0])))[1] if by_ids else []
    return cohort, [r for r in ids if r not in cohort]


def score_matrix(rows: Sequence[Mapping[str, float]], problem_ids: Sequence[str]) -> np.ndarray:
    """rows x problems from each row's ``{problem id: value}``, in ``problem_ids`` order."""
    return np.array([[row[p] for p in problem_ids] for row in rows], dtype=float)
