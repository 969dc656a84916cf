"""Forgeries: completions that earn ``passed`` without solving the problem, and need no knowledge
of the hidden tests. Each passed on the runner of commit de518f5, where the sample's module and
the tests shared one process (run this file there to see them pass); each must now be judged
not passed, because the sample's code runs in its own process and only data or handles cross.

Also here: the generic versions over every problem of both benchmarks, contamination pairs (an
attack job, then a correct job in the same sandbox), attacks on the judge through the boundary
(each ends ``failed``, and the pool serves the next job), and what tests rely on that must keep
working across the boundary.
"""

from __future__ import annotations

import ast
import dataclasses

import pytest

from gcop.sandbox.protocol import Status, TestJob
from tests.conftest import SHARED_DATA
from tests.sandbox.test_sandbox_attacks import (  # noqa: F401 - `kind` is a fixture
    ADD_TEST,
    FAILED,
    FAILED_OR_TIMEOUT,
    PASSED,
    RIGHT_ADD,
    WRONG_ADD,
    Case,
    humaneval_job,
    judge_batch,
    kind,
    pytest_job,
    run_jobs,
    skip_on_local,
    src,
)

GREET_TEST = "def test_greet():\n    assert greet('ada') == 'hello ada'\n"
ITEMS_TEST = "def test_items():\n    assert items(3) == [0, 1, 2]\n    assert len(items(2)) == 2\n"
SORT_TEST = "def test_sorted():\n    assert sorted(items(3)) == [0, 1, 2]\n"
ABS_TEST = "def test_close():\n    assert abs(half() - 0.5) < 1e-9\n"

ALWAYS_EQUAL = src(
    """
    class _AlwaysEqual:
        def __eq__(self, other):
            return True
        def __ne__(self, other):
            return False
        __hash__ = object.__hash__
    """
)

#: Answers looked up in the test file in the job directory, by the call's arguments.
READ_TEST_FILE = src(
    """
    import ast
    _answers = {}
    for _node in ast.walk(ast.parse(open("test_solution.py").read())):
        if isinstance(_node, ast.Compare) and isinstance(_node.left, ast.Call):
            _key = tuple(ast.literal_eval(a) for a in _node.left.args)
            _answers[_key] = ast.literal_eval(_node.comparators[0])
    def add(*args):
        return _answers.get(args)
    """
)

