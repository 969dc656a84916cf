"""The layer table of docs/architecture.md ("What may import what"), checked: every import of the project's
own modules, at the top of a file or inside a function, goes down the table or is one of the
crossings listed below (none are left; a listed one that is gone fails, so the list only
shrinks); no import cycle, even through function-level imports; and no bare `import evals`."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The layers the repository keeps at its top level; they install as gcop.<name> (gcop/<name> links here).
LAYERS = ("evals", "guides", "sandbox", "train", "results")
#: Everything in the repository that imports the project: the package, and the code that uses it.
USERS = ("gcop", *LAYERS, "tests", "bench", "scripts", "examples", "conftest.py")

#: The shared services (bottom of the table, beside sandbox): the modules of gcop below the rest.
SERVICES = ("gcop", "gcop.lifecycle", "gcop.costs", "gcop.readers", "gcop.durable", "gcop.inspect_models",
            "gcop.preflight", "gcop.stats")
#: The top: the command line and what only it (or Inspect's registry) calls.
TOP = ("gcop.cli", "gcop.__main__", "gcop._registry", "gcop.verify", "gcop.selfcheck", "gcop.solvers")

#: Layer -> the layers it may import (a layer may always import itself).
MAY_IMPORT = {
    "top": {"results", "train", "evals", "guides", "sandbox", "services", "testing"},
    # gcop.testing: the offline models and the fake Anthropic server (test doubles).
    "testing": {"evals", "guides", "sandbox", "services"},
    "results": {"evals", "guides", "services"},
    "train": {"evals", "guides", "sandbox", "services"},
    "evals": {"guides", "sandbox", "services"},
    # Of the services, the model lifecycle, and the preflight that reads a local guide's chat template.
    "guides": {"gcop.lifecycle", "gcop.preflight"},
    "sandbox": set(),
    "services": set(),
}

#: Crossings the code still has (importer -> imported, the modules as written), each waiting for #28.
KNOWN_CROSSINGS: dict[tuple[str, str], str] = {}


def _layer(module: str) -> str:
    parts = module.split(".")
    assert parts[0] == "gcop", f"{module} is not a gcop module"
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    if any(module == t or module.startswith(t + ".") for t in TOP):
        return "top"
    if module == "gcop.testing" or module.startswith("gcop.testing."):
        return "testing"
    if any(module == s or module.startswith(s + ".") for s in SERVICES):
        return "services"
    raise AssertionError(f"{module} is in no layer of the table: add it to SERVICES or TOP")


def _allowed(importer: str, imported: str) -> bool:
    source, target = _layer(importer), _layer(imported)
    if source == target:
        return True
    allowed = MAY_IMPORT[source]
    return target in allowed or any(imported == m or imported.startswith(m + ".") for m in allowed if "." in m)


def _module_name(path: Path) -> str:
    """The installed name of a package file: evals/x.py is gcop.evals.x."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(parts if parts[0] == "gcop" else ("gcop", *parts))


def _imports(path: Path, importer: str, *, runtime_only: bool = False) -> set[str]:
    """Every module ``path`` imports (absolute names; relative ones resolved against ``importer``);
    with ``runtime_only``, not those under ``if TYPE_CHECKING:`` (type names, never imported)."""
    package_parts = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
    names: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                   for n in ast.walk(block)} if runtime_only else set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                names.add(".".join([*base, node.module] if node.module else base))
            else:
                names.add(node.module or "")
    return names


