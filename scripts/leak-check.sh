#!/usr/bin/env bash
# Leak check: the soak (tests/tests/soak.rs, every runtime) under valgrind's memcheck, or
# under LeakSanitizer with `--lsan` (nightly). docs/reliability.md has the results.
#
#   scripts/leak-check.sh [--lsan] [TEST_FILTER...]
#
#   ORCH_SOAK_JOBS   jobs per runtime (default here 2000: valgrind runs ~50x slower)
#   ORCH_SOAK_SEED   the soak's seed
#   CARGO_TARGET_DIR as usual (the LSan build goes to its own subdirectory)
#
# valgrind mode (the default): installs valgrind with apt-get when missing (as root),
# builds the soak test binary (debug), runs it under
#   valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1
# and fails on any definitely or indirectly lost block (memory nothing points to any
# more: a leak). "Possibly lost" blocks are reported and accepted, except when their
# allocation stack goes through orchestrator-core or orchestrator-std: at exit they are
# the global state of async-std's and smol's executors and of glibc's thread cache, held
# by threads still alive (pointers into the middle of their blocks). The soak itself checks,
# with a counting allocator, that the heap returns to its baseline on every runtime.
#
# lsan mode: RUSTFLAGS=-Zsanitizer=leak on nightly (`rustup toolchain install nightly`);
# LeakSanitizer reports only unreachable memory and exits non-zero on a leak.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

MODE=valgrind
if [[ "${1:-}" == "--lsan" ]]; then
    MODE=lsan
    shift
fi
export ORCH_SOAK_JOBS="${ORCH_SOAK_JOBS:-2000}"
START=$SECONDS

if [[ "$MODE" == lsan ]]; then
    NIGHTLY="${MIRI_TOOLCHAIN:-nightly}"
    HOST="$(rustc -vV | sed -n 's/^host: //p')"
    echo "leak-check: LeakSanitizer, $ORCH_SOAK_JOBS jobs per runtime"
    # Own target dir: the sanitizer flags would otherwise rebuild the main one.
    RUSTFLAGS="-Zsanitizer=leak" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/lsan" \
        cargo "+$NIGHTLY" test --target "$HOST" -p orchestrator-tests --test soak -- --test-threads=1 "$@"
    echo "leak-check: no leak (LeakSanitizer), $((SECONDS - START)) s"
    exit 0
fi

if ! command -v valgrind >/dev/null; then
    if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind
    else
        echo "leak-check: valgrind is not installed (apt-get install valgrind)" >&2
        exit 2
    fi
fi

# The test binary: the `executable` of the `soak` test target in cargo's JSON messages.
BIN="$(cargo test -p orchestrator-tests --test soak --no-run --message-format=json |
    grep '"name":"soak"' | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d'"' -f4)"
if [[ -z "$BIN" || ! -x "$BIN" ]]; then
    echo "leak-check: could not find the soak test binary" >&2
    exit 2
fi

LOG="$(mktemp "${TMPDIR:-/tmp}/leak-check.XXXXXX")"
echo "leak-check: valgrind $(valgrind --version | sed 's/^valgrind-//') on $BIN, $ORCH_SOAK_JOBS jobs per runtime (log: $LOG)"
set +e
valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=1 --log-file="$LOG" \
    "$BIN" --test-threads=1 "$@"
STATUS=$?
set -e

grep -A5 'LEAK SUMMARY' "$LOG" | sed 's/^==[0-9]*== *//' || true
grep 'ERROR SUMMARY' "$LOG" | sed 's/^==[0-9]*== *//' || true

# "Possibly lost" blocks allocated through the library crates are not accepted.
OURS="$(awk '
    /^==[0-9]+== $/ { if (record ~ /are possibly lost/ && record ~ /orchestrator_(core|std)::/) print record; record = ""; next }
    { record = record "\n" $0 }
' "$LOG")"
if [[ -n "$OURS" ]]; then
    echo "leak-check: possibly lost blocks allocated by orchestrator-core / orchestrator-std:"
    echo "$OURS"
    STATUS=1
fi

if [[ $STATUS -ne 0 ]]; then
    echo "leak-check: FAILED (status $STATUS), $((SECONDS - START)) s; see $LOG"
    exit 1
fi
echo "leak-check: no leak (valgrind), $((SECONDS - START)) s"
