"""`gcop verify`, `gcop selfcheck` and the CLI's help, through the local executor (and Docker
where marked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gcop.cli import EXIT_FAILED, EXIT_OK, EXIT_SANDBOX, EXIT_USAGE, build_parser, main
from gcop.evals.humaneval.spec import load_humaneval
from gcop.verify import estimate_pass_at_k, verify_file
from tests.conftest import SHARED_DATA, docker_ready, needs_shared_data


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def humaneval():
    return {p.task_id: p for p in load_humaneval()}


def test_humaneval_results_keep_fields_order_and_report_bad_lines(tmp_path, humaneval, capsys):
    first, second = humaneval["HumanEval/0"], humaneval["HumanEval/2"]
    samples = _write(tmp_path / "samples.jsonl", [
        {"task_id": first.task_id, "completion": first.canonical_solution, "model": "m1", "extra": [1, 2]},
        "{not json",
        {"task_id": second.task_id, "completion": "    return 0.0\n"},
        {"task_id": "HumanEval/9999", "completion": "x"},
        ["a list"],
        {"task_id": first.task_id},
        "",
        {"task_id": second.task_id, "completion": ""},
        {"task_id": second.task_id, "completion": "```python\ndef truncate_number(number: float) -> float:\n    return number % 1.0\n```"},
    ])
    summary = verify_file("humaneval", samples, executor="local", workers=2, progress=False)
    out = tmp_path / "samples.jsonl_results.jsonl"
    assert summary.out_path == out
    results = _read(out)
    assert [r["task_id"] for r in results] == [first.task_id, second.task_id, second.task_id, second.task_id]
    assert results[0]["model"] == "m1" and results[0]["extra"] == [1, 2]
    assert [r["passed"] for r in results] == [True, False, False, True]
    assert results[2]["result"]["reason"].startswith("empty completion")
    assert {r["result"]["status"] for r in results} == {"passed", "failed"}
    # how each sandboxed verdict was decided is in the file a user keeps (the empty completion
    # never reached the sandbox)
    boundary = results[0]["result"]["boundary"]
    assert boundary["mode"] == "process" and boundary["tests_by_value"] + boundary["tests_through_handle"] == 1
    assert "boundary" not in results[2]["result"]
    bad = "\n".join(summary.bad_lines)
    assert f"{samples}:2: not valid JSON" in bad
    assert "HumanEval/9999" in bad and f"{samples}:4:" in bad
    assert f"{samples}:5: expected a JSON object" in bad
    assert f"{samples}:6: missing field 'completion'" in bad
    assert summary.counts == {"passed": 2, "failed": 2}
    # two problems: HumanEval/0 1/1, HumanEval/2 1/3 -> mean pass@1 = (1 + 1/3) / 2
    assert summary.pass_at_k["pass@1"] == pytest.approx((1 + 1 / 3) / 2)
    # three judged samples, one test each, all decided by value (the empty one was never judged)
    assert summary.boundary == {"tests_by_value": 3, "tests_through_handle": 0, "jobs_in_process": 0, "jobs_unrecorded": 0,
                                "jobs_without_session": 0}
    assert "verdict strength: 100.0% of 3 tests decided by value only" in summary.format()


def test_kodcode_line_test_replaces_the_problem_tests(tmp_path):
    from gcop.evals.kodcode.spec import load_kodcode

    if not SHARED_DATA.is_dir():
        pytest.skip("no shared data")
    problem = load_kodcode(None, SHARED_DATA)[0]
    own_test = "def test_always_fails():\n    assert False\n"
    samples = _write(tmp_path / "k.jsonl", [
        {"question_id": problem.question_id, "completion": problem.solution},
        {"question_id": problem.question_id, "completion": problem.solution, "test": own_test},
        {"question_id": problem.question_id, "completion": "Here you go:\n```python\n" + problem.solution + "\n```\nDone."},
    ])
    summary = verify_file("kodcode", samples, out_path=tmp_path / "out.jsonl", executor="local",
                          data_dir=SHARED_DATA, progress=False)
    results = _read(tmp_path / "out.jsonl")
    assert [r["passed"] for r in results] == [True, False, True]
    assert "test_always_fails" in results[1]["result"]["reason"]
    assert summary.counts == {"passed": 2, "failed": 1}


@needs_shared_data
def test_gsm8k_targets_and_ids(tmp_path):
    from gcop.evals.gsm8k.spec import load_gsm8k

    problem = load_gsm8k("test", SHARED_DATA)[0]
    samples = _write(tmp_path / "g.jsonl", [
        {"completion": "so the answer is \\boxed{\\$1,234.00}", "target": "1234"},
        {"completion": "#### 7", "target": 8},
        {"id": problem.id, "completion": f"The answer is {problem.target}."},
        {"id": "gsm8k-000000000000", "completion": "#### 1"},
        {"completion": "I do not know", "target": "3"},
    ])
    summary = verify_file("gsm8k", samples, data_dir=SHARED_DATA, progress=False)
    results = _read(tmp_path / "g.jsonl_results.jsonl")
    assert [r["passed"] for r in results] == [True, False, True, False]
    assert "no final answer" in results[3]["result"]["reason"]
    assert len(summary.bad_lines) == 1 and "unknown id 'gsm8k-000000000000' (not in any split of gsm8k)" in summary.bad_lines[0]


def test_gsm8k_with_targets_needs_no_data(tmp_path, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("data must not be loaded when every line has a target")

    monkeypatch.setattr("gcop.verify.problem_index", no_data)
    samples = _write(tmp_path / "g.jsonl", [{"completion": "\\boxed{5}", "target": "5"}])
    assert verify_file("gsm8k", samples, progress=False).counts == {"passed": 1}


def test_cli_exit_codes_and_messages(tmp_path, capsys, humaneval):
    good = _write(tmp_path / "ok.jsonl", [{"task_id": "HumanEval/0", "completion": humaneval["HumanEval/0"].canonical_solution}])
    assert main(["verify", "humaneval", str(good), "--executor", "local", "--no-progress"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "pass@1: 1.0000" in out and "passed: 1" in out
    bad = _write(tmp_path / "bad.jsonl", ["{", {"task_id": "HumanEval/0", "completion": "return 1"}])
    assert main(["verify", "humaneval", str(bad), "--executor", "local", "--no-progress"]) == EXIT_FAILED
    captured = capsys.readouterr()
    assert f"skipped {bad}:1: not valid JSON" in captured.err
    assert main(["verify", "humaneval", str(tmp_path / "missing.jsonl")]) == EXIT_USAGE
    assert "no such file" in capsys.readouterr().err


def test_the_engines_are_opened_before_the_samples_are_read(tmp_path, monkeypatch, humaneval):
    """Connecting to the engines (for Docker, importing its SDK: this process's CPU) comes before
    reading the samples, so that the reading overlaps the sandboxes' start (the engine's work)
    instead of delaying it."""
    import gcop.verify
    from gcop.sandbox.executors import LocalExecutor

    events: list[str] = []

    class Recording(LocalExecutor):
        async def open(self) -> None:
            await super().open()
            events.append("opened")

        async def start(self) -> None:
            events.append("start")
            await super().start()

    real_read = gcop.verify.read_samples

    def reading(*args, **kwargs):
        events.append("read")
        return real_read(*args, **kwargs)

    monkeypatch.setattr(gcop.verify, "make_executor", lambda kind, workers: Recording(workers=workers))
    monkeypatch.setattr(gcop.verify, "read_samples", reading)
    good = _write(tmp_path / "ok.jsonl", [{"task_id": "HumanEval/0", "completion": humaneval["HumanEval/0"].canonical_solution}])
    summary = verify_file("humaneval", good, executor="local", workers=1, progress=False)
    assert summary.counts["passed"] == 1
    assert events.index("opened") < events.index("read")
    assert "start" in events


def test_the_command_freezes_what_is_alive_before_it_exits_only_after_verify(monkeypatch):
    """What is alive when ``gcop verify`` returns dies with the process: frozen, it is left out of
    the collection the interpreter runs as it shuts down. Other commands exit as Python does."""
    import argparse
    import gc

    import gcop.cli

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    for asks in (False, True):
        monkeypatch.setattr(gcop.cli, "_main", lambda argv, asks=asks: (3, argparse.Namespace(frozen_exit=asks)))
        with pytest.raises(SystemExit) as exited:
            gcop.cli.console()
        assert exited.value.code == 3
        assert frozen == ([True] if asks else [])
    assert build_parser().parse_args(["verify", "humaneval", "x.jsonl"]).frozen_exit is True
    assert not getattr(build_parser().parse_args(["selfcheck"]), "frozen_exit", False)


def test_python_m_gcop_verify_writes_its_results_and_exits_with_its_code(tmp_path, humaneval):
    import subprocess
    import sys

    good = _write(tmp_path / "ok.jsonl", [{"task_id": "HumanEval/0", "completion": humaneval["HumanEval/0"].canonical_solution},
                                          {"task_id": "HumanEval/2", "completion": "    return 0.5\n"}])
    done = subprocess.run([sys.executable, "-m", "gcop", "verify", "humaneval", str(good), "--executor", "local", "--no-progress"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == EXIT_OK, done.stderr
    assert "passed: 1, failed: 1" in done.stdout
    assert [r["passed"] for r in _read(tmp_path / "ok.jsonl_results.jsonl")] == [True, False]


def test_docker_unreachable_is_one_clear_message(tmp_path, capsys, monkeypatch, humaneval):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    good = _write(tmp_path / "ok.jsonl", [{"task_id": "HumanEval/0", "completion": "    return True\n"}])
    assert main(["verify", "humaneval", str(good), "--no-progress"]) == EXIT_SANDBOX
    err = capsys.readouterr().err
    assert "Docker is not reachable" in err and "--executor local" in err
    assert "Traceback" not in err


def test_an_engine_that_cannot_be_reached_is_tried_once_and_said_after_the_bad_lines(tmp_path, capsys, monkeypatch, humaneval):
    """A remote engine that does not answer costs one connection timeout, not one per attempt."""
    from gcop.sandbox.executors import DockerPoolExecutor, SandboxUnavailableError

    attempts: list[int] = []

    async def unreachable(self):
        attempts.append(1)
        raise SandboxUnavailableError("Docker at tcp://nowhere:2376 is not reachable (timed out)")

    monkeypatch.setattr(DockerPoolExecutor, "_open_engines", unreachable)
    samples = _write(tmp_path / "ok.jsonl", ["{", {"task_id": "HumanEval/0", "completion": "    return True\n"}])
    assert main(["verify", "humaneval", str(samples), "--no-progress"]) == EXIT_SANDBOX
    err = capsys.readouterr().err
    assert attempts == [1]
    assert err.index("not valid JSON") < err.index("tcp://nowhere:2376 is not reachable")


def test_every_command_has_useful_help(capsys):
    parser = build_parser()
    for argv in (["--help"], ["verify", "--help"], ["selfcheck", "--help"], ["sandbox", "--help"],
                 ["sandbox", "build", "--help"], ["sandbox", "check", "--help"], ["sandbox", "clean", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(argv)
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert len(text) > 200, argv
    with pytest.raises(SystemExit):
        parser.parse_args(["verify", "--help"])
    text = capsys.readouterr().out
    for word in ("task_id", "question_id", "target", "--executor", "--data-dir", "--workers", "--out"):
        assert word in text


def test_pass_at_k_estimator():
    assert estimate_pass_at_k(10, 0, 1) == 0.0
    assert estimate_pass_at_k(10, 10, 5) == 1.0
    assert estimate_pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert estimate_pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2)


@pytest.mark.slow
@needs_shared_data
def test_selfcheck_local_all_references_and_trials():
    from gcop.selfcheck import run_selfcheck

    results = {r.name: r for r in run_selfcheck(executor="local", workers=2, data_dir=SHARED_DATA, progress=False)}
    assert results["gsm8k"].counts == {"passed": 8792}
    assert results["humaneval"].counts == {"passed": 164}
    assert results["kodcode"].counts == {"passed": 152}
    # Recorded trials: KodCode's own verdicts, replayed (local isolation, same rules).
    trials = results["kodcode trials"]
    assert trials.total == 417 and trials.agree == 417, trials.format()


@pytest.mark.docker
@pytest.mark.slow
@needs_shared_data
def test_selfcheck_docker_all_references_and_trials():
    if not docker_ready():
        pytest.skip("no Docker engine or sandbox image")
    from gcop.selfcheck import run_selfcheck

    results = {r.name: r for r in run_selfcheck(executor="docker", workers=2, data_dir=SHARED_DATA,
                                                benchmarks=["humaneval", "kodcode"], progress=False)}
    assert results["humaneval"].counts == {"passed": 164}
    assert results["kodcode"].counts == {"passed": 152}
    trials = results["kodcode trials"]
    assert trials.total == 417 and trials.agree == 417, trials.format()


@pytest.mark.slow
@needs_shared_data
def test_selfcheck_ends_with_the_leaderboard_of_its_own_run(tmp_path, capsys):
    logs = tmp_path / "logs"
    (logs / "older").mkdir(parents=True)
    (logs / "older" / "not-a-log.eval").write_text("other runs in the folder are not part of this run's board")
    code = main(["selfcheck", "--benchmark", "humaneval", "--executor", "local", "--no-trials",
                 "--log-dir", str(logs), "--data-dir", str(SHARED_DATA)])
    out = capsys.readouterr().out
    assert code == 0, out
    board = out[out.index("# Leaderboard"):]
    assert "`gcop selfcheck` (offline)" in board
    rows = [line for line in board.splitlines() if line.startswith("| humaneval ")]
    assert len(rows) == 1 and "| gcop/reference |" in rows[0] and "| 164 |" in rows[0] and "100.0%" in rows[0]
    assert out.rstrip().endswith("selfcheck: all references pass")
    written = json.loads((logs / "leaderboard" / "leaderboard.json").read_text())
    assert [r["n"] for r in written["rows"]] == [164] and written["skipped_logs"] == []


@pytest.mark.slow
@needs_shared_data
def test_selfcheck_without_docker_falls_back_to_the_local_executor_and_says_so(tmp_path, capsys, monkeypatch):
    import gcop.sandbox.executors

    monkeypatch.setattr(gcop.sandbox.executors, "docker_image_available", lambda *a, **k: False)
    code = main(["selfcheck", "--benchmark", "gsm8k", "--no-trials", "--no-leaderboard",
                 "--log-dir", str(tmp_path / "logs"), "--data-dir", str(SHARED_DATA)])
    captured = capsys.readouterr()
    assert code == 0, captured.out
    assert "no Docker engine with the sandbox image answers" in captured.err and "local executor" in captured.err
