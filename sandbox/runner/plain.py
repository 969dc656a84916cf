"""Pytest-style test modules judged without pytest, where pytest could not decide otherwise.

Most of a KodCode judge's time went to pytest's machinery, not to the tests: collection through
its hooks, three reported phases per test with their capture, warning and log catchers, the
session's summary, and the copy-on-write faults all of that costs a process forked from the
shared session. For a test module that uses none of pytest's features (no fixtures, marks,
parametrization, test classes, xunit setup functions, hooks; of pytest itself only ``raises`` and
``approx``, which behave the same outside a session), pytest's outcome for a test is whether
calling it raised. Such a module is judged here: imported as pytest imports it (its directory
first on ``sys.path``, ``importlib.import_module``), its tests collected by pytest's rule (the
module's namespace in definition order, only what the module itself defines, never an object of
the sample's process), each called in turn, and reported in the shape of a pytest session, so
the same verdict rules (:func:`verdicts.judge`) decide it.

:func:`plain_reason` decides from the syntax tree, before the judge is forked, and anything it
does not recognise goes to pytest. The judge checks again at run time: a test object in the
module's namespace that a plain module cannot have (a test class, a generator or decorated
test, a ``__test__`` flag) ends the job as a collection error, never as a pass.

What differs from a pytest session, none of it part of a verdict:

* failure messages and the output tail are written here, not by pytest's reporter;
* warnings are not recorded and logs not caught (with pytest's fixed command line neither
  changes an outcome; a module that names them goes to pytest all the same). Streams are
  captured as under ``--capture=sys``, with pytest's own classes (:class:`_Captured`);
* the stack: under the session, pytest's collection and runtest hooks sit below the module's
  import and each test. The plain judge runs both as deep (:data:`SESSION_DEPTHS`), so a test's
  own recursion, or a deeply nested value decoded from the sample, meets Python's recursion
  limit where it would under pytest.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .judge_side import _names_bound_by, defined_elsewhere
from .testprocess import _mark

if TYPE_CHECKING:
    from .judge_side import _Boundary

#: The only parts of pytest a plain module may use: both work the same outside a session.
PYTEST_OUTSIDE_A_SESSION = frozenset({"raises", "approx"})

#: Names whose mere mention sends a module to pytest: pytest's own conventions (marks, xunit
#: setup, the ``__test__`` flag, hooks), dynamic access to a namespace (what the syntax tree
#: would not show), and what a pytest session sets up around a test (captured streams, recorded
#: warnings, caught logs, its environment variables, its stack).
_SESSION_NAMES = frozenset({
    "pytestmark", "__test__", "setup_module", "teardown_module", "setUpModule", "tearDownModule",
    "setup_function", "teardown_function", "setup_method", "teardown_method", "setup_class",
    "teardown_class", "usefixtures", "fixture", "mark", "parametrize",
    "__dict__", "__import__", "importlib", "modules", "sys_modules",
    "warnings", "warns", "recwarn", "catch_warnings", "filterwarnings", "simplefilter",
    "logging", "getLogger", "caplog",
    "stdin", "stdout", "stderr", "__stdout__", "__stderr__", "__stdin__", "capsys", "capfd",
    "capsysbinary", "capfdbinary", "redirect_stdout", "redirect_stderr",
    "environ", "getenv", "putenv", "unsetenv", "PYTEST_CURRENT_TEST", "PYTEST_VERSION",
    "unittest", "TestCase", "doctest",
    "inspect", "traceback", "_getframe", "currentframe", "getrecursionlimit", "setrecursionlimit",
    "settrace", "setprofile", "gettrace", "getprofile", "excepthook", "unraisablehook",
    "breakpointhook", "faulthandler", "gc", "atexit", "signal", "argv",
    "request", "tmp_path", "tmpdir", "tmp_path_factory", "monkeypatch", "pytestconfig",
})

#: Builtins that reach a namespace the syntax tree does not show; only a call of the builtin
#: itself counts (``re.compile`` is fine, ``compile(...)`` is not).
_DYNAMIC_BUILTINS = frozenset({
    "globals", "locals", "vars", "exec", "eval", "compile", "setattr", "delattr", "input", "breakpoint",
})

#: Prefixes of names a module must not bind at its top level other than by a plain ``def``:
#: pytest would collect them, call them as hooks, or run them around the tests.
_RESERVED_PREFIXES = ("test", "Test", "pytest", "setup", "teardown", "setUp", "tearDown")

#: Module attributes that change what pytest finds by looking names up on the module (it asks for
#: ``__test__``, ``setup_module`` and others with ``getattr``).
_MODULE_HOOKS = frozenset({"__getattr__", "__dir__"})


def plain_reason(tree: ast.Module | None) -> str | None:
    """Why this test module needs a pytest session, or None when it can be judged plainly."""
    if tree is None:
        return "the test does not parse"
    if session_depth() is None:
        return f"the session's stack depth was never measured for Python {sys.version_info[0]}.{sys.version_info[1]}"
    # A ``if __name__ == "__main__":`` block never runs when pytest (or this module) imports the
    # test, so what it names does not count (``pytest.main()`` is common there).
    body = [statement for statement in tree.body if not _is_main_block(statement)]
    for statement in body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)) and statement.name in _MODULE_HOOKS:
            return f"the module defines {statement.name}, which pytest's lookups on it would meet"
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            why = _function_reason(statement)
            if why:
                return why
        elif isinstance(statement, ast.ClassDef):
            if statement.name.startswith("Test"):
                return f"the test class {statement.name}"
        elif not _is_import_of_pytest(statement):
            for name in _names_bound_by(statement, deleted=True):
                if name.startswith(_RESERVED_PREFIXES) or name in _MODULE_HOOKS:
                    return f"{name} is bound at the top level other than by a def"
    # A name's parent matters only where it is a call or an attribute (see _node_reason).
    parents: dict[int, ast.AST] = {}
    nodes = [node for statement in body for node in ast.walk(statement)]
    for node in nodes:
        if isinstance(node, (ast.Call, ast.Attribute)):
            for child in ast.iter_child_nodes(node):
                parents[id(child)] = node
    for node in nodes:
        why = _node_reason(node, parents)
        if why:
            return why
    return None


def _is_import_of_pytest(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Import) and all(
        alias.name == "pytest" and alias.asname in (None, "pytest") for alias in statement.names
    )


def _is_main_block(statement: ast.stmt) -> bool:
    test = statement.test if isinstance(statement, ast.If) else None
    return (
        isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
        and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq) and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__"
    )


def _function_reason(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    if function.decorator_list:
        return f"{function.name} is decorated"
    names_itself = generator = False  # one walk of the function for both
    for node in ast.walk(function):
        if isinstance(node, ast.Name):
            names_itself = names_itself or node.id == function.name
        elif isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await)):
            generator = True
    if names_itself:
        return f"{function.name} calls itself"
    if not function.name.startswith(_RESERVED_PREFIXES):
        return None
    if not function.name.startswith("test"):
        return f"{function.name} is a name pytest gives meaning to"
    if isinstance(function, ast.AsyncFunctionDef):
        return f"{function.name} is async"
    arguments = function.args
    if arguments.posonlyargs or arguments.args or arguments.vararg or arguments.kwonlyargs or arguments.kwarg:
        return f"{function.name} takes arguments (fixtures)"
    if generator:
        return f"{function.name} is a generator"
    return None


def _node_reason(node: ast.AST, parents: dict[int, ast.AST]) -> str | None:
    if isinstance(node, ast.Global):
        # a function that binds module names at run time: what it binds, the tree cannot say
        return f"the test binds module names at run time (global {', '.join(node.names)})"
    if isinstance(node, ast.Name):
        if node.id in _SESSION_NAMES:
            return f"the test uses {node.id}"
        if node.id in _DYNAMIC_BUILTINS and isinstance(parents.get(id(node)), ast.Call):
            return f"the test calls {node.id}"
        if node.id == "pytest":
            parent = parents.get(id(node))
            if not (isinstance(parent, ast.Attribute) and parent.attr in PYTEST_OUTSIDE_A_SESSION):
                return "the test uses pytest beyond raises and approx"
    elif isinstance(node, ast.Attribute):
        if node.attr in _SESSION_NAMES:
            return f"the test uses {node.attr}"
    elif isinstance(node, ast.Import):
        for alias in node.names:
            root = alias.name.split(".")[0]
            if root in _SESSION_NAMES or root == "_pytest":
                return f"the test imports {alias.name}"
            if root == "pytest" and (alias.name != "pytest" or alias.asname not in (None, "pytest")):
                return f"the test imports {alias.name} as {alias.asname or alias.name}: only `import pytest` is followed"
    elif isinstance(node, ast.ImportFrom):
        root = (node.module or "").split(".")[0]
        if root in _SESSION_NAMES or root == "_pytest":
            return f"the test imports from {node.module}"
        if root == "pytest" and any(alias.name not in PYTEST_OUTSIDE_A_SESSION for alias in node.names):
            return "the test imports from pytest beyond raises and approx"
        for alias in node.names:
            if alias.name in _SESSION_NAMES or (alias.asname or "") in _SESSION_NAMES:
                return f"the test imports {alias.name}"
    return None


# --------------------------------------------------------------------------- the judge's run

#: What a module's namespace holds that pytest never looks at (its ``IGNORED_ATTRIBUTES``).
_IGNORED = frozenset(dir(type(sys)("empty"))) | {"__builtins__", "__file__", "__cached__"}

MODULE = "test_solution"

#: How much deeper, in units of Python's recursion limit, the shared pytest session runs a test
#: module's import (its collection) and each test (its runtest hooks) than this module would;
#: measured for pytest 9.2 and this runner, per Python version (the frames under pytest's hooks
#: differ between versions). ``tests/sandbox/test_plain.py`` measures the headroom both ways, in
#: the image and in a local run, and fails if they drift apart. A Python not measured here judges
#: every module in a session (:func:`plain_reason`).
SESSION_DEPTHS: dict[tuple[int, int], dict[str, int]] = {
    (3, 11): {"import": 14, "call": 15},  # a local run on a 3.11 host
    (3, 13): {"import": 12, "call": 12},  # the image's Python
}


def session_depth() -> dict[str, int] | None:
    """This Python's :data:`SESSION_DEPTHS`, or None where it was never measured."""
    return SESSION_DEPTHS.get(sys.version_info[:2])


