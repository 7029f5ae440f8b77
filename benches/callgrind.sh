#!/usr/bin/env bash
# Counts instructions (valgrind --tool=callgrind, deterministic, unlike wall-clock time
# on a shared machine) of the report bench's fixed workloads, on tokio current-thread:
#
#   benches/callgrind.sh                 # all workloads
#   benches/callgrind.sh jobs spawn      # some of them
#
# Workloads (units): jobs, retry, spawn, tower (200 batches of 1 000 jobs), jobs-latency
# (200 000 jobs one at a time), orchestrator, orchestrator-unprotected (200 000 round trips
# in batches of 1 000, with and without loop protection),
# fanout, fanout-async-broadcast (1 000 bursts of 256 events to 16 subscribers),
# fanout-1, fanout-async-broadcast-1 (10 000 bursts of 256 events to 1 subscriber).
# Profiles are left in target/callgrind/ for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
bin=$(cargo bench -p orchestrator-benches --bench report --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))/\1/p' | tail -1)
out="${CARGO_TARGET_DIR:-target}/callgrind"
mkdir -p "$out"
[ $# -gt 0 ] || set -- jobs jobs-latency retry spawn tower orchestrator orchestrator-unprotected fanout fanout-async-broadcast fanout-1 fanout-async-broadcast-1
for w in "$@"; do
  case $w in
    fanout|fanout-async-broadcast) units=4096000 ;;
    fanout-1|fanout-async-broadcast-1) units=2560000 ;;
    *) units=200000 ;;
  esac
  ir=$(BENCH_MODE=profile-$w valgrind --tool=callgrind --callgrind-out-file="$out/$w.out" "$bin" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  echo "$w: $ir instructions, $((ir / units)) per unit"
done
