#!/usr/bin/env bash
# The runs behind benchmarks/RESULTS.md (peers only; our models are added when trained).
# Scores are cached in benchmarks/cache, so a re-run recomputes only what changed.
# BM3D costs ~15-20 CPU-minutes per 68 CBSD68 images and ~25 per 50 PolyU50 pairs at one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1

# Synthetic Gaussian noise, σ=25, CBSD68, with speed and memory.
restora bench --sets CBSD68 --sigmas 25 --methods bm3d,ffdnet,nlm,identity --threads 1 \
  --out benchmarks/results/cbsd68-s25

# Real noise, PolyU50: peers at our estimated σ, and at the oracle σ.
restora bench --sets PolyU50 --methods identity,nlm,ffdnet --oracle nlm,ffdnet --no-speed --threads 1 \
  --out benchmarks/results/polyu50
# BM3D at the estimated σ (~25 CPU-s per pair; its oracle grid would be six more passes, left out).
restora bench --sets PolyU50 --methods identity,nlm,ffdnet,bm3d --oracle none --no-speed --threads 1 \
  --out benchmarks/results/polyu50-bm3d
