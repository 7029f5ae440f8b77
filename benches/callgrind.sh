#!/usr/bin/env bash
# Counts instructions (valgrind --tool=callgrind, deterministic, unlike wall-clock time
# on a shared machine) of the report bench's fixed workloads, on tokio current-thread,
# in the build profile BENCH_PROFILE (default `bench`; e.g. `bench-lto`):
#
#   benches/callgrind.sh                              # all workloads
#   benches/callgrind.sh jobs worker                  # some of them
#   BENCH_PROFILE=bench-lto benches/callgrind.sh jobs # in the fat-LTO profile
#
# Workloads (units): jobs, retry, spawn, tower, worker (a resident worker fed by tokio
# mpsc, replying on a oneshot), worker-tower, inline (the executor's future awaited
# directly), join (1 000 dispatches with one key and join: 1 execution) (200 batches of
# 1 000 jobs), jobs-latency (200 000 jobs one at a time),
# orchestrator, orchestrator-unprotected (200 000 round trips in batches of 1 000, with
# and without loop protection),
# fanout, fanout-async-broadcast (1 000 bursts of 256 events to 16 subscribers),
# fanout-1, fanout-async-broadcast-1 (10 000 bursts of 256 events to 1 subscriber).
# Profiles are left in target/callgrind/<profile>/ for callgrind_annotate, with
# summary.tsv (workload, instructions, units), which the report reads for its section 8
# if it is newer than the report binary.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
profile="${BENCH_PROFILE:-bench}"
bin=$(cargo bench -p orchestrator-benches --profile "$profile" --bench report --no-run 2>&1 \
  | sed -n 's/.*Executable .*(\(.*\))/\1/p' | tail -1)
[ -n "$bin" ] || { echo "benches/callgrind.sh: could not build the report bench" >&2; exit 1; }
out="${CARGO_TARGET_DIR:-target}/callgrind/$profile"
mkdir -p "$out"
[ $# -gt 0 ] || set -- jobs jobs-latency retry spawn tower worker worker-tower inline orchestrator \
  orchestrator-unprotected fanout fanout-async-broadcast fanout-1 fanout-async-broadcast-1
summary=$(mktemp)
for w in "$@"; do
  case $w in
    fanout|fanout-async-broadcast) units=4096000 ;;
    fanout-1|fanout-async-broadcast-1) units=2560000 ;;
    *) units=200000 ;;
  esac
  ir=$(BENCH_MODE=profile-$w valgrind --tool=callgrind --callgrind-out-file="$out/$w.out" "$bin" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  echo "$w: $ir instructions, $((ir / units)) per unit ($profile)"
  printf '%s\t%s\t%s\n' "$w" "$ir" "$units" >>"$summary"
done
mv "$summary" "$out/summary.tsv"
