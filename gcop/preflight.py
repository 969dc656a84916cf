"""Checks of every model a command will use, before its first step costs anything.

:func:`preflight` looks at each (role, model name) pair and refuses, with one message that lists
every problem:

* a name with no provider, or a provider Inspect does not know;
* a model retired on its platform (:mod:`gcop.lifecycle`), with its replacement;
* ``hf/`` / ``vllm/`` models that are neither an existing local folder, nor in the local Hub
  cache, nor found on the Hub within a few seconds (a local path that does not exist fails at
  once, instead of a minute of Hub retries and a message about the internet);
* ``hf/`` / ``vllm/`` models (and training guides) on this machine with no chat template:
  Inspect's ``hf`` provider would prompt them as plain ``system: ... user: ...`` text with no
  model turn, silently (:func:`chat_template_problem`);
* ``mockllm/<name>`` that is not one of the command's offline models (Inspect's generic mockllm
  would take any name, then download a tokenizer and fail every call offline);
* a paid model with no price when the command has a budget (elsewhere: a loud warning).

With ``live=True`` it then makes one cheap call (a few tokens) to each remote model whose API key
is set, so that a misspelt or unserved name fails now, not after the teacher phase.
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gcop.costs import apply_prices, model_kind, price_for
from gcop.inspect_models import generate_output, get_model, run_sync
from gcop.lifecycle import RetiredModelError, check_not_retired

__all__ = ["PreflightError", "PreflightReport", "chat_template_problem", "check_guide_source", "check_model",
           "guide_template_problem", "preflight"]

#: Environment variables holding each provider's API key (Inspect's names).
API_KEY_ENV = {
    "anthropic": ("ANTHROPIC_API_KEY",), "openai": ("OPENAI_API_KEY",),
    "google": ("GOOGLE_API_KEY", "GEMINI_API_KEY"), "mistral": ("MISTRAL_API_KEY",),
    "together": ("TOGETHER_API_KEY",), "groq": ("GROQ_API_KEY",), "grok": ("XAI_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",), "openrouter": ("OPENROUTER_API_KEY",),
}
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
HUB_TIMEOUT_S = 5.0


class PreflightError(ValueError):
    """One or more models cannot be used; the message lists every problem, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("model preflight failed:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass
class PreflightReport:
    models: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    live_calls: dict[str, str] = field(default_factory=dict)  # role -> how its test call went

    def format(self) -> str:
        lines = [f"  {role:<8} {model}" + (f"  [{self.live_calls[role]}]" if role in self.live_calls else "")
                 for role, model in self.models.items()]
        return "\n".join(["preflight: models checked", *lines, *(f"  warning: {w}" for w in self.warnings)])


def _known_providers() -> set[str]:
    import inspect_ai.model._providers.providers  # noqa: F401 - registers Inspect's providers
    from inspect_ai._util.registry import registry_find, registry_info

    names = {registry_info(api).name for api in registry_find(lambda info: info.type == "modelapi")}
    return {n.split("/", 1)[-1] for n in names} | {"gcop"}


def _hub_problem(provider: str, path: str) -> str | None:
    """Why ``<provider>/<path>`` (a local folder or a Hub id) cannot be loaded, or None."""
    local = Path(path).expanduser()
    if local.exists():
        return None if local.is_dir() else f"{provider}/{path}: {local} is a file, not a model folder"
    looks_local = path.startswith(("/", ".", "~")) or not _HUB_ID.match(path) or Path(path.split("/", 1)[0]).is_dir()
    if looks_local:
        return f"{provider}/{path}: no such local model folder ({local.resolve()})"
    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(path, "config.json"), str):
            return None
    except ImportError:  # pragma: no cover - comes with transformers and datasets
        return None
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return f"{provider}/{path}: not a local folder and not in the Hub cache, and HF_HUB_OFFLINE is set"
    try:
        from huggingface_hub import HfApi

        HfApi().model_info(path, timeout=HUB_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - not found, gated, or no network: all mean "cannot load"
        reason = type(exc).__name__
        return (f"{provider}/{path}: not a local folder, not in the Hub cache, and the Hub lookup failed "
                f"({reason}); a local checkpoint must be given by its folder")
    return None


def chat_template_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the model folder ``path`` cannot be prompted as a chat, or None: it must carry a chat
    template (``chat_template.jinja``, ``chat_template.json`` or ``tokenizer_config.json``'s
    ``chat_template``). Reads two small files; loads nothing."""
    folder = Path(path).expanduser()
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return None
    config = folder / "tokenizer_config.json"
    if config.is_file():
        try:
            if json.loads(config.read_text(encoding="utf-8")).get("chat_template"):
                return None
        except (OSError, ValueError) as exc:
            return f"{config} cannot be read ({exc})"
    return (f"{folder} has no chat template: Inspect's hf provider would prompt it as plain 'system: ... user: ...' "
            "text with no model turn, and training could not build its prompts. Add one to the folder "
            "(chat_template.jinja), or build a guide folder with `gcop guide prepare gemma3-270m`")


def _local_model_folder(path: str) -> Path | None:
    """The folder on this machine holding the model ``path`` (a folder, or a Hub id in the cache)."""
    local = Path(path).expanduser()
    if local.is_dir():
        return local
    if _HUB_ID.match(path):
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(path, "config.json")
        except ImportError:  # pragma: no cover - comes with transformers and datasets
            return None
        if isinstance(found, str):
            return Path(found).parent
    return None


def guide_template_problem(model: str) -> str | None:
    """Why the ``hf/`` or ``vllm/`` model ``model`` on this machine cannot be prompted as a chat
    (no chat template), or None (another provider, a model on the Hub only, or a template)."""
    provider, _, path = model.partition("/")
    return _template_problem(provider, path) if provider in ("hf", "vllm") and path else None


def _template_problem(provider: str, path: str) -> str | None:
    folder = _local_model_folder(path)
    if folder is None:  # on the Hub only: its template is checked when it loads
        return None
    problem = chat_template_problem(folder)
    return f"{provider}/{path}: {problem}" if problem else None


def check_guide_source(role: str, source: str) -> None:
    """Raise :class:`PreflightError` unless ``source`` (a training guide: a local folder, a Hub id,
    or ``tiny``) can be loaded; see :func:`_hub_problem`."""
    if source == "tiny":
        return
    problem = _hub_problem("hf", source) or _template_problem("hf", source)
    if problem:
        raise PreflightError([f"{role}: {problem.removeprefix('hf/')}"])


def check_model(role: str, model: Any, *, budget: bool = False, offline: Iterable[str] = (),
                providers: set[str] | None = None) -> tuple[list[str], list[str]]:
    """``(problems, warnings)`` for one model (a name, or an Inspect ``Model``, taken as given)."""

    if not isinstance(model, str):
        return [], []
    problems: list[str] = []
    notes: list[str] = []
    provider, sep, rest = model.partition("/")
    if not sep or not rest:
        return [f"{role}: {model!r} is not a model name: use provider/model, e.g. anthropic/claude-haiku-4-5"], []
    if provider not in (providers if providers is not None else _known_providers()):
        return [f"{role}: {model}: unknown model provider {provider!r}"], []
    try:
        check_not_retired(model)
    except RetiredModelError as exc:
        problems.append(f"{role}: {exc}")
    if provider == "mockllm" and model not in set(offline):
        known = ", ".join(sorted(set(offline))) or "none here"
        problems.append(f"{role}: {model} is not one of this command's offline models ({known}); Inspect's "
                        "generic mockllm would download a tokenizer and fail every call offline")
    if provider in ("hf", "vllm"):
        problem = _hub_problem(provider, rest) or _template_problem(provider, rest)
        if problem:
            problems.append(f"{role}: {problem}")
    if model_kind(model) == "remote":
        apply_prices()
        if price_for(model) is None:
            message = f"{role}: {model} has no price in results/prices.yaml"
            if budget:
                problems.append(message + ": a budget cannot be enforced (its calls would count as $0); add its list price")
            else:
                notes.append(message + ": its cost is shown as unknown")
        keys = API_KEY_ENV.get(provider, ())
        if keys and not any(os.environ.get(k) for k in keys):
            problems.append(f"{role}: {model} needs an API key: set {' or '.join(keys)}")
    return problems, notes


def _live_check(role: str, model: str, ledger: Any = None, model_args: Mapping[str, Any] | None = None) -> str:
    """One short call; raises with the provider's error when the model does not answer."""

    async def ping() -> Any:
        instance = get_model(model, timeout=120, model_args=model_args)  # the run's retries: faults are transient
        return await generate_output(instance, "Reply with the word: ok", {"max_tokens": 16}, ledger=ledger,
                                     phase="preflight")

    started = time.monotonic()
    output = run_sync(ping)
    usage = output.usage
    tokens = (usage.input_tokens + usage.output_tokens) if usage is not None else 0
    return f"answered in {time.monotonic() - started:.1f} s, {tokens} tokens"


def preflight(models: Mapping[str, Any], *, budget: bool = False, offline: Iterable[str] = (),
              live: bool = True, ledger: Any = None,
              model_args: Mapping[str, Mapping[str, Any]] | None = None) -> PreflightReport:
    """Check every (role -> model); raise :class:`PreflightError` listing all problems.

    ``budget``: the command stops at a spend, so every paid model must be priced. ``offline``:
    the ``mockllm/...`` names the command understands. ``live``: one short call per remote model
    whose API key is set (recorded in ``ledger`` under phase ``preflight`` when given), made with
    ``model_args[role]`` (e.g. a ``base_url``).
    """

    providers = _known_providers()
    offline = tuple(offline)
    report = PreflightReport(models={role: str(m) for role, m in models.items() if m is not None})
    problems: list[str] = []
    for role, model in models.items():
        if model is None:
            continue
        found, notes = check_model(role, model, budget=budget, offline=offline, providers=providers)
        problems += found
        report.warnings += notes
    if problems:
        raise PreflightError(problems)
    if live:
        seen: set[str] = set()
        for role, model in models.items():
            if not isinstance(model, str) or model_kind(model) != "remote" or model in seen:
                continue
            seen.add(model)
            try:
                report.live_calls[role] = _live_check(role, model, ledger, (model_args or {}).get(role))
            except Exception as exc:  # noqa: BLE001 - the provider's own error, reported as is
                problems.append(f"{role}: {model} did not answer a test call: {exc}")
    if problems:
        raise PreflightError(problems)
    for note in report.warnings:
        warnings.warn(note, stacklevel=2)
    return report
