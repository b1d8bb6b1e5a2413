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
#
# Settings (environment): JOBS=1 (parallel builds; the machine is shared),
# RE (only mutants whose name matches this regex), BASELINE=run (or skip,
# when you know the unit tests pass: saves one build and test run per file;
# then TIMEOUT=300 seconds per test run applies), OUT=target/mutants.
# Runs under `nice -n 19`. Each file's outcome lands in $OUT/<file>/mutants.out
# (caught.txt, missed.txt, timeout.txt, unviable.txt).
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
        src/probe.rs
        src/route/plan.rs
    )
fi

ARGS=(--jobs "$JOBS" --baseline "$BASELINE")
[ "$BASELINE" = skip ] && ARGS+=(--timeout "$TIMEOUT")
[ -n "${RE:-}" ] && ARGS+=(--re "$RE")

count() { if [ -f "$1" ]; then grep -c . "$1" || true; else echo 0; fi; }

TOTAL_CAUGHT=0
TOTAL_MISSED=0
SUMMARY=()
for file in "${FILES[@]}"; do
    dir="$OUT/$(echo "$file" | tr '/' '_')"
    mkdir -p "$dir"
    echo "=== $file" >&2
    # `-- --lib`: the unit tests only, so each mutant costs one build of the
    # library's test binary and a few seconds of tests.
    nice -n 19 cargo mutants "${ARGS[@]}" --file "$file" --output "$dir" -- --lib >&2 || true
    m="$dir/mutants.out"
    caught=$(( $(count "$m/caught.txt") + $(count "$m/timeout.txt") ))
    missed=$(count "$m/missed.txt")
    unviable=$(count "$m/unviable.txt")
    score="$(awk -v c="$caught" -v m="$missed" 'BEGIN { if (c + m) printf "%.0f%%", 100 * c / (c + m); else print "-" }')"
    SUMMARY+=("$(printf '%-24s %6s caught %4s missed %4s unviable   %s' "$file" "$caught" "$missed" "$unviable" "$score")")
    TOTAL_CAUGHT=$((TOTAL_CAUGHT + caught))
    TOTAL_MISSED=$((TOTAL_MISSED + missed))
    if [ "$missed" -gt 0 ]; then
        sed 's/^/    missed: /' "$m/missed.txt" >&2
    fi
done

echo
printf '%s\n' "${SUMMARY[@]}"
awk -v c="$TOTAL_CAUGHT" -v m="$TOTAL_MISSED" 'BEGIN {
    printf "all: %d caught, %d missed: %.0f%% (target 90%%)\n", c, m, (c + m) ? 100 * c / (c + m) : 0 }'
