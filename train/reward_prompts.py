"""The prompts of GRPO's rewards: the strategy judge's (J, strict JSON ``{"score": x}``) and the
Advisor baseline's free-form advice prompt, with their versions (recorded in the model card)."""

from __future__ import annotations

import json
import math

from inspect_ai.model import ChatMessage, ChatMessageSystem, ChatMessageUser

__all__ = ["ADVISOR_PROMPT_VERSION", "JUDGE_PROMPT_VERSION", "JudgeFormatError", "advisor_messages", "judge_messages",
           "parse_judge_score"]

JUDGE_PROMPT_VERSION = "judge-v1"
ADVISOR_PROMPT_VERSION = "advisor-v1"



_JUDGE_SYSTEM = (
    "You grade a plan (a \"strategy\") that a planning guide wrote for a weaker solver model. The "
    "guide must not solve the problem itself; it should give the solver a short, concrete, "
    "correct plan.\n\n"
    "Score from 0 to 1:\n"
    "- 1: correct, complete and directly executable steps that would lead the solver to the "
    "right answer, without stating the final answer or writing the solution code.\n"
    "- around 0.5: on the right track but vague, incomplete, or with a minor error.\n"
    "- 0: wrong, irrelevant, empty of content, or it gives away the final answer or the code.\n\n"
    "Reply with only a JSON object and nothing else, exactly of the form {\"score\": <number from "
    "0 to 1>}."
)


def judge_messages(domain: str, problem: str, strategy: str) -> list[ChatMessage]:
    """The judge's input for one strategy (:data:`JUDGE_PROMPT_VERSION`)."""
    label = "Task" if domain == "code" else "Problem"
    user = f"{label}:\n{problem.strip()}\n\nStrategy:\n<strategy>\n{strategy.strip()}\n</strategy>\n\nScore the strategy."
    return [ChatMessageSystem(content=_JUDGE_SYSTEM), ChatMessageUser(content=user)]


class JudgeFormatError(ValueError):
    """The judge's reply is not the strict JSON object ``{"score": x}`` with 0 <= x <= 1."""


def parse_judge_score(text: str | None) -> float:
    """The score in a judge reply, which must be exactly one JSON object ``{"score": x}``
    (surrounding whitespace allowed; no prose, no code fence, no other keys) with x a number
    (not a bool) in [0, 1]. Raises :class:`JudgeFormatError` otherwise."""
    try:
        value = json.loads((text or "").strip())
    except json.JSONDecodeError as exc:
        raise JudgeFormatError(f"judge reply is not JSON: {exc.msg}") from None
    if not isinstance(value, dict) or set(value) != {"score"}:
        raise JudgeFormatError(f"judge reply must be an object with the single key 'score', got {value!r}"[:200])
    score = value["score"]
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise JudgeFormatError(f"judge score must be a number, got {score!r}")
    if not 0 <= score <= 1:
        raise JudgeFormatError(f"judge score must be in [0, 1], got {score!r}")
    return float(score)


_ADVISOR_SYSTEM = {
    "math": (
        "You advise a weaker solver model that will solve a grade-school math word problem. Give "
        "it brief, useful advice on how to approach the problem. Do not solve the problem and do "
        "not state the final answer."
    ),
    "code": (
        "You advise a weaker solver model that will write a Python solution to a programming "
        "task. Give it brief, useful advice on how to approach the task. Do not write the "
        "solution code."
    ),
}


def advisor_messages(domain: str, problem: str) -> list[ChatMessage]:
    """The Advisor baseline's prompt: free-form advice, no output schema (:data:`ADVISOR_PROMPT_VERSION`)."""
    label = "Task" if domain == "code" else "Problem"
    return [ChatMessageSystem(content=_ADVISOR_SYSTEM[domain]),
            ChatMessageUser(content=f"{label}:\n{problem.strip()}\n\nYour advice:")]
