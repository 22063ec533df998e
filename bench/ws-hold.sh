#!/usr/bin/env bash
# Holds N idle WebSocket connections in ONE surge process against a separate `surge target` process
# (issue 14, section 5) and prints the tester's memory per held connection and CPU per heartbeat.
#
#   bench/ws-hold.sh            # N=19000 (this host's hard limit is 20,000 open files per process)
#   bench/ws-hold.sh --smoke    # N=2000, short: checks the pipeline, figures are not measurements
#   N=5000 RAMP=10 WINDOW=10 bench/ws-hold.sh
#   RAMP=90 bench/ws-hold.sh   # a busy host: arrivals slow enough that every signup succeeds
#
# The people sign up through the reference journey (plans/scale.toml: no SMS limit in the way),
# then hold a WebSocket with an application heartbeat every 10 s and send no message. surge's RSS
# is read from /proc before the first arrival (3 s in) and on the plateau (every connection held);
# CPU (user + system) over WINDOW seconds of the plateau is divided by the heartbeats sent in it
# (held x WINDOW / 10). Writes bench/runs/<UTC>-ws-hold[-smoke]/ with the command, the profile and
# results.md (the run itself in raw/). The figures are only the tester's when the summary shows no
# missed heartbeat and every person connected (a host too busy to keep up says so there). Loopback
# only. Not in CI except through --smoke (bench/run.sh --smoke runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1
if [ "$SMOKE" = 1 ]; then
  N=${N:-2000} RAMP=${RAMP:-4} WINDOW=${WINDOW:-5}
else
  N=${N:-19000} RAMP=${RAMP:-30} WINDOW=${WINDOW:-20}
fi
EVERY=10
START=3
SETTLE=5
DUR=$((START + RAMP + SETTLE + WINDOW + 3))
SURGE=${SURGE:-$ROOT/target/release/surge}
[ -x "$SURGE" ] || cargo build --release -q -p surge-cli
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$ROOT/bench/runs/$STAMP-ws-hold$([ "$SMOKE" = 1 ] && echo -smoke || true)"
mkdir -p "$OUT/raw"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$SURGE" target --listen "127.0.0.1:$PORT" --plan "$ROOT/profiles/plans/scale.toml" \
  >"$OUT/raw/target.log" 2>&1 &
TARGET=$!
trap 'kill "$TARGET" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

cat >"$OUT/ws-hold.toml" <<TOML
name = "ws-hold"
description = "Hold $N idle WebSocket connections (bench/ws-hold.sh)."
seed = 19
slos = []

[event]
population = $N
duration = "${DUR}s"
interval = "1s"

[[regions]]
name = "americas"
share = 0.5

[[regions]]
name = "europe"
share = 0.5

[curve]
kind = "ramp"
start = "${START}s"
up = "${RAMP}s"

[address_book]
median = 5
sigma = 0.5
max = 20
same_region = 0.8
never_join = 0.3
later = 0.1

[client]
timeout = "10s"
retry = "give-up"

[journey]
builtin = "reference"

[journey.connect]
path = "/v1/ws"
headers = { authorization = "Bearer {token}", "x-surge-region" = "{region}" }
dwell = { fixed = "1h" }
heartbeat = { every = "${EVERY}s", frame = '{"type":"ping"}', reply = { pointer = "/type", equals = "pong" }, timeout = "10s" }
reconnect = { policy = "backoff", base = "1s", max = "10s" }
TOML

CMD=("$SURGE" run "$OUT/ws-hold.toml" --target "http://127.0.0.1:$PORT" --out "$OUT/raw/run" --no-report)
printf '%q ' "${CMD[@]}" >"$OUT/commands.txt"
echo >>"$OUT/commands.txt"
"${CMD[@]}" >"$OUT/raw/run.log" 2>&1 &
PID=$!

TICK=$(getconf CLK_TCK)
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
fds() { ls "/proc/$PID/fd" | wc -l; }

sleep $((START - 1))
RSS0=$(rss_kib) FD0=$(fds)
sleep $((RAMP + SETTLE + 1))
RSS1=$(rss_kib) FD1=$(fds) CPU1=$(cpu_ticks)
sleep "$WINDOW"
CPU2=$(cpu_ticks) FD2=$(fds) RSS2=$(rss_kib)
wait "$PID" || true

python3 - "$OUT" "$N" "$RSS0" "$RSS1" "$RSS2" "$FD0" "$FD1" "$FD2" "$CPU1" "$CPU2" "$TICK" "$WINDOW" "$EVERY" "$SMOKE" <<'PY'
import json, sys
out, n, rss0, rss1, rss2, fd0, fd1, fd2, cpu1, cpu2, tick, window, every, smoke = sys.argv[1:]
n, rss0, rss1, rss2 = int(n), int(rss0), int(rss1), int(rss2)
descriptors = min(int(fd1), int(fd2)) - int(fd0)
cpu_s = (int(cpu2) - int(cpu1)) / int(tick)
try:
    s = json.load(open(f"{out}/raw/run/summary.json"))
    conns = [j.get("connections", {}) for j in s["journeys"].values()]
    opened = sum(c.get("opened", 0) for c in conns)
    reconnects = sum(c.get("reconnects", 0) for c in conns)
    missed = sum(c.get("heartbeats_missed", 0) for c in conns)
    # Dwell outlasts the run: every person connected once holds its connection to the end, unless
    # it dropped (then it reconnected, counted in reconnects).
    held = opened - reconnects
except Exception as e:  # fall back on the descriptors
    opened, reconnects, missed, held = f"? ({e})", "?", "?", descriptors
beats = max(held, 1) * int(window) / int(every)
rows = [
    ("people", f"{n:,}"),
    ("connections held on the plateau (opened - reconnects, summary.json)", f"{held:,}"),
    ("connections opened / reconnects", f"{opened} / {reconnects}"),
    ("descriptors over the baseline (held connections + the signup's idle HTTP pool)", f"{descriptors:,}"),
    ("heartbeats missed", str(missed)),
    ("tester RSS before the first arrival", f"{rss0:,} KiB"),
    ("tester RSS on the plateau", f"{max(rss1, rss2):,} KiB"),
    ("tester RSS per held connection (all growth over the baseline, idle HTTP pool included)", f"{(max(rss1, rss2) - rss0) * 1024 / max(held, 1):,.0f} bytes"),
    (f"tester CPU over {window} s of plateau", f"{cpu_s:.2f} s"),
    ("tester CPU per heartbeat (send + pong)", f"{cpu_s * 1e6 / beats:.1f} µs"),
]
title = "ws-hold" + (" (smoke: figures are not measurements)" if smoke == "1" else "")
text = f"# {title}\n\n| figure | value |\n|---|--:|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
open(f"{out}/results.md", "w").write(text)
print(text)
PY
echo "folder: $OUT"
