"""The runner as a package (sandbox/runner/): rooms of at most ~600 lines, each importing only the
rooms above it; nothing but the standard library at import time (pytest only inside functions, so
the zygote, forked when the server starts, never holds pytest); and one zipapp built from it, the
same bytes for the same sources, that runs where the package is not installed."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from gcop.sandbox.executors import RUNNER_PACKAGE, runner_sha256, runner_zipapp

MAX_LINES = 600


def _rooms() -> list[str]:
    """The rooms in the order the package's docstring lists them."""
    doc = ast.get_docstring(ast.parse((RUNNER_PACKAGE / "__init__.py").read_text())) or ""
    table = doc.split("Rooms,", 1)[1].split("\n\n", 2)[1]  # the table after the "Rooms, ..." paragraph
    return re.findall(r"^``(\w+)``\s", table, flags=re.M)


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(), filename=str(p)) for p in sorted(RUNNER_PACKAGE.glob("*.py"))}


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported (not inside a function, not for type checkers)."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def test_every_room_is_listed_and_none_is_over_600_lines():
    rooms = _rooms()
    assert sorted(rooms) == sorted(set(_modules()) - {"__init__", "__main__"})
    sizes = {p.name: len(p.read_text().splitlines()) for p in RUNNER_PACKAGE.glob("*.py")}
    assert max(sizes.values()) <= MAX_LINES, sizes


def test_a_room_imports_only_the_rooms_above_it():
    rooms = _rooms()
    for name, tree in _modules().items():
        if name in ("__init__", "__main__"):
            continue
        for node in _top_level_imports(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.module in rooms[: rooms.index(name)], f"{name} imports {node.module}, not above it"


def test_at_import_time_the_runner_needs_nothing_but_the_standard_library():
    for name, tree in _modules().items():
        for node in _top_level_imports(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                continue
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                assert module.split(".")[0] in sys.stdlib_module_names, f"{name} imports {module} at import time"


def test_the_zipapp_is_the_same_bytes_for_the_same_sources_and_runs_without_the_package(tmp_path):
    first, second = runner_zipapp(tmp_path / "a"), runner_zipapp(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    names = zipfile.ZipFile(first).namelist()
    assert {f"runner/{p.name}" for p in RUNNER_PACKAGE.glob("*.py")} <= set(names)
    # From an empty folder, with nothing but the archive on the path: the whole runner loads from
    # its bytecode, and the zygote's rule holds (no pytest in a fresh runner process).
    probe = ("import sys, runner\n"
             "loaded = sorted(m for m in sys.modules if m.startswith('runner'))\n"
             "assert not any(m == 'pytest' or m.startswith('_pytest') for m in sys.modules)\n"
             "assert all(sys.modules[m].__file__.endswith('.pyc') for m in loaded if m != 'runner.__main__'), loaded\n"
             "print(len(loaded))")
    done = subprocess.run([sys.executable, "-P", "-c", f"import sys; sys.path.insert(0, {str(first)!r})\n{probe}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(_rooms()) + 1  # every room, and the package


def test_the_runner_hash_follows_its_sources(tmp_path, monkeypatch):
    import gcop.sandbox.executors as executors

    copy = tmp_path / "runner"
    copy.mkdir()
    for source in RUNNER_PACKAGE.glob("*.py"):
        (copy / source.name).write_bytes(source.read_bytes())
    original = runner_sha256()
    monkeypatch.setattr(executors, "RUNNER_PACKAGE", copy)
    same = executors.runner_sha256()
    assert same == original  # the content, not the place
    (copy / "verdicts.py").write_text((copy / "verdicts.py").read_text() + "\n# edited\n")
    assert executors.runner_sha256() != same


def test_the_zipapp_is_the_same_whatever_the_hosts_optimisation_level(tmp_path):
    """Built by a host running under -OO, it keeps its docstrings (the runner's command line reads
    one) and is the same archive: bytecode is always compiled at level 0."""
    built = subprocess.run([sys.executable, "-OO", "-c", "import sys; from pathlib import Path; "
                            "from gcop.sandbox.executors import runner_zipapp; print(runner_zipapp(Path(sys.argv[1])))",
                            str(tmp_path / "oo")], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    assert Path(built.stdout.strip()).read_bytes() == runner_zipapp(tmp_path / "plain").read_bytes()
