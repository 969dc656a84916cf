"""Shared test helpers: where the shared data lives and whether Docker can be used."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

#: The repository root.
REPO_ROOT = Path(__file__).resolve().parents[1]

#: The data folder beside the checkout (``GCOP_TEST_SHARED_DATA`` moves it: pointing it at a
#: missing folder shows which tests need the data and that the others still run).
SHARED_DATA = Path(os.environ.get("GCOP_TEST_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")

needs_shared_data = pytest.mark.skipif(
    not (SHARED_DATA / "kodcode" / "kodcode_sample.jsonl").is_file(), reason=f"no shared data at {SHARED_DATA}"
)


@functools.lru_cache(maxsize=1)
def docker_ready() -> bool:
    """A Docker engine answers and the sandbox image exists (CI builds it before the tests)."""
    from gcop.sandbox.executors import docker_image_available

    return docker_image_available()


def mock_output(content: str, model: str = "mockllm/model", input_tokens: int = 10, output_tokens: int = 5):
    """A mockllm output with explicit usage (without it, mockllm downloads a tokenizer to count)."""
    from inspect_ai.model import ModelOutput, ModelUsage

    output = ModelOutput.from_content(model, content)
    output.usage = ModelUsage(input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens)
    return output


@pytest.fixture(autouse=True, scope="session")
def _inspect_logs_out_of_the_working_folder(tmp_path_factory):
    """Inspect writes to ./logs when a call gives no log folder: the tests never touch the user's."""
    patch = pytest.MonkeyPatch()
    patch.setenv("INSPECT_LOG_DIR", str(tmp_path_factory.mktemp("inspect-logs")))
    yield
    patch.undo()
