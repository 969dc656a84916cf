"""Turn a model's free-form response into the thing a scorer judges.

Code (HumanEval, KodCode):

* :func:`extract_code` finds the Python a model meant as its answer (fenced blocks, several
  blocks, truncated fences, bare code, prose around it).
* :func:`humaneval_program` turns that into a complete HumanEval program, whether the model
  wrote the whole function or only its body.
* :func:`kodcode_solution` is the solution file for a KodCode (pytest-style) problem.

Math (GSM8K):

* :func:`extract_gsm8k_answer` reads the final answer (last ``\\boxed{}``, else ``#### N``, else
  an explicit "answer is N") as a normalised number string.
* :func:`parse_number` reads one number out of a short answer string.
* :func:`gsm8k_is_correct` compares a response's answer with the gold number exactly.
* :func:`gsm8k_target` reads the gold number out of a GSM8K reference answer.

Numbers are compared as :class:`fractions.Fraction` internally, so ``18.00 == 18`` and
``\\frac{1}{3} == 1/3`` hold exactly; :func:`parse_number` returns a :class:`~decimal.Decimal`
for callers who want one (exact whenever the value has a terminating decimal expansion).

Everything here is stdlib only and the extraction functions never raise on odd input.
"""

from __future__ import annotations

import ast
import functools
import re
import textwrap
from collections.abc import Callable
from decimal import Decimal, localcontext
from fractions import Fraction

__all__ = [
    "extract_code",
    "humaneval_program",
    "kodcode_solution",
    "extract_gsm8k_answer",
    "parse_number",
    "gsm8k_is_correct",
    "gsm8k_target",
]

# ---------------------------------------------------------------------------------------------
# Code extraction
# ---------------------------------------------------------------------------------------------

#: Fence labels that mean "this block is Python" (so does any label starting with "python").
PYTHON_LABELS = frozenset({"python", "python3", "py", "py3"})

# An opening fence: up to any indentation (fences inside list items are indented), three or more
# backticks or tildes, then an optional info string whose first word is the language. Backtick
# fences may not have backticks in their info string (CommonMark), which also keeps inline
# ```code``` on one line from being read as an opener.
_OPEN_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n]*)$")
_DEF_LINE = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]+\w+|^[ \t]*class[ \t]+\w+", re.MULTILINE)
_DEF_NAME_TOP = re.compile(r"^(?:async[ \t]+)?(?:def|class)[ \t]+(\w+)", re.MULTILINE)
_DEF_NAME_ANY = re.compile(r"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+(\w+)", re.MULTILINE)
_CODE_START = re.compile(r"^(?:def |async def |class |import |from |@)")
#: How many times its own length of text the search for a parsing run may parse, in all.
PARSE_BUDGET_FACTOR = 2


class _Block:
    """One fenced block: its language label (lower-cased, "" when none) and its content."""

    __slots__ = ("label", "code")

    def __init__(self, label: str, code: str) -> None:
        self.label = label
        self.code = code


@functools.lru_cache(maxsize=32)
def _parse_outcome(code: str) -> tuple[bool, int | None]:
    """Whether ``code`` parses, and the line of its syntax error if any (never raises). Cached:
    a response's text is parsed once however many steps of extraction ask."""
    try:
        ast.parse(code)
    except SyntaxError as err:
        return False, err.lineno
    except Exception:  # ValueError (NUL bytes), RecursionError, MemoryError...
        return False, None
    return True, None


def _parses(code: str) -> bool:
    """Whether ``code`` is syntactically valid Python (never raises)."""
    return _parse_outcome(code)[0]


def _trim_blank_lines(text: str) -> str:
    """Drop leading blank lines and trailing whitespace, keeping the first line's indentation."""
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines).rstrip()


def _label_of(info: str) -> str:
    """The language of a fence's info string: ``"Python3 title=x"`` -> ``"python3"``."""
    m = re.match(r"[\w+#-]*", info.strip().lstrip("{.").strip())
    return m.group(0).lower() if m else ""


def _fenced_blocks(text: str) -> list[_Block]:
    """Every fenced block of ``text`` in order; an unterminated last fence runs to the end."""
    blocks: list[_Block] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = _OPEN_FENCE.match(lines[i])
        if not m or (m.group("fence")[0] == "`" and "`" in m.group("info")):
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent"))
        # A closer uses the same character, at least as many of them, and nothing else.
        closer = re.compile(r"^[ \t]*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$")
        body: list[str] = []
        i += 1
        while i < len(lines) and not closer.match(lines[i]):
            line = lines[i]
            # Content of an indented fence is indented with it: remove at most that much, so the
            # content's own indentation (a body-only completion's 4 spaces) survives.
            strip = len(line) - len(line.lstrip(" \t"))
            body.append(line[min(indent, strip):])
            i += 1
        i += 1  # past the closer (or the end)
        blocks.append(_Block(_label_of(m.group("info")), _trim_blank_lines("\n".join(body))))
    return blocks


