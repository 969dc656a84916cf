"""Inter-Cascade's strategy memory (Wu et al., "Not only a helper, but also a teacher"): the
strategies the strong model wrote for the queries it resolved, retrieved for later queries by
embedding similarity and given to the cheap core.

* **What is stored**: only strategies the strong model wrote, after the project's leak check
  (:func:`gcop.evals.leaks.check_leak`, the check of GRPO's rewards, against the problem they were
  written for, code candidates run in the sandbox): a leaking or
  malformed one is dropped and counted, never stored.
* **Order**: a memory run is a stream. :class:`MemoryCascade` (an Inspect ``SampleSource``) hands
  the samples to Inspect one at a time, in the data set's order (the ``--limit`` / ``--sample-id``
  selection of it), each once the one before has finished, so what a query retrieves depends
  only on the queries before it: the same models and options give the same log and memory,
  whatever ``--max-samples`` is. Each epoch has its own memory (epoch e of a query sees what epoch
  e of the earlier queries stored).
* **Saved**: each sample's metadata records the entry it stored (``memory.stored``), so the
  memory of a run can be rebuilt from its log (:func:`stored_entries`); gcop's Inspect hook
  writes it next to the log as ``<log>.memory.jsonl`` (one stored strategy per line, in stream
  order; the log's ``memory_dropped`` metric counts what the checks dropped).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from inspect_ai import SampleSource
from inspect_ai.dataset import Sample

from gcop.durable import write_atomic

from .icl import Embedder

MEMORY_METADATA_KEY = "memory"
#: Not ``.json``: Inspect (and eval_set) read every ``.json`` in a log folder as a log.
MEMORY_FILE_SUFFIX = ".memory.jsonl"


@dataclass(frozen=True)
class MemoryEntry:
    """One stored strategy: the problem it was written for, where it came from, the text."""

    problem: str
    strategy: str
    source_id: str
    position: int  # the source query's place in the stream (warm-up entries count from -N)
    epoch: int = 1


class StrategyMemory:
    """Strategies kept in stream order, retrieved by cosine similarity of their problems' embeddings."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.entries: list[MemoryEntry] = []
        self._matrix = np.zeros((0, 1), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, entry: MemoryEntry) -> bool:
        """Store ``entry`` (kept sorted by stream position); False when that query's entry is already here."""
        if any(e.source_id == entry.source_id and e.position == entry.position for e in self.entries):
            return False
        row = self.embedder.embed([entry.problem])
        at = sum(e.position <= entry.position for e in self.entries)  # stream order, stable
        self.entries.insert(at, entry)
        self._matrix = row if len(self.entries) == 1 else np.insert(self._matrix, at, row[0], axis=0)
        return True

    def nearest(self, query: str, k: int) -> list[MemoryEntry]:
        """The ``k`` entries whose problems are most similar to ``query`` (earlier entries first on ties)."""
        if k <= 0 or not self.entries:
            return []
        scores = self._matrix @ self.embedder.embed([query])[0]
        order = np.argsort(-scores, kind="stable")
        return [self.entries[i] for i in order[:k]]

    def to_dict(self) -> dict[str, Any]:
        return {"embedder": self.embedder.name, "size": len(self.entries), "entries": [asdict(e) for e in self.entries]}


def entry_from_metadata(metadata: dict[str, Any] | None) -> MemoryEntry | None:
    """The entry a memory sample stored, read back from its metadata (None when it stored none)."""
    stored = ((metadata or {}).get(MEMORY_METADATA_KEY) or {}).get("stored")
    if not isinstance(stored, dict):
        return None
    return MemoryEntry(**{k: stored[k] for k in ("problem", "strategy", "source_id", "position", "epoch") if k in stored})


def warm_entries_from_metadata(metadata: dict[str, Any] | None) -> list[MemoryEntry]:
    warm = ((metadata or {}).get(MEMORY_METADATA_KEY) or {}).get("warm_stored") or []
    return [MemoryEntry(**item) for item in warm if isinstance(item, dict)]


