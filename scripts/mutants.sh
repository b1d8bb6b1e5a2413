#!/usr/bin/env bash
# Mutation testing of the core's pure modules with cargo-mutants: each
# mutant (a `>` made `>=`, a function body replaced by a default, a `+=`
# made `-=`…) is built and the library's unit tests run against it; a
# mutant the tests do not notice ("missed") is a place where the tests do
# not pin the behaviour down. Slow (one build per mutant): not in CI.
#
#   scripts/mutants.sh                          # every file below
#   scripts/mutants.sh src/api/classify.rs      # one file (or several)
#   RE='status_from|prune' scripts/mutants.sh src/health/model.rs
#   EXCLUDE='model\.rs.*status_from' scripts/mutants.sh src/health/*.rs
#
# Settings (environment): JOBS=1 (parallel builds; the machine is shared),
# RE (only mutants whose name matches this regex), EXCLUDE (leave out the
# mutants whose name matches this regex), TESTS (only the unit
# tests whose path contains one of these words, e.g. "api:: health::": the
# tests beside the code, a quicker run per mutant), BASELINE=run (or skip,
# when you know the unit tests pass: saves one build and test run per file;
# then TIMEOUT=300 seconds per test run applies), OUT=target/mutants.
# Runs under `nice -n 19`. The outcome lands in $OUT/mutants.out (caught.txt,
# missed.txt, timeout.txt, unviable.txt, outcomes.json).
#
# Needs cargo-mutants: `cargo install --locked cargo-mutants`.
# Score = caught / (caught + missed); timeouts count as caught (the mutant
# made the tests hang), unviable mutants (do not build) are left out.
# The mutants we know to be equivalent are listed in docs/testing.md.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
JOBS="${JOBS:-1}"
BASELINE="${BASELINE:-run}"
TIMEOUT="${TIMEOUT:-300}"
OUT="${OUT:-$ROOT/target/mutants}"

command -v cargo-mutants >/dev/null || {
    echo "cargo-mutants is not installed: cargo install --locked cargo-mutants" >&2
    exit 2
}

if [ "$#" -gt 0 ]; then
    FILES=("$@")
else
    FILES=(
        src/api/classify.rs
        src/api/sse.rs
        src/health/model.rs
        src/health/window.rs
        src/health/book.rs
        src/health/provider.rs
        src/health/failures.rs
        src/health/status.rs
        src/health/sample.rs
        src/health/snapshot.rs
        src/health/event.rs
        src/probe/mod.rs
        src/probe/cadence.rs
        src/probe/signal.rs
        src/route/plan.rs
    )
fi

ARGS=(--jobs "$JOBS" --baseline "$BASELINE")
[ "$BASELINE" = skip ] && ARGS+=(--timeout "$TIMEOUT")
[ -n "${RE:-}" ] && ARGS+=(--re "$RE")
[ -n "${EXCLUDE:-}" ] && ARGS+=(--exclude-re "$EXCLUDE")

count() { if [ -f "$1" ]; then grep -c "^$2:" "$1" || true; else echo 0; fi; }

# One run over every file: the tree is copied and the library built once,
# then each mutant costs one incremental build.
FILE_ARGS=()
for file in "${FILES[@]}"; do FILE_ARGS+=(--file "$file"); done
mkdir -p "$OUT"
# `--cargo-arg=--lib`: build and run the unit tests only, so each mutant
# costs one build of the library's test binary (not of every integration
# test too) and a few seconds of tests.
TEST_ARGS=()
# shellcheck disable=SC2206 # TESTS is a list of words
[ -n "${TESTS:-}" ] && TEST_ARGS=(-- -- ${TESTS})
nice -n 19 cargo mutants "${ARGS[@]}" --no-shuffle --cargo-arg=--lib "${FILE_ARGS[@]}" --output "$OUT" "${TEST_ARGS[@]}" >&2 || true
m="$OUT/mutants.out"

TOTAL_CAUGHT=0
TOTAL_MISSED=0
echo
for file in "${FILES[@]}"; do
    caught=$(( $(count "$m/caught.txt" "$file") + $(count "$m/timeout.txt" "$file") ))
    missed=$(count "$m/missed.txt" "$file")
    unviable=$(count "$m/unviable.txt" "$file")
    score="$(awk -v c="$caught" -v m="$missed" 'BEGIN { if (c + m) printf "%.0f%%", 100 * c / (c + m); else print "-" }')"
    printf '%-24s %5s caught %4s missed %4s unviable   %s\n' "$file" "$caught" "$missed" "$unviable" "$score"
    TOTAL_CAUGHT=$((TOTAL_CAUGHT + caught))
    TOTAL_MISSED=$((TOTAL_MISSED + missed))
done
awk -v c="$TOTAL_CAUGHT" -v m="$TOTAL_MISSED" 'BEGIN {
    printf "all: %d caught, %d missed: %.0f%% (target 90%%)\n", c, m, (c + m) ? 100 * c / (c + m) : 0 }'
if [ -s "$m/missed.txt" ]; then
    echo "missed (equivalent ones are explained in docs/testing.md):"
    sed 's/^/  /' "$m/missed.txt"
fi
