"""Prices for Inspect's own cost machinery (``ModelCost`` per model, ``role_usage`` per sample).

:func:`apply_prices` feeds ``results/prices.yaml`` (or any file in ``--model-cost-config``
format) to Inspect with ``set_model_cost``, registering models that Inspect's database does not
know (self-hosted guides, gcop's offline models) with ``set_model_info`` first. The tasks call it
when they are built, so ``inspect eval`` records $ per role with no extra flag.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from inspect_ai.model import ModelCost, ModelInfo, get_model_info, set_model_cost, set_model_info

PRICES_FILE = Path(__file__).with_name("results") / "prices.yaml"  # gcop/results: the link in a checkout
SELF_HOSTED_ENV = "GCOP_SELF_HOSTED_PRICE"
DEFAULT_SELF_HOSTED = (0.05, 0.20)
#: Guide models priced at the self-hosted rate, plus gcop's offline models.
SELF_HOSTED = (
    "vllm/Qwen/Qwen3-1.7B", "vllm/Qwen/Qwen3-4B", "vllm/Qwen/Qwen3-8B",
    "hf/Qwen/Qwen3-1.7B", "hf/Qwen/Qwen3-4B",
)
OFFLINE = ("gcop/reference", "gcop/strategy_gated", "gcop/noisy", "gcop/replay")
#: Offline models cost nothing unless this says otherwise ("input,output" $/M tokens), e.g. to
#: show a demo leaderboard's cost axis.
OFFLINE_ENV = "GCOP_OFFLINE_PRICE"


def _price_from_env(env: str, default: tuple[float, float]) -> ModelCost:
    raw = os.environ.get(env)
    try:
        inp, out = (float(x) for x in raw.split(",")) if raw else default
    except ValueError as exc:
        raise ValueError(f"{env} must be 'input,output' in $/M tokens, got {raw!r}") from exc
    return ModelCost(input=inp, output=out, input_cache_write=inp, input_cache_read=inp)


def self_hosted_price() -> ModelCost:
    return _price_from_env(SELF_HOSTED_ENV, DEFAULT_SELF_HOSTED)


def offline_price() -> ModelCost:
    return _price_from_env(OFFLINE_ENV, (0.0, 0.0))


def known_info(model: str) -> ModelInfo | None:
    """Inspect's info for ``model`` (``get_model_info``), except that a self-hosted model's provider
    is never instantiated to look it up: for a name it does not know, ``get_model_info`` builds
    the provider, which loads an ``hf/`` model's weights a second time or starts a vLLM engine.
    Those are looked up in gcop's registrations, ``--model-cost-config`` and the model database only."""
    if not str(model).startswith(SELF_HOSTED_PROVIDERS):
        return get_model_info(model)
    try:
        from inspect_ai.model._model_info import _get_model_info_direct  # private: no public lookup skips the provider
    except ImportError:  # a later Inspect moved it: unknown (gcop then gives it the self-hosted rate)
        return None
    return _get_model_info_direct(model)


def price_offline(model: str) -> None:
    """Give a gcop offline model (``gcop/replay/<label>`` too) the offline rate unless priced."""
    info = known_info(model)
    if info is None or info.cost is None:
        _register(model, offline_price())


def _register(model: str, cost: ModelCost) -> None:
    if known_info(model) is None:
        set_model_info(model, ModelInfo(organization=model.split("/")[0]))
    set_model_cost(model, cost)


def load_prices(path: str | os.PathLike[str] | None = None) -> dict[str, ModelCost]:
    path = Path(path) if path else PRICES_FILE
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read prices from {path}: {exc}") from exc
    prices = {}
    for model, fields in raw.items():
        try:
            prices[model] = ModelCost(**fields)
        except Exception as exc:  # noqa: BLE001 - pydantic errors, reported with the entry
            raise ValueError(f"{path}: bad price entry {model!r}: {exc}") from exc
    return prices


def apply_prices(path: str | os.PathLike[str] | None = None, extra_self_hosted: tuple[str, ...] = ()) -> dict[str, ModelCost]:
    """Register every price with Inspect. Returns what was applied."""
    prices = load_prices(path)
    local = self_hosted_price()
    for model in (*SELF_HOSTED, *extra_self_hosted):
        prices.setdefault(model, local)
    for model in OFFLINE:
        prices.setdefault(model, offline_price())
    for model, cost in prices.items():
        _register(model, cost)
    return prices


SELF_HOSTED_PROVIDERS = ("vllm/", "hf/", "sglang/", "ollama/", "llama-cpp-python/")


