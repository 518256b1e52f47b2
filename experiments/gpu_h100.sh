#!/usr/bin/env bash
# The GPU recipe (issue 22) in one go, on one H100 (about 10 minutes, an UNMEASURED estimate; the
# arithmetic is in experiments/gpu_h100.yaml and configs/pretrain/gpu_h100.yaml):
#   1. corpus: runs/corpus/{shards,tokenizer} are reused when present, else built (configs/corpus/cpu.yaml,
#      a few CPU minutes, not in the 10)
#   2. base: a ~100M WeLM, bf16 (configs/pretrain/gpu_h100.yaml → runs/gpu_h100/base; resumes if interrupted)
#   3. the transfer matrix (experiments/gpu_h100.yaml → runs/experiments/gpu_h100/report/)
#   4. a summary: wall time per stage, tokens/s and MFU of the base and of every unit, the cells
# Run it from the directory that holds (or will hold) runs/, usually the repository root:
#   experiments/gpu_h100.sh 2>&1 | tee gpu_h100.log
# Options (the CPU smoke test, tests/experiment/test_gpu_recipe.py, uses all three):
#   --pretrain-set KEY=VALUE     override a key of configs/pretrain/gpu_h100.yaml (repeatable)
#   --experiment-set KEY=VALUE   override a key of experiments/gpu_h100.yaml (repeatable)
#   --allow-cpu                  run without a CUDA device (only sensible with tiny overrides)
# PYTHON (default python3) is the interpreter that runs `-m weprompt.cli.main`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python3}"
pretrain_config="$repo/configs/pretrain/gpu_h100.yaml"
experiment_config="$repo/experiments/gpu_h100.yaml"
pre=() exp=() allow_cpu=0
while (($#)); do
  case "$1" in
    --pretrain-set) pre+=("${2:?--pretrain-set needs KEY=VALUE}"); shift 2 ;;
    --experiment-set) exp+=("${2:?--experiment-set needs KEY=VALUE}"); shift 2 ;;
    --allow-cpu) allow_cpu=1; shift ;;
    *) echo "gpu_h100.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
sets() { for kv in "$@"; do printf -- '--set\0%s\0' "$kv"; done; }
weprompt() { "$py" -m weprompt.cli.main "$@"; }

if ((!allow_cpu)) && ! "$py" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
  echo "gpu_h100.sh: no CUDA device; the recipe is sized for one H100 (--allow-cpu with tiny overrides for a smoke run)" >&2
  exit 1
fi
"$py" -c 'import torch; print("device:", torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu", "| torch", torch.__version__)'

t0=$SECONDS
if [[ -f runs/corpus/shards/meta.json && -f runs/corpus/tokenizer/tokenizer.model ]]; then
  echo "=== 1/3 corpus: reusing runs/corpus (shards and tokenizer) ==="
else
  echo "=== 1/3 corpus: building runs/corpus (configs/corpus/cpu.yaml) ==="
  weprompt corpus build --config "$repo/configs/corpus/cpu.yaml"
fi
t1=$SECONDS
echo "=== 2/3 base: ${pretrain_config#"$repo"/} ==="
mapfile -d '' pre_args < <(sets "${pre[@]}")
weprompt pretrain --config "$pretrain_config" "${pre_args[@]}"
t2=$SECONDS
echo "=== 3/3 matrix: ${experiment_config#"$repo"/} ==="
mapfile -d '' exp_args < <(sets "${exp[@]}")
weprompt experiment --config "$experiment_config" "${exp_args[@]}"
t3=$SECONDS

base_dir="$("$py" -c 'import sys
from weprompt.pretrain.engine.pretrain import load_pretrain_config
print(load_pretrain_config(sys.argv[1], sys.argv[2:])[0].train.run_dir)' "$pretrain_config" "${pre[@]}")"
exp_dir="$("$py" -c 'import sys
from weprompt.eval.experiment import load_experiment
print(load_experiment(sys.argv[1], sys.argv[2:]).out)' "$experiment_config" "${exp[@]}")"
echo
echo "## Wall time (s): corpus $((t1 - t0)), base $((t2 - t1)), matrix $((t3 - t2)), base + matrix $((t3 - t1))"
echo
"$py" "$repo/tools/recipe_summary.py" --base "$base_dir" --experiment "$exp_dir"
