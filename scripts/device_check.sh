#!/usr/bin/env bash
# Everything a GPU can tell us, in one command (see the device notes in the README):
#   1. the machine: nvidia-smi, torch / CUDA versions
#   2. build vipriors._C in place for this GPU only
#   3. the CUDA tests (kernels against the CPU reference, opcheck, compile)
#   4. the fused mix op against a device-to-device copy and the peers (benchmarks/mix.py)
#   5. training-step images/sec: resnest200e first, then more archs while time allows
# Each step is bounded by `timeout`; a failure is recorded and the next step still runs.
# Results land in $OUT (default ./device-check) as JSON, with summary.json listing every
# step's status. With no GPU (or --dry-run) the CUDA steps are skipped and the rest runs
# on the CPU at toy sizes, so the script itself stays tested.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/device-check}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
DRY=0
[[ "${1:-}" == "--dry-run" ]] && DRY=1
command -v nvidia-smi >/dev/null 2>&1 || DRY=1
START=$(date +%s)
STEPS=()

step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  local began=$(date +%s)
  echo "== $name (limit ${limit}s)"
  timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  local status=ok
  [[ $rc -eq 124 || $rc -eq 137 ]] && status=timeout
  [[ $rc -ne 0 && $status == ok ]] && status=failed
  echo "   $status (rc $rc) in $(( $(date +%s) - began ))s; tail of $name.log:"
  tail -n 5 "$OUT/$name.log" | sed 's/^/   | /'
  STEPS+=("{\"step\": \"$name\", \"status\": \"$status\", \"rc\": $rc, \"seconds\": $(( $(date +%s) - began ))}")
}

if [[ $DRY -eq 1 ]]; then
  echo "device_check: no GPU (or --dry-run): CUDA steps skipped, CPU toy sizes"
  step environment 60 "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'gpu', torch.cuda.is_available())"
  # Built beside the results, not in place: a dry run never replaces the package's extension.
  step build 900 env TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" "$PY" setup.py build_ext \
       --build-lib "$OUT/build" --build-temp "$OUT/build-temp"
  step mix_benchmark 300 "$PY" benchmarks/mix.py --device cpu --batch 4 --size 32 --classes 10 --runs 1 --out "$OUT/mix.json"
  step train_step 300 "$PY" benchmarks/train_step.py --device cpu --archs pyramidnet56_a48_cifar --size 16 --batch 4 \
       --classes 10 --variants plain,eager+cl+bf16+mix --runs 1 --steps 1 --warmup 1 --out "$OUT/train_step.json"
else
  step environment 60 bash -c "nvidia-smi; $PY -c \"import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())\""
  step build 300 env TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" MAX_JOBS=16 "$PY" setup.py build_ext --inplace
  step cuda_tests 150 "$PY" -m pytest -q -m cuda tests/test_ops.py tests/test_mix.py --junitxml="$OUT/cuda_tests.xml"
  step mix_benchmark 90 "$PY" benchmarks/mix.py --device cuda --batch 128 --size 224 --runs 20 --out "$OUT/mix.json"
  step train_step_resnest200e 150 "$PY" benchmarks/train_step.py --device cuda --archs resnest200e --size 224 --batch 128 \
       --variants plain,ours,eager+nchw+bf16+mix,compiled+cl+bf16+mix --warmup 3 --steps 10 --runs 3 --out "$OUT/train_step_resnest200e.json"
  LEFT=$(( 450 - ($(date +%s) - START) ))
  if (( LEFT > 60 )); then
    step train_step_others $LEFT "$PY" benchmarks/train_step.py --device cuda --archs resnet50,resnest101e,densenet161,sepyramidnet200_a300 \
         --size 224 --batch 128 --variants plain,ours --warmup 3 --steps 10 --runs 3 --out "$OUT/train_step_others.json"
  fi
fi

{
  echo "{\"dry_run\": $DRY, \"seconds\": $(( $(date +%s) - START )), \"steps\": ["
  (IFS=,; echo "${STEPS[*]}")
  echo "]}"
} >"$OUT/summary.json"
echo "device_check: done in $(( $(date +%s) - START ))s; results in $OUT"
grep -q '"failed"\|"timeout"' "$OUT/summary.json" && exit 1
exit 0
