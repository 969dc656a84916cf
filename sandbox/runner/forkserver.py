"""The shared pytest session: every pytest-style job forks from inside one session, so a job costs
its collection and tests, not a pytest start-up."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from typing import Any

from .jobprocess import _enter_judge_process, _local_definitions_only, _pytest_report, _send_report, pytest_args
from .server import Runner, _JobPlan
from .testprocess import _open_fds, _Recorder


class _PytestForkServer:
    """Forks pytest-style jobs' processes from inside one pytest session shared by every job.

    Most of a pytest session's cost is the same for every job: loading and registering the
    plugins, parsing the command line, configuring, building the fixture manager. The server pays
    it once, with the first pytest-style job: it starts a session over a fixed job directory and,
    from that session's ``pytest_collection`` hook, forks a process per job. A pytest-style job's
    process returns from the hook into the session, and pytest collects and runs the job's tests as in a session
    of its own (same command line, same plugins, the same ``wrap_session`` error handling). Each
    job's process works on its own copy-on-write copy of the session, so nothing one job does
    reaches the server or the next job; the server itself never collects or runs a test.
    """

    JOB_DIR = "job"

    def __init__(self, runner: Runner, jobs: Iterator[dict[str, Any]], send: Callable[[dict[str, Any]], None]) -> None:
        self.runner = runner
        self.jobs = jobs
        self.send = send
        self.workdir = os.path.join(runner.work_root, self.JOB_DIR)
        self.started = False
        self.pytest_exit_code: int | None = None
        self._quiet_fd = -1
        self._before: set[int] = set()
        self._stderr: Any = sys.stderr
        self._devnull_fds: tuple[int, ...] = ()
        self._job: tuple[int, str] | None = None  # (report fd, nonce), in a job's process only
        self.recorder = _Recorder()

    def serve(self) -> bool:
        """Serve every job of ``jobs``. Returns False, having served none, when the session could
        not be started (the caller then serves without it). Never returns in a job's process."""
        import io

        import pytest

        os.makedirs(self.workdir, mode=0o700, exist_ok=True)
        # What pytest's reporter and its capture of sys.stdout/stderr hold on to: /dev/null in the
        # server, pointed at the job's output file in each job's process.
        self._quiet_fd = os.open(os.devnull, os.O_WRONLY)
        self._before = _open_fds()
        quiet = io.TextIOWrapper(io.FileIO(self._quiet_fd, "w", closefd=False), encoding="utf-8", line_buffering=True)
        saved = sys.stdin, sys.stdout, sys.stderr, os.getcwd()
        sys.stdout = sys.stderr = quiet
        # pytest's capture of sys.stdin keeps this reader for the session (and so for every job):
        # /dev/null, never the server's job channel.
        sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the session
        os.chdir(self.workdir)  # the session's invocation directory
        recorder = self.recorder = _Recorder()
        ret: int | None = None
        try:
            plugins = [recorder, _local_definitions_only(pytest), self._collection_hook(pytest)]
            ret = int(pytest.main(pytest_args(self.workdir), plugins=plugins))
        finally:
            if self._job is not None:
                self._finish_job(recorder, ret)
        self.pytest_exit_code = ret
        sys.stdin, sys.stdout, sys.stderr = saved[:3]
        os.chdir(saved[3])
        shutil.rmtree(self.workdir, ignore_errors=True)
        return self.started

    @staticmethod
    def _is_devnull(fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}") == os.devnull
        except OSError:
            return False

    def _collection_hook(self, pytest: Any) -> object:
        server = self

        class ForkServerHook:
            @pytest.hookimpl(tryfirst=True)
            def pytest_collection(self, session: Any) -> bool | None:
                return server.serve_jobs(session)

            @pytest.hookimpl(wrapper=True, tryfirst=True)
            def pytest_sessionfinish(self, session: Any, exitstatus: int) -> Any:
                result = yield
                if server._job is not None:
                    # A job's process: every other sessionfinish has run (the terminal summary is
                    # written), so the outcome is whole. What pytest does after (unconfigure:
                    # plugin clean-up, gc) cannot change it and would be undone by the exit.
                    server._finish_job(server.recorder, int(session.exitstatus))
                return result

        return ForkServerHook()

    def serve_jobs(self, session: Any) -> bool | None:
        """The server loop, run as the session's first ``pytest_collection`` hook. Returns (None)
        only in a job's process, where collection then goes on."""
        os.chdir(self.runner.work_root)
        shutil.rmtree(self.workdir, ignore_errors=True)
        # Descriptors the session opened (the logging plugin's /dev/null file): a job's process
        # keeps those on /dev/null, so none of their numbers is reused under pytest by a file
        # the sample opens; any other kind is closed there like every descriptor of the server's.
        self._devnull_fds = tuple(sorted(fd for fd in _open_fds() - self._before if self._is_devnull(fd)))
        self._warm(session)
        import gc

        gc.collect()
        gc.freeze()  # the session is shared by every job: keep it out of their collections
        self.started = True
        for job in self.jobs:
            try:
                answer = self.runner.run(job, server=self)
            except BaseException:  # noqa: BLE001 - pytest would swallow it into /dev/null
                # The server itself failed (not the job: its process never gets here). Say why
                # on the real stderr and end as a crashed server, so the host retries the job.
                import traceback

                traceback.print_exc(file=self._stderr)
                self._stderr.flush()
                os._exit(1)
            if answer is None:
                self._restamp(session)
                return None
            self.send(answer)
        import pytest

        self.new_workdir()  # pytest returns to it when the session ends
        pytest.exit("end of input", returncode=0)
        return True  # not reached

    @staticmethod
    def _warm(session: Any) -> None:
        """Fill, once in the server, caches every job's collection would otherwise fill in its own
        process: the ini values (fixed by the command line) and the compiled ``python_files``
        patterns. The same for every job, whatever the jobs are."""
        try:
            from _pytest.pathlib import fnmatch_ex

            config = session.config
            for name in list(config._parser._inidict):
                config.getini(name)
            for pattern in config.getini("python_files"):
                fnmatch_ex(pattern, "test_solution.py")
        except Exception:  # noqa: BLE001 - warming is an optimisation; a failure costs speed only
            pass

    def new_workdir(self) -> str:
        """The job directory, fresh: the session's rootdir and invocation directory are this path."""
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.mkdir(self.workdir, 0o700)
        return self.workdir

    def enter_job(
        self, plan: _JobPlan, workdir: str, report_fd: int, output_fd: int, nonce: str, timeout: float, isolation: str
    ) -> None:
        """In the job's freshly forked process: set it up, then let it carry on into the session."""
        try:
            self.recorder.boundary = _enter_judge_process(
                plan, workdir, report_fd, output_fd, timeout, isolation,
                pytest_env=True, also_to_output=(self._quiet_fd,), inherited_devnull=self._devnull_fds,
            )
            self.recorder.in_process = plan.in_process
            self._job = (report_fd, nonce)
        except BaseException:  # noqa: BLE001 - the job's process must never run server code
            os._exit(70)

    @staticmethod
    def _restamp(session: Any) -> None:
        """The reporter's "N passed in X s" counts from the session's start: make that the job's."""
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and hasattr(reporter, "pytest_sessionstart"):
            reporter.pytest_sessionstart(session=session)

    def _finish_job(self, recorder: _Recorder, ret: int | None) -> None:
        """The job's session is over: send its report and end the process. Never returns."""
        code = 70
        try:
            assert self._job is not None
            report_fd, nonce = self._job
            for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
                try:
                    stream.flush()  # type: ignore[union-attr]
                except Exception:  # noqa: BLE001 - a test may have closed or replaced it
                    pass
            if ret is not None:
                code = _send_report(report_fd, _pytest_report(recorder, ret), nonce)
        except BaseException:  # noqa: BLE001 - the child must always end in os._exit
            code = 70
        finally:
            os._exit(code & 0xFF)
