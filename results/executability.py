"""``gcop executability``: how reliably the core executes the guide's strategies.

For a problem x, a strategy s drawn from the guide has executability alpha(s): the probability
that the core, given s, solves x. The guide-averaged executability of x is
alpha(x) = E_{s ~ guide(x)}[alpha(s)], and the value-gap bound carries the term
``2 * H * R_max * E_x[1 - alpha(x)]`` (H the horizon, R_max the largest reward; both 1 for
single-step, 0/1-reward problems, the defaults).

How M strategies per problem and K core executions per strategy map onto Inspect:

* **Design A, K = 1** (no extra tooling): a guided run with ``--epochs M``. Each epoch calls
  the guide afresh (sample it at temperature > 0) and the core once on its strategy, so a
  problem's M epochs are M draws s_1..s_M, each executed once. alpha(x) is estimated by the
  share of epochs solved, which is unbiased for E_s[alpha(s)]; single strategies' alpha(s) are
  not identified (each estimate is 0 or 1).
* **Design B, K > 1**: re-run the M recorded strategies K times each. ``gcop executability
  LOG --write-replay guide.jsonl --k K`` writes, from a design-A log, a ``gcop/replay`` file
  that gives epochs (m-1)K+1 .. mK of each problem the m-th recorded guide output; then
  ``GCOP_REPLAY_PATH=guide.jsonl inspect eval gcop/<benchmark> --model CORE
  --model-role guide=gcop/replay -T mode=guided --epochs M*K`` executes each strategy K times.

Either way this command groups a problem's samples (epochs) by the text of the strategy the core
received, so M_x = the distinct strategies and K_s = the executions of s are read off the log,
whatever design produced it. Estimates:

* alpha_hat(s) = share of s's executions that were solved;
* alpha_hat(x) = share of x's executions that were solved = the execution-weighted mean of
  alpha_hat(s) (a strategy drawn twice counts twice: a Monte-Carlo estimate of E_s[alpha(s)]);
* E[1 - alpha] = mean over problems of 1 - alpha_hat(x), with a 95% interval that holds for any
  number of problems P: Hoeffding's, mean +- sqrt(ln(2/0.05) / (2P)), valid because each
  alpha_hat(x) lies in [0, 1] and is unbiased for alpha(x) (wide for small P, and said so below
  30 problems). The normal approximation from the spread across problems (standard error
  sd(alpha_hat(x)) / sqrt(P)) is reported beside it from 30 problems on; below that it can be
  far too narrow (a zero spread gives a zero-width interval).

"Solved" is the task's score (the core's answer judged correct). A draw whose strategy was
invalid (unparseable, over budget) gave the core no strategy to execute, though with the task's
``on_invalid=run_core_without`` the core still ran, alone, and may have solved the problem. Both
definitions are reported, each labelled: *invalid strategies count as failed executions*
(``--invalid failure``, the default headline) and *executions of valid strategies only*
(``--invalid exclude``); the option picks which one the interval and the bound use. Samples that
ended in an error are left out and counted.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from gcop.stats import Z95

from .logs import LogError, read_run, single_log

INVALID_POLICIES = ("failure", "exclude")
#: Below this many problems the interval is wide and the summary says so.
SMALL_P = 30
_HOEFFDING_Z = math.log(2 / 0.05)


@dataclass
class ProblemEstimate:
    id: str
    draws: int  # executions used (epochs)
    strategies: int  # distinct strategy texts (invalid draws count as one "none" group)
    solved: int
    alpha: float
    per_strategy: list[dict[str, Any]] = field(default_factory=list)  # executions, solved, alpha, valid


@dataclass
class ExecutabilityReport:
    log: str
    benchmark: str
    core: str
    guide: str | None
    problems: list[ProblemEstimate]
    invalid_policy: str
    invalid_draws: int
    error_samples: int
    excluded_problems: int
    horizon: float
    r_max: float
    #: mean alpha(x) and problems under the other ``invalid`` policy (both are always reported)
    other_policy: dict[str, Any] = field(default_factory=dict)

    @property
    def alphas(self) -> list[float]:
        return [p.alpha for p in self.problems]

    @property
    def mean_gap(self) -> float | None:
        """E_x[1 - alpha(x)]."""
        return 1.0 - statistics.fmean(self.alphas) if self.problems else None

    @property
    def gap_ci95(self) -> tuple[float, float] | None:
        """Hoeffding's 95% interval for E[1 - alpha]: holds for any number of problems."""
        if not self.problems or self.mean_gap is None:
            return None
        half = math.sqrt(_HOEFFDING_Z / (2 * len(self.problems)))
        return (max(0.0, self.mean_gap - half), min(1.0, self.mean_gap + half))

    @property
    def gap_ci95_normal(self) -> tuple[float, float] | None:
        """The normal approximation (spread across problems): reported from SMALL_P problems on."""
        if len(self.problems) < 2 or self.mean_gap is None:
            return None
        se = statistics.stdev(self.alphas) / math.sqrt(len(self.problems))
        return (max(0.0, self.mean_gap - Z95 * se), min(1.0, self.mean_gap + Z95 * se))

    @property
    def small_sample(self) -> bool:
        return len(self.problems) < SMALL_P

    @property
    def scale(self) -> float:
        return 2.0 * self.horizon * self.r_max

    @property
    def bound(self) -> float | None:
        return None if self.mean_gap is None else self.scale * self.mean_gap

    @property
    def bound_ci95(self) -> tuple[float, float] | None:
        ci = self.gap_ci95
        return None if ci is None else (self.scale * ci[0], self.scale * ci[1])

    def design(self) -> dict[str, Any]:
        draws = [p.draws for p in self.problems]
        strategies = [p.strategies for p in self.problems]
        executions = [s["executions"] for p in self.problems for s in p.per_strategy]

        def summary(xs: list[int]) -> dict[str, float]:
            return {"min": min(xs), "median": statistics.median(xs), "max": max(xs)} if xs else {}

        return {"executions_per_problem": summary(draws), "strategies_per_problem_M": summary(strategies),
                "executions_per_strategy_K": summary(executions)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "log": self.log, "benchmark": self.benchmark, "core": self.core, "guide": self.guide,
            "problems": len(self.problems), "design": self.design(), "invalid_policy": self.invalid_policy,
            "invalid_draws": self.invalid_draws, "error_samples": self.error_samples,
            "excluded_problems": self.excluded_problems,
            "mean_alpha": None if self.mean_gap is None else 1.0 - self.mean_gap,
            "mean_one_minus_alpha": self.mean_gap, "mean_one_minus_alpha_ci95": self.gap_ci95,
            "mean_one_minus_alpha_ci95_method": "Hoeffding (finite-sample, any P)",
            "mean_one_minus_alpha_ci95_normal": self.gap_ci95_normal if not self.small_sample else None,
            "small_sample": self.small_sample,
            "other_policy": self.other_policy,
            "H": self.horizon, "R_max": self.r_max, "bound_term": self.bound, "bound_term_ci95": self.bound_ci95,
            "histogram_alpha_x": histogram(self.alphas),
            "per_problem": [p.__dict__ for p in self.problems],
        }

    def format(self) -> str:
        d = self.design()
        lines = [
            f"executability of {self.guide or '?'} strategies executed by {self.core} on {self.benchmark}",
            f"log: {self.log}",
            f"problems: {len(self.problems)}"
            + (f" ({self.excluded_problems} with no usable execution left out)" if self.excluded_problems else "")
            + f"; error samples left out: {self.error_samples}; invalid-strategy draws: {self.invalid_draws} "
            f"(counted as {'failed executions' if self.invalid_policy == 'failure' else 'left out'})",
        ]
        if not self.problems:
            return "\n".join(lines + ["no problem has a usable execution: nothing to estimate"])
        lines.append(
            "design: M (distinct strategies per problem) {m}; K (executions per strategy) {k}; executions per problem {e}".format(
                m=_fmt_summary(d["strategies_per_problem_M"]), k=_fmt_summary(d["executions_per_strategy_K"]),
                e=_fmt_summary(d["executions_per_problem"]))
        )
        if d["executions_per_strategy_K"].get("max") == 1:
            lines.append("  (K = 1: alpha(x) is estimated from M single executions; per-strategy alpha(s) is not identified)")
        lines += ["", "guide-averaged executability alpha(x), distribution over problems:", format_histogram(self.alphas)]
        strategy_alphas = [s["alpha"] for p in self.problems for s in p.per_strategy if s["executions"] > 1]
        if strategy_alphas:
            lines += ["", f"per-strategy alpha(s) (strategies executed more than once: {len(strategy_alphas)}):",
                      format_histogram(strategy_alphas)]
        gap, ci = self.mean_gap, self.gap_ci95
        ci_text = f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""
        bci = self.bound_ci95
        bci_text = f" [{bci[0]:.4f}, {bci[1]:.4f}]" if bci else ""
        label = {"failure": "invalid strategies count as failed executions",
                 "exclude": "executions of valid strategies only"}
        other = self.other_policy
        lines += [
            "",
            f"mean alpha(x), {label[self.invalid_policy]:<46} = {1 - gap:.4f}",  # type: ignore[operator]
        ]
        if other.get("mean_alpha") is not None:
            lines.append(f"mean alpha(x), {label[other['policy']]:<46} = {other['mean_alpha']:.4f}"
                         f"   ({other['problems']} problems)")
        lines += [
            f"E[1 - alpha]             = {gap:.4f}{ci_text}   (95%, Hoeffding: holds for any number of problems; "
            f"n = {len(self.problems)})",
        ]
        normal = self.gap_ci95_normal
        if normal and not self.small_sample:
            lines.append(f"                           normal approximation [{normal[0]:.4f}, {normal[1]:.4f}]")
        lines.append(f"2 * H * R_max * E[1 - a] = {self.bound:.4f}{bci_text}   (H = {self.horizon:g}, R_max = {self.r_max:g})")
        if self.small_sample:
            lines.append(f"warning: only {len(self.problems)} problems (< {SMALL_P}): the interval is wide and the "
                         "estimate rough; evaluate more problems for a usable figure")
        return "\n".join(lines)


