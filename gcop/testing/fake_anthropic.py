"""A local fake of the Anthropic Messages API, with fault injection.

Runs a stdlib ``ThreadingHTTPServer`` on ``127.0.0.1`` in a background thread and answers
``POST /v1/messages`` (plain JSON and ``"stream": true`` SSE) and ``POST /v1/messages/count_tokens``
the way the anthropic SDK expects. Reply text comes from a pluggable ``responder(request_json) -> str``.

Faults, for exercising retry and error handling end to end (SDK -> Inspect -> eval log):

* ``rate_limit``  429 ``rate_limit_error`` with a ``retry-after`` header
* ``overloaded``  529 ``overloaded_error``
* ``api_error``   500 ``api_error``
* ``drop``        the request is read, then the socket is closed with no response
* ``truncate``    a 200 response is started and the socket is closed mid-body
                  (mid-stream for SSE, short of Content-Length for JSON)
* ``stream_error`` (streaming requests only) a 200 SSE stream that carries an
                  ``event: error`` with ``overloaded_error`` after ``message_start``
* ``slow``        the reply (or the fault) is delayed by ``slow_seconds``

Models, as the current API treats them:

* a **retired** model (``results/models.yaml``: retired on the Claude API) answers
  404 ``not_found_error`` (``model: <name>``), as the real API does; ``retired_models`` overrides the set;
* models that **think by default** (Claude Haiku 5.5, Sonnet 5.5: adaptive thinking unless the
  request turns it off with ``thinking: {"type": "disabled"}`` or ``"between_tools"``), and any
  request with ``thinking: {"type": "enabled" | "adaptive"}``, get a ``thinking`` block of
  ``thinking_words`` words (with a signature) before the text; its tokens are counted in
  ``usage.output_tokens`` and reported in ``usage.output_tokens_details.thinking_tokens``.

They are drawn from per-kind rates (``FaultConfig``) and/or an explicit ``schedule`` consumed in
arrival order. Rate draws are deterministic: each is seeded by ``(seed, request fingerprint,
attempt number of that fingerprint)``, so the same request sees the same fault sequence whatever
the thread interleaving. A *permanent failure* predicate (``fail_when``) makes matching requests
always fail (500 by default), e.g. ``fail_when=prompt_contains("<<FAIL>>")``.

Use it directly::

    with FakeAnthropic(faults=FaultConfig(rate_limit=0.2, seed=1)) as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="fake")

as the ``fake_anthropic`` pytest fixture (:mod:`gcop.testing.plugin`, loaded by the root conftest;
it also sets ``ANTHROPIC_BASE_URL`` and ``ANTHROPIC_API_KEY``), or as a dev server::

    python -m gcop.testing.fake_anthropic --port 8765 --fault-rate 0.3 --seed 0
    ANTHROPIC_BASE_URL=http://127.0.0.1:8765 ANTHROPIC_API_KEY=fake inspect eval ... \\
        --model anthropic/claude-haiku-4-5 -M max_retries=0

Pointing Inspect at it: ``ANTHROPIC_BASE_URL`` (or ``eval(model_base_url=...)`` /
``--model-base-url``) and ``ANTHROPIC_API_KEY=<anything>``. Inspect does not touch the SDK's own
retries (``max_retries=2``, 0.5-8 s backoff honouring ``retry-after``/``retry-after-ms``), so each
Inspect attempt can be up to three HTTP requests; pass ``model_args={"max_retries": 0}`` (``-M
max_retries=0``) to leave retrying to Inspect (``GenerateConfig.max_retries``/``timeout``/
``attempt_timeout``), whose backoff is 3 s, 6 s, ... with up to 3 s jitter (see
``fast_inspect_retries`` for tests).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import http.server
import itertools
import json
import random
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gcop.lifecycle import table

__all__ = [
    "DEFAULT_REPLY",
    "FAULT_KINDS",
    "FakeAnthropic",
    "FaultConfig",
    "RequestRecord",
    "count_tokens",
    "default_responder",

    "fast_inspect_retries",
    "last_user_text",
    "model_is",
    "prompt_contains",
    "prompt_text",
]

DEFAULT_REPLY = "Answer: \\boxed{0}"

#: Fault kinds that replace the normal reply (``slow`` is separate: it only delays).
FAULT_KINDS = ("rate_limit", "overloaded", "api_error", "drop", "truncate", "stream_error")

# status and Anthropic error type for each HTTP-error fault
_ERROR_FAULTS: dict[str, tuple[int, str, str]] = {
    "rate_limit": (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit (fake)"),
    "overloaded": (529, "overloaded_error", "Overloaded (fake)"),
    "api_error": (500, "api_error", "Internal server error (fake)"),
}

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

#: Models with adaptive thinking on when the request does not turn it off.
THINKING_BY_DEFAULT = ("claude-haiku-5-5", "claude-sonnet-5-5", "claude-sonnet-5", "claude-opus-5")


def retired_api_models() -> frozenset[str]:
    """Model ids (without ``anthropic/``) that the Claude API no longer serves, from gcop's table."""

    return frozenset(name.removeprefix("anthropic/") for name, status in table()["models"].items()
                     if status.is_retired and name.startswith("anthropic/"))


