"""What a job's processes inherit from the processes they are forked from: no module that
registers a handler Python runs in every forked child (``threading``'s, ``random``'s reseeding).

Each such handler runs in the judge and the sample of every job, and its first run there copies
the pages it touches from the parent (about 120 for ``threading``, 30 for ``random``): a tenth of
a HumanEval job's page faults. The server and the zygote do without them (the boundary's warm-up
thread is ``_thread``'s; the job's directory and scratch files are made with the os module, not
tempfile). A judge forked once the server has imported pytest (at its first pytest-style job)
holds both, as pytest does: there only the sample is checked.
"""

from __future__ import annotations

import pytest

from gcop.sandbox.protocol import Status, TestJob
from tests.sandbox.test_sandbox_attacks import (
    kind,  # noqa: F401 - the executor fixture (docker, local)
    run_jobs,
)

#: Modules whose import registers an at-fork handler (``os.register_at_fork``).
WATCHED = ("threading", "random")

SOLUTION = f"""import sys

INHERITED = [name for name in {WATCHED!r} if name in sys.modules]


def inherited():
    return INHERITED
"""

CHECK_TEST = f"""import sys


def check(candidate):
    assert candidate() == [], candidate()
    assert [name for name in {WATCHED!r} if name in getattr(sys, "modules")] == []
"""

PYTEST_TEST = """def test_the_sample_inherited_none():
    assert inherited() == [], inherited()
"""


def test_no_job_process_inherits_a_fork_handler(kind: str) -> None:  # noqa: F811
    if kind == "local":
        pytest.skip("a local runner starts with the host's site-packages, whose .pth files may import "
                    "anything (an editable install's imports tempfile, hence random)")
    # In one warm sandbox, two of each: what a job leaves in the server must not reach the next.
    # The check-style jobs first: the first pytest-style job has the server import pytest, and
    # judges forked after that hold what pytest holds (threading among it), whatever their style.
    batch = [
        *(TestJob("check", SOLUTION, CHECK_TEST, entry_point="inherited", id=f"check-{n}") for n in range(2)),
        *(TestJob("pytest", SOLUTION, PYTEST_TEST, id=f"plain-{n}") for n in range(2)),
        *(TestJob("pytest", SOLUTION, PYTEST_TEST, id=f"session-{n}", session="pytest") for n in range(2)),
        TestJob("check", SOLUTION, PYTEST_TEST.replace("test_the_sample_inherited_none", "check").replace(
            "():", "(inherited):"), entry_point="inherited", id="check-after-pytest"),
    ]
    verdicts = run_jobs(kind, batch, workers=1)
    for job, verdict in zip(batch, verdicts, strict=True):
        assert verdict.status is Status.PASSED, (job.id, verdict.reason, verdict.output[-1500:])


def test_the_check_sees_an_inherited_module() -> None:
    """Not vacuous: in a process that holds them (this one: pytest imports both), it names them."""
    namespace: dict = {}
    exec(compile(SOLUTION, "solution", "exec"), namespace)  # noqa: S102 - this test's own code
    assert namespace["inherited"]() == list(WATCHED)


def test_job_directories_are_private_and_never_reused(tmp_path) -> None:
    from gcop.sandbox.runner.files import make_directory

    made = [make_directory(str(tmp_path), "job-") for _ in range(50)]
    assert len(set(made)) == 50
    for path in made:
        assert path.startswith(str(tmp_path / "job-")) and (tmp_path / path).is_dir()
        assert (tmp_path / path).stat().st_mode & 0o777 == 0o700


def test_a_scratch_file_has_no_name_and_reads_back_what_was_written(tmp_path, monkeypatch) -> None:
    import os

    from gcop.sandbox.runner import files

    for no_tmpfile in (False, True):
        if no_tmpfile:  # a file system without O_TMPFILE: a named file, unlinked at once
            monkeypatch.delattr(os, "O_TMPFILE")
        with files.scratch_file(str(tmp_path)) as scratch:
            assert list(tmp_path.iterdir()) == []
            scratch.write(b"abc" * 1000)
            scratch.seek(0)
            assert scratch.read() == b"abc" * 1000
            assert os.fstat(scratch.fileno()).st_mode & 0o777 == 0o600
            # A holder of the descriptor (a sample: its own output file is its 1 and 2) cannot
            # give the file a name, as it could an O_TMPFILE file opened without O_EXCL.
            directory = os.open(tmp_path, os.O_RDONLY)
            try:  # a directory descriptor: os.link then calls linkat, which follows /proc's link
                with pytest.raises(FileNotFoundError):
                    os.link(f"/proc/self/fd/{scratch.fileno()}", "named", src_dir_fd=directory,
                            dst_dir_fd=directory, follow_symlinks=True)
            finally:
                os.close(directory)
        assert list(tmp_path.iterdir()) == []


def test_a_relative_work_root_gives_absolute_job_directories(tmp_path, monkeypatch) -> None:
    from gcop.sandbox.runner.files import make_directory

    monkeypatch.chdir(tmp_path)
    made = make_directory(".", "job-")
    assert made.startswith(str(tmp_path) + "/job-")


#: A sample that plants modules of those names in its job's directory: with them no longer
#: loaded in the server and the zygote, a judge that imported them after the sample ran, from a
#: path holding that directory, would run the sample's code as the trusted side.
PLANTER = f"""import os

for _name in {WATCHED + ("tempfile",)!r}:
    with open(os.path.join(os.getcwd(), _name + ".py"), "w") as _f:
        _f.write("PLANTED = True\\n")


def planted():
    return sorted(name for name in os.listdir(os.getcwd()) if name.endswith(".py"))
"""

#: The judge's side: after the sample planted its modules, import each and require the real one.
PLANTED_CHECKS = f"""
import importlib


def _real_modules(planted):
    assert "random.py" in planted(), planted()
    for name in {WATCHED + ("tempfile",)!r}:
        module = importlib.import_module(name)
        assert not hasattr(module, "PLANTED"), (name, module.__file__)
"""


#: The same for a pytest-style module, which must name its imports (``importlib`` sends a module
#: to a session, ``threading`` to one process): ``random`` and ``tempfile``, imported after the
#: sample ran.
PLANTED_TEST = """
def test_real():
    assert "random.py" in planted(), planted()
    import random
    import tempfile

    for module in (random, tempfile):
        assert not hasattr(module, "PLANTED"), module.__file__
"""


def test_modules_a_sample_plants_never_reach_the_judge(kind: str) -> None:  # noqa: F811
    batch = [
        TestJob("check", PLANTER, PLANTED_CHECKS + "\n\ndef check(candidate):\n    _real_modules(candidate)\n",
                entry_point="planted", id="check"),
        TestJob("pytest", PLANTER, PLANTED_TEST, id="plain"),
        TestJob("pytest", PLANTER, PLANTED_TEST, id="session", session="pytest"),
    ]
    verdicts = run_jobs(kind, batch, workers=1)
    for job, verdict in zip(batch, verdicts, strict=True):
        assert verdict.status is Status.PASSED, (job.id, verdict.reason, verdict.output[-1500:])
    assert verdicts[1].extra["boundary"].get("session") == "none"  # judged without a session, as meant
