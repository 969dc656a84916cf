"""The runner: one job from its files to its verdict, with the zygote, the judge's process, the
limits and the clean-up."""

from __future__ import annotations

import ctypes
import json
import os
import select
import shutil
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from .cleanup import _id_counters, _remove_sysv_ipc, _remove_tree
from .files import (
    HUMANEVAL_TEST_NAME,
    MAX_TIMEOUT_S,
    OUTPUT_TAIL_CHARS,
    _expected_tests,
    _parse,
    build_files,
    default_work_root,
    make_directory,
    scratch_file,
)
from .jobprocess import _child, _run_pytest
from .judge_side import _TestNames, _warm_up_boundary, in_process_reason
from .plain import plain_reason
from .procfs import read_text, stat_fields
from .sample_side import _Zygote
from .verdicts import STATUS_ERROR, STATUS_FAILED, STATUS_TIMEOUT, judge, passed_test_names

if TYPE_CHECKING:
    from .forkserver import _PytestForkServer


class _JobPlan:
    """How one job runs: its style, the test source, and whether its sample runs across the
    boundary (``sample_fd``, the judge's end of the socket) or in-process (``in_process``: why)."""

    def __init__(
        self, style: str, test_source: str, prelude: str | None, in_process: str | None,
        handle_ops: list[str] | None = None, names: _TestNames | None = None,
    ) -> None:
        self.handle_ops = handle_ops
        self.names = names
        self.style = style
        self.test_source = test_source
        self.prelude = prelude
        self.in_process = in_process
        self.sample_fd = -1
        #: Judged without a pytest session (see :mod:`runner.plain`); pytest-style jobs only.
        self.plain = False


MAX_REPORT_BYTES = 16 * 1024 * 1024  # the judge's report; more is the sample's doing
#: In a job's process (forked from the shared session): objects of the server's kept from being
#: finalized; the process ends in ``os._exit``, which finalizes nothing.
_HELD_BY_THE_JOB: list[Any] = []