def thinks(request: dict[str, Any]) -> bool:
    """Whether the fake thinks for this request (see the module docstring)."""
    kind = (request.get("thinking") or {}).get("type")
    if kind in ("enabled", "adaptive"):
        return True
    if kind in ("disabled", "between_tools"):
        return False
    return str(request.get("model", "")).startswith(THINKING_BY_DEFAULT)


Responder = Callable[[dict[str, Any]], str]
Predicate = Callable[[dict[str, Any]], bool]


# --------------------------------------------------------------------------- request helpers


def _content_text(content: Any) -> str:
    """The text of a message ``content`` / ``system`` value (string or list of blocks)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict):
            if isinstance(block.get("text"), str):
                parts.append(block["text"])
            elif "content" in block:  # tool_result
                parts.append(_content_text(block["content"]))
    return "\n".join(p for p in parts if p)


def prompt_text(request: dict[str, Any]) -> str:
    """All the prompt text of a Messages request: system, then each message's text."""
    parts = [_content_text(request.get("system"))]
    parts += [_content_text(m.get("content")) for m in request.get("messages") or [] if isinstance(m, dict)]
    return "\n".join(p for p in parts if p)


def last_user_text(request: dict[str, Any]) -> str:
    """The text of the last user message ('' if none)."""
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def count_tokens(text: str) -> int:
    """Deterministic token count: whitespace-separated words."""
    return len(text.split())


def prompt_contains(marker: str) -> Predicate:
    """Predicate: the request's prompt text contains ``marker``."""
    return lambda request: marker in prompt_text(request)


def model_is(*names: str) -> Predicate:
    """Predicate: the request is for one of the given model names."""
    wanted = set(names)
    return lambda request: request.get("model") in wanted


def default_responder(request: dict[str, Any]) -> str:  # noqa: ARG001 - responder signature
    return DEFAULT_REPLY


