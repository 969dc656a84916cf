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

    def content(path: Path) -> bytes:
        # A package folder: its modules' names and contents, in order.
        if path.is_dir():
            return b"".join(f.name.encode() + b"\0" + f.read_bytes() for f in sorted(path.glob("*.py")))
        return path.read_bytes()

    return {"git_head": git("rev-parse", "HEAD") or None,
            "files": {p: {"sha256": hashlib.sha256(content(ROOT / p)).hexdigest()[:16],
                          "modified_vs_head": bool(git("status", "--porcelain", "--", p))} for p in paths}}
