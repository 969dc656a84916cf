"""The wheel: one top-level import, ``gcop``, holding the layers the repository keeps at its top
level (gcop.evals, gcop.guides, gcop.sandbox, gcop.train, gcop.results) and the sandbox image's
files; none of them importable under its bare name."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LAYERS = ("evals", "guides", "sandbox", "train", "results")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO_ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    (path,) = out.glob("gcop-*.whl")
    return path


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"gcop", "gcop-0.1.0.dist-info"}
    for expected in ("gcop/evals/kodcode/spec.py", "gcop/guides/strategy.py", "gcop/train/rewards.py",
                     "gcop/results/leaderboard.py", "gcop/sandbox/runner/server.py", "gcop/sandbox/image/Dockerfile"):
        assert expected in names
    # Committed outputs (reports/) stay in the repository: no leaderboard page or figure is installed.
    assert not [n for n in names if n.endswith((".html", ".png", ".svg")) or "/benchmarks/" in n and n.endswith(".json")]


@pytest.mark.slow
def test_from_the_wheel_gcop_evals_imports_and_evals_does_not(wheel, tmp_path):
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import gcop.evals.benchmarks, gcop.train.config, gcop.sandbox.executors\n"
        "assert gcop.evals.benchmarks.__file__.startswith(sys.argv[1]), gcop.evals.benchmarks.__file__\n"
        # The package's own data: list prices and the model lifecycle table, read from the wheel.
        "import gcop.costs, gcop.lifecycle\n"
        "assert gcop.costs.PRICES_FILE.is_file() and gcop.lifecycle.MODELS_FILE.is_file()\n"
        "assert str(gcop.costs.PRICES_FILE).startswith(sys.argv[1])\n"
        "for bare in ('evals', 'guides', 'sandbox', 'train', 'results'):\n"
        "    try:\n"
        "        __import__(bare)\n"
        "    except ModuleNotFoundError:\n"
        "        continue\n"
        "    raise SystemExit(f'{bare} is importable')\n"
        "print('ok')\n"
    )
    # -I: neither the working folder nor PYTHONPATH on sys.path; run outside the repository.
    done = subprocess.run([sys.executable, "-I", "-c", probe, str(unpacked)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert done.stdout.strip() == "ok"


@pytest.mark.slow
def test_pip_install_into_a_fresh_venv_adds_only_gcop(wheel, tmp_path):
    """The wheel installed (no dependencies) into a new virtual environment, run from outside the
    repository: ``import gcop.evals`` (and the other layers) works, ``import evals`` does not."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-2000:]
    probe = ("import importlib.util, gcop.evals, gcop.guides, gcop.sandbox, gcop.train, gcop.results\n"
             "print([name for name in ('evals', 'guides', 'sandbox', 'train', 'results') if importlib.util.find_spec(name)])")
    done = subprocess.run([str(python), "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