def _defined_names(code: str) -> set[str]:
    """Names of the functions and classes ``code`` defines at top level (best effort)."""
    try:
        tree = ast.parse(code)
    except Exception:
        # Unparsable (truncated, or an indented body): fall back to text. Top-level defs when
        # there are any, else defs at any depth (a body-only completion's nested helpers).
        return set(_DEF_NAME_TOP.findall(code)) or set(_DEF_NAME_ANY.findall(code))
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


def _choose_blocks(blocks: list[_Block]) -> str | None:
    """The code meant as the answer among fenced blocks.

    None when no block is a candidate (the caller then treats the text as unfenced); ``""``
    when the only candidates are empty.

    Python-labelled blocks beat unlabelled ones; blocks in other languages (bash, text, json,
    output, console...) are never candidates. Among candidates the last block that defines
    something (a ``def`` or ``class`` line) wins over later usage examples; without one, the last
    block that is an indented function body does, else the last block. Earlier defining blocks
    are kept too (concatenated in order) when they define a name no later kept block defines
    (helpers shown in their own block), while an earlier block whose names are all redefined
    later is an earlier draft and is dropped.
    """
    candidates = [b for b in blocks if b.label in PYTHON_LABELS or b.label.startswith("python")]
    if not candidates:
        candidates = [b for b in blocks if not b.label]
    if not candidates:
        return None
    candidates = [b for b in candidates if b.code.strip()]
    if not candidates:
        return ""  # only empty code blocks: there is no code, not "the prose is the code"
    defining = [b for b in candidates if _DEF_LINE.search(b.code)]
    if not defining:
        # No definitions: a block whose first line is indented is a function body (a
        # HumanEval-style completion) and beats a later top-level usage example.
        bodies = [b for b in candidates if b.code[:1] in (" ", "\t")]
        return (bodies or candidates)[-1].code
    kept: list[str] = []
    seen: set[str] = set()
    for block in reversed(defining):
        names = _defined_names(block.code)
        if not kept or names - seen:
            kept.append(block.code)
            seen |= names
    return "\n\n".join(reversed(kept))


def _unfenced_code(text: str) -> str:
    """The code of a response without fences (see :func:`extract_code`)."""
    if _parses(text):
        return _trim_blank_lines(text)
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is not None:
        # Longest run from the first code-looking line that parses: drops trailing prose. Each
        # try parses a run, so the tries share a budget of a few times the text's length: the
        # work stays linear however the text is made (a run of lines that each fail only at
        # the end would otherwise cost one parse per line).
        budget = (PARSE_BUDGET_FACTOR - 1) * len(text) + 4096  # the whole text was parsed once above
        end = len(lines)
        while end > start:
            if not lines[end - 1].strip():
                end -= 1  # same text as a shorter run; don't parse it twice
                continue
            chunk = "\n".join(lines[start:end])
            budget -= len(chunk)
            if budget < 0:
                break
            ok, k = _parse_outcome(chunk)
            if ok:
                return chunk.rstrip()
            # A syntax error at line k (before the end) is met by every longer run too, so skip
            # straight to the runs that stop before it: linear, not quadratic, in the length of
            # trailing prose.
            end = start + k - 1 if k is not None and 1 <= k < end - start else end - 1
    first = next((line for line in lines if line.strip()), "")
    if first[:1] in (" ", "\t"):
        # An indented first line marks a body-only completion (HumanEval style): keep it exactly,
        # since stripping would take the first line's indentation and break the body.
        return text
    return text.strip()


