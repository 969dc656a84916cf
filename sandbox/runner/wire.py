"""The boundary's wire: its limits, errors and the helpers of its encoding (what may travel by name,
by value, or as a handle)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .codec import _Codec

# A job runs in two processes. The *judge* runs the tests and writes the report; the *sample*
# imports the solution and runs every line of it. They talk over a socket, one size-capped JSON
# message at a time. What crosses is data, copied (exact builtin types, recursively; numpy arrays
# and scalars; a few stdlib containers), or a *handle*: a proxy whose every attribute and method
# runs on the side that owns the object. The judge decodes what the sample sends into exact
# builtin types and its own proxy class only, so nothing the sample made ever runs a method in
# the judge. The sample is forked from a zygote started before any job, so its memory never held
# a test, and the judge unlinks the test file before the sample runs its first line.
#
# Comparisons: a handle never equals data (``handle == 5`` is False whatever the sample's
# ``__eq__`` says); comparing two handles, or taking a handle's truth value, asks the sample, and
# is counted: a test with no such comparison was decided by value only.

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # one message across the boundary
SAMPLE_OUTPUT_CHARS = 1024 * 1024  # the sample's buffered stdout/stderr held per message
SAMPLE_OUTPUT_TOTAL_CHARS = 16 * 1024 * 1024  # of which the judge writes at most this, per job
_JSON_SAFE_INT = 2**62
_PLAIN = (type(None), bool, float, str)
_PRIMITIVE_TYPES = frozenset({type(None), bool, int, float, str})

#: Modules whose objects the judge never resolves by name for the sample (it gets a handle
#: instead): the judge's own machinery, and anything that reaches the interpreter's internals.
_NEVER_BY_NAME = frozenset(
    {
        "_pytest", "pytest", "pluggy", "ctypes", "gc", "sys", "importlib", "os", "posix", "subprocess",
        "inspect", "code", "codeop", "runpy", "pdb", "bdb", "threading", "_thread", "signal", "atexit",
        "faulthandler", "marshal", "pickle", "shelve", "types", "weakref", "unittest", "builtins",
        "linecache", "traceback", "tracemalloc", "io", "_io", "socket", "select", "shutil", "tempfile",
        "__main__", "solution", "test_solution", "runner", "copyreg", "abc", "_abc",
    }
)
#: Builtins the sample may name as one of its exports (``solve = sorted``).
_SAFE_BUILTINS = frozenset(
    {
        "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr", "complex",
        "dict", "divmod", "enumerate", "filter", "float", "format", "frozenset", "hash", "hex", "int",
        "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next", "oct", "ord",
        "pow", "print", "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum",
        "tuple", "zip", "object", "type",
    }
)
#: Names a test module never takes from the solution: pytest gives them meaning.
_PYTEST_RESERVED = frozenset(
    {
        "pytestmark", "pytest_plugins", "setup_module", "teardown_module", "setup_function",
        "teardown_function", "setup", "teardown", "setUpModule", "tearDownModule", "conftest",
    }
)


class BoundaryError(RuntimeError):
    """The other side of the boundary died, broke the protocol or sent what cannot be read."""


class SampleError(RuntimeError):
    """Raised in the judge for what the sample raised that has no honest counterpart there."""


class _Stats:
    """What the judge counts about one job's comparisons (reported with the verdict)."""

    def __init__(self) -> None:
        self.handle_comparisons = 0
        self.handle_data_ops = 0  # judge: arithmetic, conversions, indexing, iteration on handles
        self.calls = 0


def _encode_exception(codec: _Codec, exc: BaseException) -> list[Any]:
    import traceback

    cls = type(exc)
    try:
        args = codec.encode(list(exc.args))
    except Exception:  # noqa: BLE001 - an unencodable argument travels as text
        args = ["L", -1, [str(exc)[:2000]]]
    try:
        text = "".join(traceback.format_exception(exc))[-4000:]
    except Exception:  # noqa: BLE001
        text = ""
    return ["X", codec.encode_class(cls), args, f"{cls.__name__}: {exc}"[:2000], text]


_DATA_TYPES: frozenset[type] = frozenset(
    {type(None), bool, int, float, str, complex, bytes, bytearray, list, tuple, dict, set, frozenset, range, slice}
)


def _is_data_type(value: Any) -> bool:
    return type(value) in _DATA_TYPES


def _standin_class(name: str, bases: list[Any]) -> type:
    """The judge's stand-in for one of the sample's exception classes: a class the judge made,
    so ``pytest.raises(TheirError)`` works and nothing of the sample's runs."""
    usable = tuple(
        b for b in bases
        if isinstance(b, type) and issubclass(b, BaseException) and b not in (KeyboardInterrupt, GeneratorExit, BaseExceptionGroup)
    ) or (Exception,)
    name = name if name.isidentifier() else "SampleError"
    try:
        return type(name, usable, {"__module__": "solution"})
    except TypeError:  # bases whose layouts conflict: the first one will do
        return type(name, usable[:1], {"__module__": "solution"})


def builtins_module() -> Any:
    import builtins

    return builtins


