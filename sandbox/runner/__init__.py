"""The in-sandbox test runner: one verdict protocol for every executor and every scorer.

This package runs *inside* the sandbox (a container of the gcop image, or a local subprocess) and
depends on nothing but the standard library and pytest, so it can be copied anywhere: the image
holds it as a directory (``python3 -P -m runner serve``), and a sandbox of another image gets it
as one zipapp built from it (:func:`gcop.sandbox.executors.runner_zipapp`).

Rooms, in the order they build on each other (a module imports only those above it, except for
type names):

=============== ===========================================================================
``files``       the files of a job, the tests the trusted side expects
``procfs``      small kernel files read and written without file objects
``verdicts``    the verdict rules (:func:`judge`)
``testprocess`` the report's recorder, phase marks, open descriptors
``guard``       the sample's namespaces and seccomp filter
``wire``        the boundary's limits, errors and encoding helpers
``proxies``     stand-ins for the other side's objects; refused handle operations
``codec``       values to the wire and back
``peer``        one end of the boundary's socket
``judge_side``  what the tests see of the solution; jobs that stay in one process
``plain``       pytest-style modules judged without a pytest session, where it cannot matter
``jobprocess``  the judge's process: pytest or the check call, the report
``sample_side`` the zygote and the sample's process (the rule on pytest is stated there)
``cleanup``     after a job: files, IPC, id counters
``server``      :class:`Runner`: one job from its files to its verdict
``forkserver``  the shared pytest session jobs fork from
``cli``         the ``serve`` and ``once`` modes
=============== ===========================================================================

Protocol
--------
A job is one JSON object::

    {"id": "...", "style": "pytest" | "check", "solution": "<python source>",
     "test": "<test source>", "entry_point": "name" | null, "timeout": 10.0,
     "prelude": "<HumanEval's canonical prompt>" | null, "profile": false,
     "handle_ops": ["add", "iter", ...] | null, "session": "pytest" | null}

``handle_ops``: the data operations (arithmetic, conversions, indexing, iteration) the tests may
do on an object of the solution that is not plain data (a handle, see "the boundary"); any other
raises :class:`HandleRefused` in the test. ``null`` allows all of them, each counted as a test
decided through a handle.

* ``pytest`` style (KodCode): ``solution.py`` holds the solution, ``test_solution.py`` holds
  ``from solution import *`` followed by the tests, exactly as KodCode's own runner lays them out.
  Only tests *defined* in ``test_solution.py`` are collected: a ``test_*`` name imported into it
  (``from heapq import merge as test_merge``, or a ``test_*`` function the solution exports
  through ``from solution import *``) is not a test.
  A module that uses none of pytest's features is judged without a pytest session
  (:mod:`runner.plain`, the answer's ``boundary.session`` is ``"none"``); ``"session": "pytest"``
  always runs one.
* ``check`` style (HumanEval): ``solution.py`` holds the program (prompt + completion); the judge runs
  ``prelude`` (the canonical prompt, so the helpers ``check`` uses are the data set's) and the
  data set's test code, then calls ``check(entry_point)`` with the program's entry point, as
  OpenAI's harness does, reported as the single test ``test_check``.

Two processes per job (see "the boundary" below): the sample's module is imported and run in a
process of its own; the tests run in the judge's process, which writes the report and reaches
the sample only through data copies and handles.

The answer is one JSON object: ``{"id", "status", "reason", "tests_collected", "tests_passed",
"duration_s", "output", "boundary"}`` with ``status`` one of ``passed``, ``failed``, ``timeout``,
``error``; ``boundary`` says how the tests were decided (``mode`` "process" with the counts of
tests decided by value and through a handle, or "in-process" with the reason); ``retire``, when
present, asks the host to replace this sandbox (a job left something behind); ``phases_ms``
(with ``"profile": true``) is where the job's time went.

Modes
-----
``serve``  a fork server: forks the sample zygote, says it is ready, then reads jobs as JSON
           lines on stdin and writes one answer line per job on stdout. Each job's judge runs in
           a freshly forked process in a fresh working directory. In a container, check-style
           jobs are judged without pytest: until the first pytest-style job the server has not
           even imported it (a smaller process forks faster). That job starts one pytest
           session, and every pytest-style judge from then on carries on into its own copy of it
           (see
           :class:`_PytestForkServer`), so a job costs its collection and tests, not a pytest
           start-up. Its sample runs in a process the zygote forks. After a job, every process it
           left behind is killed and everything it wrote is deleted. In a container this process
           is PID 1, which the sample cannot signal.
``once``   read one job from stdin, print its answer (for generic sandboxes, e.g. Inspect's).

Verdict rules (``judge``)
-------------------------
``passed`` only when the pytest session finished and reported, every collected test's setup,
call and teardown passed, at least one test ran, every test function the trusted side found in
the test file was collected, pytest's exit status was 0 and the test process exited 0. The
report travels over a private pipe and carries a per-job random nonce, so printed text, exit
codes, ``sys.exit``/``os._exit``, ``atexit`` and ``excepthook`` tricks, skips, xfails and
``pytest.exit`` cannot produce a pass. The process exits with ``os._exit`` right after pytest
returns, so ``atexit`` handlers never run.
"""

from __future__ import annotations

from .cli import main, once, serve
from .files import FILE_SIZE_LIMIT, HUMANEVAL_TEST_NAME, MAX_TIMEOUT_S, OUTPUT_TAIL_CHARS, build_files, expected_tests
from .judge_side import in_process_reason, star_import_names
from .proxies import HandleRefused
from .server import Runner
from .verdicts import STATUS_ERROR, STATUS_FAILED, STATUS_PASSED, STATUS_TIMEOUT, judge, passed_test_names
from .wire import BoundaryError, SampleError

__all__ = [
    "FILE_SIZE_LIMIT", "HUMANEVAL_TEST_NAME", "MAX_TIMEOUT_S", "OUTPUT_TAIL_CHARS", "STATUS_ERROR", "STATUS_FAILED",
    "STATUS_PASSED", "STATUS_TIMEOUT", "BoundaryError", "HandleRefused", "Runner", "SampleError", "build_files",
    "expected_tests", "in_process_reason", "judge", "main", "once", "passed_test_names", "serve", "star_import_names",
]
