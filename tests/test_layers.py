"""The layer table of the README ("What may import what"), checked: every import of the project's
own modules, at the top of a file or inside a function, goes down the table or is one of the
crossings listed below. The list is what is left to fix (#28): a new crossing fails, and so does
a listed one that is gone, so the list only shrinks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gcop", "evals", "guides", "sandbox", "train", "results")

#: The shared services (bottom of the table, beside sandbox): the modules of gcop below the rest.
SERVICES = ("gcop", "gcop.lifecycle", "gcop.costs", "gcop.readers", "gcop.durable", "gcop.providers", "gcop.hooks",
            "gcop.preflight", "gcop.stats")
#: The top: the command line and what only it (or Inspect's registry) calls.
TOP = ("gcop.cli", "gcop.__main__", "gcop._registry", "gcop.verify", "gcop.selfcheck", "gcop.solvers", "gcop.tasks")

#: Layer -> the layers it may import (a layer may always import itself).
MAY_IMPORT = {
    "top": {"results", "train", "evals", "guides", "sandbox", "services", "testing"},
    # gcop.testing: the offline models and the fake Anthropic server (test doubles).
    "testing": {"evals", "guides", "sandbox", "services"},
    "results": {"evals", "guides", "services"},
    "train": {"evals", "guides", "sandbox", "services"},
    "evals": {"guides", "sandbox", "services"},
    "guides": {"gcop.lifecycle"},  # of the services, the model lifecycle only
    "sandbox": set(),
    "services": set(),
}

#: Crossings the code still has (importer -> imported, the modules as written), each waiting for #28.
KNOWN_CROSSINGS = {
    ("gcop.hooks", "evals.memory"): "the run-end hook saves the ICL memory: it belongs to evals",
    ("gcop.preflight", "train.inspect_models"): "the guide preflight loads a local guide through train's models",
    ("gcop.providers", "evals.benchmarks"): "the offline reference models read benchmark problems",
    ("guides.solver", "gcop.preflight"): "the guide step checks a local guide's chat template",
    ("results.grid", "gcop.solvers"): "the grid builds rows with the drop-in solvers",
    ("results.logs", "gcop.solvers"): "a run's guide-prompt version is read through the solvers",
    ("gcop.testing.offline_models", "train.tiny"): "the offline guide is train's tiny random-weight model",
    ("train.accept", "gcop.testing.offline_models"): "offline cores for acceptance sampling",
    ("train.grpo", "gcop.testing.offline_models"): "offline cores for GRPO",
    ("train.rewards", "gcop.testing.offline_models"): "offline cores for the rewards",
}


def _layer(module: str) -> str:
    if module.split(".")[0] != "gcop":
        return module.split(".")[0]
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
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports() -> set[tuple[str, str]]:
    """(importer, imported) for every import of a project module, function-level ones included."""
    found = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            importer = _module_name(path)
            package_parts = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    if node.level:
                        base = package_parts[: len(package_parts) - node.level + 1]
                        names = [".".join([*base, node.module] if node.module else base)]
                    else:
                        names = [node.module or ""]
                else:
                    continue
                found.update((importer, name) for name in names if name.split(".")[0] in PACKAGES)
    return found


def test_the_scan_sees_function_level_and_relative_imports():
    imports = project_imports()
    assert ("train.evaluate", "gcop.stats") in imports  # at the top of the file
    assert ("gcop.hooks", "evals.memory") in imports  # inside a function
    assert ("results.leaderboard", "results.logs") in imports  # relative: from .logs import ...


def test_every_import_goes_down_the_layer_table():
    crossings = {(a, b) for a, b in project_imports() if not _allowed(a, b)}
    new = sorted(crossings - KNOWN_CROSSINGS.keys())
    assert not new, "imports against the README's layer table:\n" + "\n".join(f"  {a} -> {b}" for a, b in new)
    fixed = sorted(KNOWN_CROSSINGS.keys() - crossings)
    assert not fixed, "fixed crossings still listed in KNOWN_CROSSINGS (remove them):\n" + "\n".join(
        f"  {a} -> {b}" for a, b in fixed)


@pytest.mark.parametrize(("importer", "imported", "allowed"), [
    ("train.evaluate", "results.logs", False),  # training's evaluation takes its statistics from gcop.stats
    ("guides.strategy", "evals.extraction", False),  # the guide step knows no scorer
    ("sandbox.executors", "gcop.readers", False),  # the sandbox knows nothing of gcop's
    ("evals.scorers", "sandbox.executors", True),
    ("guides.solver", "gcop.lifecycle", True),
    ("gcop.cli.checks", "train.sft", True),
])
def test_the_table_reads_as_the_readme_says(importer, imported, allowed):
    assert _allowed(importer, imported) is allowed
