#!/usr/bin/env bash
# Everything a GPU can tell us, in one command of at most 450 s:
#   1. the machine: nvidia-smi, torch / CUDA versions
#   2. build vipriors._C in place for this GPU only
#   3. the CUDA tests (kernels bit for bit against the CPU, opcheck, compile)
#   4. compute-sanitizer memcheck over the CUDA kernel tests (a sanitizer that cannot
#      reach the device counts as unavailable, not failed)
#   5. the fused mix op at batch 256 x 224 px: GB/s against a device-to-device copy, and
#      time against the peers (benchmarks/mix.py)
#   6. training-step images/sec: resnest200e first, then more archs while time allows
#   7. the trainer itself on --data synthetic (resnest200e at 224 px with the GPU defaults:
#      bf16, compile, its memory format; CutMix/RICAP, SIA, EMA, evaluation, checkpoints),
#      then a --resume of that run for one more epoch; its log is trainer.jsonl
# Every step is capped by the time left in the budget; a failure is recorded and the next
# step still runs. Results land in $OUT (default ./device-check): device-check.log (every
# step's output), summary.json (each step's status), the benchmarks' JSON and the trainer's
# log, at most 8 files in all. With no GPU (or --dry-run) the CUDA steps are skipped and the rest runs on
# the CPU at toy sizes, so the script itself stays tested.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/device-check}"
mkdir -p "$OUT"
LOG="$OUT/device-check.log"
: >"$LOG"
PY="${PYTHON:-python3}"
BUDGET="${BUDGET:-450}"
DRY=0
[[ "${1:-}" == "--dry-run" ]] && DRY=1
command -v nvidia-smi >/dev/null 2>&1 || DRY=1
START=$(date +%s)
STEPS=()

left() { echo $(( BUDGET - ($(date +%s) - START) )); }

step() {  # step NAME SECONDS COMMAND...: runs for at most SECONDS, or what the budget has left
  local name=$1 limit=$2; shift 2
  local began=$(date +%s) rest
  rest=$(left)
  (( rest < limit )) && limit=$rest
  if (( limit < 10 )); then
    STEPS+=("{\"step\": \"$name\", \"status\": \"skipped\", \"rc\": null, \"seconds\": 0}")
    echo "== $name: skipped, the budget is spent" | tee -a "$LOG"
    return
  fi
  echo "== $name (limit ${limit}s)" | tee -a "$LOG"
  timeout --kill-after=10 "$limit" "$@" >"$OUT/.step.log" 2>&1
  local rc=$?
  local status=ok
  [[ $rc -eq 124 || $rc -eq 137 ]] && status=timeout
  [[ $rc -ne 0 && $status == ok ]] && status=failed
  if [[ $name == sanitizer && $status == failed ]] && grep -q "unavailable\|not supported\|Unable to\|refused" "$OUT/.step.log"; then
    status=unavailable
  fi
  cat "$OUT/.step.log" >>"$LOG"
  echo "   $status (rc $rc) in $(( $(date +%s) - began ))s; tail:" | tee -a "$LOG"
  tail -n 5 "$OUT/.step.log" | sed 's/^/   | /'
  rm -f "$OUT/.step.log"
  STEPS+=("{\"step\": \"$name\", \"status\": \"$status\", \"rc\": $rc, \"seconds\": $(( $(date +%s) - began ))}")
}

RUN="$OUT/.runs"  # the trainer's run folder: only its log comes back
trainer() {  # trainer ARGS...: a fresh run of the synthetic trainer, then a resume for one more epoch
  rm -rf "$RUN"
  step trainer "$1" "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 scripts/train.py --data synthetic \
       --output-dir "$RUN" --name synthetic --epochs 1 "${@:3}"
  step trainer_resume "$2" "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 scripts/train.py \
       --resume "$RUN/synthetic" --epochs 2
  cp "$RUN/synthetic/log.jsonl" "$OUT/trainer.jsonl" 2>/dev/null
  rm -rf "$RUN"
}
MIXED=(--cutmix 0.5 --ricap 0.5 --stubborn-classes 20 --ema-decay 0.999)

if [[ $DRY -eq 1 ]]; then
  echo "device_check: no GPU (or --dry-run): CUDA steps skipped, CPU toy sizes" | tee -a "$LOG"
  step environment 60 "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'gpu', torch.cuda.is_available())"
  # Built beside the results, not in place: a dry run never replaces the package's extension.
  # CPU kernels only: `make setup` compiles the CUDA ones wherever a toolkit is found.
  step build 900 env VIPRIORS_CPU_ONLY=1 "$PY" setup.py build_ext \
       --build-lib "$OUT/build" --build-temp "$OUT/build-temp"
  step mix_benchmark 300 "$PY" benchmarks/mix.py --device cpu --batch 4 --size 32 --classes 10 --runs 1 --out "$OUT/mix.json"
  step train_step 300 "$PY" benchmarks/train_step.py --device cpu --archs pyramidnet56_a48_cifar --size 16 --batch 4 \
       --classes 10 --variants plain,eager+cl+bf16+mix --runs 1 --steps 1 --warmup 1 --out "$OUT/train_step.json"
  trainer 300 300 --arch resnet9s_cifar --image-size 16 --batch-size 8 --synthetic-classes 10 \
       --synthetic-images 48 --compile off "${MIXED[@]}"
else
  step environment 30 bash -c "nvidia-smi; $PY -c \"import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())\""
  step build 180 env TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" MAX_JOBS=16 "$PY" setup.py build_ext --inplace
  step cuda_tests 90 "$PY" -m pytest -q -m cuda tests/test_ops.py tests/test_mix.py tests/test_torch_policy.py
  step sanitizer 60 env PYTORCH_NO_CUDA_MEMORY_CACHING=1 compute-sanitizer --tool memcheck --error-exitcode 1 \
       "$PY" -m pytest -q -m cuda tests/test_ops.py tests/test_mix.py -k "matches_cpu and not 224"
  step mix_benchmark 60 "$PY" benchmarks/mix.py --device cuda --batch 256 --size 224 --runs 20 --out "$OUT/mix.json"
  step train_step_resnest200e 120 "$PY" benchmarks/train_step.py --device cuda --archs resnest200e --size 224 --batch 128 \
       --variants plain,ours,eager+nchw+bf16+mix,compiled+cl+bf16+mix --warmup 3 --steps 10 --runs 3 --out "$OUT/train_step_resnest200e.json"
  trainer 150 90 --arch resnest200e --image-size 224 --batch-size 128 --synthetic-images 5120 "${MIXED[@]}"
  step train_step_others 600 "$PY" benchmarks/train_step.py --device cuda --archs resnet50,resnest101e,densenet161,sepyramidnet200_a300 \
       --size 224 --batch 128 --variants plain,ours --warmup 3 --steps 10 --runs 3 --out "$OUT/train_step_others.json"
fi

{
  echo "{\"dry_run\": $DRY, \"budget_seconds\": $BUDGET, \"seconds\": $(( $(date +%s) - START )), \"steps\": ["
  (IFS=,; echo "${STEPS[*]}")
  echo "]}"
} >"$OUT/summary.json"
echo "device_check: done in $(( $(date +%s) - START ))s; results in $OUT" | tee -a "$LOG"
grep -q '"failed"\|"timeout"' "$OUT/summary.json" && exit 1
exit 0
