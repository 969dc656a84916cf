"""One end of the boundary: requests and answers between the judge and the sample over their socket."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from .codec import _Codec
from .guard import _guard_other_processes, _PreparedGuard, _processes_to_protect
from .proxies import _OutputBuffer
from .wire import (
    MAX_MESSAGE_BYTES,
    SAMPLE_OUTPUT_TOTAL_CHARS,
    BoundaryError,
    SampleError,
    _encode_exception,
    _int,
    _is_data_type,
    _is_mutable_arg,
    _seq,
    _Stats,
    _str,
    _update_in_place,
    builtins_module,
)


class _Peer:
    """One side of the boundary: sends requests, answers the other side's, one message at a time.

    Messages (JSON arrays): ``["q", op, ...args]`` a request, ``["r", value, copyback]`` its
    result, ``["e", exception]`` its error, ``["o", stdout, stderr]`` the sample's output so far.
    Requests nest: while waiting for its answer, a side serves the other's requests (callbacks).
    """

    def __init__(self, sock: Any, *, judge: bool) -> None:
        self.sock = sock
        self.judge = judge
        self.codec = _Codec(self, judge=judge)
        self.stats = _Stats()
        self.broken: str | None = None
        self.outputs: tuple[_OutputBuffer, _OutputBuffer] | None = None
        self.other = "the sample's process" if judge else "the judge's process"
        self.output_left = SAMPLE_OUTPUT_TOTAL_CHARS  # judge: what it writes of the sample's output
        #: judge: the data operations handles may do (None: all, counted); see TestJob.handle_ops
        self.allowed_ops: frozenset[str] | None = None
        #: sample: the isolation ("container", "local") whose guard goes up before the solution
        #: runs (see _guard_the_others); None once it is up, and always in the judge
        self.guard: str | None = None
        #: sample: the guard's filter as the zygote prepared it, or None (the sample scans itself)
        self.guard_program: _PreparedGuard | None = None

    # ------------------------------------------------------------------ framing

    def send(self, message: list[Any]) -> None:
        if self.outputs is not None:
            out, err = (buffer.take() for buffer in self.outputs)
            if out or err:
                self._send_raw(["o", out, err])
        self._send_raw(message)

    def _send_raw(self, message: list[Any]) -> None:
        """Send one message. A request that cannot be sent raises here, in the requester; a
        result that cannot be sent goes as an error instead, so the requester is answered."""
        problem: BaseException | None = None
        try:
            data = json.dumps(message, separators=(",", ":")).encode("ascii")
            if len(data) > MAX_MESSAGE_BYTES:
                problem = MemoryError(f"a value of {len(data)} bytes is too large to cross the boundary")
        except (TypeError, ValueError, RecursionError) as exc:
            problem = ValueError(f"a value that cannot cross the boundary: {exc}"[:500])
        if problem is not None:
            if message[0] == "q":
                raise problem
            error = ["X", ["B", type(problem).__name__], ["L", -1, [str(problem)]], "", ""]
            data = json.dumps(["e", error]).encode("ascii")
        try:
            self.sock.sendall(len(data).to_bytes(4, "big") + data)
        except OSError as exc:
            self._break(f"{self.other} is gone ({exc.strerror or exc})")

    def _recv_exactly(self, n: int) -> bytes:
        chunks = []
        while n:
            try:
                chunk = self.sock.recv(min(n, 1 << 20))
            except OSError as exc:
                self._break(f"{self.other} is gone ({exc.strerror or exc})")
            if not chunk:
                self._break(f"{self.other} ended (it crashed, exited or was killed)")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def recv(self) -> list[Any]:
        if self.broken:
            raise BoundaryError(self.broken)
        size = int.from_bytes(self._recv_exactly(4), "big")
        if size > MAX_MESSAGE_BYTES:
            self._break(f"a message of {size} bytes is over the limit of {MAX_MESSAGE_BYTES}")
        data = self._recv_exactly(size)
        try:
            message = json.loads(data)
        except Exception as exc:  # noqa: BLE001 - RecursionError, MemoryError, ValueError alike
            self._break(f"an unreadable message ({type(exc).__name__})")
        if type(message) is not list or not message or type(message[0]) is not str:
            self._break("a message that is not a tagged list")
        return message

    def _break(self, why: str) -> NoReturn:
        self.broken = why
        raise BoundaryError(why)

    # ------------------------------------------------------------------ requests

    def request(self, op: str, *args: Any, call_args: list[Any] | None = None) -> Any:
        """Send one request and wait for its result, serving nested requests meanwhile.

        ``call_args`` are the local objects passed by value in a call: their changed state comes
        back and is copied into them, and a result that *is* one of them comes back as it."""
        self.send(["q", op, *args])
        while True:
            message = self.recv()
            tag = message[0]
            if tag == "o":
                self._write_output(message)
            elif tag == "r":
                if len(message) != 3:
                    self._break("a malformed result")
                refs: dict[int, Any] = {}
                value = self.codec.decode(message[1], refs, call_args)
                if call_args is not None:
                    for entry in _seq(message[2]):
                        index = _int(_seq(entry)[0])
                        if not 0 <= index < len(call_args):
                            raise BoundaryError("copy-back of an unknown argument")
                        _update_in_place(call_args[index], self.codec.decode(entry[1], refs, call_args))
                return value
            elif tag == "e":
                if len(message) != 2 or type(message[1]) is not list or not message[1] or message[1][0] != "X":
                    self._break("a malformed error")
                raise self.codec.decode_exception(message[1])
            elif tag == "q":
                self.serve_one(message)
            else:
                self._break(f"an unknown message {tag!r}")

    def _write_output(self, message: list[Any]) -> None:
        if not self.judge or len(message) != 3:
            return
        for text, stream in ((message[1], sys.stdout), (message[2], sys.stderr)):
            if type(text) is str and text:
                self.output_left -= len(text)
                if self.output_left < 0:
                    continue  # the sample printed more than the judge keeps
                try:
                    stream.write(text)
                except Exception:  # noqa: BLE001 - a test's closed capture stream
                    pass

    def call(self, hid: int, args: tuple[Any, ...], kwargs: dict[str, Any], method: str | None = None) -> Any:
        self.stats.calls += 1
        values = list(args) + list(kwargs.values())
        memo: dict[int, Any] = {}
        encoded = [self.codec.encode(v, memo) for v in values]
        keys = list(kwargs)
        if method is None:
            return self.request("call", hid, encoded, keys, call_args=values)
        return self.request("callmethod", hid, method, encoded, keys, call_args=values)

    def op(self, name: str, hid: int, *args: Any) -> Any:
        memo: dict[int, Any] = {}
        return self.request("op", name, hid, [self.codec.encode(a, memo) for a in args])

    # ------------------------------------------------------------------ serving

    def serve_forever(self) -> None:
        """The sample's main loop: serve the judge's requests until it goes away."""
        while True:
            try:
                message = self.recv()
            except BoundaryError:
                return
            if message[0] == "q":
                self.serve_one(message)
            elif message[0] == "bye":
                return

    def serve_one(self, message: list[Any]) -> None:
        try:
            result, copyback = self._serve(message)
        except BoundaryError:
            if self.broken:
                raise
            exc_node = _encode_exception(self.codec, SampleError("bad request"))
            self.send(["e", exc_node])
            return
        except BaseException as exc:  # noqa: BLE001 - the requester gets whatever was raised
            try:
                exc_node = _encode_exception(self.codec, exc)
            except BaseException:  # noqa: BLE001
                exc_node = ["X", ["B", "RuntimeError"], ["L", -1, ["unencodable exception"]], "", ""]
            self.send(["e", exc_node])
            return
        self.send(["r", result, copyback])

    def _serve(self, message: list[Any]) -> tuple[Any, list[Any]]:
        op = message[1] if len(message) > 1 else None
        codec = self.codec
        if op == "import" and not self.judge:
            return self._import_solution(), []
        if op in ("call", "callmethod"):
            target = codec.own[_int(message[2])]
            if op == "callmethod":
                name = _str(message[3])
                self._check_attribute(name)
                target = getattr(target, name)
                encoded, keys = _seq(message[4]), _seq(message[5])
            else:
                encoded, keys = _seq(message[3]), _seq(message[4])
            refs: dict[int, Any] = {}
            values = [codec.decode(v, refs) for v in encoded]
            if len(keys) > len(values):
                raise BoundaryError("more keyword names than values")
            split = len(values) - len(keys)
            kwargs = {_str(k): v for k, v in zip(keys, values[split:], strict=False)}
            result = target(*values[:split], **kwargs)
            memo: dict[int, Any] = {}
            aliases = {id(v): i for i, v in enumerate(values) if _is_mutable_arg(v) or not _is_data_type(v)}
            node = codec.encode(result, memo, aliases)
            copyback = [[i, codec.encode(v, memo)] for i, v in enumerate(values) if _is_mutable_arg(v)]
            return node, copyback
        if op == "getattr":
            target = codec.own[_int(message[2])]
            name = _str(message[3])
            self._check_attribute(name)
            value = getattr(target, name)
            if not self.judge and type(value).__name__ == "method" and getattr(value, "__self__", None) is target:
                return ["BM", _int(message[2]), name], []  # called later in one round trip
            return codec.encode(value), []
        if op in ("setattr", "delattr"):
            target = codec.own[_int(message[2])]
            name = _str(message[3])
            self._check_attribute(name)
            if op == "setattr":
                setattr(target, name, codec.decode(message[4]))
            else:
                delattr(target, name)
            return None, []
        if op == "op":
            name = _str(message[2])
            target = codec.own[_int(message[3])]
            refs = {}
            args = [codec.decode(a, refs) for a in _seq(message[4])]
            operation = _OPERATIONS.get(name)
            if operation is None:
                raise BoundaryError(f"unknown operation {name!r}")
            result = operation(target, *args)
            if name in ("bool", "contains", "eq", "ne", "lt", "le", "gt", "ge", "isinstance_of") and not self.judge:
                result = bool(result)  # the sample's answer, by value: True or False
            return codec.encode(result), []
        if op == "stdin" and self.judge:
            method = _str(message[2])
            if method not in ("read", "readline", "readlines"):
                raise BoundaryError(f"stdin has no method {method!r}")
            args = [codec.decode(a) for a in _seq(message[3])]
            return codec.encode(getattr(sys.stdin, method)(*args)), []
        if op == "input" and self.judge:
            prompt = codec.decode(message[2])
            return codec.encode(builtins_module().input(prompt)), []
        raise BoundaryError(f"unknown request {op!r}")

    def _check_attribute(self, name: str) -> None:
        # The judge's objects show the sample their public attributes only: no __globals__,
        # __class__.__subclasses__ or frames to walk from there.
        if self.judge and name.startswith("_"):
            raise AttributeError(name)

    def _guard_the_others(self) -> None:
        """Before the solution's first line: nothing of this process may signal, trace or read
        the judge, the zygote or the server (all alive by now). In a container a filter that
        cannot be installed ends the job (the sample never runs unguarded); a local run goes on
        without it (weaker isolation, as documented)."""
        try:
            if self.guard_program is not None:
                self.guard_program.install()
            else:
                _guard_other_processes(_processes_to_protect())
        except OSError:
            if self.guard == "container":
                raise
        self.guard = None

    def _import_solution(self) -> Any:
        """Import the solution here, in the sample's process; answer its public names (its
        ``__all__`` if it has one), each as data or a handle, and a handle to the module."""
        import importlib

        if self.guard is not None:
            self._guard_the_others()
        module = importlib.import_module("solution")
        names = getattr(module, "__all__", None)
        if not (isinstance(names, (list, tuple)) and all(type(n) is str for n in names)):
            names = [name for name in vars(module) if not name.startswith("_")]
        memo: dict[int, Any] = {}
        keys, values = [], []
        for name in names:
            try:
                values.append(self.codec.encode(getattr(module, name), memo))
            except Exception:  # noqa: BLE001 - an export that cannot cross is left out
                continue
            keys.append(name)
        return ["T", -1, [["D", -2, keys, values], ["H", self.codec.handle(module), 0, "module"]]]


_OPERATIONS: dict[str, Callable[..., Any]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "bool": bool, "len": len, "hash": hash, "repr": repr, "str": str, "iter": iter, "next": next,
    "contains": lambda a, b: b in a, "getitem": lambda a, k: a[k],
    "setitem": lambda a, k, v: a.__setitem__(k, v), "delitem": lambda a, k: a.__delitem__(k),
    "add": lambda a, b: a + b, "radd": lambda a, b: b + a, "sub": lambda a, b: a - b,
    "rsub": lambda a, b: b - a, "mul": lambda a, b: a * b, "rmul": lambda a, b: b * a,
    "truediv": lambda a, b: a / b, "rtruediv": lambda a, b: b / a, "floordiv": lambda a, b: a // b,
    "rfloordiv": lambda a, b: b // a, "mod": lambda a, b: a % b, "rmod": lambda a, b: b % a,
    "pow": lambda a, b: a**b, "rpow": lambda a, b: b**a, "matmul": lambda a, b: a @ b,
    "and": lambda a, b: a & b, "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b,
    "lshift": lambda a, b: a << b, "rshift": lambda a, b: a >> b,
    "neg": lambda a: -a, "pos": lambda a: +a, "abs": abs, "invert": lambda a: ~a,
    "int": int, "float": float, "index": lambda a: a.__index__(), "round": round,
    "enter": lambda a: a.__enter__(), "exit": lambda a, *rest: a.__exit__(*rest),
    "fspath": os.fspath, "reversed": reversed,
    "isinstance_of": lambda cls, instance: isinstance(instance, cls),
}
#: Dunder attributes a handle asks its owner for (they come back as data); every other dunder
#: lookup (pytest's ``__test__``, ``inspect.unwrap``'s ``__wrapped__``...) stays on this side.
