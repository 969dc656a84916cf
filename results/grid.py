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

A task gcop did not write (``--task inspect_evals/mbpp``, or ``FILE.py@TASK``) gets the same rows
from gcop's drop-in solvers (:mod:`gcop.evals.dropin`) wrapped around the task's own solver chain, its
scorer scoring: ``core`` is the task as it is, ``icl`` its ``gcop/icl`` (examples from a file
the user names), ``guided`` its ``gcop/guided``, ``cascade`` its ``gcop/cascade`` (the agreement
rule). Guided cascades and memory rows are gcop's benchmarks' alone (they need gcop's own
answer extraction and strategy memory). The grid metadata of such rows also carries what gcop's
tasks put in theirs: a fingerprint of the task's dataset, its version and scorer, the guide
prompt's version, so that the leaderboard groups and compares them the same way.

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

from gcop.costs import cost_of, format_role_table, price_for, role_rows
from gcop.evals.benchmarks import benchmark_names, get_benchmark
from gcop.evals.dropin import guide_prompt_version, guided, load_task, wrap_task
from gcop.evals.dropin import icl as icl_solver
from gcop.evals.hooks import write_memory_file
from gcop.evals.memory import memory_path
from gcop.evals.prompts import core_messages
from gcop.guides.prompts import guide_messages
from gcop.guides.strategy import approx_token_count
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
    cascade: CascadePlan | None = None,
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
    #: a guided cascade row for each guided row (gcop's benchmarks only)
    guided: bool = True

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
            for row in guided if self.guided else ():
                rows.append(GridRow("guided-cascade", core, guide=row.guide, guide_model=row.guide_model,
                                    mode="guided_cascade", strong=self.strong, options=options))
            if self.memory:
                rows.append(GridRow("memory", core, mode="memory", strong=self.strong, options=options))
        return rows


def is_gcop_benchmark(name: str) -> bool:
    """A benchmark gcop wrote (``gsm8k``, ...), as against a task named for ``--task``."""

    return name in benchmark_names()


@dataclass(frozen=True)
class ForeignOptions:
    """How gcop's recipes run on a task gcop did not write (``gcop grid --task``)."""

    #: options of ``gcop/guided`` for the guided rows (domain, max_strategy_tokens, on_invalid, guide_prompt, ...)
    guided: Mapping[str, Any] = field(default_factory=dict)
    #: the ICL row's examples (the task's train split as JSONL or CSV) and how to read them
    icl_examples: str | None = None
    icl_k: int = 3
    icl_input_field: str = "input"
    icl_target_field: str = "target"

    def check(self, icl: bool = False) -> None:
        """Build the solvers once, so that a misspelt or bad option fails before any row runs."""

        try:
            guided(**dict(self.guided))
            if icl and self.icl_examples:
                icl_solver(examples=self.icl_examples, k=self.icl_k, input_field=self.icl_input_field,
                           target_field=self.icl_target_field)
        except (TypeError, ValueError, OSError) as exc:
            message = str(exc).replace("guided()", "-S: gcop/guided").replace("-S examples", "--icl-examples")
            raise GridConfigError(" ".join(message.split())) from None

    def as_dict(self) -> dict[str, Any]:
        return {"guided": {k: self.guided[k] for k in sorted(self.guided)}, "icl_examples": self.icl_examples,
                "icl_k": self.icl_k, "icl_input_field": self.icl_input_field, "icl_target_field": self.icl_target_field}


#: rows a task gcop did not write can have (see the module doc)
FOREIGN_MODES = ("core", "icl", "guided", "cascade")


def _foreign_row_task(name: str, row: GridRow, task_args: Mapping[str, Any], options: ForeignOptions) -> Any:
    """A new instance of the task with its own solver inside the row's gcop solver."""

    if row.mode not in FOREIGN_MODES:
        raise GridConfigError(f"the {row.recipe} rows are for gcop's own benchmarks; on --task {name} the grid has "
                              f"{', '.join(FOREIGN_MODES)} rows")
    try:
        task = load_task(name, dict(task_args))
    except Exception as exc:  # noqa: BLE001 - a task that cannot be built is the user's to fix: say why
        raise GridConfigError(f"--task {name}: {' '.join(str(exc).split()) or type(exc).__name__}") from None
    if row.mode == "icl" and not options.icl_examples:
        raise GridConfigError(f"--icl on --task {name} needs --icl-examples FILE (solved examples of the task, "
                              "e.g. its train split, as JSONL or CSV)")
    if row.mode == "cascade" and row.options.get("cascade_rule", "agreement") != "agreement":
        raise GridConfigError(f"--cascade-rule {row.options['cascade_rule']} is for gcop's code benchmarks; "
                              f"--task {name} takes the agreement rule")
    recipes = {
        "guided": dict(options.guided),
        "icl": {"examples": options.icl_examples, "k": options.icl_k, "input_field": options.icl_input_field,
                "target_field": options.icl_target_field},
        "cascade": {"k": row.options.get("cascade_k") or 3, "threshold": row.options.get("cascade_threshold", 1.0)},
    }
    if row.mode not in recipes:  # core: the task as it is
        return task
    try:
        return wrap_task(task, row.mode, **recipes[row.mode])
    except (TypeError, ValueError, FileNotFoundError) as exc:
        raise GridConfigError(f"{row.recipe} row of --task {name}: {exc}") from None