def _fingerprint(request: dict[str, Any]) -> str:
    """Identity of a request across retries: everything but transport-level knobs."""
    body = {k: v for k, v in request.items() if k not in ("stream", "metadata")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- configuration


@dataclass
class FaultConfig:
    """Rates (probabilities per attempt) of each injected fault, and how they behave.

    The error rates (``rate_limit`` .. ``stream_error``) are mutually exclusive outcomes of one draw
    and must sum to <= 1; ``slow`` is drawn independently and delays whatever the outcome is.
    ``stream_error`` applies to streaming requests only (a non-streaming request drawing it gets
    ``overloaded`` instead).
    """

    rate_limit: float = 0.0
    overloaded: float = 0.0
    api_error: float = 0.0
    drop: float = 0.0
    truncate: float = 0.0
    stream_error: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 2.0
    #: ``retry-after`` seconds sent with 429s (the SDK honours it exactly, floats included;
    #: Anthropic sends integers). ``None`` sends no header.
    retry_after: float | None = 1.0
    #: also send ``retry-after-ms`` (the SDK prefers it; Inspect reads only ``retry-after``)
    retry_after_ms: bool = False
    #: send ``x-should-retry: true|false`` on error responses (the SDK obeys it); ``None`` omits it
    x_should_retry: bool | None = None
    #: after this many injected faults (slow included) for one request fingerprint, serve it
    #: normally -- guarantees progress however unlucky the draws. ``None``: no cap.
    max_faults_per_request: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        rates = [getattr(self, k) for k in (*FAULT_KINDS, "slow")]
        if any(r < 0 or r > 1 for r in rates):
            raise ValueError(f"fault rates must be in [0, 1]: {self}")
        if sum(getattr(self, k) for k in FAULT_KINDS) > 1 + 1e-9:
            raise ValueError("the error fault rates must sum to <= 1")

    @classmethod
    def uniform(
        cls, rate: float, kinds: Iterable[str] = ("rate_limit", "overloaded", "api_error", "drop"), **kwargs: Any
    ) -> FaultConfig:
        """``rate`` split evenly across ``kinds`` (default: 429, 529, 500 and dropped connections)."""
        kinds = list(kinds)
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        rates: dict[str, Any] = {k: rate / len(kinds) for k in kinds}
        return cls(**rates, **kwargs)


@dataclass(frozen=True)
class RequestRecord:
    """One request the fake answered (or refused, or dropped)."""

    index: int
    path: str
    model: str | None
    stream: bool
    outcome: str  # "ok" or a fault kind, "permanent", "bad_request", "not_found", "unauthorized"
    status: int | None  # None when the connection was dropped before any status line
    slow: bool
    fingerprint: str | None
    attempt: int  # 1-based attempt number of this fingerprint
    prompt: str = field(repr=False, default="")


@dataclass
class _Plan:
    outcome: str = "ok"
    slow: bool = False


# --------------------------------------------------------------------------- the server


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # A batch of rollouts opens dozens of connections at once; the default backlog (5) drops them.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], fake: FakeAnthropic) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class FakeAnthropic:
    """A fake Anthropic Messages API server on ``127.0.0.1`` (see the module docstring).

    Args:
        responder: ``responder(request_json) -> str``, the reply text (default ``DEFAULT_REPLY``).
        faults: fault rates; change at runtime with ``set_faults``.
        schedule: outcomes for the next requests in arrival order (fault kinds, ``"ok"``,
            ``"slow"`` or ``"slow+<kind>"``), consumed before the rates apply; see ``add_schedule``.
        fail_when: permanent-failure predicate over the request JSON; matching requests always get
            ``permanent_status``. Change at runtime with ``set_fail_when`` (``None`` clears it).
        permanent_status: status of permanent failures (500 ``api_error`` by default; e.g. 400
            for a non-retryable ``invalid_request_error``).
        api_key: if set, requests must carry it (``x-api-key`` or bearer token) or get 401.
        port: 0 picks a free port.
        stream_chunk_words: words per ``text_delta`` event when streaming.
        retired_models: model ids answered with 404 ``not_found_error`` (default: those retired on
            the Claude API per ``results/models.yaml``; ``()`` serves every name).
        thinking_words: words of the thinking block of a request that thinks (see :func:`thinks`).
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        faults: FaultConfig | None = None,
        schedule: Iterable[str] = (),
        fail_when: Predicate | None = None,
        permanent_status: int = 500,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        stream_chunk_words: int = 2,
        retired_models: Iterable[str] | None = None,
        thinking_words: int = 30,
    ) -> None:
        self.responder: Responder = responder or default_responder
        self.host = host
        self.port = port
        self.api_key = api_key
        self.stream_chunk_words = max(1, stream_chunk_words)
        self.retired_models = frozenset(retired_api_models() if retired_models is None else retired_models)
        self.thinking_words = max(1, thinking_words)
        self._lock = threading.RLock()
        self._faults = faults or FaultConfig()
        self._schedule: list[str] = []
        self.add_schedule(schedule)
        self._fail_when = fail_when
        self.permanent_status = permanent_status
        self._attempts: Counter[str] = Counter()
        self._injected: Counter[str] = Counter()
        self._records: list[RequestRecord] = []
        self._ids = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeAnthropic:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"fake-anthropic:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping on a slow reply
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # idle keep-alive connections would otherwise linger
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        """Base URL for the SDK / Inspect (no ``/v1``: the SDK appends it)."""
        return f"http://{self.host}:{self.port}"

    def env(self, api_key: str = "fake") -> dict[str, str]:
        """Environment variables that point Inspect's ``anthropic/`` provider (and the SDK) here."""
        return {"ANTHROPIC_BASE_URL": self.base_url, "ANTHROPIC_API_KEY": self.api_key or api_key}

    # ---------------------------------------------------------------- runtime configuration

    @property
    def faults(self) -> FaultConfig:
        with self._lock:
            return self._faults

    def set_faults(self, faults: FaultConfig | None = None, **changes: Any) -> None:
        """Replace the fault config, or change some of its fields (``set_faults(drop=0.1)``)."""
        with self._lock:
            base = faults or self._faults
            self._faults = dataclasses.replace(base, **changes) if changes else base

    def clear_faults(self) -> None:
        """No more injected faults: rates to zero, schedule emptied (the permanent predicate stays)."""
        with self._lock:
            self._faults = FaultConfig(seed=self._faults.seed)
            self._schedule.clear()

    def add_schedule(self, outcomes: Iterable[str]) -> None:
        """Queue outcomes for the next requests, in arrival order: a fault kind, ``"ok"``,
        ``"slow"`` (a slow success) or ``"slow+<kind>"``."""
        items = list(outcomes)
        for item in items:
            for part in item.split("+"):
                if part not in (*FAULT_KINDS, "ok", "slow"):
                    raise ValueError(f"unknown schedule entry {item!r}")
        with self._lock:
            self._schedule.extend(items)

    @property
    def schedule(self) -> list[str]:
        with self._lock:
            return list(self._schedule)

    def set_fail_when(self, predicate: Predicate | None, status: int | None = None) -> None:
        """Set (or with ``None`` clear) the permanent-failure predicate."""
        with self._lock:
            self._fail_when = predicate
            if status is not None:
                self.permanent_status = status

    # ---------------------------------------------------------------- counters

    @property
    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    @property
    def requests(self) -> int:
        """Requests received on any path (dropped and failed ones included)."""
        with self._lock:
            return len(self._records)

    @property
    def status_counts(self) -> Counter[int | str]:
        """Responses by status code; dropped connections count under ``"drop"``."""
        with self._lock:
            return Counter("drop" if r.status is None else r.status for r in self._records)

    @property
    def outcome_counts(self) -> Counter[str]:
        """Requests by outcome: ``"ok"``, each fault kind, ``"permanent"``, ..."""
        with self._lock:
            return Counter(r.outcome for r in self._records)

    @property
    def model_counts(self) -> Counter[str]:
        with self._lock:
            return Counter(r.model for r in self._records if r.model)

    @property
    def injected(self) -> int:
        """Injected transient faults (error kinds and slow replies; permanent failures excluded)."""
        with self._lock:
            return sum(r.outcome in FAULT_KINDS for r in self._records) + sum(r.slow for r in self._records)

    @property
    def successes(self) -> int:
        with self._lock:
            return sum(r.outcome == "ok" for r in self._records)

    def reset_counters(self) -> None:
        """Forget recorded requests and per-fingerprint attempt counts (config stays)."""
        with self._lock:
            self._records.clear()
            self._attempts.clear()
            self._injected.clear()

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "status": dict(self.status_counts),
            "outcomes": dict(self.outcome_counts),
            "slow": sum(r.slow for r in self.records),
            "models": dict(self.model_counts),
        }

    # ---------------------------------------------------------------- decisions (handler side)

    def _plan(self, request: dict[str, Any], stream: bool) -> tuple[_Plan, str, int, bool]:
        """Decide what one /v1/messages request gets. Returns (plan, fingerprint, attempt, permanent)."""
        fp = _fingerprint(request)
        with self._lock:
            self._attempts[fp] += 1
            attempt = self._attempts[fp]
            predicate = self._fail_when
            faults = self._faults
        if predicate is not None:
            try:
                permanent = bool(predicate(request))
            except Exception:  # noqa: BLE001 - a broken predicate must not kill the server
                permanent = False
            if permanent:
                return _Plan(), fp, attempt, True
        with self._lock:
            scheduled = self._schedule.pop(0) if self._schedule else None
        with self._lock:
            if scheduled is not None:  # explicit: always applied (and counted toward the cap)
                parts = scheduled.split("+")
                outcome = next((p for p in parts if p not in ("slow", "ok")), "ok")
                plan = _Plan(outcome=outcome, slow="slow" in parts)
            else:
                plan = self._draw(faults, fp, attempt)
                cap = faults.max_faults_per_request
                if cap is not None and self._injected[fp] >= cap:
                    plan = _Plan()
            self._injected[fp] += (plan.outcome != "ok") + plan.slow
        if plan.outcome == "stream_error" and not stream:
            plan.outcome = "overloaded"
        return plan, fp, attempt, False

    @staticmethod
    def _draw(faults: FaultConfig, fp: str, attempt: int) -> _Plan:
        rng = random.Random(f"{faults.seed}|{fp}|{attempt}")
        u, s = rng.random(), rng.random()
        acc = 0.0
        outcome = "ok"
        for kind in FAULT_KINDS:
            acc += getattr(faults, kind)
            if u < acc:
                outcome = kind
                break
        return _Plan(outcome=outcome, slow=s < faults.slow)

    def _record(self, **kwargs: Any) -> None:
        with self._lock:
            self._records.append(RequestRecord(index=len(self._records), **kwargs))

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):08d}"


