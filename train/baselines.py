"""The on-disk cache of R(x, none), the core's score without a strategy (the baseline of ExecTune's
regression penalty), shared by rollouts, epochs, runs and the held-out evaluation."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from gcop.durable import write_atomic

try:  # POSIX; elsewhere concurrent processes may compute one baseline twice (both are kept right)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

__all__ = ["BaselineCache"]

#: What an entry stores beside its key fields.
_NOT_KEY_FIELDS = frozenset({"reward", "statuses", "computed_at", "key_fields"})


class BaselineCache:
    """R(without strategy) per problem, on disk: one JSON file per content key.

    The key is the sha256 of the canonical JSON of ``key_fields`` (core model, core prompt
    version, problem id, benchmark, sampling config, number of samples, reward version); the file
    also stores those fields (under ``key_fields``, and at the top level as before), the reward
    and when it was computed.

    Crash safety: a write goes to a temp file that is fsynced and renamed over the entry
    (:func:`gcop.durable.write_atomic`), so a reader never sees half a file, and writers of the
    same key (concurrent runs, ranks) are harmless: each rename is whole, and they write the same
    content-keyed value. A read checks the entry: a file that is empty, truncated, not JSON, has
    no numeric reward, or whose stored key fields do not hash to its name (a file copied or
    written under the wrong name) is a miss, logged, and overwritten when the value is recomputed.
    """

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(os.path.expanduser(str(root))) if root is not None else None
        self.hits = 0
        self.misses = 0
        #: Entries found unreadable or not matching their key (each also a miss).
        self.bad = 0

    @staticmethod
    def key(fields: Mapping[str, Any]) -> str:
        return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()

    def path(self, key: str) -> Path | None:
        return None if self.root is None else self.root / key[:2] / f"{key}.json"

    def _check(self, key: str, record: Any) -> str | None:
        """Why ``record`` is not a valid entry for ``key`` (None: it is)."""
        if not isinstance(record, dict):
            return f"expected a JSON object, got {type(record).__name__}"
        try:
            reward = float(record["reward"])
        except KeyError:
            return "no reward"
        except (TypeError, ValueError):
            return f"reward {record.get('reward')!r} is not a number"
        if reward != reward:  # NaN
            return "reward is NaN"
        fields = record.get("key_fields")
        if not isinstance(fields, dict):  # an entry written before key_fields: its top level holds them
            fields = {k: v for k, v in record.items() if k not in _NOT_KEY_FIELDS}
        if self.key(fields) != key:
            return "its key fields do not hash to its name"
        return None

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        if path is None or not path.is_file():
            self.misses += 1
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            problem = self._check(key, record)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            problem = f"unreadable ({exc})"
        if problem is not None:
            log.warning("baseline cache entry %s: %s; treated as a miss (recomputed and overwritten)", path, problem)
            self.bad += 1
            self.misses += 1
            return None
        self.hits += 1
        return record

    def put(self, key: str, record: Mapping[str, Any], *, key_fields: Mapping[str, Any] | None = None) -> None:
        """Store ``record`` under ``key``; ``key_fields`` (the fields ``key`` was made from) are
        stored with it, so that a read can check that the file holds what its name says."""
        path = self.path(key)
        if path is None:
            return
        if key_fields is not None:
            if self.key(key_fields) != key:
                raise ValueError(f"baseline cache: key {key} is not the hash of the key fields given")
            record = {**record, "key_fields": dict(key_fields)}
        write_atomic(path, json.dumps(dict(record), sort_keys=True, default=str))

    @contextlib.asynccontextmanager
    async def computing(self, key: str, poll_s: float = 0.2) -> AsyncIterator[None]:
        """Hold ``key``'s lock across processes while its value is computed, so that training
        ranks (or runs) sharing the cache pay for a missing baseline once: the caller looks the
        key up again inside, and finds what the holder wrote. An ``flock`` on ``<key>.lock``: a
        process killed while holding it releases it. Waits without blocking the event loop."""
        path = self.path(key)
        if path is None or fcntl is None:
            yield
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(poll_s)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
