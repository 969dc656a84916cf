"""Does a strategy, on its own, give the answer away? The text-level half of the leak check.

A guide is rewarded for strategies the core can *execute*; one that carries the answer (or the
code) lets the core copy it and earns R without any execution. Nothing here depends on how the
answer is spelt:

* **math** (:func:`math_leak`): the gold value written as a number in any notation (digits with
  separators, decimals, fractions, percentages, scientific notation, number words with compounds
  and "dozen") or as an arithmetic expression, in symbols or words ("25 - 7", "54 divided by
  three", "half of 36", "twice 9", "multiply 3 by 6"), whose value is the gold. A number that the
  problem itself states is not a leak on its own (restating a quantity is honest), but the same
  number as the value of an expression, or after "the answer is", is.
* **code** (:func:`code_candidates`): every piece of code in the strategy (fenced, inline,
  indented, bare lines; a function of any name, a class, a lambda, a bare body) is assembled into
  candidate solutions for the entry point. This module only *builds* them: whether one of them
  passes the hidden tests is decided by running it in the sandbox (:mod:`gcop.evals.leaks`), so a
  sketch of wrong code is never called a leak, and code under another name is.

Each finding names its rule and the span of the strategy it came from (:class:`LeakFinding`).
"""

from __future__ import annotations

import ast
import operator
import re
import textwrap
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

__all__ = ["LeakFinding", "code_candidates", "gold_value", "math_leak", "number_values"]


@dataclass(frozen=True)
class LeakFinding:
    """Why a strategy leaks: the ``rule`` that fired (``math.number``, ``math.expression``,
    ``math.extraction``, ``code.candidate``, ``judge``), the ``span`` of the strategy it found
    (character offsets, None when it is the whole strategy) and its text, and a ``detail`` line."""

    rule: str
    detail: str
    span: tuple[int, int] | None = None
    text: str = ""

    def describe(self) -> str:
        where = f" at {self.span[0]}:{self.span[1]} ({self.text!r})" if self.span else ""
        return f"{self.rule}: {self.detail}{where}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Numbers in any notation
# ---------------------------------------------------------------------------------------------

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_WORD_OR_NUMBER = re.compile(r"[a-z]+|\d+(?:\.\d+)?")
_JOINER = re.compile(r"^(?:[\s-]+|[\s-]+and[\s-]+)$")


def _kind(word: str) -> str | None:
    if word[0].isdigit():
        return "digit"
    if word in _UNITS:
        return "unit" if _UNITS[word] < 10 else "teen"
    if word in _TENS:
        return "tens"
    if word == "hundred":
        return "hundred"
    if word in _SCALES:
        return "scale"
    if word in ("dozen", "dozens"):
        return "dozen"
    if word in ("a", "an"):
        return "a"
    return None


# Which kind of word may follow which inside one number ("twenty five", "two hundred and five",
# "3 dozen", "a thousand"); anything else ends the number ("25 one-dollar bills" is 25 and 1).
_FOLLOWS = {
    None: {"digit", "unit", "teen", "tens", "a"},
    "a": {"hundred", "scale", "dozen"},
    "digit": {"hundred", "scale", "dozen"},
    "unit": {"hundred", "scale", "dozen"},
    "teen": {"hundred", "scale", "dozen"},
    "tens": {"unit", "scale", "dozen"},
    "hundred": {"unit", "teen", "tens", "scale", "dozen"},
    "scale": {"unit", "teen", "tens", "digit"},
    "dozen": set(),
}


