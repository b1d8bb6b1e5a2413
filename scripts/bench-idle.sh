#!/usr/bin/env bash
# Idle cost of the dashboard beside `chainwatch watch` (the same engine
# without a screen) on the same config: the release binary watching MODELS
# simulated models at a 60 s probe interval for SECONDS, first the dashboard
# in a detached tmux pane, then `watch` with its output to a file. Reports
# each process's CPU time (user + system, from /proc) and peak RSS (VmHWM),
# and the dashboard's CPU as a multiple of watch's.
#
#   scripts/bench-idle.sh [SECONDS] [MODELS]    (defaults 60 and 1000)
#
# Targets: the dashboard within 1.5× the CPU of `watch`; at 100 models
# < 1% of one core and < 30 MB.
#
# Needs: tmux, Linux /proc. Builds the release binary if needed. Everything
# runs on loopback; state and logs go to a temporary directory.
set -euo pipefail

SECS="${1:-60}"
MODELS="${2:-1000}"
PORT="${BENCH_PORT:-18399}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/chainwatch"
WORK="$(mktemp -d)"
SESSION="cw-idle-$$"
SIM_PID=""
WATCH_PID=""

cleanup() {
    tmux kill-session -t "$SESSION" 2>/dev/null || true
    if [ -n "$WATCH_PID" ]; then kill "$WATCH_PID" 2>/dev/null || true; fi
    if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

command -v tmux >/dev/null || { echo "tmux is needed" >&2; exit 2; }
(cd "$ROOT" && cargo build --release --quiet)

# A scenario and a config with $MODELS steady models.
{
    echo '[server]'
    echo 'require_auth = false'
    for i in $(seq -f %04g 1 "$MODELS"); do
        echo
        echo '[[model]]'
        echo "name = \"model-$i\""
        echo "id = \"sim/model-$i\""
        echo 'provider = "Sim"'
        echo 'ttft = { p50 = "20ms", p95 = "60ms" }'
        echo 'latency = { p50 = "60ms", p95 = "150ms" }'
    done
} > "$WORK/scenario.toml"
{
    printf 'chain = ['
    for i in $(seq -f %04g 1 5); do printf '"model-%s", ' "$i"; done
    printf ']\n\n[probe]\ninterval = "60s"\n\n'
    printf '[[endpoint]]\nname = "sim"\nbase_url = "http://127.0.0.1:%s/v1"\n' "$PORT"
    for i in $(seq -f %04g 1 "$MODELS"); do
        printf '\n[[model]]\nname = "model-%s"\nid = "sim/model-%s"\nendpoint = "sim"\n' "$i" "$i"
    done
} > "$WORK/config.toml"

"$BIN" sim --listen "127.0.0.1:$PORT" --scenario "$WORK/scenario.toml" >"$WORK/sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

HZ="$(getconf CLK_TCK)"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Measures process $1 for $SECS after a start-up pause; prints
# "cpu_seconds wall_seconds hwm_kb rss_kb".
measure() {
    local pid="$1" start end t0 t1
    # Let start-up pass before measuring: the first frame, and the first
    # probes, which the schedule spreads over the interval.
    sleep 5
    start="$(ticks "$pid")"
    t0="$(date +%s.%N)"
    sleep "$SECS"
    end="$(ticks "$pid")"
    t1="$(date +%s.%N)"
    awk -v s="$start" -v e="$end" -v hz="$HZ" -v t0="$t0" -v t1="$t1" \
        -v hwm="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")" \
        -v rss="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")" \
        'BEGIN { printf "%.3f %.1f %d %d\n", (e - s) / hz, t1 - t0, hwm, rss }'
}

# The dashboard. `exec` makes the pane's process the dashboard itself; on
# failure the pane stays to show why.
mkdir -p "$WORK/dash"
tmux new-session -d -s "$SESSION" -x 120 -y 40 \
    "exec env HOME=$WORK/dash XDG_STATE_HOME=$WORK/dash/state XDG_CONFIG_HOME=$WORK/dash/cfg $BIN --config $WORK/config.toml 2>$WORK/err.txt"
sleep 1
PID="$(tmux display-message -p -t "$SESSION" '#{pane_pid}' 2>/dev/null || true)"
if [ -z "$PID" ] || ! grep -q chainwatch "/proc/$PID/cmdline" 2>/dev/null; then
    echo "the dashboard did not start:" >&2
    cat "$WORK/err.txt" >&2 || true
    exit 1
fi
DASH="$(measure "$PID")"
tmux capture-pane -p -t "$SESSION" > "$WORK/screen.txt"
tmux send-keys -t "$SESSION" q
sleep 1
tmux kill-session -t "$SESSION" 2>/dev/null || true

# `watch` on the same config, its lines to a file.
mkdir -p "$WORK/watch"
env HOME="$WORK/watch" XDG_STATE_HOME="$WORK/watch/state" XDG_CONFIG_HOME="$WORK/watch/cfg" \
    "$BIN" watch --config "$WORK/config.toml" >"$WORK/watch.out" 2>"$WORK/watch.err" </dev/null &
WATCH_PID=$!
sleep 1
if ! kill -0 "$WATCH_PID" 2>/dev/null; then
    echo "watch did not start:" >&2
    cat "$WORK/watch.err" >&2 || true
    exit 1
fi
WATCH="$(measure "$WATCH_PID")"
kill -TERM "$WATCH_PID" 2>/dev/null || true
wait "$WATCH_PID" 2>/dev/null || true
WATCH_PID=""

awk -v d="$DASH" -v w="$WATCH" -v n="$MODELS" 'BEGIN {
    split(d, a, " "); split(w, b, " ");
    printf "models watched:   %d (probe interval 60s, %.1f probes/s)\n", n, n / 60;
    printf "%-10s %8s %8s %12s %10s %10s\n", "", "wall s", "cpu s", "% of a core", "peak MB", "end MB";
    printf "%-10s %8.1f %8.3f %11.2f%% %10.1f %10.1f\n", "dashboard", a[2], a[1], 100 * a[1] / a[2], a[3] / 1024, a[4] / 1024;
    printf "%-10s %8.1f %8.3f %11.2f%% %10.1f %10.1f\n", "watch", b[2], b[1], 100 * b[1] / b[2], b[3] / 1024, b[4] / 1024;
    if (b[1] > 0) printf "dashboard / watch CPU: %.2fx\n", (a[1] / a[2]) / (b[1] / b[2]);
}'
echo "--- the dashboard's screen at the end ---"
head -8 "$WORK/screen.txt"
