"""Core prompts, per domain, in our own words to the paper's structure.

Math: solve step by step, consider the strategy if it helps, final answer in ``\\boxed{}``.
Code: a full implementation that restates the signature, in one ```python block.
The strategy enters the core's input only in the guided modes; ICL examples only in ``icl`` mode;
remembered strategies only in ``memory`` mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from inspect_ai.model import ChatMessage, ChatMessageSystem, ChatMessageUser

CORE_PROMPT_VERSION = "core-v1"

#: The core's output cap, one for every call gcop makes to a core (the Inspect tasks' ``-T
#: max_core_tokens``, GRPO's rewards and acceptance sampling unless their ``core_config`` sets
#: ``max_tokens``): without one each provider applies its own default, and cost and accuracy
#: rows would not compare across providers. A math solution or a code answer fits well inside it.
DEFAULT_MAX_CORE_TOKENS = 2048

Domain = Literal["math", "code"]

_SYSTEM: dict[str, str] = {
    "math": (
        "You solve grade-school math word problems. Work through the problem step by step, "
        "then give the final numeric answer as \\boxed{N} on the last line."
    ),
    "code": (
        "You write correct, self-contained Python 3 code. Give the complete implementation, "
        "restating the function (or class) signature exactly as asked, in a single ```python "
        "code block. Include every import you need. Do not include tests or example usage."
    ),
}

_STRATEGY_NOTE: dict[str, str] = {
    "math": "A strategy for this problem follows. Consider it and use it if it helps.",
    "code": "A strategy for this task follows. Consider it and use it if it helps.",
}


_MEMORY_NOTE: dict[str, str] = {
    "math": "Strategies that solved similar problems follow. Consider them and use what helps.",
    "code": "Strategies that solved similar tasks follow. Consider them and use what helps.",
}


def _example_block(domain: str, problem: str, solution: str, index: int) -> str:
    if domain == "code":
        return f"Example {index}\nTask:\n{problem.strip()}\n\nSolution:\n```python\n{solution.strip()}\n```"
    return f"Example {index}\nProblem:\n{problem.strip()}\n\nSolution:\n{solution.strip()}"


def core_messages(
    domain: Domain,
    problem: str,
    *,
    strategy: str | None = None,
    examples: Sequence[tuple[str, str]] = (),
    remembered: Sequence[str] = (),
) -> list[ChatMessage]:
    """The core's input: system prompt, then (ICL examples,) the problem, (the strategy) and (the
    strategies a memory cascade retrieved for it, ``remembered``)."""
    parts: list[str] = []
    if examples:
        parts.append("Here are solved examples of similar problems.")
        parts.extend(_example_block(domain, p, s, i) for i, (p, s) in enumerate(examples, start=1))
        parts.append("Now solve the following.")
    label = "Task" if domain == "code" else "Problem"
    parts.append(f"{label}:\n{problem.strip()}")
    if strategy:
        parts.append(f"{_STRATEGY_NOTE[domain]}\n<strategy>\n{strategy.strip()}\n</strategy>")
    if remembered:
        blocks = "\n".join(f"<strategy>\n{text.strip()}\n</strategy>" for text in remembered)
        parts.append(f"{_MEMORY_NOTE[domain]}\n{blocks}")
    if domain == "math":
        parts.append("Give the final answer as \\boxed{N}.")
    else:
        parts.append("Answer with the complete implementation in one ```python block.")
    return [ChatMessageSystem(content=_SYSTEM[domain]), ChatMessageUser(content="\n\n".join(parts))]
