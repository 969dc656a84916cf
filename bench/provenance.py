"""What a benchmark's figures were measured on: the commit, and the measured modules' content."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def code_version(*paths: str) -> dict[str, Any]:
    """The commit and, for the modules measured, their content hash and whether they differ from it."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], capture_output=True, text=True, cwd=ROOT)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {"git_head": git("rev-parse", "HEAD") or None,
            "files": {p: {"sha256": hashlib.sha256((ROOT / p).read_bytes()).hexdigest()[:16],
                          "modified_vs_head": bool(git("status", "--porcelain", "--", p))} for p in paths}}
