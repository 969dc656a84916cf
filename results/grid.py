"""``gcop grid``: the rows of the paper's tables for one benchmark, run as one resumable Inspect
``eval_set``.

Rows (recipes):

* ``core``            the core alone (``mode=core``)                       -- always
* ``icl``             the core with ``icl_k`` retrieved train examples      -- ``--icl``
* ``reference-core``  another core alone (e.g. a stronger model)            -- ``--reference-core M``
* ``guided``          the core guided by a named guide (``mode=guided``,
                      the guide bound to Inspect's ``guide`` model role)    -- ``--guide NAME=M``
* ``cascade``         the core alone, escalating to a strong model below a
                      confidence threshold (``mode=cascade``, the model
                      bound to the ``strong`` role), one row per threshold  -- ``--cascade M``
* ``guided-cascade``  each guided row as a cascade (``mode=guided_cascade``) -- ``--cascade M`` with ``--guide``
* ``memory``          Inter-Cascade: the cascade whose strong model also
                      writes strategies the core retrieves (``mode=memory``) -- ``--memory`` with ``--cascade M``

``--cascade-threshold`` (repeatable) sweeps the threshold: each value is its own row (its own,
measured run), and the leaderboard joins a cascade's rows into a curve on the accuracy-cost plot.

Each row is a task built by the benchmark's task function and adapted with
:func:`inspect_ai.task_with` (its own model, model roles and metadata). The row's recipe, guide
name and the grid's settings are written to the task metadata under ``gcop_grid``, so they are
in every log (``log.eval.metadata["gcop_grid"]``) and the leaderboard reads them back.

Resuming is ``eval_set``'s: a re-run with the same rows and the same log folder skips every row
whose log is complete, retries rows whose log failed (re-using the samples already completed),
and runs rows that are new. That covers ``kill -9`` too: Inspect's ``.eval`` logs record each
finished sample as it completes, and a killed run's log reads as unfinished, so the re-run keeps
its finished samples and runs the rest. The grid writes nothing else beside the logs but the
memory rows' ``<log>.memory.jsonl`` (replaced atomically; rewritten by a re-run when missing).
``eval_set`` identifies a row by task, task arguments, model, model arguments and model roles,
but not by ``--limit`` or ``--epochs``; so that a re-run with a different limit cannot silently
pass off old logs as new ones, the grid refuses a log folder whose grid logs were made with other
settings (:class:`GridConfigError`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gcop.lifecycle import default_model

from .logs import GRID_METADATA_KEY, local_path, log_files, read_header

#: gcop's default core (results/models.yaml ``defaults``: Claude Haiku 4.5, the replacement of
#: the paper's retired Haikus).
DEFAULT_CORE = default_model("core")
GRID_VERSION = 1


class GridConfigError(ValueError):
    """The grid cannot run as asked (bad rows, options, or a log folder made with other settings)."""


@dataclass
class GridRow:
    recipe: str
    core: Any  # str | inspect_ai.model.Model
    guide: str | None = None
    guide_model: Any = None  # str | Model
    mode: str = "core"
    strong: Any = None  # str | Model: the cascade rows' strong model
    #: task options of this row alone (the cascade rows' rule, k and threshold)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        if self.strong is not None:
            head = (f"{_model_name(self.core)} + guide {self.guide} ({_model_name(self.guide_model)})" if self.guide
                    else _model_name(self.core))
            kind = "memory cascade" if self.recipe == "memory" else "cascade"
            rule = self.options.get("cascade_rule", "agreement")
            return f"{head} {kind} to {_model_name(self.strong)} ({rule}, threshold {self.options.get('cascade_threshold', 1.0):g})"
        if self.recipe == "guided":
            return f"{_model_name(self.core)} + guide {self.guide} ({_model_name(self.guide_model)})"
        if self.recipe == "icl":
            return f"{_model_name(self.core)} + ICL"
        return f"{_model_name(self.core)} alone" + (" (reference core)" if self.recipe == "reference-core" else "")


def _model_name(model: Any) -> str:
    return str(model) if model is not None else ""


def plan_rows(
    core: Any,
    *,
    icl: bool = False,
    reference_cores: Sequence[Any] = (),
    guides: Mapping[str, Any] | Sequence[tuple[str, Any]] = (),
    cascade: "CascadePlan | None" = None,
) -> list[GridRow]:
    """The grid's rows, in table order. Two rows that would be the same run are an error."""
    pairs = list(guides.items()) if isinstance(guides, Mapping) else list(guides)
    rows = [GridRow("core", core, mode="core")]
    if icl:
        rows.append(GridRow("icl", core, mode="icl"))
    for ref in reference_cores:
        if _model_name(ref) == _model_name(core):
            raise GridConfigError(f"--reference-core {ref} is the core itself: its row would be the core-alone row")
        rows.append(GridRow("reference-core", ref, mode="core"))
    names: set[str] = set()
    models: dict[str, str] = {}
    for name, model in pairs:
        if not name or "=" in name:
            raise GridConfigError(f"bad guide name {name!r}: use --guide NAME=MODEL")
        if name in names:
            raise GridConfigError(f"guide name {name!r} given twice")
        key = _model_name(model)
        if key in models:
            raise GridConfigError(
                f"guides {models[key]!r} and {name!r} are the same model ({key}): eval_set would see one run; "
                "give each guide its own model (or checkpoint path)"
            )
        names.add(name)
        models[key] = name
        rows.append(GridRow("guided", core, guide=name, guide_model=model, mode="guided"))
    refs = [_model_name(r) for r in reference_cores]
    if len(set(refs)) != len(refs):
        raise GridConfigError("a --reference-core is given twice")
    if cascade is not None:
        rows += cascade.rows(core, [r for r in rows if r.recipe == "guided"])
    return rows


