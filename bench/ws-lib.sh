#!/usr/bin/env bash
# Compares the server-side WebSocket libraries behind the reference target's /v1/ws (issue 14):
# memory per idle connection (server RSS delta over CONNS connections that each echoed one frame)
# and CPU per frame (server user+system CPU over FRAMES echoed text frames). The server is a child
# process on a 2-thread tokio runtime; see crates/surge-benches/src/bin/ws_lib.rs.
#
#   bench/ws-lib.sh [CONNS] [FRAMES] [VARIANT]   (defaults 5000, 100000, all four; loopback only,
#                                               ~40 s for all). Variants: tungstenite-default,
#                                               tungstenite-4k, fastwebsockets, surge-target.
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-5000}
frames=${2:-100000}
only=()
if [ -n "${3:-}" ]; then only=(--only "$3"); fi
cargo build --release -q -p surge-benches --bin ws-lib
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores; $(rustc --version)"
target/release/ws-lib --conns "$conns" --frames "$frames" "${only[@]}"
