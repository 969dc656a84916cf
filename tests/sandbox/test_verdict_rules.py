"""The verdict rules, unit by unit: ``gcop.sandbox.runner.judge``, ``expected_tests``, ``build_files``,
and the host's view of the protocol (``Verdict.from_wire``, ``TestJob`` validation).

No Docker and no subprocess: every case starts from a fully clean report (which must pass) and
breaks exactly one rule, so each case fails if that one rule stops being enforced.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from gcop.sandbox.protocol import DEFAULT_TIMEOUTS, Status, TestJob, Verdict
from gcop.sandbox.runner import (
    HUMANEVAL_TEST_NAME,
    STATUS_FAILED,
    STATUS_PASSED,
    build_files,
    expected_tests,
    judge,
)

NONCE = "0123456789abcdef0123456789abcdef"
PHASES = ("setup", "call", "teardown")
NODEIDS = ["test_solution.py::test_a", "test_solution.py::test_b"]
EXPECTED = ["test_a", "test_b"]


def clean_report(nodeids: list[str] = NODEIDS, nonce: str = NONCE) -> dict[str, Any]:
    """What the child reports when every collected test passed every phase."""
    return {
        "finished": True,
        "exitstatus": 0,
        "collected": list(nodeids),
        "reports": [[nodeid, when, "passed", ""] for nodeid in nodeids for when in PHASES],
        "collect_errors": [],
        "nonce": nonce,
    }


def run_judge(
    report: dict[str, Any] | None = None,
    *,
    nonce: str = NONCE,
    exit_code: int | None = 0,
    signal_number: int | None = None,
    expected: list[str] | None = EXPECTED,
    use_clean: bool = True,
) -> tuple[str, str, int, int]:
    if report is None and use_clean:
        report = clean_report()
    return judge(report, nonce=nonce, exit_code=exit_code, signal_number=signal_number, expected=expected)


def with_outcome(nodeid: str, when: str, outcome: str | None, message: str = "") -> dict[str, Any]:
    """A clean report where one phase of one test had ``outcome`` (None: that phase is absent)."""
    report = clean_report()
    rows = []
    for row in report["reports"]:
        if row[0] == nodeid and row[1] == when:
            if outcome is None:
                continue
            row = [nodeid, when, outcome, message]
        rows.append(row)
    report["reports"] = rows
    return report


# --------------------------------------------------------------------------- judge: the pass


def test_the_fully_clean_case_passes():
    status, reason, collected, passed = run_judge()
    assert (status, collected, passed) == (STATUS_PASSED, 2, 2)
    assert reason == "2 passed"


def test_clean_case_with_classes_and_parametrized_ids_passes():
    nodeids = [
        "test_solution.py::test_a[1-2]",
        "test_solution.py::test_a[3-4]",
        "test_solution.py::TestX::test_y",
        "test_solution.py::TestX::test_z[case::with::colons]",
    ]
    expected = ["test_a", "TestX::test_y", "TestX::test_z"]
    status, reason, collected, passed = run_judge(clean_report(nodeids), expected=expected)
    assert (status, collected, passed) == (STATUS_PASSED, 4, 4), reason


def test_unparsable_test_file_skips_only_the_expected_tests_rule():
    # expected=None: the trusted side could not parse the file; pytest reports that itself.
    assert run_judge(expected=None)[0] == STATUS_PASSED
    assert run_judge(clean_report() | {"exitstatus": 2}, expected=None)[0] == STATUS_FAILED


def test_expected_tests_may_be_a_subset_of_collected():
    assert run_judge(expected=["test_a"])[0] == STATUS_PASSED
    assert run_judge(expected=[])[0] == STATUS_PASSED


# --------------------------------------------------------------------------- judge: no report / forged


@pytest.mark.parametrize(
    ("exit_code", "signal_number", "how"),
    [
        (0, None, "exited with code 0"),
        (1, None, "exited with code 1"),
        (70, None, "exited with code 70"),
        (None, 9, "killed by signal 9"),
        (-9, 9, "killed by signal 9"),
        (None, None, "exited with code None"),
    ],
)
def test_no_report_fails(exit_code, signal_number, how):
    status, reason, collected, passed = run_judge(
        None, exit_code=exit_code, signal_number=signal_number, use_clean=False
    )
    assert (status, collected, passed) == (STATUS_FAILED, 0, 0)
    assert "no test report" in reason and how in reason


@pytest.mark.parametrize(
    "report_nonce",
    [
        "fedcba9876543210fedcba9876543210",  # another job's nonce
        NONCE.upper(),  # near miss
        NONCE[:-1],  # truncated
        "",
        None,
        0,
    ],
)
def test_wrong_nonce_fails(report_nonce):
    status, reason, collected, passed = run_judge(clean_report(nonce=report_nonce))
    assert (status, collected, passed) == (STATUS_FAILED, 0, 0)
    assert "authentication" in reason


def test_missing_nonce_fails():
    report = clean_report()
    del report["nonce"]
    status, reason, _, _ = run_judge(report)
    assert status == STATUS_FAILED and "authentication" in reason


def test_a_report_without_nonce_does_not_match_an_empty_one():
    report = clean_report()
    del report["nonce"]
    assert run_judge(report, nonce="")[0] == STATUS_FAILED


# --------------------------------------------------------------------------- judge: session state


@pytest.mark.parametrize("finished", [False, None, 0, ""])
def test_unfinished_session_fails(finished):
    report = clean_report() | {"finished": finished}
    status, reason, collected, passed = run_judge(report)
    assert status == STATUS_FAILED
    assert "did not finish" in reason
    assert (collected, passed) == (2, 2)


def test_missing_finished_flag_fails():
    report = clean_report()
    del report["finished"]
    status, reason, _, _ = run_judge(report)
    assert status == STATUS_FAILED and "did not finish" in reason


@pytest.mark.parametrize(
    "errors",
    [
        ["test_solution.py: E   SyntaxError: invalid syntax"],
        ["test_solution.py: ", "other.py: ImportError"],
        [""],
    ],
)
def test_collection_errors_fail(errors):
    status, reason, _, _ = run_judge(clean_report() | {"collect_errors": errors})
    assert status == STATUS_FAILED
    assert reason.startswith("collection error:")
    assert errors[0] in reason


@pytest.mark.parametrize("collected", [[], None])
def test_zero_tests_collected_fails(collected):
    report = clean_report() | {"collected": collected, "reports": []}
    status, reason, n_collected, n_passed = run_judge(report, expected=[])
    assert (status, reason, n_collected, n_passed) == (STATUS_FAILED, "no tests collected", 0, 0)


def test_zero_tests_collected_fails_even_with_passing_reports():
    # Reports for tests that were never collected (forged or stray) do not count.
    report = clean_report() | {"collected": []}
    status, reason, _, _ = run_judge(report, expected=[])
    assert (status, reason) == (STATUS_FAILED, "no tests collected")


def test_missing_collected_key_fails():
    report = clean_report()
    del report["collected"]
    assert run_judge(report, expected=[])[:2] == (STATUS_FAILED, "no tests collected")


# --------------------------------------------------------------------------- judge: per-phase outcomes


@pytest.mark.parametrize("nodeid", NODEIDS)
@pytest.mark.parametrize("when", PHASES)
@pytest.mark.parametrize("outcome", ["failed", "skipped", "xfailed", "xpassed", "error", "PASSED", "", None])
def test_any_phase_not_passed_fails(nodeid, when, outcome):
    status, reason, collected, passed = run_judge(with_outcome(nodeid, when, outcome))
    assert status == STATUS_FAILED
    name = nodeid.split("::", 1)[1]
    assert reason.startswith(f"{name} {when}: ")
    assert reason.startswith(f"{name} {when}: {outcome or 'not run'}")
    assert (collected, passed) == (2, 1)


def test_xfailed_reason_says_expected_failures_never_count():
    reason = run_judge(with_outcome(NODEIDS[0], "call", "xfailed"))[1]
    assert "expected failures never count as passes" in reason


def test_failure_message_is_in_the_reason():
    report = with_outcome(NODEIDS[1], "call", "failed", "assert 2 == 3")
    status, reason, _, _ = run_judge(report)
    assert (status, reason) == (STATUS_FAILED, "test_b call: failed: assert 2 == 3")


def test_a_test_with_no_reports_at_all_fails():
    report = clean_report()
    report["reports"] = [row for row in report["reports"] if row[0] != NODEIDS[0]]
    status, reason, collected, passed = run_judge(report)
    assert (status, reason, collected, passed) == (STATUS_FAILED, "test_a setup: not run", 2, 1)


def test_no_reports_key_fails():
    report = clean_report()
    del report["reports"]
    status, reason, _, passed = run_judge(report)
    assert status == STATUS_FAILED and "not run" in reason and passed == 0


def test_a_failure_reported_after_a_pass_of_the_same_phase_fails():
    report = clean_report()
    report["reports"].append([NODEIDS[0], "call", "failed", "boom"])
    assert run_judge(report)[:2] == (STATUS_FAILED, "test_a call: failed: boom")


def test_passing_reports_for_a_different_test_do_not_cover_a_collected_one():
    report = clean_report()
    report["reports"] = [
        ["test_solution.py::test_other", *row[1:]] if row[0] == NODEIDS[1] else row for row in report["reports"]
    ]
    status, reason, _, passed = run_judge(report)
    assert status == STATUS_FAILED and reason == "test_b setup: not run" and passed == 1


# --------------------------------------------------------------------------- judge: expected tests


@pytest.mark.parametrize(
    ("expected", "missing"),
    [
        (["test_a", "test_b", "test_c"], "test_c"),
        (["test_c"], "test_c"),
        (["TestX::test_a"], "TestX::test_a"),  # a method is not the module-level function
        (["test_a", "test_b", "TestCase::test_hidden"], "TestCase::test_hidden"),
    ],
)
def test_expected_test_missing_from_collected_fails(expected, missing):
    status, reason, collected, passed = run_judge(expected=expected)
    assert (status, reason) == (STATUS_FAILED, f"test {missing} was not collected")
    assert (collected, passed) == (2, 2)


def test_missing_humaneval_check_fails():
    report = clean_report(["test_solution.py::test_something_else"])
    status, reason, _, _ = run_judge(report, expected=[HUMANEVAL_TEST_NAME])
    assert (status, reason) == (STATUS_FAILED, f"test {HUMANEVAL_TEST_NAME} was not collected")


# --------------------------------------------------------------------------- judge: how the process ended


@pytest.mark.parametrize("exitstatus", [1, 2, 3, 4, 5, -1, None, "0"])
def test_nonzero_pytest_exitstatus_fails(exitstatus):
    status, reason, _, _ = run_judge(clean_report() | {"exitstatus": exitstatus})
    assert (status, reason) == (STATUS_FAILED, f"pytest exit status {exitstatus}")


def test_missing_exitstatus_fails():
    report = clean_report()
    del report["exitstatus"]
    assert run_judge(report)[:2] == (STATUS_FAILED, "pytest exit status None")


@pytest.mark.parametrize("signal_number", [9, 15, 6, 24, 25])
def test_killed_by_signal_fails(signal_number):
    status, reason, collected, passed = run_judge(exit_code=-signal_number, signal_number=signal_number)
    assert (status, reason) == (STATUS_FAILED, f"test process killed by signal {signal_number}")
    assert (collected, passed) == (2, 2)


def test_killed_by_signal_fails_even_if_exit_code_claims_zero():
    status, reason, _, _ = run_judge(exit_code=0, signal_number=9)
    assert (status, reason) == (STATUS_FAILED, "test process killed by signal 9")


@pytest.mark.parametrize("exit_code", [1, 2, 70, 255, -1, None])
def test_nonzero_exit_code_fails(exit_code):
    status, reason, _, _ = run_judge(exit_code=exit_code)
    assert (status, reason) == (STATUS_FAILED, f"test process exited with code {exit_code}")


# --------------------------------------------------------------------------- judge: every single break


def _single_breaks() -> list[Any]:
    """One violation at a time, applied to the clean case: none of them may pass."""
    cases: list[Any] = []

    def case(name, report=None, **kwargs):
        cases.append(pytest.param(report, kwargs, id=name))

    case("no-report", None)
    for key in ("finished", "exitstatus", "collected", "reports", "nonce"):
        report = clean_report()
        del report[key]
        case(f"drop-{key}", report)
    case("nonce", clean_report(nonce="x" * 32))
    case("unfinished", clean_report() | {"finished": False})
    case("collect-error", clean_report() | {"collect_errors": ["boom"]})
    case("empty", clean_report([]))
    case("exitstatus", clean_report() | {"exitstatus": 1})
    for when in PHASES:
        for outcome in ("failed", "skipped", "xfailed", "xpassed", None):
            case(f"{when}-{outcome}", with_outcome(NODEIDS[0], when, outcome))
    case("missing-expected", expected=["test_a", "test_b", "test_c"])
    case("signal", signal_number=9)
    case("exit-code", exit_code=1)
    return cases


@pytest.mark.parametrize(("report", "kwargs"), _single_breaks())
def test_no_single_violation_passes(report, kwargs):
    report = dict(report) if report is not None else None
    status = judge(
        report,
        nonce=NONCE,
        exit_code=kwargs.get("exit_code", 0),
        signal_number=kwargs.get("signal_number"),
        expected=kwargs.get("expected", EXPECTED),
    )[0]
    assert status == STATUS_FAILED


# --------------------------------------------------------------------------- expected_tests


def test_expected_tests_finds_functions_async_functions_and_test_class_methods():
    source = """
