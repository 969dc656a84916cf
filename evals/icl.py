"""ICL baseline: the k nearest (problem, solution) pairs from the **train** split.

Similarity is the cosine of embeddings. The default embedder is offline and CPU-only: hashed
word uni/bigram TF-IDF vectors (no model download). Any object with ``embed(texts) -> array`` can
replace it, e.g. :class:`SentenceTransformerEmbedder` with a local model or an API embedder.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

import numpy as np

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised row per text."""
        ...


class HashingTfidfEmbedder:
    """Hashed uni+bigram TF-IDF, fitted on the retrieval pool. Deterministic, offline, fast."""

    name = "hashing-tfidf-v1"

    def __init__(self, dims: int = 1 << 15) -> None:
        self.dims = dims
        self._idf: np.ndarray | None = None

    def _features(self, text: str) -> Counter[int]:
        words = [w.lower() for w in _WORD.findall(text)]
        grams = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        return Counter(int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little") % self.dims for g in grams)

    def fit(self, texts: Sequence[str]) -> HashingTfidfEmbedder:
        df = np.zeros(self.dims)
        for text in texts:
            for index in self._features(text):
                df[index] += 1
        self._idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
        return self

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        idf = self._idf if self._idf is not None else np.ones(self.dims)
        matrix = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            for index, count in self._features(text).items():
                matrix[row, index] = (1 + math.log(count)) * idf[index]
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1, norms)


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local path or the Hub (needs the package)."""

    def __init__(self, model: str) -> None:
        from sentence_transformers import SentenceTransformer  # optional dependency

        self.name = f"sentence-transformers:{model}"
        self._model = SentenceTransformer(model, device="cpu")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.encode(list(texts), normalize_embeddings=True), dtype=np.float32)


class Retriever:
    """Nearest (problem, solution) pairs from a pool that must be the train split."""

    def __init__(
        self,
        problems: Sequence[str],
        solutions: Sequence[str],
        ids: Sequence[str],
        embedder: Embedder | None = None,
    ) -> None:
        if not (len(problems) == len(solutions) == len(ids)):
            raise ValueError("problems, solutions and ids must have the same length")
        self.problems, self.solutions, self.ids = list(problems), list(solutions), list(ids)
        if embedder is None:
            embedder = HashingTfidfEmbedder().fit(self.problems)
        self.embedder = embedder
        self._matrix = embedder.embed(self.problems) if self.problems else np.zeros((0, 1))

    def nearest(self, query: str, k: int, *, exclude_ids: Sequence[str] = ()) -> list[tuple[str, str, str]]:
        """``k`` (id, problem, solution) triples by descending cosine similarity."""
        if k <= 0 or not self.problems:
            return []
        scores = self._matrix @ self.embedder.embed([query])[0]
        excluded = set(exclude_ids)
        order = np.argsort(-scores, kind="stable")
        picked = [i for i in order if self.ids[i] not in excluded and self.problems[i].strip() != query.strip()][:k]
        return [(self.ids[i], self.problems[i], self.solutions[i]) for i in picked]
