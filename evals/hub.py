"""Loading a data set from the Hugging Face Hub at a pinned revision, failing fast: a short TCP
probe of the endpoint first (its verdict reused for a minute), offline mode (the local Hugging Face
cache only) when the environment asks for it or the probe fails, and a clear reason when neither
delivers. :mod:`gcop.evals.data` decides what to load; this module only fetches it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["HUB_PROBE_TIMEOUT_S", "HubUnavailable", "hub_label", "load_from_hub", "maybe_cached", "offline_mode",
           "offline_requested", "probe_hub"]

#: Seconds a TCP probe of the Hub endpoint may take before the Hub counts as unreachable.
HUB_PROBE_TIMEOUT_S = 3.0
# A probe's verdict is reused for this long, so repeated loads do not each wait on it.
_PROBE_TTL_S = 60.0

_TRUE_VALUES = {"1", "ON", "YES", "TRUE"}
_HUB_LOCK = threading.RLock()
_PROBE_CACHE: dict[tuple[str, int], tuple[float, str | None]] = {}


class HubUnavailable(Exception):
    """The Hub (and the local Hugging Face cache) could not deliver a dataset."""


def offline_requested() -> bool:
    """Whether the environment asks for Hub offline mode *now* (``datasets`` reads these
    variables once, at import; they are re-read here on every load). Same precedence as
    ``datasets``: ``HF_DATASETS_OFFLINE`` when set, else ``HF_HUB_OFFLINE`` /
    ``TRANSFORMERS_OFFLINE``."""
    datasets_offline = os.environ.get("HF_DATASETS_OFFLINE")
    if datasets_offline is not None:
        return datasets_offline.strip().upper() in _TRUE_VALUES
    hub = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return hub.strip().upper() in _TRUE_VALUES


def hub_address() -> tuple[str, int]:
    """Host and port a Hub request connects to first: the HTTPS proxy when one is configured,
    else ``$HF_ENDPOINT`` (default https://huggingface.co)."""
    url = ""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        url = os.environ.get(name, "").strip()
        if url:
            break
    if not url:
        url = os.environ.get("HF_ENDPOINT", "").strip() or "https://huggingface.co"
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.hostname or "huggingface.co", port or (443 if parts.scheme == "https" else 80)


def probe_hub(timeout: float = HUB_PROBE_TIMEOUT_S) -> str | None:
    """``None`` when a TCP connection to the Hub endpoint opens within ``timeout`` seconds, else
    why not. Runs in a daemon thread so a hanging DNS lookup cannot stall the caller either."""
    address = hub_address()
    now = time.monotonic()
    cached = _PROBE_CACHE.get(address)
    if cached is not None and now - cached[0] < _PROBE_TTL_S:
        return cached[1]
    outcome: dict[str, BaseException | bool] = {}

    def attempt() -> None:
        try:
            with socket.create_connection(address, timeout=timeout):
                outcome["ok"] = True
        except OSError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=attempt, name="gcop-hub-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    host, port = address
    if outcome.get("ok"):
        verdict: str | None = None
    elif "error" in outcome:
        verdict = f"cannot connect to {host}:{port} ({outcome['error']})"
    else:
        verdict = f"no connection to {host}:{port} within {timeout:g} s"
    _PROBE_CACHE[address] = (now, verdict)
    return verdict


@contextlib.contextmanager
def offline_mode() -> Iterator[None]:
    """Run ``datasets`` / ``huggingface_hub`` in offline mode (local cache only, no requests)
    for the duration, whatever the environment said when they were imported."""
    import datasets.config as datasets_config  # lazy: heavy import
    import huggingface_hub.constants as hub_constants

    targets = [
        (datasets_config, "HF_HUB_OFFLINE"),
        (datasets_config, "HF_DATASETS_OFFLINE"),
        (hub_constants, "HF_HUB_OFFLINE"),
    ]
    with _HUB_LOCK:
        saved = [
            (module, name, getattr(module, name))
            for module, name in targets
            if hasattr(module, name)
        ]
        try:
            for module, name, _ in saved:
                setattr(module, name, True)
            yield
        finally:
            for module, name, value in saved:
                setattr(module, name, value)


def hub_label(path: str, revision: str, split: str) -> str:
    return f"hf://datasets/{path}@{revision}/{split}"


def load_from_hub(path: str, name: str | None, split: str, revision: str) -> Any:
    """``datasets.load_dataset(path, name, split=split, revision=revision)``, failing fast.

    Offline (by environment, or because the endpoint does not answer a short probe) it runs in
    offline mode, so a copy in the local Hugging Face cache still loads. Raises
    :class:`HubUnavailable` with the reason on any failure.
    """
    if offline_requested():
        offline_reason: str | None = "offline mode is set (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)"
    else:
        probe = probe_hub()
        offline_reason = None if probe is None else f"the Hub is unreachable: {probe}"
    if offline_reason is not None and not maybe_cached(path):
        # Offline with nothing of this data set in the Hugging Face caches: say so now, without
        # the second that importing `datasets` costs.
        raise HubUnavailable(f"{offline_reason}; no copy of {path} in the local Hugging Face cache")
    try:
        import datasets  # lazy: heavy, and only needed without a data dir
    except ImportError as exc:
        raise HubUnavailable(f"the 'datasets' package is not installed ({exc})") from exc
    try:
        if offline_reason is None:
            return datasets.load_dataset(path, name, split=split, revision=revision)
        with offline_mode():
            return datasets.load_dataset(path, name, split=split, revision=revision)
    except Exception as exc:  # any failure means "not available from the Hub"
        detail = f"{type(exc).__name__}: {exc}"
        if offline_reason is not None:
            detail = f"{offline_reason}; no usable copy in the local Hugging Face cache ({detail})"
        raise HubUnavailable(detail) from exc


def maybe_cached(path: str) -> bool:
    """Whether the Hugging Face caches may hold ``path`` (owner/name): its folder exists in the
    datasets cache or the hub cache. False means an offline load cannot succeed."""
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    datasets_cache = Path(os.environ.get("HF_DATASETS_CACHE") or home / "datasets")
    hub_cache = Path(os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or home / "hub")
    owner, _, name = path.partition("/")
    candidates = [
        datasets_cache / f"{owner}___{name}".lower(),
        datasets_cache / path.replace("/", "___"),
        hub_cache / f"datasets--{owner}--{name}",
    ]
    return any(candidate.exists() for candidate in candidates)