def _fmt_summary(s: dict[str, float]) -> str:
    if not s:
        return "-"
    return f"{s['min']:g}" if s["min"] == s["max"] else f"{s['min']:g}..{s['max']:g} (median {s['median']:g})"


def histogram(values: list[float], bins: int = 10) -> list[dict[str, Any]]:
    """Counts in [0, 0.1), [0.1, 0.2), ..., [0.9, 1.0] (the last bin includes 1)."""
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(math.floor(v * bins + 1e-9))))] += 1
    return [{"low": i / bins, "high": (i + 1) / bins, "count": c} for i, c in enumerate(counts)]


def format_histogram(values: list[float], bins: int = 10, width: int = 40) -> str:
    rows = histogram(values, bins)
    top = max((r["count"] for r in rows), default=0) or 1
    lines = []
    for i, r in enumerate(rows):
        close = "]" if i == bins - 1 else ")"
        bar = "#" * (round(width * r["count"] / top) if r["count"] else 0)
        lines.append(f"  [{r['low']:.1f}, {r['high']:.1f}{close} {r['count']:>5}  {bar}")
    return "\n".join(lines)


def _norm(text: str) -> str:
    return " ".join(text.split())


def estimate(path: str | os.PathLike[str], *, invalid: str = "failure", horizon: float = 1.0, r_max: float = 1.0) -> ExecutabilityReport:
    """Executability estimates from a guided log (a file, or a folder holding exactly one log)."""
    if invalid not in INVALID_POLICIES:
        raise ValueError(f"invalid must be one of {INVALID_POLICIES}, got {invalid!r}")
    if horizon <= 0 or r_max <= 0:
        raise ValueError("H and R_max must be > 0")
    run = read_run(single_log(path))
    guided = [s for s in run.samples if s.mode == "guided" or s.strategy_valid is not None]
    if run.info.mode != "guided" and not guided:
        raise LogError(f"{run.info.path} is not a guided run (mode {run.info.mode}): executability needs the guide's strategies")
    problems, invalid_draws = _problem_estimates(run, invalid)
    other = "exclude" if invalid == "failure" else "failure"
    others, _ = _problem_estimates(run, other)
    all_ids = {s.id for s in run.samples}
    return ExecutabilityReport(
        log=run.info.path, benchmark=run.info.benchmark, core=run.info.core, guide=run.info.guide,
        problems=problems, invalid_policy=invalid, invalid_draws=invalid_draws, error_samples=len(run.errors),
        excluded_problems=len(all_ids) - len(problems), horizon=horizon, r_max=r_max,
        other_policy={"policy": other, "problems": len(others),
                      "mean_alpha": statistics.fmean(p.alpha for p in others) if others else None},
    )


