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
(:func:`train.inspect_models.generate_text` does); calls already in flight finish and are
recorded, so the final total can pass the budget by at most what the in-flight calls cost.
Recording itself never raises.

The ledger is safe to share between asyncio tasks and threads (one lock), is plain JSON
(:meth:`to_dict` / :meth:`from_dict`, :meth:`save` writes atomically, :meth:`load`), and can be
resumed: a ledger loaded from a previous run keeps accumulating, so its budget covers all runs.

``record_usage(model, usage, role=...)`` is the method the GRPO reward engine
(:class:`train.rewards.GuideRewards`) calls; ``role`` is the phase.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BudgetExceeded", "BudgetUnenforceable", "CostLedger", "PhaseTotals", "price_of"]

LEDGER_VERSION = 1

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
        self.calls += 1
        for name in _TOKEN_FIELDS:
            setattr(self, name, getattr(self, name) + int(getattr(usage, name, None) or 0))
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
        from gcop.costs import price_for

        cost = price_for(model)  # the offline or self-hosted rate for those kinds; None for an unpriced API
        if cost is None:
            return None
    if isinstance(cost, Mapping):
        cost = ModelCost(**cost)
    if not isinstance(usage, ModelUsage):
        usage = ModelUsage(**{k: getattr(usage, k) for k in _TOKEN_FIELDS if getattr(usage, k, None) is not None})
    from inspect_ai.model import compute_model_cost

    return float(compute_model_cost(cost, usage))


class CostLedger:
    """Tokens and $ per phase and model; see the module docstring.

    Args:
      budget_usd: stop starting calls once the total reaches this (None: no budget).
      prices: model name -> :class:`~inspect_ai.model.ModelCost` (or its fields as a dict), used
        when a call's ``usage.total_cost`` is None, before Inspect's model database.
      path: where :meth:`save` writes by default.
    """

    def __init__(self, budget_usd: float | None = None, *, prices: Mapping[str, Any] | None = None,
                 path: str | os.PathLike[str] | None = None) -> None:
        if budget_usd is not None and (not math.isfinite(budget_usd) or budget_usd < 0):
            raise ValueError(f"budget_usd must be a finite number >= 0, got {budget_usd!r}")
        self.budget_usd = budget_usd
        self.prices = dict(prices or {})
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._phases: dict[str, _Phase] = {}
        self._total_usd = 0.0
        self.created_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    # ------------------------------------------------------------------ recording

    def record_usage(self, model: Any, usage: Any, role: str | None = None, *, phase: str | None = None) -> float | None:
        """Add one call's usage to ``phase`` (``role`` is the same thing, the reward engine's name
        for it); returns the call's cost (None when unpriced). Never raises for the budget."""
        name = str(phase or role or "other")
        model_name = str(model)
        cost = getattr(usage, "total_cost", None)
        if cost is None:
            cost = price_of(model_name, usage, self.prices)
        with self._lock:
            entry = self._phases.setdefault(name, _Phase())
            entry.totals.add(usage, cost)
            entry.models.setdefault(model_name, PhaseTotals()).add(usage, cost)
            if cost is not None:
                self._total_usd += float(cost)
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
        """Whether the running total has reached the budget."""
        return self.budget_usd is not None and self.total_usd >= self.budget_usd

    def check_budget(self) -> None:
        """Raise :class:`BudgetExceeded` if the total has reached the budget (call before a new call)."""
        if self.budget_usd is not None:
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
            phases = {
                name: {**entry.totals.to_dict(), "models": {m: t.to_dict() for m, t in entry.models.items()}}
                for name, entry in self._phases.items()
            }
        total = self.totals().to_dict()
        return {
            "version": LEDGER_VERSION,
            "budget_usd": self.budget_usd,
            "total_usd": round(self.total_usd, 10),
            "total": total,
            "phases": phases,
            "created_at": self.created_at,
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, budget_usd: float | None = None,
                  prices: Mapping[str, Any] | None = None, path: str | os.PathLike[str] | None = None) -> CostLedger:
        """A ledger continuing ``data`` (the budget is the argument, not the stored one)."""
        ledger = cls(budget_usd, prices=prices, path=path)
        for name, raw in (data.get("phases") or {}).items():
            entry = _Phase(totals=PhaseTotals.from_dict(raw),
                           models={m: PhaseTotals.from_dict(t) for m, t in (raw.get("models") or {}).items()})
            ledger._phases[str(name)] = entry
            ledger._total_usd += entry.totals.cost_usd
        ledger.created_at = str(data.get("created_at") or ledger.created_at)
        return ledger

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, budget_usd: float | None = None,
             prices: Mapping[str, Any] | None = None, missing_ok: bool = True) -> CostLedger:
        """The ledger saved at ``path`` (a fresh one when there is none and ``missing_ok``)."""
        path = Path(path)
        if not path.is_file():
            if not missing_ok:
                raise FileNotFoundError(path)
            return cls(budget_usd, prices=prices, path=path)
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")), budget_usd=budget_usd, prices=prices,
                             path=path)

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the ledger as JSON, atomically (temp file + rename)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("no path to save the ledger to")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2, sort_keys=True)
        os.replace(tmp, target)
        return target

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

    def __repr__(self) -> str:
        return f"CostLedger(total_usd={self.total_usd:.4f}, budget_usd={self.budget_usd}, phases={self.phases})"
