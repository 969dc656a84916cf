"""gcop's recipes as drop-in Inspect solvers, for evaluations gcop did not write.

* ``gcop/guided``: the guide (``--model-role guide=...``) reads the sample's input and writes a
  strategy; it is checked (validity, and the leak check against the target where the target is a
  short answer) and put into the core's turn, after the input, the way gcop's own tasks do; then
  the wrapped solver chain runs (``guided(solver=task.solver)``, or :func:`wrap_task`), else
  ``generate()``. The task's own scorer scores.
* ``gcop/icl``: the ``k`` nearest solved examples from a file the user names (JSONL or CSV,
  ``input``/``target`` fields by default) before the input.
* ``gcop/cascade``: ``k`` answers of the cheap core (the main model); when fewer than
  ``threshold`` of them agree on the final answer (the last number, a code block's syntax tree,
  or the last line), the ``strong`` role answers instead.

Per sample they record what gcop's tasks record (``metadata["guide"]`` with the guide's call,
strategy, validity, leak verdict and usage; ``metadata["icl_ids"]``; ``metadata["cascade"]``), and
the end-of-run table of tokens and $ by role is printed for any task they run in. A task that
gives the model tools, or whose conversation already holds a model turn, is refused with a
message naming what these solvers support: one user turn answered by one generation.

``inspect eval TASK --solver gcop/guided`` replaces the task's solver: on a task whose own solver
shapes the prompt (a template the scorer's answer format relies on), wrap it instead, in Python
(``wrap_task(task, "guided")``) or with ``inspect eval gcop/wrap -T task=TASK -T recipe=guided``.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from inspect_ai import Task, task, task_with
from inspect_ai.model import ChatMessage, ChatMessageUser, GenerateConfig, get_model
from inspect_ai.solver import Generate, Solver, TaskState, chain, generate, solver

from gcop.evals.cascade import STRONG_ROLE, StrongRoleMissingError, strong_role_bound, total_usage
from gcop.evals.extraction import extract_code
from gcop.evals.icl import Retriever
from gcop.evals.solvers import record_core_usage, skip_core
from gcop.guides.leaks import math_leak
from gcop.guides.prompts import prompt_version
from gcop.guides.solver import GUIDE_METADATA_KEY, guide_step
from gcop.guides.strategy import DEFAULT_MAX_STRATEGY_TOKENS
from gcop.readers import read_jsonl

__all__ = ["UnsupportedTaskError", "cascade", "guide_prompt_version", "guided", "icl", "load_task", "wrap", "wrap_task"]

DOMAINS = ("auto", "math", "code")
ON_INVALID = ("run_core_without", "score_zero")
#: A target this short that reads as a number is an answer a strategy could leak.
_SHORT_ANSWER_CHARS = 40
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_STRATEGY_NOTE = "A strategy for this task follows. Consider it and use it if it helps."


class UnsupportedTaskError(ValueError):
    """The task is not a single-turn generation task."""


def _single_turn(state: TaskState, name: str) -> None:
    if state.tools:
        raise UnsupportedTaskError(
            f"{name} supports single-turn generation tasks (one user turn, one generation); this task gives "
            f"the model {len(state.tools)} tool(s) ({', '.join(getattr(t, '__name__', type(t).__name__) for t in state.tools[:3])})"
        )
    if any(m.role == "assistant" for m in state.messages):
        raise UnsupportedTaskError(
            f"{name} supports single-turn generation tasks (one user turn, one generation); this sample's "
            "conversation already holds a model turn"
        )


def _checked(generate: Generate, name: str) -> Generate:
    """``generate`` for the wrapped chain: the task's own steps (``use_tools``, an agent loop)
    come after this solver's checks, so the model call itself is where a tool or a second turn
    is refused, before the model is asked."""

    async def checked(state: TaskState, *args: Any, **kwargs: Any) -> TaskState:
        _single_turn(state, name)
        return await generate(state, *args, **kwargs)

    return checked


def _choice(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"-S {name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _domain(domain: str, state: TaskState) -> Literal["math", "code"]:
    """``auto``: code when the input asks for code, math when the target is a number, else math
    (gcop's guide prompts are for math and code; ``guide_prompt`` replaces them for other domains).
    ``domain`` is one of :data:`DOMAINS`: :func:`guided` checks it before any sample."""
    if domain == "math":
        return "math"
    if domain == "code":
        return "code"
    text = state.input_text
    if "```" in text or re.search(r"\bdef \w+\(|\bpython\b|\bfunction\b", text, re.IGNORECASE):
        return "code"
    return "math"


def _append_to_user_turn(state: TaskState, text: str) -> None:
    """Put ``text`` at the end of the last user message (the core's turn)."""
    for message in reversed(state.messages):
        if isinstance(message, ChatMessageUser):
            if isinstance(message.content, str):
                message.content = f"{message.content}\n\n{text}"
            else:
                from inspect_ai.model import ContentText

                message.content = [*message.content, ContentText(text=text)]
            return
    state.messages.append(ChatMessageUser(content=text))


def _leak_fields(strategy: str, state: TaskState) -> dict[str, Any]:
    """The leak check where the target is a short numeric answer (the math rules of gcop's leak
    check); other targets are not checked, and the record says so."""
    target = state.target.text.strip() if state.target else ""
    if target and len(target) <= _SHORT_ANSWER_CHARS and _NUMBER.fullmatch(target.replace(" ", "")):
        finding = math_leak(strategy, target, problem=state.input_text)
        return {"leaked": finding is not None, "leak_reason": finding.describe() if finding is not None else None}
    return {"leaked": None, "leak_reason": "not checked: the target is not a short numeric answer"}


def _inner(solver: Solver | Sequence[Solver] | None) -> Solver:
    if solver is None:
        return generate()
    return chain(*solver) if isinstance(solver, Sequence) else solver


@solver(name="guided")
def guided(
    domain: str = "auto",
    max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS,
    max_guide_tokens: int | None = None,
    on_invalid: str = "run_core_without",
    guide_prompt: str | None = None,
    solver: Solver | Sequence[Solver] | None = None,
) -> Solver:
    """The guide's strategy in the core's turn, then ``solver`` (default ``generate()``).

    Args:
      domain: ``math``, ``code`` (gcop's guide prompts) or ``auto`` (from the input).
      max_strategy_tokens: the strategy's token budget (over it, the strategy is invalid).
      max_guide_tokens: the guide call's output cap (default: a think budget plus the strategy's).
      on_invalid: with an invalid strategy, ``run_core_without`` it or ``score_zero`` (no core call).
      guide_prompt: a system prompt for the guide replacing gcop's (a file path or the text);
        ``{max_strategy_tokens}`` is filled in, and the answer format is appended if the text
        does not ask for a ``<strategy>`` block.
      solver: the task's own solver chain, run after the strategy is in place.
    """
    _choice("domain", domain, DOMAINS)
    _choice("on_invalid", on_invalid, ON_INVALID)
    system = _read_prompt(guide_prompt)
    inner = _inner(solver)

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        _single_turn(state, "gcop/guided")
        picked = _domain(domain, state)
        state.metadata["mode"] = "guided"
        step = guide_step(picked, max_strategy_tokens=max_strategy_tokens, max_tokens=max_guide_tokens,
                          required=True, system_prompt=system)
        state = await step(state, generate)
        guide = state.metadata[GUIDE_METADATA_KEY]
        guide["domain"] = picked
        if guide.get("valid"):
            guide.update(_leak_fields(guide["strategy"], state))
            _append_to_user_turn(state, f"{_STRATEGY_NOTE}\n<strategy>\n{guide['strategy'].strip()}\n</strategy>")
        else:
            guide["leaked"] = None
            if on_invalid == "score_zero":
                return skip_core(state)
        return await _with_core_usage(inner, state, _checked(generate, "gcop/guided"))

    return solve


async def _with_core_usage(inner: Solver, state: TaskState, generate: Generate) -> TaskState:
    state = await inner(state, generate)
    record_core_usage(state, str(get_model()))
    return state


def _read_prompt(value: str | None) -> str | None:
    if value is None:
        return None
    path = Path(value)
    try:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    except OSError:
        pass
    return value


def guide_prompt_version(guide_prompt: str | None = None) -> str:
    """The version ``gcop/guided`` records for its ``guide_prompt`` option (a file or the text)."""

    return prompt_version(_read_prompt(guide_prompt))


def _load_examples(path: str, input_field: str, target_field: str) -> tuple[list[str], list[str], list[str]]:
    """(ids, inputs, targets) of a JSONL or CSV file; a bad line is an error naming file and line."""
    import csv

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"-S examples: no such file: {path}")
    rows: list[tuple[int, dict[str, Any]]] = []
    if file.suffix.lower() == ".csv":
        with file.open(newline="", encoding="utf-8") as handle:
            rows = [(n, row) for n, row in enumerate(csv.DictReader(handle), start=2)]
    else:

        rows, bad = read_jsonl(file)
        if bad:
            raise ValueError(str(bad[0]))
    ids, inputs, targets = [], [], []
    for n, row in rows:
        missing = [f for f in (input_field, target_field) if not isinstance(row, dict) or f not in row]
        if missing:
            raise ValueError(f"{path}:{n}: no field {missing[0]!r} (set -S input_field / -S target_field)")
        ids.append(str(row.get("id", f"{file.name}:{n}")))
        inputs.append(str(row[input_field]))
        targets.append(str(row[target_field]))
    if not inputs:
        raise ValueError(f"{path}: no examples")
    return ids, inputs, targets


@solver(name="icl")
def icl(
    examples: str,
    k: int = 3,
    input_field: str = "input",
    target_field: str = "target",
    solver: Solver | Sequence[Solver] | None = None,
) -> Solver:
    """The ``k`` nearest solved examples of ``examples`` (a train split the user names: JSONL or
    CSV) before the input, then ``solver`` (default ``generate()``). Nearest by gcop's offline
    retriever (hashed TF-IDF cosine); an example identical to the input is never shown."""
    if k < 1:
        raise ValueError(f"-S k must be >= 1, got {k}")
    ids, inputs, targets = _load_examples(examples, input_field, target_field)
    retriever = Retriever(inputs, targets, ids)
    inner = _inner(solver)

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        _single_turn(state, "gcop/icl")
        picked = retriever.nearest(state.input_text, k, exclude_ids=[str(state.sample_id)])
        state.metadata["mode"] = "icl"
        state.metadata["icl_ids"] = [example_id for example_id, _, _ in picked]
        shown = "\n\n".join(f"Example {i}\n{problem.strip()}\n\nAnswer:\n{answer.strip()}"
                            for i, (_, problem, answer) in enumerate(picked, start=1))
        for message in state.messages:
            if isinstance(message, ChatMessageUser):  # the examples go before the (first) user turn
                prefix = f"Here are solved examples of similar tasks.\n\n{shown}\n\nNow the task.\n\n"
                if isinstance(message.content, str):
                    message.content = prefix + message.content
                else:
                    from inspect_ai.model import ContentText

                    message.content = [ContentText(text=prefix), *message.content]
                break
        return await _with_core_usage(inner, state, _checked(generate, "gcop/icl"))

    return solve


def answer_key(completion: str) -> str | None:
    """What two answers must share to agree: a code block's syntax tree, else the last number,
    else the last non-empty line (whitespace and case folded); None for an empty answer."""
    code = extract_code(completion) if "```" in completion else ""
    if code:
        try:
            return "code:" + ast.dump(ast.parse(code))
        except SyntaxError:
            return "code:" + " ".join(code.split())
    numbers = _NUMBER.findall(completion)
    if numbers:
        return "number:" + numbers[-1].replace(",", "").rstrip(".")
    lines = [line.strip() for line in completion.splitlines() if line.strip()]
    return "line:" + " ".join(lines[-1].lower().split()) if lines else None


@solver(name="cascade")
def cascade(k: int = 3, threshold: float = 1.0, solver: Solver | Sequence[Solver] | None = None) -> Solver:
    """``k`` answers of the cheap core (seeds ``0..k-1``); the share agreeing with the majority
    (:func:`answer_key`) is the confidence, and below ``threshold`` the ``strong`` role answers
    the same input instead. ``solver`` (the task's chain) shapes the input first: its generation
    is the first cheap answer."""
    if k < 2:
        raise ValueError(f"-S k must be >= 2 (agreement needs several answers), got {k}")
    if not 0.0 <= threshold <= 1.01:
        raise ValueError(f"-S threshold must be in [0, 1] (above 1: always escalate), got {threshold}")
    inner = _inner(solver)

    async def solve(state: TaskState, generate: Generate) -> TaskState:

        _single_turn(state, "gcop/cascade")
        if not strong_role_bound():
            raise StrongRoleMissingError("cascade")
        state.metadata["mode"] = "cascade"
        state = await inner(state, _checked(generate, "gcop/cascade"))
        messages: list[ChatMessage] = (
            [m for m in state.messages if m.role != "assistant"] if state.output.choices else list(state.messages)
        )
        first = state.output
        cheap = get_model()
        others = [await cheap.generate(messages, config=GenerateConfig(seed=seed)) for seed in range(1, k)]
        outputs = [first, *others]
        votes = [answer_key(o.completion) if o.choices else None for o in outputs]
        counted = Counter(v for v in votes if v is not None)
        top = max(counted.values()) if counted else 0
        confidence = top / k
        record: dict[str, Any] = {"rule": "agreement", "k": k, "threshold": threshold, "votes": votes,
                                  "confidence": confidence, "cheap": total_usage(outputs)}
        if confidence < threshold:
            strong = get_model(role=STRONG_ROLE)
            answer = await strong.generate(messages)
            state.output = answer
            state.messages = [*messages, answer.message]
            record.update(escalated=True, strong=total_usage([answer]),
                          reason=f"{top} of {k} cheap answers agree, under {threshold}")
        else:
            majority = next(v for v in votes if v is not None and counted[v] == top)
            kept = outputs[votes.index(majority)]
            state.output = kept
            state.messages = [*messages, kept.message]
            record.update(escalated=False, reason=f"{top} of {k} cheap answers agree")
        state.metadata["cascade"] = record
        state.metadata["core"] = {"model": str(cheap), **record["cheap"]}
        return state

    return solve


RECIPES = ("guided", "icl", "cascade")


def wrap_task(inner: Task, recipe: str, **options: Any) -> Task:
    """``inner`` with its own solver chain run inside gcop's ``recipe`` solver (options as the
    solver's), its dataset and scorer unchanged."""
    makers: dict[str, Callable[..., Solver]] = {"guided": guided, "icl": icl, "cascade": cascade}
    if recipe not in makers:
        raise ValueError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
    return task_with(inner, solver=makers[recipe](solver=inner.solver, **options))


@task(name="wrap")
def wrap(task: str, recipe: str = "guided", task_args: str = "{}", options: str = "{}") -> Task:
    """``inspect eval gcop/wrap -T task=inspect_evals/gsm8k -T recipe=guided``: the named task
    (``task_args``: its -T options, as JSON) with its own solver inside gcop's ``recipe`` solver
    (``options``: the solver's, as JSON)."""
    try:
        inner_args = json.loads(task_args) if isinstance(task_args, str) else dict(task_args)
        recipe_options = json.loads(options) if isinstance(options, str) else dict(options)
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise ValueError(f"-T task_args and -T options must be JSON objects: {exc}") from None
    return wrap_task(load_task(task, inner_args), recipe, **recipe_options)


def load_task(name: str, task_args: dict[str, Any] | None = None) -> Task:
    """A new instance of the task ``name`` (a registry name such as ``inspect_evals/gsm8k``, or
    ``file.py@task``) built with ``task_args``, the way ``inspect eval NAME -T ...`` builds it."""
    # Inspect's own loader: registry names, packages' entry points and file@task specs alike.
    # Private (inspect_ai exports no loader); if it moves, this is the one place to change.
    from inspect_ai._eval.loader import load_tasks

    found = load_tasks([name], dict(task_args or {}))
    if not found:
        raise ValueError(f"no task named {name!r}: give a registry name (e.g. inspect_evals/gsm8k, its package "
                         "installed) or FILE.py@TASK")
    if len(found) > 1:
        raise ValueError(f"{name!r} names {len(found)} tasks; name one (FILE.py@TASK)")
    return found[0]

