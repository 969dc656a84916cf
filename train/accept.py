"""ExecTune stage 1: teacher-guided acceptance sampling of guide outputs for SFT.

For each training problem ``x`` (with its reference solution ``y``):

1. The **teacher** reads ``(x, y)`` and writes a guide output, ``<think>..</think>`` then
   ``<strategy>..</strategy>`` (:func:`teacher_messages`, :data:`TEACHER_PROMPT_VERSION`): a plan
   for the core that must not give away the final answer or the code.
2. The output is checked with :func:`gcop.guides.strategy.parse_guide_output` (the guide's own
   I_str, same strategy budget) and, unless ``reject_leaks`` is off, with the leak check of GRPO's
   rewards (:func:`gcop.evals.leaks.check_leak`: the gold value in any notation or as an expression;
   code in the strategy run as candidate solutions in the sandbox). A malformed or leaking output
   is sent back to the teacher with the reason; it counts as a round.
3. The **core** executes the strategy ``K`` times (:func:`gcop.evals.prompts.core_messages` with the
   strategy, the core's sampling config), concurrently, and each response is scored by the
   evals' own judge (:func:`gcop.evals.scorers.judge_response`: the math judge, or the unit tests in
   the sandbox). ``q_K = successes / K``.
4. ``q_K >= tau``: accepted, the problem is done. Otherwise the teacher gets feedback (its
   strategy's score and the core's failing answers with the verdicts' reasons, truncated) and
   refines, in the same conversation. ``rounds`` (R) bounds the teacher rounds per problem: the
   first proposal plus up to ``R - 1`` refinements. A problem with no accepted strategy after
   ``R`` rounds is *rejected*.

Outputs (in ``out_dir``):

* ``corpus.jsonl`` -- the SFT corpus, one line per accepted problem, in data set order:
  ``id``, ``benchmark``, ``problem`` (the text the guide sees), ``guide_output`` (canonical
  ``<think>\\n..\\n</think>\\n<strategy>\\n..\\n</strategy>``), ``strategy``, ``q_K``, ``round``,
  ``teacher``, ``core``, ``prompt_version`` (the guide prompt the SFT pairs it with). It is what
  ``gcop.train.sft.load_corpus`` reads.
* ``state.jsonl`` -- one line per finished problem (accepted / rejected / error) with every
  round's outcome; the source of truth. Each line is written and fsynced when its problem
  finishes (:class:`gcop.durable.LineAppender`), so a crash, ``kill -9`` included, loses at most
  the problems in flight; a line torn by the crash is cut off before the next one is written.
  ``corpus.jsonl`` and ``stats.json`` are rebuilt from it at the end of every run (also after a
  budget stop or Ctrl-C), each replaced atomically. Re-running the same command skips finished
  problems; ``error`` problems are retried.
* ``stats.json`` -- counts, per-round acceptance, the acceptance-rate estimates with Hoeffding
  lower bounds, the guarantee below, q_K summary, cost.
* ``ledger.json`` -- tokens and $ per phase (``teacher``, ``core``), accumulated over all runs
  in this folder; ``--budget-usd`` caps that total (:class:`gcop.train.ledger.CostLedger`). It sums
  ``ledger.jsonl``, the journal that gets one fsynced row per call as the call returns, so the
  calls of problems in flight at a crash are counted (they were paid for) and none twice.
* ``run.json`` -- the settings the corpus depends on; a re-run with different ones is refused.

The guarantee
-------------
For a strategy ``s`` with true success probability ``q(s)`` (over the core's sampling), ``q_K``
is a mean of ``K`` independent Bernoulli(q(s)) draws, so by Hoeffding
``P(q_K >= tau | q(s) < tau - eta) <= exp(-2 K eta^2)``. With ``A`` the probability that a
proposal is accepted, ``P(q(s) < tau - eta | accepted) <= exp(-2 K eta^2) / A``, hence::

    E[q(s) | accepted] >= (tau - eta) * (1 - exp(-2 K eta^2) / A)

(clamped at 0; vacuous when ``A <= exp(-2 K eta^2)``, and reported as meaningful only when
``exp(-2 K eta^2) <= A_s - epsilon``, the lower bound below; otherwise the summary says VACUOUS
and names the K, or the eta, that would make it hold: :func:`nonvacuous_settings`). ``A`` is estimated by
``A_s = accepted / attempted``. *Overall*, the attempted units are all proposals (teacher
rounds, malformed ones included) over all problems: each corpus line is the one accepted
proposal of its problem, so this is the rate the bound needs when refinements are allowed
(with ``R = 1`` it equals the problem-level rate, which stats.json also reports). *Per
problem*, ``A_s = 1 / round`` for a problem accepted at ``round`` (one accepted proposal out of
``round``). Replacing ``A_s`` by its Hoeffding lower bound
``A_s - sqrt(ln(1/delta) / (2 n))`` (``n`` attempted units) makes the statement hold with
probability at least ``1 - delta`` (the bound is increasing in ``A``). Caveat: proposals of the
same problem are not independent draws, so the overall lower bound is a heuristic there.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageSystem, ChatMessageUser, GenerateConfig, Model

from gcop.costs import apply_prices
from gcop.durable import LineAppender, read_jsonl_tolerant, write_atomic
from gcop.evals.benchmarks import benchmark_names, get_benchmark, load_problems
from gcop.evals.leaks import LeakCheckError, check_leak
from gcop.evals.prompts import CORE_PROMPT_VERSION, DEFAULT_MAX_CORE_TOKENS, core_messages
from gcop.evals.scorers import judge_response
from gcop.guides.prompts import GUIDE_PROMPT_VERSION
from gcop.guides.solver import reasoning_text
from gcop.guides.strategy import DEFAULT_MAX_STRATEGY_TOKENS, format_strategy, parse_guide_output
from gcop.inspect_models import generate_output, get_model, run_sync
from gcop.lifecycle import default_model
from gcop.preflight import preflight
from gcop.sandbox.executors import make_executor
from gcop.sandbox.protocol import Status

from .accept_stats import FINISHED, acceptance_bounds, compute_stats, guarantee, hoeffding_lcb, nonvacuous_settings
from .ledger import LEDGER_FILE, BudgetExceeded, CostLedger
from .offline_models import OFFLINE_MODELS, offline_model
from .rewards import problem_info

log = logging.getLogger(__name__)

__all__ = [
    "ACCEPT_VERSION",
    "TEACHER_PROMPT_VERSION",
    "AcceptConfig",
    "AcceptResult",
    "AcceptSettingsMismatch",
    "AcceptSetupError",
    "acceptance_bounds",
    "accept_async",
    "canonical_guide_output",
    "compute_stats",
    "config_from_mapping",
    "guarantee",
    "hoeffding_lcb",
    "load_state",
    "nonvacuous_settings",
    "run_acceptance",
    "teacher_messages",
]

ACCEPT_VERSION = "accept-v1"
TEACHER_PROMPT_VERSION = "teacher-v1"

CORPUS_FILE = "corpus.jsonl"
STATE_FILE = "state.jsonl"
STATS_FILE = "stats.json"
RUN_FILE = "run.json"


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------


@dataclass
class AcceptConfig:
    """Settings of an acceptance-sampling run (see the module docstring)."""

    benchmark: str = "gsm8k"
    #: train | test | all
    split: str = "train"
    #: Inspect model specs (or :class:`~inspect_ai.model.Model` instances). ``mockllm/teacher``
    #: and ``mockllm/reference`` / ``strategy_gated`` / ``wrong`` are offline stand-ins.
    teacher: str | Model = field(default_factory=lambda: default_model("teacher"))
    core: str | Model = field(default_factory=lambda: default_model("core"))
    #: Core executions per strategy.
    k: int = 4
    #: Acceptance threshold on q_K.
    tau: float = 0.75
    #: Teacher rounds per problem (first proposal + up to rounds-1 refinements).
    rounds: int = 2
    #: First N problems of the split (None: all).
    limit: int | None = None
    out_dir: str | os.PathLike[str] = "accept_out"
    #: Problems in flight at once.
    concurrency: int = 8
    #: Model calls (teacher and core) in flight at once; None: concurrency * k.
    max_calls: int | None = None
    #: Stop starting calls once the ledger's total (all runs in out_dir) reaches this.
    budget_usd: float | None = None
    #: Sandbox for code: docker | local.
    executor: str = "docker"
    workers: int = 2
    data_dir: str | None = None
    #: The guarantee's slack and the Hoeffding bounds' confidence 1 - delta.
    eta: float = 0.1
    delta: float = 0.05
    max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS
    #: GenerateConfig fields for the teacher's and the core's calls (core: as the evals, i.e.
    #: provider defaults, unless set).
    teacher_config: dict[str, Any] = field(default_factory=dict)
    core_config: dict[str, Any] = field(default_factory=dict)
    #: Extra Inspect model args (e.g. {"max_retries": 0} for the anthropic SDK).
    teacher_args: dict[str, Any] = field(default_factory=dict)
    core_args: dict[str, Any] = field(default_factory=dict)
    #: Inspect retries and per-call timeout (s).
    max_retries: int | None = None
    timeout: int | None = None
    #: Send a strategy that fails the leak check back to the teacher (counts as a round).
    reject_leaks: bool = True
    #: Count code verdicts judged with the solution inside the judge's process (forgeable). Off:
    #: such a problem ends as an error, never as accepted.
    allow_in_process_verdicts: bool = False
    #: Feedback: at most this many failing answers, each cut to this many characters.
    feedback_failures: int = 2
    feedback_chars: int = 1500
    #: Before the first problem, one short call to each remote model whose API key is set (so a
    #: misspelt or unserved name fails at once); the names are checked in any case.
    preflight_calls: bool = True
    #: Stop the run after this many problems in a row end in error (None: never).
    max_consecutive_errors: int | None = 25
    progress: bool = True

    def validate(self) -> None:

        problems = []
        if self.benchmark not in benchmark_names():
            problems.append(f"benchmark must be one of {list(benchmark_names())}")
        if self.split not in ("train", "test", "all"):
            problems.append("split must be train, test or all")
        if self.k < 1:
            problems.append("K must be >= 1")
        if not 0 < self.tau <= 1:
            problems.append("tau must be in (0, 1]")
        if self.rounds < 1:
            problems.append("rounds (R) must be >= 1")
        if self.limit is not None and self.limit < 1:
            problems.append("limit must be >= 1")
        if self.concurrency < 1 or (self.max_calls is not None and self.max_calls < 1) or self.workers < 1:
            problems.append("concurrency, max_calls and workers must be >= 1")
        if self.budget_usd is not None and not self.budget_usd >= 0:
            problems.append("budget_usd must be >= 0")
        if self.executor not in ("docker", "local"):
            problems.append("executor must be docker or local")
        if not 0 < self.eta < 1 or not 0 < self.delta < 1:
            problems.append("eta and delta must be in (0, 1)")
        if self.max_strategy_tokens < 1 or self.feedback_failures < 0 or self.feedback_chars < 1:
            problems.append("max_strategy_tokens and feedback_chars must be >= 1, feedback_failures >= 0")
        for name in ("teacher_config", "core_config"):
            unknown = set(getattr(self, name)) - set(GenerateConfig.model_fields)
            if unknown:
                problems.append(f"{name}: unknown GenerateConfig field(s) {sorted(unknown)}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def domain(self) -> str:

        return get_benchmark(self.benchmark).domain

    @property
    def sandboxed(self) -> bool:

        return get_benchmark(self.benchmark).sandboxed

    def model_name(self, which: str) -> str:
        spec = getattr(self, which)
        return spec if isinstance(spec, str) else str(spec)

    def fingerprint(self) -> dict[str, Any]:
        """The settings the corpus depends on (``run.json``); a resumed run must match them."""

        return {
            "accept_version": ACCEPT_VERSION, "teacher_prompt_version": TEACHER_PROMPT_VERSION,
            "guide_prompt_version": GUIDE_PROMPT_VERSION, "core_prompt_version": CORE_PROMPT_VERSION,
            "benchmark": self.benchmark, "split": self.split, "teacher": self.model_name("teacher"),
            "core": self.model_name("core"), "k": self.k, "tau": self.tau, "rounds": self.rounds,
            "max_strategy_tokens": self.max_strategy_tokens, "reject_leaks": self.reject_leaks,
            "teacher_config": dict(self.teacher_config), "core_config": dict(self.core_config),
        }


class AcceptSettingsMismatch(ValueError):
    """``out_dir`` holds a run made with other settings (see ``run.json``)."""


class AcceptSetupError(ValueError):
    """The run cannot start (e.g. a model cannot be made: no API key)."""


def _plain(exc: BaseException) -> str:
    """An exception's message without rich markup (Inspect's PrerequisiteError has some)."""
    return re.sub(r"\[/?[a-z ]+\]", "", str(exc)).strip()


# ---------------------------------------------------------------------------------------------
# The teacher's prompt
# ---------------------------------------------------------------------------------------------

_TEACHER_FORMAT = (
    "Answer in exactly this format and nothing else:\n"
    "<think>\nyour reasoning, as a planner working the problem out for itself\n</think>\n"
    "<strategy>\n1. ...\n2. ...\n</strategy>\n\n"
    "Write exactly one <strategy> block of at most {max_strategy_tokens} tokens. Only the strategy "
    "is shown to the solver. In the reasoning, do not mention the reference solution or that you "
    "were given one: the planner that learns from your answer will never see one."
)

_TEACHER_SYSTEM: dict[str, str] = {
    "math": (
        "You write training examples for a planning guide. A weaker solver model will receive a "
        "grade-school math word problem together with your strategy and must solve the problem by "
        "following it. You are shown the problem and a reference solution, so you know how it is "
        "solved; turn that knowledge into a plan the solver can carry out reliably, without doing "
        "the work for it.\n\n"
        "Rules for the strategy:\n"
        "- Never state the final answer. Do not give the results of the calculations either: say "
        "what to compute, from which quantities and in which order, and leave the arithmetic to "
        "the solver.\n"
        "- Make each step concrete: which quantities to combine and how (add, multiply, a "
        "percentage of which amount), the units, and the traps in this problem (what exactly is "
        "asked, rate versus total, percent of what).\n"
        "- End with a check the solver should make before answering.\n"
        "- Be brief: short numbered steps.\n\n" + _TEACHER_FORMAT
    ),
    "code": (
        "You write training examples for a planning guide. A weaker solver model will receive a "
        "Python programming task together with your strategy and must write the solution by "
        "following it. You are shown the task and a reference solution, so you know what works; "
        "turn that knowledge into a plan the solver can carry out reliably, without writing the "
        "code for it.\n\n"
        "Rules for the strategy:\n"
        "- No implementation: no code blocks, no function bodies, no complete lines of the "
        "solution. Naming a function, a data structure, an algorithm or a library call is fine.\n"
        "- Describe the approach step by step: how to represent the input, the algorithm, and the "
        "edge cases the tests are likely to check (empty input, duplicates, negative numbers, "
        "boundaries, the exceptions or return types the task requires).\n"
        "- Remind the solver to keep the exact function name and signature the task asks for.\n"
        "- Be brief: short numbered steps.\n\n" + _TEACHER_FORMAT
    ),
}

_TEACHER_USER: dict[str, str] = {
    "math": (
        "Problem:\n{problem}\n\n"
        "Reference solution (for you only; the solver never sees it):\n{reference}\n\n"
        "Write the guide output: reasoning inside <think></think>, then the solver's plan inside "
        "<strategy></strategy>. Do not give the answer."
    ),
    "code": (
        "Task:\n{problem}\n\n"
        "Reference solution (for you only; the solver never sees it):\n{reference}\n\n"
        "Write the guide output: reasoning inside <think></think>, then the solver's plan inside "
        "<strategy></strategy>. Do not write the code."
    ),
}


def teacher_messages(domain: str, problem: str, reference: str, max_strategy_tokens: int = DEFAULT_MAX_STRATEGY_TOKENS) -> list[ChatMessage]:
    """The teacher's first input for one problem (:data:`TEACHER_PROMPT_VERSION`)."""
    if domain not in _TEACHER_SYSTEM:
        raise ValueError(f"domain must be 'math' or 'code', got {domain!r}")
    budget = str(max_strategy_tokens)
    system = _TEACHER_SYSTEM[domain].replace("{max_strategy_tokens}", budget)
    # str.replace in this order: nothing inside the problem or the reference is substituted.
    user = _TEACHER_USER[domain].replace("{reference}", "\x00REF\x00").replace("{problem}", problem.strip())
    user = user.replace("\x00REF\x00", reference.strip())
    return [ChatMessageSystem(content=system), ChatMessageUser(content=user)]