def extract_code(response: str) -> str:
    """The Python code a model meant as its answer in ``response``.

    * Line endings are normalised to ``\\n``; an empty or whitespace response gives ``""``.
    * Fenced blocks (```` ``` ```` or ``~~~``, labelled ``python``/``py``/``python3`` in any case,
      or unlabelled) are chosen as :func:`_choose_blocks` describes; an unterminated final fence
      (a truncated response) still yields its content. Block content keeps its indentation.
    * Without a usable fenced block: the whole response if it parses; else the longest run of
      lines that parses, starting at the first line beginning with ``def``, ``class``,
      ``import``, ``from`` or ``@``; else the response stripped (but returned unchanged when its
      first non-blank line is indented, which is a body-only completion).

    Never raises.
    """
    try:
        if not isinstance(response, str) or not response.strip():
            return ""
        text = response.replace("\r\n", "\n").replace("\r", "\n")
        chosen = _choose_blocks(_fenced_blocks(text))
        if chosen is not None:
            return chosen
        return _unfenced_code(text)
    except Exception:  # a last resort: extraction must never take a scorer down
        return response.strip() if isinstance(response, str) else ""


def _top_level(source: str) -> list[ast.stmt] | None:
    """The top-level statements of ``source``, or None if it does not parse."""
    if not _parses(source):
        return None  # known already (cached): no second parse of a bad response
    try:
        return ast.parse(source).body
    except Exception:
        return None


def _defines_at_top_level(code: str, name: str) -> bool:
    """Whether ``code`` defines function ``name`` at top level (by regex if it doesn't parse)."""
    body = _top_level(code)
    if body is None:
        pattern = r"^(?:async[ \t]+)?def[ \t]+" + re.escape(name) + r"[ \t]*\("
        return re.search(pattern, code, re.MULTILINE) is not None
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name
        for node in body
    )


def _prompt_imports(prompt: str) -> str:
    """The prompt's top-level import statements, as source lines."""
    body = _top_level(prompt)
    if body is None:
        lines = prompt.split("\n")
        return "\n".join(line for line in lines if re.match(r"(?:import|from)[ \t]+\S", line))
    lines = prompt.split("\n")
    return "\n".join(
        "\n".join(lines[node.lineno - 1 : node.end_lineno])
        for node in body
        if isinstance(node, (ast.Import, ast.ImportFrom))
    )


def _prompt_has_other_definitions(prompt: str, entry_point: str) -> bool:
    """Whether the prompt defines anything besides imports and the entry point's stub.

    HumanEval/10, 32, 38 and 50 define helper functions before the entry point (and /64 a
    constant); a whole program written by the model may call them without repeating them.
    """
    body = _top_level(prompt)
    if body is None:
        return bool(set(_DEF_NAME_TOP.findall(prompt)) - {entry_point})
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a module docstring
        return True
    return False


def _indent_body(prompt: str, completion: str) -> str:
    """A body-only completion, indented as the function body it is meant to be.

    Already indented: unchanged. First line at column 0: every line is indented by 4 spaces (the
    model dedented the whole body) unless that does not parse while indenting only the first
    line does (the model, or a ``.strip()``, took only the first line's indentation).
    """
    first = next((line for line in completion.split("\n") if line.strip()), "")
    if not first or first[:1] in (" ", "\t"):
        return completion
    whole = textwrap.indent(completion, "    ")
    if not _parses(prompt + whole):
        first_only = "    " + completion.lstrip("\n")
        if _parses(prompt + first_only):
            return first_only
    return whole


def humaneval_program(prompt: str, response: str, entry_point: str) -> str:
    """A complete Python program for a HumanEval problem from a model's ``response``.

    The code is :func:`extract_code` of the response. Then:

    * Whole program (the code defines ``entry_point`` at top level): the model's code is kept
      whole (its own imports and helpers included), preceded by the prompt's imports so names
      like ``List`` exist, i.e. ``imports + "\\n" + code``. When the prompt defines anything
      else (helpers such as HumanEval/38's ``encode_cyclic``), the program is instead
      ``prompt + "\\n\\n" + code``: the model's later ``def`` of the entry point overrides the
      prompt's stub, and helpers the model did not repeat still exist.
    * Body-only completion: ``prompt + completion``, where the completion is the extracted text,
      indented by 4 spaces if the model dedented it (see :func:`_indent_body`).
    """
    code = extract_code(response)
    if _defines_at_top_level(code, entry_point):
        if _prompt_has_other_definitions(prompt, entry_point):
            return prompt + "\n\n" + code
        imports = _prompt_imports(prompt)
        return imports + "\n" + code if imports else code
    if prompt and not prompt.endswith("\n") and not code.startswith("\n"):
        prompt += "\n"
    return prompt + _indent_body(prompt, code)


def kodcode_solution(response: str) -> str:
    """The solution file for a KodCode problem: :func:`extract_code` of the response.

    Imports, helper functions and classes (class-based problems) are kept as written.
    """
    return extract_code(response)


# ---------------------------------------------------------------------------------------------
# GSM8K answers
# ---------------------------------------------------------------------------------------------

