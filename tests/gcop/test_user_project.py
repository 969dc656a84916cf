"""gcop's top-level packages have common names (evals, train, results, guides, sandbox). Run from a
user's project folder that has packages of the same names, the installed commands must still import
this project's code: console scripts put their own folder, not the working folder, on sys.path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA, needs_shared_data

BIN = Path(sys.executable).parent
SHADOWED = ("evals", "train", "results", "guides", "sandbox", "gcop")


@pytest.fixture
def user_project(tmp_path: Path) -> Path:
    for name in SHADOWED:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('imported the user project\\'s own {name}')\n")
    return tmp_path


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["GCOP_DATA_DIR"] = str(SHARED_DATA)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@needs_shared_data
def test_gcop_and_inspect_import_this_project_from_a_folder_with_packages_of_the_same_names(user_project):
    samples = user_project / "samples.jsonl"
    samples.write_text(json.dumps({"completion": "so \\boxed{5}", "target": "5"}) + "\n")
    verify = _run([str(BIN / "gcop"), "verify", "gsm8k", str(samples), "--executor", "local", "--no-progress"],
                  user_project)
    assert verify.returncode == 0, verify.stderr
    assert "passed: 1" in verify.stdout

    inspect = _run([str(BIN / "inspect"), "eval", "gcop/gsm8k", "--model", "gcop/reference", "--limit", "1",
                    "--log-dir", str(user_project / "logs"), "--display", "plain"], user_project)
    assert inspect.returncode == 0, inspect.stderr[-2000:]
    assert "user project" not in inspect.stdout + inspect.stderr
    assert list((user_project / "logs").glob("*.eval"))


@pytest.mark.slow
@needs_shared_data
def test_gcop_runs_with_a_users_modules_of_the_same_names_first_on_the_path(tmp_path):
    """A user's train.py, results.py and evals/ first on PYTHONPATH are never imported: gcop's
    layers are gcop.train, gcop.results, gcop.evals (one top-level import name)."""
    for name in ("train", "results"):
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('imported the user\\'s own {name}.py')\n")
    for name in ("evals", "guides", "sandbox"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('imported the user\\'s own {name}/')\n")
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"completion": "so \\boxed{5}", "target": "5"}) + "\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "GCOP_DATA_DIR": str(SHARED_DATA)}
    # python -m: the working folder (the user's) is on sys.path too, first.
    verify = subprocess.run([sys.executable, "-m", "gcop", "verify", "gsm8k", str(samples), "--executor", "local",
                             "--no-progress"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stderr[-2000:]
    assert "passed: 1" in verify.stdout
    loaded = subprocess.run([sys.executable, "-c", "import gcop._registry, gcop.train.rewards, gcop.results.leaderboard, "
                             "gcop.cli, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in "
                             "('evals', 'train', 'results', 'guides', 'sandbox')))"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip() == "[]"