def _problem_estimates(run: Any, invalid: str) -> tuple[list[ProblemEstimate], int]:
    """Per-problem estimates under one ``invalid`` policy, and the number of invalid draws."""
    by_problem: dict[str, list[Any]] = defaultdict(list)
    invalid_draws = 0
    for s in run.scored:
        if not s.strategy_valid:
            invalid_draws += 1
            if invalid == "exclude":
                continue
        by_problem[s.id].append(s)
    problems = []
    for pid in sorted(by_problem):
        draws = by_problem[pid]
        groups: dict[str, list[Any]] = defaultdict(list)
        for s in draws:
            groups[_norm(s.strategy) if (s.strategy_valid and s.strategy) else "\0invalid"].append(s)
        per_strategy: list[dict[str, Any]] = []
        for key, members in groups.items():
            solved = sum(1 for m in members if m.correct) if key != "\0invalid" else 0
            per_strategy.append({"executions": len(members), "solved": solved, "alpha": solved / len(members),
                                 "valid": key != "\0invalid", "epochs": sorted(m.epoch for m in members)})
        solved = sum(p["solved"] for p in per_strategy)
        problems.append(ProblemEstimate(id=pid, draws=len(draws), strategies=len(groups), solved=solved,
                                        alpha=solved / len(draws), per_strategy=per_strategy))
    return problems, invalid_draws


def write_replay(path: str | os.PathLike[str], out: str | os.PathLike[str], k: int) -> int:
    """Design B's guide file: from a guided log, each recorded guide output (epoch m of a problem)
    for epochs (m-1)k+1 .. mk, as ``gcop/replay`` records. Returns the number of lines written."""
    from inspect_ai.log import read_eval_log

    if k < 1:
        raise ValueError("k must be >= 1")
    log = read_eval_log(os.fspath(single_log(path)))
    lines = 0
    with open(out, "w", encoding="utf-8") as f:
        for sample in log.samples or []:
            guide = (sample.metadata or {}).get("guide")
            if not isinstance(guide, dict) or guide.get("raw") is None:
                continue
            for j in range(k):
                record = {"id": str(sample.id), "role": "guide", "epoch": (int(sample.epoch) - 1) * k + j + 1,
                          "completion": guide["raw"]}
                for name in ("input_tokens", "output_tokens"):
                    if guide.get(name) is not None:
                        record[name] = int(guide[name])
                f.write(json.dumps(record) + "\n")
                lines += 1
    if not lines:
        raise LogError(f"{path}: no guide outputs recorded (not a guided run?)")
    return lines