# --------------------------------------------------------------------------- HTTP handler


class _Dropped(Exception):
    """The handler closed the connection on purpose."""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked SSE, like the real API
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server
    timeout = 60  # idle keep-alive connections

    # quiet by default
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        with self.fake._lock:
            self.fake._connections.discard(self.connection)

    @property
    def fake(self) -> FakeAnthropic:
        return self.server.fake

    # ---------------------------------------------------------------- routing

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._read_body()
        self._record_simple(self.path, None, "not_found", 404)
        self._send_error(404, "not_found_error", f"Not found: {self.path}")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        try:
            path = self.path.split("?", 1)[0].rstrip("/")
            raw = self._read_body()
            if not self._authorized():
                self._record_simple(path, None, "unauthorized", 401)
                self._send_error(401, "authentication_error", "invalid x-api-key")
                return
            try:
                request = json.loads(raw or b"{}")
                if not isinstance(request, dict):
                    raise ValueError("body is not a JSON object")
            except ValueError as ex:
                self._record_simple(path, None, "bad_request", 400)
                self._send_error(400, "invalid_request_error", f"There was an issue with the request body: {ex}")
                return
            if path == "/v1/messages":
                self._messages(path, request)
            elif path == "/v1/messages/count_tokens":
                self._count_tokens(path, request)
            else:
                self._record_simple(path, request.get("model"), "not_found", 404)
                self._send_error(404, "not_found_error", f"Not found: {path}")
        except _Dropped:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. attempt_timeout)
            self.close_connection = True

    def _authorized(self) -> bool:
        expected = self.fake.api_key
        if expected is None:
            return True
        key = self.headers.get("x-api-key")
        bearer = self.headers.get("authorization", "")
        return key == expected or bearer == f"Bearer {expected}"

    def _record_simple(self, path: str, model: str | None, outcome: str, status: int) -> None:
        self.fake._record(
            path=path, model=model, stream=False, outcome=outcome, status=status, slow=False, fingerprint=None, attempt=1
        )

    # ---------------------------------------------------------------- endpoints

    def _count_tokens(self, path: str, request: dict[str, Any]) -> None:
        missing = [k for k in ("model", "messages") if k not in request]
        if missing:
            self._record_simple(path, request.get("model"), "bad_request", 400)
            self._send_error(400, "invalid_request_error", f"{missing[0]}: Field required")
            return
        self._record_simple(path, request.get("model"), "ok", 200)
        self._send_json(200, {"input_tokens": count_tokens(prompt_text(request))})

    def _messages(self, path: str, request: dict[str, Any]) -> None:
        fake = self.fake
        model = request.get("model")
        stream = bool(request.get("stream"))
        missing = [k for k in ("model", "max_tokens", "messages") if k not in request]
        if missing:
            self._record_simple(path, model, "bad_request", 400)
            self._send_error(400, "invalid_request_error", f"{missing[0]}: Field required")
            return

        if model in fake.retired_models:
            self._record_simple(path, model, "not_found", 404)
            self._send_error(404, "not_found_error", f"model: {model}")
            return

        plan, fp, attempt, permanent = fake._plan(request, stream)
        prompt = prompt_text(request)
        faults = fake.faults
        outcome = "permanent" if permanent else plan.outcome

        # decide everything (and record it, on arrival) before any slow delay, so a client that
        # gives up on a slow reply still finds the request in the counters
        text = ""
        if outcome in ("ok", "truncate", "stream_error"):
            try:
                text = str(fake.responder(request))
            except Exception as ex:  # noqa: BLE001 - surface responder bugs as API errors
                outcome, text = "responder_error", f"responder raised {type(ex).__name__}: {ex}"
        if outcome == "permanent":
            status: int | None = fake.permanent_status
        elif outcome in _ERROR_FAULTS:
            status = _ERROR_FAULTS[outcome][0]
        elif outcome == "responder_error":
            status = 500
        elif outcome == "drop":
            status = None
        else:
            status = 200
        fake._record(
            path=path, model=model, stream=stream, outcome=outcome, status=status, slow=plan.slow,
            fingerprint=fp, attempt=attempt, prompt=prompt[:200],
        )

        if plan.slow:
            fake._sleep(faults.slow_seconds)

        if outcome == "permanent":
            assert status is not None
            self._send_error(status, _ERROR_TYPES.get(status, "api_error"), "Permanent failure injected by the fake")
            return
        if outcome == "responder_error":
            self._send_error(500, "api_error", text)
            return
        if outcome in _ERROR_FAULTS:
            status, error_type, message = _ERROR_FAULTS[outcome]
            headers: dict[str, str] = {}
            if outcome == "rate_limit" and faults.retry_after is not None:
                ra = faults.retry_after
                headers["retry-after"] = str(int(ra)) if float(ra).is_integer() else f"{ra:g}"
                if faults.retry_after_ms:
                    headers["retry-after-ms"] = f"{ra * 1000:g}"
            if faults.x_should_retry is not None:
                headers["x-should-retry"] = "true" if faults.x_should_retry else "false"
            self._send_error(status, error_type, message, headers)
            return
        if outcome == "drop":
            self._drop()

        # a reply: "ok", "truncate" or "stream_error"
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        usage: dict[str, Any] = {"input_tokens": count_tokens(prompt), "output_tokens": count_tokens(text)}
        if thinks(request):
            thought = " ".join(["Let me work through this step by step."] * 8).split()[: fake.thinking_words]
            thinking = " ".join(thought)
            content.insert(0, {"type": "thinking", "thinking": thinking, "signature": "fake-signature"})
            usage["output_tokens"] += count_tokens(thinking)  # billed as output, as the real API does
            usage["output_tokens_details"] = {"thinking_tokens": count_tokens(thinking)}
        reply = {
            "id": fake._next_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        if stream:
            self._stream(reply, outcome)
        else:
            self._send_json(200, reply, truncate=outcome == "truncate")

    # ---------------------------------------------------------------- writing

    def _read_body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _common_headers(self) -> None:
        self.send_header("request-id", self.fake._next_id("req"))
        self.send_header("anthropic-organization-id", "fake-org")

    def _send_json(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None, truncate: bool = False
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self._common_headers()
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if truncate:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._drop()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(status, {"type": "error", "error": {"type": error_type, "message": message}}, headers)

    def _drop(self) -> None:
        """Close the socket with no (further) response bytes."""
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Dropped

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, name: str, data: dict[str, Any]) -> None:
        self._chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

    def _stream(self, message: dict[str, Any], outcome: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self._common_headers()
        self.end_headers()
        text = message["content"][-1]["text"]
        thinking = message["content"][0] if message["content"][0]["type"] == "thinking" else None
        start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
        start["usage"] = {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 1}
        self._event("message_start", {"type": "message_start", "message": start})
        if outcome == "stream_error":
            error = {"type": "overloaded_error", "message": "Overloaded (fake, mid-stream)"}
            self._event("error", {"type": "error", "error": error})
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        index = 0
        if thinking is not None:
            block = {"type": "thinking", "thinking": "", "signature": ""}
            self._event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
            for piece in _pieces(thinking["thinking"], self.fake.stream_chunk_words):
                delta = {"type": "thinking_delta", "thinking": piece}
                self._event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
            delta = {"type": "signature_delta", "signature": thinking["signature"]}
            self._event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
            self._event("content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        block = {"type": "text", "text": ""}
        self._event("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
        self._event("ping", {"type": "ping"})
        for i, piece in enumerate(_pieces(text, self.fake.stream_chunk_words)):
            delta = {"type": "text_delta", "text": piece}
            self._event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            if outcome == "truncate" and i == 0:
                self._drop()
        if outcome == "truncate":  # empty reply: cut after the block start
            self._drop()
        self._event("content_block_stop", {"type": "content_block_stop", "index": index})
        self._event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {k: v for k, v in message["usage"].items() if k != "input_tokens"},
            },
        )
        self._event("message_stop", {"type": "message_stop"})
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _pieces(text: str, words: int) -> Iterator[str]:
    """Split ``text`` into deltas of ``words`` words, keeping all whitespace (concatenation == text)."""
    if not text:
        return
    tokens: list[str] = []
    current = ""
    for ch in text:
        if ch.isspace() and current and not current[-1].isspace():
            tokens.append(current)
            current = ""
        current += ch
    tokens.append(current)
    for i in range(0, len(tokens), words):
        yield "".join(tokens[i : i + words])


# --------------------------------------------------------------------------- in a child process


def _serve_in_child(conn: Any, make_responder: Callable[..., Responder], args: tuple[Any, ...], latency: float) -> None:
    faults = FaultConfig(slow=1.0, slow_seconds=latency) if latency else FaultConfig()
    with FakeAnthropic(make_responder(*args), faults=faults) as fake:
        conn.send(fake.base_url)
        conn.recv()
        conn.send(fake.summary())


class FakeAnthropicProcess:
    """The fake in a child process, for benchmarks: the client being measured does not share the
    server's GIL. ``make_responder(*args)`` builds the responder in the child (so it must be a
    module-level function and ``args`` picklable); every reply comes after ``latency`` seconds.

        with FakeAnthropicProcess(responder_for, problems, latency=0.5) as fake:
            os.environ.update(fake.env())
            ...
        fake.summary   # the server's summary(), once it has stopped
    """

    def __init__(self, make_responder: Callable[..., Responder], *args: Any, latency: float = 0.0,
                 start_method: str = "spawn") -> None:
        self.make_responder, self.args, self.latency, self.start_method = make_responder, args, latency, start_method
        self.base_url = ""
        self.summary: dict[str, Any] | None = None

    def __enter__(self) -> FakeAnthropicProcess:
        import multiprocessing

        context: Any = multiprocessing.get_context(self.start_method)  # typeshed's BaseContext lacks Process
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_in_child, args=(child, self.make_responder, self.args, self.latency),
                                        daemon=True)
        self._process.start()
        self.base_url = self._conn.recv()
        return self

    def env(self, api_key: str = "fake") -> dict[str, str]:
        return {"ANTHROPIC_BASE_URL": self.base_url, "ANTHROPIC_API_KEY": api_key}

    def __exit__(self, *exc: object) -> None:
        try:
            self._conn.send("stop")
            if self._conn.poll(10):
                self.summary = self._conn.recv()
        finally:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()


# --------------------------------------------------------------------------- test helpers


def fast_inspect_retries(monkeypatch: Any, seconds: float = 0.05) -> None:
    """Make Inspect's anthropic retry backoff a fixed ``seconds`` (tests only).

    Inspect retries with ``wait_exponential_jitter(initial=3, jitter=3)`` (3-6 s, then 6-9 s, ...)
    unless the provider's ``ModelAPI.retry_wait()`` hook returns a tenacity wait; no config or
    env var shortens it, so this patches that hook on ``AnthropicAPI`` via ``monkeypatch``.
    """
    from inspect_ai.model._providers.anthropic import AnthropicAPI
    from tenacity import wait_fixed

    monkeypatch.setattr(AnthropicAPI, "retry_wait", lambda self: wait_fixed(seconds))


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gcop.testing.fake_anthropic", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--reply", default=DEFAULT_REPLY, help="reply text (default: %(default)r)")
    parser.add_argument("--echo", action="store_true", help="reply with the last user message instead of --reply")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="total rate of 429/529/500/drop, split evenly")
    for kind in FAULT_KINDS:
        parser.add_argument(f"--{kind.replace('_', '-')}-rate", type=float, default=None, help=f"rate of {kind} faults")
    parser.add_argument("--slow-rate", type=float, default=0.0)
    parser.add_argument("--slow-seconds", type=float, default=2.0)
    parser.add_argument("--retry-after", type=float, default=1.0, help="retry-after seconds on 429s")
    parser.add_argument("--max-faults-per-request", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fail-marker", default=None, help="requests whose prompt contains this always fail")
    parser.add_argument("--fail-model", action="append", default=[], help="requests for this model always fail")
    parser.add_argument("--permanent-status", type=int, default=500)
    parser.add_argument("--api-key", default=None, help="require this API key")
    parser.add_argument("--verbose", "-v", action="store_true", help="print each request")
    args = parser.parse_args(argv)

    faults = FaultConfig.uniform(args.fault_rate) if args.fault_rate else FaultConfig()
    overrides = {k: getattr(args, f"{k}_rate") for k in FAULT_KINDS if getattr(args, f"{k}_rate") is not None}
    faults = dataclasses.replace(
        faults,
        **overrides,
        slow=args.slow_rate,
        slow_seconds=args.slow_seconds,
        retry_after=args.retry_after,
        max_faults_per_request=args.max_faults_per_request,
        seed=args.seed,
    )
    predicates = ([prompt_contains(args.fail_marker)] if args.fail_marker else []) + (
        [model_is(*args.fail_model)] if args.fail_model else []
    )
    fail_when = (lambda r: any(p(r) for p in predicates)) if predicates else None
    responder: Responder = (lambda r: last_user_text(r)) if args.echo else (lambda r: args.reply)

    fake = FakeAnthropic(
        responder, faults=faults, fail_when=fail_when, permanent_status=args.permanent_status,
        api_key=args.api_key, host=args.host, port=args.port,
    )
    def _interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGTERM, and SIGINT even when a non-interactive shell started us in the background with it ignored
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    fake.start()
    print(f"fake Anthropic API listening on {fake.base_url}", flush=True)
    print(f"  export ANTHROPIC_BASE_URL={fake.base_url} ANTHROPIC_API_KEY={args.api_key or 'fake'}", flush=True)
    print(f"  faults: {faults}", flush=True)
    seen = 0
    try:
        while True:
            time.sleep(0.5)
            if args.verbose:
                records = fake.records
                for r in records[seen:]:
                    print(f"  #{r.index} {r.path} model={r.model} stream={r.stream} -> {r.outcome} ({r.status})"
                          f"{' slow' if r.slow else ''}", flush=True)
                seen = len(records)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
        print(json.dumps(fake.summary(), indent=2), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