def dataset_fingerprint(task: Any) -> str:
    """What identifies the data a task ran on: a hash of every sample's id, input and target
    (twelve hex digits), so that rows made from other data are never compared."""
    import hashlib
    import json

    digest = hashlib.sha256()
    for sample in task.dataset:
        text = sample.input if isinstance(sample.input, str) else [m.model_dump(exclude={"id"}) for m in sample.input]
        digest.update(json.dumps([sample.id, text, sample.target], default=str, sort_keys=True).encode())
    return f"sha256:{digest.hexdigest()[:12]}"


def _scorer_names(task: Any) -> str:
    from inspect_ai._util.registry import registry_unqualified_name

    names = []
    for scorer in task.scorer or []:
        try:
            names.append(registry_unqualified_name(scorer))
        except Exception:  # noqa: BLE001 - an unregistered scorer still has a Python name
            names.append(getattr(scorer, "__name__", type(scorer).__name__))
    return ", ".join(names) or "none"


def _foreign_metadata(name: str, task: Any, options: ForeignOptions) -> dict[str, Any]:
    """For a foreign task's rows, what gcop's tasks write in their metadata (see the module doc)."""

    return {
        "task": name,
        "data_revision": dataset_fingerprint(task),
        "core_prompt_version": f"{name} v{task.version}, scorer {_scorer_names(task)}",
        "guide_prompt_version": guide_prompt_version(options.guided.get("guide_prompt")),
    }


def _task_function(benchmark: str) -> Any:

    try:
        return get_benchmark(benchmark).task_function()
    except ValueError as exc:
        raise GridConfigError(str(exc)) from None


def grid_settings(benchmark: str, task_args: Mapping[str, Any], limit: int | None, epochs: int | None,
                  foreign: ForeignOptions | None = None) -> dict[str, Any]:
    """What must be equal for a re-run to resume a log folder (eval_set does not check these)."""
    settings = {"benchmark": benchmark, "task_args": {k: task_args[k] for k in sorted(task_args)},
                "limit": limit, "epochs": epochs or 1}
    if foreign is not None:
        settings["recipe_options"] = foreign.as_dict()
    return settings