@dataclass(frozen=True)
class CascadePlan:
    """The grid's cascade rows: ``strong`` model, deferral ``rule`` with ``k`` cheap samples, one
    row per threshold; ``memory`` adds the Inter-Cascade rows, ``plain`` the core-alone cascade
    (guided cascades come with every guide)."""

    strong: Any
    thresholds: tuple[float, ...] = (1.0,)
    rule: str = "agreement"
    k: int | None = None
    memory: bool = False
    plain: bool = True

    def rows(self, core: Any, guided: Sequence[GridRow]) -> list[GridRow]:
        if _model_name(self.strong) == _model_name(core):
            raise GridConfigError(f"--cascade {self.strong} is the core itself: a cascade escalates to another model")
        if len(set(self.thresholds)) != len(self.thresholds) or not self.thresholds:
            raise GridConfigError("give each --cascade-threshold once")
        rows: list[GridRow] = []
        for threshold in self.thresholds:
            options = {"cascade_rule": self.rule, "cascade_threshold": float(threshold),
                       **({"cascade_k": self.k} if self.k is not None else {})}
            if self.plain:
                rows.append(GridRow("cascade", core, mode="cascade", strong=self.strong, options=options))
            for row in guided:
                rows.append(GridRow("guided-cascade", core, guide=row.guide, guide_model=row.guide_model,
                                    mode="guided_cascade", strong=self.strong, options=options))
            if self.memory:
                rows.append(GridRow("memory", core, mode="memory", strong=self.strong, options=options))
        return rows


def _task_function(benchmark: str) -> Any:
    from evals.benchmarks import get_benchmark

    try:
        return get_benchmark(benchmark).task_function()
    except ValueError as exc:
        raise GridConfigError(str(exc)) from None


def grid_settings(benchmark: str, task_args: Mapping[str, Any], limit: int | None, epochs: int | None) -> dict[str, Any]:
    """What must be equal for a re-run to resume a log folder (eval_set does not check these)."""
    return {"benchmark": benchmark, "task_args": {k: task_args[k] for k in sorted(task_args)},
            "limit": limit, "epochs": epochs or 1}


def build_tasks(
    benchmark: str,
    rows: Sequence[GridRow],
    *,
    task_args: Mapping[str, Any] | None = None,
    limit: int | None = None,
    epochs: int | None = None,
) -> list[Any]:
    """One Inspect task per row, with its model, guide role and ``gcop_grid`` metadata."""
    from inspect_ai import task_with

    task_args = dict(task_args or {})
    if "mode" in task_args:
        raise GridConfigError("-T mode is set by each row of the grid; leave it out")
    for key in ("cascade_rule", "cascade_k", "cascade_threshold"):
        if key in task_args and any(row.options for row in rows):
            raise GridConfigError(f"-T {key} is set by the cascade rows (--cascade-rule, --cascade-k, --cascade-threshold)")
    fn = _task_function(benchmark)
    settings = grid_settings(benchmark, task_args, limit, epochs)
    tasks = []
    for row in rows:
        task = fn(mode=row.mode, **task_args, **row.options)
        meta = dict(task.metadata or {})
        meta[GRID_METADATA_KEY] = {
            "version": GRID_VERSION,
            "recipe": row.recipe,
            "guide": row.guide,
            "guide_model": _model_name(row.guide_model) or None,
            "core": _model_name(row.core),
            "row": row.name,
            "strong": _model_name(row.strong) or None,
            **settings,
        }
        roles = {"guide": row.guide_model} if row.guide_model is not None else {}
        if row.strong is not None:
            roles["strong"] = row.strong
        roles = roles or None
        tasks.append(task_with(task, model=row.core, model_roles=roles, metadata=meta))
    return tasks