#: name -> (style, solution, test). Every one passed on de518f5.
FORGERIES: dict[str, tuple[str, str, str]] = {
    # --- results that equal everything
    "always-equal-object": ("pytest", ALWAYS_EQUAL + "def add(a, b):\n    return _AlwaysEqual()\n", ADD_TEST),
    "he-always-equal-object": ("humaneval", ALWAYS_EQUAL + "def add(a, b):\n    return _AlwaysEqual()\n", ""),
    "int-subclass-eq": ("pytest", "class I(int):\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return I(0)\n", ADD_TEST),
    "he-int-subclass-eq": ("humaneval", "class I(int):\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return I(0)\n", ""),
    "str-subclass-eq": ("pytest", "class S(str):\n    def __eq__(self, o):\n        return True\ndef greet(n):\n    return S('')\n", GREET_TEST),
    "list-subclass-eq": (
        "pytest",
        "class L(list):\n    def __eq__(self, o):\n        return True\n    def __len__(self):\n        return 2\n"
        "def items(n):\n    return L()\n",
        "def test_items():\n    assert items(3) == [0, 1, 2]\n",
    ),
    "float-subclass-eq": ("pytest", "class F(float):\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return F(0)\n", ADD_TEST),
    "tuple-subclass-eq": (
        "pytest",
        "class T(tuple):\n    def __eq__(self, o):\n        return True\ndef pair():\n    return T()\n",
        "def test_pair():\n    assert pair() == (1, 2)\n",
    ),
    "dict-subclass-eq": (
        "pytest",
        "class D(dict):\n    def __eq__(self, o):\n        return True\ndef counts(s):\n    return D()\n",
        "def test_counts():\n    assert counts('aab') == {'a': 2, 'b': 1}\n",
    ),
    "equal-unless-bare-object": (
        "pytest",
        "class E:\n    def __eq__(self, o):\n        return type(o) is not object\n    def __ne__(self, o):\n        return not self == o\n"
        "def add(a, b):\n    return E()\n",
        ADD_TEST,
    ),
    "unittest-mock-any": ("pytest", "from unittest.mock import ANY\ndef add(a, b):\n    return ANY\n", ADD_TEST),
    "numpy-subclass-eq": (
        "pytest",
        "import numpy as np\nclass A(np.ndarray):\n    def __eq__(self, o):\n        return True\n"
        "def add(a, b):\n    return np.zeros(1).view(A)\n",
        ADD_TEST,
    ),
    # --- builtins the star import used to carry into the test module
    "shadow-len": ("pytest", "def items(n):\n    return []\ndef len(x):\n    return 2\n", "def test_items():\n    assert len(items(2)) == 2\n"),
    "shadow-sorted": ("pytest", "def items(n):\n    return []\ndef sorted(x):\n    return [0, 1, 2]\n", SORT_TEST),
    "shadow-abs": ("pytest", "def half():\n    return 7.0\ndef abs(x):\n    return 0\n", ABS_TEST),
    "shadow-tuple": (
        "pytest",
        "def pair():\n    return None\ndef tuple(x):\n    return (1, 2)\n",
        "def test_pair():\n    assert tuple(pair()) == (1, 2)\n",
    ),
    "shadow-isinstance-and-all": (
        "pytest",
        "def items(n):\n    return None\ndef isinstance(*a):\n    return True\ndef all(x):\n    return True\n",
        "def test_items():\n    r = items(3)\n    assert isinstance(r, list)\n    assert all(x >= 0 for x in [-1])\n",
    ),
    # --- patching the builtins module itself (the judge's, when they shared a process)
    "patch-builtins-len": (
        "pytest",
        "import builtins\n_len, _mine = builtins.len, []\nbuiltins.len = lambda x: 2 if x is _mine else _len(x)\n"
        "def items(n):\n    return _mine\n",
        "def test_items():\n    assert len(items(2)) == 2\n",
    ),
    "he-patch-builtins-abs": (
        "humaneval",
        "import builtins\nbuiltins.abs = lambda x: 0\ndef add(a, b):\n    return 0.25\n",
        "def check(candidate):\n    assert abs(candidate(0.25, 0.25) - 0.5) < 1e-9\n",
    ),
    "he-patch-builtins-compile": (
        "humaneval",
        src(
            """
            import builtins
            _compile = builtins.compile
            def _no_asserts(source, filename, mode, flags=0, dont_inherit=False, optimize=-1, **kw):
                return _compile(source, filename, mode, flags, dont_inherit, 1)
            builtins.compile = _no_asserts
            def add(a, b):
                return 0
            """
        ),
        "",
    ),
    "he-patch-builtins-exec": (
        "humaneval",
        src(
            """
            import builtins
            _exec = builtins.exec
            def _exec_then_disarm(code, namespace=None, *rest):
                _exec(code, namespace, *rest)
                if isinstance(namespace, dict) and "check" in namespace:
                    namespace["check"] = lambda candidate: None
            builtins.exec = _exec_then_disarm
            def add(a, b):
                return 0
            """
        ),
        "",
    ),
    # --- pytest's machinery, patched from the solution
    "function-runtest-noop": ("pytest", WRONG_ADD + "import _pytest.python\n_pytest.python.Function.runtest = lambda self: None\n", ADD_TEST),
    "callinfo-swallows-assertions": (
        "pytest",
        WRONG_ADD
        + src(
            """
            import _pytest.runner
            _from_call = _pytest.runner.CallInfo.from_call.__func__
            def _swallowing(cls, func, when, reraise=None):
                def safe():
                    try:
                        return func()
                    except AssertionError:
                        return None
                return _from_call(cls, safe, when, reraise)
            _pytest.runner.CallInfo.from_call = classmethod(_swallowing)
            """
        ),
        ADD_TEST,
    ),
    # --- rewriting the tests' code before they run
    "thread-rewrites-test-code": (
        "pytest",
        WRONG_ADD
        + src(
            """
            import sys, threading
            sys.setswitchinterval(1e-6)  # let the thread run between the main thread's steps
            def _disarm():
                while True:
                    module = sys.modules.get("test_solution")
                    test = getattr(module, "test_add", None)
                    if test is not None and hasattr(test, "__code__"):
                        test.__code__ = (lambda: None).__code__
                        return
            threading.Thread(target=_disarm, daemon=True).start()
            """
        ),
        ADD_TEST,
    ),
    "profile-hook-rewrites-tests": (
        "pytest",
        WRONG_ADD
        + src(
            """
            import sys
            def _profile(frame, event, arg):
                code = frame.f_code
                if event == "return" and code.co_name == "<module>" and code.co_filename.endswith("test_solution.py"):
                    for name, value in list(frame.f_globals.items()):
                        if name.startswith("test") and hasattr(value, "__code__"):
                            value.__code__ = (lambda: None).__code__
                    sys.setprofile(None)
            sys.setprofile(_profile)
            """
        ),
        ADD_TEST,
    ),
    "he-profile-hook-rewrites-check": (
        "humaneval",
        WRONG_ADD
        + src(
            """
            import sys
            def _profile(frame, event, arg):
                if event == "c_return" and getattr(arg, "__name__", "") == "exec":
                    namespace = frame.f_locals.get("namespace")
                    if isinstance(namespace, dict) and callable(namespace.get("check")):
                        namespace["check"].__code__ = (lambda candidate: None).__code__
                        sys.setprofile(None)
            sys.setprofile(_profile)
            """
        ),
        "",
    ),
    "gc-rewrites-the-recorder": (
        "pytest",
        WRONG_ADD
        + src(
            """
            import gc, os
            gc.unfreeze()
            for _o in gc.get_objects():
                if type(_o).__name__ == "_Recorder":
                    class _Passing(list):
                        def append(self, item):
                            super().append((item[0], item[1], "passed", ""))
                    _o.reports = _Passing()
                    _o.__class__ = type("_R", (type(_o),), {"exitstatus": property(lambda s: 0, lambda s, v: None)})
            _exit = os._exit
            os._exit = lambda code: _exit(0)
            """
        ),
        ADD_TEST,
    ),
    # --- the runner's own report channel
    "patch-json-dumps-and-os-exit": (
        "pytest",
        WRONG_ADD
        + src(
            """
            import json, os
            _dumps, _exit = json.dumps, os._exit
            def dumps(obj, *args, **kwargs):
                if isinstance(obj, dict) and "nonce" in obj:
                    obj["reports"] = [[r[0], r[1], "passed", ""] for r in obj["reports"]]
                    obj["exitstatus"] = 0
                return _dumps(obj, *args, **kwargs)
            json.dumps = dumps
            os._exit = lambda code: _exit(0)
            """
        ),
        ADD_TEST,
    ),
    "gc-unfreeze-finds-the-report-pipe": (
        "pytest",
        WRONG_ADD
        + src(
            """
            import gc, json, os
            gc.unfreeze()
            for _obj in gc.get_objects():
                if type(_obj).__name__ == "_PytestForkServer" and getattr(_obj, "_job", None):
                    _fd, _nonce = _obj._job
                    _id = "test_solution.py::test_add"
                    _report = {"finished": True, "exitstatus": 0, "collected": [_id], "collect_errors": [],
                               "reports": [[_id, w, "passed", ""] for w in ("setup", "call", "teardown")],
                               "nonce": _nonce}
                    os.write(_fd, json.dumps(_report).encode())
                    os._exit(0)
            """
        ),
        ADD_TEST,
    ),
    # --- reading the expected values
    "read-test-file": (
        "pytest",
        READ_TEST_FILE,
        ADD_TEST,
    ),
    "he-read-test-file": (
        "humaneval",
        READ_TEST_FILE,
        "",
    ),
    "read-caller-code-constants": (
        "pytest",
        src(
            """
            import sys
            _frame = sys._getframe(1)
            while _frame is not None and not _frame.f_code.co_filename.endswith("test_solution.py"):
                _frame = _frame.f_back
            _consts = [c for c in _frame.f_code.co_consts if hasattr(c, "co_consts")]
            _values = [v for code in _consts for v in code.co_consts if isinstance(v, int)]
            def add(a, b):
                return _values[-1]
            """
        ),
        ADD_TEST,
    ),
    # --- HumanEval prompt helpers the check uses
    "he-redefine-poly": ("humaneval:HumanEval/32", "def poly(xs, x):\n    return 0\n\ndef find_zero(xs):\n    return 0.0\n", ""),
    "he-redefine-encode-cyclic": (
        "humaneval:HumanEval/38",
        "def encode_cyclic(s):\n    return s\n\ndef decode_cyclic(s):\n    return s\n",
        "",
    ),
    # --- the interpreter's own switches
    "optimize-flag-strips-asserts": (
        "humaneval",
        src(
            """
            import ctypes
            # compile() with optimize=-1 reads the interpreter's optimization level: set it to 1
            _flag = ctypes.c_int.in_dll(ctypes.pythonapi, "Py_OptimizeFlag")
            _flag.value = 1
            import builtins
            _compile = builtins.compile
            builtins.compile = lambda s, f, m, flags=0, dont_inherit=False, optimize=-1: _compile(s, f, m, flags, dont_inherit, max(optimize, _flag.value))
            def add(a, b):
                return 0
            """
        ),
        "",
    ),
    "patch-testreport-init": (
        "pytest",
        WRONG_ADD
        + src(
            """
            from _pytest.reports import TestReport
            _init = TestReport.__init__
            def __init__(self, *args, **kwargs):
                _init(self, *args, **kwargs)
                if self.outcome == "failed":
                    self.outcome, self.longrepr = "passed", None
            TestReport.__init__ = __init__
            """
        ),
        ADD_TEST,
    ),
}


