"""Reading gcop's Inspect logs: one :class:`RunInfo` per log and one :class:`SampleRecord` per
(sample id, epoch), with correctness, $ and tokens per role, and the guide's strategy.

Logs are read only through Inspect's own API (``list_eval_logs``, ``read_eval_log``); nothing
here parses a log file. Used by ``gcop leaderboard``, ``gcop regress`` and ``gcop executability``.

Definitions used everywhere:

* **correct**: the sample's (single) score converted with Inspect's ``value_to_float`` is 1.0
  (``C`` for gcop's scorers). Samples that ended in an error have ``correct=None`` and are
  counted apart, never as failures.
* **cost per role**: :func:`gcop.costs.role_split` of the sample's ``model_usage`` and
  ``role_usage``: ``guide`` is what Inspect recorded for the guide role, ``core`` the rest. A $
  figure is ``None`` (unknown) unless *every* model the sample used has a recorded cost: a
  partially priced sample is never shown with a partial sum.
* **recipe / guide**: from the ``gcop_grid`` task metadata written by ``gcop grid`` when
  present; otherwise inferred (``mode`` of the task or its samples; the guide is the model bound
  to the ``guide`` role).
* **tasks gcop did not write** are read when ``gcop grid --task`` made the log (its metadata
  names the task, its data fingerprint and scorer) or when one of gcop's drop-in solvers
  (``gcop/guided``, ``gcop/icl``, ``gcop/cascade``) ran in it; the task's name stands for the
  benchmark, its (first) scorer decides what is correct.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from inspect_ai.log import EvalLog, list_eval_logs, read_eval_log

from gcop.costs import cost_of, guide_recount, price_for, role_split
from gcop.evals.dropin import guide_prompt_version
from gcop.guides.prompts import prompt_version
from gcop.lifecycle import batch_discount

#: Task metadata key written by ``gcop grid`` for each row.
GRID_METADATA_KEY = "gcop_grid"
RECIPES = ("core", "icl", "reference-core", "guided")


class LogError(ValueError):
    """A log cannot be used for what was asked (wrong kind, incomplete, mismatched)."""


def local_path(location: str) -> str:
    """A log location as a plain path where it is a local file (Inspect reports ``file://`` URIs)."""
    if location.startswith("file://"):
        return unquote(urlparse(location).path)
    return location


def log_files(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], recursive: bool = True) -> list[str]:
    """Every Inspect log under the given files/folders (folders through ``list_eval_logs``)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[str] = []
    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            found.extend(local_path(info.name) for info in list_eval_logs(path, recursive=recursive))
        elif os.path.exists(path):
            found.append(path)
        else:
            raise LogError(f"no such log file or folder: {path}")
    return sorted(dict.fromkeys(found))


def single_log(path: str | os.PathLike[str]) -> str:
    """``path`` itself if it is a log file; the one log in it if it is a folder (else an error)."""
    files = log_files(path, recursive=False) if os.path.isdir(path) else log_files(path)
    if len(files) != 1:
        raise LogError(f"{path}: expected one Inspect log, found {len(files)}" + (f": {', '.join(files[:5])}" if files else ""))
    return files[0]


# --------------------------------------------------------------------------- runs


@dataclass
class RunInfo:
    """What identifies one log: a leaderboard row's key and its provenance."""

    path: str
    task: str
    benchmark: str
    split: str
    core: str
    recipe: str
    guide: str | None  # the guide's name (grid) or its model
    guide_model: str | None
    mode: str
    data_revision: str
    core_prompt_version: str
    guide_prompt_version: str
    created: str
    status: str
    epochs: int
    limit: Any
    eval_set_id: str | None
    grid: dict[str, Any] = field(default_factory=dict)
    #: role (core, guide) -> the factor of list prices its calls are priced at: the provider's batch
    #: discount for a model run with Inspect's ``--batch`` (results/models.yaml), absent otherwise.
    batch_priced: dict[str, float] = field(default_factory=dict)
    #: cascade modes: the model bound to the strong role, and the deferral rule (task metadata)
    strong_model: str | None = None
    cascade: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_versions(self) -> str:
        """The prompt versions that matter for this row (the guide's only when a guide ran)."""
        if self.recipe == "guided":
            return f"core {self.core_prompt_version}, guide {self.guide_prompt_version}"
        return f"core {self.core_prompt_version}"

    @property
    def variant(self) -> tuple[str, str]:
        """Rows are comparable only within one (data revision, prompt versions)."""
        return (self.data_revision, self.prompt_versions)


