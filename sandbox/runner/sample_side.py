"""The sample's side: the zygote and the process it forks per job to import and run the solution.

The zygote's rule, stated here once: the zygote is forked when the server starts, before the
server reads any job and before it imports pytest. So no sample's memory ever held a test, an
earlier job or pytest's state, and a sample's process (a fork of the small zygote) is cheap to
fork and to exit. Nothing the runner imports at import time may import pytest
(``tests/sandbox/test_runner_package.py`` checks it); the judge's side imports it in the
server, after the zygote exists."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
from typing import Any

from .guard import _guard_program, _PreparedGuard, _processes_to_protect
from .jobprocess import _enter_job_process
from .judge_side import _warm_up_boundary
from .peer import _Peer
from .procfs import stat_fields
from .proxies import _JudgeStdin, _OutputBuffer, _sample_input
from .testprocess import _open_fds


class _Zygote:
    """Forks the sample's processes, from a process forked before the first job was read: a
    sample's memory never held a test (nor an earlier job), and it shares no descriptor with the
    judge but its own end of the job's socket."""

    def __init__(self) -> None:
        import socket

        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            parent.close()
            _zygote_main(child)  # never returns
        child.close()
        self.sock = parent
        self.pid = pid
        self.dead = False

    def spawn(self, sample_fd: int, output_fd: int, params: dict[str, Any]) -> None:
        """Ask for a new sample process (see :meth:`spawned`). Raises OSError if the zygote is gone."""
        import socket

        socket.send_fds(self.sock, [json.dumps(params).encode()], [sample_fd, output_fd])

    def spawned(self) -> int:
        """The pid of the sample process last asked for (the zygote forks it meanwhile)."""
        reply = self.sock.recv(64)
        if not reply:
            self.dead = True
            raise OSError("the sample zygote is gone")
        return int(reply)

    def check(self) -> bool:
        """True while the zygote lives (it is our child) and runs: a zygote still stopped after
        :meth:`resume` counts as gone."""
        if not self.dead:
            try:
                done, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                done = self.pid
            self.dead = done == self.pid or self.state() in ("T", "t")
        return not self.dead

    def state(self) -> str:
        """The zygote's scheduler state (``R``, ``S``, ``T`` stopped, ``t`` traced...), "" if unknown."""
        try:
            return stat_fields(self.pid)[0]
        except (OSError, IndexError):
            return ""

    def resume(self) -> None:
        """Continue the zygote if a sample stopped it, and wait until it runs again."""
        if self.dead:
            return
        try:
            os.kill(self.pid, signal.SIGCONT)
        except OSError:
            return
        for _ in range(100):
            if self.state() not in ("T", "t"):
                return
            time.sleep(0.001)


def _zygote_main(sock: Any) -> None:
    import socket

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the server
    except OSError:
        pass
    keep = sock.fileno()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    for fd in _open_fds():
        if fd not in (0, 1, 2, keep):
            try:
                os.close(fd)
            except OSError:
                pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # samples are reaped by the kernel
    _warm_up_boundary()
    import gc

    gc.collect()
    gc.freeze()  # shared by every sample: out of their collections, so their pages stay shared
    try:
        while True:
            message, fds, _, _ = socket.recv_fds(sock, 65536, 2)
            if not message or len(fds) != 2:
                break
            params = json.loads(message)
            # The sample's guard, made here before the fork: the judge exists by now (the server
            # forks it before it asks), and scanning and packing in this long-lived process costs
            # a fraction of what it costs in a freshly forked one (every page it touches there is
            # a copy-on-write fault).
            guard_program: _PreparedGuard | None = None
            try:
                raw = _guard_program(_processes_to_protect(include_self=True))
                guard_program = _PreparedGuard(raw) if raw is not None else None
            except Exception:  # noqa: BLE001 - the sample then scans for itself
                pass
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _sample_process(fds[0], fds[1], params, close=keep, guard_program=guard_program)
            for fd in fds:
                os.close(fd)
            sock.send(str(pid).encode())
    except BaseException:  # noqa: BLE001 - the zygote ends quietly; the server notices
        pass
    os._exit(0)


def _sample_process(
    sock_fd: int, output_fd: int, params: dict[str, Any], *, close: int, guard_program: _PreparedGuard | None = None
) -> None:
    """The sample's process for one job: its limits, its directory, the solution, then requests
    from the judge until the judge goes away. Never returns."""
    code = 0
    try:
        import builtins
        import socket

        os.close(close)
        workdir, timeout, isolation = str(params["workdir"]), float(params["timeout"]), str(params["isolation"])
        _enter_job_process(workdir, sock_fd, output_fd, timeout, isolation, pytest_env=False, ipc=True, std_streams=False)
        peer = _Peer(socket.socket(fileno=sock_fd), judge=False)
        peer.guard = isolation
        peer.guard_program = guard_program
        peer.outputs = (_OutputBuffer(1), _OutputBuffer(2))
        sys.stdout, sys.stderr = peer.outputs
        sys.stdin = _JudgeStdin(peer)
        builtins.input = _sample_input(peer)
        sys.modules.pop("solution", None)
        peer.serve_forever()
    except BaseException:  # noqa: BLE001 - a sample's process always ends in os._exit
        code = 70
    finally:
        os._exit(code)
