"""What a training stage feeds its guide: the training problems of a config, and the guide's input
for each (the chat messages of its own prompt, or the Advisor's free-form one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gcop.evals.benchmarks import load_problems
from gcop.guides.prompts import guide_messages
from gcop.guides.strategy import DEFAULT_MAX_STRATEGY_TOKENS

from .config import GuideFields
from .rewards import advisor_messages, problem_info

__all__ = ["grpo_dataset", "guide_chat", "load_train_problems"]


def load_train_problems(config: GuideFields) -> list[Any]:
    """The problems of ``split`` (the first ``limit``) of the config's benchmark."""
    split = None if config.split == "all" else config.split
    problems = load_problems(config.benchmark, split, config.data_dir)
    return problems[: config.limit] if config.limit else problems


def guide_chat(domain: str, problem: str, max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS) -> list[dict[str, str]]:
    """The guide's input as chat-template messages (role/content dicts)."""
    return [{"role": m.role, "content": m.text} for m in guide_messages(domain, problem, max_strategy_tokens)]  # type: ignore[arg-type]


def grpo_dataset(problems: Sequence[Any], *, recipe: str, max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS) -> Any:
    """One row per problem: ``prompt`` (chat messages), ``problem_id``."""
    from datasets import Dataset  # a training-only dependency, loaded when a dataset is built

    rows = []
    for problem in problems:
        info = problem_info(problem)
        if recipe == "advisor":
            prompt = [{"role": m.role, "content": m.text} for m in advisor_messages(info.domain, info.text)]
        else:
            prompt = guide_chat(info.domain, info.text, max_strategy_tokens)
        rows.append({"prompt": prompt, "problem_id": info.id})
    return Dataset.from_list(rows)
