#!/usr/bin/env bash
# Soak: the release `chainwatch watch --json -v` over MODELS simulated models
# at a probe interval of INTERVAL for DURATION, the simulator (`chainwatch
# sim`) in its own process. Every minute it samples watch's RSS (VmRSS, from
# /proc) and CPU time, and counts the probes watch printed in that minute:
# how many, how many failed, and how many came more than 1.5 intervals after
# the model's previous probe (a slipped slot).
#
#   scripts/soak.sh                       # 200 models, 1 s, window 5m, 1 h
#   DURATION=25m scripts/soak.sh          # shorter
#
# Settings (environment): MODELS=200 INTERVAL=1 (seconds) WINDOW=5m
# DURATION=1h (s, m or h) CONCURRENCY=32 (probe.concurrency)
# SOAK_PORT=18477 SAMPLE=60 (seconds between samples) BIN=target/release/chainwatch
# (built if missing; set BIN to use another build).
#
# Fails (exit 1) when, after the window has filled (WINDOW + 1 minute):
#   - memory grows: RSS at the end is more than max(2 MiB, 5%) above RSS
#     at mid-run (halfway between the window filling and the end;
#     GROWTH_KIB overrides the allowance). Each is the lowest of five
#     samples (those up to that point), the level RSS returns to between
#     autosaves: a sample taken during one (every 5 minutes watch reads,
#     merges and writes the whole state file) reads some 10-17 MB higher.
#     Not against the first sample after the window filled: the allocator
#     keeps the peak of the first saves, so RSS climbs in steps that level
#     off; a leak keeps climbing into the second half;
#   - the schedule slips: a sample's span with fewer than 97% of the probes
#     the schedule asks for (MODELS / INTERVAL a second), or more than 0.5%
#     of its probes late by over 1.5 intervals;
#   - or watch dies.
# Needs Linux /proc. Everything runs on loopback; state and logs go to a
# temporary directory, removed at the end (KEEP=1 keeps it).
set -euo pipefail

MODELS="${MODELS:-200}"
INTERVAL="${INTERVAL:-1}"
WINDOW="${WINDOW:-5m}"
DURATION="${DURATION:-1h}"
CONCURRENCY="${CONCURRENCY:-32}"
PORT="${SOAK_PORT:-18477}"
SAMPLE="${SAMPLE:-60}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/chainwatch}"
WORK="$(mktemp -d)"
SIM_PID=""
WATCH_PID=""
COUNT_PID=""

cleanup() {
    if [ -n "$WATCH_PID" ]; then kill "$WATCH_PID" 2>/dev/null || true; fi
    if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; fi
    if [ -n "$COUNT_PID" ]; then kill "$COUNT_PID" 2>/dev/null || true; fi
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# "90s", "5m", "1h" or plain seconds → seconds.
secs() {
    case "$1" in
        *h) echo $((${1%h} * 3600)) ;;
        *m) echo $((${1%m} * 60)) ;;
        *s) echo "${1%s}" ;;
        *) echo "$1" ;;
    esac
}
DURATION_S="$(secs "$DURATION")"
WINDOW_S="$(secs "$WINDOW")"
FILLED_S=$((WINDOW_S + 60))

if [ ! -x "$BIN" ]; then
    (cd "$ROOT" && cargo build --release --quiet --bin chainwatch)
fi

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
    printf ']\n\n[health]\nwindow = "%s"\n\n' "$WINDOW"
    printf '[probe]\ninterval = "%ss"\nconcurrency = %s\n\n' "$INTERVAL" "$CONCURRENCY"
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
kill -0 "$SIM_PID" 2>/dev/null || { echo "the simulator did not start:" >&2; cat "$WORK/sim.log" >&2; exit 1; }

