#!/usr/bin/env bash
# failoverbench's sixteen scenarios through `chainwatch ask --json` (or,
# with --serve, through `chainwatch serve` as a streamed OpenAI-compatible
# endpoint) against the simulator playing the benchmark's wall
# (assets/scenarios/failoverbench.toml, the `full` profile's timings),
# scored with the catalogue's checks. Prints a markdown scorecard; takes
# about 3 minutes (S15 alone is twenty requests 4 s apart).
#
#   scripts/failoverbench/score.sh                 # all sixteen
#   scripts/failoverbench/score.sh --serve         # all sixteen through serve
#   scripts/failoverbench/score.sh --only S08,S15  # some
#   FB_LOG=1 scripts/failoverbench/score.sh        # with the request log
set -euo pipefail
cd "$(dirname "$0")/../.."
nice -n 10 cargo build --release --quiet --bin chainwatch --example failoverbench
exec target/release/examples/failoverbench --bin target/release/chainwatch "$@"
