#!/usr/bin/env bash
# What a held WebSocket connection costs surge (issue 14, section 5), measured on real sockets against
# the reference backend running as its own process(es).
#
#   bench/ws-hold.sh               # hold N=19,000 idle connections in ONE surge process (this host's
#                                  # hard limit is 20,000 open files per process): RSS per held
#                                  # connection, CPU per heartbeat
#   bench/ws-hold.sh --smoke       # N=2,000, short: checks the pipeline (bench/run.sh --smoke runs it)
#   bench/ws-hold.sh --flow        # N=15,000 in one process, RATE=5,000 messages/s between them:
#                                  # delivery p99, CPU per message
#   bench/ws-hold.sh --across W    # N=200,000 over W `surge worker` processes joined to one
#                                  # `surge coordinator`, against TARGETS `surge target` processes (each
#                                  # on its own port; the profile spreads people over them), connections
#                                  # bound to SOURCES (127.x.y.z addresses) so that ports never run out
#   N=5000 RAMP=10 WINDOW=10 bench/ws-hold.sh     # any size; RAMP: seconds of arrivals (at a
#                                                 # steady N/RAMP per second), WINDOW:
#                                                 # seconds of plateau measured; also EVERY, RATE,
#                                                 # SETTLE, TARGETS, SOURCES
#
# The people sign up through the reference journey (plans/scale.toml: no SMS limit in the way), then
# hold a WebSocket with an application heartbeat every EVERY seconds (10; 60 with --across) and, with
# --flow, send Poisson messages to their connected contacts. The tester's RSS (the surge process; with
# --across the sum of the workers') is read from /proc before the first arrival and on the plateau,
# with its descriptors at the same moment: per held connection = RSS growth / descriptor growth (the
# held WebSockets: the signup's idle HTTP connections are closed as people connect). CPU (user +
# system) over WINDOW seconds of the plateau is divided by the heartbeats (or messages sent) in it.
# --across also reports the targets' RSS, the kernel's TCP memory and the machine's used memory
# (MemTotal - MemAvailable: other processes on a shared host move it too).
#
# Writes bench/runs/<UTC>-ws-hold[-smoke|-flow|-across]/ with the commands, the profile and
# results.md (the runs themselves in raw/, not committed). Every process started is stopped on exit.
# Loopback only. Not in CI except through --smoke.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MODE=hold
W=1
case "${1:-}" in
  --smoke) MODE=smoke ;;
  --flow) MODE=flow ;;
  --across) MODE=across; W=${2:?--across needs the number of worker processes} ;;
  "") ;;
  *) echo "usage: bench/ws-hold.sh [--smoke | --flow | --across WORKERS]" >&2; exit 2 ;;
esac
# SETTLE: seconds between the last arrival and the window (each mode's default below; before, a
# fixed 5 set ahead of the modes overrode --flow's and --across's own).
START=3
case $MODE in
  smoke) N=${N:-2000} RAMP=${RAMP:-4} WINDOW=${WINDOW:-5} SETTLE=${SETTLE:-5} ;;
  # 60 s of arrivals (~317 and ~250 signups/s): at twice that, the signups, handshakes and (with
  # --flow) messages of the ramp overran this 2-core host's tester and target together (listen
  # queue overflows, SYN retries, seconds of backlog) and the window measured the catching up.
  hold) N=${N:-19000} RAMP=${RAMP:-60} WINDOW=${WINDOW:-30} SETTLE=${SETTLE:-15} ;;
  flow) N=${N:-15000} RAMP=${RAMP:-60} WINDOW=${WINDOW:-30} RATE=${RATE:-5000} SETTLE=${SETTLE:-20} ;;
  across)
    N=${N:-200000} RAMP=${RAMP:-200} WINDOW=${WINDOW:-30} EVERY=${EVERY:-60}
    START=12 SETTLE=${SETTLE:-20}
    # About 16,000 connections per target process (20,000 descriptors each, HTTP included).
    TARGETS=${TARGETS:-$(((N + 15999) / 16000))}
    SOURCES=${SOURCES:-127.1.0.1-127.1.0.250}
    ;;
