#!/usr/bin/env bash
# Runs the benchmark report in quick mode (under 3 minutes on 2 cores once built) and
# writes docs/performance.md. `BENCH_MODE=full benches/run-quick.sh` runs the full mode
# (more samples, the 1 M vs 10 M jobs memory test). Extra arguments go to criterion; a
# filter (e.g. `benches/run-quick.sh fanout`) measures a subset and writes no report.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_MODE="${BENCH_MODE:-quick}"
start=$(date +%s)
cargo bench -p orchestrator-benches --bench report -- "$@"
echo "benches/run-quick.sh: ${BENCH_MODE} mode took $(( $(date +%s) - start )) s (build included)" >&2
