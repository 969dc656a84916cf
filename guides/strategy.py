"""The guide's output format, a deterministic checker for it, and a cheap leakage check.

A guide answers with (optional) reasoning, then exactly one strategy block::

    <think> ...free-form reasoning... </think>
    <strategy>
    1. ...
    2. ...
    </strategy>

:func:`parse_guide_output` decides whether an output is well-formed (``valid``, the paper's
I_str) and extracts the strategy. The rules:

* Reasoning is Qwen3-style: the text may start with ``<think>...</think>``, or with only
  ``</think>`` (the chat template already opened the block, so everything before the first
  ``</think>`` is reasoning), or the reasoning may come from a separate channel (``reasoning=``,
  e.g. Inspect's ``ContentReasoning``). Anything inside a think block is reasoning only: a
  ``<strategy>`` written there does not count. A ``<think>`` that is never closed makes the
  output invalid.
* Outside the reasoning there must be exactly one ``<strategy>`` followed by one
  ``</strategy>`` (tags are matched case-insensitively), not nested. Prose around the block is
  allowed and ignored.
* The strategy (the block's content, stripped) must be non-empty and at most
  ``max_strategy_tokens`` tokens long.

Tokens are counted by :func:`approx_token_count` unless the caller passes a real tokenizer's
count (``count_tokens=lambda s: len(tok.encode(s, add_special_tokens=False))``).

:func:`strategy_leaks` is a cheap check that a strategy gives the answer away: the gold number
for math, a whole implementation of the entry point for code.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = [
    "DEFAULT_MAX_STRATEGY_TOKENS",
    "ParsedStrategy",
    "approx_token_count",
    "format_strategy",
    "leak_reason",
    "parse_guide_output",
    "strategy_leaks",
]

DEFAULT_MAX_STRATEGY_TOKENS = 512

# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------

_THINK_TAG = re.compile(r"<think\b[^>]*>|</think\s*>", re.IGNORECASE)
_STRATEGY_TAG = re.compile(r"<strategy>|</strategy>", re.IGNORECASE)

# Letter runs, single digits (Qwen-family tokenizers split numbers into digits) and single
# non-space symbols.
_TOKEN_PIECE = re.compile(r"[^\W\d_]+|\d|[^\w\s]|_+")


def approx_token_count(text: str) -> int:
    """A deterministic, offline stand-in for a tokenizer's count.

    One token per run of letters (a word), per digit and per punctuation/symbol character;
    whitespace is free. Real BPE tokenizers give English prose about 1.2-1.4 tokens per word, so
    this undercounts long or rare words somewhat; pass a real tokenizer's count to
    :func:`parse_guide_output` where the exact budget matters (e.g. training).
    """
    return len(_TOKEN_PIECE.findall(text))


@dataclass(frozen=True)
class ParsedStrategy:
    """A checked guide output.

    ``raw`` is the guide's output text as given; ``reasoning`` the think content (from the text or
    the separate reasoning channel, None when there was none); ``strategy`` the stripped content of
    the strategy block (None when no single block could be found; set, but not valid, when it is
    over budget); ``valid`` is I_str; ``reason`` says why it is invalid ("" when valid).
    """

    raw: str
    reasoning: str | None
    strategy: str | None
    valid: bool
    reason: str
    strategy_tokens: int

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain (JSON-serialisable) dict."""
        return asdict(self)


def _split_reasoning(text: str) -> tuple[str, list[str], bool]:
    """Split ``text`` into (text outside think blocks, think contents, think left open)."""
    outside: list[str] = []
    thoughts: list[str] = []
    tags = list(_THINK_TAG.finditer(text))
    pos = 0
    depth = 0
    think_start = 0
    if tags and tags[0].group(0).startswith("</"):
        # The chat template opened the think block: everything before the first </think> is reasoning.
        thoughts.append(text[: tags[0].start()])
        pos = tags[0].end()
        tags = tags[1:]
    for tag in tags:
        closing = tag.group(0).startswith("</")
        if not closing:
            if depth == 0:
                outside.append(text[pos : tag.start()])
                think_start = tag.end()
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                thoughts.append(text[think_start : tag.start()])
                pos = tag.end()
        else:
            # A stray </think> after the reasoning: drop the tag, keep the text around it.
            outside.append(text[pos : tag.start()])
            pos = tag.end()
    if depth > 0:
        thoughts.append(text[think_start:])
        return "".join(outside), thoughts, True
    outside.append(text[pos:])
    return "".join(outside), thoughts, False


