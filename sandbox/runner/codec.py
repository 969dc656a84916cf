"""The boundary's codec: Python values to the wire's JSON and back, data by value, everything else
as handles."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from .proxies import _BoundMethod, _JudgeProxy, _ProxyBase, _refused_factory, _Remote
from .wire import (
    _DEGRADE,
    _JSON_SAFE_INT,
    _NEVER_BY_NAME,
    _PLAIN,
    _PRIMITIVE_TYPES,
    _SAFE_BUILTINS,
    BoundaryError,
    SampleError,
    _b64,
    _encode_exception,
    _float,
    _import_by_name,
    _int,
    _int_value,
    _resolve_by_name,
    _seq,
    _standin_class,
    _str,
    _type_name,
    _unb64,
    builtins_module,
)

if TYPE_CHECKING:
    from .peer import _Peer


def _execution_state_types() -> tuple[type, ...]:
    """What holds the state of running code: frames, code objects, tracebacks, and a frame's
    ``f_locals`` where it writes through to the frame (Python 3.13, PEP 667; a copied dict before).
    From a frame of the judge (a generator's ``gi_frame`` and then ``f_back``, all public names)
    the sample could read the test's expected values and, on 3.13, rewrite the judge's locals."""
    import types

    def locals_of_a_function() -> Any:
        return sys._getframe().f_locals

    found = {types.FrameType, types.CodeType, types.TracebackType, type(locals_of_a_function())}
    found.discard(dict)
    return tuple(found)


#: Objects of these types never cross from the judge to the sample, not even as handles.
_EXECUTION_STATE = _execution_state_types()


class _Codec:
    """Turns values into JSON-able nodes and back, for one side of the boundary.

    ``own`` holds this side's objects that the other side knows by handle id; ``proxies`` the
    other side's, as this side's proxy objects. In the judge (``judge=True``) decoding builds
    exact builtin types, the judge's own imports and proxies only: the sample's encoder may be
    anything (the sample can rewrite it), so every guarantee lives in :meth:`decode`.
    """

    def __init__(self, peer: _Peer, *, judge: bool) -> None:
        self.peer = peer
        self.judge = judge
        self.own: dict[int, Any] = {}
        self.own_ids: dict[int, int] = {}
        self.proxies: dict[int, Any] = {}
        self.standins: dict[int, type] = {}  # judge: the sample's exception classes, by handle id
        self.namedtuples: dict[tuple[str, tuple[str, ...]], type] = {}

    # ------------------------------------------------------------------ encoding

    def handle(self, value: Any) -> int:
        key = id(value)
        hid = self.own_ids.get(key)
        if hid is None or self.own.get(hid) is not value:
            hid = len(self.own) + 1
            self.own[hid] = value
            self.own_ids[key] = hid
        return hid

    def encode(self, value: Any, memo: dict[int, Any] | None = None, aliases: dict[int, int] | None = None) -> Any:
        kind = type(value)
        if kind is int:
            return value if -_JSON_SAFE_INT < value < _JSON_SAFE_INT else ["i", format(value, "x")]
        if kind in _PLAIN:
            return value
        if aliases and id(value) in aliases:
            return ["A", aliases[id(value)]]
        if memo is None:
            memo = {}
        key = id(value)
        if key in memo:
            return ["x", memo[key][0]]
        if isinstance(value, _ProxyBase) and object.__getattribute__(value, "_gcop_peer") is self.peer:
            return ["O", object.__getattribute__(value, "_gcop_hid")]
        n = len(memo)

        def items(seq: Any) -> list[Any]:
            memo[key] = (n, value)
            if set(map(type, seq)) <= _PRIMITIVE_TYPES and all(
                -_JSON_SAFE_INT < x < _JSON_SAFE_INT for x in seq if type(x) is int
            ):
                return list(seq)
            return [self.encode(x, memo, aliases) for x in seq]

        if kind is complex:
            return ["c", value.real, value.imag]
        if kind is range:
            return ["RG", self.encode(value.start), self.encode(value.stop), self.encode(value.step)]
        if kind is slice:
            return ["SL", self.encode(value.start, memo, aliases), self.encode(value.stop, memo, aliases), self.encode(value.step, memo, aliases)]
        if value is Ellipsis:
            return ["EL"]
        if kind is bytes:
            return ["y", _b64(value)]
        if kind is bytearray:
            memo[key] = (n, value)
            return ["Y", n, _b64(bytes(value))]
        if kind is list:
            return ["L", n, items(value)]
        if kind is tuple:
            return ["T", n, items(value)]
        if kind is set:
            return ["S", n, items(value)]
        if kind is frozenset:
            return ["F", n, items(value)]
        if kind is dict:
            return ["D", n, items(value.keys()), items(value.values())]
        module = getattr(kind, "__module__", None)
        if module == "collections":
            name = kind.__name__
            if name in ("Counter", "OrderedDict"):
                return ["K", n, name, items(value.keys()), items(value.values())]
            if name == "defaultdict":
                factory = value.default_factory
                return ["K", n, name, items(value.keys()), items(value.values()),
                        self.encode(factory, memo, aliases) if factory is not None else None]
            if name == "deque":
                return ["Q", n, items(value), value.maxlen]
        if module == "numpy" or module == "numpy.ma":
            node = self._encode_numpy(value, memo, aliases)
            if node is not None:
                return node
        if module == "fractions" and kind.__name__ == "Fraction":
            return ["R", "Fraction", f"{value.numerator}/{value.denominator}"]
        if module == "decimal" and kind.__name__ == "Decimal":
            return ["R", "Decimal", str(value)]
        if module in ("pathlib", "posixpath") and kind.__name__ in ("PosixPath", "PurePosixPath", "Path"):
            return ["R", kind.__name__, str(value)]
        if isinstance(value, type):
            return self.encode_class(value)
        if isinstance(value, BaseException):
            return _encode_exception(self, value)
        if isinstance(value, tuple) and hasattr(kind, "_fields"):  # a namedtuple
            fields = [str(f) for f in kind._fields]
            return ["NT", n, kind.__name__, fields, items(tuple.__getitem__(value, slice(None)))]
        # Subclasses of builtin data travel as their builtin value: a str subclass's __eq__ never
        # reaches the other side.
        for base, convert in _DEGRADE:
            if isinstance(value, base):
                return self.encode(convert(value), memo, aliases)
        if kind is type(sys):
            module_file = getattr(value, "__file__", None) or ""
            if not (module_file and os.path.abspath(module_file).startswith(os.getcwd() + os.sep)):
                return ["M", str(value.__name__)]  # the other side imports its own copy
        if self.judge and isinstance(value, _EXECUTION_STATE):
            raise BoundaryError(f"the judge's {kind.__name__} objects never cross to the sample")
        named = self._by_name(value)
        if named is not None:
            return named
        info = 1 if callable(value) else 0
        return ["H", self.handle(value), info, _type_name(kind)]

    def encode_class(self, cls: type) -> Any:
        if getattr(cls, "__module__", None) == "builtins" and getattr(builtins_module(), cls.__name__, None) is cls:
            return ["B", cls.__name__]
        named = self._by_name(cls)
        if named is not None:
            return named
        if issubclass(cls, BaseException):
            bases = [self.encode_class(base) for base in cls.__bases__ if issubclass(base, BaseException)]
            return ["C", self.handle(cls), str(cls.__name__), bases]
        return ["H", self.handle(cls), 1, "type"]

    def _by_name(self, value: Any) -> list[Any] | None:
        """Objects of an installed module (``typing.List``, ``collections.deque``, ``math.gcd``):
        the other side imports them itself."""
        module = getattr(value, "__module__", None)
        qualname = getattr(value, "__qualname__", None) or getattr(value, "_name", None)
        if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
            return None
        if module == "builtins":
            if qualname in _SAFE_BUILTINS and getattr(builtins_module(), qualname, None) is value:
                return ["G", module, qualname]
            return None
        if module.split(".")[0] in _NEVER_BY_NAME:
            return None
        owner = sys.modules.get(module)
        path = getattr(owner, "__file__", None) or ""
        if owner is None or (path and os.path.abspath(path).startswith(os.getcwd() + os.sep)):
            return None  # the sample's own modules
        try:
            found: Any = owner
            for part in qualname.split("."):
                found = getattr(found, part)
        except AttributeError:
            return None
        return ["G", module, qualname] if found is value else None

    def _encode_numpy(self, value: Any, memo: dict[int, Any], aliases: dict[int, int] | None) -> Any:
        import numpy as np

        if isinstance(value, np.ndarray):
            array = np.asarray(value)
            if array.dtype.hasobject:
                return ["NO", list(array.shape), [self.encode(x, memo, aliases) for x in array.ravel().tolist()]]
            array = np.ascontiguousarray(array)
            return ["N", array.dtype.str, list(array.shape), _b64(array.tobytes())]
        if isinstance(value, np.generic) and not value.dtype.hasobject:
            return ["n", value.dtype.str, _b64(value.tobytes())]
        return None

    # ------------------------------------------------------------------ decoding

    def decode(self, node: Any, refs: dict[int, Any] | None = None, aliases: list[Any] | None = None) -> Any:
        """Build a value from a node. Any malformed node raises BoundaryError (in the judge: the
        test fails)."""
        try:
            return self._decode(node, {} if refs is None else refs, aliases)
        except BoundaryError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError, RecursionError, MemoryError) as exc:
            raise BoundaryError(f"unreadable value from the other process: {type(exc).__name__}: {exc}") from None

    def _decode(self, node: Any, refs: dict[int, Any], aliases: list[Any] | None) -> Any:
        kind = type(node)
        if kind in _PRIMITIVE_TYPES:
            return node
        if kind is not list or not node or type(node[0]) is not str:
            raise BoundaryError(f"unexpected node of type {kind.__name__}")
        tag = node[0]
        decode = self._decode
        if tag == "L":
            out: Any = []
            refs[node[1]] = out
            out.extend(decode(x, refs, aliases) for x in _seq(node[2]))
            return out
        if tag == "T":
            out = tuple(decode(x, refs, aliases) for x in _seq(node[2]))
            refs[node[1]] = out
            return out
        if tag in ("S", "F"):
            values = [decode(x, refs, aliases) for x in _seq(node[2])]
            out = set(values) if tag == "S" else frozenset(values)
            refs[node[1]] = out
            return out
        if tag == "D":
            out = {}
            refs[node[1]] = out
            keys, values = _seq(node[2]), _seq(node[3])
            if len(keys) != len(values):
                raise BoundaryError("dict with unequal keys and values")
            for k, v in zip(keys, values, strict=False):
                out[decode(k, refs, aliases)] = decode(v, refs, aliases)
            return out
        if tag == "x":
            return refs[node[1]]
        if tag == "A":
            if aliases is None:
                raise BoundaryError("argument alias outside a call")
            return aliases[_int(node[1])]
        if tag == "i":
            return int(_str(node[1]), 16)
        if tag == "c":
            return complex(_float(node[1]), _float(node[2]))
        if tag == "RG":
            return range(*(_int_value(decode(x, refs, aliases)) for x in node[1:4]))
        if tag == "SL":
            return slice(*(decode(x, refs, aliases) for x in node[1:4]))
        if tag == "EL":
            return Ellipsis
        if tag == "y":
            return _unb64(node[1])
        if tag == "Y":
            out = bytearray(_unb64(node[2]))
            refs[node[1]] = out
            return out
        if tag == "O":
            return self.own[_int(node[1])]
        if tag == "H":
            hid = _int(node[1])
            proxy = self.proxies.get(hid)
            if proxy is None:
                proxy = (_Remote if self.judge else _JudgeProxy)._gcop_new(self.peer, hid, bool(node[2]), _str(node[3]))
                self.proxies[hid] = proxy
            return proxy
        if tag == "G":
            return _resolve_by_name(_str(node[1]), _str(node[2]), judge=self.judge)
        if tag == "M":
            return _import_by_name(_str(node[1]))
        if tag == "B":
            found = getattr(builtins_module(), _str(node[1]))
            if not isinstance(found, type):
                raise BoundaryError(f"builtins.{node[1]} is not a class")
            return found
        if tag == "C":
            hid = _int(node[1])
            if hid not in self.standins:
                bases = [decode(b, refs, aliases) for b in _seq(node[3])]
                self.standins[hid] = _standin_class(_str(node[2]), bases)
            return self.standins[hid]
        if tag == "BM" and self.judge:
            return _BoundMethod(self.peer, _int(node[1]), _str(node[2]))
        if tag == "X":
            return self.decode_exception(node)
        if tag == "K":
            import collections

            name = _str(node[2])
            keys, values = _seq(node[3]), _seq(node[4])
            if name == "Counter":
                out = collections.Counter()
            elif name == "OrderedDict":
                out = collections.OrderedDict()
            elif name == "defaultdict":
                factory = decode(node[5], refs, aliases) if node[5] is not None else None
                if factory is not None and not callable(factory):
                    raise BoundaryError("defaultdict factory is not callable")
                if (self.judge and isinstance(factory, _Remote) and self.peer.allowed_ops is not None
                        and "attributes" not in self.peer.allowed_ops):
                    factory = _refused_factory  # the solution's own code, answering missing keys
                out = collections.defaultdict(factory)
            else:
                raise BoundaryError(f"unknown container {name!r}")
            refs[node[1]] = out
            if len(keys) != len(values):
                raise BoundaryError("dict with unequal keys and values")
            for k, v in zip(keys, values, strict=False):
                dict.__setitem__(out, decode(k, refs, aliases), decode(v, refs, aliases))
            return out
        if tag == "Q":
            import collections

            out = collections.deque(maxlen=None if node[3] is None else _int(node[3]))
            refs[node[1]] = out
            out.extend(decode(x, refs, aliases) for x in _seq(node[2]))
            return out
        if tag == "R":
            name, text = _str(node[1]), _str(node[2])
            if name == "Fraction":
                import fractions

                return fractions.Fraction(text)
            if name == "Decimal":
                import decimal

                return decimal.Decimal(text)
            if name in ("PosixPath", "Path"):
                import pathlib

                return pathlib.PosixPath(text)
            if name == "PurePosixPath":
                import pathlib

                return pathlib.PurePosixPath(text)
            raise BoundaryError(f"unknown value type {name!r}")
        if tag == "NT":
            name, fields = _str(node[2]), tuple(_str(f) for f in _seq(node[3]))
            tuple_type: Any = self.namedtuples.get((name, fields))
            if tuple_type is None:
                import collections

                make: Any = collections.namedtuple  # a type named at run time, not a declaration
                tuple_type = make(name if name.isidentifier() else "namedtuple", fields)
                self.namedtuples[(name, fields)] = tuple_type
            out = tuple_type(*(decode(x, refs, aliases) for x in _seq(node[4])))
            refs[node[1]] = out
            return out
        if tag in ("N", "n", "NO"):
            import numpy as np

            if tag == "NO":
                shape = tuple(_int(x) for x in _seq(node[1]))
                self._check_size(shape)
                flat = [decode(x, refs, aliases) for x in _seq(node[2])]
                out = np.empty(len(flat), dtype=object)
                out[:] = flat
                return out.reshape(shape)
            dtype = np.dtype(_str(node[1]))
            if dtype.hasobject:
                raise BoundaryError("numpy object dtype in a byte buffer")
            raw = _unb64(node[3] if tag == "N" else node[2])
            if tag == "n":
                if len(raw) != dtype.itemsize:
                    raise BoundaryError("numpy scalar of the wrong size")
                return np.frombuffer(raw, dtype=dtype)[0]
            shape = tuple(_int(x) for x in _seq(node[2]))
            count = 1
            for dim in shape:
                if dim < 0:
                    raise BoundaryError("negative numpy dimension")
                count *= dim
            if count * dtype.itemsize != len(raw):
                raise BoundaryError("numpy buffer of the wrong size")
            self._check_size(shape)
            return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        raise BoundaryError(f"unknown node tag {tag!r}")

    def _check_size(self, shape: tuple[int, ...]) -> None:
        """In the judge, an array with no elements from the sample passes only where the job allows
        empty arrays (its reference uses numpy): every comparison with one is vacuously true."""
        if not self.judge or 0 not in shape:
            return
        allowed = self.peer.allowed_ops
        if allowed is not None and "empty_arrays" not in allowed:  # gcop.sandbox.protocol.EMPTY_ARRAYS
            raise BoundaryError(
                f"an empty numpy array (shape {shape}) where the reference solution uses no numpy: "
                "comparisons with it are vacuously true, so it is refused as a wrong answer"
            )

    def decode_exception(self, node: list[Any]) -> BaseException:
        cls = self._decode(node[1], {}, None)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            cls = SampleError
        if self.judge and cls in (KeyboardInterrupt, GeneratorExit):
            cls = SampleError  # only the judge's own machinery raises these
        try:
            args = self._decode(node[2], {}, None)
            args = list(args) if type(args) is list else [str(args)]
        except BoundaryError:
            args = [_str(node[3])]
        try:
            exc = cls(*args)
        except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError wants five arguments
            exc = cls.__new__(cls)
            exc.args = tuple(args)
        if node[4]:
            exc.add_note("raised in the other process:\n" + _str(node[4]))
        return exc
