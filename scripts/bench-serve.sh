#!/usr/bin/env bash
# What `chainwatch serve` adds to a request. A fixed OpenAI-compatible
# responder on loopback (examples/serve_load.rs `upstream`: no latency of its
# own) is called directly, through serve (release build) and through a bare
# pass-through proxy of the same crates (the floor of any HTTP hop here),
# 1,000 requests one after another and 2,000 with 200 at a time (then again
# on an upstream that takes 200 ms); p50 and p99 of each, what each adds to
# the direct call's, and serve's own CPU time per request (which a busy
# machine multiplies into latency: the load average is printed beside). Then 1,000 streams held open at once through
# serve (50 chunks 100 ms apart each), with serve's peak RSS.
# With LiteLLM's proxy installed (LITELLM=/path/to/litellm, e.g. from
# `python3 -m venv /tmp/litellm && /tmp/litellm/bin/pip install 'litellm[proxy]'`)
# it is measured on the same upstream in the same run.
#
# Everything stays on 127.0.0.1; every count is bounded.
set -euo pipefail

SEQ=${SEQ:-1000}
CONC=${CONC:-200}
CONC_N=${CONC_N:-2000}
STREAMS=${STREAMS:-1000}
UP_PORT=${UP_PORT:-18431}
SERVE_PORT=${SERVE_PORT:-18432}
FLOOR_PORT=${FLOOR_PORT:-18434}
LITELLM_PORT=${LITELLM_PORT:-18433}
LITELLM=${LITELLM:-}

