"""Crash-safe resumption: ``kill -9`` at any moment, then the same command again, ends where an
uninterrupted run ends; the durable-write helpers, the ledger's journal and the baseline cache.

The end-to-end tests run the real CLI in a subprocess (:mod:`tests.crashkit`, which only slows the
offline models down so that a run can be killed part-way) and kill it with SIGKILL, so no
``finally`` block, ``atexit`` hook or buffered write gets to run.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import stat
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.model import ModelUsage

from gcop.durable import LineAppender, new_file_mode, read_jsonl_tolerant, share_like_new_files, write_atomic
from gcop.train.baselines import BaselineCache
from gcop.train.ledger import BudgetExceeded, CostLedger, journal_path
from tests.conftest import REPO_ROOT, SHARED_DATA, needs_shared_data
from tests.crashkit import count_lines, gcop_process, jsonl_rows, kill_when, run_gcop

SMOKE_GRPO = REPO_ROOT / "train" / "configs" / "smoke_grpo.yaml"
USAGE = ModelUsage(input_tokens=10, output_tokens=5, total_tokens=15, total_cost=0.001)


# --------------------------------------------------------------------------- durable writes


def test_write_atomic_replaces_whole_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.json"
    write_atomic(target, "one\n")
    write_atomic(target, b"two\n")
    assert target.read_text() == "two\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.json"]


def test_written_files_get_the_umasks_mode_not_mkstemps_0600(tmp_path: Path) -> None:
    """A checkpoint is shared (a group, a CI cache): its files get what open() would give them."""
    old = os.umask(0o027)
    try:
        assert new_file_mode() == 0o640
        target = write_atomic(tmp_path / "card.json", "{}\n")
        assert stat.S_IMODE(target.stat().st_mode) == 0o640
        private = tmp_path / "model.safetensors"
        private.write_bytes(b"x")
        private.chmod(0o600)  # as safetensors leaves it
        (tmp_path / "sub").mkdir(mode=0o700)
        share_like_new_files(tmp_path)
        assert stat.S_IMODE(private.stat().st_mode) == 0o640
        assert stat.S_IMODE((tmp_path / "sub").stat().st_mode) == 0o700  # folders are left alone
    finally:
        os.umask(old)


def test_appender_cuts_a_torn_line_and_keeps_a_whole_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"n": 1}\n{"n": 2, "tor')  # a writer killed mid-line
    with LineAppender(path) as appender:
        appender.write_record({"n": 3})
    assert path.read_text() == '{"n": 1}\n{"n": 3}\n'
    path.write_text('{"n": 1}\n{"n": 2}')  # killed after the record, before its newline: kept
    with LineAppender(path) as appender:
        appender.write_record({"n": 3})
    assert path.read_text() == '{"n": 1}\n{"n": 2}\n{"n": 3}\n'
    assert LineAppender(path).append("{}", only_if_empty=True) is False


def test_reading_drops_a_torn_last_line_and_reports_a_corrupt_middle_line(tmp_path: Path,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"n": 1}\nnot json\n{"n": 3}\n{"n": 4, "to')
    with caplog.at_level(logging.WARNING):
        rows, bad = read_jsonl_tolerant(path)
    assert [r["n"] for _, r in rows] == [1, 3]
    assert [(e.line, e.message) for e in bad] == [(2, "not valid JSON")]  # the torn last line is no error
    assert f"{path}:2" in caplog.text and f"{path}:4: torn last line dropped" in caplog.text


def _append_rows(path: str, writer: int, n: int) -> None:
    with LineAppender(path) as appender:
        for i in range(n):
            appender.write_record({"writer": writer, "i": i, "pad": "x" * 3000})  # lines longer than a pipe buffer


def test_appends_from_several_processes_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "shared.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_rows, args=(str(path), w, 150)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    rows = jsonl_rows(path)
    assert Counter(r["writer"] for r in rows) == {0: 150, 1: 150, 2: 150, 3: 150}
    assert all([r["i"] for r in rows if r["writer"] == w] == list(range(150)) for w in range(4))


# --------------------------------------------------------------------------- the ledger's journal


def test_ledger_journal_counts_each_call_once_across_instances(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ledger.json"
    first = CostLedger.load(path, budget_usd=0.0035)
    for _ in range(3):
        first.record_usage("m", USAGE, phase="core")
    # no save: a run killed here has its three calls in the journal, not in ledger.json
    assert not path.exists() and count_lines(journal_path(path)) == 3
    second = CostLedger.load(path, budget_usd=1.0)  # the resumed run
    assert second.phase("core").calls == 3 and second.total_usd == pytest.approx(0.003)
    second.record_usage("m", USAGE, phase="judge")
    # a rank sharing the file sees the other's spend when it looks again (check_budget does)
    with pytest.raises(BudgetExceeded):
        first.check_budget()
    assert first.refresh() == 0 and first.phase("judge").calls == 1 and first.total_usd == pytest.approx(0.004)
    second.save()
    summary = json.loads(path.read_text())
    assert summary["phases"]["core"]["calls"] == 3 and summary["phases"]["judge"]["calls"] == 1
    assert summary["journal"] == "ledger.jsonl"
    # a torn last row and a corrupt one in the middle: both skipped, with file and line, no crash
    with journal_path(path).open("a") as handle:
        handle.write("garbage\n" + '{"v": 1, "w": "x", "phase": "core", "model": "m", "cost_')
    with caplog.at_level(logging.WARNING):
        third = CostLedger.load(path)
    assert third.phase("core").calls == 3 and third.phase("judge").calls == 1
    assert f"{journal_path(path)}:5: corrupt ledger row skipped" in caplog.text
    assert f"{journal_path(path)}:6: last line has no newline" in caplog.text
    third.record_usage("m", USAGE, phase="core")  # cuts the torn row off before writing
    rows = journal_path(path).read_text().splitlines()
    assert len(rows) == 6 and rows[4] == "garbage" and json.loads(rows[5])["phase"] == "core"
    assert CostLedger.load(path).phase("core").calls == 4


def test_ledger_carries_an_old_summary_and_memory_totals_into_the_journal(tmp_path: Path) -> None:
    # a folder from before the journal: ledger.json alone; loading it twice imports it once
    old = CostLedger()
    old.record_usage("m", USAGE, phase="teacher")
    path = old.save(tmp_path / "ledger.json")
    a, b = CostLedger.load(path), CostLedger.load(path)
    assert a.phase("teacher").calls == b.phase("teacher").calls == 1
    assert count_lines(journal_path(path)) == 1
    a.record_usage("m", USAGE, phase="core")
    assert CostLedger.load(path).totals().calls == 2
    # a memory-only ledger given a path later: what it counted so far goes to the journal too
    late = CostLedger()
    late.record_usage("m", USAGE, phase="core")
    late.path = tmp_path / "other" / "ledger.json"
    late.record_usage("m", USAGE, phase="core")
    assert CostLedger.load(tmp_path / "other" / "ledger.json").phase("core").calls == 2


def _record_rows(path: str, n: int) -> None:
    ledger = CostLedger.load(path)
    for _ in range(n):
        ledger.record_usage("m", USAGE, phase="core")


def test_ledger_shared_by_processes_loses_no_row(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_record_rows, args=(str(path), 100)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    ledger = CostLedger.load(path)
    assert ledger.phase("core").calls == 300 and ledger.total_usd == pytest.approx(0.3)
    assert len({r["w"] for r in jsonl_rows(journal_path(path))}) == 3


_FORKED: CostLedger | None = None


def _record_in_forked_child(n: int) -> None:
    assert _FORKED is not None
    for _ in range(n):
        _FORKED.record_usage("m", USAGE, phase="core")


def test_ledger_inherited_by_forked_ranks_counts_each_row_once(tmp_path: Path) -> None:
    global _FORKED
    path = tmp_path / "ledger.json"
    _FORKED = ledger = CostLedger.load(path)
    ledger.record_usage("m", USAGE, phase="core")  # before the fork: the children count it once too
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_record_in_forked_child, args=(20,)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    ledger.record_usage("m", USAGE, phase="core")
    ledger.refresh()
    assert ledger.phase("core").calls == 42 == CostLedger.load(path).phase("core").calls
    assert len({r["w"] for r in jsonl_rows(journal_path(path))}) == 3  # each child wrote as itself


# --------------------------------------------------------------------------- the baseline cache


def test_baseline_cache_recomputes_torn_corrupt_and_misnamed_entries(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    cache = BaselineCache(tmp_path)
    fields = {"problem_id": "p1", "core_model": "m"}
    key = BaselineCache.key(fields)
    cache.put(key, {**fields, "reward": 1.0}, key_fields=fields)
    assert cache.get(key)["reward"] == 1.0
    path = cache.path(key)
    whole = path.read_text()
    other = {"problem_id": "p2", "core_model": "m"}
    planted = {
        "torn": whole[: len(whole) // 2],
        "empty": "",
        "corrupt": "\x00\x01 not json",
        "no reward": json.dumps({**fields, "key_fields": fields}),
        "misnamed": json.dumps({**other, "reward": 0.0, "key_fields": other}),  # p2's value under p1's name
        "misnamed, old format": json.dumps({**other, "reward": 0.0}),
    }
    for what, text in planted.items():
        path.write_text(text)
        with caplog.at_level(logging.WARNING):
            assert cache.get(key) is None, what
        assert str(path) in caplog.text
        caplog.clear()
    assert cache.bad == len(planted)
    # an entry written before key_fields existed, under its right name, still counts
    path.write_text(json.dumps({**fields, "reward": 0.5, "statuses": ["ok"]}))
    assert cache.get(key)["reward"] == 0.5
    with pytest.raises(ValueError, match="not the hash"):
        cache.put(key, {"reward": 1.0}, key_fields=other)


@needs_shared_data
def test_reward_engine_recomputes_a_planted_torn_and_corrupt_baseline(tmp_path: Path) -> None:
    from gcop.evals.benchmarks import load_problems
    from gcop.train.rewards import GuideRewards, RewardModels, RewardSettings, problem_info

    problems = load_problems("gsm8k", "train", SHARED_DATA)[:2]
    engine = GuideRewards(problems, RewardModels(core="mockllm/strategy_gated"),
                          RewardSettings(gamma=0, baseline_cache=tmp_path / "cache"))
    infos = [problem_info(p) for p in problems]
    keys = [BaselineCache.key(engine.baseline_key_fields(info)) for info in infos]
    paths = [engine.baseline_cache.path(k) for k in keys]
    for path, text in zip(paths, ('{"reward": 0.0, "core_mo', "corrupt \x00"), strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    good = "<think>\nx\n</think>\n<strategy>\n1. Add the numbers.\n2. Check.\n</strategy>"
    engine.compute([info.id for info in infos], [good, good])
    assert engine.stats["baseline_computed"] == 2 and engine.stats["baseline_disk_hits"] == 0
    for path, key in zip(paths, keys, strict=True):
        record = json.loads(path.read_text())  # overwritten whole, with the fields it was keyed on
        assert record["reward"] == 0.0 and BaselineCache.key(record["key_fields"]) == key
    again = GuideRewards(problems, RewardModels(core="mockllm/strategy_gated"),
                         RewardSettings(gamma=0, baseline_cache=tmp_path / "cache"))
    again.compute([info.id for info in infos], [good, good])
    assert again.stats["baseline_disk_hits"] == 2 and again.stats["baseline_computed"] == 0


# --------------------------------------------------------------------------- gcop train accept, killed


ACCEPT_LIMIT = 24
ACCEPT_K = 2
ACCEPT_ROUNDS = 2
ACCEPT_CONCURRENCY = 4
LATENCY = 0.3  # s per offline core call: 24 problems, 4 at a time, last about 2 s


def _accept_args(out: Path) -> list[str]:
    return ["train", "accept", "--benchmark", "gsm8k", "--teacher", "mockllm/teacher", "--core", "mockllm/strategy_gated",
            "-K", str(ACCEPT_K), "--tau", "1", "-R", str(ACCEPT_ROUNDS), "--limit", str(ACCEPT_LIMIT),
            "--concurrency", str(ACCEPT_CONCURRENCY), "--out", str(out), "--no-progress", "--data-dir", str(SHARED_DATA)]


def _calls_needed(record: dict[str, Any]) -> Counter[str]:
    """The model calls a finished problem took, from its state record: a teacher call per round,
    and K core calls per round whose strategy was executed (those with a q_K)."""
    rounds = record.get("rounds") or []
    return Counter(teacher=len(rounds), core=ACCEPT_K * sum(1 for r in rounds if "q_K" in r))


@needs_shared_data
@pytest.mark.slow
def test_accept_killed_at_several_points_ends_as_an_uninterrupted_run(tmp_path: Path) -> None:
    """What is asserted, and why:

    * the corpus, byte for byte, and the set of finished problems equal an uninterrupted run's
      (the offline models are deterministic, the corpus is written in data set order);
    * no torn or corrupt line in corpus.jsonl, state.jsonl or ledger.jsonl, and every problem has
      exactly one state line (a finished problem is never redone);
    * the ledger counts each call once. Each run (process) is one writer of the journal. For a killed run,
      its rows cover every call of the problems it finished (a call's row is fsynced before the
      problem's state line), and the rows beyond those are the calls of the problems in flight at
      the kill, at most ``concurrency`` problems' worth: those calls were made, and paid, before
      the kill. The final, uninterrupted run records exactly the calls of the problems it
      finished. So the total is the uninterrupted run's plus the in-flight calls of the killed
      runs, and ledger.json (the summary) equals the journal's sum.
    """
    reference = tmp_path / "uninterrupted"
    assert run_gcop(_accept_args(reference), cwd=tmp_path, latency=LATENCY) == 0
    expected_corpus = (reference / "corpus.jsonl").read_text()
    assert count_lines(reference / "corpus.jsonl") == ACCEPT_LIMIT
    expected_calls = json.loads((reference / "ledger.json").read_text())
    needed_all = sum((_calls_needed(r) for r in jsonl_rows(reference / "state.jsonl")), Counter())
    assert {p: expected_calls["phases"][p]["calls"] for p in needed_all} == dict(needed_all)

    out = tmp_path / "killed"
    state, journal = out / "state.jsonl", out / "ledger.jsonl"
    kill_points = {
        "at once": lambda: True,
        "right at the start": lambda: (out / "run.json").exists(),
        "after 1 problem": lambda: count_lines(state) >= 1,
        "about half": lambda: count_lines(state) >= ACCEPT_LIMIT // 2,
    }
    state_seen = 0
    runs: list[tuple[int, list[dict[str, Any]]]] = []  # (pid, the problems it finished), per run
    for name, ready in kill_points.items():
        process = gcop_process(_accept_args(out), cwd=tmp_path, latency=LATENCY, log=tmp_path / f"{name}.log")
        assert kill_when(process, ready), f"the run ended before the kill point {name!r}"
        lines = jsonl_rows(state) if state.exists() else []  # what a kill leaves reads cleanly
        assert len({r["id"] for r in lines}) == len(lines)
        runs.append((process.pid, lines[state_seen:]))
        state_seen = len(lines)
    assert 0 < state_seen < ACCEPT_LIMIT
    process = gcop_process(_accept_args(out), cwd=tmp_path, latency=LATENCY, log=tmp_path / "last.log")
    assert process.wait(timeout=900) == 0

    states = jsonl_rows(state)
    runs.append((process.pid, states[state_seen:]))
    assert (out / "corpus.jsonl").read_text() == expected_corpus
    jsonl_rows(out / "corpus.jsonl")
    assert sorted(r["id"] for r in states) == sorted(r["id"] for r in jsonl_rows(reference / "state.jsonl"))
    assert len({r["id"] for r in states}) == ACCEPT_LIMIT == len(states)

    rows = jsonl_rows(journal)
    # a journal row's writer is "<pid>-<random>": each run's rows are those of its process
    assert all(any(r["w"].startswith(f"{pid}-") for pid, _ in runs) for r in rows)
    per_problem = Counter(teacher=ACCEPT_ROUNDS, core=ACCEPT_ROUNDS * ACCEPT_K)
    wasted: Counter[str] = Counter()
    for number, (pid, finished) in enumerate(runs):
        recorded = Counter(r["phase"] for r in rows if r["w"].startswith(f"{pid}-"))
        needed = sum((_calls_needed(r) for r in finished), Counter())
        last = number == len(runs) - 1
        for phase in ("teacher", "core"):
            extra = recorded[phase] - needed[phase]
            assert extra == 0 if last else 0 <= extra <= ACCEPT_CONCURRENCY * per_problem[phase], (number, phase)
            wasted[phase] += extra
    summary = json.loads((out / "ledger.json").read_text())
    for phase in ("teacher", "core"):
        assert summary["phases"][phase]["calls"] == expected_calls["phases"][phase]["calls"] + wasted[phase]
        assert summary["phases"][phase]["calls"] == sum(1 for r in rows if r["phase"] == phase)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["problems"] == json.loads((reference / "stats.json").read_text())["problems"]
    assert not list(out.glob(".tmp-*"))


# --------------------------------------------------------------------------- gcop train grpo, killed


def test_resume_skips_a_checkpoint_cut_short(tmp_path: Path) -> None:
    from gcop.train.grpo import _resume_point, last_complete_checkpoint

    for step, state in ((2, "{}"), (4, "{}"), (6, '{"global_st'), (8, None)):  # 6 torn, 8 without its state
        (tmp_path / f"checkpoint-{step}").mkdir()
        if state is not None:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(state)
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-4"
    assert _resume_point(True, tmp_path) == str(tmp_path / "checkpoint-4")
    assert _resume_point(False, tmp_path) is None and _resume_point("x", tmp_path) == "x"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _resume_point(True, empty) is True  # no checkpoint at all: Transformers says so
    (empty / "checkpoint-1").mkdir()
    assert _resume_point(True, empty) is None  # only a torn one: start over


GRPO_STEPS = 4
GRPO_SAVE_STEPS = 2


def _grpo_args(root: Path, out: str) -> list[str]:
    """The smoke config, cut down: 4 steps from the tiny random guide, a checkpoint every 2. The
    Advisor recipe, because its reward calls the core for every completion, valid or not (the
    tiny guide writes no valid strategy, so ExecTune's rewards would make no call to count)."""
    return ["train", "grpo", "--config", str(SMOKE_GRPO), "--recipe", "advisor", "--model_name_or_path", "tiny",
            "--data_dir", str(SHARED_DATA), "--limit", "8", "--output_dir", str(root / out),
            "--baseline_cache", str(root / f"{out}-baselines"), "--heldout_limit", "0", "--max_steps", str(GRPO_STEPS),
            "--save_steps", str(GRPO_SAVE_STEPS), "--max_completion_length", "16"]


def _complete_checkpoint(path: Path) -> bool:
    try:
        json.loads((path / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return True


def _calls_per_step(rows: list[dict[str, Any]], pid: int | None = None) -> Counter[int]:
    return Counter(r["context"]["step"] for r in rows
                   if r["phase"] == "core" and (pid is None or r["w"].startswith(f"{pid}-")))


@needs_shared_data
@pytest.mark.slow
def test_grpo_killed_after_a_checkpoint_resumes_to_the_same_steps(tmp_path: Path) -> None:
    """Killed once checkpoint-2 is complete (often mid-step 3), then ``--resume``: training ends
    at step 4 as an uninterrupted run does, from checkpoint-2 (steps 1-2 are not redone). The
    ledger counts each executed step's calls once: steps 1-2 only in the killed run's rows, and as
    many as in the uninterrupted run; steps 3-4 in the resumed run's rows, as many as in the
    uninterrupted run; the killed run's calls for the step it was in when killed are kept (they
    were made), tagged with that step, and never more than a whole step's. ledger.json is the
    journal's sum."""
    assert run_gcop(_grpo_args(tmp_path, "uninterrupted"), cwd=tmp_path, log=tmp_path / "uninterrupted.log") == 0
    reference = tmp_path / "uninterrupted"
    expected = _calls_per_step(jsonl_rows(reference / "ledger.jsonl"))
    assert sorted(expected) == list(range(1, GRPO_STEPS + 1)) and all(expected.values())
    assert json.loads((reference / "gcop_train.json").read_text())["metrics"]["steps"] == GRPO_STEPS

    out = tmp_path / "killed"
    first = gcop_process(_grpo_args(tmp_path, "killed"), cwd=tmp_path, log=tmp_path / "killed.log")
    assert kill_when(first, lambda: _complete_checkpoint(out / f"checkpoint-{GRPO_SAVE_STEPS}"))
    assert not (out / "gcop_train.json").exists()
    second = gcop_process([*_grpo_args(tmp_path, "killed"), "--resume"], cwd=tmp_path, log=tmp_path / "resumed.log")
    assert second.wait(timeout=900) == 0, (tmp_path / "resumed.log").read_text()[-3000:]

    record = json.loads((out / "gcop_train.json").read_text())
    assert record["metrics"]["steps"] == GRPO_STEPS and _complete_checkpoint(out / f"checkpoint-{GRPO_STEPS}")
    rows = jsonl_rows(out / "ledger.jsonl")
    assert all(r["w"].startswith((f"{first.pid}-", f"{second.pid}-")) for r in rows)
    killed, resumed = _calls_per_step(rows, first.pid), _calls_per_step(rows, second.pid)
    done = range(1, GRPO_SAVE_STEPS + 1)
    assert {s: killed[s] for s in done} == {s: expected[s] for s in done}
    assert resumed == {s: expected[s] for s in range(GRPO_SAVE_STEPS + 1, GRPO_STEPS + 1)}
    in_flight = {s: n for s, n in killed.items() if s > GRPO_SAVE_STEPS}
    assert set(in_flight) <= {GRPO_SAVE_STEPS + 1} and all(n <= expected[s] for s, n in in_flight.items())
    summary = json.loads((out / "ledger.json").read_text())
    assert summary["phases"]["core"]["calls"] == len(rows) == sum(expected.values()) + sum(in_flight.values())
