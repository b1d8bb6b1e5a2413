#!/usr/bin/env bash
# Runs the prober against the simulator: 1,000 models at a 1 s interval for
# 30 s (override with MODELS, INTERVAL, DURATION, CONCURRENCY), the simulator
# in its own process so the figures are the prober's alone. Reports probes/s,
# how well the schedule was kept, CPU time and peak RSS (from /proc, and from
# /usr/bin/time -v when it is installed).
set -euo pipefail

MODELS=${MODELS:-1000}
INTERVAL=${INTERVAL:-1s}
DURATION=${DURATION:-30s}
CONCURRENCY=${CONCURRENCY:-64}

cd "$(dirname "$0")/.."
cargo build --release --example prober_load >&2
BIN=${CARGO_TARGET_DIR:-target}/release/examples/prober_load

SIM_OUT=$(mktemp)
cleanup() {
    if [[ -n "${SIM_PID:-}" ]]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
    rm -f "$SIM_OUT"
}
trap cleanup EXIT

"$BIN" sim --models "$MODELS" >"$SIM_OUT" &
SIM_PID=$!
for _ in $(seq 1 100); do
    [[ -s "$SIM_OUT" ]] && break
    sleep 0.1
done
BASE_URL=$(head -n1 "$SIM_OUT")
[[ -n "$BASE_URL" ]] || { echo "the simulator did not start" >&2; exit 1; }
echo "simulator at $BASE_URL ($MODELS models)" >&2

ARGS=(probe --base-url "$BASE_URL" --models "$MODELS" --interval "$INTERVAL" --duration "$DURATION" --concurrency "$CONCURRENCY")
if [[ -x /usr/bin/time ]]; then
    TIME_OUT=$(mktemp)
    /usr/bin/time -v -o "$TIME_OUT" "$BIN" "${ARGS[@]}"
    echo "--- /usr/bin/time -v (whole prober process, start-up included)"
    grep -E "User time|System time|Percent of CPU|Maximum resident|Elapsed" "$TIME_OUT"
    rm -f "$TIME_OUT"
else
    "$BIN" "${ARGS[@]}"
fi
