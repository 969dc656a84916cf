"""Which model names still answer: the lifecycle table of ``results/models.yaml``.

A retired name is refused before any call (:class:`RetiredModelError`, naming the retirement date
and the replacement); a deprecated one gets a warning. Only names on Anthropic-operated platforms
(``anthropic/<id>``) are judged: partner platforms (``anthropic/bedrock/...``,
``anthropic/vertex/...``) keep their own schedules, so the paper's models may still answer there.
"""

from __future__ import annotations

import datetime
import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MODELS_FILE = Path(__file__).with_name("results") / "models.yaml"  # gcop/results: the link in a checkout
PARTNER_PREFIXES = ("anthropic/bedrock/", "anthropic/vertex/", "anthropic/azure/")

__all__ = [
    "MODELS_FILE", "ModelStatus", "RetiredModelError", "batch_discount", "check_not_retired",
    "default_model", "lookup",
]


class RetiredModelError(ValueError):
    """A model name that no longer answers on its platform."""

    def __init__(self, status: ModelStatus, asked: str) -> None:
        when = f" on {status.retired}" if status.retired else ""
        instead = f"; use {status.replacement} instead" if status.replacement else ""
        same = "" if asked == status.name else f" ({asked} is {status.name})"
        super().__init__(
            f"{asked} was retired by its provider{when}{same}: requests to it fail{instead}. "
            f"The paper's models may still be served by partner platforms (see 'paper' in {MODELS_FILE.name})."
        )
        self.status = status
        self.model = asked


@dataclass(frozen=True)
class ModelStatus:
    name: str
    status: str
    retired: str | None = None
    replacement: str | None = None
    thinking: str | None = None
    released: str | None = None

    @property
    def is_retired(self) -> bool:
        if self.status == "retired":
            return True
        # a deprecated model past its retirement date is retired, whatever the table's status says
        return self.retired is not None and datetime.date.fromisoformat(self.retired) <= datetime.date.today()


def _date(value: Any) -> str | None:
    return None if value is None else str(value)


@functools.lru_cache(maxsize=4)
def _table(path: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read the model lifecycle table {path}: {exc}") from exc
    by_name: dict[str, ModelStatus] = {}
    for name, fields in (raw.get("models") or {}).items():
        fields = dict(fields or {})
        if fields.get("status") not in ("active", "legacy", "deprecated", "retired"):
            raise ValueError(f"{path}: model {name!r}: status must be active, legacy, deprecated or retired")
        status = ModelStatus(name=name, status=fields["status"], retired=_date(fields.get("retired") or fields.get("retires")),
                             replacement=fields.get("replacement"), thinking=fields.get("thinking"),
                             released=_date(fields.get("released")))
        for alias in (name, *(fields.get("names") or ())):
            by_name[alias] = status
    return {"models": by_name, "batch_discount": dict(raw.get("batch_discount") or {}),
            "defaults": dict(raw.get("defaults") or {}), "checked": _date(raw.get("checked"))}


def table(path: str | Path | None = None) -> dict[str, Any]:
    return _table(str(path or MODELS_FILE))


def lookup(model: str, path: str | Path | None = None) -> ModelStatus | None:
    """The lifecycle entry of a model name (its aliases included), or None when not listed."""
    return table(path)["models"].get(str(model))


def check_not_retired(model: str, path: str | Path | None = None) -> ModelStatus | None:
    """Raise :class:`RetiredModelError` for a retired name; warn for a deprecated one."""
    name = str(model)
    if name.startswith(PARTNER_PREFIXES):
        return None
    status = lookup(name, path)
    if status is None:
        return None
    if status.is_retired:
        raise RetiredModelError(status, name)
    if status.status == "deprecated":
        warnings.warn(f"{name} is deprecated and retires on {status.retired}; move to {status.replacement}",
                      DeprecationWarning, stacklevel=2)
    return status


def default_model(role: str) -> str:
    """The model gcop names by default for ``role`` (core, teacher, judge, strong)."""
    return str(table()["defaults"][role])


def batch_discount(model: str) -> float | None:
    """The factor batch prices are of list prices for this model's provider (None: no batch price)."""
    provider = str(model).split("/", 1)[0]
    factor = table()["batch_discount"].get(provider)
    return float(factor) if factor is not None else None