def _deeper(units: int, function: Callable[[], Any]) -> Any:
    """``function()``, called ``units`` frames deeper than a direct call would be (units >= 1)."""
    return function() if units <= 1 else _deeper(units - 1, function)


def run_plain(boundary: _Boundary, workdir: str) -> dict[str, Any]:
    """Import ``test_solution`` from ``workdir`` and run its tests; a pytest-shaped report."""
    import functools
    import importlib

    depth = session_depth()
    if depth is None:  # plain_reason sends such a module to a session: never reached
        raise RuntimeError(f"no session depth measured for Python {sys.version_info[:2]}")
    report: dict[str, Any] = {
        "return": 2, "finished": False, "exitstatus": None,
        "collected": [], "reports": [], "collect_errors": [],
    }

    def ended(exitstatus: int) -> dict[str, Any]:
        report.update(finished=True, exitstatus=exitstatus, **{"return": exitstatus})
        return report

    # As pytest's default import mode ("prepend") imports a test module.
    if sys.path[:1] != [workdir]:
        sys.path.insert(0, workdir)
    with _Captured("collect") as captured:
        try:
            _deeper(depth["import"], functools.partial(importlib.import_module, MODULE))
            module = sys.modules[MODULE]
        except BaseException as exc:  # noqa: BLE001 - pytest: any failure to import is a collection error
            captured.failed(exc)
            report["collect_errors"] = [f"{MODULE}.py: {_exception_line(exc)}"[:300]]
    if report["collect_errors"]:
        return ended(2)
    tests, problem = collect(module)
    _mark("collected")
    if problem is not None:
        report["collect_errors"] = [f"{MODULE}.py: {problem}"]
        return ended(2)
    report["collected"] = [f"{MODULE}.py::{name}" for name, _ in tests]
    if not tests:
        return ended(5)  # pytest's "no tests collected"
    counts = {"passed": 0, "failed": 0, "skipped": 0, "xfailed": 0}
    interrupted = False
    for name, function in tests:
        nodeid = f"{MODULE}.py::{name}"
        boundary.test_started(nodeid)
        os.environ["PYTEST_CURRENT_TEST"] = f"{nodeid} (setup)"
        report["reports"].append((nodeid, "setup", "passed", ""))
        os.environ["PYTEST_CURRENT_TEST"] = f"{nodeid} (call)"
        with _Captured(f"{name} (call)") as captured:
            outcome, message = _call(function, captured, depth["call"])
        if outcome == "interrupted":
            interrupted = True
            break  # as pytest: the session ends, this test has no call report
        counts[outcome] += 1
        report["reports"].append((nodeid, "call", outcome, message))
        os.environ["PYTEST_CURRENT_TEST"] = f"{nodeid} (teardown)"
        report["reports"].append((nodeid, "teardown", "passed", ""))
        os.environ.pop("PYTEST_CURRENT_TEST", None)
        boundary.test_finished(nodeid)
    summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n)
    print(f"{summary or 'no tests run'}{' (interrupted)' if interrupted else ''} (judged without a pytest session)")
    if interrupted:
        return ended(2)
    return ended(1 if counts["failed"] else 0)