def _strategy_block(answer: str) -> tuple[str | None, str]:
    """The single strategy block's raw content in ``answer``, or (None, why not)."""
    tags = list(_STRATEGY_TAG.finditer(answer))
    opens = [t for t in tags if not t.group(0).startswith("</")]
    closes = [t for t in tags if t.group(0).startswith("</")]
    if not tags:
        return None, "no <strategy> tag"
    depth = 0
    blocks = 0
    nested = False
    stray_close = False
    for tag in tags:
        if not tag.group(0).startswith("</"):
            nested = nested or depth > 0
            depth += 1
        elif depth == 0:
            stray_close = True
        else:
            depth -= 1
            if depth == 0:
                blocks += 1
    if nested:
        return None, "nested <strategy> tags"
    if len(opens) == 1 and len(closes) == 1 and closes[0].start() < opens[0].start():
        return None, "reversed tags: </strategy> before <strategy>"
    if not opens:
        return None, "</strategy> without <strategy>"
    if not closes:
        return None, "unclosed <strategy>" if len(opens) == 1 else f"{len(opens)} <strategy> tags, none closed"
    if blocks > 1 and len(opens) == len(closes) and not stray_close:
        return None, f"{blocks} strategy blocks"
    if len(opens) != 1 or len(closes) != 1 or stray_close or depth:
        return None, f"unbalanced strategy tags ({len(opens)} <strategy>, {len(closes)} </strategy>)"
    return answer[opens[0].end() : closes[0].start()], ""


def parse_guide_output(
    text: str,
    *,
    reasoning: str | None = None,
    max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS,
    count_tokens: Callable[[str], int] | None = None,
) -> ParsedStrategy:
    """Check a guide's output and extract its strategy (see the module docstring for the rules).

    ``reasoning`` is reasoning that arrived on a separate channel (it is combined with any think
    block in ``text``). ``count_tokens`` defaults to :func:`approx_token_count`.
    """
    count = count_tokens or approx_token_count
    body = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    answer, thoughts, think_open = _split_reasoning(body)
    parts = [r.strip() for r in ([reasoning] if reasoning else []) + thoughts]
    combined = "\n\n".join(p for p in parts if p) or None

    def result(strategy: str | None, valid: bool, reason: str, tokens: int = 0) -> ParsedStrategy:
        return ParsedStrategy(raw=text, reasoning=combined, strategy=strategy, valid=valid, reason=reason,
                              strategy_tokens=tokens)

    if think_open:
        return result(None, False, "unclosed <think>")
    content, why = _strategy_block(answer)
    if content is None:
        if why == "no <strategy> tag" and any(_STRATEGY_TAG.search(t) for t in thoughts):
            why = "no <strategy> tag outside <think>"
        return result(None, False, why)
    strategy = content.strip()
    if not strategy:
        return result(None, False, "empty strategy")
    tokens = int(count(strategy))
    if tokens > max_strategy_tokens:
        return result(strategy, False, f"strategy has {tokens} tokens, budget {max_strategy_tokens}", tokens)
    return result(strategy, True, "", tokens)


def format_strategy(strategy: str) -> str:
    """The canonical strategy block, ``<strategy>\\n...\\n</strategy>`` (e.g. for SFT targets).

    Raises ``ValueError`` for an empty strategy or one containing strategy tags (it would not
    parse back).
    """
    body = strategy.strip()
    if not body:
        raise ValueError("empty strategy")
    if _STRATEGY_TAG.search(body):
        raise ValueError("strategy text contains <strategy> tags")
    return f"<strategy>\n{body}\n</strategy>"


# ---------------------------------------------------------------------------------------------
# Leakage
# ---------------------------------------------------------------------------------------------

_DEF_START = r"(?<!\w)(?:async[ \t]+)?(?:def|class)[ \t]+{name}\b"