_BOX_START = re.compile(r"\\(?:boxed|fbox)[ \t]*\{")
_WRAPPER = re.compile(r"\\(?:text|textbf|textrm|textit|mathrm|mathbf|mbox|operatorname)[ \t]*\{")
_FRAC = re.compile(r"\\[dt]?frac[ \t]*\{")
# A number with an optional "/ number" (a fraction), once the text has been cleaned.
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>-\s*)?(?P<num>\d+(?:\.\d*)?|\.\d+)"
    r"(?:\s*/\s*(?P<den>\d+(?:\.\d*)?|\.\d+))?"
)
_ANSWER_IS = re.compile(
    r"\banswer\s*(?:is\b\s*:?|:|=)"  # "answer is", "answer is:", "answer:", "answer ="
    r"(?:\s|\*|_|\\\(|\\\[|\\?\$)*"  # markdown bold, math delimiters, dollar signs
    r"(?P<num>[-\u2212]?\s*(?:\\?\$\s*)?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+(?:\.\d+)?)?)",
    re.IGNORECASE,
)


def _balanced(text: str, open_at: int) -> tuple[str, int] | None:
    """Content of the ``{...}`` whose ``{`` is at ``open_at``, and the index after its ``}``."""
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i], i + 1
    return None  # unterminated


def _last_boxed(text: str) -> str | None:
    """The content of the last complete ``\\boxed{...}`` / ``\\fbox{...}``, if any."""
    last = None
    for m in _BOX_START.finditer(text):
        found = _balanced(text, m.end() - 1)
        if found is not None:
            last = found[0]
    return last


def _unwrap(text: str, pattern: re.Pattern[str], replace: Callable[[str, str, str], str]) -> str:
    """Rewrite each ``\\cmd{...}`` matched by ``pattern`` as ``replace(before, content, after)``."""
    for _ in range(100):  # bounded: each pass removes one command
        m = pattern.search(text)
        if not m:
            break
        found = _balanced(text, m.end() - 1)
        if found is None:  # unterminated: drop the command, keep the rest
            text = text[: m.start()] + " " + text[m.end() :]
            continue
        content, after = found
        text = replace(text[: m.start()], content, text[after:])
    return text


def _replace_wrapper(before: str, content: str, after: str) -> str:
    return f"{before} {content} {after}"


def _replace_frac(before: str, numerator: str, after: str) -> str:
    """``\\frac{a}{b}`` -> ``a/b`` (``after`` starts at the denominator's brace)."""
    start = len(after) - len(after.lstrip())
    if after[start : start + 1] == "{":
        found = _balanced(after, start)
        if found is not None:
            denominator, end = found
            return f"{before} {numerator.strip()}/{denominator.strip()} {after[end:]}"
    return f"{before} {numerator} {after}"


def _clean(text: str) -> str:
    """Strip LaTeX and formatting from a short answer, leaving numbers and separators."""
    text = _unwrap(text, _WRAPPER, _replace_wrapper)
    text = _unwrap(text, _FRAC, _replace_frac)
    if "=" in text:
        text = text.rsplit("=", 1)[1]  # "2 \times 9 = 18": the result is the answer
    text = text.replace("\u2212", "-")  # Unicode minus
    text = re.sub(r"\\*\$", "", text)  # $, \$, \\$
    text = re.sub(r"\\*%", "", text)
    text = re.sub(r"\^\s*\{?\s*\\circ\s*\}?|°", "", text)
    text = re.sub(r"\\[,!;: ]", "", text)  # LaTeX spacing: thin space as thousands separator
    text = re.sub(r"\\(?:left|right)\b", "", text)
    text = re.sub(r"\\[A-Za-z]+", " ", text)  # any other command (\approx, \times, \quad...)
    text = text.replace("{", " ").replace("}", " ").replace("~", " ")
    # Thousands separators: a comma or space between digit groups of exactly three.
    prev = None
    while prev != text:
        prev = text
        text = re.sub(r"(?<=\d)[, ](?=\d{3}(?!\d))", "", text)
    return text


