"""The verdict rules: the one function that turns a job's report into passed, failed, timeout or
error."""

from __future__ import annotations

from typing import Any

from .files import _test_name

STATUS_PASSED = "passed"
STATUS_FAILED = "failed"
STATUS_TIMEOUT = "timeout"
STATUS_ERROR = "error"



def passed_test_names(report: dict[str, Any]) -> list[str]:
    """The names of the collected tests whose setup, call and teardown all passed, from an
    authenticated report (what a cascade's examples rule reads: which visible examples held)."""
    outcomes: dict[str, dict[str, str]] = {}
    for nodeid, when, outcome, *_ in report.get("reports") or []:
        outcomes.setdefault(str(nodeid), {})[str(when)] = str(outcome)
    return sorted(
        _test_name(str(nodeid))
        for nodeid in report.get("collected") or []
        if all(outcomes.get(str(nodeid), {}).get(when) == "passed" for when in ("setup", "call", "teardown"))
    )


def judge(
    report: dict[str, Any] | None,
    *,
    nonce: str,
    exit_code: int | None,
    signal_number: int | None,
    expected: list[str] | None,
) -> tuple[str, str, int, int]:
    """Decide a verdict from the child's report and how the child ended.

    Returns ``(status, reason, tests_collected, tests_passed)``. Never returns ``passed``
    unless every rule in the module docstring holds.
    """
    if report is None:
        how = f"killed by signal {signal_number}" if signal_number else f"exited with code {exit_code}"
        return STATUS_FAILED, f"no test report: the test process {how} before pytest finished", 0, 0
    if report.get("nonce") != nonce:
        return STATUS_FAILED, "test report failed authentication (forged or corrupted)", 0, 0
    collected: list[str] = list(report.get("collected") or [])
    outcomes: dict[str, dict[str, str]] = {}
    messages: dict[tuple[str, str], str] = {}
    for nodeid, when, outcome, *message in report.get("reports") or []:
        outcomes.setdefault(nodeid, {})[when] = outcome
        if message and message[0]:
            messages[(nodeid, when)] = str(message[0])
    n_collected = len(collected)
    passed_ids = [
        nodeid
        for nodeid in collected
        if all(outcomes.get(nodeid, {}).get(when) == "passed" for when in ("setup", "call", "teardown"))
    ]
    n_passed = len(passed_ids)
    if not report.get("finished"):
        return STATUS_FAILED, "pytest session did not finish", n_collected, n_passed
    if report.get("collect_errors"):
        first = report["collect_errors"][0]
        return STATUS_FAILED, f"collection error: {first}", n_collected, n_passed
    if n_collected == 0:
        return STATUS_FAILED, "no tests collected", 0, 0
    for nodeid in collected:
        phases = outcomes.get(nodeid, {})
        for when in ("setup", "call", "teardown"):
            outcome = phases.get(when)
            if outcome != "passed":
                what = outcome or "not run"
                if outcome == "xfailed":
                    what = "xfailed (expected failures never count as passes)"
                if messages.get((nodeid, when)):
                    what += f": {messages[(nodeid, when)]}"
                return STATUS_FAILED, f"{_test_name(nodeid)} {when}: {what}", n_collected, n_passed
    if expected is not None:
        collected_names = {_test_name(nodeid) for nodeid in collected}
        missing = [name for name in expected if name not in collected_names]
        if missing:
            return STATUS_FAILED, f"test {missing[0]} was not collected", n_collected, n_passed
    exitstatus = report.get("exitstatus")
    if exitstatus != 0:
        return STATUS_FAILED, f"pytest exit status {exitstatus}", n_collected, n_passed
    if signal_number:
        return STATUS_FAILED, f"test process killed by signal {signal_number}", n_collected, n_passed
    if exit_code != 0:
        return STATUS_FAILED, f"test process exited with code {exit_code}", n_collected, n_passed
    return STATUS_PASSED, f"{n_passed} passed", n_collected, n_passed
