"""``gcop regress``: a regression gate between two runs of the same evaluation.

The two logs are paired sample by sample on ``(sample id, epoch)``. The comparison is refused
(:class:`ComparisonRefused`, exit code 2) rather than made on a part, when:

* either log is not complete (status other than ``success``) or has samples that ended in an
  error;
* the benchmarks or the data revisions differ;
* the sets of (id, epoch) differ (different subsets, limits, splits or epochs).

Accuracy: let ``b`` be the pairs the baseline got right and the candidate wrong, ``c`` the
reverse, ``N`` the pairs. The drop in points is ``100 * (b - c) / N`` (= baseline accuracy -
candidate accuracy). The exact McNemar test is the binomial test of ``b`` among the ``b + c``
discordant pairs with p = 1/2:

* two-sided (default): ``p = min(1, 2 * P[X <= min(b, c)])``, X ~ Binomial(b + c, 1/2);
* one-sided (``--one-sided``, H1: the candidate is worse): ``p = P[X >= b]``.

With no discordant pair, p = 1. **A regression** is ``drop > max_drop`` *and* ``p < alpha``: a
drop larger than the tolerated one that chance alone is unlikely to explain. (A drop within
``max_drop`` passes whatever p is; a large drop that is not significant passes too, and the
summary says so.) Pairs from several epochs of one problem are not independent, so with epochs
> 1 the test is optimistic; gate on one epoch.

Cost: $ per 1,000 problems for the guide, the core and the total, over the paired samples (see
:mod:`gcop.results.logs`). With ``max_cost_increase`` set, the gate fails when the candidate's total
exceeds the baseline's by more than that many percent (from a $0 baseline, any cost is an
infinite increase). If a model has no price the cost check cannot be made and the comparison is
refused.

Exit codes: 0 pass, 1 regression or cost increase over the limit, 2 comparison refused.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from gcop.stats import mcnemar_exact

from .logs import LogError, Run, read_run, single_log

EXIT_PASS, EXIT_FAIL, EXIT_REFUSED = 0, 1, 2


class ComparisonRefused(LogError):
    """The two logs cannot be compared sample for sample."""


@dataclass
class GateResult:
    baseline: str
    candidate: str
    benchmark: str
    data_revision: str
    pairs: int
    baseline_correct: int
    candidate_correct: int
    b_baseline_only: int
    c_candidate_only: int
    drop_points: float
    p_value: float
    p_values: dict[str, float]
    test: str
    alpha: float
    max_drop: float
    regression: bool
    cost_per_1k: dict[str, dict[str, float | None]]  # role -> baseline/candidate/change/change_pct
    max_cost_increase: float | None
    cost_increase_pct: float | None
    cost_fail: bool
    differences: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.regression and not self.cost_fail

    @property
    def exit_code(self) -> int:
        return EXIT_PASS if self.passed else EXIT_FAIL

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        d["differences"] = {k: list(v) for k, v in self.differences.items()}
        return d

    def markdown(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        acc_b = self.baseline_correct / self.pairs
        acc_c = self.candidate_correct / self.pairs
        lines = [
            f"## gcop regression gate: **{verdict}**",
            "",
            f"{self.benchmark}, {self.pairs} paired samples (id, epoch); data {self.data_revision}.",
            "",
            "| | baseline | candidate | change |",
            "| --- | ---: | ---: | ---: |",
            f"| accuracy | {100 * acc_b:.1f}% ({self.baseline_correct}/{self.pairs}) | "
            f"{100 * acc_c:.1f}% ({self.candidate_correct}/{self.pairs}) | {_signed(-self.drop_points)} points |",
        ]
        for role in ("guide", "core", "total"):
            c = self.cost_per_1k[role]
            change = "—" if c["change"] is None else f"{c['change']:+.4g}" + ("" if c["change_pct"] is None else f" ({_pct(c['change_pct'])})")
            lines.append(f"| $ per 1,000 problems, {role} | {_money(c['baseline'])} | {_money(c['candidate'])} | {change} |")
        p_name = "two-sided" if self.test == "two-sided" else "one-sided (candidate worse)"
        lines += [
            "",
            f"Exact McNemar test: b = {self.b_baseline_only} pairs right only in the baseline, c = {self.c_candidate_only} "
            f"right only in the candidate; p ({p_name}) = {self.p_value:.4g} "
            f"(two-sided {self.p_values['two_sided']:.4g}, one-sided {self.p_values['one_sided_worse']:.4g}).",
            "",
        ]
        if self.regression:
            lines.append(f"* accuracy: **FAIL**: drop {self.drop_points:.1f} points > max drop {self.max_drop:g} and p = {self.p_value:.4g} < alpha = {self.alpha:g}")
        elif self.drop_points > self.max_drop:
            lines.append(f"* accuracy: pass: drop {self.drop_points:.1f} points > max drop {self.max_drop:g}, but not significant (p = {self.p_value:.4g} >= alpha = {self.alpha:g})")
        else:
            lines.append(f"* accuracy: pass: change {_signed(-self.drop_points)} points (max drop {self.max_drop:g})")
        if self.max_cost_increase is None:
            lines.append("* cost: not gated (no --max-cost-increase)")
        elif self.cost_fail:
            lines.append(f"* cost: **FAIL**: total {_pct(self.cost_increase_pct)} > +{self.max_cost_increase:g}%")
        else:
            lines.append(f"* cost: pass: total {_pct(self.cost_increase_pct)} (limit +{self.max_cost_increase:g}%)")
        if self.differences:
            lines += ["", "What differs between the runs: " + "; ".join(f"{k}: `{a}` → `{b}`" for k, (a, b) in self.differences.items())]
        lines += ["", f"baseline: `{self.baseline}`  ", f"candidate: `{self.candidate}`"]
        return "\n".join(lines) + "\n"


def _signed(x: float) -> str:
    return f"{x + 0.0:+.1f}" if round(x, 1) != 0 else "+0.0"


def _money(x: float | None) -> str:
    return "—" if x is None else f"${x:.4g}"


def _pct(x: float | None) -> str:
    if x is None:
        return "—"
    if math.isinf(x):
        return "+inf%"
    return f"{x:+.1f}%"


def _check_comparable(base: Run, cand: Run) -> None:
    for name, run in (("baseline", base), ("candidate", cand)):
        if run.info.status != "success":
            raise ComparisonRefused(f"{name} log {run.info.path} is not complete (status {run.info.status})")
        if run.errors:
            ids = ", ".join(f"{s.id}#{s.epoch}" for s in run.errors[:5])
            raise ComparisonRefused(f"{name} log {run.info.path} has {len(run.errors)} sample(s) that ended in an error ({ids}); "
                                    "re-run them (eval_set/eval-retry) before gating")
    if base.info.benchmark != cand.info.benchmark:
        raise ComparisonRefused(f"different benchmarks: baseline {base.info.benchmark}, candidate {cand.info.benchmark}")
    if base.info.data_revision != cand.info.data_revision:
        raise ComparisonRefused(f"different data revisions: baseline {base.info.data_revision!r}, candidate {cand.info.data_revision!r}")
    keys_b = {s.key for s in base.samples}
    keys_c = {s.key for s in cand.samples}
    if len(keys_b) != len(base.samples) or len(keys_c) != len(cand.samples):
        raise ComparisonRefused("a log has two samples with the same (id, epoch)")
    if keys_b != keys_c:
        only_b, only_c = sorted(keys_b - keys_c), sorted(keys_c - keys_b)
        show = lambda ks: ", ".join(f"{i}#{e}" for i, e in ks[:5]) + (" ..." if len(ks) > 5 else "")  # noqa: E731
        raise ComparisonRefused(
            f"different sample sets: {len(keys_b)} (id, epoch) in the baseline, {len(keys_c)} in the candidate; "
            f"{len(only_b)} only in the baseline ({show(only_b) or 'none'}), {len(only_c)} only in the candidate ({show(only_c) or 'none'})"
        )
    if not keys_b:
        raise ComparisonRefused("the logs have no samples")


def _differences(base: Run, cand: Run) -> dict[str, tuple[str, str]]:
    fields = ("core", "recipe", "guide", "guide_model", "split", "core_prompt_version", "guide_prompt_version")
    out = {}
    for f in fields:
        a, b = getattr(base.info, f), getattr(cand.info, f)
        if a != b:
            out[f] = (str(a), str(b))
    return out


def compare_runs(
    base: Run,
    cand: Run,
    *,
    max_drop: float = 0.0,
    alpha: float = 0.05,
    max_cost_increase: float | None = None,
    one_sided: bool = False,
) -> GateResult:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if max_drop < 0:
        raise ValueError(f"max drop must be >= 0 points, got {max_drop}")
    _check_comparable(base, cand)
    cands = {s.key: s for s in cand.samples}
    pairs = [(s, cands[s.key]) for s in sorted(base.samples, key=lambda s: s.key)]
    n = len(pairs)
    b = sum(1 for x, y in pairs if x.correct and not y.correct)
    c = sum(1 for x, y in pairs if not x.correct and y.correct)
    base_correct = sum(1 for x, _ in pairs if x.correct)
    cand_correct = sum(1 for _, y in pairs if y.correct)
    drop = 100.0 * (b - c) / n
    p_values = mcnemar_exact(b, c)
    p = p_values["one_sided_worse" if one_sided else "two_sided"]
    regression = drop > max_drop and p < alpha

    cost: dict[str, dict[str, float | None]] = {}
    for role in ("guide", "core", "total"):
        vals = []
        for index in (0, 1):
            costs = [pair[index].cost[role] for pair in pairs]
            vals.append(None if any(v is None for v in costs) else 1000.0 * sum(costs) / n)  # type: ignore[arg-type]
        base_v, cand_v = vals
        change = None if base_v is None or cand_v is None else cand_v - base_v
        if change is None:
            pct = None
        elif base_v == 0:
            pct = 0.0 if cand_v == 0 else math.inf
        else:
            pct = 100.0 * change / base_v
        cost[role] = {"baseline": base_v, "candidate": cand_v, "change": change, "change_pct": pct}
    increase = cost["total"]["change_pct"]
    if max_cost_increase is not None and increase is None:
        raise ComparisonRefused("cannot check the cost: a model in one of the logs has no price "
                                "(add it to results/prices.yaml, or drop --max-cost-increase)")
    cost_fail = max_cost_increase is not None and increase is not None and increase > max_cost_increase
    return GateResult(
        baseline=base.info.path, candidate=cand.info.path, benchmark=base.info.benchmark,
        data_revision=base.info.data_revision, pairs=n, baseline_correct=base_correct,
        candidate_correct=cand_correct, b_baseline_only=b, c_candidate_only=c, drop_points=drop,
        p_value=p, p_values=p_values, test="one-sided" if one_sided else "two-sided", alpha=alpha,
        max_drop=max_drop, regression=regression, cost_per_1k=cost, max_cost_increase=max_cost_increase,
        cost_increase_pct=increase, cost_fail=cost_fail, differences=_differences(base, cand),
    )


def compare_logs(baseline: str | os.PathLike[str], candidate: str | os.PathLike[str], **options: Any) -> GateResult:
    """Compare two logs (a file, or a folder holding exactly one log)."""
    return compare_runs(read_run(single_log(baseline)), read_run(single_log(candidate)), **options)


def write_step_summary(markdown: str, path: str | None = None) -> str | None:
    """Append to ``$GITHUB_STEP_SUMMARY`` (or ``path``) when set; returns the file written."""
    target = path or os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as f:
        f.write(markdown + "\n")
    return target


def _json_safe(value: Any) -> Any:
    """Strict JSON: an infinite increase is written as the string "inf"."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(result: GateResult, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_json_safe(result.to_dict()), f, indent=2, allow_nan=False)
        f.write("\n")