_DEGRADE: tuple[tuple[type, Callable[[Any], Any]], ...] = (
    (int, int.__int__),
    (float, float.__float__),
    (complex, lambda v: complex(complex.__getattribute__(v, "real"), complex.__getattribute__(v, "imag"))),
    (str, str.__str__),
    (bytes, lambda v: bytes(memoryview(v))),
    (bytearray, lambda v: bytearray(memoryview(v))),
    (list, list.copy),
    (tuple, lambda v: tuple.__getitem__(v, slice(None))),
    (dict, dict.copy),
    (set, set.copy),
    (frozenset, frozenset.copy),
)


def _type_name(kind: type) -> str:
    return str(getattr(kind, "__qualname__", "object"))[:200]


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def _unb64(node: Any) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode(_str(node), validate=True)
    except binascii.Error as exc:
        raise BoundaryError(f"bad bytes: {exc}") from None


def _seq(node: Any) -> list[Any]:
    if type(node) is not list:
        raise BoundaryError("expected a list")
    return node


def _int(node: Any) -> int:
    if type(node) is not int:
        raise BoundaryError("expected an integer")
    return node


def _int_value(value: Any) -> int:
    if type(value) is not int:
        raise BoundaryError("expected an integer")
    return value


def _float(node: Any) -> float:
    if type(node) not in (int, float):
        raise BoundaryError("expected a number")
    return float(node)


def _str(node: Any) -> str:
    if type(node) is not str:
        raise BoundaryError("expected a string")
    return node


def _resolve_by_name(module: str, qualname: str, *, judge: bool) -> Any:
    """An installed module's object, imported by this side itself."""
    import importlib

    if module == "builtins":
        if qualname not in _SAFE_BUILTINS:
            raise BoundaryError(f"builtins.{qualname} is not given by name")
        return getattr(builtins_module(), qualname)
    if module.split(".")[0] in _NEVER_BY_NAME or not all(part.isidentifier() for part in module.split(".")):
        raise BoundaryError(f"module {module!r} is not given by name")
    try:
        found: Any = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - not installed on this side
        raise BoundaryError(f"cannot import {module!r}: {exc}") from None
    for part in qualname.split("."):
        if not part.isidentifier() or (judge and part.startswith("__")):
            raise BoundaryError(f"bad name {qualname!r}")
        found = getattr(found, part)
    if judge and isinstance(found, type(sys)):
        raise BoundaryError("a module is not given by name")
    if judge and not (isinstance(found, type) or callable(found) or module == "typing"):
        # Classes, functions and typing's constructs only: never a module-level instance
        # (a sentinel that compares equal to everything, say) standing in for a value.
        raise BoundaryError(f"{module}.{qualname} is not given by name")
    return found


#: Modules never given by name, nor anything inside them: the job's own, and the runner's (its
#: package, and gcop's copy of it, importable in a local run). A module's entry point
#: (``<package>.__main__``) neither: importing it may run it (the runner's own would start a
#: second server inside the judge).
_NEVER_IMPORTED_BY_NAME = frozenset({"__main__", "solution", "test_solution", "runner", "gcop"})


def _import_by_name(name: str) -> Any:
    """A module the other side holds, as this side's own import of it (the judge's import path
    never includes the job directory, so this is never a module the sample wrote)."""
    import importlib

    parts = name.split(".")
    if parts[0] in _NEVER_IMPORTED_BY_NAME or "__main__" in parts or not all(part.isidentifier() for part in parts):
        raise BoundaryError(f"module {name!r} is not given by name")
    try:
        return importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - not installed on this side
        raise BoundaryError(f"cannot import {name!r}: {exc}") from None


def _update_in_place(original: Any, new: Any) -> None:
    """Make ``original`` (an argument the other side may have mutated) equal ``new``, keeping
    the identity of it and of its mutable parts where the shape allows."""
    kind = type(original)
    if kind is list and type(new) is list:
        if len(original) == len(new):
            for index, (old_item, new_item) in enumerate(zip(original, new, strict=False)):
                if type(old_item) in (list, dict, set, bytearray) and type(new_item) is type(old_item):
                    _update_in_place(old_item, new_item)
                elif old_item is not new_item:
                    original[index] = new_item
        else:
            original[:] = new
    elif kind is dict and type(new) is dict:
        if original.keys() == new.keys():
            for key, new_item in new.items():
                old_item = original[key]
                if type(old_item) in (list, dict, set, bytearray) and type(new_item) is type(old_item):
                    _update_in_place(old_item, new_item)
                elif old_item is not new_item:
                    original[key] = new_item
        else:
            original.clear()
            original.update(new)
    elif kind is set and type(new) is set:
        if original != new:
            original.clear()
            original.update(new)
    elif kind is bytearray and type(new) is bytearray:
        original[:] = new
    elif getattr(kind, "__module__", None) == "collections" and type(new) is kind:
        if kind.__name__ == "deque":
            original.clear()
            original.extend(new)
        else:
            original.clear()
            original.update(new)
    elif getattr(kind, "__module__", None) == "numpy" and type(new) is kind and getattr(original, "shape", None) == getattr(new, "shape", ()):
        try:
            original[...] = new
        except (TypeError, ValueError):
            pass


_MUTABLE_ARG_TYPES = frozenset({list, dict, set, bytearray})


def _is_mutable_arg(value: Any) -> bool:
    kind = type(value)
    if kind in _MUTABLE_ARG_TYPES:
        return True
    module = getattr(kind, "__module__", None)
    if module == "collections" and kind.__name__ in ("deque", "Counter", "OrderedDict", "defaultdict"):
        return True
    return module == "numpy" and kind.__name__ == "ndarray"
