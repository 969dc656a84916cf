"""An Inspect hook that prints, at the end of each ``inspect eval`` of a gcop task, the tokens and
US$ per role (guide, core) next to Inspect's own score summary. Registered through gcop's
``inspect_ai`` entry point; tasks that are not gcop's are left alone."""

from __future__ import annotations

import sys

from inspect_ai.hooks import Hooks, RunEnd, TaskEnd, hooks


@hooks(name="gcop_costs", description="prints tokens and $ per role after each gcop task")
class RoleCosts(Hooks):
    def __init__(self) -> None:
        self._tables: dict[str, list[str]] = {}

    async def on_task_end(self, data: TaskEnd) -> None:
        log = data.log
        metadata = log.eval.metadata or {}
        # not a gcop task; or a grid row, whose table `gcop grid` prints itself, under the row's name
        if "benchmark" not in metadata or "gcop_grid" in metadata or log.stats is None:
            return
        from gcop.costs import format_role_table, role_rows

        title = f"{log.eval.task} ({log.eval.model}): cost by role"
        self._tables.setdefault(data.run_id, []).append(format_role_table(role_rows(log), title=title))

    async def on_run_end(self, data: RunEnd) -> None:
        # printed once the run's display is closed, so the table is not drawn over
        for table in self._tables.pop(data.run_id, []):
            print(table, file=sys.stderr)
