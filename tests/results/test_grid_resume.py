"""``gcop grid`` killed with SIGKILL mid-run, then run again, ends with the same per-sample scores
as an uninterrupted grid, re-using the samples the killed run had written to its log."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED_DATA, needs_shared_data
from tests.crashkit import gcop_process, kill_when, run_gcop

LIMIT = 24
LATENCY = 0.2  # s per offline model call, so that a row lasts a few seconds


def _args(log_dir: Path) -> list[str]:
    return ["grid", "--benchmark", "gsm8k", "--core", "gcop/reference", "--guide", "ref=gcop/reference",
            "--limit", str(LIMIT), "--log-dir", str(log_dir), "--data-dir", str(SHARED_DATA), "--display", "none",
            "--max-samples", "2", "--no-preflight-calls"]


def _flushed_samples(log_dir: Path) -> int:
    """The most samples any log in ``log_dir`` holds so far (Inspect flushes them in batches)."""
    most = 0
    for path in log_dir.glob("*.eval"):
        try:
            with zipfile.ZipFile(path) as archive:
                most = max(most, sum(1 for name in archive.namelist() if name.startswith("samples/")))
        except (OSError, zipfile.BadZipFile):  # being written
            continue
    return most


def _rows(log_dir: Path) -> dict[str, Any]:
    """Row name -> its one complete log (every row must have exactly one)."""
    from inspect_ai.log import read_eval_log

    complete: dict[str, Any] = {}
    for path in sorted(log_dir.glob("*.eval")):
        log = read_eval_log(str(path))
        if log.status != "success":
            continue
        row = log.eval.metadata["gcop_grid"]["row"]
        assert row not in complete, f"two complete logs for the row {row!r}"
        complete[row] = log
    return complete


def _scores(log: Any) -> dict[tuple[str, int], Any]:
    return {(str(s.id), s.epoch): {name: score.value for name, score in (s.scores or {}).items()} for s in log.samples}


@needs_shared_data
@pytest.mark.slow
def test_grid_killed_mid_run_resumes_to_the_same_scores(tmp_path: Path) -> None:
    reference = tmp_path / "uninterrupted"
    assert run_gcop(_args(reference), cwd=tmp_path, latency=LATENCY, log=tmp_path / "uninterrupted.log") == 0
    expected = {row: _scores(log) for row, log in _rows(reference).items()}
    assert len(expected) == 2 and all(len(scores) == LIMIT for scores in expected.values())

    log_dir = tmp_path / "killed"
    # killed as soon as a row's log exists (no sample written yet), then once a row has flushed samples
    for name, ready in {"row started": lambda: any(log_dir.glob("*.eval")),
                        "samples flushed": lambda: _flushed_samples(log_dir) >= 10}.items():
        process = gcop_process(_args(log_dir), cwd=tmp_path, latency=LATENCY, log=tmp_path / f"{name}.log")
        assert kill_when(process, ready), f"the grid ended before the kill point {name!r}"
    from inspect_ai.log import read_eval_log

    killed = {}
    for path in log_dir.glob("*.eval"):
        log = read_eval_log(str(path))
        # what a kill leaves: an unfinished log ("started"), readable; the next run may have
        # recovered it from Inspect's sample buffer into "<log>-recovered.eval" ("error")
        assert log.status in ("started", "error")
        killed.update({str(s.id): s.uuid for s in log.samples or []})
    assert len(killed) >= 10

    assert run_gcop(_args(log_dir), cwd=tmp_path, latency=LATENCY, log=tmp_path / "rerun.log") == 0
    rows = _rows(log_dir)
    assert {row: _scores(log) for row, log in rows.items()} == expected
    reused = {str(s.id): s.uuid for log in rows.values() for s in log.samples if killed.get(str(s.id)) == s.uuid}
    assert reused, "the samples the killed run had written were run again instead of re-used"
    # the leaderboard reads the complete logs only: one row each, as after the uninterrupted grid
    from gcop.results.leaderboard import build_leaderboard

    assert sorted((r.recipe, r.n, r.accuracy) for r in build_leaderboard(log_dir).rows) == \
        sorted((r.recipe, r.n, r.accuracy) for r in build_leaderboard(reference).rows)


def test_a_memory_file_missing_after_a_kill_is_written_by_the_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gcop's hook writes a memory row's memory file after its log; a kill between the two leaves
    a complete log that eval_set skips, so the grid writes the missing file itself."""
    from types import SimpleNamespace

    import gcop.results.grid
    from gcop.results.grid import _restore_memory_files

    written: list[str] = []
    monkeypatch.setattr(gcop.results.grid, "write_memory_file", lambda log: written.append(log.location))

    def log(name: str, *, status: str = "success", memory: bool = True) -> Any:
        return SimpleNamespace(status=status, location=str(tmp_path / f"{name}.eval"),
                               eval=SimpleNamespace(metadata={"memory": {}} if memory else {}))

    (tmp_path / "has.memory.jsonl").write_text("")
    _restore_memory_files([log("missing"), log("has"), log("failed", status="error"), log("plain", memory=False)])
    assert written == [str(tmp_path / "missing.eval")]