def check_log_dir(log_dir: str, settings: Mapping[str, Any]) -> None:
    """Refuse a log folder whose grid logs were made with other settings (see the module doc)."""
    if not os.path.isdir(log_dir):
        return
    for path in log_files(log_dir):
        try:
            header = read_header(path)
        except Exception:  # noqa: BLE001 - not ours to judge; eval_set reports unreadable logs
            continue
        grid = (header.eval.metadata or {}).get(GRID_METADATA_KEY)
        if not isinstance(grid, Mapping):
            continue
        theirs = {k: grid.get(k) for k in settings}
        theirs["epochs"] = theirs.get("epochs") or 1
        if theirs != dict(settings):
            diffs = ", ".join(f"{k}: {theirs.get(k)!r} there, {settings[k]!r} now" for k in settings if theirs.get(k) != settings[k])
            raise GridConfigError(
                f"{log_dir} holds grid logs made with other settings ({diffs}; e.g. {local_path(path)}): "
                "eval_set would count them as finished. Use another --log-dir for these settings."
            )


@dataclass
class GridResult:
    success: bool
    rows: list[GridRow]
    logs: list[Any] = field(default_factory=list)  # EvalLog headers, one per row
    tasks: list[Any] = field(default_factory=list)  # the Inspect tasks, one per row (their datasets whole)

    def summary(self) -> str:
        from gcop.costs import format_role_table, role_rows

        lines = []
        tables = []
        for log in self.logs:
            grid = (log.eval.metadata or {}).get(GRID_METADATA_KEY, {})
            acc = None
            if log.results and log.results.scores:
                metric = log.results.scores[0].metrics.get("accuracy")
                acc = metric.value if metric else None
            accuracy = "" if acc is None else f"  accuracy {100 * acc:.1f}%"
            lines.append(f"  [{log.status}] {grid.get('row', log.eval.task)}{accuracy}  {local_path(log.location)}")
            if log.stats is not None:
                tables.append(format_role_table(role_rows(log), title=f"{grid.get('row', log.eval.task)}: cost by role"))
        return "\n".join([*lines, *tables])


def run_grid(
    benchmark: str,
    core: Any = DEFAULT_CORE,
    *,
    icl: bool = False,
    reference_cores: Sequence[Any] = (),
    guides: Mapping[str, Any] | Sequence[tuple[str, Any]] = (),
    log_dir: str | None = None,
    limit: int | None = None,
    epochs: int | None = None,
    task_args: Mapping[str, Any] | None = None,
    core_args: Mapping[str, Any] | None = None,
    guide_args: Mapping[str, Any] | None = None,
    cascade: CascadePlan | None = None,
    **eval_set_kwargs: Any,
) -> GridResult:
    """Run (or resume) the grid. ``core``, reference cores and guides are model names or Inspect
    ``Model`` objects; ``core_args`` / ``guide_args`` are model arguments (``-M``) for the core and
    for every guide given by name. Other keyword arguments go to ``eval_set`` (``display``,
    ``retry_attempts``, ``max_tasks``, ``max_samples``, ...)."""
    from inspect_ai import eval_set
    from inspect_ai.model import get_model

    from evals.benchmarks import benchmark_names

    if benchmark not in benchmark_names():
        raise GridConfigError(f"unknown benchmark {benchmark!r}: one of {', '.join(benchmark_names())}")
    if core_args and isinstance(core, str):
        core = get_model(core, memoize=False, **dict(core_args))
    pairs = list(guides.items()) if isinstance(guides, Mapping) else list(guides)
    if guide_args:
        pairs = [(n, get_model(m, memoize=False, **dict(guide_args)) if isinstance(m, str) else m) for n, m in pairs]
    rows = plan_rows(core, icl=icl, reference_cores=reference_cores, guides=pairs, cascade=cascade)
    log_dir = log_dir or os.path.join("logs", f"grid-{benchmark}")
    task_args = dict(task_args or {})
    check_log_dir(log_dir, grid_settings(benchmark, task_args, limit, epochs))
    tasks = build_tasks(benchmark, rows, task_args=task_args, limit=limit, epochs=epochs)
    success, logs = eval_set(
        tasks, log_dir=log_dir, limit=limit, epochs=epochs,
        tags=["gcop-grid", benchmark], metadata=None, **eval_set_kwargs,
    )
    _restore_memory_files(logs)
    return GridResult(success=bool(success), rows=rows, logs=list(logs), tasks=tasks)


