#!/usr/bin/env bash
# Every speed measurement of RESULTS.md (methods, ONNX Runtime, Ray batch) in one run, for a QUIET machine (training paused, no
# other jobs): at most 12 minutes. Results: benchmarks/results/speed-<date>/ (json + md), summary printed.
#
#   benchmarks/speed_window.sh             # the real measurement (~12 min); records ~/.cache/restora/onnx_speed.json
#   QUICK=1 benchmarks/speed_window.sh     # tiny sizes, one repeat: checks every step works (numbers meaningless;
#                                          # writes under /tmp, records nothing)
#
# Steps (in this order; times for the real run on the 2-core machine):
#   0. quietness check: CPU used by other processes over 5 s (warns above 10%; every figure also carries
#      "other CPU", the share of the cores other work used while it was measured).
#   1. Ray batch against the in-process engine at 1 and 2 threads, and kill half-way + restart
#      (benchmarks/ray_batch.py: 24 files of 1024², model `fast`) — ~3 min.
#   2. ONNX Runtime against PyTorch for the `fast` config at 1 and 2 threads, 1024² and 2048², interleaved
#      (benchmarks/onnx_speed.py) — ~1.5 min.
#   3. Speed and peak memory per method (restora bench --speed-only): restora-denoise in PyTorch and ONNX
#      Runtime, NLM, BM3D (512² only; cached in benchmarks/cache once measured quietly, so later windows
#      skip it), identity, FFDNet — in this order; 512², 1024², 2048² (4096² for methods above 0.2 MP/s, at
#      2 threads); 1 and 2 threads; median of 3 runs (2 once 20 s of runs are timed at a size, 1 at 4096²)
#      — ~8 min. It gets the time left of the 12 minutes minus the last step's and stops there: what it
#      could not measure is listed as such (on a first window that may be FFDNet's last rows).
#   4. this machine's onnx_speed.json (what --runtime auto reads) from steps 2 and 3 (restora-denoise's 1024²/2048² rows),
#      and summary.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
TOTAL=${TOTAL:-720}          # seconds for the whole window
STAMP=$(date +%Y-%m-%d-%H%M)
export OMP_NUM_THREADS=1     # each step sets its own thread counts; nothing else may grab both cores
if [[ "${QUICK:-0}" == 1 ]]; then
  OUT=${OUT:-/tmp/restora-speed-quick-$STAMP}
  RAY_ARGS=(--files 6 --size 192 --timeout 300)
  ONNX_ARGS=(--sizes 128 --repeats 1)
  BENCH_ARGS=(--sizes 64,128 --repeats 1 --cache "$OUT/cache")
  RECORD=(--sizes 128)
  MODE="QUICK=1 "
  TOTAL=${TOTAL_QUICK:-1500}  # the shared machine is busy: a QUICK run is slow, and not timed
else
  OUT=${OUT:-benchmarks/results/speed-$STAMP}
  RAY_ARGS=(--files 24 --size 1024 --timeout 150)
  ONNX_ARGS=(--sizes 1024,2048 --repeats 3)
  BENCH_ARGS=(--sizes 512,1024,2048,4096 --repeats 3 --speed-budget 20 --cache benchmarks/cache)
  RECORD=(--sizes 1024,2048 --record)
  MODE=""
fi
mkdir -p "$OUT"
START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
say() { printf '\n== [%4ss] %s\n' "$(elapsed)" "$*"; }

say "0. machine and quietness ($OUT)"
"$PY" - "$OUT/machine.json" <<'EOF'
import json, os, subprocess, sys, time
from pathlib import Path

def busy():
    f = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(f[:8]) - f[3] - f[4]

b0, t0 = busy(), time.time()
time.sleep(5)
other = (busy() - b0) / os.sysconf("SC_CLK_TCK") / ((time.time() - t0) * os.cpu_count())
cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
            if l.startswith("model name")), "unknown")