import pytest
from heapq import merge as test_merge           # imported, not defined: not expected
from solution import *

def helper():
    pass

def test_one():
    assert add(1, 2) == 3

async def test_two():
    assert add(2, 2) == 4

@pytest.mark.parametrize("x", [1, 2])
def test_three(x):
    def test_nested():                          # nested: pytest does not collect it
        pass
    assert x

class TestThing:
    def test_method(self):
        pass
    async def test_async_method(self):
        pass
    def helper(self):
        pass
    class TestInner:                            # nested class: not listed
        def test_inner(self):
            pass

class Helper:
    def test_not_collected(self):
        pass

test_assigned = lambda: None                    # an assignment, not a definition
"""
    assert expected_tests(source) == [
        "test_one",
        "test_two",
        "test_three",
        "TestThing::test_method",
        "TestThing::test_async_method",
    ]


@pytest.mark.parametrize("source", ["", "# nothing\n", "x = 1\n", "def helper():\n    pass\n"])
def test_expected_tests_of_a_file_without_tests_is_empty(source):
    assert expected_tests(source) == []


@pytest.mark.parametrize("source", ["def test_x(:\n    pass\n", "class TestX\n", "\x00"])
def test_expected_tests_of_an_unparsable_file_is_none(source):
    assert expected_tests(source) is None


def test_expected_tests_follows_pytest_prefixes():
    # pytest's defaults: functions starting "test", classes starting "Test".
    source = "def testing():\n    pass\ndef atest():\n    pass\nclass Testy:\n    def test_q(self):\n        pass\nclass test_lower:\n    def test_r(self):\n        pass\n"
    assert expected_tests(source) == ["testing", "Testy::test_q"]


def test_expected_tests_is_not_fooled_by_code_in_strings_or_conditionals():
    source = 'TEXT = """\ndef test_fake():\n    pass\n"""\nif False:\n    def test_conditional():\n        pass\n'
    # A test defined under `if` is not module-level in the AST; it is not required.
    assert expected_tests(source) == []


# --------------------------------------------------------------------------- build_files


def test_build_files_pytest_style_prepends_the_star_import():
    files = build_files({"style": "pytest", "solution": "def f():\n    return 1\n", "test": "def test_f():\n    assert f() == 1\n"})
    assert files == {
        "solution.py": "def f():\n    return 1\n",
        "test_solution.py": "from solution import *\ndef test_f():\n    assert f() == 1\n",
    }


def test_build_files_humaneval_style_keeps_the_test_code_as_is():
    job = {"style": "check", "solution": "def f():\n    return 1\n", "test": "def check(c):\n    assert c() == 1\n", "entry_point": "f"}
    assert build_files(job) == {"solution.py": job["solution"], "test_solution.py": job["test"]}


def test_build_files_treats_missing_sources_as_empty():
    assert build_files({"style": "pytest", "solution": None, "test": None}) == {
        "solution.py": "",
        "test_solution.py": "from solution import *\n",
    }


@pytest.mark.parametrize("entry_point", [None, "", "1abc", "not valid", "a-b", 3, ["f"]])
def test_build_files_humaneval_needs_a_valid_entry_point(entry_point):
    with pytest.raises(ValueError, match="entry_point"):
        build_files({"style": "check", "solution": "", "test": "", "entry_point": entry_point})


@pytest.mark.parametrize("style", [None, "", "PYTEST", "unittest", "humaneval"])
def test_build_files_rejects_unknown_styles(style):
    with pytest.raises(ValueError, match="style"):
        build_files({"style": style, "solution": "", "test": ""})


@pytest.mark.parametrize(("solution", "test"), [(b"x = 1", ""), ("", b"x = 1"), (["x"], ""), ("", {"a": 1})])
def test_build_files_rejects_non_string_sources(solution, test):
    with pytest.raises(ValueError, match="strings"):
        build_files({"style": "pytest", "solution": solution, "test": test})


# --------------------------------------------------------------------------- Verdict.from_wire


def wire(**overrides: Any) -> dict[str, Any]:
    answer = {
        "id": "job-1",
        "status": "passed",
        "reason": "2 passed",
        "tests_collected": 2,
        "tests_passed": 2,
        "duration_s": 0.25,
        "output": "..",
    }
    answer.update(overrides)
    return answer


def test_from_wire_reads_every_field():
    verdict = Verdict.from_wire(wire(), attempts=2, executor="docker")
    assert verdict == Verdict(Status.PASSED, "2 passed", 2, 2, 0.25, "..", attempts=2, executor="docker")
    assert verdict.passed


@pytest.mark.parametrize("status", ["passed", "failed", "timeout", "error"])
def test_from_wire_accepts_each_status(status):
    verdict = Verdict.from_wire(wire(status=status))
    assert verdict.status is Status(status)
    assert verdict.passed is (status == "passed")


def test_from_wire_fills_defaults_for_optional_fields():
    verdict = Verdict.from_wire({"status": "failed"})
    assert (verdict.status, verdict.reason, verdict.tests_collected, verdict.tests_passed) == (Status.FAILED, "", 0, 0)


@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"reason": "no status"},
        wire(status="PASSED"),
        wire(status="ok"),
        wire(status=True),
        wire(status=None),
        wire(tests_collected="many"),
        wire(tests_passed=None),
        wire(duration_s="soon"),
        None,
        ["passed"],
        "passed",
    ],
)
def test_from_wire_turns_malformed_answers_into_errors(answer):
    verdict = Verdict.from_wire(answer, attempts=2, executor="local")
    assert verdict.status is Status.ERROR
    assert not verdict.passed
    assert verdict.reason.startswith("malformed runner answer")
    assert (verdict.attempts, verdict.executor) == (2, "local")


def test_only_the_passed_status_is_a_pass():
    assert [s for s in Status if Verdict(s, "").passed] == [Status.PASSED]


# --------------------------------------------------------------------------- TestJob


@pytest.mark.parametrize("style", ["", "PYTEST", "unittest", None])
def test_testjob_rejects_unknown_styles(style):
    with pytest.raises(ValueError, match="style"):
        TestJob(style, "", "")  # type: ignore[arg-type]


@pytest.mark.parametrize("entry_point", [None, "", "1abc", "has space", "a.b"])
def test_testjob_humaneval_needs_an_identifier_entry_point(entry_point):
    with pytest.raises(ValueError, match="entry_point"):
        TestJob("check", "", "", entry_point=entry_point)


def test_testjob_pytest_needs_no_entry_point():
    assert TestJob("pytest", "", "").entry_point is None


def test_testjob_timeouts_and_wire_form():
    assert TestJob("pytest", "", "").effective_timeout == DEFAULT_TIMEOUTS["pytest"] == 30.0
    assert TestJob("check", "", "", entry_point="f").effective_timeout == DEFAULT_TIMEOUTS["check"] == 10.0
    job = TestJob("check", "sol", "tst", entry_point="f", timeout=2, id="x")
    assert job.effective_timeout == 2.0
    assert job.to_wire() == {
        "id": "x", "style": "check", "solution": "sol", "test": "tst", "entry_point": "f", "timeout": 2.0,
        "prelude": None, "handle_ops": None,
    }
    assert dataclasses.replace(job, handle_ops=("add",)).to_wire()["handle_ops"] == ["add"]
    # The wire form is exactly what build_files reads.
    assert build_files(job.to_wire()) == {"solution.py": "sol", "test_solution.py": "tst"}


def test_testjob_is_frozen():
    job = TestJob("pytest", "", "")
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.solution = "x"  # type: ignore[misc]
