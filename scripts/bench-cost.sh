#!/usr/bin/env bash
# What a day of probing the article's chain costs (claude-sonnet-4, gpt-4o,
# gemini-2.5-pro, deepseek-chat at list prices, on the simulator), per
# policy: the naive prober (max_tokens 16, and 1024 with thinking left
# unbounded), chainwatch's probe every interval ("fixed"), and chainwatch's
# cadence. Then how soon a hard outage is seen under each. A simulated day
# takes seconds: the engine is driven with run_due(now), nothing sleeps.
# Override with INTERVAL (60s), LENGTH (24h), SEED (7), POLICY (all).
# The figures are in docs/cost.md.
set -euo pipefail

INTERVAL=${INTERVAL:-60s}
LENGTH=${LENGTH:-24h}
SEED=${SEED:-7}
POLICY=${POLICY:-all}

cd "$(dirname "$0")/.."
cargo build --release --example cost_day >&2
BIN=${CARGO_TARGET_DIR:-target}/release/examples/cost_day
"$BIN" --interval "$INTERVAL" --length "$LENGTH" --seed "$SEED" --policy "$POLICY"