top = subprocess.run(["ps", "-eo", "pcpu,pid,args", "--sort=-pcpu"], capture_output=True, text=True).stdout.splitlines()[:6]
info = {"cpu": cpu, "cores": os.cpu_count(), "busy_before": round(other, 3), "load_average": os.getloadavg(),
        "top_processes": [l[:160] for l in top], "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
Path(sys.argv[1]).write_text(json.dumps(info, indent=1) + "\n")
print(f"{cpu}, {os.cpu_count()} cores; CPU busy over 5 s: {100 * other:.0f}%; load average {os.getloadavg()[0]:.1f}")
if other > 0.10:
    print("WARNING: the machine is not quiet (other processes use the CPU); the figures will show it:")
    print("\n".join(info["top_processes"]))
EOF

say "1. Ray batch vs in-process, kill and restart"
"$PY" benchmarks/ray_batch.py "${RAY_ARGS[@]}" --workers 1,2 --out "$OUT/ray_batch.json" --md "$OUT/ray_batch.md" \
  > "$OUT/ray_batch.log" 2>&1 || { tail -20 "$OUT/ray_batch.log"; echo "ray_batch failed (log: $OUT/ray_batch.log)"; }
cat "$OUT/ray_batch.md" 2>/dev/null || true

say "2. ONNX Runtime vs PyTorch, fast config"
"$PY" benchmarks/onnx_speed.py --model fast --threads 1,2 "${ONNX_ARGS[@]}" --out "$OUT/onnx_fast.json" \
  > "$OUT/onnx_fast.log" 2>&1 || { tail -20 "$OUT/onnx_fast.log"; echo "onnx_speed failed (log: $OUT/onnx_fast.log)"; }
grep -E '^\|' "$OUT/onnx_fast.log" || true

LEFT=$(( TOTAL - $(elapsed) - 15 ))
say "3. speed and memory per method (time left for it: ${LEFT}s)"
if (( LEFT > 30 )); then
  "$PY" -c "from restora.cli import main; main()" bench --speed-only \
    --methods restora-denoise,nlm,bm3d,identity,ffdnet --runtimes torch,onnx --speed-threads 1,2 \
    "${BENCH_ARGS[@]}" --speed-time-limit "$LEFT" --out "$OUT/bench" 2>&1 | tee "$OUT/bench.log" | grep -E '^speed|unavailable' || true
else
  echo "no time left for the speed table"
fi

say "4. ONNX speed record and summary"
ONNX_FROM=()
[[ -f "$OUT/bench/results.json" ]] && ONNX_FROM+=(--from-bench "$OUT/bench/results.json")
[[ -f "$OUT/onnx_fast.json" ]] && ONNX_FROM+=(--include "$OUT/onnx_fast.json")
if (( ${#ONNX_FROM[@]} )); then
  "$PY" benchmarks/onnx_speed.py "${ONNX_FROM[@]}" "${RECORD[@]}" \
    --out "$OUT/onnx_speed.json" > "$OUT/onnx_speed.log" 2>&1 || tail -5 "$OUT/onnx_speed.log"
fi
{
  echo "# Speed window $STAMP"
  echo
  echo "Command: \`${MODE}benchmarks/speed_window.sh\` (total $(elapsed) s). Machine: see machine.json."
  echo
  "$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print(f\"{m['cpu']}, {m['cores']} cores; CPU busy by other processes before the start: {100*m['busy_before']:.0f}%\")" "$OUT/machine.json"
  echo
  echo "## Ray batch against the in-process engine"
  echo
  cat "$OUT/ray_batch.md" 2>/dev/null || echo "(failed: ray_batch.log)"
  echo
  echo "## ONNX Runtime against PyTorch"
  echo
  grep -E '^\|' "$OUT/onnx_speed.log" 2>/dev/null || echo "(failed: onnx_fast.log, onnx_speed.log)"
  echo
  echo "## Speed and memory per method"
  echo
  sed -n '/^| method | runtime | [0-9]/,/^$/p' "$OUT/bench/results.md" 2>/dev/null || echo "(failed: bench.log)"
  echo "Every measurement: bench/results.md."
} > "$OUT/summary.md"
say "done: $OUT/summary.md"
cat "$OUT/summary.md"
