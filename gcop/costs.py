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

PRICES_FILE = Path(__file__).resolve().parents[1] / "results" / "prices.yaml"
SELF_HOSTED_ENV = "GCOP_SELF_HOSTED_PRICE"
DEFAULT_SELF_HOSTED = (0.05, 0.20)
#: Guide models priced at the self-hosted rate, plus gcop's offline models.
SELF_HOSTED = (
    "vllm/Qwen/Qwen3-1.7B", "vllm/Qwen/Qwen3-4B", "vllm/Qwen/Qwen3-8B",
    "hf/Qwen/Qwen3-1.7B", "hf/Qwen/Qwen3-4B",
)
OFFLINE = ("gcop/reference", "gcop/replay")
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


def price_offline(model: str) -> None:
    """Give a gcop offline model (``gcop/replay/<label>`` too) the offline rate unless priced."""
    info = get_model_info(model)
    if info is None or info.cost is None:
        _register(model, offline_price())


def _register(model: str, cost: ModelCost) -> None:
    if get_model_info(model) is None:
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
    info = get_model_info(model)
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
    core = {k: (everything[k] - roles[k]) if everything[k] is not None and roles[k] is not None else everything[k]
            for k in everything}
    if core["cost"] is not None:
        core["cost"] = max(0.0, float(core["cost"]))
    split["core"] = core
    return split
