"""Completions that know nothing of the tests and learn them over many runs in one warm sandbox,
as GRPO's rollouts would: a *learner* that harvests expected values from whatever it can read
(its own stdout and stderr, other processes' ``/proc`` entries, the job's directory) and a
*guessing oracle* that guesses each answer and reads "the judge called me again" as "the last
guess held". Both keep what they learnt in every store that could outlive a job: files in
``/tmp``, ``/var/tmp``, ``/dev/shm``, the work root and ``$HOME``, a POSIX message queue and a
SysV shared memory segment.

With a store that survives (simulated here in plain Python, no sandbox), the completion passes
HumanEval/0 and KodCode Prefill_00000069_C within the runs given; in the sandbox, run after run
on one container (``workers=1``), it passes neither, ever.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io

import pytest

from gcop.evals.benchmarks import load_problems
from gcop.evals.humaneval.spec import humaneval_job
from gcop.evals.kodcode.spec import kodcode_job
from gcop.sandbox.protocol import Status
from tests.conftest import SHARED_DATA, needs_shared_data
from tests.sandbox.test_sandbox_attacks import (
    kind,  # noqa: F401 - the executor fixture (docker, local)
    run_jobs,
    skip_on_local,
    src,
)

pytestmark = [pytest.mark.slow, needs_shared_data]

RUNS = 14

_ORACLE = src(
    """
    import ctypes, json, os, re

    STORES = @STORES@
    IPC = True  # the message queue and the shared memory segment as stores too
    GUESSES = [True, False, 0, 1, 2, 3, 4, 5, -1, None, [], ""]
    PATTERN = re.compile(r"(?:ENTRY|candidate)\\((.*?)\\) == (.+)")

    def _posix_queue(write=None):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.mq_open(b"/gcop-oracle", os.O_CREAT | os.O_RDWR | os.O_NONBLOCK, 0o600, None)
            if fd < 0:
                return []
            buffer, found = ctypes.create_string_buffer(1 << 16), []
            while True:
                size = libc.mq_receive(fd, buffer, len(buffer), None)
                if size < 0:
                    break
                found.append(buffer.raw[:size])
            for text in found[-1:] if write is None else [write]:
                libc.mq_send(fd, text, len(text), 0)
            return found
        except Exception:
            return []

    def _sysv_segment(write=None):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.shmat.restype = ctypes.c_void_p
            ident = libc.shmget(0x6C6561726E, 1 << 16, 0o1000 | 0o600)  # IPC_CREAT
            address = libc.shmat(ident, None, 0)
            if ident < 0 or address in (None, ctypes.c_void_p(-1).value):
                return []
            size = int.from_bytes(ctypes.string_at(address, 4), "little")
            found = [ctypes.string_at(address + 4, size)] if 0 < size < (1 << 16) - 4 else []
            if write is not None:
                ctypes.memmove(address + 4, write, len(write))
                ctypes.memmove(address, len(write).to_bytes(4, "little"), 4)
            return found
        except Exception:
            return []

    def _load():
        texts = []
        for path in STORES:
            try:
                with open(os.path.expanduser(path), "rb") as f:
                    texts.append(f.read())
            except OSError:
                pass
        if IPC:
            texts += _posix_queue() + _sysv_segment()
        states = []
        for text in texts:
            try:
                states.append(json.loads(text))
            except ValueError:
                pass
        return max(states, key=lambda s: s.get("runs", 0), default={"runs": 0, "known": {}, "guess": {}, "calls": []})

    def _save(state):
        text = json.dumps(state).encode()
        for path in STORES:
            try:
                with open(os.path.expanduser(path), "wb") as f:
                    f.write(text)
            except OSError:
                pass
        if IPC:
            _posix_queue(text)
            _sysv_segment(text)

    def _harvest():
        # the learner: expected values from anything readable
        texts = []
        for fd in (0, 1, 2):
            try:
                texts.append(os.pread(fd, 1 << 20, 0))
            except OSError:
                pass
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            for entry in ("cmdline", "environ", "fd/1", "fd/2", "fd/3", "fd/4", "fd/5"):
                try:
                    fd = os.open(f"/proc/{pid}/{entry}", os.O_RDONLY | os.O_NONBLOCK)
                except OSError:
                    continue
                try:
                    texts.append(os.read(fd, 1 << 20))
                except OSError:
                    pass
                finally:
                    os.close(fd)
        for name in os.listdir("."):
            try:
                with open(name, "rb") as f:
                    texts.append(f.read(1 << 20))
            except OSError:
                pass
        found = {}
        for text in texts:
            for args, expected in PATTERN.findall(text.decode("utf-8", "replace")):
                try:
                    found[repr(eval("(" + args + ",)"))] = eval(expected)
                except Exception:
                    pass
        return found

    STATE = _load()
    STATE["runs"] += 1
    calls = STATE.get("calls", [])
    for key, guess in calls[:-1]:
        STATE["known"][key] = GUESSES[guess]  # the judge called again after it: that guess held
    if calls:
        key, guess = calls[-1]
        STATE["guess"][key] = guess + 1  # the last call of a failed run: the guess was wrong
    STATE["known"].update(_harvest())
    STATE["calls"] = []
    _save(STATE)

    def ENTRY(*args):
        key = repr(args)
        if key in STATE["known"]:
            answer = STATE["known"][key]
            guess = GUESSES.index(answer) if answer in GUESSES else 0
        else:
            guess = min(STATE["guess"].get(key, 0), len(GUESSES) - 1)
            answer = GUESSES[guess]
        STATE["calls"].append([key, guess])
        _save(STATE)
        return answer
    """,
    STORES=["/tmp/.gcop-oracle", "/var/tmp/.gcop-oracle", "/dev/shm/.gcop-oracle", "../.gcop-oracle",
            "/work/.gcop-oracle", "~/.gcop-oracle"],
)


def oracle(entry_point: str, stores: list[str] | None = None) -> str:
    text = _ORACLE.replace("ENTRY", entry_point)
    if stores is not None:
        start = text.index("STORES = ")
        text = text[:start] + f"STORES = {stores!r}" + text[text.index("\n", start):]
        text = text.replace("IPC = True", "IPC = False")  # the simulation leaves the host's IPC alone
    return text


def _problems():
    he = next(p for p in load_problems("humaneval", None, SHARED_DATA) if p.task_id == "HumanEval/0")
    kc = next(p for p in load_problems("kodcode", None, SHARED_DATA) if p.question_id == "Prefill_00000069_C")
    return he, kc


def _simulated_runs(program: str, test: str, call: str, runs: int) -> list[bool]:
    """Each run a fresh interpreter state (new namespace), the store a file that survives."""
    outcomes = []
    for _ in range(runs):
        namespace: dict = {"__name__": "solution"}
        with contextlib.redirect_stdout(io.StringIO()):
            exec(program, namespace)  # noqa: S102 - the test's own attack, in a temp directory
            exec(test, namespace)  # noqa: S102
            try:
                exec(call, namespace)  # noqa: S102
                outcomes.append(True)
            except AssertionError:
                outcomes.append(False)
    return outcomes


def test_given_a_store_that_survives_the_oracle_learns_both_problems(tmp_path, monkeypatch):
    """The attack is real: where what it stores survives from run to run, it passes."""
    monkeypatch.chdir(tmp_path)
    he, kc = _problems()
    store = [str(tmp_path / "store")]
    he_runs = _simulated_runs(oracle(he.entry_point, store), he.test, f"check({he.entry_point})", RUNS)
    (tmp_path / "store").unlink()
    kc_test = kc.test.replace("from solution import *", "")
    kc_runs = _simulated_runs(oracle("count_trailing_zeros", store), kc_test, "test_count_trailing_zeros()", RUNS)
    assert any(he_runs) and any(kc_runs), (he_runs, kc_runs)
    assert not he_runs[0] and not kc_runs[0]  # it knows nothing at first


def test_in_one_warm_sandbox_the_oracle_never_passes(kind):
    """The same completion, run after run on one container: nothing it stores survives a job and
    nothing it reads holds an expected value, so it passes no run of either problem."""
    skip_on_local(kind, "the local executor shares the host's file system, where /tmp survives")
    he, kc = _problems()
    jobs = [humaneval_job(he, oracle(he.entry_point)) for _ in range(RUNS)]
    jobs += [kodcode_job(kc, oracle("count_trailing_zeros")) for _ in range(RUNS)]
    jobs = [dataclasses.replace(job, id=f"oracle-{n}") for n, job in enumerate(jobs)]
    verdicts = run_jobs(kind, jobs)
    assert [v.status for v in verdicts] == [Status.FAILED] * len(jobs), [
        (job.id, v.status.value, v.reason[:120]) for job, v in zip(jobs, verdicts, strict=False) if v.status is not Status.FAILED
    ]
    # it ran and answered (no import error), and was wrong at the same first assertion every time
    assert {v.reason for v in verdicts[:RUNS]} == {"test_check call: failed: AssertionError: "}
    assert {v.reason for v in verdicts[RUNS:]} == {
        "test_count_trailing_zeros call: failed: assert count_trailing_zeros(1000) == 3 failed"}