# watch's lines go through a FIFO to a counter, so an hour of probes (some
# 700,000 lines) is never kept. The counter writes its running totals to
# $WORK/counts once a second (of the probes' own time) and at the end:
# probes, failed, late (gap > 1.5 intervals), the longest gap in seconds, and
# the time of the last probe counted, so rates are over exact spans.
mkfifo "$WORK/lines"
awk -v interval="$INTERVAL" -v out="$WORK/counts" '
    function stamp(s,    d, t) {
        # "2025-01-02T03:04:05.678Z" → seconds since the epoch day start;
        # a day boundary is taken care of below.
        d = substr(s, 9, 2); t = substr(s, 12)
        return d * 86400 + substr(t, 1, 2) * 3600 + substr(t, 4, 2) * 60 + substr(t, 7, 6)
    }
    function flush() {
        printf "%d %d %d %.3f %.3f\n", probes, failed, late, maxgap, at > (out ".new"); close(out ".new")
        system("mv " out ".new " out)
    }
    /"kind":"probe"/ {
        probes++
        if ($0 ~ /"ok":false/) failed++
        match($0, /"at":"[^"]*"/); at = stamp(substr($0, RSTART + 6, RLENGTH - 7))
        match($0, /"model":"[^"]*"/); m = substr($0, RSTART + 9, RLENGTH - 10)
        if (m in last) {
            gap = at - last[m]
            if (gap < -43200) gap += 86400 * 31   # month boundary: rare, roughly right
            if (gap > 1.5 * interval) late++
            if (gap > maxgap) maxgap = gap
        }
        last[m] = at
        # Once a second of event time: the totals up to that moment.
        if (int(at) != flushed) { flush(); flushed = int(at) }
    }
    END { flush() }
' < "$WORK/lines" &
COUNT_PID=$!

mkdir -p "$WORK/home"
env HOME="$WORK/home" XDG_STATE_HOME="$WORK/home/state" XDG_CONFIG_HOME="$WORK/home/cfg" \
    "$BIN" --config "$WORK/config.toml" watch --json -v >"$WORK/lines" 2>"$WORK/watch.err" </dev/null &
WATCH_PID=$!
T0="$(date +%s)"
sleep 1
kill -0 "$WATCH_PID" 2>/dev/null || { echo "watch did not start:" >&2; cat "$WORK/watch.err" >&2; exit 1; }

HZ="$(getconf CLK_TCK)"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
counts() { if [ -s "$WORK/counts" ]; then cat "$WORK/counts"; else echo "0 0 0 0 0"; fi; }

echo "soak: watch over $MODELS models at ${INTERVAL}s (window $WINDOW, concurrency $CONCURRENCY) for $DURATION; the schedule asks $((MODELS / INTERVAL)) probes/s"
printf '%6s %9s %8s %9s %7s %6s %6s\n' "time" "RSS KiB" "probes" "of sched" "failed" "late" "cpu %"
read -r P0 F0 L0 _ A0 < <(counts)
C0="$(ticks "$WATCH_PID")"
BASE=""
LAST=""
PEAK_AFTER=0
FAIL=""
N=0
while :; do
    NEXT=$((T0 + (N + 1) * SAMPLE))
    NOW="$(date +%s)"
    [ "$NEXT" -gt "$((T0 + DURATION_S))" ] && break
    [ "$NEXT" -gt "$NOW" ] && sleep $((NEXT - NOW))
    N=$((N + 1))
    if ! kill -0 "$WATCH_PID" 2>/dev/null; then FAIL="watch died"; break; fi
    R="$(rss "$WATCH_PID")"
    C="$(ticks "$WATCH_PID")"
    read -r P F L G A < <(counts)
    DP=$((P - P0)); DF=$((F - F0)); DL=$((L - L0))
    # Probes over the span they were counted in, against what the schedule
    # asks for that span (the first span starts at watch's start).
    SHARE="$(awk -v p="$DP" -v a="$A" -v a0="$A0" -v n="$MODELS" -v i="$INTERVAL" -v s="$SAMPLE" \
        'BEGIN { span = (a0 > 0 && a > a0) ? a - a0 : s; printf "%.1f", 100 * p / (n * span / i) }')"
    CPU="$(awk -v c=$((C - C0)) -v hz="$HZ" -v s="$SAMPLE" 'BEGIN { printf "%.1f", 100 * c / hz / s }')"
    printf '%6s %9s %8s %8s%% %7s %6s %6s\n' "$(printf '%d:%02d' $((N * SAMPLE / 60)) $((N * SAMPLE % 60)))" "$R" "$DP" "$SHARE" "$DF" "$DL" "$CPU"
    echo "$((N * SAMPLE)) $R $DP $DF $DL $CPU $SHARE" >> "$WORK/samples"
    P0=$P; F0=$F; L0=$L; C0=$C; A0=$A
    ELAPSED=$((N * SAMPLE))
    if [ "$ELAPSED" -ge "$FILLED_S" ]; then
        [ -z "$BASE" ] && BASE="$R"
        [ "$R" -gt "$PEAK_AFTER" ] && PEAK_AFTER="$R"
        # The level at mid-run and at the end: the lowest of the last five
        # samples up to that point.
        RECENT="$(tail -n 5 "$WORK/samples" | awk 'NR == 1 || $2 < m { m = $2 } END { print m }')"
        [ "$ELAPSED" -le $(((FILLED_S + DURATION_S) / 2)) ] && MID="$RECENT"
        LAST="$RECENT"
        # The schedule, judged on full minutes after warm-up.
        if awk -v s="$SHARE" 'BEGIN { exit !(s < 97) }'; then
            FAIL="${FAIL:+$FAIL; }at ${ELAPSED}s: $SHARE% of the probes the schedule asks for"
        fi
        if awk -v l="$DL" -v p="$DP" 'BEGIN { exit !(l > 0.005 * p) }'; then
            FAIL="${FAIL:+$FAIL; }at ${ELAPSED}s: $DL of $DP probes late"
        fi
    fi