esac
TARGETS=${TARGETS:-1} RATE=${RATE:-0} EVERY=${EVERY:-10}
DUR=$((START + RAMP + SETTLE + WINDOW + 3))
SURGE=${SURGE:-$ROOT/target/release/surge}
[ -x "$SURGE" ] || cargo build --release -q -p surge-cli
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$ROOT/bench/runs/$STAMP-ws-hold$([ "$MODE" = hold ] || echo "-$MODE")"
mkdir -p "$OUT/raw"
: >"$OUT/commands.txt"
log_cmd() { printf '%q ' "$@" >>"$OUT/commands.txt"; echo >>"$OUT/commands.txt"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mem_used_kib() { awk '/^MemTotal/ {t=$2} /^MemAvailable/ {a=$2} END {print t - a}' /proc/meminfo; }
tcp_mem_kib() { awk -v pg="$(getconf PAGESIZE)" '/^TCP:/ {for (i = 1; i < NF; i++) if ($i == "mem") print $(i + 1) * pg / 1024}' /proc/net/sockstat; }
MEM_BEFORE=$(mem_used_kib) TCP_BEFORE=$(tcp_mem_kib)

PIDS=() TARGET_PIDS=() TESTERS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# The reference backend: TARGETS processes, one port each.
URLS=()
for t in $(seq 1 "$TARGETS"); do
  port=$(free_port)
  cmd=("$SURGE" target --listen "127.0.0.1:$port" --plan "$ROOT/profiles/plans/scale.toml")
  log_cmd "${cmd[@]}"
  "${cmd[@]}" >"$OUT/raw/target-$t.log" 2>&1 &
  PIDS+=($!)
  TARGET_PIDS+=($!)
  URLS+=("http://127.0.0.1:$port")
done
for u in "${URLS[@]}"; do
  for _ in $(seq 100); do
    curl -fs "$u/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
done

if [ "$TARGETS" -gt 1 ]; then
  LIST=$(printf '"%s", ' "${URLS[@]}")
  SPREAD="targets = [${LIST%, }]"
else
  SPREAD=""
fi
if [ "$RATE" != 0 ]; then
  PER_MINUTE=$(python3 -c "print(round($RATE * 60 / $N, 4))")
  MESSAGES=$(cat <<TOML
messages = { per_minute = $PER_MINUTE, frame = '{"type":"send","id":"{msg_id}","to":"{to}","body":{"sent_at":{sent_at},"region":"{region}"}}' }
ack = { pointer = "/type", equals = "ack", id = "/id" }
error = { pointer = "/type", equals = "error", id = "/id" }
deliver = { pointer = "/type", equals = "message", id = "/id", sent_at = "/body/sent_at", region = "/body/region", deadline = "2s" }
TOML
  )
  NEVER_JOIN=0.0
else
  MESSAGES="" NEVER_JOIN=0.3
fi
cat >"$OUT/ws-hold.toml" <<TOML
name = "ws-hold"
description = "Hold $N WebSocket connections (bench/ws-hold.sh, mode $MODE)."
seed = 19
slos = []

[event]
population = $N
duration = "${DUR}s"
interval = "1s"

[[regions]]
name = "americas"
share = 0.5
$SPREAD

[[regions]]
name = "europe"
share = 0.5
$SPREAD

[curve]
kind = "ramp"
start = "${START}s"
up = "2s"
hold = "$((RAMP - 2))s"

[address_book]
median = 5
sigma = 0.5
max = 20
same_region = 0.8
never_join = $NEVER_JOIN
later = 0.0

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
$MESSAGES
TOML

# The tester: one `surge run`, or a coordinator and W workers.
if [ "$MODE" = across ]; then
  export SURGE_TOKEN="ws-hold-$RANDOM$RANDOM"
  CPORT=$(free_port)
  # --max-in-flight is split over the workers: room for every held connection in each.
  cmd=("$SURGE" coordinator "$OUT/ws-hold.toml" --listen "127.0.0.1:$CPORT" --workers "$W"
    --target "${URLS[0]}" --source-addresses "$SOURCES" --out "$OUT/raw/run" --no-report --drain 5s
    --max-in-flight $((W * 19500)))
  log_cmd "${cmd[@]}"
  "${cmd[@]}" >"$OUT/raw/coordinator.log" 2>&1 &
  COORD=$!
  PIDS+=("$COORD")
  for w in $(seq 1 "$W"); do
    cmd=("$SURGE" worker --join "http://127.0.0.1:$CPORT" --threads 1 --name "w$w")
    [ "$w" = 1 ] && log_cmd "${cmd[@]}" && echo "# ... one per worker, w1 to w$W" >>"$OUT/commands.txt"
    "${cmd[@]}" >"$OUT/raw/worker-$w.log" 2>&1 &
    PIDS+=($!)
    TESTERS+=($!)
  done
  MAIN=$COORD
else
  cmd=("$SURGE" run "$OUT/ws-hold.toml" --target "${URLS[0]}" --out "$OUT/raw/run" --no-report)
  log_cmd "${cmd[@]}"
  "${cmd[@]}" >"$OUT/raw/run.log" 2>&1 &
  MAIN=$!
  PIDS+=("$MAIN")
  TESTERS+=("$MAIN")
fi

TICK=$(getconf CLK_TCK)
sum_rss() { local s=0 p; for p in "$@"; do s=$((s + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status"))); done; echo $s; }
sum_cpu() { local s=0 p; for p in "$@"; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $s; }
sum_fds() { local s=0 p; for p in "$@"; do s=$((s + $(ls "/proc/$p/fd" | wc -l))); done; echo $s; }

sleep $((START - 1))
RSS0=$(sum_rss "${TESTERS[@]}") FD0=$(sum_fds "${TESTERS[@]}") TRSS0=$(sum_rss "${TARGET_PIDS[@]}")
sleep $((RAMP + SETTLE + 1))
RSS1=$(sum_rss "${TESTERS[@]}") FD1=$(sum_fds "${TESTERS[@]}") CPU1=$(sum_cpu "${TESTERS[@]}")
TCPU1=$(sum_cpu "${TARGET_PIDS[@]}") T1=$(date +%s.%N)
sleep "$WINDOW"
CPU2=$(sum_cpu "${TESTERS[@]}") TCPU2=$(sum_cpu "${TARGET_PIDS[@]}") T2=$(date +%s.%N)
FD2=$(sum_fds "${TESTERS[@]}") RSS2=$(sum_rss "${TESTERS[@]}") TRSS2=$(sum_rss "${TARGET_PIDS[@]}")
MEM_PLATEAU=$(mem_used_kib) TCP_PLATEAU=$(tcp_mem_kib)
CRSS=$([ "$MODE" = across ] && sum_rss "$COORD" || echo 0)
wait "$MAIN" || true
for p in "${TESTERS[@]}"; do wait "$p" 2>/dev/null || true; done

python3 - "$OUT" "$MODE" "$N" "$W" "$TARGETS" "$EVERY" "$RATE" "$WINDOW" $((START + RAMP + SETTLE)) "$TICK" \
  "$RSS0" "$RSS1" "$RSS2" "$FD0" "$FD1" "$FD2" "$CPU1" "$CPU2" "$T1" "$T2" \
  "$TRSS0" "$TRSS2" "$CRSS" "$MEM_BEFORE" "$MEM_PLATEAU" "$TCP_BEFORE" "$TCP_PLATEAU" "$TCPU1" "$TCPU2" <<'PY'
import base64, csv, json, struct, sys, zlib


def hdr_counts(b64):
    """Decodes one V2 HdrHistogram (compressed, base64) into {highest equivalent value: count}."""
    raw = base64.b64decode(b64)
    _cookie, length = struct.unpack(">ii", raw[:8])
    body = zlib.decompress(raw[8:8 + length])
    _c, payload, _off, digits, lowest, _hi, _ratio = struct.unpack(">iiiiqqd", body[:40])
    data = body[40:40 + payload]
    sub = 1 << (2 * 10 ** digits - 1).bit_length()
    half = sub // 2
    half_mag = half.bit_length() - 1
    unit = lowest.bit_length() - 1
    counts, i, at = {}, 0, 0
    while at < len(data):
        v = shift = 0
        for k in range(9):
            b = data[at]; at += 1
            v |= (b & (0x7F if k < 8 else 0xFF)) << shift
            shift += 7
            if k == 8 or not b & 0x80:
                break
        v = (v >> 1) ^ -(v & 1)
        if v < 0:
            i += -v
            continue
        if v:
            bucket = (i >> half_mag) - 1
            sb = (i & (half - 1)) + half
            if bucket < 0:
                sb -= half
                bucket = 0
            value = (sb << (bucket + unit)) + (1 << (bucket + unit)) - 1
            counts[value] = counts.get(value, 0) + v
        i += 1
    return counts


def window_quantiles(path, step, start, end):
    """Count, p50, p99 and max (µs) of `step`'s response over the intervals inside [start, end)."""
    merged = {}
    try:
        for line in open(path):
            if line.startswith("#") or not line.startswith("Tag="):
                continue
            tag, t, length, _mx, b64 = line.strip().split(",", 4)
            _region, s_, measure = tag[4:].split("/")
            if s_ != step or measure != "response":
                continue
            if not (start <= float(t) and float(t) + float(length) <= end + 0.01):
                continue
            for v, c in hdr_counts(b64).items():
                merged[v] = merged.get(v, 0) + c
    except Exception:
        return None
    total = sum(merged.values())
    if not total:
        return None
    def q(p):
        seen = 0
        for v in sorted(merged):
            seen += merged[v]
            if seen >= p * total:
                return v
    return total, q(0.5), q(0.99), max(merged)


(out, mode, n, w, targets, every, rate, window, w0, tick,
 rss0, rss1, rss2, fd0, fd1, fd2, cpu1, cpu2, t1, t2,
 trss0, trss2, crss, mem0, mem1, tcp0, tcp1, tcpu1, tcpu2) = sys.argv[1:]
n, w, targets, every, rate, window, w0, tick = int(n), int(w), int(targets), int(every), float(rate), int(window), int(w0), int(tick)
rss0, rss1, rss2, fd0, fd1, fd2 = map(int, (rss0, rss1, rss2, fd0, fd1, fd2))
t1, t2 = float(t1), float(t2)
cpu_s = (int(cpu2) - int(cpu1)) / tick
target_cpu_s = (int(tcpu2) - int(tcpu1)) / tick
rss = max(rss1, rss2)
conns = min(fd1, fd2) - fd0  # the held WebSockets at the moment of the samples
rows = [("people", f"{n:,}")]
try:
    s = json.load(open(f"{out}/raw/run/summary.json"))
    js = s["journeys"].values()
    c = [j.get("connections", {}) for j in js]
    m = [j.get("messages", {}) for j in js]
    opened = sum(x.get("opened", 0) for x in c)
    reconnects = sum(x.get("reconnects", 0) for x in c)
    missed = sum(x.get("heartbeats_missed", 0) for x in c)
    peak = sum(x.get("peak", 0) for x in c)
    rows += [
        ("status", s["status"]),
        ("connections peak (summary.json, summed over regions)", f"{peak:,}"),
        ("connections opened / reconnects", f"{opened:,} / {reconnects:,}"),
        ("heartbeats missed", f"{missed:,}"),
    ]
    if rate:
        sent = sum(x.get("sent", 0) for x in m)
        delivered = sum(x.get("delivered", 0) for x in m)
        late = sum(x.get("late", 0) for x in m)
        p99 = {r: cells["deliver"]["p99_ms"] for r, cells in s["regions"].items() if "deliver" in cells}
        p50 = {r: cells["deliver"]["p50_ms"] for r, cells in s["regions"].items() if "deliver" in cells}
        rows += [
            ("messages sent / delivered within 2 s / late (whole run, ramp included)", f"{sent:,} / {delivered:,} / {late:,}"),
            ("delivery p50 by sender region (whole run)", ", ".join(f"{r} {v:.1f} ms" for r, v in p50.items())),
            ("delivery p99 by sender region (whole run)", ", ".join(f"{r} {v:.1f} ms" for r, v in p99.items())),
        ]
        for step in ("deliver", "ack"):
            q = window_quantiles(f"{out}/raw/run/latency.hlog", step, w0, w0 + (float(t2) - float(t1)))
            if q:
                n_, p50w, p99w, maxw = q
                rows.append((f"**{step} on the plateau window** (latency.hlog: count, p50, p99, max)", f"**{n_:,}, {p50w / 1000:.1f} ms, {p99w / 1000:.1f} ms, {maxw / 1000:.1f} ms**"))
except Exception as e:
    rows.append(("summary.json", f"unreadable: {e}"))
    missed = "?"
# Messages sent per second on the plateau, from regions.csv (intervals of the run's clock inside the
# CPU window, which opens START + RAMP + SETTLE seconds after launch).
sent_window = None
try:
    per = {}
    for r in csv.DictReader(open(f"{out}/raw/run/regions.csv")):
        t = float(r["t_s"])
        if w0 <= t and t + 1 <= w0 + (t2 - t1):
            per[t] = per.get(t, 0) + int(float(r["messages_sent"] or 0))
    if per:
        sent_window = sum(per.values()) / len(per) * (t2 - t1)
except Exception as e:
    rows.append(("regions.csv", f"unreadable: {e}"))
tester = "surge process" if w == 1 else f"{w} worker processes (summed)"
rows += [
    (f"descriptors over the baseline on the plateau ({tester}): held connections", f"{conns:,}"),
    (f"tester RSS before the first arrival ({tester})", f"{rss0:,} KiB"),
    ("tester RSS on the plateau (window start / end; the larger counts)", f"{rss1:,} / {rss2:,} KiB"),
    ("**tester RSS per held connection** (growth / held)", f"**{(rss - rss0) * 1024 / max(conns, 1):,.0f} bytes**"),
    (f"tester CPU over {t2 - t1:.1f} s of plateau", f"{cpu_s:.2f} s ({cpu_s / (t2 - t1):.2f} cores)"),
]
beats = max(conns, 1) * (t2 - t1) / every
rows.append((f"tester CPU per heartbeat (send + pong, every {every} s)" + (" and message traffic" if rate else ""), f"{cpu_s * 1e6 / beats:.1f} µs"))
if rate:
    if sent_window:
        rows.append(("messages sent in the window (regions.csv)", f"{sent_window:,.0f} ({sent_window / (t2 - t1):,.0f}/s)"))
        rows.append(("**tester CPU per message** (send, ack, receipt; heartbeats included)", f"**{cpu_s * 1e6 / sent_window:.1f} µs**"))
        rows.append((f"target CPU over the window ({targets} process{'es' if targets > 1 else ''})", f"{target_cpu_s:.2f} s ({target_cpu_s / (t2 - t1):.2f} cores)"))
        rows.append(("target CPU per message (route, ack, deliver; heartbeats included)", f"{target_cpu_s * 1e6 / sent_window:.1f} µs"))
    else:
        rows.append(("tester CPU per message", "? (no messages_sent in regions.csv)"))
if mode == "across":
    rows += [
        (f"targets' RSS ({targets} processes, before -> plateau)", f"{int(trss0):,} -> {int(trss2):,} KiB"),
        ("coordinator RSS on the plateau", f"{int(crss):,} KiB"),
        ("kernel TCP memory (/proc/net/sockstat, before -> plateau)", f"{float(tcp0):,.0f} -> {float(tcp1):,.0f} KiB"),
        ("machine used memory (MemTotal - MemAvailable, before -> plateau; other processes included)", f"{int(mem0) / 1024:,.0f} -> {int(mem1) / 1024:,.0f} MiB"),
    ]
title = f"ws-hold ({mode})" + (": figures are not measurements" if mode == "smoke" else "")
text = f"# {title}\n\n| figure | value |\n|---|--:|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
text += f"\nload average at the end: {open('/proc/loadavg').read().strip()}\n"
open(f"{out}/results.md", "w").write(text)
print(text)
PY
echo "folder: $OUT"