def _terminating_decimal(value: Fraction) -> Decimal | None:
    """``value`` as an exact Decimal, or None when its decimal expansion does not terminate."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return None
    places = max(twos, fives)
    digits = value.numerator * 10**places // value.denominator
    return Decimal(f"{digits}E-{places}")  # from a string: exact, no context rounding


def _format(value: Fraction) -> str:
    """A canonical string: ``"18"``, ``"-3"``, ``"1200.5"``, ``"1/3"`` (non-terminating)."""
    if value.denominator == 1:
        return str(value.numerator)
    exact = _terminating_decimal(value)
    if exact is None:
        return f"{value.numerator}/{value.denominator}"
    # Fixed-point, no exponent, no trailing zeros (avoid normalize(): it rounds to context).
    sign, digits_tuple, exponent = exact.as_tuple()
    assert isinstance(exponent, int)  # finite: a terminating decimal is never NaN or infinite
    digits = "".join(map(str, digits_tuple)).rjust(-exponent + 1, "0")
    whole, frac = digits[:exponent], digits[exponent:]
    return ("-" if sign else "") + whole + "." + frac.rstrip("0")


def _parse_fraction(text: str) -> Fraction | None:
    """The single number in ``text`` as an exact Fraction; None for none or several."""
    try:
        matches = list(_NUMBER.finditer(_clean(text)))
        if len(matches) != 1:
            return None
        m = matches[0]
        value = Fraction(Decimal(m.group("num")))
        if m.group("den") is not None:
            den = Fraction(Decimal(m.group("den")))
            if den == 0:
                return None
            value /= den
        return -value if m.group("sign") else value
    except Exception:
        return None


def parse_number(text: str) -> Decimal | None:
    """The single number in a short answer string, or None when there is none or several.

    Understands ``$``/``\\$``, thousands commas and thin spaces, ``%``, ``\\text{...}`` and
    words around the number (``"18 \\text{ dollars}"``), negative numbers, ``a/b`` and
    ``\\frac{a}{b}``/``\\dfrac``, and ``lhs = value`` (the value after the last ``=``).

    The result is exact when the value has a terminating decimal expansion (``1/4`` ->
    ``Decimal("0.25")``). A non-terminating fraction (``1/3``) is returned rounded to 50
    significant digits; :func:`gsm8k_is_correct` does not use this and compares exactly.
    """
    value = _parse_fraction(text)
    if value is None:
        return None
    exact = _terminating_decimal(value)
    if exact is not None:
        return exact
    with localcontext() as ctx:
        ctx.prec = 50
        return Decimal(value.numerator) / Decimal(value.denominator)


def _answer_text(response: str) -> str | None:
    """The text holding the final answer, by the rules of :func:`extract_gsm8k_answer`."""
    boxed = _last_boxed(response)
    if boxed is not None:
        return boxed
    if "####" in response:
        return response.rsplit("####", 1)[1].strip().split("\n", 1)[0]
    matches = list(_ANSWER_IS.finditer(response))
    if matches:
        return matches[-1].group("num")
    return None


def _extract_fraction(response: str) -> Fraction | None:
    if not isinstance(response, str):
        return None
    text = _answer_text(response)
    return None if text is None else _parse_fraction(text)


def extract_gsm8k_answer(response: str) -> str | None:
    """The final answer of a GSM8K response as a normalised number string, or None.

    The answer is, in order of precedence: the content of the last complete ``\\boxed{...}``
    (or ``\\fbox{...}``); else the number after the last ``####`` (the reference style); else
    the number in the last explicit "answer is N" / "answer: N" (any case). The last number of
    the text is deliberately not a fallback: it would reward rambling. A final box whose content
    is not a single number gives None rather than falling through to the other rules.

    Normalised: ``"18"``, ``"-10"``, ``"1200.5"``; a non-terminating fraction as ``"1/3"``.
    """
    value = _extract_fraction(response)
    return None if value is None else _format(value)


def gsm8k_is_correct(response: str, target: str) -> bool:
    """Whether the response's final answer equals the gold number ``target`` exactly.

    Compared as Fractions, so ``"18.00"`` equals ``"18"`` and ``\\frac{1}{3}`` equals ``1/3``;
    ``target`` may carry thousands commas (``"1,000"``). No answer, or an unreadable target,
    is not correct.
    """
    predicted = _extract_fraction(response)
    gold = _parse_fraction(target) if isinstance(target, str) else None
    return predicted is not None and gold is not None and predicted == gold


def gsm8k_target(answer_field: str) -> str:
    """The gold number of a GSM8K reference answer: the text after its final ``####``, commas
    removed (``"...\\n#### 1,000"`` -> ``"1000"``).

    Raises ValueError when there is no ``####``: that is a data error, not a wrong answer.
    """
    if "####" not in answer_field:
        raise ValueError("GSM8K answer has no '####' line")
    return answer_field.rsplit("####", 1)[1].strip().replace(",", "")
