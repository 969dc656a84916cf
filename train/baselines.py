"""The on-disk cache of R(x, none), the core's score without a strategy (the baseline of ExecTune's
regression penalty), shared by rollouts, epochs, runs and the held-out evaluation."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["BaselineCache"]




class BaselineCache:
    """R(without strategy) per problem, on disk: one JSON file per content key.

    The key is the sha256 of the canonical JSON of ``key_fields`` (core model, core prompt
    version, problem id, benchmark, sampling config, number of samples, reward version); the file
    also stores those fields, the reward and when it was computed. Writes are atomic (temp file,
    rename), so concurrent runs sharing a cache never read half a file.
    """

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(os.path.expanduser(str(root))) if root is not None else None
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(fields: Mapping[str, Any]) -> str:
        return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()

    def path(self, key: str) -> Path | None:
        return None if self.root is None else self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        if path is None or not path.is_file():
            self.misses += 1
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            float(record["reward"])
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("ignoring unreadable baseline cache file %s", path)
            self.misses += 1
            return None
        self.hits += 1
        return record

    def put(self, key: str, record: Mapping[str, Any]) -> None:
        path = self.path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(dict(record), f, sort_keys=True, default=str)
        os.replace(tmp, path)