cd "$(dirname "$0")/.."
cargo build --release --bin chainwatch --example serve_load >&2
TARGET=${CARGO_TARGET_DIR:-target}/release
LOAD=$TARGET/examples/serve_load
CW=$TARGET/chainwatch

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() { # port [seconds]
    for _ in $(seq 1 $((${2:-20} * 10))); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

"$LOAD" upstream "127.0.0.1:$UP_PORT" 2>"$WORK/upstream.log" &
PIDS+=($!)
wait_port "$UP_PORT"

cat >"$WORK/serve.toml" <<EOF
chain = ["fast"]

[probe]
interval = "1h"

[route]
hedge = "off"

[[endpoint]]
name = "up"
base_url = "http://127.0.0.1:$UP_PORT/v1"

[[model]]
name = "fast"
id = "fast"
endpoint = "up"

[[model]]
name = "slow"
id = "slow"
endpoint = "up"

[[model]]
name = "paced"
id = "paced"
endpoint = "up"
EOF
"$CW" --config "$WORK/serve.toml" --state "$WORK/state.json" serve \
    --listen "127.0.0.1:$SERVE_PORT" --max-concurrent 2000 2>"$WORK/serve.log" &
SERVE_PID=$!
PIDS+=($SERVE_PID)
wait_port "$SERVE_PORT"

# The yardstick: a bare pass-through proxy on the same crates (no parsing,
# no routing), so serve's own share of the overhead can be told apart from
# what any HTTP-in, HTTP-out hop costs on this machine.
"$LOAD" passthrough "127.0.0.1:$FLOOR_PORT" "http://127.0.0.1:$UP_PORT/v1" 2>"$WORK/floor.log" &
FLOOR_PID=$!
PIDS+=($FLOOR_PID)
wait_port "$FLOOR_PORT"
FLOOR=http://127.0.0.1:$FLOOR_PORT/v1

DIRECT=http://127.0.0.1:$UP_PORT/v1
SERVE=http://127.0.0.1:$SERVE_PORT/v1

p99() { sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$1"; }
p50() { sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$1"; }
failed() { sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$1"; }
row() { # name direct through
    printf '%-40s p50 %6s us  p99 %6s us | direct p50 %6s us  p99 %6s us | added p50 %6s us  p99 %6s us\n' \
        "$1" "$(p50 "$3")" "$(p99 "$3")" "$(p50 "$2")" "$(p99 "$2")" \
        "$(( $(p50 "$3") - $(p50 "$2") ))" "$(( $(p99 "$3") - $(p99 "$2") ))"
    if [[ "$(failed "$3")" != 0 ]]; then
        echo "    ($(failed "$3") requests failed, not in the percentiles)"
    fi
}

load() { cut -d' ' -f1-3 /proc/loadavg; }
# CPU time (user + system) a process has used, in microseconds.
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000000 / hz)}' "/proc/$1/stat"; }
# What serve's own CPU cost per request was over a run (the warm-up requests
# included): the part of its latency that contention multiplies.
warm() { sed -n 's/.*warm=\([0-9]*\).*/\1/p' <<<"$1"; }
per_request() { # cpu_before cpu_after requests+warm-ups [who]
    echo "${4:-serve} CPU per request: $(( ($2 - $1) / $3 )) us"
}

echo "--- latency (non-streamed; upstream answers at once); load average $(load)"
D_SEQ=$("$LOAD" latency "$DIRECT" "$SEQ" 1 fast)
C0=$(cpu_us "$SERVE_PID")
S_SEQ=$("$LOAD" latency "$SERVE" "$SEQ" 1 fast)
C1=$(cpu_us "$SERVE_PID")
row "serve, $SEQ sequential" "$D_SEQ" "$S_SEQ"
per_request "$C0" "$C1" "$((SEQ + $(warm "$S_SEQ")))"
F0=$(cpu_us "$FLOOR_PID")
F_SEQ=$("$LOAD" latency "$FLOOR" "$SEQ" 1 fast)
F1=$(cpu_us "$FLOOR_PID")
row "bare proxy, $SEQ sequential" "$D_SEQ" "$F_SEQ"
per_request "$F0" "$F1" "$((SEQ + $(warm "$F_SEQ")))" "bare proxy"
D_CON=$("$LOAD" latency "$DIRECT" "$CONC_N" "$CONC" fast)
C0=$(cpu_us "$SERVE_PID")
S_CON=$("$LOAD" latency "$SERVE" "$CONC_N" "$CONC" fast)
C1=$(cpu_us "$SERVE_PID")
row "serve, $CONC concurrent" "$D_CON" "$S_CON"
per_request "$C0" "$C1" "$((CONC_N + $(warm "$S_CON")))"
F0=$(cpu_us "$FLOOR_PID")
F_CON=$("$LOAD" latency "$FLOOR" "$CONC_N" "$CONC" fast)
F1=$(cpu_us "$FLOOR_PID")
row "bare proxy, $CONC concurrent" "$D_CON" "$F_CON"
per_request "$F0" "$F1" "$((CONC_N + $(warm "$F_CON")))" "bare proxy"

# The same 200 at a time on an upstream that takes 200 ms to answer (as
# quick as the quickest LLM's first token): the machine is no longer
# saturated by the loop itself, which is how a gateway meets real traffic.
D_PACED=$("$LOAD" latency "$DIRECT" "$CONC_N" "$CONC" paced)
S_PACED=$("$LOAD" latency "$SERVE" "$CONC_N" "$CONC" paced)
row "serve, $CONC concurrent, 200 ms upstream" "$D_PACED" "$S_PACED"
F_PACED=$("$LOAD" latency "$FLOOR" "$CONC_N" "$CONC" paced)
row "bare proxy, same" "$D_PACED" "$F_PACED"

if [[ -n "$LITELLM" ]]; then
    cat >"$WORK/litellm.yaml" <<EOF
model_list:
  - model_name: fast
    litellm_params:
      model: openai/fast
      api_base: http://127.0.0.1:$UP_PORT/v1
      api_key: none
litellm_settings:
  telemetry: false
EOF
    # Offline: the bundled price map, no telemetry, nothing leaves loopback.
    # No master key (like serve without a token on loopback): recent
    # versions refuse to start without one unless told this is local.
    LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False \
    LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY=true \
    "$LITELLM" --config "$WORK/litellm.yaml" --host 127.0.0.1 --port "$LITELLM_PORT" \
        >"$WORK/litellm.log" 2>&1 &
    PIDS+=($!)
    # Its imports alone take tens of seconds on a busy machine.
    if wait_port "$LITELLM_PORT" 180; then
        sleep 2
        L_SEQ=$("$LOAD" latency "http://127.0.0.1:$LITELLM_PORT/v1" "$SEQ" 1 fast)
        row "litellm, $SEQ sequential" "$D_SEQ" "$L_SEQ"
        L_CON=$("$LOAD" latency "http://127.0.0.1:$LITELLM_PORT/v1" "$CONC_N" "$CONC" fast)
        row "litellm, $CONC concurrent" "$D_CON" "$L_CON"
    else
        echo "litellm did not start; see $WORK/litellm.log" >&2
        tail -5 "$WORK/litellm.log" >&2
    fi
else
    echo "(LiteLLM's proxy not measured: set LITELLM=/path/to/litellm)"
fi

echo "--- $STREAMS streams held open at once through serve (5 s each)"
RSS_BEFORE=$(awk '/VmRSS/ {print $2}' "/proc/$SERVE_PID/status")
"$LOAD" streams "$SERVE" "$STREAMS" slow
PEAK=$(awk '/VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
echo "serve RSS before: $((RSS_BEFORE / 1024)) MiB; peak (VmHWM, whole run): $((PEAK / 1024)) MiB"
echo "load average at the end: $(load)"