def _number_words_to_digits(text: str) -> str:
    """``text`` with each number written in words replaced by its digits ("two hundred and
    five" -> "205", "a dozen" -> "12", "3 dozen" -> "36", "twenty-five" -> "25")."""
    out: list[str] = []
    pos = 0
    matches = list(_WORD_OR_NUMBER.finditer(text))
    i = 0
    while i < len(matches):
        first = matches[i]
        kind = _kind(first.group(0))
        if kind is None or kind == "digit" and not (i + 1 < len(matches) and _kind(matches[i + 1].group(0))
                                                      in {"hundred", "scale", "dozen"}):
            i += 1
            continue
        total, current, last, j, seen_word = Fraction(0), Fraction(0), None, i, False
        end = first.start()
        while j < len(matches):
            word = matches[j].group(0)
            if j > i and not _JOINER.match(text[matches[j - 1].end():matches[j].start()]):
                break
            if word == "and" and last in ("hundred", "scale") and j + 1 < len(matches) \
                    and _kind(matches[j + 1].group(0)) in ("unit", "teen", "tens"):
                j += 1  # "two hundred and five"
                continue
            k = _kind(word)
            if k is None or k not in _FOLLOWS[last] or (k == "a" and j > i):
                break
            if k == "a":
                current = Fraction(1)
            elif k == "digit":
                current += Fraction(word)
            elif k in ("unit", "teen"):
                current += _UNITS[word]
                seen_word = True
            elif k == "tens":
                current += _TENS[word]
                seen_word = True
            elif k == "hundred":
                current = (current or Fraction(1)) * 100
                seen_word = True
            elif k == "scale":
                total, current = total + (current or Fraction(1)) * _SCALES[word], Fraction(0)
                seen_word = True
            else:
                current = ((current + total) or Fraction(1)) * 12
                total = Fraction(0)
                seen_word = True
            last, end, j = k, matches[j].end(), j + 1
        if not seen_word or last == "a":
            i += 1
            continue
        value = total + current
        out.append(text[pos:first.start()])
        out.append(str(value) if value.denominator == 1 else f"({value.numerator}/{value.denominator})")
        pos = end
        i = j
    out.append(text[pos:])
    return "".join(out)


_FRACTION_WORDS = {"half": Fraction(1, 2), "third": Fraction(1, 3), "quarter": Fraction(1, 4),
                   "fourth": Fraction(1, 4), "fifth": Fraction(1, 5), "tenth": Fraction(1, 10)}

# Rewrites that turn arithmetic in words into symbols. Order matters: the longer phrases first.
_NUM = r"(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
_REWRITES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\bmultiply\s+{_NUM}\s+(?:by|and|with)\s+{_NUM}"), r"(\1 * \2)"),
    (re.compile(rf"\bdivide\s+{_NUM}\s+(?:by|into)\s+{_NUM}"), r"(\1 / \2)"),
    (re.compile(rf"\bsubtract\s+{_NUM}\s+from\s+{_NUM}"), r"(\2 - \1)"),
    (re.compile(rf"\btake\s+{_NUM}\s+(?:away\s+)?from\s+{_NUM}"), r"(\2 - \1)"),
    (re.compile(rf"\badd\s+{_NUM}\s+(?:to|and)\s+{_NUM}"), r"(\1 + \2)"),
    (re.compile(rf"\b(?:the\s+)?sum\s+of\s+{_NUM}\s+and\s+{_NUM}"), r"(\1 + \2)"),
    (re.compile(rf"\b(?:the\s+)?product\s+of\s+{_NUM}\s+and\s+{_NUM}"), r"(\1 * \2)"),
    (re.compile(rf"\b(?:the\s+)?difference\s+(?:between|of)\s+{_NUM}\s+and\s+{_NUM}"), r"(\1 - \2)"),
    (re.compile(rf"\b(?:the\s+)?quotient\s+of\s+{_NUM}\s+and\s+{_NUM}"), r"(\1 / \2)"),
    (re.compile(rf"{_NUM}\s+and\s+an?\s+half\b"), r"(\1 + 1/2)"),
    (re.compile(rf"{_NUM}\s+and\s+an?\s+quarter\b"), r"(\1 + 1/4)"),
    (re.compile(rf"{_NUM}\s+more\s+than\s+{_NUM}"), r"(\2 + \1)"),
    (re.compile(rf"{_NUM}\s+(?:less|fewer)\s+than\s+{_NUM}"), r"(\2 - \1)"),
    (re.compile(rf"{_NUM}\s*(?:%|percent|per\s+cent)\s+of\b"), r"\1 / 100 *"),
    (re.compile(r"\b(?:one\s+|an?\s+)?(half|third|quarter|fourth|fifth|tenth)\s+of\b"), r"<\1> *"),
    (re.compile(r"\b(?:twice|double(?:d)?(?:\s+of)?)\b"), "2 *"),
    (re.compile(r"\b(?:thrice|triple(?:d)?)\b"), "3 *"),
    (re.compile(r"\bmultiplied\s+by\b|\btimes\b|[×·✕]"), "*"),
    (re.compile(r"\bdivided\s+by\b|\bover\b|÷"), "/"),
    (re.compile(r"\bplus\b|\badded\s+to\b"), "+"),
    (re.compile(r"\bminus\b|−|–"), "-"),
    (re.compile(rf"(?<=\d)\s*x\s*(?={_NUM})"), " * "),  # "3 x 6"
    (re.compile(r"\s*\^\s*|\*\*"), "^"),
    (re.compile(rf"{_NUM}\s*(?:%|percent\b|per\s+cent\b)"), r"\1/100"),
]
_FRACTION_TOKEN = re.compile(r"<(half|third|quarter|fourth|fifth|tenth)>")
_POSTFIX = {"doubled": "2", "halved": "1|2", "tripled": "3", "quadrupled": "4"}
# Unit conversions a plan may state whatever the problem ("there are 7 days in a week").
_EVERY = r"\s+(?:in\s+|per\s+)?(?:a|an|one|each|every)\s+"
_CONVERSIONS = re.compile(
    rf"\b(?:(?:7\s+days|12\s+months|52\s+weeks|365\s+days){_EVERY}(?:week|year)|24\s+hours{_EVERY}day"
    rf"|60\s+minutes{_EVERY}hour|60\s+seconds{_EVERY}minute|100\s+cents{_EVERY}dollar|12\s+inches{_EVERY}foot"
    rf"|3\s+feet{_EVERY}yard|16\s+ounces{_EVERY}pound|12\s+(?:\w+\s+)?in\s+a\s+dozen)\b")