def _role_model(log: EvalLog, role: str) -> str | None:
    roles = log.eval.model_roles or {}
    config = roles.get(role)
    if config is None:
        return None
    if isinstance(config, list):
        return ",".join(str(c.model) for c in config) or None
    return str(config.model)


def _batch_priced(log: EvalLog) -> dict[str, float]:
    """Roles whose calls went through a batch API (``--batch``) and that API's price factor."""

    main = log.eval.model_generate_config
    found: dict[str, float] = {}
    if main is not None and main.batch:
        factor = batch_discount(str(log.eval.model))
        if factor is not None:
            found["core"] = factor
    for role, config in (log.eval.model_roles or {}).items():
        if isinstance(config, list) or role != "guide":
            continue
        if config.config.batch or (main is not None and main.batch and config.config.batch is None):
            factor = batch_discount(str(config.model))
            if factor is not None:
                found["guide"] = factor
    return found


#: gcop's drop-in solvers (gcop.evals.dropin) and the mode each gives a run
GCOP_SOLVERS = {"gcop/guided": "guided", "gcop/icl": "icl", "gcop/cascade": "cascade"}


def _gcop_solver_mode(log: EvalLog) -> str | None:
    """The mode of a run of a task gcop did not write where one of gcop's solvers ran (the
    ``--solver`` given, or a step of its plan), else None."""
    names = [log.eval.solver or ""] + [step.solver for step in (log.plan.steps if log.plan else [])]
    for name in names:
        if name in GCOP_SOLVERS:
            return GCOP_SOLVERS[name]
    return None


def _foreign_fields(log: EvalLog, mode: str) -> dict[str, Any]:
    """What a log of a task gcop did not write, run outside the grid, is identified by: the task
    (and its version and scorer) for the prompt, the dataset's name for the data."""

    dataset = log.eval.dataset
    scorer = (log.results.scores[0].scorer if log.results and log.results.scores else None) or "unknown"
    params: dict[str, Any] = {}
    for step in log.plan.steps if log.plan else []:
        if step.solver in GCOP_SOLVERS:
            params = dict(step.params_passed or step.params or {})
    guide_prompt = params.get("guide_prompt")
    if isinstance(guide_prompt, str):

        guide_version = guide_prompt_version(guide_prompt)
    else:
        guide_version = prompt_version()
    cascade = ({"rule": "agreement", "k": params.get("k", 3), "threshold": params.get("threshold", 1.0)}
               if mode == "cascade" else {})
    return {"benchmark": log.eval.task, "mode": mode,
            "data_revision": f"{dataset.name or dataset.location or 'unnamed dataset'}",
            "core_prompt_version": f"{log.eval.task} v{log.eval.task_version}, scorer {scorer}",
            "guide_prompt_version": guide_version, **({"cascade": cascade} if cascade else {})}


