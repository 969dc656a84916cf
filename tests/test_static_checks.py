"""The static checks every commit passes: ruff's rules over the repository, mypy's types over
the packages and inspect-evals-lint over the benchmarks, as configured in pyproject.toml, with
the versions constraints.txt pins.
They run from the repository root and write no cache there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        pytest.fail(f"{name} is not installed beside {sys.executable}: scripts/setup.sh installs it (dev extras)")
    return str(path)


def test_ruff_finds_nothing():
    done = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


@pytest.mark.slow
def test_mypy_finds_nothing():
    # The packages of pyproject's [tool.mypy] files; /dev/null: no .mypy_cache left behind.
    done = subprocess.run([_tool("mypy"), "--cache-dir", os.devnull], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "Success: no issues found" in done.stdout, done.stdout[-2000:]


def test_inspect_evals_lint_passes_every_benchmark():
    """inspect_evals' checks for an evaluation (a folder per benchmark with its task, README.md and
    eval.yaml; tests mirrored under tests/evals/; an end-to-end test against mockllm), configured
    for this layout in pyproject.toml."""
    done = subprocess.run([_tool("inspect-evals-lint"), "--all", "--output-format", "json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    report = json.loads(done.stdout)
    linted = {package["name"] for package in report["packages"]}
    assert {"gsm8k", "humaneval", "kodcode", "mbpp", "benchmarks"} <= linted, linted
