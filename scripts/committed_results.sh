#!/usr/bin/env bash
# Re-makes the committed leaderboard (results/leaderboard.{md,json,html,svg,png}): the runs this
# project can make with no API key and no network.
#   1. `gcop selfcheck` of HumanEval and KodCode: core mode, gcop/reference (the data sets'
#      reference answers: 100% by construction; it checks data, prompts, extraction, sandbox).
#   2. A grid on the whole GSM8K test split: gcop/reference as the core alone, with 3 retrieved
#      train examples, and guided by gcop/reference's generic strategy; it shows the per-role
#      token split and cost of the guided and ICL rows.
#   3. KodCode's recorded Qwen2.5 solutions (trial 0) replayed as the core with
#      gcop/replay/kodcode-qwen2.5-trial0 and judged by the KodCode task's own tests: a real
#      model's accuracy, re-scored offline.
# Offline models are priced at GCOP_OFFLINE_PRICE: here Claude Haiku 4.5's list price, $1.00 in
# and $5.00 out per M tokens (the default core, results/prices.yaml), to show the cost axis
# (their tokens are whitespace words).
#
#   scripts/committed_results.sh            # Docker sandbox (the default)
#   EXECUTOR=local scripts/committed_results.sh
set -euo pipefail
cd "$(dirname "$0")/.."
data=${GCOP_DATA_DIR:-../shared/data}
executor=${EXECUTOR:-docker}
logs=logs/committed
rm -rf "$logs"
mkdir -p "$logs"
export GCOP_DATA_DIR=$data
export GCOP_OFFLINE_PRICE=${GCOP_OFFLINE_PRICE:-1.00,5.00}

.venv/bin/gcop selfcheck --benchmark humaneval --benchmark kodcode --no-trials --no-leaderboard \
    --executor "$executor" --log-dir "$logs/selfcheck"
.venv/bin/gcop grid --benchmark gsm8k --core gcop/reference --icl --guide reference=gcop/reference \
    --log-dir "$logs/grid-gsm8k" --display none
.venv/bin/python scripts/kodcode_trial_replay.py "$data/kodcode/kodcode_sample.jsonl" "$logs/kodcode_trial0.jsonl"
# 8 of the 152 problems have no trial 0: those samples end in error and are counted apart.
.venv/bin/inspect eval gcop/kodcode --model gcop/replay/kodcode-qwen2.5-trial0 -M path="$logs/kodcode_trial0.jsonl" \
    -T split=all -T mode=core -T executor="$executor" --no-fail-on-error --log-dir "$logs/replay" --display none

.venv/bin/gcop leaderboard "$logs/selfcheck" "$logs/grid-gsm8k" "$logs/replay" --out results --quiet --note \
  "scripts/committed_results.sh, offline, no model API called. gcop/reference rows answer with the data sets' reference solutions (100% by construction; the guided and ICL rows show the per-role token split and cost, not a guide's value). The gcop/replay/kodcode-qwen2.5-trial0 row re-scores KodCode's recorded Qwen2.5 solutions (trial 0; 8 problems have none) with the task's tests. Tokens are whitespace words, priced for illustration at Claude Haiku 4.5's list price (\$1.00/\$5.00 per M tokens, GCOP_OFFLINE_PRICE)."
