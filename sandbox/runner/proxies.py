"""The boundary's stand-ins: proxies for objects of the other side, the refused data operations on
handles, and the sample's forwarded output and input."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .wire import SAMPLE_OUTPUT_CHARS

if TYPE_CHECKING:
    from .peer import _Peer


_FORWARDED_DUNDERS = frozenset({"__name__", "__qualname__", "__dict__"})
_LOCAL_PROBES = ("_mock_", "_pytest", "pytest", "_fixture")


class HandleRefused(BaseException):
    """A data operation on a handle that the job does not allow (see ``TestJob.handle_ops``): the
    test fails. A BaseException, so a test's ``except Exception`` or ``pytest.raises(TypeError)``
    cannot turn the refusal into a pass."""


#: Operations on a handle that make it stand in for data (arithmetic, conversion, container
#: access, iteration): in the judge, each is allowed by the job or refused, and always counted.
_DATA_OPS = frozenset(
    {
        "add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "rtruediv", "floordiv", "rfloordiv", "mod",
        "rmod", "pow", "rpow", "matmul", "and", "or", "xor", "lshift", "rshift", "neg", "pos", "abs", "invert",
        "int", "float", "index", "round", "contains", "len", "getitem", "setitem", "delitem", "iter", "next",
        "reversed", "fspath", "enter", "exit",
    }
)


#: Object operations on a handle (see ``HANDLE_OBJECT_OPS`` in the protocol), by what asks for them.
_OBJECT_OPS = {"eq": "compare", "ne": "compare", "lt": "compare", "le": "compare", "gt": "compare", "ge": "compare",
               "bool": "compare", "hash": "compare", "isinstance_of": "compare", "str": "text", "repr": "text",
               "getattr": "attributes"}


def _refuse_unless_allowed(peer: _Peer, name: str, proxy: Any) -> None:
    """In the judge, with a job that names what handles may do: refuse ``name`` unless allowed."""
    if not peer.judge or peer.allowed_ops is None:
        return
    needed = _OBJECT_OPS.get(name, name)
    if needed not in peer.allowed_ops:
        kind = object.__getattribute__(proxy, "_gcop_type")
        raise HandleRefused(
            f"{name} on an object of the solution ({kind}, not plain data) is refused: the reference "
            "solution's answers are data here, so the candidate's must be too"
        )


def _refused_factory() -> Any:
    raise HandleRefused("a missing key of a defaultdict from the solution would run the solution's own factory: "
                        "refused where the reference solution's answers are data")


def _make_forwarder(name: str, *, counted: bool = False, result: type | None = None) -> Callable[..., Any]:
    data_op = name in _DATA_OPS

    def forward(self: Any, *args: Any) -> Any:
        peer = object.__getattribute__(self, "_gcop_peer")
        if name == "len" and peer.judge and peer.allowed_ops is not None and "len" not in peer.allowed_ops:
            # as an unsized object's: list() and others ask for a length hint first
            raise TypeError("len() of an object of the solution is refused: the reference's answers are data here")
        _refuse_unless_allowed(peer, name, self)
        if counted:
            peer.stats.handle_comparisons += 1
        if data_op and peer.judge:
            peer.stats.handle_data_ops += 1
        value = peer.op(name, object.__getattribute__(self, "_gcop_hid"), *args)
        if result is not None and type(value) is not result:
            raise TypeError(f"{name}() of an object of the other process gave {type(value).__name__}, not {result.__name__}")
        return value

    forward.__name__ = f"__{name}__"
    return forward


def _make_comparison(name: str) -> Callable[[Any, Any], Any]:
    forward = _make_forwarder(name, counted=True)

    def compare(self: Any, other: Any) -> Any:
        # Two handles: the owner compares them (and it is counted). A handle and data: never equal,
        # whatever the other side would say.
        if isinstance(other, (_Remote, _JudgeProxy)) and object.__getattribute__(other, "_gcop_peer") is object.__getattribute__(self, "_gcop_peer"):
            return forward(self, other)  # refused there where handles may not be compared
        return NotImplemented

    compare.__name__ = f"__{name}__"
    return compare


class _ProxyBase:
    """A handle: this side's stand-in for an object of the other process."""

    __slots__ = ("_gcop_peer", "_gcop_hid", "_gcop_type", "__weakref__")

    #: The subclass for callable objects (set below for _Remote and _JudgeProxy).
    _gcop_callable_kind: type[_ProxyBase] | None = None

    @classmethod
    def _gcop_new(cls, peer: _Peer, hid: int, is_callable: bool, type_name: str) -> Any:
        self = object.__new__(cls._gcop_callable_kind if is_callable and cls._gcop_callable_kind else cls)
        object.__setattr__(self, "_gcop_peer", peer)
        object.__setattr__(self, "_gcop_hid", hid)
        object.__setattr__(self, "_gcop_type", type_name)
        return self

    def __getattr__(self, name: str) -> Any:
        if (name.startswith("__") and name.endswith("__") and name not in _FORWARDED_DUNDERS) or name.startswith(_LOCAL_PROBES):
            # pytest's, mock's and copy's probes (__test__, __wrapped__, _mock_name...) stay on
            # this side: nothing of the other process decides how pytest treats the object
            raise AttributeError(name)
        peer = object.__getattribute__(self, "_gcop_peer")
        if name not in _FORWARDED_DUNDERS:
            _refuse_unless_allowed(peer, "getattr", self)
        return peer.request("getattr", object.__getattribute__(self, "_gcop_hid"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        peer = object.__getattribute__(self, "_gcop_peer")
        peer.request("setattr", object.__getattribute__(self, "_gcop_hid"), name, peer.codec.encode(value))

    def __delattr__(self, name: str) -> None:
        peer = object.__getattribute__(self, "_gcop_peer")
        peer.request("delattr", object.__getattribute__(self, "_gcop_hid"), name)

    def __repr__(self) -> str:
        try:
            peer = object.__getattribute__(self, "_gcop_peer")
            _refuse_unless_allowed(peer, "repr", self)
            text = peer.op("repr", object.__getattribute__(self, "_gcop_hid"))
        except (Exception, HandleRefused):  # noqa: BLE001 - repr must not raise in a failure report
            text = None
        if type(text) is str:
            return text[:2000]
        return f"<{object.__getattribute__(self, '_gcop_type')} of the other process>"

    def __str__(self) -> str:
        peer = object.__getattribute__(self, "_gcop_peer")
        _refuse_unless_allowed(peer, "str", self)
        text = peer.op("str", object.__getattribute__(self, "_gcop_hid"))
        if type(text) is not str:
            raise TypeError("__str__ gave no str")
        return text

    def __dir__(self) -> list[str]:
        return []

    __eq__ = _make_comparison("eq")
    __ne__ = _make_comparison("ne")
    __lt__ = _make_comparison("lt")
    __le__ = _make_comparison("le")
    __gt__ = _make_comparison("gt")
    __ge__ = _make_comparison("ge")
    __bool__ = _make_forwarder("bool", counted=True, result=bool)
    __contains__ = _make_forwarder("contains", counted=True, result=bool)
    __len__ = _make_forwarder("len", result=int)
    __hash__ = _make_forwarder("hash", result=int)
    __iter__ = _make_forwarder("iter")
    __next__ = _make_forwarder("next")
    __reversed__ = _make_forwarder("reversed")
    __getitem__ = _make_forwarder("getitem")
    __setitem__ = _make_forwarder("setitem")
    __delitem__ = _make_forwarder("delitem")
    __int__ = _make_forwarder("int", result=int)
    __float__ = _make_forwarder("float", result=float)
    __index__ = _make_forwarder("index", result=int)
    __round__ = _make_forwarder("round")
    __enter__ = _make_forwarder("enter")
    __exit__ = _make_forwarder("exit")
    __fspath__ = _make_forwarder("fspath")
    __neg__ = _make_forwarder("neg")
    __pos__ = _make_forwarder("pos")
    __abs__ = _make_forwarder("abs")
    __invert__ = _make_forwarder("invert")
    for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor", "lshift", "rshift"):
        locals()[f"__{_name}__"] = _make_forwarder(_name)
    for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow"):
        locals()[f"__r{_name}__"] = _make_forwarder(f"r{_name}")
    del _name

    def __instancecheck__(self, instance: Any) -> bool:
        return _remote_isinstance(self, instance)

    def __subclasscheck__(self, subclass: Any) -> bool:
        return False

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("an object of the other process cannot be pickled or copied")


def _remote_isinstance(cls_proxy: Any, instance: Any) -> bool:
    """``isinstance(x, TheirClass)``, asked of the class's owner."""
    peer = object.__getattribute__(cls_proxy, "_gcop_peer")
    _refuse_unless_allowed(peer, "isinstance_of", cls_proxy)
    hid = object.__getattribute__(cls_proxy, "_gcop_hid")
    memo: dict[int, Any] = {}
    peer.stats.handle_comparisons += 1
    value = peer.request("op", "isinstance_of", hid, [peer.codec.encode(instance, memo)])
    return value is True


def _call_proxy(self: Any, *args: Any, **kwargs: Any) -> Any:
    peer = object.__getattribute__(self, "_gcop_peer")
    return peer.call(object.__getattribute__(self, "_gcop_hid"), args, kwargs)


class _Remote(_ProxyBase):
    """In the judge: an object of the sample's process."""

    __slots__ = ()


class _JudgeProxy(_ProxyBase):
    """In the sample: an object of the judge's process (a callback, an object the test made)."""

    __slots__ = ()


class _CallableRemote(_Remote):
    __slots__ = ()
    __call__ = _call_proxy


class _CallableJudgeProxy(_JudgeProxy):
    __slots__ = ()
    __call__ = _call_proxy


_Remote._gcop_callable_kind = _CallableRemote
_JudgeProxy._gcop_callable_kind = _CallableJudgeProxy


class _BoundMethod:
    """In the judge: ``handle.method``, called in one round trip."""

    __slots__ = ("peer", "hid", "name")

    def __init__(self, peer: _Peer, hid: int, name: str) -> None:
        self.peer, self.hid, self.name = peer, hid, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.peer.call(self.hid, args, kwargs, method=self.name)

    def __repr__(self) -> str:
        return f"<method {self.name} of an object of the other process>"


class _OutputBuffer:
    """The sample's sys.stdout / sys.stderr: text goes to the judge with the next message, and
    the judge writes it to whatever the test has as its stream at that moment."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.parts: list[str] = []
        self.size = 0
        self.encoding = "utf-8"
        self.errors = "strict"

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self.size + len(text) <= SAMPLE_OUTPUT_CHARS:
            self.parts.append(text)
            self.size += len(text)
        else:  # too much to carry to the judge: the rest goes to the job's output file only
            try:
                os.write(self.fd, text.encode("utf-8", "replace")[:65536])
            except OSError:
                pass
        return len(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        self.size = 0
        return text

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        pass

    closed = False

    def fileno(self) -> int:
        return self.fd


class _JudgeStdin:
    """The sample's sys.stdin: reads what the test has as sys.stdin, in the judge."""

    def __init__(self, peer: _Peer) -> None:
        self.peer = peer

    def _ask(self, method: str, *args: Any) -> Any:
        return self.peer.request("stdin", method, [self.peer.codec.encode(a) for a in args])

    def read(self, size: int = -1) -> str:
        return self._ask("read", size)

    def readline(self, size: int = -1) -> str:
        return self._ask("readline", size)

    def readlines(self, hint: int = -1) -> list[str]:
        return self._ask("readlines", hint)

    def __iter__(self) -> Iterator[str]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:  # multiprocessing's children close their stdin first thing
        pass

    closed = False


def _sample_input(peer: _Peer) -> Callable[..., str]:
    def input(prompt: Any = "") -> str:  # noqa: A001 - replaces the builtin in the sample
        return peer.request("input", peer.codec.encode(str(prompt)))

    return input
