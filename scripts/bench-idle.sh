#!/usr/bin/env bash
# Idle cost of the dashboard: the release binary watching 100 simulated
# models at a 60 s probe interval for 60 s, in a detached tmux session.
# Reports the dashboard process's CPU time (user + system, from /proc) and
# peak RSS (VmHWM). Targets: < 1% of one core, < 30 MB.
#
#   scripts/bench-idle.sh [SECONDS]     (default 60)
#
# Needs: tmux, Linux /proc. Builds the release binary if needed. Everything
# runs on loopback; state and logs go to a temporary directory.
set -euo pipefail

SECS="${1:-60}"
MODELS=100
PORT="${BENCH_PORT:-18399}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/chainwatch"
WORK="$(mktemp -d)"
SESSION="cw-idle-$$"
SIM_PID=""

cleanup() {
    tmux kill-session -t "$SESSION" 2>/dev/null || true
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
    for i in $(seq -f %03g 1 "$MODELS"); do
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
    for i in $(seq -f %03g 1 5); do printf '"model-%s", ' "$i"; done
    printf ']\n\n[probe]\ninterval = "60s"\n\n'
    printf '[[endpoint]]\nname = "sim"\nbase_url = "http://127.0.0.1:%s/v1"\n' "$PORT"
    for i in $(seq -f %03g 1 "$MODELS"); do
        printf '\n[[model]]\nname = "model-%s"\nid = "sim/model-%s"\nendpoint = "sim"\n' "$i" "$i"
    done
} > "$WORK/config.toml"

"$BIN" sim --listen "127.0.0.1:$PORT" --scenario "$WORK/scenario.toml" >"$WORK/sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

# `exec` makes the pane's process the dashboard itself; on failure the pane
# stays to show why.
tmux new-session -d -s "$SESSION" -x 120 -y 40 \
    "exec env HOME=$WORK XDG_STATE_HOME=$WORK/state XDG_CONFIG_HOME=$WORK/cfg $BIN --config $WORK/config.toml 2>$WORK/err.txt"
sleep 1
PID="$(tmux display-message -p -t "$SESSION" '#{pane_pid}' 2>/dev/null || true)"
if [ -z "$PID" ] || ! grep -q chainwatch "/proc/$PID/cmdline" 2>/dev/null; then
    echo "the dashboard did not start:" >&2
    cat "$WORK/err.txt" >&2 || true
    exit 1
fi

ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
HZ="$(getconf CLK_TCK)"
sleep 3   # let start-up (first frame, first probes) pass before measuring
START="$(ticks)"
T0="$(date +%s.%N)"
sleep "$SECS"
END="$(ticks)"
T1="$(date +%s.%N)"
HWM_KB="$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")"
RSS_KB="$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")"
tmux capture-pane -p -t "$SESSION" > "$WORK/screen.txt"
tmux send-keys -t "$SESSION" q

awk -v s="$START" -v e="$END" -v hz="$HZ" -v t0="$T0" -v t1="$T1" \
    -v hwm="$HWM_KB" -v rss="$RSS_KB" -v n="$MODELS" 'BEGIN {
    cpu = (e - s) / hz; wall = t1 - t0;
    printf "models watched:   %d (probe interval 60s)\n", n;
    printf "measured for:     %.1f s\n", wall;
    printf "cpu time:         %.3f s  (%.2f%% of one core)\n", cpu, 100 * cpu / wall;
    printf "peak rss (VmHWM): %.1f MB\n", hwm / 1024;
    printf "rss at the end:   %.1f MB\n", rss / 1024;
}'
echo "--- screen at the end ---"
head -8 "$WORK/screen.txt"
