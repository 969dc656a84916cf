"""The guide's prompts, per domain, in our own words.

The guide plans; it never solves. It reasons inside ``<think>`` and then writes a short,
executable plan inside one ``<strategy>`` block for a weaker solver model, without the final
answer (math) or the implementation (code). Bump :data:`GUIDE_PROMPT_VERSION` whenever a
template changes: logs and training data record it.

The system prompt always names the ``<strategy>`` tag; the core's prompts never do (the offline
``gcop/reference`` model tells guide calls from core calls that way).
"""

from __future__ import annotations

from typing import Literal

from inspect_ai.model import ChatMessage, ChatMessageSystem, ChatMessageUser

from gcop.guides.strategy import DEFAULT_MAX_STRATEGY_TOKENS

__all__ = ["GUIDE_PROMPT_VERSION", "GUIDE_SYSTEM_TEMPLATES", "GUIDE_USER_TEMPLATES", "guide_messages",
           "prompt_version"]

GUIDE_PROMPT_VERSION = "guide-v1"


def prompt_version(system_prompt: str | None = None) -> str:
    """The version a guide prompt is recorded under: gcop's (:data:`GUIDE_PROMPT_VERSION`), or
    ``custom-`` and a hash of an override's text, so that runs with different overrides are never
    taken for one variant."""
    if system_prompt is None:
        return GUIDE_PROMPT_VERSION
    import hashlib

    return "custom-" + hashlib.sha256(system_prompt.encode()).hexdigest()[:8]

Domain = Literal["math", "code"]

_FORMAT = (
    "Answer in this format and nothing else:\n"
    "<think>\nyour private reasoning about the problem and how to attack it\n</think>\n"
    "<strategy>\nthe plan, as short numbered steps\n</strategy>\n\n"
    "Write exactly one <strategy> block, of at most {max_strategy_tokens} tokens. Only the "
    "strategy is shown to the solver; your reasoning is not."
)

#: System prompt templates; ``{max_strategy_tokens}`` is filled in.
GUIDE_SYSTEM_TEMPLATES: dict[str, str] = {
    "math": (
        "You are a planning guide. A weaker solver model will solve a grade-school math word "
        "problem, and your job is to tell it how to go about it, not to solve it yourself.\n\n"
        "Rules:\n"
        "- Do not state the final answer, and do not carry out the arithmetic that produces it. "
        "Leave every calculation to the solver.\n"
        "- Name the quantities to find, the relationships between them, and the order in which "
        "to compute them. Point out traps: units, rates, percentages, what exactly is asked.\n"
        "- End with a check the solver should make before answering.\n"
        "- Be concise and concrete: each step should be something the solver can do directly.\n\n"
        + _FORMAT
    ),
    "code": (
        "You are a planning guide. A weaker solver model will write a Python solution to a "
        "programming task, and your job is to tell it how to go about it, not to write the "
        "solution yourself.\n\n"
        "Rules:\n"
        "- Do not write the implementation: no function bodies, no code blocks, no complete "
        "code. Naming a function, a data structure, an algorithm or a library call is fine.\n"
        "- Describe the approach: how to represent the input, the algorithm step by step, its "
        "complexity if it matters, and the edge cases to handle (empty input, duplicates, "
        "negative numbers, off-by-one boundaries, required exceptions or return types).\n"
        "- Remind the solver to keep the exact function name and signature asked for.\n"
        "- Be concise and concrete: each step should be something the solver can do directly.\n\n"
        + _FORMAT
    ),
}

#: User prompt templates; ``{problem}`` and ``{max_strategy_tokens}`` are filled in.
GUIDE_USER_TEMPLATES: dict[str, str] = {
    "math": (
        "Problem:\n{problem}\n\n"
        "Think it through inside <think></think>, then write the solver's plan inside "
        "<strategy></strategy>. Do not give the answer."
    ),
    "code": (
        "Task:\n{problem}\n\n"
        "Think it through inside <think></think>, then write the solver's plan inside "
        "<strategy></strategy>. Do not write the code."
    ),
}


def guide_messages(domain: Domain, problem_text: str, max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS,
                   system_prompt: str | None = None) -> list[ChatMessage]:
    """The guide's input for one problem: its system prompt and the problem. ``system_prompt``
    replaces the domain's system prompt (another domain's rules); the answer format is appended
    unless it asks for a ``<strategy>`` block itself."""
    if domain not in GUIDE_SYSTEM_TEMPLATES:
        raise ValueError(f"domain must be one of {sorted(GUIDE_SYSTEM_TEMPLATES)}, got {domain!r}")
    if max_strategy_tokens <= 0:
        raise ValueError(f"max_strategy_tokens must be > 0, got {max_strategy_tokens}")
    budget = str(max_strategy_tokens)
    # str.replace, not str.format: the problem text may contain braces (code, LaTeX); the problem
    # goes in last so that nothing in it is substituted.
    template = GUIDE_SYSTEM_TEMPLATES[domain]
    if system_prompt is not None:
        template = system_prompt if "<strategy>" in system_prompt else system_prompt.rstrip() + "\n\n" + _FORMAT
    system = template.replace("{max_strategy_tokens}", budget)
    user = GUIDE_USER_TEMPLATES[domain].replace("{max_strategy_tokens}", budget)
    user = user.replace("{problem}", problem_text.strip())
    return [ChatMessageSystem(content=system), ChatMessageUser(content=user)]
