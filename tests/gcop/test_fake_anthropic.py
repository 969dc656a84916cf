"""The fake Anthropic Messages API (gcop.testing.fake_anthropic): the anthropic SDK against it (plain,
streaming, count_tokens, every fault kind), and Inspect evals through it under injected faults,
a permanently failing sample, and eval_retry."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import anthropic
import pytest
from inspect_ai import Task, eval, eval_retry, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import includes
from inspect_ai.solver import generate

from gcop.testing.fake_anthropic import (
    DEFAULT_REPLY,
    FAULT_KINDS,
    FakeAnthropic,
    FaultConfig,
    fast_inspect_retries,
    last_user_text,
    model_is,
    prompt_contains,
)

MODEL = "claude-haiku-4-5"
INSPECT_MODEL = f"anthropic/{MODEL}"
MARKER = "<<FAIL>>"
ERROR_KINDS = set(FAULT_KINDS)



def _messages(text: str = "What is six times seven?") -> list[dict]:
    return [{"role": "user", "content": text}]


def _client(fake: FakeAnthropic, **kwargs) -> anthropic.Anthropic:
    kwargs.setdefault("max_retries", 0)
    return anthropic.Anthropic(base_url=fake.base_url, api_key="fake", **kwargs)


def word_responder(request: dict) -> str:
    """Answers "Say the word: word-N" with the word, so includes() scores it correct."""
    match = re.search(r"word-\d+", last_user_text(request))
    return f"The word is {match.group(0)}." if match else "I do not know."


@task
def fake_words(n: int = 10, fail_index: int = -1) -> Task:
    """n samples; the one at ``fail_index`` carries the permanent-failure marker."""
    samples = [
        Sample(id=i, input=f"Say the word: word-{i}" + (f" {MARKER}" if i == fail_index else ""), target=f"word-{i}")
        for i in range(n)
    ]
    return Task(dataset=samples, solver=generate(), scorer=includes())


# --------------------------------------------------------------------------- the SDK against the fake


def test_sdk_create_returns_responder_text_and_usage(fake_anthropic):  # noqa: F811
    fake_anthropic.responder = lambda request: f"echo: {last_user_text(request)}"
    client = anthropic.Anthropic(max_retries=0)  # ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY set by the fixture
    message = client.messages.create(
        model=MODEL, max_tokens=64, system="Be brief.", messages=_messages("what is six times seven")
    )
    assert message.type == "message" and message.role == "assistant" and message.model == MODEL
    assert message.id.startswith("msg_") and message.stop_reason == "end_turn"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "echo: what is six times seven"
    # whitespace tokens: system (2) + prompt (5); reply (6)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (7, 6)
    assert fake_anthropic.requests == 1 and fake_anthropic.status_counts == {200: 1}
    assert fake_anthropic.model_counts == {MODEL: 1}


def test_default_reply_and_count_tokens():
    with FakeAnthropic() as fake:
        client = _client(fake)
        message = client.messages.create(model=MODEL, max_tokens=16, messages=_messages())
        assert message.content[0].text == DEFAULT_REPLY
        assert client.messages.count_tokens(model=MODEL, messages=_messages("a b c d")).input_tokens == 4
        assert [r.path for r in fake.records] == ["/v1/messages", "/v1/messages/count_tokens"]
    assert not fake.running


def test_sdk_streaming_yields_the_sse_event_sequence():
    reply = "The answer is forty two, as always."
    with FakeAnthropic(lambda request: reply, stream_chunk_words=2) as fake:
        client = _client(fake)
        with client.messages.stream(model=MODEL, max_tokens=64, messages=_messages()) as stream:
            deltas = list(stream.text_stream)
            final = stream.get_final_message()
        assert "".join(deltas) == reply and len(deltas) == 4
        assert final.content[0].text == reply and final.stop_reason == "end_turn"
        assert (final.usage.input_tokens, final.usage.output_tokens) == (5, 7)

        events = [event.type for event in client.messages.create(model=MODEL, max_tokens=64, messages=_messages(), stream=True)]
        assert events[:2] == ["message_start", "content_block_start"]
        assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
        assert set(events[2:-3]) == {"content_block_delta"}  # (the SDK drops pings)
        assert all(r.stream for r in fake.records) and fake.successes == 2


def test_every_fault_kind_reaches_the_sdk_as_anthropic_would_send_it():
    faults = FaultConfig(retry_after=7)
    with FakeAnthropic(faults=faults) as fake:
        client = _client(fake)

        def create(stream: bool = False):
            if stream:
                with client.messages.stream(model=MODEL, max_tokens=8, messages=_messages()) as s:
                    return s.get_final_message()
            return client.messages.create(model=MODEL, max_tokens=8, messages=_messages())

        fake.add_schedule(["rate_limit"])
        with pytest.raises(anthropic.RateLimitError) as info:
            create()
        assert info.value.status_code == 429 and info.value.response.headers["retry-after"] == "7"
        assert info.value.body["type"] == "error" and info.value.body["error"]["type"] == "rate_limit_error"

        fake.add_schedule(["overloaded"])
        with pytest.raises(anthropic.APIStatusError) as info:
            create()
        assert info.value.status_code == 529 and info.value.body["error"]["type"] == "overloaded_error"

        fake.add_schedule(["api_error"])
        with pytest.raises(anthropic.InternalServerError) as info:
            create(stream=True)
        assert info.value.body["error"]["type"] == "api_error"

        for stream in (False, True):
            fake.add_schedule(["drop"])
            with pytest.raises(anthropic.APIConnectionError):
                create(stream)

        fake.add_schedule(["truncate"])
        with pytest.raises(anthropic.APIConnectionError):  # body cut short of content-length
            create()
        fake.add_schedule(["truncate"])
        with pytest.raises(Exception, match="incomplete chunked read"):  # SSE cut mid-stream
            create(stream=True)

        fake.add_schedule(["stream_error"])
        with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):  # an `event: error` mid-stream
            create(stream=True)

        assert create().content[0].text == DEFAULT_REPLY  # the schedule is used up
        assert fake.status_counts == {429: 1, 529: 1, 500: 1, "drop": 2, 200: 4}
        assert fake.outcome_counts == {
            "rate_limit": 1, "overloaded": 1, "api_error": 1, "drop": 2, "truncate": 2, "stream_error": 1, "ok": 1,
        }


def test_sdk_own_retries_honor_retry_after():
    with FakeAnthropic(faults=FaultConfig(retry_after=0.05), schedule=["rate_limit", "rate_limit"]) as fake:
        client = _client(fake, max_retries=2)  # the SDK default
        start = time.monotonic()
        assert client.messages.create(model=MODEL, max_tokens=8, messages=_messages()).content[0].text == DEFAULT_REPLY
        assert time.monotonic() - start < 1.0  # 2 x 0.05 s, not the SDK's 0.5 s+ backoff
        assert [r.outcome for r in fake.records] == ["rate_limit", "rate_limit", "ok"]
        assert [r.attempt for r in fake.records] == [1, 2, 3] and len({r.fingerprint for r in fake.records}) == 1


def test_slow_replies_are_delayed():
    with FakeAnthropic(faults=FaultConfig(slow_seconds=0.4), schedule=["slow", "ok"]) as fake:
        client = _client(fake)
        times = []
        for _ in range(2):
            start = time.monotonic()
            client.messages.create(model=MODEL, max_tokens=8, messages=_messages())
            times.append(time.monotonic() - start)
        assert times[0] >= 0.4 > times[1]
        assert [r.slow for r in fake.records] == [True, False] and fake.injected == 1


def test_permanent_failure_predicates_change_at_runtime():
    with FakeAnthropic(fail_when=prompt_contains(MARKER)) as fake:
        client = _client(fake, max_retries=1)
        with pytest.raises(anthropic.InternalServerError):
            client.messages.create(model=MODEL, max_tokens=8, messages=_messages(f"hello {MARKER}"))
        assert fake.outcome_counts == {"permanent": 2}  # the SDK's own retry failed too
        assert client.messages.create(model=MODEL, max_tokens=8, messages=_messages("hello")).content

        fake.set_fail_when(model_is("claude-doomed"), status=400)  # non-retryable variant
        with pytest.raises(anthropic.BadRequestError):
            client.messages.create(model="claude-doomed", max_tokens=8, messages=_messages())
        fake.set_fail_when(None)
        client.messages.create(model="claude-doomed", max_tokens=8, messages=_messages(f"hello {MARKER}"))
        assert fake.outcome_counts == {"permanent": 3, "ok": 2}
        assert fake.model_counts == {MODEL: 3, "claude-doomed": 2}


def test_fault_draws_are_deterministic_per_request_and_seed():
    def outcomes(seed: int) -> list[str]:
        with FakeAnthropic(faults=FaultConfig.uniform(0.6, seed=seed, slow=0.2, slow_seconds=0)) as fake:
            client = _client(fake)
            for i in range(8):
                for _ in range(3):  # three attempts of the same request
                    try:
                        client.messages.create(model=MODEL, max_tokens=8, messages=_messages(f"q{i}"))
                    except anthropic.APIError:
                        pass
            return [f"{r.outcome}{'+slow' if r.slow else ''}" for r in fake.records]

    first = outcomes(seed=1)
    assert first == outcomes(seed=1) and first != outcomes(seed=2)
    assert ERROR_KINDS & set(first) and "ok" in first

    # the cap: after 2 injected faults a request is served
    with FakeAnthropic(faults=FaultConfig(api_error=1.0, max_faults_per_request=2)) as fake:
        client = _client(fake)
        for _ in range(2):
            with pytest.raises(anthropic.InternalServerError):
                client.messages.create(model=MODEL, max_tokens=8, messages=_messages())
        client.messages.create(model=MODEL, max_tokens=8, messages=_messages())
        assert [r.outcome for r in fake.records] == ["api_error", "api_error", "ok"]

    with pytest.raises(ValueError):
        FaultConfig(rate_limit=0.7, drop=0.7)


def test_bad_requests_and_auth():
    with FakeAnthropic(api_key="sekret") as fake:
        with pytest.raises(anthropic.AuthenticationError):
            _client(fake).messages.create(model=MODEL, max_tokens=8, messages=_messages())
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="sekret", max_retries=0)
        with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
            client.post("/v1/messages", body={"model": MODEL, "messages": _messages()}, cast_to=object)
        with pytest.raises(anthropic.NotFoundError):
            client.post("/v1/nope", body={}, cast_to=object)
        assert fake.outcome_counts == {"unauthorized": 1, "bad_request": 1, "not_found": 1}


def test_cli_serves_until_interrupted():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gcop.testing.fake_anthropic", "--port", "0", "--reply", "hi from cli"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        base_url = proc.stdout.readline().split()[-1]
        assert base_url.startswith("http://127.0.0.1:")
        client = anthropic.Anthropic(base_url=base_url, api_key="fake", max_retries=0)
        assert client.messages.create(model=MODEL, max_tokens=8, messages=_messages()).content[0].text == "hi from cli"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{base_url}/v1/models", timeout=5)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert '"requests": 2' in err


# --------------------------------------------------------------------------- Inspect through the fake


def _model_errors(log) -> int:
    """Failed model-call attempts Inspect recorded (each is one retried fault)."""
    return sum(1 for s in log.samples for e in s.events if e.event == "model" and e.error)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["inspect_retries", "inspect_retries_streaming", "sdk_retries"])
def test_inspect_eval_survives_injected_faults(mode, tmp_path, monkeypatch):
    fast_inspect_retries(monkeypatch)
    streaming = mode == "inspect_retries_streaming"
    sdk_retries = mode == "sdk_retries"
    kinds = ["rate_limit", "overloaded", "api_error", "drop"] + (["truncate", "stream_error"] if streaming else [])
    faults = FaultConfig.uniform(
        0.3, kinds, slow=0.1, slow_seconds=1.0, retry_after=0.05, retry_after_ms=sdk_retries,
        max_faults_per_request=3, seed=7,
    )
    # the first arrivals (the 10 samples' first attempts) get one of each kind, then the rates apply
    schedule = kinds + ["slow"]
    with FakeAnthropic(word_responder, faults=faults, schedule=schedule) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "fake")
        monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
        [log] = eval(
            fake_words(),
            model=INSPECT_MODEL,
            model_base_url=fake.base_url,
            # the SDK retries (default 2) would otherwise absorb faults before Inspect sees them
            model_args={"streaming": streaming, **({} if sdk_retries else {"max_retries": 0})},
            max_retries=5,  # Inspect's retries; > max_faults_per_request
            timeout=60,
            # Haiku 4.5's default max_tokens (64K) is one the SDK refuses to send without streaming
            max_tokens=4096,
            display="none",
            log_dir=str(tmp_path),
        )
        summary = fake.summary()

    assert log.status == "success", log.error
    assert len(log.samples) == 10 and log.results.completed_samples == 10
    assert all(s.error is None and s.scores["includes"].value == "C" for s in log.samples)
    assert log.results.scores[0].metrics["accuracy"].value == 1.0

    faults_seen = sum(summary["outcomes"].get(k, 0) for k in ERROR_KINDS)
    assert summary["outcomes"]["ok"] == 10  # exactly one good reply per sample
    assert summary["requests"] == 10 + faults_seen and summary["slow"] >= 1
    assert {429, 529, 500, "drop"} <= set(summary["status"])
    assert all(r.stream is streaming for r in fake.records)
    if sdk_retries:
        assert _model_errors(log) < faults_seen  # the SDK retried some itself, quickly
    else:
        assert _model_errors(log) == faults_seen  # every fault was an Inspect-level retry
    # usage flows through: whitespace tokens of "Say the word: word-N" (4) and "The word is word-N." (4)
    usage = log.stats.model_usage[INSPECT_MODEL]
    assert (usage.input_tokens, usage.output_tokens) == (40, 40)


@pytest.mark.slow
def test_inspect_attempt_timeout_abandons_a_slow_reply(fake_anthropic, tmp_path, monkeypatch):  # noqa: F811
    fast_inspect_retries(monkeypatch)
    fake_anthropic.responder = word_responder
    fake_anthropic.set_faults(slow_seconds=10)
    fake_anthropic.add_schedule(["slow"])
    start = time.monotonic()
    [log] = eval(
        fake_words(n=1), model=INSPECT_MODEL, model_args={"max_retries": 0},
        attempt_timeout=1, max_retries=2, display="none", log_dir=str(tmp_path),
    )
    assert time.monotonic() - start < 8
    assert log.status == "success" and log.samples[0].scores["includes"].value == "C"
    assert [r.slow for r in fake_anthropic.records] == [True, False]


@pytest.mark.slow
def test_permanent_failure_errors_one_sample_then_eval_retry_completes(fake_anthropic, tmp_path, monkeypatch):  # noqa: F811
    fast_inspect_retries(monkeypatch)
    fake_anthropic.responder = word_responder
    fake_anthropic.set_fail_when(prompt_contains(MARKER))
    fake_anthropic.set_faults(FaultConfig.uniform(0.2, seed=3, max_faults_per_request=1))
    [log] = eval(
        fake_words(fail_index=3),
        model=INSPECT_MODEL,
        model_args={"max_retries": 0},
        max_retries=2,
        fail_on_error=False,  # (a fraction such as 0.2 behaves the same here; True marks the log "error")
        display="none",
        log_dir=str(tmp_path),
    )
    # the run completes; only the marked sample errors, after 1 + max_retries attempts
    assert log.status == "success"
    assert log.results.total_samples == 10 and log.results.completed_samples == 9
    errored = [s for s in log.samples if s.error]
    assert [s.id for s in errored] == [3] and "InternalServerError" in errored[0].error.message
    assert all(s.scores["includes"].value == "C" for s in log.samples if s.id != 3)
    assert fake_anthropic.outcome_counts["permanent"] == 3

    # fix the "outage" and retry: only the errored sample is re-run
    fake_anthropic.set_fail_when(None)
    fake_anthropic.clear_faults()
    before = fake_anthropic.requests
    [retried] = eval_retry(log, display="none", log_dir=str(tmp_path))
    assert fake_anthropic.requests - before == 1
    assert retried.status == "success" and retried.results.completed_samples == 10
    assert all(s.error is None and s.scores["includes"].value == "C" for s in retried.samples)
    assert retried.results.scores[0].metrics["accuracy"].value == 1.0
