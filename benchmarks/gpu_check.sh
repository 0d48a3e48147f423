#!/usr/bin/env bash
# The one prepared GPU run (issue 12): CUDA tests, the GPU anchors (importance against the hand-fused
# loop, GEMM rates) and the `gpu` sweep profile. Everything it writes goes under $OUT (at most 8
# files come back from the device machine: the sweep is packed into one archive).
#   OUT=/tmp/gpu bash benchmarks/gpu_check.sh            # dry run on a CPU: DRYRUN=1 shrinks everything
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 VAEBENCH_CACHE=${VAEBENCH_CACHE:-/tmp/vaebench-cache}
PY=${PY:-python3}
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log"; }
if [ "${DRYRUN:-0}" = 1 ]; then
  KS="100 1000"; PROFILE_ARGS=(--config /tmp/gpu-dry.toml); DEVICES="cpu"
  sed -e 's/devices = \["cuda"\]/devices = ["cpu"]/; s/num_samples = \[10, 1000, 100000, 1000000\]/num_samples = [10, 100]/; s/replicates = 3/replicates = 2/' benchmarks/profiles/gpu.toml > /tmp/gpu-dry.toml
else
  KS="1000 10000 100000 1000000"; PROFILE_ARGS=(--profile gpu); DEVICES="cuda"
fi
log "start: $($PY -c 'import torch; print(torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else "no cuda")')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$OUT/run.log" 2>&1 || true

log "1/3 CUDA tests"
timeout 60 $PY -m pytest -q -p no:cacheprovider -x tests/estimators/test_api.py tests/test_sampling.py \
  tests/models/test_linear_gaussian.py "tests/testing/test_conformance.py::test_builtins_conform" \
  -k "cuda or device or dtype or stride" > "$OUT/cuda_tests.log" 2>&1
log "tests rc=$? $(tail -1 "$OUT/cuda_tests.log")"

log "2/3 anchors (and where the time goes)"
timeout 40 $PY -m benchmarks.kernel_profile --out "$OUT" --k 100000 > /dev/null 2>&1 || log "kernel profile failed"
timeout 80 $PY -m benchmarks.anchors --out "$OUT" --devices $DEVICES --ks $KS --repeats 3 \
  > "$OUT/anchors.log" 2>&1
log "anchors rc=$?"

log "3/3 gpu profile"
rm -rf "$OUT/gpu-reference"
timeout ${BENCH_SECONDS:-170} $PY -m vaebench bench "${PROFILE_ARGS[@]}" --out "$OUT/gpu-reference" --quiet > "$OUT/bench.log" 2>&1
rc=$?
log "bench rc=$rc"
# The report is re-rendered here if the sweep stopped early: what finished is kept.
[ $rc -ne 0 ] && $PY -m vaebench report "$OUT/gpu-reference" >> "$OUT/bench.log" 2>&1
log "AIS transition in decoder passes (issue 14; into the archive)"
mkdir -p "$OUT/gpu-reference"
timeout 40 $PY -m benchmarks.ais_transition --out "$OUT/gpu-reference" --device $DEVICES --rows 1600 16000 65536 \
  --repeats 5 >> "$OUT/bench.log" 2>&1 || log "AIS transition failed"
tar czf "$OUT/gpu-reference.tgz" -C "$OUT" gpu-reference && rm -rf "$OUT/gpu-reference"
log "done"