def _forgery_job(name: str, style: str, solution: str, test: str) -> TestJob:
    if style.startswith("humaneval:"):
        from gcop.evals.humaneval.spec import humaneval_job as real_humaneval_job
        from gcop.evals.humaneval.spec import load_humaneval

        wanted = style.split(":", 1)[1]
        problem = next(p for p in load_humaneval(SHARED_DATA if SHARED_DATA.is_dir() else None) if p.task_id == wanted)
        job = real_humaneval_job(problem, solution, timeout=10)
        return dataclasses.replace(job, id=name)
    if style == "humaneval":
        return humaneval_job(solution, test, id=name) if test else humaneval_job(solution, id=name)
    return pytest_job(solution, test, id=name)


def test_there_are_at_least_forty_forgeries():
    assert len(FORGERIES) + len(_IN_PROCESS) >= 40


def test_every_forgery_is_judged_not_passed(kind):
    """Each forgery, followed by a correct control job in the same sandbox."""
    cases = [Case(_forgery_job(name, *spec), FAILED_OR_TIMEOUT) for name, spec in FORGERIES.items()]
    judge_batch(kind, cases)


from tests.sandbox.test_sandbox_attacks import IN_PROCESS_FORGERIES as _IN_PROCESS  # noqa: E402

# --------------------------------------------------------------------------- the generic forgeries