def stored_entries(samples: Iterable[Any], epoch: int = 1) -> tuple[list[MemoryEntry], int]:
    """What a run's memory held at its end (the epoch's warm-up and stored entries, in stream order)
    and how many strategies it dropped, read back from its samples' metadata (``EvalSample``s)."""
    entries: dict[tuple[str, int], MemoryEntry] = {}
    dropped = 0
    for sample in samples:
        if int(getattr(sample, "epoch", 1) or 1) != epoch:
            continue
        record = (sample.metadata or {}).get(MEMORY_METADATA_KEY)
        if not isinstance(record, dict):
            continue
        dropped += int(record.get("dropped") or 0)
        for entry in [*warm_entries_from_metadata(sample.metadata), entry_from_metadata(sample.metadata)]:
            if entry is not None:
                entries[(entry.source_id, entry.position)] = entry
    return sorted(entries.values(), key=lambda e: e.position), dropped


def memory_path(log_location: str) -> str:
    """``logs/x.eval`` -> ``logs/x.memory.jsonl``."""
    base, extension = os.path.splitext(log_location.removeprefix("file://"))
    return (base if extension in (".eval", ".json") else log_location) + MEMORY_FILE_SUFFIX


def save_memory(samples: Sequence[Any], log_location: str) -> str | None:
    """Write the run's final memory (epoch 1) next to its log; None for a remote log location."""
    if "://" in log_location and not log_location.startswith("file://"):
        return None

    entries, _ = stored_entries(samples)
    path = memory_path(log_location)
    # replaced whole (temp file, fsync, rename): a run killed while writing it leaves the old file or none
    write_atomic(path, "".join(json.dumps(asdict(entry)) + "\n" for entry in entries))
    return path


class MemoryCascade(SampleSource):
    """A memory run's state: its samples, handed to Inspect one at a time and in order (see the
    module docstring), one :class:`StrategyMemory` per epoch, ``k`` strategies retrieved per
    query, and the train samples that warm the memory first (``warm``). When Inspect reuses
    samples of an earlier attempt (a retried task), their stored entries are put back, so the
    memory is the one the completed prefix built."""

    def __init__(self, samples: Sequence[Sample], embedder: Callable[[], Embedder], *, k: int = 3,
                 warm: Sequence[Sample] = ()) -> None:
        self.samples = list(samples)
        for position, sample in enumerate(self.samples):
            sample.metadata = {**(sample.metadata or {}), "stream_position": position}
        self.k = k
        self.warm = list(warm)
        self._embedder_factory = embedder
        self._embedder: Embedder | None = None
        self.memories: dict[int, StrategyMemory] = {}
        self.warmed: set[int] = set()
        self._next = 1

    def memory(self, epoch: int) -> StrategyMemory:
        if epoch not in self.memories:
            if self._embedder is None:
                self._embedder = self._embedder_factory()
            self.memories[epoch] = StrategyMemory(self._embedder)
        return self.memories[epoch]

    def initial_samples(self) -> list[Sample]:
        self._next = 1
        return self.samples[:1]

    async def next_samples(self) -> list[Sample] | None:
        if self._next >= len(self.samples):
            return None
        sample = self.samples[self._next]
        self._next += 1
        return [sample]

    async def sample_complete(self, sample: Any) -> list[Sample] | None:
        epoch = int(getattr(sample, "epoch", 1) or 1)
        record = (sample.metadata or {}).get(MEMORY_METADATA_KEY)
        if not isinstance(record, dict):
            return None
        memory = self.memory(epoch)
        if "warm" in record:
            self.warmed.add(epoch)
        for entry in [*warm_entries_from_metadata(sample.metadata), entry_from_metadata(sample.metadata)]:
            if entry is not None:
                memory.add(entry)
        return None