def price_if_self_hosted(model: str) -> None:
    """Give a self-hosted model with no cost data the self-hosted rate (called for the guide role)."""
    if not model.startswith(SELF_HOSTED_PROVIDERS):
        return
    info = known_info(model)
    if info is None or info.cost is None:
        _register(model, self_hosted_price())


def role_split(model_usage: dict[str, Any], role_usage: dict[str, Any]) -> dict[str, dict[str, float | int | None]]:
    """Tokens and $ per role for one sample or one run: each bound role as Inspect recorded it in
    ``role_usage``, and ``core`` as the rest of ``model_usage`` (the model under evaluation)."""

    def fields(usage: Any) -> dict[str, float | int | None]:
        return {
            "input_tokens": int(usage.input_tokens), "output_tokens": int(usage.output_tokens),
            "total_tokens": int(usage.total_tokens), "cost": usage.total_cost,
        }

    def total(usages: Any) -> dict[str, float | int | None]:
        rows = [fields(u) for u in usages]
        costs = [r["cost"] for r in rows if r["cost"] is not None]
        return {
            "input_tokens": sum(int(r["input_tokens"] or 0) for r in rows),
            "output_tokens": sum(int(r["output_tokens"] or 0) for r in rows),
            "total_tokens": sum(int(r["total_tokens"] or 0) for r in rows),
            "cost": sum(costs) if costs else None,
        }

    split = {role: fields(usage) for role, usage in role_usage.items()}
    everything = total(model_usage.values())
    roles = total(role_usage.values())
    core: dict[str, float | int | None] = {}
    for k, whole in everything.items():
        part = roles[k]
        core[k] = whole - part if whole is not None and part is not None else whole
    if core["cost"] is not None:
        core["cost"] = max(0.0, float(core["cost"]))
    split["core"] = core
    return split


# --------------------------------------------------------------------------- price status

#: Providers that run nothing remote: free unless GCOP_OFFLINE_PRICE says otherwise.
OFFLINE_PROVIDERS = ("mockllm/", "gcop/", "none/")


def model_kind(model: str) -> str:
    """``offline`` (gcop's and Inspect's offline models), ``self-hosted`` (priced at the
    self-hosted rate) or ``remote`` (a paid API: needs a list price)."""
    name = str(model)
    if name.startswith(OFFLINE_PROVIDERS):
        return "offline"
    if name.startswith(SELF_HOSTED_PROVIDERS):
        return "self-hosted"
    return "remote"


def price_for(model: str) -> ModelCost | None:
    """What gcop charges a call of ``model`` at: its price in Inspect's model data (where
    ``apply_prices`` put ``results/prices.yaml``), the offline or self-hosted rate for those
    kinds, else None (a paid model nobody priced)."""
    name = str(model)
    info = known_info(name)
    if info is not None and info.cost is not None:
        return info.cost
    kind = model_kind(name)
    if kind == "offline":
        return offline_price()
    if kind == "self-hosted":
        return self_hosted_price()
    return None


def cost_of(input_tokens: float, output_tokens: float, price: ModelCost) -> float:
    """US$ of ``input_tokens`` in and ``output_tokens`` out at ``price`` ($ per M tokens)."""
    return (input_tokens * price.input + output_tokens * price.output) / 1e6


# --------------------------------------------------------------------------- cost table

def usage_fields(usage: Any) -> dict[str, Any]:
    """Tokens and $ of one ModelUsage (or mapping) as plain numbers (cost None when unknown)."""
    get = (lambda k: usage.get(k)) if isinstance(usage, dict) else (lambda k: getattr(usage, k, None))
    return {
        "input_tokens": int(get("input_tokens") or 0) + int(get("input_tokens_cache_write") or 0)
        + int(get("input_tokens_cache_read") or 0),
        "output_tokens": int(get("output_tokens") or 0),
        "reasoning_tokens": int(get("reasoning_tokens") or 0),
        "cost": get("total_cost") if get("total_cost") is not None else get("cost"),
    }


def add_usage(into: dict[str, Any], part: dict[str, Any]) -> None:
    for key in ("input_tokens", "output_tokens", "reasoning_tokens"):
        into[key] = int(into.get(key) or 0) + int(part.get(key) or 0)
    if "cost" not in into:
        into["cost"] = 0.0
    if into["cost"] is None or part.get("cost") is None:
        into["cost"] = None  # one unpriced call makes the sum unknown, never a partial sum
    else:
        into["cost"] = float(into["cost"]) + float(part["cost"])