def _cut(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, keeping its head and its tail (final answers
    come last, signatures first)."""
    text = (text or "").strip()
    if len(text) <= limit:
        return text
    head = max(1, limit * 2 // 5)
    tail = max(1, limit - head)
    return f"{text[:head]}\n[... {len(text) - head - tail} characters cut ...]\n{text[-tail:]}"


def _format_feedback(reason: str) -> str:
    return (
        f"Your reply could not be used: {reason}. Answer again in exactly the required format: "
        "reasoning inside <think></think>, then one <strategy></strategy> block with the plan."
    )


def _leak_feedback(reason: str, domain: str) -> str:
    what = "the final answer (or a number equal to it)" if domain == "math" else "an implementation of the solution"
    return (
        f"Your strategy gives the solution away ({reason}). Rewrite it without {what}: the solver "
        "must do that part itself. Same format: <think></think>, then <strategy></strategy>."
    )


def _failure_feedback(successes: int, k: int, tau: float, failures: Sequence[dict[str, Any]],
                      max_failures: int, max_chars: int, domain: str) -> str:
    lines = [
        f"The solver followed your strategy {k} time(s) and succeeded {successes} time(s) "
        f"(q = {successes}/{k}); a strategy is accepted when q >= {tau:g}."
    ]
    shown = list(failures)[:max_failures]
    if shown:
        lines.append("What went wrong in failing attempts:")
        for i, failure in enumerate(shown, start=1):
            block = [f"--- failing attempt {i}: {failure['status']}: {_cut(failure['reason'], 300)}"]
            if failure.get("output"):
                block.append(f"test output (end):\n{_cut(failure['output'], 600)}")
            block.append(f"solver's answer:\n{_cut(failure['response'], max_chars)}")
            lines.append("\n".join(block))
    rule = "no final answer" if domain == "math" else "no code"
    lines.append(
        "Revise the strategy so that the solver succeeds reliably: make the steps it got wrong "
        f"explicit and fix whatever in the plan misled it. The same rules apply ({rule}). Answer "
        "in the same format: <think></think>, then <strategy></strategy>."
    )
    return "\n\n".join(lines)


_TAGS = re.compile(r"</?\s*(?:think|strategy)\b[^>]*>", re.IGNORECASE)


def canonical_guide_output(reasoning: str | None, strategy: str) -> str:
    """``<think>\\n{reasoning}\\n</think>\\n<strategy>\\n{strategy}\\n</strategy>`` (tags inside the
    reasoning are removed so that it parses back to the same strategy)."""

    think = _TAGS.sub("", reasoning or "").strip()
    return f"<think>\n{think}\n</think>\n{format_strategy(strategy)}"


# ---------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------


def load_state(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The latest record per problem id in a state file (unreadable lines are skipped)."""
    path = Path(path)
    records: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return records

    lines, _ = read_jsonl_tolerant(path, what="state line")  # bad lines are logged there, by file and line
    for number, record in lines:
        if "id" not in record:
            log.warning("%s:%d: id: missing; state line skipped", path, number)
            continue
        pid = str(record["id"])
        records.pop(pid, None)  # keep the file's order of latest records
        records[pid] = record
    return records


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


@dataclass
class AcceptResult:
    out_dir: Path
    corpus_path: Path
    stats_path: Path
    state_path: Path
    ledger_path: Path
    stats: dict[str, Any]
    #: None (all selected problems were tried), "budget", "errors" or "interrupted".
    stopped: str | None
    #: This run: problems skipped as already finished, and outcomes of the ones tried.
    skipped: int
    this_run: dict[str, int]

    def format(self) -> str:
        s = self.stats
        p = s["problems"]
        a = s["acceptance_problems"]
        ap = s["acceptance_proposals"]
        g = s["guarantee"]

        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{100 * x:.1f}%"

        lines = [
            f"acceptance sampling ({s['settings']['benchmark']}/{s['settings']['split']}, teacher "
            f"{s['settings']['teacher']}, core {s['settings']['core']}, K={g['K']}, tau={g['tau']:g}, "
            f"R={s['settings']['rounds']})",
            f"  this run: {self.this_run.get('accepted', 0)} accepted, {self.this_run.get('rejected', 0)} rejected, "
            f"{self.this_run.get('error', 0)} error; {self.skipped} already done"
            + (f"; STOPPED ({self.stopped})" if self.stopped else ""),
            f"  all runs: {p['accepted']}/{p['finished']} problems accepted ({pct(a['rate'])}, "
            f"lower bound {pct(a['rate_lcb'])} at {100 * (1 - g['delta']):.0f}%), {p['error']} error(s) to retry",
            "  per round: " + ", ".join(
                f"r{r['round']} {r['accepted']}/{r['proposals']}" for r in s["per_round"] if r["proposals"]),
            f"  per proposal: A = {pct(ap['rate'])} (lower bound {pct(ap['rate_lcb'])}); "
            f"q_K of the accepted: mean {_accepted_mean(s)}",
            "  " + _bound_line(g),
            f"  cost: ${s['cost']['total_usd']:.4f}"
            + (f" of ${s['cost']['budget_usd']:g} budget" if s['cost'].get('budget_usd') is not None else "")
            + "  (" + ", ".join(f"{name} ${ph['cost_usd']:.4f}/{ph['calls']} calls"
                                for name, ph in s["cost"]["phases"].items()) + ")",
            f"  corpus: {self.corpus_path}  stats: {self.stats_path}",
        ]
        return "\n".join(lines)


def _accepted_mean(stats: Mapping[str, Any]) -> str:
    mean = stats["q_K"]["accepted_mean"]
    return "n/a" if mean is None else f"{mean:.3f}"


def _bound_line(g: Mapping[str, Any]) -> str:
    """The Theorem-2 bound, with what it needs to mean something (see :func:`nonvacuous_settings`)."""
    nv = g.get("nonvacuous") or {}
    bound = (f"bound E[q | accepted] >= {g['overall']:.3f} (>= {g['overall_lcb']:.3f} w.p. >= {1 - g['delta']:.2f}) "
             f"at K={g['K']}, eta={g['eta']:g}")
    if nv.get("meaningful"):
        return bound + f": meaningful (exp(-2*K*eta^2) = {nv['hoeffding_term']:.3f} <= A's lower bound {nv['rate_lcb']:.3f})"
    if nv.get("k_needed") is None:
        return (bound + ": VACUOUS, and no K makes it hold: the acceptance rate's lower bound is 0 "
                "(more problems, or a higher acceptance rate, are needed)")
    eta_part = f" or eta >= {nv['eta_needed']:.3f} at K={g['K']}" if nv.get("eta_needed") is not None else ""
    return (bound + f": VACUOUS (exp(-2*K*eta^2) = {nv['hoeffding_term']:.3f} exceeds A's lower bound "
            f"{nv['rate_lcb']:.3f}); it would hold with K >= {nv['k_needed']} at eta={g['eta']:g}{eta_part}")


class _ProblemFailed(Exception):
    """A problem could not be finished (model call or sandbox failure): an ``error`` record."""


class _Runner:
    def __init__(self, config: AcceptConfig, ledger: CostLedger, executor: Any, teacher: Model, core: Model) -> None:
        self.config = config
        self.ledger = ledger
        self.executor = executor
        self.teacher = teacher
        self.core = core
        max_calls = config.max_calls or config.concurrency * config.k
        self.limiter = asyncio.Semaphore(max_calls)
        self.teacher_config = GenerateConfig(**config.teacher_config)
        # the core's cap, as in the Inspect tasks and GRPO's rewards, unless core_config sets one
        self.core_config = GenerateConfig(**{"max_tokens": DEFAULT_MAX_CORE_TOKENS, **config.core_config})
        self.teacher_name = config.model_name("teacher")
        self.core_name = config.model_name("core")

    async def _call(self, model: Model, messages: list[ChatMessage], config: GenerateConfig, phase: str) -> Any:
        return await generate_output(model, messages, config, ledger=self.ledger, phase=phase, limiter=self.limiter)

    async def _execute(self, info: Any, strategy: str) -> dict[str, Any]:
        """One core execution of ``strategy``, scored."""

        output = await self._call(self.core, core_messages(info.domain, info.text, strategy=strategy),
                                  self.core_config, "core")
        response = output.completion
        verdict = await judge_response(response, info.benchmark, target=info.target, metadata=info.metadata,
                                       sample_id=info.id, executor=self.executor)
        if verdict.status is Status.ERROR:
            raise _ProblemFailed(f"sandbox infrastructure error: {verdict.reason}")
        if verdict.in_process is not None and not self.config.allow_in_process_verdicts:
            raise _ProblemFailed(f"the core's answer was judged in-process ({verdict.in_process}): a forgeable verdict, "
                                 "not used (allow_in_process_verdicts)")
        return {"passed": bool(verdict.passed), "status": verdict.status.value, "reason": verdict.reason,
                "output": verdict.output if info.sandboxed and not verdict.passed else "",
                "response": response}

    async def solve(self, problem: Any) -> dict[str, Any]:
        """Rounds of teacher proposals and core executions for one problem; its state record."""


        c = self.config
        info = problem_info(problem)
        messages = teacher_messages(info.domain, info.text, info.metadata["reference"], c.max_strategy_tokens)
        history: list[dict[str, Any]] = []
        for number in range(1, c.rounds + 1):
            output = await self._call(self.teacher, messages, self.teacher_config, "teacher")
            text = output.completion
            parsed = parse_guide_output(text, reasoning=reasoning_text(output), max_strategy_tokens=c.max_strategy_tokens)
            entry: dict[str, Any] = {"round": number, "valid": parsed.valid, "reason": parsed.reason,
                                     "accepted": False}
            reply = output.message if output.choices else ChatMessageAssistant(content=text)
            if not parsed.valid:
                history.append(entry)
                messages = [*messages, reply, ChatMessageUser(content=_format_feedback(parsed.reason))]
                continue
            strategy = parsed.strategy or ""
            entry["strategy"] = strategy
            leak = None
            if c.reject_leaks:
                try:
                    verdict = await check_leak(strategy, info.benchmark, target=info.target, metadata=info.metadata,
                                               problem=info.text, sample_id=info.id, executor=self.executor)
                except LeakCheckError as exc:
                    raise _ProblemFailed(str(exc)) from exc
                leak = verdict.reason
            if leak:
                entry.update(valid=False, reason=f"leak: {leak}", leak=True)
                history.append(entry)
                messages = [*messages, reply, ChatMessageUser(content=_leak_feedback(leak, info.domain))]
                continue
            results: list[Any] = await asyncio.gather(*(self._execute(info, strategy) for _ in range(c.k)),
                                                      return_exceptions=True)
            for result in results:  # every execution has finished: no call left running
                if isinstance(result, BudgetExceeded):
                    raise result
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            successes = sum(1 for r in results if r["passed"])
            q = successes / c.k
            accepted = q + 1e-12 >= c.tau
            entry.update(q_K=q, successes=successes, statuses=[r["status"] for r in results],
                         accepted=accepted)
            history.append(entry)
            if accepted:
                guide_output = canonical_guide_output(parsed.reasoning, strategy)
                check = parse_guide_output(guide_output, max_strategy_tokens=c.max_strategy_tokens)
                if not check.valid or check.strategy != strategy:  # pragma: no cover - canonical form is valid by construction
                    raise _ProblemFailed(f"canonical guide output does not parse back: {check.reason}")

                row = {"id": info.id, "benchmark": info.benchmark, "problem": info.text, "guide_output": guide_output,
                       "strategy": strategy, "q_K": q, "round": number, "teacher": self.teacher_name,
                       "core": self.core_name, "prompt_version": GUIDE_PROMPT_VERSION}
                return {"id": info.id, "status": "accepted", "round": number, "q_K": q, "rounds": history, "row": row}
            failures = [r for r in results if not r["passed"]]
            feedback = _failure_feedback(successes, c.k, c.tau, failures, c.feedback_failures, c.feedback_chars,
                                         info.domain)
            messages = [*messages, reply, ChatMessageUser(content=feedback)]
        best = max((h.get("q_K", 0.0) for h in history), default=0.0)
        return {"id": info.id, "status": "rejected", "round": None, "q_K": best, "rounds": history}


def _select(config: AcceptConfig) -> list[Any]:

    problems = load_problems(config.benchmark, None if config.split == "all" else config.split, config.data_dir)
    return problems[: config.limit] if config.limit is not None else problems


def _resolve_models(config: AcceptConfig, problems: Sequence[Any]) -> tuple[Model, Model]:
    common = {"max_retries": config.max_retries, "timeout": config.timeout,
              "max_connections": config.max_calls or config.concurrency * config.k}
    teacher = offline_model(config.teacher)
    core = offline_model(config.core, problems)
    return (get_model(teacher, **common, model_args=config.teacher_args),  # type: ignore[arg-type]
            get_model(core, **common, model_args=config.core_args))  # type: ignore[arg-type]


def _check_run_file(out: Path, config: AcceptConfig, started: bool) -> None:
    """Refuse other settings than those of the run in ``out`` (once it has finished a problem)."""
    path = out / RUN_FILE
    fingerprint = config.fingerprint()
    if started and path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8")).get("settings", {})
        except (json.JSONDecodeError, AttributeError):
            previous = {}
        differ = sorted(k for k in set(previous) | set(fingerprint) if previous.get(k) != fingerprint.get(k))
        if previous and differ:
            details = ", ".join(f"{k}: {previous.get(k)!r} -> {fingerprint.get(k)!r}" for k in differ)
            raise AcceptSettingsMismatch(
                f"{out} holds an acceptance run with other settings ({details}); use another output "
                f"folder, or the same settings to resume it")
    write_atomic(path, json.dumps({"settings": fingerprint, "updated_at": _now()}, indent=2, sort_keys=True) + "\n")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


async def accept_async(
    config: AcceptConfig,
    *,
    problems: Sequence[Any] | None = None,
    ledger: CostLedger | None = None,
    executor: Any = None,
) -> AcceptResult:
    """Run acceptance sampling (see the module docstring) on the running event loop.

    ``problems``: the problem records (:mod:`gcop.evals.benchmarks`) to use instead of ``config``'s benchmark/split/
    limit; ``ledger``: a ledger to record into (default: ``out_dir/ledger.json``, continued, with
    ``config.budget_usd``); ``executor``: a started sandbox executor for code (default: one made
    from ``config.executor``/``workers`` for the run).
    """
    config.validate()
    out = Path(config.out_dir)
    selected = list(problems)[: config.limit] if problems is not None else _select(config)
    order = {p.id: i for i, p in enumerate(selected)}
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / STATE_FILE
    state = load_state(state_path)
    _check_run_file(out, config, started=bool(state))
    todo = [p for p in selected if state.get(p.id, {}).get("status") not in FINISHED]
    skipped = len(selected) - len(todo)
    teacher = core = None
    if todo:
        try:
            teacher, core = _resolve_models(config, selected)
        except Exception as exc:  # noqa: BLE001 - missing API key, unknown provider...: say which
            raise AcceptSetupError(f"cannot make the teacher/core models: {_plain(exc)}") from exc
    if ledger is None:
        ledger = CostLedger.load(out / LEDGER_FILE, budget_usd=config.budget_usd)
    ledger.path = ledger.path or out / LEDGER_FILE
    this_run: Counter[str] = Counter()
    stopped: str | None = None
    writer = LineAppender(state_path)  # one fsynced line per finished problem; a torn one is cut first
    stack = contextlib.AsyncExitStack()
    try:
        if todo and config.sandboxed and executor is None:

            executor = await stack.enter_async_context(make_executor(config.executor, workers=config.workers))
        runner = _Runner(config, ledger, executor, teacher, core)  # type: ignore[arg-type]
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=f"accept {config.benchmark}", unit="problem", disable=None if config.progress else True)
        stop = asyncio.Event()
        consecutive_errors = 0
        pending = iter(todo)
        last_save = time.monotonic()

        async def worker() -> None:
            nonlocal stopped, consecutive_errors, last_save
            for problem in pending:
                if stop.is_set():
                    return
                try:
                    record = await runner.solve(problem)
                except BudgetExceeded as exc:
                    if stopped is None:
                        stopped = "budget"
                        log.warning("stopping: %s", exc)
                    stop.set()
                    return
                except Exception as exc:  # noqa: BLE001 - one problem never sinks the run (ModelCallError, sandbox...)
                    log.warning("problem %s: %s: %s", problem.id, type(exc).__name__, exc)
                    record = {"id": problem.id, "status": "error", "error": f"{type(exc).__name__}: {exc}"[:2000]}
                record["finished_at"] = _now()
                writer.write_record(record)
                state[problem.id] = record
                this_run[record["status"]] += 1
                consecutive_errors = consecutive_errors + 1 if record["status"] == "error" else 0
                if config.max_consecutive_errors is not None and consecutive_errors >= config.max_consecutive_errors:
                    if stopped is None:
                        stopped = "errors"
                        log.error("stopping: %d problems in a row ended in error", consecutive_errors)
                    stop.set()
                bar.update(1)
                bar.set_postfix(acc=this_run["accepted"], rej=this_run["rejected"], err=this_run["error"],
                                usd=f"{ledger.total_usd:.3f}", refresh=False)
                if time.monotonic() - last_save > 15:
                    ledger.save()
                    last_save = time.monotonic()

        try:
            await asyncio.gather(*(worker() for _ in range(min(config.concurrency, max(1, len(todo))))))
        except asyncio.CancelledError:
            stopped = stopped or "interrupted"
            raise
        finally:
            bar.close()
    finally:
        writer.close()
        await stack.aclose()
        result = _finish(config, out, state, order, ledger, stopped, skipped, this_run)
    return result