GENERIC_ANYTHING = src(
    """
    class _Anything:
        def __eq__(self, other):
            return True
        def __ne__(self, other):
            return False
        __lt__ = __le__ = __gt__ = __ge__ = __eq__
        def __hash__(self):
            return 0
        def __call__(self, *args, **kwargs):
            return self
        def __getattr__(self, name):
            return self
        def __bool__(self):
            return True
        def __iter__(self):
            return iter([])
        def __len__(self):
            return 0
        def __contains__(self, item):
            return True
        def __getitem__(self, key):
            return self
    """
)

GENERIC_READ_TESTS = src(
    """
    import ast as _ast
    _answers = {}
    try:
        _tree = _ast.parse(open("test_solution.py").read())
    except OSError:
        _tree = _ast.parse("")
    for _node in _ast.walk(_tree):
        if isinstance(_node, _ast.Compare) and isinstance(_node.left, _ast.Call) and isinstance(_node.left.func, _ast.Name):
            try:
                _key = (_node.left.func.id, repr(tuple(_ast.literal_eval(a) for a in _node.left.args)))
                _answers[_key] = _ast.literal_eval(_node.comparators[0])
            except Exception:
                pass
    def _answer(name):
        def lookup(*args, **kwargs):
            return _answers.get((name, repr(args)), _Anything())
        return lookup
    """
)

GENERIC_RUNTEST = "import _pytest.python\n_pytest.python.Function.runtest = lambda self: None\n"
GENERIC_COMPILE = src(
    """
    import builtins
    _compile = builtins.compile
    builtins.compile = lambda s, f, m, flags=0, dont_inherit=False, optimize=-1: _compile(s, f, m, flags, dont_inherit, 1)
    """
)


def _kodcode_names(problem) -> list[str]:
    names = {info.get("function_name") for info in problem.test_info if info.get("function_name")}
    try:
        tree = ast.parse(problem.test)
    except SyntaxError:
        tree = ast.parse("")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "solution":
            names.update(alias.name for alias in node.names if alias.name != "*")
    return sorted(n for n in names if n and n.isidentifier())


