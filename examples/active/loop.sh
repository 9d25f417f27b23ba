#!/usr/bin/env bash
# Active Instruction Tuning loop on the 10 SuperNI-format tasks in this folder:
#   score -> select -> (train) -> re-score the rest with the trained model -> select -> ...
# Runs end to end on the embedded model. Training is yours: put your trainer where it says, export the
# result as GGUF (or serve it with vLLM / llama.cpp) and pass it as NEXT_MODEL.
#
#   bash examples/active/loop.sh                 # 2 rounds, small settings (a few minutes on 2 cores)
#   ROUNDS=3 K=2 N=10 PERTURB=10 bash examples/active/loop.sh   # the paper's n and K
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-runs/active-loop}"
ROUNDS="${ROUNDS:-2}"; K="${K:-3}"; N="${N:-3}"; PERTURB="${PERTURB:-3}"
MODEL="${MODEL:-local}"
IK="${IK:-instructkit}"

exclude=()
for r in $(seq 1 "$ROUNDS"); do
  dir="$OUT/round$r"
  $IK select active "$HERE" --k "$K" --cls-ratio 0.34 --out "$dir" --model "$MODEL" \
      --instances "$N" --perturbations "$PERTURB" --max-tokens 32 "${exclude[@]}"
  $IK taskmap "$dir/scores.jsonl" --out "$dir/map.png"
  # ---- train here on everything selected so far, e.g.:
  #   cat $OUT/round*/selected_examples.jsonl > $OUT/train_upto_round$r.jsonl
  #   your-trainer --data $OUT/train_upto_round$r.jsonl --init "$MODEL" --save $OUT/model_r$r.gguf
  #   MODEL=local:$OUT/model_r$r.gguf
  MODEL="${NEXT_MODEL:-$MODEL}"
  exclude+=(--exclude "$dir/selected.jsonl")
done
cat "$OUT"/round*/selected_examples.jsonl > "$OUT/selected_all.jsonl"
echo "selected tasks per round:"; for r in $(seq 1 "$ROUNDS"); do
  printf '  round %s: ' "$r"; python3 -c "import json,sys; print(', '.join(json.loads(l)['task_id'] for l in open(sys.argv[1])))" "$OUT/round$r/selected.jsonl"
done