def _finish(config: AcceptConfig, out: Path, state: dict[str, dict[str, Any]], order: Mapping[str, int],
            ledger: CostLedger, stopped: str | None, skipped: int, this_run: Mapping[str, int]) -> AcceptResult:
    """Write corpus, stats and ledger from the state (also after a stop or an interrupt)."""
    records = list(state.values())
    accepted = [r for r in records if r.get("status") == "accepted" and isinstance(r.get("row"), dict)]
    accepted.sort(key=lambda r: order.get(r["id"], len(order)))
    corpus_path = out / CORPUS_FILE
    write_atomic(corpus_path, "".join(json.dumps(r["row"], ensure_ascii=False) + "\n" for r in accepted))
    ledger_path = ledger.save(out / LEDGER_FILE)
    stats = compute_stats(records, k=config.k, tau=config.tau, rounds=config.rounds, eta=config.eta, delta=config.delta)
    settings = config.fingerprint()
    settings.update(limit=config.limit, concurrency=config.concurrency, eta=config.eta, delta=config.delta,
                    executor=config.executor)
    cost = ledger.to_dict()
    stats = {
        "settings": settings,
        **stats,
        "this_run": {"skipped": skipped, **dict(this_run), "stopped": stopped},
        "cost": {"total_usd": cost["total_usd"], "budget_usd": cost["budget_usd"],
                 "phases": {name: {k: v for k, v in ph.items() if k != "models"} for name, ph in cost["phases"].items()}},
        "updated_at": _now(),
    }
    stats_path = out / STATS_FILE
    write_atomic(stats_path, json.dumps(stats, indent=2, sort_keys=False) + "\n")
    return AcceptResult(out_dir=out, corpus_path=corpus_path, stats_path=stats_path, state_path=out / STATE_FILE,
                        ledger_path=ledger_path, stats=stats, stopped=stopped, skipped=skipped,
                        this_run=dict(this_run))


def run_acceptance(config: AcceptConfig, **kwargs: Any) -> AcceptResult:
    """:func:`accept_async` in a fresh event loop (:func:`gcop.inspect_models.run_sync`), with
    gcop's prices registered so that priced models' calls carry their cost."""

    apply_prices()
    config.validate()
    report = preflight({"teacher": config.teacher, "core": config.core}, budget=config.budget_usd is not None,
                       offline=OFFLINE_MODELS, live=config.preflight_calls,
                       model_args={"teacher": config.teacher_args, "core": config.core_args})
    if report.live_calls and config.progress:
        print(report.format(), file=sys.stderr)
    return run_sync(lambda: accept_async(config, **kwargs))


def config_from_mapping(raw: Mapping[str, Any]) -> AcceptConfig:
    """An :class:`AcceptConfig` from a mapping of its fields (unknown keys are an error)."""
    known = {f.name for f in dataclasses.fields(AcceptConfig)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown accept setting(s): {sorted(unknown)}")
    config = AcceptConfig(**dict(raw))
    config.validate()
    return config

