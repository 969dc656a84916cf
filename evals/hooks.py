"""An Inspect hook that prints, at the end of each ``inspect eval`` of a gcop task, the tokens and
US$ per role (guide, core, strong) next to Inspect's own score summary (and, with several epoch
reducers, the scores under each reducer's name), writes a memory run's memory next to its log,
and warns at the start of one when a paid model has no price (its cost would otherwise read as
unknown only at the end).
Registered through gcop's ``inspect_ai`` entry point; tasks gcop runs no part of are left alone."""

from __future__ import annotations

import sys
from typing import Any

from inspect_ai.hooks import Hooks, RunEnd, TaskEnd, TaskStart, hooks

from gcop.costs import apply_prices, format_role_table, model_kind, price_for, price_if_self_hosted, role_rows
from gcop.evals.memory import save_memory


def format_scores_by_reducer(log: Any) -> str | None:
    """With several epoch reducers (``--epochs-reducer mean,max``), Inspect's summary heads each
    reducer's scores with the scorer's name alone, so two tables read ``math_scorer``; this names
    each ``scorer[reducer]``. None when there is at most one reducer."""
    scores = list(getattr(log.results, "scores", None) or []) if log.results else []
    if len({s.reducer for s in scores if s.reducer}) < 2:
        return None
    rows = [(f"{s.name}[{s.reducer or 'mean'}]",
             "  ".join(f"{name} {m.value:.3f}" for name, m in s.metrics.items() if isinstance(m.value, int | float)))
            for s in scores]
    width = max(len(label) for label, _ in rows)
    lines = [f"{log.eval.task} ({log.eval.model}): scores by epoch reducer"]
    lines += [f"  {label.ljust(width)}  {metrics}" for label, metrics in rows]
    return "\n".join(lines)


def write_memory_file(log: Any) -> str | None:
    """A memory run's final memory, written next to its log (``<log>.memory.jsonl``)."""
    from inspect_ai.log import read_eval_log


    try:
        samples = log.samples if log.samples else (read_eval_log(log.location).samples or [])
        path = save_memory(samples, str(log.location))
    except Exception as exc:  # noqa: BLE001 - the run stands; the memory file is reported missing
        print(f"gcop: WARNING: could not write the memory next to {log.location}: {exc}", file=sys.stderr)
        return None
    return path


def runs_gcop(spec: Any, plan: Any = None) -> bool:
    """A gcop task, or another task run with one of gcop's solvers (``--solver gcop/guided``, or
    wrapped in Python or by ``gcop/wrap``)."""
    if "benchmark" in (spec.metadata or {}) or str(getattr(spec, "solver", None) or "").startswith("gcop/"):
        return True
    steps = getattr(plan, "steps", None) or []
    return any(str(getattr(step, "solver", "")).startswith("gcop/") for step in steps)


@hooks(name="gcop_costs", description="prints tokens and $ per role after each task that runs gcop")
class RoleCosts(Hooks):
    def __init__(self) -> None:
        self._tables: dict[str, list[str]] = {}

    async def on_task_start(self, data: TaskStart) -> None:
        spec = data.spec
        if not runs_gcop(spec, data.plan):
            return

        models = {"core": str(spec.model)}
        for role, config in (spec.model_roles or {}).items():
            if not isinstance(config, list):
                models[role] = str(config.model)
        # gcop's tasks price their models when built; a task gcop did not write is priced here,
        # before its first call, the same way: list prices (results/prices.yaml), the self-hosted rate
        apply_prices()
        for role, model in models.items():
            if model_kind(model) == "self-hosted":
                price_if_self_hosted(model)
            elif model_kind(model) == "remote" and price_for(model) is None:
                print(f"gcop: WARNING: the {role} model {model} has no price in results/prices.yaml: its cost "
                      "will read as unknown (never $0); add its list price there", file=sys.stderr)

    async def on_task_end(self, data: TaskEnd) -> None:
        log = data.log
        metadata = log.eval.metadata or {}
        if "memory" in metadata and log.location:
            write_memory_file(log)
        # gcop runs no part of it; or a grid row, whose table `gcop grid` prints itself, under the row's name
        if not runs_gcop(log.eval, log.plan) or "gcop_grid" in metadata or log.stats is None:
            return

        title = f"{log.eval.task} ({log.eval.model}): cost by role"
        tables = self._tables.setdefault(data.run_id, [])
        tables.append(format_role_table(role_rows(log), title=title))
        by_reducer = format_scores_by_reducer(log)
        if by_reducer:
            tables.append(by_reducer)

    async def on_run_end(self, data: RunEnd) -> None:
        # printed once the run's display is closed, so the table is not drawn over
        for table in self._tables.pop(data.run_id, []):
            print(table, file=sys.stderr)