def _trivial_statement(node: ast.stmt) -> bool:
    """A docstring, ``pass``, ``...`` or ``raise NotImplementedError``: not an implementation."""
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return isinstance(node.value.value, str) or node.value.value is Ellipsis
    if isinstance(node, ast.Raise) and node.exc is not None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def _implements(node: ast.AST) -> bool:
    """A function (or class with a method) whose body does something beyond a stub."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return any(not _trivial_statement(stmt) for stmt in node.body)
    if isinstance(node, ast.ClassDef):
        return any(_implements(stmt) for stmt in node.body)
    return False


def _parse_prefix(lines: list[str]) -> ast.Module | None:
    """The longest leading run of ``lines`` that parses as Python (dedented), if any."""
    for end in range(len(lines), 0, -1):
        try:
            return ast.parse(textwrap.dedent("\n".join(lines[:end])))
        except Exception:  # noqa: BLE001 - SyntaxError, ValueError (NUL bytes), RecursionError...
            continue
    return None


def _implementation_of(strategy: str, entry_point: str | None) -> str | None:
    """The name of a definition in ``strategy`` with a non-trivial body (``entry_point``'s, or any)."""
    name = re.escape(entry_point) if entry_point else r"\w+"
    start = re.compile(_DEF_START.format(name=name))
    lines = strategy.replace("\r\n", "\n").split("\n")
    for i, line in enumerate(lines):
        match = start.search(line)
        if match is None:
            continue
        head = line[match.start() :]
        # Inline code ("use `def f(x): return x`") ends at the closing backtick; prose may end it
        # with a full stop.
        inline = head.split("`", 1)[0].rstrip()
        indent = len(line) - len(line.lstrip())
        body = _following_block(lines[i + 1 :], indent)
        for first in dict.fromkeys([head, inline, inline.rstrip(".,; ")]):
            module = _parse_prefix([" " * indent + first, *body])
            if module is None:
                continue
            for node in module.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and (
                    entry_point is None or node.name == entry_point
                ) and _implements(node):
                    return node.name
    return None


def _following_block(lines: list[str], indent: int) -> list[str]:
    """Lines after a ``def`` line that belong to its body: blank or indented deeper."""
    block: list[str] = []
    for line in lines:
        if line.strip() and (len(line) - len(line.lstrip())) <= indent:
            break
        if line.strip().startswith("```"):
            break
        block.append(line)
    return block


def leak_reason(
    strategy: str,
    *,
    domain: Literal["math", "code"],
    gold_answer: str | None = None,
    entry_point: str | None = None,
    problem: str = "",
) -> str | None:
    """Why ``strategy`` gives the answer away, or None when this text-only check finds no leak.

    * math: :func:`gcop.guides.leaks.math_leak`: the gold value in any notation (digits with
      separators, decimals, fractions, percentages, scientific notation, number words) or as an
      arithmetic expression in symbols or words; a quantity the ``problem`` states may be
      restated. Line-start step numbers are ignored. No gold: no leak.
    * code: a definition of ``entry_point`` (any function or class when it is None) that parses
      and has a body beyond a docstring/``pass``/``...``/``raise NotImplementedError``. This is
      the text-only approximation; the check that rewards and tasks use
      (:func:`gcop.evals.leaks.check_leak`) runs every piece of code as a candidate in the sandbox.
    """
    if domain == "math":
        if gold_answer is None or not str(gold_answer).strip():
            return None
        from .leaks import math_leak  # here: its patterns take 20 ms to compile, which `gcop verify` never needs

        found = math_leak(strategy, gold_answer, problem)
        return None if found is None else found.describe()
    if domain == "code":
        name = _implementation_of(strategy, entry_point)
        if name is not None:
            return f"strategy contains an implementation of {name}"
        return None
    raise ValueError(f"domain must be 'math' or 'code', got {domain!r}")


def strategy_leaks(
    strategy: str,
    *,
    domain: Literal["math", "code"],
    gold_answer: str | None = None,
    entry_point: str | None = None,
    problem: str = "",
) -> bool:
    """Whether ``strategy`` gives the answer away (see :func:`leak_reason` for the rules)."""
    return leak_reason(strategy, domain=domain, gold_answer=gold_answer, entry_point=entry_point,
                       problem=problem) is not None
