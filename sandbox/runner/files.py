"""The files of a job: what the judge's working directory holds, and the tests the trusted side
expects to be collected."""

from __future__ import annotations

import ast
import os
import re
from typing import IO, Any

MAX_TIMEOUT_S = 600.0
OUTPUT_TAIL_CHARS = 2000
FILE_SIZE_LIMIT = 64 * 1024 * 1024  # per file a sample may write (disk bombs)
HUMANEVAL_TEST_NAME = "test_check"


# The job's directory and scratch files, made with the os module's calls rather than tempfile's:
# tempfile imports random, whose reseeding handler then runs in every process the server and the
# zygote fork (about 30 pages copied in each, two processes a job).


def default_work_root() -> str:
    """Where a runner given no work root makes its jobs' directories: ``GCOP_WORK_ROOT`` (always
    set in a container, where tempfile is then never imported), else the system's directory for
    temporary files."""
    root = os.environ.get("GCOP_WORK_ROOT")
    if root:
        return root
    import tempfile

    return tempfile.gettempdir()


def make_directory(root: str, prefix: str) -> str:
    """A new directory under ``root`` that only this user can enter, under a name no one chose
    beforehand (as ``tempfile.mkdtemp``)."""
    root = os.path.abspath(root)  # a job's HOME, TMPDIR and import path hold it
    for _ in range(100):
        path = os.path.join(root, prefix + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free directory name under {root}")


def scratch_file(root: str) -> IO[bytes]:
    """A file with no name under ``root``, read and written, gone when closed (as
    ``tempfile.TemporaryFile``)."""
    return os.fdopen(unnamed_file(root), "w+b")


def unnamed_file(root: str) -> int:
    """A descriptor of a new file with no name under ``root`` (read and written, close-on-exec,
    mode 0600), gone when closed. No one holding it can give it a name (``linkat`` through
    ``/proc/self/fd``): a sample holds its own output file as its descriptors 1 and 2."""
    try:
        # O_EXCL with O_TMPFILE: the kernel never lets the file be linked into the file system.
        fd = os.open(root, os.O_TMPFILE | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except (AttributeError, OSError):
        # No O_TMPFILE here (or not on this file system): a named file, unlinked at once (a file
        # whose last name is gone cannot be linked again either).
        for _ in range(100):
            path = os.path.join(root, ".gcop-scratch-" + os.urandom(6).hex())
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
            except FileExistsError:
                continue
            try:
                os.unlink(path)
            except OSError:
                os.close(fd)
                raise
            break
        else:
            raise FileExistsError(f"no free file name under {root}") from None
    return fd




def build_files(job: dict[str, Any]) -> dict[str, str]:
    """The files a job runs with: ``solution.py`` and ``test_solution.py``.

    pytest style gets KodCode's layout (``from solution import *`` first). check style keeps the
    data set's test code as it is; ``check(entry_point)`` is called by the runner.
    """
    style = job.get("style")
    solution = job.get("solution") or ""
    test = job.get("test") or ""
    if not isinstance(solution, str) or not isinstance(test, str):
        raise ValueError("'solution' and 'test' must be strings")
    if style == "pytest":
        return {"solution.py": solution, "test_solution.py": "from solution import *\n" + test}
    if style == "check":
        entry_point = job.get("entry_point")
        if not isinstance(entry_point, str) or not entry_point.isidentifier():
            raise ValueError(f"a check job needs a valid entry_point, got {entry_point!r}")
        return {"solution.py": solution, "test_solution.py": test}
    raise ValueError(f"unknown job style {style!r} (expected 'pytest' or 'check')")


def _parse(source: str) -> ast.Module | None:
    """``source`` parsed, or None when it does not parse (pytest then reports a collection error)."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        # ValueError: NUL bytes on older Pythons; MemoryError/RecursionError: absurd nesting.
        return None


def expected_tests(test_source: str) -> list[str] | None:
    """Test functions and classes pytest must collect, found by parsing (not running) the file.

    Returns None when the file does not parse (pytest will then report a collection error).
    Names are ``func`` or ``Class::method``.
    """
    return _expected_tests(_parse(test_source))


def _expected_tests(tree: ast.Module | None) -> list[str] | None:
    if tree is None:
        return None
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.append(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    names.append(f"{node.name}::{item.name}")
    return names


_PARAM_SUFFIX = re.compile(r"\[.*\]$")


def _test_name(nodeid: str) -> str:
    """``test_solution.py::TestX::test_y[1-2]`` -> ``TestX::test_y``."""
    parts = nodeid.split("::")[1:]
    return _PARAM_SUFFIX.sub("", "::".join(parts))
