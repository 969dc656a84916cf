"""How `gcop train sft|grpo` ends on every rank: the process group is torn down whatever happened,
and only a rank whose run succeeded waits for the others first (a failed rank must not block)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gcop.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, train_models
from gcop.train import distributed
from gcop.train.rewards import UnscorableRewardsError


@pytest.fixture
def closes(monkeypatch) -> list[bool]:
    calls: list[bool] = []
    monkeypatch.setattr(distributed, "close_process_group", lambda *, wait: calls.append(wait))
    return calls


def _result():
    return SimpleNamespace(output_dir="out", steps=2, metrics={"steps": 2}, evaluation=None)


def _raise(exc: Exception):
    def run():
        raise exc
    return run


def test_a_run_that_succeeded_waits_for_the_other_ranks_then_closes(closes, capsys):
    assert train_models._train("sft", _result, (ValueError,), "") == EXIT_OK
    assert closes == [True] and "saved out after 2 step(s)" in capsys.readouterr().out


@pytest.mark.parametrize(("error", "code"), [(ValueError("bad setting"), EXIT_USAGE),
                                             (UnscorableRewardsError("no reward"), EXIT_FAILED)])
def test_a_run_that_failed_closes_without_waiting(closes, error, code):
    assert train_models._train("grpo", _raise(error), (ValueError,), "note") == code
    assert closes == [False]


def test_an_unexpected_error_still_closes_and_propagates(closes):
    with pytest.raises(RuntimeError, match="boom"):
        train_models._train("grpo", _raise(RuntimeError("boom")), (ValueError,), "")
    assert closes == [False]