done

if kill -0 "$WATCH_PID" 2>/dev/null; then
    HWM="$(awk '/VmHWM/ {print $2}' "/proc/$WATCH_PID/status")"
    kill -TERM "$WATCH_PID"
    wait "$WATCH_PID" 2>/dev/null || FAIL="${FAIL:+$FAIL; }watch exited with an error"
else
    HWM="?"
fi
WATCH_PID=""
wait "$COUNT_PID" 2>/dev/null || true
COUNT_PID=""
read -r P F L G _ < <(counts)

echo "---"
echo "probes in all: $P ($F failed, $L late by over 1.5 intervals); longest gap between one model's probes: ${G}s"
echo "peak RSS (VmHWM): $HWM KiB"
if [ -n "$BASE" ]; then
    # Least-squares slope of RSS over the samples after the window filled.
    SLOPE="$(awk -v from="$FILLED_S" '$1 >= from { n++; x += $1; y += $2; xx += $1 * $1; xy += $1 * $2 }
        END { d = n * xx - x * x; if (n > 1 && d > 0) printf "%.1f", 60 * (n * xy - x * y) / d; else print "n/a" }' "$WORK/samples")"
    ALLOW="${GROWTH_KIB:-$(awk -v b="${MID:-$BASE}" 'BEGIN { a = int(b * 0.05); print (a > 2048 ? a : 2048) }')}"
    echo "RSS once the window had filled (first sample at or after ${FILLED_S}s): $BASE KiB; at mid-run: ${MID:-$BASE} KiB; at the end: $LAST KiB (each the lowest of 5 samples); highest: $PEAK_AFTER KiB; slope $SLOPE KiB/min; allowance $ALLOW KiB"
    if [ "$((LAST - ${MID:-$BASE}))" -gt "$ALLOW" ]; then
        FAIL="${FAIL:+$FAIL; }memory grew by $((LAST - ${MID:-$BASE})) KiB in the second half of the run"
    fi
else
    echo "the run ended before the window filled (${FILLED_S}s): no memory verdict"
fi
STATE="$WORK/config.state.json"
if [ -f "$STATE" ]; then
    echo "state file at the end: $(wc -c < "$STATE") bytes"
fi
if [ -s "$WORK/watch.err" ]; then
    echo "--- watch's stderr (last lines)"
    tail -n 5 "$WORK/watch.err"
fi
if [ -n "$FAIL" ]; then
    echo "FAIL: $FAIL"
    exit 1
fi
echo "PASS"