def run_info(log: EvalLog) -> RunInfo:
    """The row identity of a gcop log (header only is enough). Raises :class:`LogError` for a
    log that neither a gcop task, ``gcop grid`` nor a gcop solver made."""
    meta = dict(log.eval.metadata or {})
    grid = dict(meta.get(GRID_METADATA_KEY) or {})
    if not meta.get("benchmark"):
        if grid.get("task"):  # gcop grid --task: its metadata holds what gcop's tasks write
            meta.update({k: grid[k] for k in ("data_revision", "core_prompt_version", "guide_prompt_version", "mode",
                                              "cascade") if k in grid})
            meta["benchmark"] = grid["task"]
        elif (solver_mode := _gcop_solver_mode(log)) is not None:
            meta.update(_foreign_fields(log, solver_mode))
        else:
            raise LogError(f"{local_path(log.location)}: not a gcop log (no gcop task, grid or solver made it: "
                           "run a task gcop did not write through `gcop grid --task` for its core row)")
    benchmark = meta["benchmark"]
    guide_model = _role_model(log, "guide")
    mode = str(meta.get("mode") or "")
    if mode not in ("core", "icl", "guided", "cascade", "guided_cascade", "memory"):
        # mode was left to the task ("auto"): guided exactly when a guide role was bound.
        sample_modes = {str((s.metadata or {}).get("mode")) for s in (log.samples or []) if (s.metadata or {}).get("mode")}
        if len(sample_modes) == 1:
            mode = sample_modes.pop()
        else:
            mode = "guided" if guide_model else "core"
    recipe = str(grid.get("recipe") or mode.replace("_", "-"))
    guide = grid.get("guide") if grid else None
    guided = mode in ("guided", "guided_cascade")
    if guided and not guide:
        guide = guide_model
    return RunInfo(
        path=local_path(log.location),
        task=log.eval.task,
        benchmark=str(benchmark),
        split=str(meta.get("split", "")),
        core=str(log.eval.model),
        recipe=recipe,
        guide=str(guide) if guide else None,
        guide_model=guide_model if guided else None,
        strong_model=_role_model(log, "strong") if "cascade" in meta or mode == "memory" else None,
        cascade=dict(meta.get("cascade") or {}),
        mode=mode,
        data_revision=str(meta.get("data_revision", "unknown")),
        core_prompt_version=str(meta.get("core_prompt_version", "unknown")),
        guide_prompt_version=str(meta.get("guide_prompt_version", "unknown")),
        created=str(log.eval.created),
        status=str(log.status),
        epochs=int(log.eval.config.epochs or 1),
        limit=log.eval.config.limit,
        eval_set_id=log.eval.eval_set_id,
        grid=grid,
        batch_priced=_batch_priced(log),
    )


# --------------------------------------------------------------------------- samples


@dataclass
class SampleRecord:
    id: str
    epoch: int
    correct: bool | None  # None: the sample ended in an error
    error: str | None
    cost: dict[str, float | None]  # guide, core, total ($; None when unknown)
    tokens: dict[str, dict[str, int]]  # role -> input/output/total tokens
    strategy_valid: bool | None
    leaked: bool | None
    strategy: str | None
    mode: str | None
    #: cascade modes: sent to the strong model; the cheap answer's verdict; memory size after it
    escalated: bool | None = None
    cheap_correct: bool | None = None
    memory_size: int | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.id, self.epoch)


def _correct(sample: Any) -> bool | None:
    from inspect_ai.scorer import value_to_float

    if sample.error or not sample.scores:
        return None
    if len(sample.scores) > 1:
        # gcop tasks have one scorer; pick it by name if a second one was added later.
        names = [n for n in sample.scores if n in ("math_scorer", "code_scorer")]
        score = sample.scores[names[0]] if names else next(iter(sample.scores.values()))
    else:
        score = next(iter(sample.scores.values()))
    return value_to_float()(score.value) >= 1.0


def _score_metadata(sample: Any) -> dict[str, Any]:
    for score in (sample.scores or {}).values():
        if score.metadata:
            return dict(score.metadata)
    return {}