class Runner:
    """Runs jobs one at a time, each in a fresh forked process and a fresh directory."""

    def __init__(self, isolation: str = "local", work_root: str | None = None) -> None:
        if isolation not in ("container", "local"):
            raise ValueError(f"isolation must be 'container' or 'local', got {isolation!r}")
        self.isolation = isolation
        self.work_root = work_root or default_work_root()
        self.is_init = os.getpid() == 1
        self._prepare()
        # Before any job is read and before pytest is imported: the zygote's rule (sample_side).
        self.zygote = _Zygote()
        _warm_up_boundary()
        #: Set when a job left something behind that cleaning could not remove (or killed the
        #: zygote): the answer asks the host to replace this sandbox.
        self.retire: str | None = None
        #: The id counters jobs could pass messages through (containers only: a local run
        #: shares them with the whole host).
        self.counters = _id_counters(self.work_root) if isolation == "container" else []

    def _prewarm(self) -> None:
        """Pay pytest's one-time costs (lazy imports of its plugins, assertion rewriting) once,
        here, so every forked job inherits them warm; for a server without a shared session.
        Nothing of the warm-up run survives: its modules are dropped and its directory deleted.

        numpy is not imported in advance: a server holding it makes every job's fork and exit
        slower (about 3 ms a job), more than the import costs the few jobs that use it."""
        import contextlib
        import io

        workdir = make_directory(self.work_root, "gcop-warm-")
        previous = os.getcwd()
        try:
            with open(os.path.join(workdir, "solution.py"), "w") as f:
                f.write("def warm():\n    return 1\n")
            with open(os.path.join(workdir, "test_solution.py"), "w") as f:
                f.write("from solution import *\n\ndef test_warm():\n    assert warm() == 1\n")
            os.chdir(workdir)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                _run_pytest(workdir)
        except Exception:  # noqa: BLE001 - warming is an optimisation; a failure costs speed only
            pass
        finally:
            os.chdir(previous)
            shutil.rmtree(workdir, ignore_errors=True)
            for name in ("solution", "test_solution"):
                sys.modules.pop(name, None)
        # Everything alive now is shared by every job: keep it out of the children's garbage
        # collections (pytest runs several per session), which would otherwise walk it all.
        import gc

        gc.collect()
        gc.freeze()

    def _prepare(self) -> None:
        libc = None
        try:
            libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            pass
        if libc is not None:
            pr_set_dumpable, pr_set_child_subreaper = 4, 36
            # Not dumpable: a sample running as the same user cannot ptrace us or read our memory
            # or file descriptors through /proc.
            libc.prctl(pr_set_dumpable, 0, 0, 0, 0)
            # Orphans of a sample (double-forked daemons) are re-parented to us, so we can kill them.
            libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0)

    def run(self, job: dict[str, Any], server: _PytestForkServer | None = None) -> dict[str, Any] | None:
        """Judge one job in a freshly forked process and return its answer.

        Called by ``server`` (from inside its shared pytest session), a pytest-style job's
        process returns None instead of running pytest itself: it is to carry on into that
        session, whose collection then finds the job's tests. Only the job's process ever gets
        None; the server always gets the answer.
        """
        job_id = str(job.get("id", ""))
        started = time.monotonic()
        for counter in self.counters:
            counter.start()
        try:
            timeout = float(job.get("timeout") or 10.0)
            if not 0 < timeout <= MAX_TIMEOUT_S:
                raise ValueError(f"timeout must be in (0, {MAX_TIMEOUT_S}], got {timeout}")
            files = build_files(job)
        except (TypeError, ValueError) as exc:
            return self._answer(job_id, STATUS_ERROR, f"bad job: {exc}", started)
        style = str(job["style"])
        entry_point = job.get("entry_point")
        prelude = job.get("prelude")
        if prelude is not None and not isinstance(prelude, str):
            return self._answer(job_id, STATUS_ERROR, "bad job: 'prelude' must be a string", started)
        handle_ops = job.get("handle_ops")
        if handle_ops is not None and not (isinstance(handle_ops, list) and all(isinstance(o, str) for o in handle_ops)):
            return self._answer(job_id, STATUS_ERROR, "bad job: 'handle_ops' must be a list of strings or null", started)
        if style == "check":
            expected: list[str] | None = [HUMANEVAL_TEST_NAME]
            plan = _JobPlan(style, files["test_solution.py"], prelude, None, handle_ops)
            del files["test_solution.py"]  # the judge holds it in memory; the disk never has it
        else:
            tree = _parse(files["test_solution.py"])
            expected = _expected_tests(tree)
            # The file is the test behind `from solution import *`, which changes nothing here:
            # its tree serves. A file that does not parse is judged on the test's own text.
            in_process = in_process_reason(tree if tree is not None else job.get("test") or "")
            plan = _JobPlan(style, files["test_solution.py"], None, in_process, handle_ops, names=_TestNames(tree))
            plan.plain = plan.in_process is None and job.get("session") != "pytest" and plain_reason(tree) is None
            del tree
        if style != "pytest":
            server = None  # HumanEval style needs no pytest session
        workdir = server.new_workdir() if server is not None else make_directory(self.work_root, "job-")
        output = scratch_file(self.work_root)
        # The sample's own descriptors 1 and 2: a file of its own. Sharing the judge's would let
        # it read back (pread) what the judge writes there: tracebacks, expected values.
        sample_output = scratch_file(self.work_root)
        report_r, report_w = os.pipe()
        in_job_process = False
        judge_end: Any = None
        sample_end: Any = None
        sample_pid = -1
        cleaned = False
        try:
            for name, text in files.items():
                # surrogatepass: a lone surrogate in model output (valid in JSON, not in UTF-8)
                # is written as the bytes it stands for, and the import then fails like any
                # other undecodable source, instead of the encoder error taking the server down.
                with open(os.path.join(workdir, name), "w", encoding="utf-8", errors="surrogatepass") as f:
                    f.write(text)
            marks = [("write files", time.monotonic())]
            if plan.in_process is None:
                import socket

                judge_end, sample_end = socket.socketpair()
                plan.sample_fd = judge_end.fileno()
            nonce = os.urandom(16).hex()  # what secrets.token_hex does, without importing OpenSSL into every process
            # The judge first, then the sample: the zygote protects every process there is when
            # it forks the sample, the judge included.
            pid = os.fork()
            if pid == 0:
                os.close(report_r)
                if sample_end is not None:
                    sample_end.close()  # the sample's end is the sample's alone
                if judge_end is not None:
                    judge_end.detach()  # the descriptor is the judge's now, not this object's
                if server is None or plan.plain:
                    _child(plan, files, entry_point, workdir, report_w, output.fileno(), nonce, timeout, self.isolation)
                in_job_process = True
                server.enter_job(plan, workdir, report_w, output.fileno(), nonce, timeout, self.isolation)
                # The scratch files' objects outlive this frame in the job's process: their
                # descriptors are closed by now (it keeps only its own), and finalizing them on
                # return would raise inside the session (Python 3.13 reports it as a warning in the
                # job's output; under filterwarnings("error") it would fail a test).
                _HELD_BY_THE_JOB.extend((output, sample_output))
                return None
            os.close(report_w)
            report_w = -1
            forked_at = time.monotonic()
            marks.append(("fork the judge", forked_at))
            if judge_end is not None:
                judge_end.close()
                judge_end = None
                try:
                    params = {"workdir": workdir, "timeout": timeout, "isolation": self.isolation}
                    self.zygote.spawn(sample_end.fileno(), sample_output.fileno(), params)
                    sample_pid = self.zygote.spawned()  # forked while the judge starts
                except OSError:
                    self._kill_group(pid)  # a judge with no sample to ask must not be left waiting
                    raise
                finally:
                    sample_end.close()
                marks.append(("ask for the sample's process", time.monotonic()))
            raw, status, timed_out, overflow = self._wait(pid, report_r, started + timeout)
            marks.append(("judge: enter, collect, run, report, exit", time.monotonic()))
            if sample_pid > 0:
                self._kill_group(sample_pid)
            self._sweep(pid)
            self.zygote.resume()  # a sample may have stopped it (SIGSTOP): the next job must not wait on it
            self._clean(workdir)
            cleaned = True
            marks.append(("kill, sweep, clean", time.monotonic()))
            for counter in self.counters:
                try:
                    self.retire = self.retire or counter.settle()
                except OSError as exc:
                    self.retire = self.retire or f"could not settle the {counter.name}: {exc}"
            if self.counters:
                marks.append(("settle the id counters", time.monotonic()))
            extra: dict[str, Any] = {}
            if timed_out:
                verdict = (STATUS_TIMEOUT, f"time limit of {timeout:g} s exceeded", 0, 0)
            elif overflow:
                verdict = (STATUS_FAILED, f"the test process wrote over {MAX_REPORT_BYTES} bytes of report", 0, 0)
            else:
                verdict, extra = self._decide(raw, status, nonce, expected, timeout)
            text = self._tail(output)
            own = self._tail(sample_output)
            if own:
                text = (text + "\n--- the sample's own output ---\n" + own)[-OUTPUT_TAIL_CHARS:]
            answer = self._answer(job_id, verdict[0], verdict[1], started, verdict[2], verdict[3], text)
            answer.update(extra)
            if job.get("profile"):
                points = [("", started)] + marks
                answer["phases_ms"] = {name: round((t - points[i][1]) * 1000, 3) for i, (name, t) in enumerate(points[1:])}
                answer["judge_phases_ms"] = self._judge_phases(raw, forked_at)
            return answer
        finally:
            if not in_job_process:  # the job's process leaves the server's files alone
                for fd in (report_r, report_w):
                    if fd >= 0:
                        try:
                            os.close(fd)
                        except OSError:
                            pass
                for end in (judge_end, sample_end):
                    if end is not None:
                        end.close()
                output.close()
                sample_output.close()
                if not cleaned:
                    self._clean(workdir)
                if not self.zygote.check():
                    self.retire = self.retire or "the sample zygote is gone"

    @staticmethod
    def _judge_phases(raw: bytes, forked_at: float) -> dict[str, float]:
        """The judge's own moments (a profiled job's report), as durations from the fork."""
        try:
            marks = json.loads(raw)["marks"]
            points = [("", forked_at)] + [(str(name), float(t)) for name, t in marks]
        except Exception:  # noqa: BLE001 - a profile is best effort
            return {}
        return {name: round((t - points[i][1]) * 1000, 3) for i, (name, t) in enumerate(points[1:])}

    @staticmethod
    def _decide(
        raw: bytes, status: int | None, nonce: str, expected: list[str] | None, timeout: float
    ) -> tuple[tuple[str, str, int, int], dict[str, Any]]:
        """The verdict from the judge's report and how its process ended, and what the answer
        carries besides (``boundary``; ``passed_tests``, the names of the tests that passed).
        Whatever the report is (not JSON, not an object, odd fields), the outcome is a verdict,
        never an error."""
        exit_code = os.waitstatus_to_exitcode(status) if status is not None else None
        sig = -exit_code if exit_code is not None and exit_code < 0 else None
        if sig == signal.SIGXCPU:
            return (STATUS_TIMEOUT, f"CPU time limit of {timeout:g} s exceeded", 0, 0), {}
        report: Any = None
        if raw:
            try:
                report = json.loads(raw)
            except Exception:  # noqa: BLE001 - ValueError, RecursionError, MemoryError alike
                return (STATUS_FAILED, "the test report is not valid JSON", 0, 0), {}
            if not isinstance(report, dict):
                return (STATUS_FAILED, "the test report is not a JSON object", 0, 0), {}
        try:
            verdict = judge(report, nonce=nonce, exit_code=exit_code, signal_number=sig, expected=expected)
        except Exception as exc:  # noqa: BLE001 - a malformed report is the sample's failure
            return (STATUS_FAILED, f"malformed test report ({type(exc).__name__})", 0, 0), {}
        authentic = bool(report) and report.get("nonce") == nonce
        boundary = report.get("boundary") if authentic else None
        extra: dict[str, Any] = {}
        kept = {str(k): v for k, v in boundary.items() if type(v) in (int, str)} if isinstance(boundary, dict) else {}
        if kept:
            extra["boundary"] = kept
        if authentic:
            try:
                extra["passed_tests"] = passed_test_names(report)
            except Exception:  # noqa: BLE001 - odd fields: the verdict stands, the list is left out
                pass
        return verdict, extra

    def _wait(self, pid: int, report_fd: int, deadline: float) -> tuple[bytes, int | None, bool, bool]:
        """Read the report while waiting for the child; kill its process group at the deadline.

        The child's exit is watched through a pidfd where the kernel has them, so the answer
        goes out the moment the child is gone; elsewhere by polling ``waitpid``."""
        chunks: list[bytes] = []
        received = 0
        pipe_open = True
        try:
            exited_fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            exited_fd = -1
        try:
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._kill_group(pid)
                    os.waitpid(pid, 0)
                    return b"".join(chunks), None, True, False
                watched = ([report_fd] if pipe_open else []) + ([exited_fd] if exited_fd >= 0 else [])
                if not watched:
                    time.sleep(min(remaining, 0.005))
                    continue
                ready, _, _ = select.select(watched, [], [], min(remaining, 0.05))
                if report_fd in ready:
                    data = os.read(report_fd, 65536)
                    if data:
                        chunks.append(data)
                        received += len(data)
                        if received > MAX_REPORT_BYTES:
                            self._kill_group(pid)
                            os.waitpid(pid, 0)
                            return b"", None, False, True
                    else:
                        pipe_open = False
        finally:
            if exited_fd >= 0:
                os.close(exited_fd)
        while pipe_open:  # the child has exited; drain what is left without blocking
            ready, _, _ = select.select([report_fd], [], [], 0)
            if not ready:
                break
            data = os.read(report_fd, 65536)
            if not data:
                break
            chunks.append(data)
            received += len(data)
            if received > MAX_REPORT_BYTES:
                return b"", status, False, True
        return b"".join(chunks), status, False, False

    @staticmethod
    def _kill_group(pid: int) -> None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

    def _sweep(self, pid: int) -> None:
        """Kill every process the job left behind (all but this server and the zygote), and reap
        them. In a container that is every other process there; locally, this server's children
        (orphans are re-parented to it: it is a child subreaper)."""
        self._kill_group(pid)
        spare = {os.getpid(), self.zygote.pid}
        for attempt in range(1000):
            self._reap()
            left = [p for p in (self._all_processes() if self.is_init else self._children()) if p not in spare]
            if not left:
                return
            for other in left:
                self._kill_group(other)
            time.sleep(0.001 if attempt < 100 else 0.01)
        self.retire = self.retire or "processes of a job survived the sweep"

    def _reap(self) -> None:
        while True:
            try:
                done, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not done:
                return
            if done == self.zygote.pid:
                self.zygote.dead = True

    @staticmethod
    def _all_processes() -> list[int]:
        return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]

    @staticmethod
    def _children() -> list[int]:
        """This server's child processes (its only thread's ``children`` file where the kernel
        has one: no walk over every process of the host)."""
        me = os.getpid()
        try:
            return [int(p) for p in read_text(f"/proc/{me}/task/{me}/children").split()]
        except (OSError, ValueError):
            pass
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = stat_fields(entry)
            except OSError:
                continue
            if len(fields) > 1 and int(fields[1]) == me:
                found.append(int(entry))
        return found

    def _clean(self, workdir: str) -> None:
        """Delete what the job wrote, including what it made hard to delete (mode-000
        directories). In a container every writable place, SysV IPC object and POSIX shared
        memory segment is the job's: all of it goes, and if anything stays, the sandbox retires."""
        _remove_tree(workdir)
        if not self.is_init:
            return
        # /dev/mqueue: POSIX message queues (mq_open) live on past their process, like files.
        roots = (self.work_root, "/tmp", "/dev/shm", "/dev/mqueue")
        for root in roots:
            try:
                entries = os.listdir(root)
            except OSError:
                continue
            for name in entries:
                _remove_tree(os.path.join(root, name))
        left = [
            os.path.join(root, name)
            for root in roots
            for name in (os.listdir(root) if os.path.isdir(root) else [])
        ]
        left += _remove_sysv_ipc()
        if left:
            self.retire = self.retire or f"a job left {left[0]!r} behind"

    @staticmethod
    def _tail(output: Any) -> str:
        try:
            size = os.fstat(output.fileno()).st_size
            output.seek(max(0, size - OUTPUT_TAIL_CHARS * 4))
            return output.read().decode("utf-8", "replace")[-OUTPUT_TAIL_CHARS:]
        except OSError:
            return ""

    @staticmethod
    def _answer(
        job_id: str,
        status: str,
        reason: str,
        started: float,
        collected: int = 0,
        passed: int = 0,
        output: str = "",
    ) -> dict[str, Any]:
        return {
            "id": job_id,
            "status": status,
            "reason": reason,
            "tests_collected": collected,
            "tests_passed": passed,
            "duration_s": round(time.monotonic() - started, 4),
            "output": output,
        }
