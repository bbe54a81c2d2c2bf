#!/usr/bin/env bash
# One call on a lent GPU machine measures everything the GPU issue needs, in the order that loses
# the least to a timeout: the paper verdicts (8k and 64k) first, then the full paper and paper-b1
# sweeps, our timer against triton's do_bench, the Triton core grid that sets hyena-triton's
# dispatch table, a fwd_bwd pass, the GPU-marked tests, and the reports. Every stage packs its
# output under $OUT as it finishes (runs.tar.gz, reports.tar.gz, device.log), so a timeout still
# returns what finished. Runs from the repo root without installing (PYTHONPATH).
#
#   bench/device_run.sh [OUT_DIR]              # on the GPU machine ($OUT there), timeout_s=540
#   DEVICE_RUN_TINY=1 bench/device_run.sh DIR  # dry run on a CPU: same stages, tiny sizes
#
# Budgets (seconds; caps, not targets; 0 skips a stage) can be overridden with BUDGET_<STAGE>:
# VERDICT 70, TARGET 45, PAPER 60, PAPER_B1 30, REPORT 25, TIMER 30, GRID 65, FWD_BWD 30,
# TESTS 45, SCALE 45; with the start (env, list: ~30 s) and the dispatch table (15) the caps sum
# to 490 s, under 8.2 minutes. Each sweep also gets --time-budget (its cap less ROW_MARGIN_S),
# so it stops starting rows before its stage is killed. Only the paper report is drawn here (a
# first look); the other reports are drawn offline from runs.tar.gz (`hyena-bench report
# RUN...`), which costs no device time and gives the same tables.
set -u -o pipefail
OUT_DIR=${1:-${OUT:?set OUT or pass a directory}}
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d /tmp/hyena-device-XXXX)
mkdir -p "$WORK/runs" "$WORK/reports"
LOG="$OUT_DIR/device.log"
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=Agg PYTHONUNBUFFERED=1
T0=$(date +%s)
ROW_MARGIN_S=25  # a sweep stops starting rows this long before its stage is killed: the row in
                 # flight finishes and env.json is written (a B=64 L=64k attention row: ~13 calls of ~0.8 s)

log() { echo "[device_run +$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG"; }
pack() {
  tar czf "$OUT_DIR/runs.tar.gz" -C "$WORK/runs" . 2>>"$LOG"
  tar czf "$OUT_DIR/reports.tar.gz" -C "$WORK/reports" . 2>>"$LOG"
}
stage() {  # stage NAME TIMEOUT_S COMMAND...: run, log its output, never stop the script
  local name=$1 limit=$2; shift 2
  if [ "$limit" -le 0 ]; then log "skip $name (no budget)"; return; fi
  log "start $name (limit ${limit}s): $*"
  timeout --signal=INT --kill-after=15 "$limit" "$@" 2>&1 | tee -a "$LOG" | tail -n 40
  log "end $name: exit ${PIPESTATUS[0]}"
  pack
}
sweep() {  # sweep NAME BUDGET RUN_DIR ARGS...: one `bench run` stage with a matching time budget
  local name=$1 limit=$2 dir=$3; shift 3
  local inner=$(( limit - ${MARGIN:-$ROW_MARGIN_S} ))
  [ "$inner" -lt 5 ] && inner=5
  # shellcheck disable=SC2086  # SWEEP_ENV: an optional `env VAR=value` prefix, split on purpose
  stage "$name" "$limit" ${SWEEP_ENV:-} $PY -m bench run "$@" --quiet --time-budget "$inner" \
    --out "$WORK/runs/$dir"
}
with_rows() {  # the run directories among "$@" that hold at least one row (a report needs rows)
  local d; for d in "$@"; do [ -s "$d/results.jsonl" ] && printf '%s ' "$d"; done
}
report() {  # report NAME OUT_NAME RUN_DIR...: a report over the runs that have rows
  local name=$1 out=$2; shift 2
  local dirs; dirs=$(with_rows "$@")
  if [ -z "$dirs" ]; then log "skip $name (no rows in $*)"; return; fi
  # shellcheck disable=SC2086  # $dirs is a list of paths without spaces (mktemp names)
  stage "$name" "${BUDGET_REPORT:-25}" $PY -m bench report $dirs --out "$WORK/reports/$out"
}
known_ops() {  # the names among "$@" that this checkout registers (a missing plugin is not an error)
  $PY - "$@" <<'PYEOF'
import sys
from operators import registry
names = {s.name for s in registry.specs()}
print(",".join(n for n in sys.argv[1:] if n in names))
PYEOF
}

