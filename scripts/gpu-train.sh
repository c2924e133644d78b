#!/usr/bin/env bash
# Train a config on a GPU machine for a fixed wall-clock budget and bring its weights back.
#
#   scripts/gpu-train.sh pack CONFIG [BUDGET_MB]       here: pack CONFIG's sets into .carry/data (default 9 MiB)
#   scripts/gpu-train.sh run MINUTES OUT [TRAIN_ARGS]  on the GPU machine: train .carry/data/config.yaml for
#                                                      MINUTES from the shipped restora-denoise, export
#                                                      OUT/<name>.safetensors with its log.csv and curve.png
#
# The GPU machine sees the repository alone (64 MiB with the weights), hence the packing; ignore .carry in git
# (it is in .gitignore) and name it in the device call's carry list. TRAIN_ARGS go to `restora train`, e.g.
# `--device cpu --max-steps 3` for a dry run on the CPU. The machine's own python3 must hold torch; the rest of
# Restora's needs come from the wheels in .carry/wheels when that folder exists.
# Environment: PYTHON (default python3), CARRY (default .carry), INIT_FROM (default the shipped restora-denoise;
# empty: train from scratch).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 pack CONFIG [BUDGET_MB] | run MINUTES OUT [TRAIN_ARGS...]" >&2; exit 2; }
PYTHON=${PYTHON:-python3}
CARRY=${CARRY:-.carry}
INIT_FROM=${INIT_FROM-src/restora/weights/restora-denoise.safetensors}

case "${1:-}" in
  pack)
    [ $# -ge 2 ] && [ $# -le 3 ] || usage
    [ -f "$2" ] || { echo "$0: no config $2" >&2; exit 2; }
    rm -rf "$CARRY/data"
    PYTHONPATH=src "$PYTHON" -m restora.train.pack "$2" "$CARRY/data" --budget-mb "${3:-9}"
    ;;
  run)
    [ $# -ge 3 ] || usage
    minutes=$2; out=$3; shift 3
    [[ "$minutes" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "$0: MINUTES must be a number, not '$minutes'" >&2; exit 2; }
    config="$CARRY/data/config.yaml"
    [ -f "$config" ] || { echo "$0: no $config: run '$0 pack CONFIG' first" >&2; exit 2; }
    mkdir -p "$out"
    if [ -d "$CARRY/wheels" ]; then
      "$PYTHON" -m pip install -q --no-index --no-deps --target /tmp/restora-site "$CARRY"/wheels/*.whl
      export PYTHONPATH=/tmp/restora-site
    fi
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" RESTORA_DATA="$(cd "$CARRY/data" && pwd)" PYTHONUNBUFFERED=1
    runs=$(mktemp -d)
    name=$("$PYTHON" -c "import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))['name'])" "$config")
    init=()
    [ -n "$INIT_FROM" ] && init=(--init-from "$INIT_FROM")
    "$PYTHON" -m restora.train "$config" --run-dir "$runs/$name" --minutes "$minutes" "${init[@]}" "$@" \
      | tee "$out/train.log"
    "$PYTHON" -c "import sys; from restora.cli import main; sys.argv[0] = 'restora'; main()" \
      export "$runs/$name" -o "$out/$name.safetensors"
    cp "$runs/$name/log.csv" "$out/"
    cp "$runs/$name/curve.png" "$out/" 2>/dev/null || true
    ;;
  *) usage ;;
esac
