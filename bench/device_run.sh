#!/usr/bin/env bash
# One call on a lent GPU machine (shared/DEVICE.md): GPU-marked tests, then the longconv, paper and
# paper-b1 sweeps with time budgets, then the reports; everything packed under $OUT as it goes, so
# a timeout still returns what finished. Runs from the repo root without installing (PYTHONPATH).
#
#   bench/device_run.sh [OUT_DIR]              # on the GPU machine ($OUT there)
#   DEVICE_RUN_TINY=1 bench/device_run.sh DIR  # dry run on a CPU with tiny sweeps
#
# Budgets (seconds; caps, not targets) can be overridden: BUDGET_PAPER (120), BUDGET_LONGCONV (100),
# BUDGET_PAPER_B1 (70), BUDGET_TESTS (90), BUDGET_REPORT (30 + 20); 0 skips a stage. All together
# they stay under 7.5 minutes, so one device call with timeout_s=500 holds the whole script.
set -u -o pipefail
OUT_DIR=${1:-${OUT:?set OUT or pass a directory}}
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d /tmp/hyena-device-XXXX)
LOG="$OUT_DIR/device.log"
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=Agg PYTHONUNBUFFERED=1
T0=$(date +%s)

log() { echo "[device_run +$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG"; }
pack() { tar czf "$OUT_DIR/runs.tar.gz" -C "$WORK" . 2>>"$LOG"; }
stage() {  # stage NAME TIMEOUT_S COMMAND...: run, log its output, never stop the script
  local name=$1 limit=$2; shift 2
  if [ "$limit" -le 0 ]; then log "skip $name (no budget)"; return; fi
  log "start $name (limit ${limit}s): $*"
  timeout --signal=INT --kill-after=20 "$limit" "$@" 2>&1 | tee -a "$LOG" | tail -n 60
  log "end $name: exit ${PIPESTATUS[0]}"
  pack
}

if [ "${DEVICE_RUN_TINY:-0}" = 1 ]; then  # CPU dry run: same stages, tiny sizes
  LONGCONV=(--preset longconv --seqlens 256,512 --batch 1 --d-model 32 --heads 2 --target-time 0.05)
  PAPER=(--preset paper --seqlens 256,512 --batch 2 --d-model 32 --heads 2 --target-time 0.05)
  PAPER_B1=(--preset paper-b1 --seqlens 256,512 --d-model 32 --heads 2 --target-time 0.05)
  TESTS=(-m gpu -q)
else
  LONGCONV=(--preset longconv --target-time 0.2 --timeout 90 --telemetry)
  PAPER=(--preset paper --target-time 0.2 --timeout 90 --telemetry --stages)
  PAPER_B1=(--preset paper-b1 --target-time 0.2 --timeout 90 --telemetry --stages)
  TESTS=(-m gpu -q --timeout 60)
fi

log "host: $(hostname); $(date -u +%Y-%m-%dT%H:%M:%SZ)"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit,temperature.gpu --format=csv 2>&1 || true; } | tee -a "$LOG"
$PY -m bench env > "$WORK/env-device.json" 2>>"$LOG"
$PY -m bench list 2>&1 | tee -a "$LOG"

stage paper "${BUDGET_PAPER:-120}" $PY -m bench run "${PAPER[@]}" --quiet \
  --time-budget $(( ${BUDGET_PAPER:-120} - 30 )) --out "$WORK/paper"
stage longconv "${BUDGET_LONGCONV:-100}" $PY -m bench run "${LONGCONV[@]}" --quiet \
  --time-budget $(( ${BUDGET_LONGCONV:-100} - 30 )) --out "$WORK/longconv"
stage paper-b1 "${BUDGET_PAPER_B1:-70}" $PY -m bench run "${PAPER_B1[@]}" --quiet \
  --time-budget $(( ${BUDGET_PAPER_B1:-70} - 25 )) --out "$WORK/paper-b1"
stage gpu-tests "${BUDGET_TESTS:-90}" $PY -m pytest "${TESTS[@]}" -p no:cacheprovider
stage report-paper "${BUDGET_REPORT:-30}" $PY -m bench report "$WORK/paper" "$WORK/paper-b1" --out "$WORK/report-paper"
stage report-longconv "${BUDGET_REPORT:-20}" $PY -m bench report "$WORK/longconv" --out "$WORK/report-longconv"
log "done in $(( $(date +%s) - T0 ))s"
pack