def sample_record(sample: Any) -> SampleRecord:

    model_usage = dict(sample.model_usage or {})
    role_usage = dict(getattr(sample, "role_usage", None) or {})
    split = role_split(model_usage, role_usage)
    all_priced = all(u.total_cost is not None for u in model_usage.values())
    total_cost = sum(float(u.total_cost) for u in model_usage.values()) if all_priced else None

    def role_cost(role: str) -> float | None:
        usage = role_usage.get(role)
        return 0.0 if usage is None else (None if usage.total_cost is None else float(usage.total_cost))

    guide_cost, strong_cost = role_cost("guide"), role_cost("strong")
    # the core (the main model) is what the bound roles leave of the sample's total
    others = [role_cost(r) for r in role_usage]
    core_cost = (max(0.0, total_cost - sum(others)) if total_cost is not None and None not in others  # type: ignore[arg-type, operator]  # no None: checked
                 else None)
    tokens: dict[str, dict[str, int]] = {}
    for role in ("guide", "core", "strong"):
        part = split.get(role) or {}
        tokens[role] = {k: int(part.get(k) or 0) for k in ("input_tokens", "output_tokens", "total_tokens")}
    meta = _score_metadata(sample)
    guide = (sample.metadata or {}).get("guide")
    recount = _recounted_guide(guide, role_usage.get("guide"))
    if recount is not None:  # an hf/ guide: its own counts, not the batch's padded ones
        tokens["guide"], recounted_cost = recount
        if guide_cost is not None and total_cost is not None:
            total_cost += recounted_cost - guide_cost
            guide_cost = recounted_cost
    strategy = guide.get("strategy") if isinstance(guide, dict) and guide.get("valid") else None
    valid = meta.get("strategy_valid")
    if valid is None and isinstance(guide, dict):
        valid = bool(guide.get("valid"))
    leaked = meta.get("leaked")
    if leaked is None and isinstance(guide, dict):
        leaked = guide.get("leaked")
    cascade = (sample.metadata or {}).get("cascade")
    escalated = meta.get("escalated")
    if escalated is None and isinstance(cascade, dict):  # gcop/cascade on a task gcop did not write
        escalated = cascade.get("escalated")
    return SampleRecord(
        id=str(sample.id),
        epoch=int(sample.epoch),
        correct=_correct(sample),
        error=(sample.error.message if sample.error else None),
        cost={"guide": guide_cost, "core": core_cost, "strong": strong_cost, "total": total_cost},
        tokens=tokens,
        strategy_valid=None if valid is None else bool(valid),
        leaked=None if leaked is None else bool(leaked),
        strategy=strategy,
        mode=(meta.get("mode") or (sample.metadata or {}).get("mode")),
        escalated=escalated,
        cheap_correct=meta.get("cheap_correct"),
        memory_size=meta.get("memory_size"),
    )


def _recounted_guide(guide: Any, usage: Any) -> tuple[dict[str, int], float] | None:
    """The guide's tokens as the guide step recounted them (``hf/`` guides, see
    ``gcop.guides.solver.RECOUNTED``) and their $ at the guide's price, or None."""

    recount = guide_recount(guide) if usage is not None else None
    price = price_for(recount["model"]) if recount is not None else None
    if recount is None or price is None:
        return None
    counts = {k: recount[k] for k in ("input_tokens", "output_tokens")}
    counts["total_tokens"] = counts["input_tokens"] + counts["output_tokens"]
    return counts, cost_of(counts["input_tokens"], counts["output_tokens"], price)


@dataclass
class Run:
    info: RunInfo
    samples: list[SampleRecord]

    @property
    def scored(self) -> list[SampleRecord]:
        return [s for s in self.samples if s.correct is not None]

    @property
    def errors(self) -> list[SampleRecord]:
        return [s for s in self.samples if s.correct is None]


def read_run(path: str | os.PathLike[str]) -> Run:
    """A whole gcop log: its identity and every sample."""
    log = read_eval_log(os.fspath(path))
    info = run_info(log)
    samples = [sample_record(s) for s in (log.samples or [])]
    if info.batch_priced:
        # Inspect prices every call at list price; a --batch run paid the batch price.
        for sample in samples:
            for role, factor in info.batch_priced.items():
                if sample.cost.get(role) is not None:
                    sample.cost[role] = sample.cost[role] * factor  # type: ignore[operator]
            parts = (sample.cost.get("guide"), sample.cost.get("core"), sample.cost.get("strong"))
            sample.cost["total"] = None if None in parts else float(sum(parts))  # type: ignore[arg-type]
    return Run(info=info, samples=samples)


def read_header(path: str | os.PathLike[str]) -> EvalLog:
    return read_eval_log(os.fspath(path), header_only=True)


# --------------------------------------------------------------------------- statistics


def mean_or_none(values: Iterable[float | bool | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else None


def sum_or_none(values: Iterable[float | None]) -> float | None:
    values = list(values)
    if any(v is None for v in values):
        return None
    return float(sum(values))  # type: ignore[arg-type]