def _package_files() -> list[Path]:
    # gcop/ itself without its links (their targets are walked as the layers' own folders).
    files = [p for p in (ROOT / "gcop").rglob("*.py") if p.relative_to(ROOT / "gcop").parts[0] not in LAYERS]
    return sorted(files + [p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")])


def project_imports(*, runtime_only: bool = False) -> set[tuple[str, str]]:
    """(importer, imported) for every import of a project module, function-level ones included."""
    found = set()
    for path in _package_files():
        importer = _module_name(path)
        found.update((importer, name) for name in _imports(path, importer, runtime_only=runtime_only)
                     if name.split(".")[0] == "gcop")
    return found


def test_the_scan_sees_function_level_and_relative_imports():
    imports = project_imports()
    assert ("gcop.train.evaluate", "gcop.stats") in imports  # at the top of the file
    assert ("gcop.evals.hooks", "gcop.evals.memory") in imports  # inside a function
    assert ("gcop.results.leaderboard", "gcop.results.logs") in imports  # relative: from .logs import ...


def test_every_import_goes_down_the_layer_table():
    crossings = {(a, b) for a, b in project_imports() if not _allowed(a, b)}
    new = sorted(crossings - KNOWN_CROSSINGS.keys())
    assert not new, "imports against the layer table (docs/architecture.md):\n" + "\n".join(f"  {a} -> {b}" for a, b in new)
    fixed = sorted(KNOWN_CROSSINGS.keys() - crossings)
    assert not fixed, "fixed crossings still listed in KNOWN_CROSSINGS (remove them):\n" + "\n".join(
        f"  {a} -> {b}" for a, b in fixed)


def import_cycles(imports: set[tuple[str, str]], modules: set[str]) -> list[list[str]]:
    """A cycle of the import graph, as the sorted modules on it ([] when there is none; graphlib
    reports one at a time). An imported name resolves to the longest module it names (``from m
    import f`` is an edge to m)."""

    def resolve(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for importer, imported in imports:
        target = resolve(imported)
        if target and target != importer:
            graph.setdefault(importer, set()).add(target)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as cycle:
        return [sorted(set(cycle.args[1]))]
    return []


def test_no_import_cycles_even_through_function_level_imports():
    modules = {_module_name(path) for path in _package_files()}
    assert not import_cycles(project_imports(runtime_only=True), modules)


def test_the_cycle_check_finds_a_cycle_hidden_in_a_function():
    modules = {"gcop.train.sft", "gcop.train.evaluate", "gcop.train.grpo", "gcop.train.config"}
    imports = {("gcop.train.sft", "gcop.train.evaluate.HeldOutEvaluation"), ("gcop.train.evaluate", "gcop.train.grpo"),
               ("gcop.train.grpo", "gcop.train.sft"), ("gcop.train.grpo", "gcop.train.config")}
    assert import_cycles(imports, modules) == [["gcop.train.evaluate", "gcop.train.grpo", "gcop.train.sft"]]


def test_function_level_imports_of_gcop_say_why():
    """Outside the command line (whose commands import what they run, a rule its package states),
    an import of gcop's own code inside a function carries its reason on its line or the line above."""
    silent = []
    for path in _package_files():
        if path.relative_to(ROOT).parts[:2] == ("gcop", "cli"):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for function in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                own = (isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("gcop"))
                       or isinstance(node, ast.Import) and any(a.name.startswith("gcop") for a in node.names))
                if own and "#" not in lines[node.lineno - 1] and not lines[node.lineno - 2].lstrip().startswith("#"):
                    silent.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not silent, "import at the top, or say why not:\n" + "\n".join(sorted(set(silent)))


def test_the_layers_are_linked_into_the_package():
    for layer in LAYERS:
        link = ROOT / "gcop" / layer
        assert link.is_symlink() and link.resolve() == (ROOT / layer).resolve(), f"gcop/{layer} must link to {layer}/"


def test_the_project_imports_itself_only_as_gcop():
    """`import evals` would load a second copy of gcop.evals (the repository root is on sys.path
    in tests and scripts), with registries and caches of its own."""
    bare = []
    for user in USERS:
        paths = [ROOT / user] if user.endswith(".py") else sorted((ROOT / user).rglob("*.py"))
        for path in paths:
            if path.relative_to(ROOT).parts[0] == "gcop" and path.relative_to(ROOT).parts[1] in LAYERS:
                continue
            for name in _imports(path, _module_name(path) if user in ("gcop", *LAYERS) else "tests.x"):
                if name.split(".")[0] in LAYERS:
                    bare.append(f"{path.relative_to(ROOT)}: {name}")
    assert not bare, "import these as gcop.<name>:\n" + "\n".join(bare)


@pytest.mark.parametrize(("importer", "imported", "allowed"), [
    ("gcop.train.evaluate", "gcop.results.logs", False),  # training's evaluation takes its statistics from gcop.stats
    ("gcop.guides.strategy", "gcop.evals.extraction", False),  # the guide step knows no scorer
    ("gcop.sandbox.executors", "gcop.readers", False),  # the sandbox knows nothing of gcop's
    ("gcop.evals.scorers", "gcop.sandbox.executors", True),
    ("gcop.guides.solver", "gcop.lifecycle", True),
    ("gcop.cli.checks", "gcop.train.sft", True),
])
def test_the_table_reads_as_the_readme_says(importer, imported, allowed):
    assert _allowed(importer, imported) is allowed
