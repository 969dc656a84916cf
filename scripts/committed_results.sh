#!/usr/bin/env bash
# Re-makes the committed leaderboard (reports/leaderboard.{md,json,html,svg,png}): the runs this
# project can make with no API key and no network.
#   1. `gcop selfcheck` of HumanEval and KodCode: core mode, gcop/reference (the data sets'
#      reference answers: 100% by construction; it checks data, prompts, extraction, sandbox).
#   2. A grid on the whole GSM8K test split: gcop/reference as the core alone, with 3 retrieved
#      train examples, and guided by gcop/reference's generic strategy; it shows the per-role
#      token split and cost of the guided and ICL rows.
#   3. KodCode's recorded Qwen2.5 solutions (trial 0) replayed as the core with
#      gcop/replay/kodcode-qwen2.5-trial0 and judged by the KodCode task's own tests: a real
#      model's accuracy, re-scored offline.
#   4. Cascades on the first 200 GSM8K test problems and on KodCode: gcop/noisy (an offline cheap
#      core, right on about half of the problems and not always on the same samples) escalating
#      to gcop/reference (an oracle strong model), at a sweep of thresholds (a curve each), and
#      Inter-Cascade memory rows (the memory cannot be *relevant* here: any strategy helps
#      gcop/noisy, see gcop/providers.py).
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

.venv/bin/gcop grid --benchmark gsm8k --core gcop/noisy --cascade gcop/reference --memory \
    --cascade-threshold 0.5 --cascade-threshold 0.9 --cascade-threshold 1.01 --limit 200 \
    --log-dir "$logs/grid-gsm8k-cascade" --display none
.venv/bin/gcop grid --benchmark kodcode -T split=all --core gcop/noisy --cascade gcop/reference --cascade-rule examples \
    --cascade-threshold 0.5 --cascade-threshold 1.0 --executor "$executor" \
    --log-dir "$logs/grid-kodcode-cascade" --display none

.venv/bin/gcop leaderboard "$logs/selfcheck" "$logs/grid-gsm8k" "$logs/replay" "$logs/grid-gsm8k-cascade" \
    "$logs/grid-kodcode-cascade" --out reports --quiet --note \
  "scripts/committed_results.sh, offline, no model API called. gcop/reference rows answer with the data sets' reference solutions (100% by construction; the guided and ICL rows show the per-role token split and cost, not a guide's value). The gcop/noisy rows (cascade, memory) are an offline cheap core right on about half of the problems (a per-problem chance drawn from its id; a strategy in its prompt halves its mistakes), escalating to gcop/reference at thresholds 0.5/0.9/1.01 (GSM8K, agreement of 3 samples; first 200 test problems) and 0.5/1.0 (KodCode, the statement's examples in the sandbox): they show the mechanics and the cost split of cascades, not a real model's. The gcop/replay/kodcode-qwen2.5-trial0 row re-scores KodCode's recorded Qwen2.5 solutions (trial 0; 8 problems have none) with the task's tests. Tokens are whitespace words, priced for illustration at Claude Haiku 4.5's list price (\$1.00/\$5.00 per M tokens, GCOP_OFFLINE_PRICE)."