# Step numbers anywhere ("step 2", "**Step 3:**", "in step 2") and counted parts of the plan.
_STEP_WORDS = re.compile(r"\b(?:step|stage|phase|part)s?\s+\d+\b")
_COUNTED = re.compile(r"\b\d+\s+(?:steps|stages|phases|parts|ways|cases|passes)\b")
# "...the 20 chickens) x": unit words right after a number and before ")" or an operator go;
# handled by a general rule in _rewrite; this one drops a unit before a closing parenthesis.
_UNIT_WORDS = re.compile(r"(?<=\d)(?:\s+[a-z]+){1,2}(?=\s*\))")


def _rewrite(text: str) -> str:
    """The strategy lower-cased, with number words as digits and arithmetic words as symbols."""
    out = text.lower().replace("\\$", "").replace("$", "").replace("\\*", "*").replace("**", " ")
    out = out.replace("\u200b", "").replace("\u200c", "").replace("\u2060", "").replace("\ufeff", "")
    out = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", out)  # thousands separators
    out = re.sub(r"(?<=\d)[_\u00a0\u202f\u2009](?=\d{3}(?!\d))", "", out)
    out = re.sub(r"\b(\d{1,3})((?: \d{3})+)(?![\d.])", lambda m: m.group(1) + m.group(2).replace(" ", ""), out)
    out = re.sub(r"\b(\d+(?:\.\d+)?)\s*k\b", lambda m: str(Fraction(m.group(1)) * 1000), out)  # "70k"
    out = _STEP_WORDS.sub(" ", out)
    out = re.sub(r"\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}", r"(\1)/(\2)", out)
    out = out.replace("\\times", "*").replace("\\cdot", "*").replace("\\div", "/")

    out = re.sub(r"\bhalf\s+an?\s+dozen\b", "6", out)
    out = re.sub(r"\ban?\s+dozen\s+and\s+an?\s+half\b", "18", out)
    out = re.sub(r"\ban?\s+baker'?s\s+dozen\b", "13", out)
    out = _number_words_to_digits(out)
    out = _COUNTED.sub(" ", out)  # "in three steps", "two stages": how the plan is laid out
    out = _CONVERSIONS.sub(lambda m: " " * len(m.group(0)), out)  # "7 days in a week": a constant, not a quantity
    out = re.sub(r"(\d+(?:\.\d+)?)\s+(doubled|halved|tripled|quadrupled)\b",
                 lambda m: f"({m.group(1)} * {_POSTFIX[m.group(2)]})", out)
    out = re.sub(r",\s*(?=(?:then\s+)?(?:divided|multiplied|times|plus|minus)\b)", " ", out)
    out = _UNIT_WORDS.sub("", out)  # "40 hours x 10": the units between a number and its operator
    out = re.sub(r"(?<=\d)\s+(?:[a-z]+\s+){1,2}(?=[-+*/×÷−)]|\bminus\b|\bplus\b|\btimes\b|\bdivided\b)", " ", out)
    for pattern, replacement in _REWRITES:
        out = pattern.sub(replacement, out)
    # a fraction word is one exact number ("half of 36" is 1|2 * 36, never the numbers 1 and 2)
    out = _FRACTION_TOKEN.sub(lambda m: f"{_FRACTION_WORDS[m.group(1)].numerator}|{_FRACTION_WORDS[m.group(1)].denominator}", out)
    out = re.sub(r"(?<=[\d)])\s*\((?=[\d(])", " * (", out)  # "2(16 - 3)": implicit multiplication
    out = re.sub(r"\)\s*(?=\d)", ") * ", out)
    out = re.sub(r"(?<=\d) (?=\d)", " , ", out)  # two bare numbers side by side are two quantities
    # A number glued to letters is a label, an ordinal or a name ("18th", "x18", "py3"), not a quantity.
    return _WORD.sub(lambda m: " " * len(m.group(0)) if _glued(m.group(0)) else m.group(0), out)


