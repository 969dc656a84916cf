"""gcop/readers.py: one JSON Lines rule and one KEY=VALUE reading for every part of gcop."""

from __future__ import annotations

import gzip
import json

import pytest

from gcop.readers import JsonlLineError, key_value, read_jsonl

LINES = ['{"id": "a", "x": 1}', "", '{"id": "b", ', "[1, 2]", "   ", '{"id": "c"}']


def test_read_jsonl_keeps_good_lines_and_names_each_bad_one(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(LINES) + "\n")
    records, bad = read_jsonl(path)
    assert records == [(1, {"id": "a", "x": 1}), (6, {"id": "c"})]
    assert [(e.line, e.message.split(" (")[0]) for e in bad] == [(3, "not valid JSON"), (4, "expected a JSON object, got list")]
    assert str(bad[0]).startswith(f"{path}:3: not valid JSON (")
    assert str(JsonlLineError(str(path), 7, "missing", field="answer")) == f"{path}:7: answer: missing"
    gz = tmp_path / "f.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as f:
        f.write("\n".join(LINES) + "\n")
    assert read_jsonl(gz)[0] == records
    with pytest.raises(OSError):
        read_jsonl(tmp_path / "missing.jsonl")


def test_key_value_reads_values_as_inspect_reads_task_args():
    assert key_value("limit=3") == ("limit", 3)
    assert key_value("flag=true") == ("flag", True)
    assert key_value("split=test") == ("split", "test")
    assert key_value("x=1e-5")[1] == "1e-5"  # YAML 1.1, as Inspect: no dot, a string
    assert key_value("note=a=b") == ("note", "a=b")
    assert key_value("empty=") == ("empty", None) and key_value("gone=null") == ("gone", None)
    assert key_value("bad=[1, 2") == ("bad", "[1, 2")  # not YAML: kept as given
    for text in ("novalue", "=3"):
        with pytest.raises(ValueError, match=r"-T takes KEY=VALUE, got"):
            key_value(text, flag="-T")


def test_every_reader_applies_the_same_rule(tmp_path):
    """The accepted corpus, replay recordings and acceptance state keep their good lines and
    report the same bad line the same way."""
    import warnings

    from gcop.evals.providers import ReplayModel
    from gcop.train.accept import load_state
    from gcop.train.sft import CorpusError, load_corpus

    path = tmp_path / "f.jsonl"
    good = {"id": "p1", "completion": "\\boxed{1}", "problem": "1?", "benchmark": "gsm8k",
            "guide_output": "<think>\nt\n</think>\n<strategy>\n1. Add.\n</strategy>"}
    path.write_text(json.dumps(good) + "\n{broken\n[1]\n")
    rows, skipped = load_corpus(path)
    assert rows == [good] and skipped == {"not valid JSON": 1, "expected a JSON object, got list": 1}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        replay = ReplayModel("replay", path=str(path))
    assert list(replay.records) == [("p1", "core", None)]
    message = str(caught[0].message)
    assert f"{path}:2: not valid JSON" in message and f"{path}:3: expected a JSON object" in message
    assert list(load_state(path)) == ["p1"]
    path.write_text("{broken\n")
    with pytest.raises(CorpusError, match="not valid JSON"):
        load_corpus(path)