# Every implementation the table can run on a GPU, at layer level (hyena-naive is O(L^2) conv1d:
# the longconv grid covers it at core level where it can finish). Names this checkout lacks drop.
PAPER_OPS=$(known_ops attention-dense attention-sdpa-math attention-sdpa-efficient \
  attention-sdpa-flash attention-sdpa-cudnn flash-attn2 flash-attn3 flash-attn4 \
  hyena-fft hyena-triton hyena-fused hyena-flashfftconv)
# hyena-compiled is left out: it compiles for tens of seconds per length (opt-in, docs/FUSED.md).
# The fused layer's target shape (issue 15: B=8, D=768, fp16, forward): the Hyenas against the
# fastest attentions at the two lengths of the paper's claims.
TARGET_OPS=$(known_ops hyena-fused hyena-triton hyena-fft hyena-flashfftconv flash-attn3 \
  flash-attn2 attention-sdpa-cudnn attention-sdpa-flash)
GRID_OPS=$(known_ops hyena-triton-toeplitz hyena-triton-monarch hyena-fft)
GRID_LENGTHS=256,384,512,768,1024,1536,2048,3072,4096,6144,8192,12288,16384,32768,65536

if [ "${DEVICE_RUN_TINY:-0}" = 1 ]; then  # CPU dry run: same stages and flags, tiny sizes
  SHAPE=(--d-model 32 --heads 2 --target-time 0.02 --min-reps 3)
  VERDICT=(--preset paper --ops "$PAPER_OPS" --seqlens 256,1024 --batch 2 "${SHAPE[@]}")
  PAPER=(--preset paper --ops "$PAPER_OPS" --seqlens 512 --batch 2 "${SHAPE[@]}")
  PAPER_B1=(--preset paper-b1 --ops "$PAPER_OPS" --seqlens 256,512 "${SHAPE[@]}")
  TARGET=(--ops "$TARGET_OPS" --level layer --dtype fp32 --mode fwd --batch 2 --seqlens 256,512
          "${SHAPE[@]}")
  FWD_BWD=(--preset paper --ops "$PAPER_OPS" --mode fwd_bwd --batch 1 --seqlens 256,512 "${SHAPE[@]}")
  GRID=(--level core --ops "$GRID_OPS" --d-model 32 --heads 2 --dtype fp32 --mode fwd --seqlens 256,384
        --target-time 0.02 --min-reps 3)
  GRID_BATCHES=(2 1)
  GRID_ENV="env TRITON_INTERPRET=1"  # the Triton kernels in the interpreter, so the table is derived
  TIMER=(--device cpu --seqlens 256 --batch 1 --d-model 32 --heads 2 --target-time 0.02)
  TESTS=(-m gpu -q)
  SCALE=(--rows 520 --samples 500)  # 4 settings: the report's pool starts; long series: compare's fast path
else
  VERDICT=(--preset paper --ops "$PAPER_OPS" --seqlens 8k,64k --target-time 0.1 --timeout 60)
  PAPER=(--preset paper --ops "$PAPER_OPS" --seqlens 1k,2k,4k,16k,32k --target-time 0.1 --timeout 60
         --telemetry)
  PAPER_B1=(--preset paper-b1 --ops "$PAPER_OPS" --target-time 0.1 --timeout 60)
  TARGET=(--ops "$TARGET_OPS" --level layer --batch 8 --d-model 768 --heads 12 --dtype fp16
          --mode fwd --seqlens 8k,64k --target-time 0.2 --timeout 60)
  FWD_BWD=(--preset paper --ops "$PAPER_OPS" --mode fwd_bwd --batch 8 --seqlens 1k..16k
           --target-time 0.1 --timeout 60)
  GRID=(--level core --ops "$GRID_OPS" --d-model 768 --dtype fp16 --mode fwd
        --seqlens "$GRID_LENGTHS" --target-time 0.05 --max-call-ms 50 --timeout 60)
  GRID_ENV=""
  GRID_BATCHES=(8 64)  # B=1: predicted Monarch everywhere, as B=8 (triton_dispatch.TABLE)
  TIMER=(--seqlens 4k,16k --batch 8 --d-model 768 --heads 12 --target-time 0.2)
  TESTS=(-m gpu -q --timeout 30)
  SCALE=()