def _generic_jobs(attack: str) -> list[TestJob]:
    from gcop.evals.humaneval.spec import humaneval_job as real_humaneval_job
    from gcop.evals.humaneval.spec import load_humaneval
    from gcop.evals.kodcode.spec import kodcode_job, load_kodcode

    jobs = []
    for problem in load_humaneval(SHARED_DATA if SHARED_DATA.is_dir() else None):
        if attack == "anything":
            body = GENERIC_ANYTHING + f"def {problem.entry_point}(*args, **kwargs):\n    return _Anything()\n"
        elif attack == "read-tests":
            body = GENERIC_ANYTHING + GENERIC_READ_TESTS + (
                f"def {problem.entry_point}(*args, **kwargs):\n    return _answer('candidate')(*args, **kwargs)\n"
            )
        elif attack == "compile":
            body = GENERIC_COMPILE + f"def {problem.entry_point}(*args, **kwargs):\n    return None\n"
        else:
            continue
        job = real_humaneval_job(problem, "```python\n" + body + "```", timeout=10)
        jobs.append(dataclasses.replace(job, id=f"he-{attack}-{problem.task_id}"))
    for problem in load_kodcode(None, SHARED_DATA):
        names = _kodcode_names(problem)
        if attack == "anything":
            body = GENERIC_ANYTHING + "".join(f"{n} = _Anything()\n" for n in names)
        elif attack == "read-tests":
            body = GENERIC_ANYTHING + GENERIC_READ_TESTS + "".join(f"{n} = _answer({n!r})\n" for n in names)
        elif attack == "runtest":
            body = GENERIC_RUNTEST + "".join(f"def {n}(*a, **k):\n    return None\n" for n in names)
        else:
            continue
        job = kodcode_job(problem, body, timeout=10)
        jobs.append(dataclasses.replace(job, id=f"kc-{attack}-{problem.id}"))
    return jobs


@pytest.mark.slow
@pytest.mark.parametrize("attack", ["anything", "read-tests", "runtest", "compile"])
def test_generic_forgeries_pass_no_problem(kind, attack):
    """One completion pattern applied to every problem of HumanEval (164) and the KodCode sample
    (152): an entry point returning an object that equals everything, answers read from the test
    file, pytest's ``Function.runtest`` patched away, ``builtins.compile`` stripping the check's
    asserts. On de518f5 these passed 157+118, 143+105, 147 and 164 problems."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"no shared data at {SHARED_DATA}")
    jobs = _generic_jobs(attack)
    verdicts = run_jobs(kind, jobs, workers=2)
    passed = sorted(job.id for job, verdict in zip(jobs, verdicts, strict=False) if verdict.status is Status.PASSED)
    assert not passed, f"{len(passed)} of {len(jobs)} problems passed: {passed[:10]}"
    # and the sandbox still judges (not an error): these are the sample's failures
    errors = [job.id for job, verdict in zip(jobs, verdicts, strict=False) if verdict.status is Status.ERROR]
    assert not errors, errors[:5]


# --------------------------------------------------------------------------- contamination pairs


SHM_KEY = 0x6C0D


def test_sysv_shared_memory_does_not_outlive_its_job(kind):
    skip_on_local(kind, "local samples get their own IPC namespace where the kernel allows it, else share the host's")
    make = src(
        """
        import ctypes
        _libc = ctypes.CDLL(None, use_errno=True)
        _id = _libc.shmget(@KEY@, 8 * 1024 * 1024, 0o1666)  # IPC_CREAT | 0666
        assert _id >= 0, ctypes.get_errno()
        def add(a, b):
            return a + b
        """,
        KEY=SHM_KEY,
    )
    probe = src(
        """
        import ctypes
        def add(a, b):
            return a + b
        def segment_exists():
            return ctypes.CDLL(None).shmget(@KEY@, 0, 0) >= 0
        """,
        KEY=SHM_KEY,
    )
    test = ADD_TEST + "\ndef test_no_segment():\n    assert not segment_exists()\n"
    judge_batch(kind, [Case(pytest_job(make, id="make-shm"), PASSED), Case(pytest_job(probe, test, id="probe-shm"), PASSED)], controls=False)


def test_an_undeletable_directory_does_not_outlive_its_job(kind):
    """A mode-000 directory holding a big file, in every writable place: the next job, which
    writes a big file there itself, still passes."""
    skip_on_local(kind, "locally only the job's own directory is cleaned; /dev/shm and /tmp are the host's")
    fill = src(
        """
        import os
        for root in ("/dev/shm", "/tmp", "."):
            d = os.path.join(root, "locked")
            os.makedirs(os.path.join(d, "inner"), exist_ok=True)
            try:
                with open(os.path.join(d, "inner", "blob"), "wb") as f:
                    f.write(b"x" * (12 * 1024 * 1024))
            except OSError:
                pass
            os.chmod(os.path.join(d, "inner"), 0)
            os.chmod(d, 0)
        def add(a, b):
            return a + b
        """
    )
    use = src(
        """
        import os
        def add(a, b):
            for root in ("/dev/shm", "/tmp", "."):
                with open(os.path.join(root, "mine"), "wb") as f:
                    f.write(b"y" * (12 * 1024 * 1024))
                os.unlink(os.path.join(root, "mine"))
            return a + b
        """
    )
    judge_batch(kind, [Case(pytest_job(fill, id="lock-dirs"), PASSED), Case(pytest_job(use, id="use-space"), PASSED)], controls=False)


# --------------------------------------------------------------------------- attacks on the judge


def _to_every_channel(payload: str) -> str:
    """Solution source that writes ``payload`` (a bytes expression) to every pipe and socket it
    holds, then waits: on de518f5 that reached the report pipe, now the boundary's socket."""
    return src(
        """
        import os, time
        _payload = @PAYLOAD@
        for _name in os.listdir("/proc/self/fd"):
            try:
                _target = os.readlink(f"/proc/self/fd/{_name}")
            except OSError:
                continue
            if _target.startswith(("pipe:", "socket:")):
                try:
                    os.write(int(_name), eval(_payload))
                except OSError:
                    pass
        def add(a, b):
            return a + b
        """,
        PAYLOAD=payload,
    )


