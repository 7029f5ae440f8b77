#!/usr/bin/env bash
# Runs the benchmark report and writes docs/performance.md, once per build profile in
# BENCH_PROFILES (default "bench bench-lto": cargo's default release profile, then fat
# LTO with codegen-units = 1); each profile's run adds its section, and the summary at the
# top lines up the goals of every profile. BENCH_MODE=quick (default) or full.
#
#   benches/run-quick.sh                       # quick, both profiles
#   BENCH_MODE=full benches/run-quick.sh       # full, both profiles
#   BENCH_PROFILES=bench benches/run-quick.sh  # one profile
#   benches/run-quick.sh fanout                # a criterion filter: a subset, no report
#
# With valgrind installed, benches/callgrind.sh first counts the instructions of the job
# workloads in the same profile, for the report's section 8 (BENCH_CALLGRIND=0 skips
# it). Timings on this 2-core machine: benches/NOTES.md, "Running".
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_MODE="${BENCH_MODE:-quick}"
export BENCH_PROFILES="${BENCH_PROFILES:-bench bench-lto}"
target="${CARGO_TARGET_DIR:-target}"
filtered=0
for a in "$@"; do
  case $a in -*) ;; *) filtered=1 ;; esac
done
callgrind="${BENCH_CALLGRIND:-auto}"
if [ "$callgrind" = auto ]; then
  if command -v valgrind >/dev/null; then callgrind=1; else callgrind=0; fi
fi
if [ $filtered = 1 ]; then
  callgrind=0
else
  # A profile whose run fails shows as "not measured", not as an older run's section.
  for p in $BENCH_PROFILES; do rm -f "$target/bench-report/$p.md" "$target/bench-report/$p.goals.tsv"; done
fi
all=$(date +%s)
for p in $BENCH_PROFILES; do
  start=$(date +%s)
  cargo bench -p orchestrator-benches --profile "$p" --bench report --no-run
  built=$(date +%s)
  if [ "$callgrind" = 1 ]; then
    BENCH_PROFILE=$p benches/callgrind.sh jobs join worker inline spawn retry tower worker-tower
  fi
  counted=$(date +%s)
  BENCH_PROFILE=$p cargo bench -p orchestrator-benches --profile "$p" --bench report -- "$@"
  echo "benches/run-quick.sh: profile $p, $BENCH_MODE mode: build $((built - start)) s," \
    "callgrind $((counted - built)) s, report $(($(date +%s) - counted)) s" >&2
done
echo "benches/run-quick.sh: $BENCH_MODE mode, profiles $BENCH_PROFILES: $(($(date +%s) - all)) s in all" >&2
