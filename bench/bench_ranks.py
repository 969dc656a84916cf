"""Rank-set coverage by simulation: rows with known true accuracies, scored on the same problems
(correlated outcomes, so pairing matters), 1,000 simulated leaderboards. Reports the share whose
95% rank-sets cover every row's true rank at once (it must be >= 0.95) and the mean rank-set
size, for a few settings. Writes ``reports/benchmarks/rank_coverage.json``::

    .venv/bin/python bench/bench_ranks.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gcop.results.ranks import DRAWS, rank_sets  # noqa: E402

SETTINGS = {
    "6 rows, gaps 0.01-0.08, 200 problems": ([0.50, 0.55, 0.60, 0.62, 0.70, 0.71], 200),
    "6 rows, gaps 0.01-0.08, 1,000 problems": ([0.50, 0.55, 0.60, 0.62, 0.70, 0.71], 1000),
    "4 rows 0.10 apart, 100 problems": ([0.40, 0.50, 0.60, 0.70], 100),
    "8 rows 0.02 apart, 500 problems": ([0.50 + 0.02 * k for k in range(8)], 500),
}


def simulate(true: np.ndarray, *, problems: int, leaderboards: int, draws: int, seed: int = 1) -> dict[str, float]:
    """Coverage (all true ranks inside their sets at once) and the mean set size. A shared draw
    decides 70% of each problem's outcomes for every row (correlated rows), the rest is each
    row's own: every row's accuracy is still its true one."""
    rng = np.random.default_rng(seed)
    true_rank = np.argsort(np.argsort(-true)) + 1
    covered, sizes = 0, []
    for k in range(leaderboards):
        shared = (rng.random(problems)[None, :] < true[:, None]).astype(float)
        own = (rng.random((len(true), problems)) < true[:, None]).astype(float)
        scores = np.where(rng.random((len(true), problems)) < 0.3, own, shared)
        sets = rank_sets(scores, draws=draws, seed=k)
        covered += all(s.low <= r <= s.high for s, r in zip(sets, true_rank, strict=True))
        sizes.append(np.mean([s.high - s.low + 1 for s in sets]))
    return {"coverage": covered / leaderboards, "mean_rank_set_size": round(float(np.mean(sizes)), 3)}


def main() -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leaderboards", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=DRAWS, help="bootstrap draws per rank-set (the leaderboard's)")
    parser.add_argument("--out", default=str(ROOT / "reports" / "benchmarks" / "rank_coverage.json"))
    args = parser.parse_args()
    figures: dict[str, dict[str, float]] = {}
    for name, (true, problems) in SETTINGS.items():
        started = time.perf_counter()
        figures[name] = {**simulate(np.array(true), problems=problems, leaderboards=args.leaderboards, draws=args.draws),
                         "true_accuracies": true, "problems": problems, "leaderboards": args.leaderboards,
                         "draws": args.draws, "seconds": round(time.perf_counter() - started, 1)}
        print(name, figures[name], flush=True)
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