JUDGE_ATTACKS = {
    "json-array": "(7).to_bytes(4, 'big') + b'[1,2,3]'",
    "json-not-a-list": "(9).to_bytes(4, 'big') + b'{\"a\": 1}'",
    "deep-nesting": "(200000).to_bytes(4, 'big') + b'[' * 100000 + b']' * 100000",
    "length-over-the-cap": "(2**31).to_bytes(4, 'big') + b'x' * 1024",
    "garbage": "b'\\xff' * 4096",
    "forged-result": "(30).to_bytes(4, 'big') + b'[\"r\", [\"N\", \"|O\", [1], \"\"], []]'",
    "unknown-tag": "(18).to_bytes(4, 'big') + b'[\"r\", [\"Z\", 1], []]'",
}


def test_attacks_on_the_judge_end_failed_and_the_pool_serves_on(kind):
    cases = [Case(pytest_job(_to_every_channel(payload), id=name), FAILED_OR_TIMEOUT) for name, payload in JUDGE_ATTACKS.items()]
    cases.append(Case(humaneval_job(_to_every_channel(JUDGE_ATTACKS["deep-nesting"]), id="he-deep-nesting"), FAILED_OR_TIMEOUT))
    verdicts = judge_batch(kind, cases)
    for name in JUDGE_ATTACKS:
        assert verdicts[name].status is not Status.ERROR


def test_a_flood_from_the_sample_is_capped(kind):
    flood = src(
        """
        import sys
        def add(a, b):
            chunk = "x" * (1024 * 1024)
            for _ in range(300):
                sys.stdout.write(chunk)
                sys.stdout.flush()
            return a + b
        """
    )
    judge_batch(kind, [Case(pytest_job(flood, id="stdout-flood", timeout=20), PASSED)])


# --------------------------------------------------------------------------- what keeps working


