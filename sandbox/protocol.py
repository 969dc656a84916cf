"""The verdict protocol shared by every executor and every scorer.

A :class:`TestJob` is what to run (a solution and its tests, in one of two styles); a
:class:`Verdict` is what came of it. The rules that turn a test session into a verdict live in
:func:`sandbox.runner.judge`, which runs inside the sandbox; this module is the host's view.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from collections.abc import Iterable
from typing import Any, Literal

JobStyle = Literal["pytest", "check"]

#: Default per-sample time limits, as KodCode's own runner (30 s) and human-eval practice (10 s).
DEFAULT_TIMEOUTS: dict[str, float] = {"check": 10.0, "pytest": 30.0}


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    #: The sandbox itself failed (engine down, container died under us): not the sample's fault,
    #: reported apart from failures and never counted as a pass or a fail.
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class TestJob:
    """One solution and its tests.

    ``pytest`` style: ``solution.py`` + ``test_solution.py`` (``from solution import *`` first).
    ``check`` style (HumanEval's): ``solution`` is the whole program, ``test`` defines ``check``, and the
    runner calls ``check(entry_point)``. ``prelude`` is the canonical prompt: the judge runs it
    before ``test``, so the helpers ``check`` uses are the data set's, not the program's.
    """

    __test__ = False  # not a pytest test class, despite the name

    style: JobStyle
    solution: str
    test: str
    entry_point: str | None = None
    timeout: float | None = None
    id: str = ""
    prelude: str | None = None

    def __post_init__(self) -> None:
        if self.style not in DEFAULT_TIMEOUTS:
            raise ValueError(f"unknown style {self.style!r}; expected one of {sorted(DEFAULT_TIMEOUTS)}")
        if self.style == "check" and not (self.entry_point and self.entry_point.isidentifier()):
            raise ValueError(f"a check job needs an entry_point identifier, got {self.entry_point!r}")

    @property
    def effective_timeout(self) -> float:
        return float(self.timeout if self.timeout is not None else DEFAULT_TIMEOUTS[self.style])

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "style": self.style,
            "solution": self.solution,
            "test": self.test,
            "entry_point": self.entry_point,
            "timeout": self.effective_timeout,
            "prelude": self.prelude,
        }


def _answer_extra(answer: dict[str, Any]) -> dict[str, Any]:
    """What a runner's answer carries besides the verdict: how it was decided (``boundary``) and
    the names of the tests that passed (``passed_tests``)."""
    extra: dict[str, Any] = {}
    if isinstance(answer.get("boundary"), dict):
        extra["boundary"] = dict(answer["boundary"])
    passed = answer.get("passed_tests")
    if isinstance(passed, list) and all(isinstance(name, str) for name in passed):
        extra["passed_tests"] = list(passed)
    return extra


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reason: str
    tests_collected: int = 0
    tests_passed: int = 0
    duration_s: float = 0.0
    output: str = ""
    #: How many times the sandbox was asked (2 when an infrastructure error was retried).
    attempts: int = 1
    executor: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    @classmethod
    def from_wire(cls, answer: dict[str, Any], *, attempts: int = 1, executor: str = "") -> "Verdict":
        """Build a verdict from a runner's answer; anything malformed is an infrastructure error."""
        try:
            status = Status(answer["status"])
            return cls(
                status=status,
                reason=str(answer.get("reason", "")),
                tests_collected=int(answer.get("tests_collected", 0)),
                tests_passed=int(answer.get("tests_passed", 0)),
                duration_s=float(answer.get("duration_s", 0.0)),
                output=str(answer.get("output", "")),
                attempts=attempts,
                executor=executor,
                extra=_answer_extra(answer),
            )
        except (KeyError, TypeError, ValueError) as exc:
            return cls(Status.ERROR, f"malformed runner answer: {exc}", attempts=attempts, executor=executor)

    def result_dict(self) -> dict[str, Any]:
        """The short ``result`` record written next to each sample by ``gcop verify``, with how the
        verdict was decided (``boundary``: tests by value, through a handle, or the whole job
        in-process and why) where the sandbox said."""
        result = {
            "status": self.status.value,
            "reason": self.reason,
            "tests_passed": self.tests_passed,
            "tests_collected": self.tests_collected,
            "duration_s": self.duration_s,
        }
        if isinstance(self.extra.get("boundary"), dict):
            result["boundary"] = self.extra["boundary"]
        return result

    @property
    def in_process(self) -> str | None:
        """Why this code verdict was decided with the solution inside the judge's process (a
        verdict a sample could forge), or None when it was not."""
        boundary = self.extra.get("boundary")
        if isinstance(boundary, dict) and boundary.get("mode") == "in-process":
            return str(boundary.get("reason") or "judged in-process")
        return None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


def boundary_totals(verdicts: "Iterable[Verdict]") -> dict[str, int]:
    """How a run's code verdicts were decided, summed over its verdicts: tests decided by value
    only, tests where a comparison went through a handle (the sample's own method), jobs judged
    in-process (their test could not cross the boundary), and jobs with no such record (timeouts,
    or a test process that never reported)."""
    totals = {"tests_by_value": 0, "tests_through_handle": 0, "jobs_in_process": 0, "jobs_unrecorded": 0}
    for verdict in verdicts:
        info = verdict.extra.get("boundary")
        if not isinstance(info, dict):
            totals["jobs_unrecorded"] += 1
        elif info.get("mode") == "process":
            totals["tests_by_value"] += int(info.get("tests_by_value") or 0)
            totals["tests_through_handle"] += int(info.get("tests_through_handle") or 0)
        else:
            totals["jobs_in_process"] += 1
    return totals
