"""A cost ledger for training-time model calls: tokens and US$ per phase, with a budget.

Phases are free-form names (``teacher``, ``core``, ``judge``, ...). Each recorded call adds its
:class:`~inspect_ai.model.ModelUsage` to its phase, both in total and per model. The dollar
cost of a call is ``usage.total_cost`` when Inspect filled it in (it does for models with cost
data, e.g. after :func:`gcop.costs.apply_prices`), else it is computed from the model's cost in
Inspect's model database (:func:`inspect_ai.model.get_model_info`, looked up without
instantiating a provider) or from the ledger's own ``prices``; offline models (``mockllm/``,
``gcop/``) cost the offline rate ($0 by default) and self-hosted ones (``vllm/``, ``hf/``...) the
self-hosted rate, as everywhere in gcop (:func:`gcop.costs.price_for`). A call of a paid model
with no price anywhere is counted as ``unpriced_calls`` and adds nothing to the totals.

Budget: with ``budget_usd`` set, :meth:`CostLedger.check_budget` raises :class:`BudgetExceeded`
once the running total has reached the budget, and :class:`BudgetUnenforceable` (a
:class:`BudgetExceeded`) as soon as one unpriced call was recorded: a budget that counts a paid call
as $0 could stop nothing. Callers check **before starting** each new call
(:func:`gcop.inspect_models.generate_text` does); calls already in flight finish and are
recorded, so the final total can pass the budget by at most what the in-flight calls cost.
Recording itself never raises.

The ledger is safe to share between asyncio tasks and threads (one lock), is plain JSON
(:meth:`to_dict` / :meth:`from_dict`, :meth:`save` writes atomically, :meth:`load`), and can be
resumed: a ledger loaded from a previous run keeps accumulating, so its budget covers all runs.

Crash safety: with a ``path`` (``ledger.json``), every recorded call is also one row of the
**journal** beside it, ``ledger.jsonl``, appended and fsynced before :meth:`record_usage`
returns (:class:`gcop.durable.LineAppender`: one ``os.write`` of a whole line on an
``O_APPEND`` descriptor under ``flock``). The journal is the truth; ``ledger.json`` is its
human-readable summary, re-derived by :meth:`save`. So ``kill -9`` loses no finished call and a
resumed run counts none twice: :meth:`load` sums the journal's rows (a torn last line is dropped
with a warning, a corrupt line in the middle is reported by file and line and skipped). Several
processes (training ranks) may record into one journal at once: each row names its writer, and
:meth:`refresh` (run by :meth:`check_budget` and :meth:`save`; a ``stat`` when nothing is new)
adds the rows other writers appended since, so every rank's budget sees the whole spend. A row
is ``{"v", "w" (the writer: ``<pid>-<random>``), "at", "phase", "model", "cost_usd" (null: unpriced), token counts,
"context"}``; ``context`` is :attr:`CostLedger.context` at the call (GRPO puts the step there).
A folder written before the journal existed (``ledger.json`` alone) is carried into a new
journal as one ``import`` row holding its totals.

``record_usage(model, usage, role=...)`` is the method the GRPO reward engine
(:class:`gcop.train.rewards.GuideRewards`) calls; ``role`` is the phase.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gcop.costs import price_for
from gcop.durable import LineAppender, write_atomic

log = logging.getLogger(__name__)

#: A run's ledger (acceptance, SFT's held-out evaluation, GRPO), in its output folder.
LEDGER_FILE = "ledger.json"

__all__ = ["LEDGER_FILE", "BudgetExceeded", "BudgetUnenforceable", "CostLedger", "PhaseTotals", "journal_path", "price_of"]

LEDGER_VERSION = 1
#: The version of a journal row (``v``).
JOURNAL_VERSION = 1
JOURNAL_SUFFIX = ".jsonl"

_TOKEN_FIELDS = (
    "input_tokens", "output_tokens", "total_tokens", "input_tokens_cache_write", "input_tokens_cache_read",
    "reasoning_tokens",
)


class BudgetExceeded(RuntimeError):
    """The ledger's running total reached its budget; no new call may start."""

    def __init__(self, spent_usd: float, budget_usd: float) -> None:
        super().__init__(f"budget reached: ${spent_usd:.4f} spent of ${budget_usd:.4f}")
        self.spent_usd = spent_usd
        self.budget_usd = budget_usd


