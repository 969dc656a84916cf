"""The statistics every layer reports with: Wilson score intervals for accuracies and exact McNemar
tests for paired comparisons. Used by the leaderboard and the regression gate (``results``) and by
training's before/after evaluation (``train``), so it lives below both."""

from __future__ import annotations

import math

#: The two-sided 95% normal quantile.
Z95 = 1.959963984540054


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a binomial proportion (None for n = 0). ``successes`` may be a
    sum of per-problem means (a fraction of ``n`` problems), not only a count."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def binomial_cdf(k: int, n: int) -> float:
    """P[X <= k] for X ~ Binomial(n, 1/2), exactly (integer arithmetic, then one division)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def mcnemar_exact(b: int, c: int) -> dict[str, float]:
    """Exact McNemar p-values for ``b`` (baseline right, candidate wrong) and ``c`` (the reverse)."""
    n = b + c
    if n == 0:
        return {"two_sided": 1.0, "one_sided_worse": 1.0}
    two = min(1.0, 2 * binomial_cdf(min(b, c), n))
    worse = 1.0 - binomial_cdf(b - 1, n)  # P[X >= b]
    return {"two_sided": two, "one_sided_worse": max(0.0, min(1.0, worse))}