KEEPS_WORKING = {
    "classes-and-linked-lists": (
        src(
            """
            class Node:
                def __init__(self, val, next=None):
                    self.val, self.next = val, next
            def reverse(head):
                prev = None
                while head:
                    head.next, prev, head = prev, head, head.next
                return prev
            """
        ),
        src(
            """
            def to_list(node):
                out = []
                while node:
                    out.append(node.val)
                    node = node.next
                return out
            def test_reverse():
                assert to_list(reverse(Node(1, Node(2, Node(3))))) == [3, 2, 1]
                assert reverse(None) is None
            """
        ),
    ),
    "own-exceptions": (
        "class TooSmall(ValueError):\n    pass\ndef check(n):\n    if n < 0:\n        raise TooSmall(f'{n} < 0')\n    return n\n",
        "import pytest\ndef test_raises():\n    with pytest.raises(TooSmall, match='-1 < 0'):\n        check(-1)\n"
        "    with pytest.raises(ValueError):\n        check(-2)\n    assert check(3) == 3\n",
    ),
    "in-place-mutation": (
        "def rotate(m):\n    m[:] = [list(r) for r in zip(*m[::-1])]\ndef push(d, k):\n    d.setdefault(k, []).append(1)\n",
        "def test_rotate():\n    m = [[1, 2], [3, 4]]\n    row = m\n    rotate(m)\n    assert m == [[3, 1], [4, 2]] and row is m\n"
        "def test_push():\n    d = {}\n    push(d, 'a')\n    push(d, 'a')\n    assert d == {'a': [1, 1]}\n",
    ),
    "callbacks-and-generators": (
        "def apply(f, xs):\n    return [f(x) for x in xs]\ndef count(n):\n    i = 0\n    while i < n:\n        yield i\n        i += 1\n",
        "def test_apply():\n    assert apply(lambda x: x * 2, [1, 2]) == [2, 4]\ndef test_gen():\n    g = count(3)\n"
        "    assert next(g) == 0\n    assert list(g) == [1, 2]\n",
    ),
    "output-capture": (
        "def show(xs):\n    for x in xs:\n        print(x)\n",
        "import io, contextlib\ndef test_capsys(capsys):\n    show([1, 2])\n    assert capsys.readouterr().out == '1\\n2\\n'\n"
        "def test_redirect():\n    buf = io.StringIO()\n    with contextlib.redirect_stdout(buf):\n        show([3])\n    assert buf.getvalue() == '3\\n'\n",
    ),
    "stdin-and-input": (
        "import sys\ndef first_line():\n    return sys.stdin.readline().strip()\ndef ask():\n    return input('name? ')\n",
        "import io, sys\ndef test_stdin(monkeypatch):\n    monkeypatch.setattr(sys, 'stdin', io.StringIO('hello\\n'))\n    assert first_line() == 'hello'\n"
        "def test_input(monkeypatch):\n    monkeypatch.setattr('builtins.input', lambda prompt='': 'ada')\n    assert ask() == 'ada'\n",
    ),
    "modules-and-typing-through-the-star-import": (
        "import math\nfrom typing import List\nfrom collections import Counter, deque\ndef f(xs: List[int]) -> int:\n    return math.prod(xs)\n"
        "def top(s):\n    return Counter(s).most_common(1)[0]\n",
        "def test_f():\n    xs: List[int] = [2, 3]\n    assert f(xs) == 6 and math.sqrt(4) == 2\n    assert top('aab') == ('a', 2)\n"
        "    assert deque([1]) == deque([1])\n",
    ),
    "values-of-many-types": (
        "import numpy as np\nfrom fractions import Fraction\nfrom collections import namedtuple\nP = namedtuple('P', 'x y')\n"
        "def values():\n    return {'big': 2**100, 'neg': -2**70, 'c': 1+2j, 'b': b'\\x00\\xff', 'ba': bytearray(b'a'), 'fs': frozenset({1}),\n"
        "            't': (1, (2,)), 's': {3}, 'nan': float('nan'), 'fr': Fraction(1, 3), 'p': P(1, 2), 'r': range(3), 'none': None}\n"
        "def arr():\n    return np.arange(6).reshape(2, 3)\ndef scalar():\n    return np.float32(1.5)\n",
        "import math\nimport numpy as np\nfrom fractions import Fraction\ndef test_values():\n    v = values()\n"
        "    assert v['big'] == 2**100 and v['neg'] == -2**70 and v['c'] == 1+2j and v['b'] == b'\\x00\\xff'\n"
        "    assert v['ba'] == bytearray(b'a') and v['fs'] == frozenset({1}) and v['t'] == (1, (2,)) and v['s'] == {3}\n"
        "    assert math.isnan(v['nan']) and v['fr'] == Fraction(1, 3) and v['p'].y == 2 and v['p'] == (1, 2)\n"
        "    assert v['r'] == range(3) and v['none'] is None\n"
        "def test_numpy():\n    a = arr()\n    assert isinstance(a, np.ndarray) and a.shape == (2, 3) and a[1, 2] == 5\n"
        "    assert scalar() == np.float32(1.5) and type(scalar()) is np.float32\n",
    ),
    "class-api": (
        "class Stack:\n    def __init__(self):\n        self.items = []\n    def push(self, x):\n        self.items.append(x)\n"
        "    def pop(self):\n        return self.items.pop()\n    def __len__(self):\n        return len(self.items)\n"
        "    def is_empty(self):\n        return not self.items\n",
        "import pytest\ndef test_stack():\n    s = Stack()\n    assert s.is_empty()\n    s.push(1)\n    s.push(2)\n    assert len(s) == 2\n"
        "    assert s.pop() == 2 and s.items == [1]\n    assert isinstance(s, Stack)\n    with pytest.raises(IndexError):\n"
        "        Stack().pop()\n",
    ),
    "configure-a-module-constant": (
        "LIMIT = 3\ndef capped(x):\n    return min(x, LIMIT)\n",
        "import solution\ndef test_constant():\n    solution.LIMIT = 5\n    assert capped(10) == 5\n",
    ),
}