class BudgetUnenforceable(BudgetExceeded):
    """A budget is set and a call had no price: the spend is unknown, so no new call may start."""

    def __init__(self, spent_usd: float, budget_usd: float, models: list[str]) -> None:
        RuntimeError.__init__(
            self, f"budget cannot be enforced: {', '.join(models)} had calls with no price (counted as unknown, "
                  "not $0); add the model's list price to results/prices.yaml")
        self.spent_usd = spent_usd
        self.budget_usd = budget_usd
        self.models = models


@dataclass
class PhaseTotals:
    """Calls, tokens and dollars of one phase (or of one model within a phase)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_cache_write: int = 0
    input_tokens_cache_read: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    #: Calls with no price (neither usage.total_cost nor any cost data): $0 in ``cost_usd``.
    unpriced_calls: int = 0

    def add(self, usage: Any, cost: float | None) -> None:
        self.add_counts({name: getattr(usage, name, None) for name in _TOKEN_FIELDS}, cost)

    def add_counts(self, tokens: Mapping[str, Any], cost: float | None) -> None:
        """One call with these token counts (missing ones are 0) and cost (None: unpriced)."""
        self.calls += 1
        for name in _TOKEN_FIELDS:
            setattr(self, name, getattr(self, name) + int(tokens.get(name) or 0))
        if cost is None:
            self.unpriced_calls += 1
        else:
            self.cost_usd += float(cost)

    def merge(self, other: PhaseTotals) -> None:
        for name in (*_TOKEN_FIELDS, "calls", "unpriced_calls"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.cost_usd += other.cost_usd

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in ("calls", *_TOKEN_FIELDS)}
        data["cost_usd"] = round(self.cost_usd, 10)
        data["unpriced_calls"] = self.unpriced_calls
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhaseTotals:
        totals = cls()
        for name in ("calls", *_TOKEN_FIELDS, "unpriced_calls"):
            setattr(totals, name, int(data.get(name) or 0))
        totals.cost_usd = float(data.get("cost_usd") or 0.0)
        return totals


@dataclass
class _Phase:
    totals: PhaseTotals = field(default_factory=PhaseTotals)
    models: dict[str, PhaseTotals] = field(default_factory=dict)


def price_of(model: str, usage: Any, prices: Mapping[str, Any] | None = None) -> float | None:
    """The dollar cost of ``usage`` on ``model``: from ``prices`` (model name -> ModelCost), else
    from Inspect's model database (no provider is instantiated), else gcop's rate for offline and
    self-hosted models (:func:`gcop.costs.price_for`), else None."""
    from inspect_ai.model import ModelCost, ModelUsage

    cost = (prices or {}).get(model)
    if cost is None:
        try:
            # private: the public get_model_info may instantiate the provider to resolve a name
            from inspect_ai.model._model_info import _get_model_info_direct

            info = _get_model_info_direct(model)
        except Exception:  # noqa: BLE001 - private API moved or lookup failed: no price
            info = None
        cost = info.cost if info is not None else None
    if cost is None:

        cost = price_for(model)  # the offline or self-hosted rate for those kinds; None for an unpriced API
        if cost is None:
            return None
    if isinstance(cost, Mapping):
        cost = ModelCost(**cost)
    if not isinstance(usage, ModelUsage):
        usage = ModelUsage(**{k: getattr(usage, k) for k in _TOKEN_FIELDS if getattr(usage, k, None) is not None})
    from inspect_ai.model import compute_model_cost

    return float(compute_model_cost(cost, usage))


def journal_path(path: str | os.PathLike[str]) -> Path:
    """The journal of the ledger summary at ``path``: ``ledger.json`` -> ``ledger.jsonl``."""
    return Path(path).with_suffix(JOURNAL_SUFFIX)


def _phase_dicts(phases: Mapping[str, _Phase]) -> dict[str, Any]:
    return {name: {**entry.totals.to_dict(), "models": {m: t.to_dict() for m, t in entry.models.items()}}
            for name, entry in phases.items()}


class CostLedger:
    """Tokens and $ per phase and model; see the module docstring.

    Args:
      budget_usd: stop starting calls once the total reaches this (None: no budget).
      prices: model name -> :class:`~inspect_ai.model.ModelCost` (or its fields as a dict), used
        when a call's ``usage.total_cost`` is None, before Inspect's model database.
      path: where :meth:`save` writes the summary by default; its journal (``.jsonl`` beside it)
        gets one fsynced row per recorded call, and the rows already there are counted. Setting
        :attr:`path` later does the same (the calls recorded until then go to the journal as one
        ``import`` row). None: memory only.
    """

    def __init__(self, budget_usd: float | None = None, *, prices: Mapping[str, Any] | None = None,
                 path: str | os.PathLike[str] | None = None) -> None:
        if budget_usd is not None and (not math.isfinite(budget_usd) or budget_usd < 0):
            raise ValueError(f"budget_usd must be a finite number >= 0, got {budget_usd!r}")
        self.budget_usd = budget_usd
        self.prices = dict(prices or {})
        self._lock = threading.RLock()
        self._phases: dict[str, _Phase] = {}
        self._total_usd = 0.0
        self.created_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        #: Put in every journal row recorded from now on (e.g. ``{"step": 3}``).
        self.context: dict[str, Any] = {}
        # this instance's rows are counted when recorded; refresh() skips them in the journal
        self._pid = os.getpid()
        self._writer = f"{self._pid}-{uuid.uuid4().hex[:8]}"
        self._path: Path | None = None
        self._journal: Any = None  # gcop.durable.LineAppender
        self._offset = 0  # journal bytes already counted (always the end of a whole line)
        self._line = 0  # journal lines already counted (for error messages)
        self._journal_failed = False
        self.path = path

    # ------------------------------------------------------------------ the journal

    @property
    def path(self) -> Path | None:
        """The summary's path (``ledger.json``); its journal is :func:`journal_path` of it."""
        return self._path

    @path.setter
    def path(self, value: str | os.PathLike[str] | None) -> None:
        self._attach(value)

    @property
    def journal(self) -> Path | None:
        return journal_path(self._path) if self._path is not None else None

    def _attach(self, value: str | os.PathLike[str] | None, *, legacy: bool = False) -> None:
        """Record into the journal of ``value`` from now on; count its rows; carry this ledger's
        totals so far into it as one ``import`` row (``legacy``: only if the journal is empty, so
        that two processes migrating one old ``ledger.json`` import it once)."""

        new = Path(value) if value is not None else None
        with self._lock:
            if new == self._path:
                return
            if self._journal is not None:
                self._journal.close()
            self._path, self._journal, self._offset, self._line = new, None, 0, 0
            if new is None:
                return
            self._journal = LineAppender(journal_path(new))
            carried = _phase_dicts(self._phases) if self._phases else None
            if carried is not None:
                row = {"v": JOURNAL_VERSION, "w": self._writer, "at": _now(), "kind": "import", "phases": carried}
                written = self._journal.append(json.dumps(row, sort_keys=True), only_if_empty=legacy)
                if not written:  # another process migrated the same ledger.json first: count its row
                    self._phases, self._total_usd = {}, 0.0
            self._read_new(at_load=True)

    def refresh(self) -> int:
        """Count the rows other writers (processes, other ledgers) appended to the journal since
        the last look; returns how many. Cheap: a ``stat`` when nothing is new."""
        with self._lock:
            self._after_fork()
            return self._read_new()

    def _after_fork(self) -> None:
        """In a process forked from the one that made this ledger (a launcher's ranks): become a
        writer of its own, on a descriptor of its own (an inherited one would share the parent's
        flock), and recount the journal, which holds every call the parent had recorded."""
        if self._pid == os.getpid():
            return

        self._pid = os.getpid()
        self._writer = f"{self._pid}-{uuid.uuid4().hex[:8]}"
        if self._journal is not None:
            self._journal = LineAppender(self._journal.path)  # the inherited fd is left to the parent
            self._phases, self._total_usd, self._offset, self._line = {}, 0.0, 0, 0
            self._read_new()

    def _read_new(self, *, at_load: bool = False) -> int:
        journal = self.journal
        if journal is None:
            return 0
        try:
            size = os.stat(journal).st_size
        except FileNotFoundError:
            return 0
        if size <= self._offset:
            return 0
        with open(journal, "rb") as handle:
            handle.seek(self._offset)
            data = handle.read(size - self._offset)
        end = data.rfind(b"\n") + 1
        if end < len(data) and at_load:
            # no newline at the end: a writer killed mid-row (the next append cuts it off), or
            # one writing this very moment (its row is counted by the next refresh)
            log.warning("%s:%d: last line has no newline yet (a torn row of a killed run?); not counted",
                        journal, self._line + data[:end].count(b"\n") + 1)
        added = 0
        for raw in data[:end].splitlines():
            self._line += 1
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
                if not isinstance(row, dict):
                    raise ValueError(f"expected a JSON object, got {type(row).__name__}")
                if row.get("w") == self._writer:
                    continue
                self._apply_row(row)
                added += 1
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                log.warning("%s:%d: corrupt ledger row skipped (%s)", journal, self._line, exc)
        self._offset += end
        return added

    def _apply_row(self, row: Mapping[str, Any]) -> None:
        """Add one journal row (a call, or an ``import`` of whole totals) to the totals."""
        if row.get("kind") == "import":
            for name, raw in dict(row["phases"]).items():
                entry = self._phases.setdefault(str(name), _Phase())
                entry.totals.merge(PhaseTotals.from_dict(raw))
                for model, totals in (raw.get("models") or {}).items():
                    entry.models.setdefault(str(model), PhaseTotals()).merge(PhaseTotals.from_dict(totals))
                self._total_usd += PhaseTotals.from_dict(raw).cost_usd
            return
        phase, model = str(row["phase"]), str(row["model"])
        cost = None if row.get("cost_usd") is None else float(row["cost_usd"])
        tokens = {name: int(row.get(name) or 0) for name in _TOKEN_FIELDS}
        entry = self._phases.setdefault(phase, _Phase())
        entry.totals.add_counts(tokens, cost)
        entry.models.setdefault(model, PhaseTotals()).add_counts(tokens, cost)
        if cost is not None:
            self._total_usd += cost

    # ------------------------------------------------------------------ recording

    def record_usage(self, model: Any, usage: Any, role: str | None = None, *, phase: str | None = None) -> float | None:
        """Add one call's usage to ``phase`` (``role`` is the same thing, the reward engine's name
        for it) and, with a path, append it to the journal (fsynced); returns the call's cost
        (None when unpriced). Never raises for the budget, nor for a journal that cannot be written
        (that is logged)."""
        name = str(phase or role or "other")
        model_name = str(model)
        cost = getattr(usage, "total_cost", None)
        if cost is None:
            cost = price_of(model_name, usage, self.prices)
        tokens = {k: int(getattr(usage, k, None) or 0) for k in _TOKEN_FIELDS}
        with self._lock:
            self._after_fork()
            entry = self._phases.setdefault(name, _Phase())
            entry.totals.add_counts(tokens, cost)
            entry.models.setdefault(model_name, PhaseTotals()).add_counts(tokens, cost)
            if cost is not None:
                self._total_usd += float(cost)
            if self._journal is not None:
                row: dict[str, Any] = {"v": JOURNAL_VERSION, "w": self._writer, "at": _now(), "phase": name,
                                       "model": model_name, "cost_usd": None if cost is None else float(cost),
                                       **{k: v for k, v in tokens.items() if v}}
                if self.context:
                    row["context"] = dict(self.context)
                try:
                    self._journal.append(json.dumps(row, sort_keys=True, default=str))
                except OSError as exc:
                    if not self._journal_failed:
                        log.error("cannot append to the ledger journal %s: %s (the totals in memory go on)",
                                  self.journal, exc)
                    self._journal_failed = True
        return cost

    record = record_usage

    # ------------------------------------------------------------------ budget

    @property
    def total_usd(self) -> float:
        with self._lock:
            return self._total_usd

    @property
    def remaining_usd(self) -> float | None:
        return None if self.budget_usd is None else max(0.0, self.budget_usd - self.total_usd)

    @property
    def exceeded(self) -> bool:
        """Whether the running total (with the other writers' rows, see :meth:`refresh`) has reached the budget."""
        if self.budget_usd is None:
            return False
        self.refresh()
        return self.total_usd >= self.budget_usd

    def check_budget(self) -> None:
        """Raise :class:`BudgetExceeded` if the total has reached the budget (call before a new
        call); the other writers' rows in the journal count too (:meth:`refresh`)."""
        if self.budget_usd is not None:
            self.refresh()
            spent = self.total_usd
            unpriced = self.unpriced_models()
            if unpriced:
                raise BudgetUnenforceable(spent, self.budget_usd, unpriced)
            if spent >= self.budget_usd:
                raise BudgetExceeded(spent, self.budget_usd)

    # ------------------------------------------------------------------ reading

    def unpriced_models(self) -> list[str]:
        """Models with at least one call that had no price, in every phase."""
        with self._lock:
            return sorted({m for entry in self._phases.values() for m, t in entry.models.items() if t.unpriced_calls})

    def phase(self, name: str) -> PhaseTotals:
        """A copy of one phase's totals (zeros when nothing was recorded)."""
        with self._lock:
            entry = self._phases.get(name)
            return PhaseTotals.from_dict(entry.totals.to_dict()) if entry else PhaseTotals()

    @property
    def phases(self) -> list[str]:
        with self._lock:
            return list(self._phases)

    def totals(self) -> PhaseTotals:
        """All phases together."""
        out = PhaseTotals()
        with self._lock:
            for entry in self._phases.values():
                out.merge(entry.totals)
        return out

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            phases = _phase_dicts(self._phases)
            total = self.totals().to_dict()
            total_usd = self._total_usd
        data = {
            "version": LEDGER_VERSION,
            "budget_usd": self.budget_usd,
            "total_usd": round(total_usd, 10),
            "total": total,
            "phases": phases,
            "created_at": self.created_at,
            "updated_at": _now(),
        }
        if self.journal is not None:
            data["journal"] = self.journal.name  # the source of these totals (module docstring)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, budget_usd: float | None = None,
                  prices: Mapping[str, Any] | None = None, path: str | os.PathLike[str] | None = None) -> CostLedger:
        """A ledger continuing ``data`` (the budget is the argument, not the stored one). With
        ``path``, ``data``'s totals are carried into its journal as one ``import`` row."""
        ledger = cls(budget_usd, prices=prices)
        ledger._add_summary(data)
        ledger.path = path
        return ledger

    def _add_summary(self, data: Mapping[str, Any]) -> None:
        with self._lock:
            for name, raw in (data.get("phases") or {}).items():
                entry = _Phase(totals=PhaseTotals.from_dict(raw),
                               models={m: PhaseTotals.from_dict(t) for m, t in (raw.get("models") or {}).items()})
                self._phases[str(name)] = entry
                self._total_usd += entry.totals.cost_usd
            self.created_at = str(data.get("created_at") or self.created_at)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, budget_usd: float | None = None,
             prices: Mapping[str, Any] | None = None, missing_ok: bool = True) -> CostLedger:
        """The ledger at ``path``, continued: the sum of its journal's rows when there is a journal,
        else the totals of the summary ``path`` (an older run's; carried into a new journal), else
        (``missing_ok``) a fresh ledger recording there."""
        path = Path(path)
        if journal_path(path).is_file() or not path.is_file():
            if not missing_ok and not journal_path(path).is_file():
                raise FileNotFoundError(path)
            ledger = cls(budget_usd, prices=prices, path=path)
            with contextlib.suppress(OSError, ValueError, AttributeError):  # the summary is only for created_at
                ledger.created_at = str(json.loads(path.read_text(encoding="utf-8")).get("created_at") or ledger.created_at)
            return ledger
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{path}: not a ledger ({exc}); it has no journal ({journal_path(path).name}) to rebuild "
                             "it from, so move it away to start a new ledger") from None
        ledger = cls(budget_usd, prices=prices)
        ledger._add_summary(data)
        ledger._attach(path, legacy=True)
        return ledger

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the summary (:meth:`to_dict`, after :meth:`refresh`) as JSON, atomically (temp
        file, fsync, rename: :func:`gcop.durable.write_atomic`)."""

        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("no path to save the ledger to")
        self.refresh()
        return write_atomic(target, json.dumps(self.to_dict(), indent=2, sort_keys=True))

    def format(self) -> str:
        """One line per phase: calls, tokens, $."""
        data = self.to_dict()
        lines = []
        for name, phase in data["phases"].items():
            unpriced = f" ({phase['unpriced_calls']} unpriced)" if phase["unpriced_calls"] else ""
            lines.append(f"  {name:<8} {phase['calls']:>6} calls  {phase['input_tokens']:>10} in  "
                         f"{phase['output_tokens']:>9} out  ${phase['cost_usd']:.4f}{unpriced}")
        budget = f" of ${self.budget_usd:g} budget" if self.budget_usd is not None else ""
        lines.append(f"  total    ${self.total_usd:.4f}{budget}")
        return "\n".join(lines)

    def close(self) -> None:
        """Close the journal's file (a later call reopens it)."""
        with self._lock:
            if self._journal is not None:
                self._journal.close()

    def __repr__(self) -> str:
        return f"CostLedger(total_usd={self.total_usd:.4f}, budget_usd={self.budget_usd}, phases={self.phases})"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