def format_role_table(rows: dict[str, dict[str, Any]], *, title: str = "cost by role") -> str:
    """A short terminal table: one line per role (model, tokens in/out, of which thinking, $), and
    the total. ``rows``: role -> {model, input_tokens, output_tokens, reasoning_tokens, cost}."""
    lines = [f"{title}:", f"  {'role':<7} {'model':<44} {'input':>10} {'output':>9} {'thinking':>9} {'US$':>10}"]
    total: dict[str, Any] = {}
    for role, row in rows.items():
        cost = row.get("cost")
        lines.append(f"  {role:<7} {str(row.get('model') or '')[:44]:<44} {row.get('input_tokens', 0):>10,} "
                     f"{row.get('output_tokens', 0):>9,} {row.get('reasoning_tokens', 0):>9,} "
                     f"{'unknown' if cost is None else f'{cost:.4f}':>10}")
        add_usage(total, row)
    if rows:
        cost = total.get("cost")
        lines.append(f"  {'total':<7} {'':<44} {total['input_tokens']:>10,} {total['output_tokens']:>9,} "
                     f"{total['reasoning_tokens']:>9,} {'unknown' if cost is None else f'{cost:.4f}':>10}")
    if any(r.get("cost") is None for r in rows.values()):
        lines.append(f"  unknown: a model with no price ({PRICES_FILE.name} lists the priced ones)")
    if any(r.get("recounted") for r in rows.values()):
        lines.append("  guide: counted per sample with the guide's tokenizer (Inspect's hf provider reports each "
                     "batch's padded totals)")
    return "\n".join(lines)


def role_rows(log: Any) -> dict[str, dict[str, Any]]:
    """Tokens and $ per role of one Inspect log, from its totals: each bound role as Inspect
    recorded it (``stats.role_usage``) and the core (the main model) as what is left of its
    ``model_usage`` once the roles bound to the same model are taken out, so a guide and a core
    that are the same model are still two rows. The core is called ``strong`` in a grid's
    reference-core row."""
    stats = log.stats
    spec = log.eval
    core_model = str(spec.model)
    bound = {role: str(getattr(cfg, "model", cfg)) for role, cfg in (spec.model_roles or {}).items()}
    rows: dict[str, dict[str, Any]] = {}
    for role, usage in (stats.role_usage or {}).items():
        rows[role] = {"model": bound.get(role, ""), **usage_fields(usage)}
    core: dict[str, Any] = {"model": core_model}
    if core_model in (stats.model_usage or {}):
        add_usage(core, usage_fields(stats.model_usage[core_model]))
        for role, usage in (stats.role_usage or {}).items():
            if bound.get(role) == core_model:
                taken = usage_fields(usage)
                for key in ("input_tokens", "output_tokens", "reasoning_tokens"):
                    core[key] -= taken[key]
                if core["cost"] is not None:
                    core["cost"] = None if taken["cost"] is None else max(0.0, core["cost"] - taken["cost"])
    else:
        core.update(input_tokens=0, output_tokens=0, reasoning_tokens=0, cost=0.0)
    grid = (spec.metadata or {}).get("gcop_grid") or {}
    rows["strong" if grid.get("recipe") == "reference-core" else "core"] = core
    recounted = recounted_guide_usage(log)
    if recounted is not None and "guide" in rows:
        rows["guide"].update(recounted, recounted=True)
    return rows


def guide_recount(guide: Any) -> dict[str, Any] | None:
    """One sample's guide tokens as the guide step recounted them (an ``hf/`` guide: Inspect's
    provider gives every sample of a batch the batch's padded totals), with the guide's model;
    None where the sample's guide metadata was not recounted."""
    if not isinstance(guide, dict) or not guide.get("usage_source"):
        return None
    return {"model": str(guide.get("model") or ""), "input_tokens": int(guide.get("input_tokens") or 0),
            "output_tokens": int(guide.get("output_tokens") or 0)}


def recounted_guide_usage(log: Any) -> dict[str, Any] | None:
    """The guide's tokens summed over the samples' recounts (:func:`guide_recount`) and their $ at
    the guide's price, so the role table does not overstate an ``hf/`` guide; None where no
    sample was recounted."""
    counts = [c for s in (getattr(log, "samples", None) or []) if (c := guide_recount((s.metadata or {}).get("guide")))]
    if not counts:
        return None
    tokens = {key: sum(c[key] for c in counts) for key in ("input_tokens", "output_tokens")}
    price = price_for(counts[0]["model"])  # one guide per log
    return {**tokens, "reasoning_tokens": 0,
            "cost": None if price is None else cost_of(tokens["input_tokens"], tokens["output_tokens"], price)}