fi

log "host: $(hostname); $(date -u +%Y-%m-%dT%H:%M:%SZ); git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit,temperature.gpu --format=csv 2>&1 || true; } | tee -a "$LOG"
$PY -m bench env > "$WORK/runs/env-device.json" 2>>"$LOG"
$PY -m bench list 2>&1 | tee -a "$LOG"
log "paper ops: $PAPER_OPS"
log "target ops: $TARGET_OPS"
log "grid ops: $GRID_OPS"

# 1. The verdicts: the paper's B=64 setup at the two lengths its claims name, then its other
#    lengths in a second directory (the report concatenates runs of one machine).
sweep verdict "${BUDGET_VERDICT:-70}" paper-verdict "${VERDICT[@]}"
sweep fused-target "${BUDGET_TARGET:-45}" fused-target "${TARGET[@]}"
sweep paper "${BUDGET_PAPER:-60}" paper "${PAPER[@]}"
sweep paper-b1 "${BUDGET_PAPER_B1:-30}" paper-b1 "${PAPER_B1[@]}"
report report-paper paper "$WORK/runs/paper-verdict" "$WORK/runs/paper" "$WORK/runs/paper-b1" \
  "$WORK/runs/fused-target"
# 2. Our CUDA-event timer against triton.testing.do_bench on the same callables.
stage timer-check "${BUDGET_TIMER:-30}" $PY -m bench.timer_check "${TIMER[@]}" \
  --out "$WORK/runs/timer_check.json"
# 3. The Triton core grid: Toeplitz vs Monarch (and torch.fft) per batch; the thresholds it
#    measures are printed as dispatch-table lines (operators/longconv/triton_dispatch.py).
GRID_EACH=$(( ${BUDGET_GRID:-65} / ${#GRID_BATCHES[@]} ))
[ "${BUDGET_GRID:-65}" -le 0 ] && GRID_EACH=0
for b in "${GRID_BATCHES[@]}"; do
  SWEEP_ENV=$GRID_ENV MARGIN=8 sweep "grid-b$b" "$GRID_EACH" "grid-b$b" "${GRID[@]}" --batch "$b"  # rows <= 50 ms
done
GRID_RUNS=$(with_rows "$WORK"/runs/grid-b*)
if [ -n "$GRID_RUNS" ]; then
  # shellcheck disable=SC2086
  stage dispatch-table 15 sh -c "$PY -m operators.longconv.triton_dispatch $GRID_RUNS \
    > $WORK/runs/dispatch_table.txt; cat $WORK/runs/dispatch_table.txt"
fi
# 4. Forward and backward at 1k..16k.
sweep fwd-bwd "${BUDGET_FWD_BWD:-30}" fwd-bwd "${FWD_BWD[@]}"
# 5. The GPU-marked tests (correctness of every GPU kernel against the float64 references).
stage gpu-tests "${BUDGET_TESTS:-45}" $PY -m pytest "${TESTS[@]}" -p no:cacheprovider \
  --junitxml="$WORK/runs/gpu-tests.xml"
# 6. Issue 17's aim on this machine's CPUs: `compare` and `report` of a generated 2,600-row x
#    2,000-sample run (5 s each; the 2-core CI machine cannot draw the report's 80 figures in 5 s).
stage scale "${BUDGET_SCALE:-45}" $PY -m tests.benchmarks.scale_walls "${SCALE[@]}"
log "done in $(( $(date +%s) - T0 ))s"
pack
