"""`accelerate launch --num_processes 2 -m gcop train grpo|sft` on the CPU (two DDP ranks on gloo).

GRPO runs the smoke config as the Advisor recipe (every completion is one core call, no baseline,
no judge), so the calls a correct run makes are known exactly: 2 steps x 16 completions (8 per
rank) = 32 core calls. The ledger must hold all 32, from both ranks, with totals equal to the sum
of its rows; the checkpoints and the model card are written once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, SHARED_DATA, needs_shared_data

pytestmark = [pytest.mark.slow, needs_shared_data]

ACCELERATE = Path(sys.executable).with_name("accelerate")
TORCHRUN = Path(sys.executable).with_name("torchrun")

# Two gloo ranks that end like a training command: rank 0 is still busy (saving) when rank 1 is
# done. Each reports whether the group is still up after close_process_group.
ENDING_RANKS = """
import sys, time, torch, torch.distributed as dist
from gcop.train.distributed import close_process_group
dist.init_process_group("gloo")
value = torch.ones(4)
dist.all_reduce(value)
if dist.get_rank() == 0:
    time.sleep(0.2)
close_process_group(wait=True)
print(f"rank {int(value[0])} up={dist.is_initialized()}")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(stage: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    if shutil.which(str(ACCELERATE)) is None:
        pytest.skip("accelerate is not installed")
    command = [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
               "-m", "gcop", "train", stage, *args, "--use_cpu", "true"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "GCOP_OFFLINE_PRICE": "1,2", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return done


def test_ranks_tear_down_their_process_group_after_the_run(tmp_path):
    # A rank that exits with gloo's threads alive can abort at interpreter exit (SIGABRT), and
    # the launcher then fails a run that succeeded: CI saw it once in ~20 SFT launches.
    if shutil.which(str(TORCHRUN)) is None:
        pytest.skip("torchrun is not installed")
    script = tmp_path / "ending_ranks.py"
    script.write_text(ENDING_RANKS)
    done = subprocess.run([str(TORCHRUN), "--nproc_per_node", "2", "--master_port", str(_free_port()), str(script)],
                          cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    # The two ranks share the pipe and Python writes a line and its newline apart when unbuffered:
    # their lines can interleave ("rank 2 up=Falserank 2 up=False"), so read the reports, not lines.
    assert re.findall(r"rank \d+ up=(?:True|False)", done.stdout) == ["rank 2 up=False"] * 2, done.stdout


def test_grpo_on_two_ranks_writes_one_checkpoint_and_one_ledger_with_every_call(tmp_path):
    out = tmp_path / "grpo"
    done = _launch("grpo", [
        "--config", str(REPO_ROOT / "train/configs/smoke_grpo.yaml"), "--recipe", "advisor",
        "--data_dir", str(SHARED_DATA), "--model_name_or_path", "tiny", "--limit", "8",
        "--output_dir", str(out), "--baseline_cache", str(tmp_path / "baselines"), "--heldout_limit", "0",
        "--max_steps", "2", "--save_steps", "1", "--max_completion_length", "16",
        "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1", "--num_generations", "8",
    ], tmp_path)
    assert done.stdout.count("saved ") == 1, done.stdout[-3000:]  # the summary: main process only
    assert (out / "checkpoint-2" / "trainer_state.json").is_file() and (out / "model.safetensors").is_file()
    record = json.loads((out / "gcop_train.json").read_text())
    assert record["metrics"]["steps"] == 2

    rows = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
    core = [row for row in rows if row.get("phase") == "core"]
    assert len(core) == 2 * 16  # every completion's core call, none lost, none twice
    by_rank = Counter((row["context"]["rank"], row["w"]) for row in core)
    assert sorted(rank for rank, _ in by_rank) == [0, 1] and set(by_rank.values()) == {16}  # each rank its own 16
    assert Counter(row["context"]["step"] for row in core) == {1: 16, 2: 16}
    ledger = json.loads((out / "ledger.json").read_text())  # the summary equals the sum over ranks
    assert ledger["phases"]["core"]["calls"] == 32
    for field in ("input_tokens", "output_tokens"):
        assert ledger["phases"]["core"][field] == sum(row.get(field, 0) for row in core) > 0
    assert ledger["total_usd"] == pytest.approx(sum(row["cost_usd"] for row in rows)) and ledger["total_usd"] > 0


def test_sft_on_two_ranks_writes_one_checkpoint(tmp_path):
    out = tmp_path / "sft"
    done = _launch("sft", [
        "--config", str(REPO_ROOT / "train/configs/smoke_sft.yaml"), "--data_dir", str(SHARED_DATA),
        "--corpus", "synthetic", "--limit", "16", "--model_name_or_path", "tiny", "--output_dir", str(out),
        "--max_steps", "2", "--heldout_limit", "0", "--per_device_train_batch_size", "4",
    ], tmp_path)
    assert done.stdout.count("saved ") == 1, done.stdout[-3000:]
    assert (out / "model.safetensors").is_file() and json.loads((out / "gcop_train.json").read_text())["metrics"]
