"""gcop's pytest fixtures: ``pytest_plugins = ["gcop.testing.plugin"]`` in a conftest, or
``pytest -p gcop.testing.plugin``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fake_anthropic import FakeAnthropic


@pytest.fixture
def fake_anthropic(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    """A started ``FakeAnthropic`` with ``ANTHROPIC_BASE_URL``/``ANTHROPIC_API_KEY`` pointing at it.

    No faults by default; configure with ``fake_anthropic.set_faults(...)``,
    ``.add_schedule(...)``, ``.set_fail_when(...)`` or by setting ``.responder``.
    """
    with FakeAnthropic() as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
        yield fake