class _Captured:
    """What the shared session's ``--capture=sys`` puts around collection and each test, with
    pytest's own class: ``sys.stdout``/``stderr`` in memory. ``sys.stdin`` stays the job's
    ``/dev/null``, as it does in a judge forked from the session (the sample's ``input()``,
    served by the judge, meets its end: ``EOFError``). What was captured reaches the output only
    for a failure, as in pytest's report."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failure: BaseException | None = None

    def __enter__(self) -> _Captured:
        from _pytest.capture import CaptureIO

        self.saved = sys.stdout, sys.stderr
        self.out, self.err = CaptureIO(), CaptureIO()
        sys.stdout, sys.stderr = self.out, self.err
        return self

    def failed(self, exc: BaseException) -> None:
        self.failure = exc

    def __exit__(self, *exc_info: object) -> None:
        sys.stdout, sys.stderr = self.saved
        if self.failure is None:
            return
        import traceback

        print(f"___ {self.what} ___", flush=True)
        tb = self.failure.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == _deeper.__code__.co_filename:
            tb = tb.tb_next  # this module's frames (the padding) say nothing about the failure
        traceback.print_exception(type(self.failure), self.failure, tb, file=sys.stdout)
        for stream, text in (("stdout", self.out.getvalue()), ("stderr", self.err.getvalue())):
            if text:
                print(f"--- captured {stream} ---\n{text}", end="" if text.endswith("\n") else "\n")


def collect(module: Any) -> tuple[list[tuple[str, Any]], str | None]:
    """The module's tests by pytest's rule, in definition order; or why they cannot be run here."""
    import inspect

    tests: list[tuple[str, Any]] = []
    if not _test_flag(module, default=True):
        return [], None  # as pytest: a module whose __test__ is false has no tests
    seen: set[str] = set()
    for name, obj in list(module.__dict__.items()):
        if name in _IGNORED or name in seen:
            continue
        seen.add(name)
        if defined_elsewhere(obj, module.__name__):
            continue  # the sample's, or imported: pytest leaves it too (_local_definitions_only)
        flagged = _test_flag(obj) is True
        if inspect.isclass(obj):
            if name.startswith("Test") or flagged or _is_unittest_case(obj):
                return [], f"{name} is a test class, which needs a pytest session"
            continue
        if not (name.startswith("test") or flagged) or not callable(obj):
            continue
        if not inspect.isfunction(obj):
            return [], f"{name} is a test that is not a plain function"
        if (inspect.isgeneratorfunction(obj) or inspect.iscoroutinefunction(obj) or inspect.isasyncgenfunction(obj)
                or hasattr(obj, "__wrapped__") or hasattr(obj, "pytestmark") or "__test__" in obj.__dict__
                or hasattr(obj, "_fixture_function_marker") or hasattr(obj, "_pytestfixturefunction")):
            return [], f"{name} is not a plain test function"
        tests.append((name, obj))
    return tests, None


def _test_flag(obj: Any, default: bool = False) -> Any:
    try:
        return getattr(obj, "__test__", default)
    except Exception:  # noqa: BLE001 - pytest's safe_getattr: an odd object is no test
        return False


def _is_unittest_case(cls: type) -> bool:
    unittest = sys.modules.get("unittest")
    return unittest is not None and issubclass(cls, unittest.TestCase)


def _call(function: Any, captured: _Captured, depth: int) -> tuple[str, str]:
    """Call one test as pytest's ``pytest_pyfunc_call`` does; its outcome and message."""
    import pytest

    try:
        result = _deeper(depth, function)
        if result is not None and (hasattr(result, "__await__") or hasattr(result, "__aiter__")):
            return "failed", "async def functions are not natively supported"  # pytest's async_fail
        return "passed", ""
    except (KeyboardInterrupt, pytest.exit.Exception):
        return "interrupted", ""
    except pytest.skip.Exception as exc:
        return "skipped", str(exc)[:300]
    except pytest.xfail.Exception as exc:
        return "xfailed", str(exc)[:300]
    except BaseException as exc:  # noqa: BLE001 - SystemExit in a test fails it, as under pytest
        captured.failed(exc)
        return "failed", _failure_message(exc)


def _failure_message(exc: BaseException) -> str:
    """As :func:`testprocess._short_message` reads pytest's report: the failing statement for a
    bare ``AssertionError``, else the exception's first line."""
    if type(exc) is AssertionError and not exc.args:
        import linecache

        statement = ""
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename.endswith(f"{MODULE}.py"):
                statement = linecache.getline(tb.tb_frame.f_code.co_filename, tb.tb_lineno).strip()
            tb = tb.tb_next
        if statement:
            return f"{statement} failed"[:300]
    return _exception_line(exc)[:300]


def _exception_line(exc: BaseException) -> str:
    import traceback

    lines = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
