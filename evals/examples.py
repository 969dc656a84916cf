"""The examples a code problem's statement itself shows, as tests a cascade may run.

A cascade's deferral rule may judge the cheap core's program on what the core was shown, never
on the hidden tests: the doctests of a HumanEval prompt or a KodCode statement (``>>> f(2)`` then
``True`` on the next line, or ``>>> f(2) True`` on one line) and the ``assert`` lines of its
examples. Each becomes one pytest test that compares by value, run by the same sandbox and runner
as the verdict. An example whose expected output is not a Python literal or expression (printed
text, an exception traceback) is left out: it cannot be compared by value.
"""

from __future__ import annotations

import ast
import builtins
import re

from gcop.sandbox.protocol import TestJob

#: At most this many examples per problem (a statement with hundreds of asserts is a test suite).
MAX_EXAMPLES = 20
_PROMPT = re.compile(r"^\s*>>>\s?(.*)$")
_ASSERT = re.compile(r"^\s*(assert\s.+)$")
_ARROW = re.compile(r"^(?P<call>[A-Za-z_]\w*\(.*\))\s*(?:==>|=>|➞|->|==|=|\bshould return\b|\breturns\b)\s*(?P<value>.+)$")


def _is_expression(text: str) -> bool:
    try:
        ast.parse(text, mode="eval")
    except (SyntaxError, ValueError):
        return False
    return True


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return False
    return True


def _is_call(text: str) -> bool:
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError):
        return False
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name)


def _equality(call: str, value: str) -> str:
    """``assert (call) == (value)``, both re-written from their syntax trees (comments dropped)."""
    return f"assert ({ast.unparse(ast.parse(call, mode='eval'))}) == ({ast.unparse(ast.parse(value, mode='eval'))})"


def _self_contained(statement: str, other_text: str, entry_point: str | None = None) -> bool:
    """Whether an example names only builtins and functions the statement defines or names
    elsewhere (or the benchmark's ``entry_point``, the function the answer must define: MBPP's
    prose never names it, its shown tests do): ``is_happy(a)`` (``a`` is never defined),
    ``stack.pop()`` or ``result == expected`` (names from code the statement does not show) would
    fail for any program."""
    try:
        tree = ast.parse(statement)
    except SyntaxError:
        return False
    callees = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not hasattr(builtins, node.id):
            named = node.id == entry_point or re.search(rf"\b{re.escape(node.id)}\b", other_text)
            if id(node) not in callees or not named:
                return False
        if isinstance(node, (ast.Lambda, ast.NamedExpr, ast.comprehension)):
            return False  # names bound inside the example: keep the rule simple
    return True


def _split_call_and_value(line: str) -> tuple[str, str] | None:
    """``f(121) True`` -> (``f(121)``, ``True``): the shortest prefix that parses as an expression
    and leaves an expression behind (KodCode writes some doctests on one line)."""
    for cut in range(1, len(line)):
        if line[cut] != " ":
            continue
        call, value = line[:cut].strip(), line[cut:].strip()
        if call and value and _is_expression(call) and _is_literal(value):
            return call, value
    return None


def _doctest_examples(lines: list[str]) -> list[str]:
    found: list[str] = []
    for index, line in enumerate(lines):
        match = _PROMPT.match(line)
        if not match:
            continue
        call = match.group(1).strip()
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if _is_expression(call) and following and not _PROMPT.match(lines[index + 1]) and _is_literal(following):
            found.append(_equality(call, following))
        elif (pair := _split_call_and_value(call)) is not None:
            found.append(_equality(*pair))
    return found


def _assert_examples(lines: list[str]) -> list[str]:
    found = []
    for line in lines:
        match = _ASSERT.match(line)
        if match:
            statement = match.group(1).strip()
            try:
                tree = ast.parse(statement)
            except SyntaxError:
                continue
            if len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert):
                found.append(statement)
    return found


def _arrow_examples(lines: list[str]) -> list[str]:
    """``f(2) ==> True``, ``f(2) ➞ True``, ``f(2) returns 'x'``, ``f(2) should return 16.``: a call
    of a plain name, a separator, and a literal (``true`` or ``19 - 5 - 6 = 8`` are left out)."""
    found = []
    for line in lines:
        text = line.strip().lstrip("*-").strip()
        if not text or text.startswith((">>>", "assert")):
            continue
        match = _ARROW.match(text)
        if not match:
            continue
        call, value = match.group("call").strip(), match.group("value").strip().rstrip(".").strip()
        if _is_call(call) and value and _is_literal(value):
            found.append(_equality(call, value))
    return found


def visible_examples(problem_text: str, entry_point: str | None = None) -> list[str]:
    """The statement's examples as ``assert`` statements, in the order shown (duplicates once).
    ``entry_point``: the function the answer must define, when the benchmark knows it."""
    lines = problem_text.replace("\r\n", "\n").splitlines()
    examples = list(dict.fromkeys(_doctest_examples(lines) + _assert_examples(lines) + _arrow_examples(lines)))
    # the text a callee must appear in: the statement without the lines the examples came from
    other_text = "\n".join(line for line in lines if not (_PROMPT.match(line) or _ASSERT.match(line) or _ARROW.match(line.strip().lstrip("*-").strip())))
    examples = [e for e in examples if _self_contained(e, other_text, entry_point)]
    return examples[:MAX_EXAMPLES]


def examples_test_file(examples: list[str]) -> str:
    """A pytest file with one test per example, behind ``from solution import *``."""
    parts = ["from solution import *\n"]
    for number, statement in enumerate(examples, start=1):
        parts.append(f"\ndef test_example_{number}():\n    {statement}\n")
    return "".join(parts)


def examples_job(solution: str, examples: list[str], *, job_id: str = "", timeout: float | None = None) -> TestJob:
    """The sandbox job running ``solution`` (the program a verdict would run) on the examples."""
    if not examples:
        raise ValueError("examples_job needs at least one example")
    return TestJob(style="pytest", solution=solution, test=examples_test_file(examples), timeout=timeout,
                   id=f"{job_id}:examples" if job_id else "examples")
