"""What a test process records (the report's recorder) and the marks of its phases."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .judge_side import _Boundary


def _short_message(text: str, limit: int = 300) -> str:
    """The most telling line of a failure report: pytest's first ``E   ...`` line, else the last
    line. A bare ``AssertionError`` (asserts are not rewritten, see :func:`pytest_args`) comes
    with the failing statement, the ``>`` line above it: ``assert add(2, 3) == 6 failed``."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith("E "):
            error = line[1:].strip()
            if error == "AssertionError":
                statements = [s[1:].strip() for s in lines[:index] if s.startswith(">")]
                if statements:
                    return f"{statements[-1]} failed"[:limit]
            return error[:limit]
    return lines[-1][:limit] if lines else ""


class _Recorder:
    """pytest plugin living in the test process; writes the report to a private pipe."""

    def __init__(self) -> None:
        self.collected: list[str] = []
        self.reports: list[tuple[str, str, str, str]] = []  # (nodeid, when, outcome, message)
        self.collect_errors: list[str] = []
        self.exitstatus: int | None = None
        self.finished = False
        self.boundary: _Boundary | None = None  # the job's, when its sample runs in its own process
        self.in_process: str | None = None  # else why it does not

    def pytest_collection_finish(self, session: Any) -> None:
        self.collected = [item.nodeid for item in session.items]
        _mark("collected")

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            text = str(report.longrepr or "")
            self.collect_errors.append(f"{report.nodeid}: {text.strip().splitlines()[-1] if text.strip() else ''}")

    def pytest_runtest_logreport(self, report: Any) -> None:
        outcome = report.outcome
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        message = ""
        if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
            # A skip: (path, line, reason). The job directory's path says nothing to the reader.
            path, line, reason = report.longrepr
            message = f"{reason} ({os.path.basename(str(path))}:{line})"
        elif outcome != "passed":
            message = _short_message(getattr(report, "longreprtext", "") or "")
        self.reports.append((report.nodeid, report.when, outcome, message))
        if self.boundary is not None:
            if report.when == "setup":
                self.boundary.test_started(report.nodeid)
            elif report.when == "teardown":
                self.boundary.test_finished(report.nodeid)

    def pytest_sessionfinish(self, session: Any, exitstatus: int) -> None:
        self.exitstatus = int(exitstatus)
        self.finished = True


#: Moments of the judge's process (name, monotonic time), sent with its report for jobs that
#: ask for a profile. A module global: each judge is a forked process of its own, for one job.
_JUDGE_MARKS: list[tuple[str, float]] = []


def _mark(name: str) -> None:
    _JUDGE_MARKS.append((name, time.monotonic()))


def _open_fds() -> set[int]:
    """This process's open file descriptors."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            os.fstat(int(name))
        except OSError:
            continue  # the descriptor listdir itself used, closed by now
        found.add(int(name))
    return found
