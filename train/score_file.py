"""``gcop reward``: the training reward of guide completions read from a file, without a trainer.

Each line of the input is ``{"id": <problem id>, "completion": <the guide's output text>}``
(optionally ``"reasoning"``: reasoning that came on a separate channel). The reward is the one a
GRPO config describes (:meth:`gcop.train.rewards.GuideRewards.from_config`: its core, judge, sandbox,
weights and ``leak_reward``), computed by the same engine GRPO's reward functions use. A bad line
(not JSON, a missing or mistyped field, an id that is not a problem of the benchmark) is reported
with its file and line and skipped; the others are scored.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gcop.evals.benchmarks import get_benchmark
from gcop.readers import read_jsonl

from .rewards import GuideRewards, problem_info

__all__ = ["RewardReport", "score_completions"]


@dataclass
class RewardReport:
    """What ``gcop reward`` found: one row per scored line, and the lines it skipped."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)
    components: Sequence[str] = ()
    weights: Sequence[float] = ()

    def summary(self) -> dict[str, Any]:
        scored = [r for r in self.rows if r["reward"] is not None]
        valid = [r for r in scored if r["valid"]]

        def mean(values: list[float]) -> float | None:
            return sum(values) / len(values) if values else None

        return {
            "lines": len(self.rows) + len(self.bad_lines), "scored": len(scored), "bad_lines": len(self.bad_lines),
            "unscorable": len(self.rows) - len(scored),
            "mean_reward": mean([r["reward"] for r in scored]),
            "validity": mean([float(r["valid"]) for r in scored]),
            "leak_rate": mean([float(bool(r["leaked"])) for r in valid]),
            **{f"mean_{name}": mean([r[name] for r in scored]) for name in self.components},
        }

    def format(self) -> str:
        s = self.summary()

        def num(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        weights = ", ".join(f"{n} x {w:g}" for n, w in zip(self.components, self.weights, strict=True))
        lines = [f"scored {s['scored']} of {s['lines']} line(s) ({s['bad_lines']} bad, {s['unscorable']} unscorable); "
                 f"reward = {weights}",
                 f"  mean reward {num(s['mean_reward'])}, strategy validity {num(s['validity'])}, "
                 f"leak rate {num(s['leak_rate'])} (of valid strategies)",
                 "  means: " + ", ".join(f"{n} {num(s['mean_' + n])}" for n in self.components)]
        lines += [f"  skipped {b}" for b in self.bad_lines[:20]]
        if len(self.bad_lines) > 20:
            lines.append(f"  ... and {len(self.bad_lines) - 20} more bad line(s)")
        return "\n".join(lines)


def _read(path: Path, known: dict[str, Any]) -> tuple[list[tuple[int, str, str, str | None]], list[str]]:
    records, bad = read_jsonl(path, errors="replace")
    problems: list[str] = [str(b) for b in bad]
    good: list[tuple[int, str, str, str | None]] = []
    for line, record in records:
        where = f"{path}:{line}"
        pid, completion, reasoning = record.get("id"), record.get("completion"), record.get("reasoning")
        if pid is None or isinstance(pid, bool | dict | list):
            problems.append(f"{where}: field 'id': {'missing' if pid is None else 'must be a string'}")
        elif not isinstance(completion, str):
            problems.append(f"{where}: field 'completion': {'missing' if completion is None else 'must be a string'}")
        elif reasoning is not None and not isinstance(reasoning, str):
            problems.append(f"{where}: field 'reasoning': must be a string")
        elif str(pid) not in known:
            problems.append(f"{where}: field 'id': {pid!r} is not a problem of this benchmark")
        else:
            good.append((line, str(pid), completion, reasoning))
    return good, problems


def score_completions(benchmark: str, path: str | Path, config: Any, *, out: str | Path | None = None,
                      batch_size: int = 256) -> RewardReport:
    """Score every good line of ``path`` with ``config``'s GRPO reward on ``benchmark``; write
    one JSON line per scored completion to ``out`` (when given)."""


    spec = get_benchmark(benchmark)
    path = Path(path)
    everything: dict[str, Any] = {}
    for split in spec.splits:
        for problem in spec.load(split, config.data_dir):
            everything.setdefault(str(spec.sample(problem).id), problem)
    good, bad = _read(path, everything)
    report = RewardReport(bad_lines=bad)
    wanted = list(dict.fromkeys(pid for _, pid, _, _ in good))
    engine = GuideRewards.from_config(config, [everything[p] for p in wanted], recipe=config.recipe)
    report.components, report.weights = engine.components, engine.reward_weights()
    if not good:
        return report
    infos = {p: problem_info(everything[p]) for p in wanted}

    async def run() -> None:
        try:
            for start in range(0, len(good), batch_size):
                chunk = good[start:start + batch_size]
                completions = [[{"role": "assistant", "content": c, **({"reasoning": r} if r else {})}]
                               for _, _, c, r in chunk]
                outcomes = await engine.outcomes(completions, problem_id=[pid for _, pid, _, _ in chunk])
                for (line, pid, _, _), outcome in zip(chunk, outcomes, strict=True):
                    values = {name: outcome.component(name) for name in engine.components}
                    report.rows.append({
                        "id": pid, "line": line, "benchmark": infos[pid].benchmark, "valid": outcome.valid,
                        "format_reason": outcome.reason or None, "leaked": outcome.leaked,
                        "leak_reason": outcome.leak_reason, **values, "reward": engine.total(outcome),
                        "unscorable": outcome.failed, "core_verdict": outcome.verdict_status,
                    })
        finally:
            await engine.aclose()

    asyncio.run(run())
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as handle:
            for row in report.rows:
                handle.write(json.dumps(row) + "\n")
    return report