def test_what_tests_rely_on_keeps_working_across_the_boundary(kind):
    verdicts = judge_batch(kind, [Case(pytest_job(sol, test, id=name), PASSED) for name, (sol, test) in KEEPS_WORKING.items()], controls=False)
    for name, verdict in verdicts.items():
        assert verdict.extra["boundary"]["mode"] == "process", name
    # comparisons of data are by value; `while node:` on a handle asks the sample, and is counted
    assert verdicts["in-place-mutation"].extra["boundary"]["tests_through_handle"] == 0
    assert verdicts["classes-and-linked-lists"].extra["boundary"]["tests_through_handle"] == 1


def test_a_test_that_patches_the_solution_is_judged_in_process_and_says_so(kind):
    solution = "def helper():\n    return 1\ndef f():\n    return helper() + 1\n"
    test = "from unittest import mock\ndef test_f():\n    with mock.patch('solution.helper', return_value=5):\n        assert f() == 6\n"
    verdicts = judge_batch(kind, [Case(pytest_job(solution, test, id="mock-patch"), PASSED)], controls=False)
    boundary = verdicts["mock-patch"].extra["boundary"]
    assert boundary["mode"] == "in-process" and "unittest.mock" in boundary["reason"]


def test_the_sample_process_holds_no_descriptor_but_its_own(kind):
    probe = src(
        """
        import os
        def descriptors():
            out = {}
            for name in os.listdir("/proc/self/fd"):
                try:
                    out[int(name)] = os.readlink(f"/proc/self/fd/{name}")
                except OSError:
                    pass
            return out
        def judge_memory_readable():
            # the runner's processes (server, zygote, judge): none lets the sample read its memory
            import glob
            for path in glob.glob("/proc/[0-9]*/cmdline"):
                pid = path.split("/")[2]
                try:
                    with open(path, "rb") as f:
                        if b"runner" not in f.read() or pid == str(os.getpid()):
                            continue
                    with open(f"/proc/{pid}/mem", "rb") as f:
                        f.read(1)
                    return pid
                except OSError:
                    continue
            return None
        """
    )
    test = src(
        """
        import os
        def test_fds():
            fds = descriptors()
            channels = [fd for fd, t in fds.items() if t.startswith(("pipe:", "socket:"))]
            assert len(channels) == 1 and fds[channels[0]].startswith("socket:"), fds
        def test_no_memory():
            assert judge_memory_readable() is None
        def test_test_file_is_gone():
            assert not os.path.exists(os.path.join(os.getcwd(), "test_solution.py"))
        """
    )
    judge_batch(kind, [Case(pytest_job(probe, test, id="sample-fds"), PASSED)], controls=False)


def test_a_sample_that_kills_the_zygote_gets_its_sandbox_replaced(kind):
    """The zygote forks every job's sample; a sample may kill it (same user). Its own verdict is
    its own, and the sandbox asks to be replaced, so the next job is judged as ever."""
    killer = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + RIGHT_ADD
    verdicts = judge_batch(kind, [Case(pytest_job(killer, id="kill-zygote"), frozenset(Status) - {Status.ERROR})])
    control = next(v for job_id, v in verdicts.items() if job_id.startswith("control-"))
    assert control.attempts == 1, "the next job met the dead zygote instead of a fresh sandbox"