def _restore_memory_files(logs: Sequence[Any]) -> None:
    """A memory row's memory file is written by gcop's hook after its log; a run killed between
    the two leaves a complete log that ``eval_set`` skips on the re-run, so write it here."""
    from evals.memory import memory_path
    from gcop.hooks import write_memory_file

    for log in logs:
        location = str(getattr(log, "location", "") or "")
        if (log.status == "success" and "memory" in (log.eval.metadata or {}) and location
                and ("://" not in location or location.startswith("file://"))
                and not os.path.exists(memory_path(location))):
            write_memory_file(log)


# --------------------------------------------------------------------------- estimate

@dataclass
class RowEstimate:
    row: str
    pilot_samples: int
    full_samples: int
    pilot_cost: float | None
    #: role -> expected US$ of the full run (None: a model with no price)
    expected: dict[str, float | None]

    @property
    def expected_total(self) -> float | None:
        values = list(self.expected.values())
        return None if any(v is None for v in values) else float(sum(values))  # type: ignore[arg-type]


def _prompt_tokens(benchmark: str, dataset: Any, role: str) -> list[int]:
    """Each sample's prompt size for ``role``, counted as the offline token approximation."""
    from evals.benchmarks import get_benchmark
    from evals.prompts import core_messages
    from guides.prompts import guide_messages
    from guides.strategy import approx_token_count

    domain = get_benchmark(benchmark).domain
    sizes = []
    for sample in dataset:
        text = sample.input if isinstance(sample.input, str) else " ".join(m.text for m in sample.input)
        messages = guide_messages(domain, text) if role == "guide" else core_messages(domain, text)  # type: ignore[arg-type]
        sizes.append(approx_token_count("\n".join(m.text for m in messages)))
    return sizes


def estimate_rows(benchmark: str, pilot_logs: Sequence[Any], tasks: Sequence[Any], *, pilot: int,
                  epochs: int | None = None) -> list[RowEstimate]:
    """The expected $ of each row's full run, from its pilot log (the first ``pilot`` samples) and
    the prompts of every sample: per role, input tokens scale with the prompts' token counts
    (all samples against the pilot's), output tokens with the number of samples, each priced at
    the model's list price (results/prices.yaml); cache reads and writes are priced as input."""
    from gcop.costs import price_for, role_rows

    estimates = []
    for log, task in zip(pilot_logs, tasks, strict=True):
        grid = (log.eval.metadata or {}).get(GRID_METADATA_KEY, {})
        # a memory row's task is fed by its stream (a SampleSource), whose dataset is the first sample only
        source = getattr(task, "sample_source", None)
        full = list(getattr(source, "samples", None) or task.dataset)
        n_full = len(full) * (epochs or 1)
        done = log.results.completed_samples if log.results is not None else 0
        n_pilot = max(1, done or min(pilot, len(full)) * (epochs or 1))
        rows = role_rows(log)
        expected: dict[str, float | None] = {}
        for role, usage in rows.items():
            price = price_for(usage["model"]) if usage.get("model") else None
            if price is None:
                expected[role] = None
                continue
            sizes = _prompt_tokens(benchmark, full, "guide" if role == "guide" else "core")
            pilot_size = sum(sizes[:min(pilot, len(sizes))]) or 1
            input_full = usage["input_tokens"] * (sum(sizes) / pilot_size)
            output_full = usage["output_tokens"] * (n_full / n_pilot)
            expected[role] = (input_full * price.input + output_full * price.output) / 1e6
        costs = [r.get("cost") for r in rows.values()]
        estimates.append(RowEstimate(row=str(grid.get("row", log.eval.task)), pilot_samples=n_pilot, full_samples=n_full,
                                     pilot_cost=None if any(c is None for c in costs) else float(sum(costs)),  # type: ignore[arg-type]
                                     expected=expected))
    return estimates


def format_estimates(estimates: Sequence[RowEstimate]) -> str:
    def money(value: float | None) -> str:
        return "unknown" if value is None else f"${value:,.2f}"

    lines = [f"  {'row':<58} {'pilot':>12} {'full run':>10}  expected $ by role"]
    for e in estimates:
        roles = ", ".join(f"{role} {money(v)}" for role, v in e.expected.items())
        lines.append(f"  {e.row[:58]:<58} {money(e.pilot_cost) + f'/{e.pilot_samples}':>12} {money(e.expected_total):>10}  "
                     f"{roles} ({e.full_samples} samples)")
    totals = [e.expected_total for e in estimates]
    lines.append(f"  expected total: {money(None if None in totals else sum(totals))}  "  # type: ignore[arg-type]
                 "(list prices; input scaled by the prompts' token counts, output by the sample count)")
    return "\n".join(lines)
