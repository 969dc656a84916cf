"""From a model's answer to a verdict: the one place that turns (problem, response) into a
:class:`~sandbox.protocol.TestJob` or a GSM8K verdict.

``gcop verify``, the Inspect scorers and the GRPO rewards all call these functions, so a
solution is judged the same way wherever it is judged.
"""

from __future__ import annotations

from sandbox.protocol import Status, TestJob, Verdict

from .data import HumanEvalProblem, KodCodeProblem
from .extraction import extract_gsm8k_answer, gsm8k_is_correct, humaneval_program, kodcode_solution

EMPTY_COMPLETION_REASON = "empty completion: nothing to run"


def is_empty(response: str | None) -> bool:
    return response is None or not response.strip()


def empty_verdict() -> Verdict:
    """An empty answer is a failed sample, decided without a sandbox."""
    return Verdict(Status.FAILED, EMPTY_COMPLETION_REASON)


def humaneval_job(problem: HumanEvalProblem, response: str, *, timeout: float | None = None) -> TestJob:
    """The program (prompt + body, or the model's whole program) and the data set's ``check``;
    the prompt again as the prelude the judge runs itself, for the helpers ``check`` uses."""
    return TestJob(
        style="humaneval",
        solution=humaneval_program(problem.prompt, response, problem.entry_point),
        test=problem.test,
        entry_point=problem.entry_point,
        timeout=timeout,
        id=problem.task_id,
        prelude=problem.prompt,
    )


def kodcode_job(
    problem: KodCodeProblem,
    response: str,
    *,
    test: str | None = None,
    timeout: float | None = None,
    verbatim: bool = False,
) -> TestJob:
    """KodCode's layout: the extracted code as ``solution.py``, the problem's tests (or ``test``,
    which replaces them) as ``test_solution.py`` behind ``from solution import *``.

    ``verbatim`` writes the response itself as ``solution.py``, without extracting code, as
    KodCode's own runner did when it recorded its trials (prose around the code fails there)."""
    return TestJob(
        style="pytest",
        solution=response if verbatim else kodcode_solution(response),
        test=problem.test if test is None else test,
        timeout=timeout,
        id=problem.question_id,
    )


def gsm8k_verdict(response: str | None, target: str) -> Verdict:
    """Numeric comparison of the response's final answer with the gold number (no sandbox)."""
    if is_empty(response):
        return empty_verdict()
    assert response is not None
    answer = extract_gsm8k_answer(response)
    if answer is None:
        return Verdict(Status.FAILED, "no final answer found (no \\boxed{}, '#### N' or 'answer is N')")
    if gsm8k_is_correct(response, target):
        return Verdict(Status.PASSED, f"answer {answer} equals the gold {target}", 1, 1)
    return Verdict(Status.FAILED, f"answer {answer} differs from the gold {target}", 1, 0)