_WORD = re.compile(r"\b\w+\b")
_SCIENTIFIC = re.compile(r"\d+e[+-]?\d+")


def _glued(word: str) -> bool:
    return any(c.isdigit() for c in word) and any(c.isalpha() or c == "_" for c in word) \
        and not _SCIENTIFIC.fullmatch(word)


# Step numbers at the start of a line ("1. ", "2) ", "- 3. ", "Step 4:") are not quantities.
_LIST_MARKER = re.compile(
    r"^[ \t]*(?:[-*+][ \t]+)?(?:step[ \t]+\d+[.):]?|\(?\d+[.)])(?=[ \t]|$)", re.IGNORECASE | re.MULTILINE)
_TOKEN = re.compile(r"\d+\|\d+|\d+(?:\.\d+)?(?:e[+-]?\d+)?|\.\d+|[-+*/^()]")
_ARITH_RUN = re.compile(r"[\d.|()+\-*/^e\s]*\d[\d.|()+\-*/^e\s]*")
_MAX_RUN_TOKENS = 40


def _tokens(run: str) -> list[str]:
    return _TOKEN.findall(run)


_OPERATIONS: dict[str, Callable[[Fraction, Fraction], Fraction]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


class _Parser:
    """A recursive-descent evaluator over tokens with exact fractions; None on anything odd."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.pos = tokens, 0

    def parse(self) -> Fraction | None:
        try:
            value = self.expr()
        except (ZeroDivisionError, OverflowError, ValueError, IndexError):
            return None
        return value if value is not None and self.pos == len(self.tokens) else None

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def expr(self) -> Fraction | None:
        return self._chain(self.term, "+-")

    def term(self) -> Fraction | None:
        return self._chain(self.power, "*/")

    def _chain(self, operand: Callable[[], Fraction | None], ops: str) -> Fraction | None:
        """``operand (op operand)*`` for the left-associative operators ``ops``."""
        value = operand()
        while value is not None and (ahead := self.peek()) is not None and ahead in ops:
            op = _OPERATIONS[self.tokens[self.pos]]
            self.pos += 1
            right = operand()
            if right is None:
                return None
            value = op(value, right)
        return value

    def power(self) -> Fraction | None:
        base = self.unary()
        if base is not None and self.peek() == "^":
            self.pos += 1
            exponent = self.unary()
            if exponent is None or exponent.denominator != 1 or abs(exponent) > 12:
                return None
            return base ** int(exponent)
        return base

    def unary(self) -> Fraction | None:
        token = self.peek()
        if token == "-":
            self.pos += 1
            value = self.unary()
            return None if value is None else -value
        if token == "(":
            self.pos += 1
            value = self.expr()
            if self.peek() != ")":
                return None
            self.pos += 1
            return value
        if token is None or not (token[0].isdigit() or token[0] == "."):
            return None
        self.pos += 1
        if "|" in token:  # a fraction word, exact
            numerator, denominator = token.split("|")
            return Fraction(int(numerator), int(denominator))
        return Fraction(token)


def _evaluate(tokens: list[str]) -> Fraction | None:
    return _Parser(tokens).parse() if tokens else None


def gold_value(gold_answer: Any) -> Fraction | None:
    """The gold answer as an exact number ("$1,234.0" -> 1234, "3/4", "1.5e3"), None when it is
    not a single number."""
    text = re.sub(r"[\s$,\\]", "", str(gold_answer)).lstrip("+")
    if text.endswith("%"):
        text = text[:-1]
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def number_values(text: str) -> set[Fraction]:
    """Every number ``text`` states, in any of the notations :func:`math_leak` reads (a problem's
    quantities, which a strategy may restate)."""
    values: set[Fraction] = set()
    for run in _ARITH_RUN.finditer(_rewrite(_LIST_MARKER.sub(" ", text))):
        for token in _tokens(run.group(0)):
            if (token[0].isdigit() or token[0] == ".") and "|" not in token:
                values.add(Fraction(token))
    return values


def _spans(strategy: str) -> list[tuple[int, int, str]]:
    """(start, end, rewritten text) per line of the strategy (a leak's span is its line), each
    line also read with "N dozen" as N units; then the whole strategy as one line, for an
    expression split over lines."""
    lines, start = [], 0
    for line in strategy.splitlines(keepends=True):
        body = _LIST_MARKER.sub(" ", line)
        end = start + len(line.rstrip("\n"))
        lines.append((start, end, _rewrite(body)))
        if _DOZEN_UNIT.search(body):  # "3 dozen x $68 per dozen" is 3 x 68
            lines.append((start, end, _rewrite(_DOZEN_UNIT.sub(r"\1", body))))
        start += len(line)
    if len(lines) > 1:
        # bullets go first: "...5\n- 3 cups" is not 5 - 3
        whole = " ".join(_BULLET.sub(" ", _LIST_MARKER.sub(" ", line)) for line in strategy.splitlines())
        lines.append((0, len(strategy), _rewrite(whole)))
    return lines


_BULLET = re.compile(r"^[ \t]*[-*+•][ \t]+")
_DOZEN_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s+dozens?\b", re.IGNORECASE)


# Words that name what follows as the result ("that gives 20", "the result is twenty", "= 20"): a
# quantity of the problem stated this way is the answer, not a restatement.
_ANSWER_CUE = re.compile(
    r"(?:answer|result|total|final|finally|gives?|giving|comes?\s+to|arrive\s+at|arrives\s+at|equals?|=|"
    r"end\s+up\s+with)[\s:=]*(?:[a-z]+[\s:,]+){0,4}$")


def _offset(run: str, tokens: list[str], index: int) -> int:
    """Where token ``index`` of ``run`` starts in it."""
    at = 0
    for n, token in enumerate(tokens):
        at = run.index(token, at)
        if n == index:
            return at
        at += len(token)
    return at


def math_leak(strategy: str, gold: Any, problem: str = "") -> LeakFinding | None:
    """The first place where ``strategy`` states the gold value ``gold`` (see the module
    docstring), or None. ``problem``: the problem text, whose own quantities may be restated."""
    target = gold if isinstance(gold, Fraction) else gold_value(gold)
    if target is None:
        return None
    given = number_values(problem) if problem else set()
    for start, end, text in _spans(strategy):
        for run in _ARITH_RUN.finditer(text):
            tokens = _tokens(run.group(0))[:_MAX_RUN_TOKENS]
            for i in range(len(tokens)):
                for j in range(i + 1, len(tokens) + 1):
                    value = _evaluate(tokens[i:j])
                    if value != target:
                        continue
                    single = j - i == 1 or (j - i == 2 and tokens[i] == "-")
                    if single and value in given and not _ANSWER_CUE.search(text[:run.start() + _offset(run.group(0), tokens, i)]):
                        continue  # a quantity the problem states, restated (not named as the result)
                    rule = "math.number" if single else "math.expression"
                    shown = " ".join(tokens[i:j])
                    what = "states the gold value" if single else f"has an expression ({shown}) equal to the gold value"
                    return LeakFinding(rule, f"{what} {gold}", (start, end), strategy[start:end].strip())
    return None


# ---------------------------------------------------------------------------------------------
# Code: candidate solutions assembled from whatever code the strategy holds
# ---------------------------------------------------------------------------------------------

_FENCE = re.compile(r"(```|~~~)[^\n]*\n(.*?)(?:\1|\Z)", re.DOTALL)
_INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_MAX_CANDIDATES = 12


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


_CODE_CHAR = re.compile(r"[=()\[\]:]|\breturn\b|\bpass\b")
_PROMPT_PREFIX = re.compile(r"^([ \t]*)(?:>>>|\.\.\.|>)(?: |$)", re.MULTILINE)


def _unprefixed(text: str) -> str:
    """Code with doctest (``>>>``, ``...``) or quotation (``>``) prefixes removed."""
    return _PROMPT_PREFIX.sub(lambda m: m.group(1), text)


def _code_spans(strategy: str) -> list[tuple[int, int, str]]:
    """Pieces of ``strategy`` that may be code, with their offsets: fenced blocks, inline spans,
    and the longest runs of plain lines that parse (as a module, or as a function body)."""
    spans: list[tuple[int, int, str]] = []
    fenced = list(_FENCE.finditer(strategy))
    for match in fenced:
        spans.append((match.start(2), match.end(2), _unprefixed(match.group(2))))
    if len(fenced) > 1:  # a helper in one block, the function in the next: together
        spans.append((fenced[0].start(2), fenced[-1].end(2), "\n\n".join(textwrap.dedent(_unprefixed(m.group(2)))
                                                                     for m in fenced)))
    for match in _INLINE.finditer(strategy):
        spans.append((match.start(1), match.end(1), match.group(1)))
    # Plain lines: strip list markers and fences, then take from each line the longest run of
    # lines that parses (dedented, as a module or as a function body).
    text = _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), strategy)
    lines = text.split("\n")
    offsets, at = [], 0
    for line in lines:
        offsets.append(at)
        at += len(line) + 1
    cleaned = [re.sub(r"^\s*(?:[-*+]\s+|\d+[.)]\s+|step\s+\d+[.:)]?\s*)", lambda m: " " * len(m.group(0)),
                      _unprefixed(line), flags=re.IGNORECASE) for line in lines]
    i = 0
    while i < len(cleaned):
        if not _CODE_CHAR.search(cleaned[i]):
            i += 1  # a run of code starts with a line that has some: prose is skipped unparsed
            continue
        best = 0
        for j in range(min(len(cleaned), i + 60), i, -1):
            chunk = textwrap.dedent("\n".join(cleaned[i:j]))
            if _parse(chunk) is not None or _parse("def _f():\n" + textwrap.indent(chunk, "    ")) is not None:
                best = j
                break
        if best:
            chunk = textwrap.dedent("\n".join(cleaned[i:best]))
            spans.append((offsets[i], offsets[best - 1] + len(lines[best - 1]), chunk))
            i = best
        else:
            i += 1
    strings = []
    for start, end, code in spans:
        module = _parse(textwrap.dedent(code))
        for node in ast.walk(module) if module is not None else ():
            # code inside a string literal (a SOLUTION constant): a core can copy it as well
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "\n" in node.value:
                strings.append((start, end, node.value))
    spans.extend(strings)
    return spans


def _solution_like(nodes: list[ast.stmt]) -> bool:
    """Code that could be a solution: it returns something, or does work beyond one call. A prose
    line that happens to parse ("Done", "Note: x") or a named call (`sorted(xs)`) is none."""
    if any(isinstance(n, ast.Return | ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
           for node in nodes for n in ast.walk(node)):
        return True
    work = [n for n in nodes if not isinstance(n, ast.Pass | ast.Expr) and not (isinstance(n, ast.AnnAssign) and n.value is None)]
    return len(work) >= 1 and len(nodes) >= 2


def _signature(entry_point: str, problem: str, body: str = "") -> str:
    """The entry point's ``def`` line as the problem shows it, else one whose parameters are the
    names ``body`` reads without binding them, in order of first use."""
    match = re.search(rf"^[ \t]*def[ \t]+{re.escape(entry_point)}[ \t]*\(.*?\)[^:\n]*:", problem, re.MULTILINE | re.DOTALL)
    if match and _parse(match.group(0).strip() + "\n    pass\n") is not None:
        return match.group(0).strip()
    params = _free_names(body)
    return f"def {entry_point}({', '.join(params)}):" if params else f"def {entry_point}(*args, **kwargs):"


def _body_candidates(entry_point: str, problem: str, body: str) -> list[str]:
    """``body`` as the entry point's body: under the problem's signature, and, when the body
    reads other names than its parameters, under a signature of those names, in order of use."""
    signatures = [_signature(entry_point, problem, body)]
    free = _free_names(body)
    parsed = _parse(signatures[0] + "\n    pass\n")
    params = {a.arg for a in ast.walk(parsed) if isinstance(a, ast.arg)} if parsed is not None else set()
    if free and not set(free) <= params:
        signatures.append(f"def {entry_point}({', '.join(free)}):")
    # The problem's signature may use typing's names (List, Optional) without importing them.
    return [f"from typing import *\n\n{signature}\n{textwrap.indent(body, '    ')}\n" for signature in signatures]


def _free_names(body: str) -> list[str]:
    """Names a function body reads but never binds, builtins and imports aside (its parameters)."""
    import builtins

    tree = _parse("def _f():\n" + textwrap.indent(body, "    "))
    if tree is None:
        return []
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
    loads = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    loads.sort(key=lambda n: (n.lineno, n.col_offset))
    free = [n.id for n in loads if n.id not in bound and not hasattr(builtins, n.id)]
    return list(dict.fromkeys(free))


def _forward(entry_point: str, call: str) -> str:
    """A ``def`` of the entry point that forwards to ``call`` (the benchmarks' program assembly
    looks for a definition of the entry point, not an alias)."""
    return f"\n\ndef {entry_point}(*args, **kwargs):\n    return {call}(*args, **kwargs)\n"


def _candidates_from(code: str, entry_point: str, problem: str) -> list[str]:
    module = _parse(code)
    if module is None:
        body = _parse("def _f():\n" + textwrap.indent(code, "    "))
        if body is None or not _solution_like(body.body[0].body):  # type: ignore[attr-defined]
            return []
        return _body_candidates(entry_point, problem, code)
    found: list[str] = []
    if len(module.body) == 1 and isinstance(module.body[0], ast.Expr) and not isinstance(module.body[0].value, ast.Lambda):
        # One expression that reads names ("[e + 1 for e in l]"): what the function returns.
        if _free_names("return " + code) and not isinstance(module.body[0].value, ast.Name | ast.Constant | ast.Attribute):
            return _body_candidates(entry_point, problem, "return " + code.strip())
        return []
    if not _solution_like(module.body):
        return []
    defined = {n.name for n in module.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    imports = "\n".join(ast.get_source_segment(code, n) or "" for n in module.body if isinstance(n, ast.Import | ast.ImportFrom))
    extra_lines = any(not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom)
                      for n in module.body)
    if entry_point in defined:
        found.append(code)
    for node in module.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name != entry_point:
                found.append(code + _forward(entry_point, node.name))
            if extra_lines:
                # The definition alone: a core copies the function, not a line after it that breaks it.
                alone = f"{imports}\n\n{ast.get_source_segment(code, node)}\n"
                found.append(alone if node.name == entry_point else alone + _forward(entry_point, node.name))
        elif isinstance(node, ast.ClassDef) and node.name != entry_point:
            found.append(f"{code}\n\n{entry_point} = {node.name}\n")
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and not item.name.startswith("__"):
                    found.append(code + _forward(entry_point, f"{node.name}().{item.name}"))
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
            lam = ast.get_source_segment(code, node.value)
            found.append(_forward(entry_point, f"({lam})").lstrip("\n"))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Lambda):
            found.append(_forward(entry_point, f"({ast.get_source_segment(code, node.value)})").lstrip("\n"))
    if not defined and not found:
        # Top-level statements with no definition: the body of the entry point.
        found.extend(_body_candidates(entry_point, problem, code))
    return found


def code_candidates(strategy: str, entry_point: str | None, problem: str = "") -> list[tuple[str, LeakFinding]]:
    """Candidate solutions for ``entry_point`` built from the code in ``strategy``: each as the
    Python source a core would answer with, and the finding that names where it came from. With
    no entry point, only complete definitions are candidates. At most 12, longest span first."""
    found: dict[str, LeakFinding] = {}
    spans = sorted(_code_spans(strategy), key=lambda s: (s[0] - s[1], s[0]))
    for start, end, code in spans:
        code = textwrap.dedent(code).strip("\n")
        if not code.strip():
            continue
        if entry_point is None:
            module = _parse(code)
            pieces = [code] if module is not None and any(
                isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) for n in module.body) else []
        else:
            pieces = _candidates_from(code, entry_point, problem)
        for piece in pieces:
            if piece not in found:
                detail = f"code in the strategy passes the hidden tests as {entry_point or 'the solution'}"
                found[piece] = LeakFinding("code.candidate", detail, (start, end), strategy[start:end].strip()[:200])
    return list(found.items())[:_MAX_CANDIDATES]