def build_tasks(
    benchmark: str,
    rows: Sequence[GridRow],
    *,
    task_args: Mapping[str, Any] | None = None,
    limit: int | None = None,
    epochs: int | None = None,
    foreign: ForeignOptions | None = None,
) -> list[Any]:
    """One Inspect task per row, with its model, guide role and ``gcop_grid`` metadata.
    ``benchmark`` is one of gcop's, or a task gcop did not write (see the module doc), whose
    recipes ``foreign`` configures."""
    from inspect_ai import task_with

    task_args = dict(task_args or {})
    gcop_benchmark = is_gcop_benchmark(benchmark)
    if gcop_benchmark:
        if "mode" in task_args:
            raise GridConfigError("-T mode is set by each row of the grid; leave it out")
        for key in ("cascade_rule", "cascade_k", "cascade_threshold"):
            if key in task_args and any(row.options for row in rows):
                raise GridConfigError(f"-T {key} is set by the cascade rows (--cascade-rule, --cascade-k, --cascade-threshold)")
        fn = _task_function(benchmark)
    else:
        foreign = foreign or ForeignOptions()
    settings = grid_settings(benchmark, task_args, limit, epochs, None if gcop_benchmark else foreign)
    tasks = []
    foreign_meta: dict[str, Any] | None = None
    for row in rows:
        extra: dict[str, Any] = {}
        if gcop_benchmark:
            task = fn(mode=row.mode, **task_args, **row.options)
        else:
            assert foreign is not None
            task = _foreign_row_task(benchmark, row, task_args, foreign)
            foreign_meta = foreign_meta or _foreign_metadata(benchmark, task, foreign)
            extra = {**foreign_meta, "mode": row.mode}
            if row.mode == "cascade":
                extra["cascade"] = {"rule": "agreement", "k": row.options.get("cascade_k") or 3,
                                    "threshold": row.options.get("cascade_threshold", 1.0)}
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
            **extra,
        }
        roles = {"guide": row.guide_model} if row.guide_model is not None else {}
        if row.strong is not None:
            roles["strong"] = row.strong
        # None: no roles (Inspect's annotation has no None; it resolves None to none).
        tasks.append(task_with(task, model=row.core, model_roles=roles or None, metadata=meta))  # type: ignore[arg-type]
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
    foreign: ForeignOptions | None = None,
    **eval_set_kwargs: Any,
) -> GridResult:
    """Run (or resume) the grid. ``benchmark`` is one of gcop's benchmarks or, with ``foreign``
    (its recipes' options), a task gcop did not write. ``core``, reference cores and guides are
    model names or Inspect ``Model`` objects; ``core_args`` / ``guide_args`` are model arguments
    (``-M``) for the core and for every guide given by name. Other keyword arguments go to
    ``eval_set`` (``display``, ``retry_attempts``, ``max_tasks``, ``max_samples``, ...)."""
    from inspect_ai import eval_set
    from inspect_ai.model import get_model


    if foreign is None and not is_gcop_benchmark(benchmark):
        raise GridConfigError(f"unknown benchmark {benchmark!r}: one of {', '.join(benchmark_names())} "
                              "(a task gcop did not write: --task)")
    if foreign is not None:
        if is_gcop_benchmark(benchmark):
            raise GridConfigError(f"{benchmark} is gcop's own benchmark: --benchmark {benchmark}")
        cascade = foreign_cascade(cascade, benchmark)
        foreign.check(icl=icl)
    if core_args and isinstance(core, str):
        core = get_model(core, memoize=False, **dict(core_args))
    pairs = list(guides.items()) if isinstance(guides, Mapping) else list(guides)
    if guide_args:
        pairs = [(n, get_model(m, memoize=False, **dict(guide_args)) if isinstance(m, str) else m) for n, m in pairs]
    rows = plan_rows(core, icl=icl, reference_cores=reference_cores, guides=pairs, cascade=cascade)
    log_dir = log_dir or default_log_dir(benchmark)
    task_args = dict(task_args or {})
    check_log_dir(log_dir, grid_settings(benchmark, task_args, limit, epochs, foreign))
    tasks = build_tasks(benchmark, rows, task_args=task_args, limit=limit, epochs=epochs, foreign=foreign)
    success, logs = eval_set(
        tasks, log_dir=log_dir, limit=limit, epochs=epochs,
        tags=["gcop-grid", benchmark], metadata=None, **eval_set_kwargs,
    )
    _restore_memory_files(logs)
    return GridResult(success=bool(success), rows=rows, logs=list(logs), tasks=tasks)


def foreign_cascade(cascade: CascadePlan | None, task: str) -> CascadePlan | None:
    """The cascade rows a task gcop did not write can have: the core's own cascade (agreement)."""
    if cascade is None:
        return None
    if cascade.memory:
        raise GridConfigError(f"--memory (Inter-Cascade) is for gcop's own benchmarks, not --task {task}")
    if cascade.rule != "agreement":
        raise GridConfigError(f"--cascade-rule {cascade.rule} is for gcop's code benchmarks; --task {task} takes "
                              "the agreement rule")
    from dataclasses import replace

    return replace(cascade, guided=False)


def default_log_dir(benchmark: str) -> str:
    """``logs/grid-NAME``, the task's name made a folder name (``inspect_evals/mbpp`` -> ``inspect_evals-mbpp``)."""
    import re

    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", os.path.basename(benchmark) if ".py@" in benchmark else benchmark)
    return os.path.join("logs", f"grid-{name.strip('-') or 'task'}")


def _restore_memory_files(logs: Sequence[Any]) -> None:
    """A memory row's memory file is written by gcop's hook after its log; a run killed between
    the two leaves a complete log that ``eval_set`` skips on the re-run, so write it here."""

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

    domain = get_benchmark(benchmark).domain if is_gcop_benchmark(benchmark) else None
    sizes = []
    for sample in dataset:
        text = sample.input if isinstance(sample.input, str) else " ".join(m.text for m in sample.input)
        if domain is None:  # a task gcop did not write: its input is what scales (its template is fixed)
            sizes.append(approx_token_count(text))
            continue
        messages = guide_messages(domain, text) if role == "guide" else core_messages(domain, text)
        sizes.append(approx_token_count("\n".join(m.text for m in messages)))
    return sizes


def estimate_rows(benchmark: str, pilot_logs: Sequence[Any], tasks: Sequence[Any], *, pilot: int,
                  epochs: int | None = None) -> list[RowEstimate]:
    """The expected $ of each row's full run, from its pilot log (the first ``pilot`` samples) and
    the prompts of every sample: per role, input tokens scale with the prompts' token counts
    (all samples against the pilot's), output tokens with the number of samples, each priced at
    the model's list price (results/prices.yaml); cache reads and writes are priced as input."""

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
            expected[role] = cost_of(input_full, output_full, price)
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
