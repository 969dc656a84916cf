"""The prompts of GRPO's rewards: the strategy judge's (J, strict JSON ``{"score": x, "leaks": b}``) and the
Advisor baseline's free-form advice prompt, with their versions (recorded in the model card)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from inspect_ai.model import ChatMessage, ChatMessageSystem, ChatMessageUser

__all__ = ["ADVISOR_PROMPT_VERSION", "JUDGE_PROMPT_VERSION", "JudgeFormatError", "JudgeReply", "advisor_messages",
           "judge_messages", "parse_judge_reply", "parse_judge_score"]

#: v2: the judge also answers whether the strategy leaks (``"leaks"``), asked apart from the score.
JUDGE_PROMPT_VERSION = "judge-v2"
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
    "Separately, say whether the strategy leaks: true when it states the final answer (as a number, "
    "in words, or as a calculation that gives it) or contains a complete solution (code that "
    "solves the task, under any name or as a bare body), so that the solver could copy it "
    "instead of executing the plan; false otherwise. Restating quantities from the problem, "
    "naming standard functions or describing an algorithm in words is not a leak.\n\n"
    "Reply with only a JSON object and nothing else, exactly of the form {\"score\": <number from "
    "0 to 1>, \"leaks\": <true or false>}."
)


def judge_messages(domain: str, problem: str, strategy: str) -> list[ChatMessage]:
    """The judge's input for one strategy (:data:`JUDGE_PROMPT_VERSION`)."""
    label = "Task" if domain == "code" else "Problem"
    user = f"{label}:\n{problem.strip()}\n\nStrategy:\n<strategy>\n{strategy.strip()}\n</strategy>\n\nScore the strategy."
    return [ChatMessageSystem(content=_JUDGE_SYSTEM), ChatMessageUser(content=user)]


class JudgeFormatError(ValueError):
    """The judge's reply is not the strict JSON object ``{"score": x, "leaks": b}`` with 0 <= x <= 1
    and b a boolean."""


@dataclass(frozen=True)
class JudgeReply:
    """A parsed judge reply: the strategy's score and whether the judge says it leaks."""

    score: float
    leaks: bool


def parse_judge_reply(text: str | None) -> JudgeReply:
    """A judge reply, which must be exactly one JSON object ``{"score": x, "leaks": b}``
    (surrounding whitespace allowed; no prose, no code fence, no other keys) with x a number
    (not a bool) in [0, 1] and b true or false. Raises :class:`JudgeFormatError` otherwise."""
    try:
        value = json.loads((text or "").strip())
    except json.JSONDecodeError as exc:
        raise JudgeFormatError(f"judge reply is not JSON: {exc.msg}") from None
    if not isinstance(value, dict) or set(value) != {"score", "leaks"}:
        raise JudgeFormatError(f"judge reply must be an object with exactly the keys 'score' and 'leaks', got {value!r}"[:200])
    if not isinstance(value["leaks"], bool):
        raise JudgeFormatError(f"judge 'leaks' must be true or false, got {value['leaks']!r}")
    score = value["score"]
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise JudgeFormatError(f"judge score must be a number, got {score!r}")
    if not 0 <= score <= 1:
        raise JudgeFormatError(f"judge score must be in [0, 1], got {score!r}")
    return JudgeReply(float(score), value["leaks"])


def parse_judge_score(text: str | None) -> float:
    """The score of a judge reply (:func:`parse_judge_reply`)."""
    return parse_judge_reply(text).score


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
