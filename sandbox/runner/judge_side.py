"""The judge's side of the boundary: what the tests may see of the solution, the names they bind,
and the jobs that must stay in one process."""

from __future__ import annotations

import ast
import os
import sys
from typing import Any

from .files import _parse
from .guard import _SYSCALLS, _libc, _processes_to_protect, _seccomp_program
from .peer import _Peer
from .proxies import _BoundMethod, _ProxyBase
from .testprocess import _mark
from .wire import _PYTEST_RESERVED, BoundaryError


def _bound_names(tree: Any) -> set[str]:
    """Names the test module binds at its top level (defs, classes, imports, assignments)."""
    names: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(statement.name)
        else:
            names.update(_names_bound_by(statement))
    return names


def _names_bound_by(statement: ast.stmt, *, deleted: bool = False) -> list[str]:
    """Names one top-level statement binds (assigns, imports, defines anywhere inside it), and
    with ``deleted`` those it deletes."""
    contexts: tuple[type, ...] = (ast.Store, ast.Del) if deleted else (ast.Store,)
    names: list[str] = []
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and isinstance(node.ctx, contexts):
            names.append(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.extend((alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
    return names


def defined_elsewhere(obj: Any, module_name: str) -> bool:
    """What pytest must not collect from a test module: an object of the sample's process, or a
    function or class the module imported rather than defined."""
    import inspect

    if isinstance(obj, (_ProxyBase, _BoundMethod)):
        return True
    return (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", None) != module_name


#: Conventional names of modules of the image that a test may use without importing them.
_MODULE_ALIASES = {"np": "numpy", "pd": "pandas", "plt": "matplotlib.pyplot", "sp": "scipy", "nx": "networkx"}


def _unbound_modules(tree: ast.Module | None) -> dict[str, str]:
    """Names the test uses as modules (``math.pi``, ``np.allclose``: attribute reads, never a call
    of the name itself) without binding them, that name a standard-library module or a
    conventional alias of one of the image's (``np``): name -> module to import."""
    if tree is None:
        return {}
    as_module, called = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            as_module.add(node.value.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            called.add(node.func.id)
    found = {}
    for name in as_module - called - _bound_names(tree):
        if name in sys.stdlib_module_names:
            found[name] = name
        elif name in _MODULE_ALIASES:
            found[name] = _MODULE_ALIASES[name]
    return found


class _TestNames:
    """What the judge's side of the boundary needs of a test's names (see :meth:`_Boundary.fill`),
    found from its syntax tree. The server finds them before it forks the judge, from the tree it
    parsed anyway: in the judge, every page parsing touched would be a copy-on-write fault."""

    def __init__(self, tree: ast.Module | None) -> None:
        #: Names the test module binds at its top level (empty when it does not parse).
        self.bound = _bound_names(tree) if tree is not None else set()
        #: Names it uses as modules without binding them: name -> module (:func:`_unbound_modules`).
        self.unbound_modules = _unbound_modules(tree)


def star_import_names(exported: list[str], bound: set[str]) -> list[str]:
    """What ``from solution import *`` gives the test: the solution's public names minus those
    that shadow a builtin, a name the test binds itself (``bound``), or a name pytest gives
    meaning to."""
    import builtins

    shadowing = set(dir(builtins)) | bound | _PYTEST_RESERVED
    return [
        name for name in exported
        if name.isidentifier() and not name.startswith("_") and name not in shadowing
        and not name.startswith(("test", "Test", "pytest_"))
    ]


#: What a test does that cannot work across the boundary: such a test is judged in one process
#: (the verdict says so). Each entry: (what the test touches, why).
_IN_PROCESS_MARKERS: tuple[tuple[str, str], ...] = (
    ("mock", "patches objects with unittest.mock"),
    ("patch", "patches objects with unittest.mock"),
    ("seed", "seeds a random generator the solution may use"),
    ("setstate", "sets a random generator's state"),
    ("environ", "sets environment variables the solution may read"),
    ("putenv", "sets environment variables the solution may read"),
    ("setenv", "sets environment variables the solution may read"),
    ("chdir", "changes the working directory"),
    ("argv", "sets sys.argv"),
    ("setrecursionlimit", "changes the interpreter's recursion limit"),
    ("getsource", "inspects the solution's source"),
    ("__code__", "inspects the solution's code objects"),
    ("reload", "reloads modules"),
    ("modules", "edits sys.modules"),
    ("threading", "runs the solution in threads"),
    ("multiprocessing", "runs the solution in processes"),
    ("asyncio", "awaits the solution's coroutines"),
    ("concurrent", "runs the solution in an executor"),
    ("syspath_prepend", "changes sys.path"),
)


def in_process_reason(test: str | ast.Module) -> str | None:
    """Why this (pytest-style) test must run in the sample's process, or None.

    Screens the test's names and attributes: a test that patches, seeds or reconfigures what
    the solution sees from its own process (``mock.patch("solution.f")``, ``random.seed``,
    ``os.environ``) would not reach the solution's process; so would a test subclassing one of
    the solution's classes or using ``monkeypatch`` on the solution.

    ``test``: its source, or its syntax tree where the caller parsed it (one parse a job)."""
    if isinstance(test, str):
        try:
            tree = ast.parse(test)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return None  # pytest reports the collection error in either mode
    else:
        tree = test
    import builtins

    nodes = list(ast.walk(tree))
    touched: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Name):
            touched.add(node.id)
        elif isinstance(node, ast.Attribute):
            touched.add(node.attr)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                touched.update(alias.name.split("."))
            if isinstance(node, ast.ImportFrom) and node.module:
                touched.update(node.module.split("."))
    for marker, why in _IN_PROCESS_MARKERS:
        if marker in touched:
            return f"the test {why} ({marker})"
    if "monkeypatch" in touched:
        for node in nodes:
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("setattr", "delattr") and node.args:
                target = node.args[0]
                if isinstance(target, ast.Constant) and isinstance(target.value, str):
                    if target.value.split(".")[0] not in ("builtins", "sys"):
                        return f"the test monkeypatches {target.value!r}"
                elif not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id in ("builtins", "sys")):
                    if not (isinstance(target, ast.Name) and target.id in ("builtins", "sys")):
                        return "the test monkeypatches an object it may share with the solution"
    defined = _bound_names(tree) | set(dir(builtins))
    for node in nodes:
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                if isinstance(base, ast.Name) and base.id not in defined:
                    return f"the test subclasses {base.id}, a class of the solution"
                root = base
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id == "solution":
                    return "the test subclasses a class of the solution"
    return None


class _SolutionModule(type(sys)):  # type: ignore[misc]  # types.ModuleType, without importing types
    """The judge's ``solution`` module: the sample's exports, as data and handles. Setting an
    attribute sets it in the sample's module too (tests that configure a module constant)."""

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        handle = self.__dict__.get("_gcop_module")
        if handle is not None and not name.startswith("__"):
            setattr(handle, name, value)


class _Boundary:
    """The judge's end of one job's boundary: installs ``solution`` as an import that asks the
    sample's process, and counts what the verdict reports about comparisons."""

    def __init__(
        self, sock_fd: int, workdir: str, test_file: str | None, test_source: str, handle_ops: list[str] | None = None,
        names: _TestNames | None = None,
    ) -> None:
        import socket

        self.peer = _Peer(socket.socket(fileno=sock_fd), judge=True)
        self.peer.allowed_ops = None if handle_ops is None else frozenset(handle_ops)
        self.workdir = workdir
        self.test_file = test_file
        self.test_source = test_source
        self._names = names
        self.tests_by_value = 0
        self.tests_through_handle = 0
        self._at_setup: dict[str, int] = {}

    @property
    def names(self) -> _TestNames:
        if self._names is None:
            self._names = _TestNames(_parse(self.test_source))
        return self._names

    def install(self) -> None:
        sys.meta_path.insert(0, _SolutionFinder(self))

    def _hide_the_test(self) -> None:
        """Before the sample runs its first line: the test file is gone from disk (its lines stay
        in linecache for tracebacks) and the job directory is off the judge's import path, so
        nothing the sample writes there is ever imported by the judge."""
        import linecache

        if self.test_file is not None:
            lines = self.test_source.splitlines(True)
            linecache.cache[self.test_file] = (len(self.test_source), None, lines, self.test_file)
            try:
                os.unlink(self.test_file)
            except OSError:
                pass
        workdir = os.path.realpath(self.workdir)
        sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) != workdir]
        sys.path_importer_cache.pop(self.workdir, None)
        sys.path_importer_cache.pop(workdir, None)

    def import_solution(self) -> tuple[dict[str, Any], Any]:
        """The sample imports its module; returns its exports and a handle to it."""
        _mark("reached the import of solution")
        self._hide_the_test()
        result = self.peer.request("import")
        _mark("solution imported (in the sample)")
        if type(result) is not tuple or len(result) != 2 or type(result[0]) is not dict:
            raise BoundaryError("the sample answered the import with something else")
        exports, module = result
        return {k: v for k, v in exports.items() if type(k) is str}, module

    def fill(self, module: Any) -> None:
        exports, handle = self.import_solution()
        module.__dict__.update(exports)
        for name, judges in self._judges_modules(exports).items():
            if judges is None:
                exports.pop(name, None)
                module.__dict__.pop(name, None)
            else:
                module.__dict__[name] = judges
        module.__dict__["_gcop_module"] = handle
        module.__dict__["__all__"] = star_import_names(list(exports), self.names.bound)

    def _judges_modules(self, exports: dict[str, Any]) -> dict[str, Any | None]:
        """A test that uses ``math.pi`` (or ``np.allclose``) without importing it takes the name
        from ``from solution import *``: the solution's own ``import math`` normally (a module
        crosses by name: the judge imports its own copy), but a solution could export ``class
        math: pi = 0.0``, or anything else, under that name. Every name the test uses as such a
        module (see :func:`_unbound_modules`) is the judge's own import, whatever the solution
        exported under it; a name the test calls (``statistics(values)``) stays the solution's."""
        import importlib

        found: dict[str, Any] = {}
        for name, module in sorted(self.names.unbound_modules.items()):
            if name not in exports or isinstance(exports[name], type(sys)):
                continue  # absent (a NameError, as anywhere), or already the judge's own module
            try:
                found[name] = importlib.import_module(module)
            except Exception:  # noqa: BLE001 - not in the image (so no real module): None, left out
                found[name] = None
        return found

    def _through_handles(self) -> int:
        return self.peer.stats.handle_comparisons + self.peer.stats.handle_data_ops

    def test_started(self, nodeid: str) -> None:
        self._at_setup[nodeid] = self._through_handles()

    def test_finished(self, nodeid: str) -> None:
        start = self._at_setup.pop(nodeid, None)
        if start is None:
            return
        if self._through_handles() > start:
            self.tests_through_handle += 1
        else:
            self.tests_by_value += 1

    def summary(self) -> dict[str, Any]:
        return {
            "mode": "process",
            "tests_by_value": self.tests_by_value,
            "tests_through_handle": self.tests_through_handle,
            "handle_comparisons": self.peer.stats.handle_comparisons,
            "handle_data_ops": self.peer.stats.handle_data_ops,
            # what the job allowed handles: "any", "none", or the operations ("add,iter")
            "handle_ops": "any" if self.peer.allowed_ops is None else ",".join(sorted(self.peer.allowed_ops)) or "none",
            "calls": self.peer.stats.calls,
        }


class _SolutionFinder:
    """``import solution`` in the judge: a module filled from the sample's process."""

    def __init__(self, boundary: _Boundary) -> None:
        self.boundary = boundary

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "solution":
            return None
        import importlib.util

        return importlib.util.spec_from_loader(fullname, self)  # type: ignore[arg-type]  # a loader by protocol

    def create_module(self, spec: Any) -> Any:
        return _SolutionModule(spec.name)

    def exec_module(self, module: Any) -> None:
        self.boundary.fill(module)


def _warm_up_boundary() -> None:
    """Run a few requests across a boundary inside this process (its sample side in a thread),
    so that the code both sides run for every job is warm (specialised bytecode, caches) in the
    processes jobs are forked from, instead of being warmed in every job's own copy.

    The thread is ``_thread``'s, not ``threading``'s: importing ``threading`` registers a handler
    that runs in every forked child, and its first run there copies about 120 pages (0.3 ms of a
    job, in each of its two processes)."""
    import _thread
    import socket
    import time

    _libc()
    _seccomp_program(*_SYSCALLS.get(os.uname().machine, _SYSCALLS["x86_64"]), _processes_to_protect())  # warm, not installed

    class Sample:
        value = [1, (2.5, "x"), {"k": None}]

        def twice(self, x: Any) -> Any:
            return [x, x]

    judge_end, sample_end = socket.socketpair()
    sample = _Peer(sample_end, judge=False)
    served = _thread.allocate_lock()
    served.acquire()
    threads_before = _thread._count()

    def serve() -> None:
        try:
            sample.serve_forever()
        finally:
            served.release()

    _thread.start_new_thread(serve, ())
    try:
        judge = _Peer(judge_end, judge=True)
        obj_hid = sample.codec.handle(Sample())
        fn_hid = sample.codec.handle(lambda a, b: a + b)
        for i in range(30):
            judge.call(fn_hid, (i, 1), {})
            judge.call(obj_hid, ([i, {"a": i}],), {}, method="twice")
            judge.request("getattr", obj_hid, "value")
            judge.op("eq", obj_hid, i)
        try:
            judge.call(fn_hid, (None, 1), {})
        except TypeError:
            pass
    except Exception:  # noqa: BLE001 - warming is an optimisation; a failure costs speed only
        pass
    finally:
        judge_end.close()
        if served.acquire(timeout=5):
            # Gone all the way (its thread state too) before this process forks anything.
            deadline = time.monotonic() + 5
            while _thread._count() > threads_before and time.monotonic() < deadline:
                time.sleep(0.0005)
        sample_end.close()
