#!/usr/bin/env bash
# surge's benchmark suite (issue 9): surge side by side with wrk and oha on this machine.
#
#   bench/run.sh              # cpu, pacing, accuracy, merge (~12 min on 2 cores)
#   bench/run.sh --smoke      # every pipeline once, tiny (< 2 min after the build; in .ci/run)
#   bench/run.sh --only cpu   # one part: cpu | pacing | accuracy | merge | scale
#   bench/run.sh --only scale --scale 10000000   # N people through the reference journey (long)
#   OHA=/path/to/oha bench/run.sh   # use an oha built elsewhere
#   PACE_ROUNDS=2 PACE_DUR=8s FLOOR_SECS=3 PACE_HIGH=0 bench/run.sh --only pacing   # a quick pacing look
#   PACE_BASE=/path/to/old/surge bench/run.sh --only pacing   # A/B: another build's pacer in each round
#
# Writes bench/runs/<UTC date-time>[-smoke]/ with commands.txt (every command run), versions.txt,
# machine.txt (cores, load before/after), results.md (the tables) and raw.tar.xz (the figures' inputs:
# every tool's output and summary, without latency logs and server logs; tens of KB). raw/ holds every
# tool's full output and is git-ignored: commit the four text files and raw.tar.xz only.
# Load generators are pinned to core 0 and targets to core 1 (taskset) when there are 2+ cores.
# CPU is user+sys of the generator process tree (bash `times`), per request; the machine's busy share
# during each measurement is reported beside it, because this machine is shared.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SMOKE=0 ONLY="" SCALE_PEOPLE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --only) ONLY="$2"; shift ;;
    --scale) SCALE_PEOPLE="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

if [ "$SMOKE" = 1 ]; then
  CONNS=50 CPU_SECS=3 ROUNDS=1 PACE_DUR=${PACE_DUR:-3s} ACC_SECS=3 STALL_AFTER=1 STALL_SECS=0.5
  PROFILE=${BENCH_PROFILE:-dev}
else
  # Five CPU rounds: this shared machine's speed moves by 10-15% from one run to the next, and the
  # ratios are taken per round, then their median.
  CONNS=50 CPU_SECS=10 ROUNDS=${CPU_ROUNDS:-5} PACE_DUR=${PACE_DUR:-30s} ACC_SECS=20 STALL_AFTER=8 STALL_SECS=1
  PROFILE=${BENCH_PROFILE:-perf}
fi
PORT=${BENCH_PORT:-18080}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$ROOT/bench/runs/$STAMP$([ "$SMOKE" = 1 ] && echo -smoke || true)"
mkdir -p "$OUT/raw"
CMDS="$OUT/commands.txt"
RESULTS="$OUT/results.md"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN_DIR="$TARGET_DIR/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")"
GEN_CPU="" TGT_CPU=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then GEN_CPU="taskset -c 0"; TGT_CPU="taskset -c 1"; fi
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

log() { echo "bench: $*" >&2; }
note() { echo "$*" >>"$RESULTS"; }

# ---- tools ------------------------------------------------------------------------------------------
install_tools() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from apt"
    (apt-get install -y "${missing[@]}" || { apt-get update && apt-get install -y "${missing[@]}"; }) >"$OUT/raw/apt.log" 2>&1 \
      || log "apt-get could not install ${missing[*]} (see raw/apt.log); those comparisons are skipped"
  fi
  # nginx as a Debian service would hold port 80 and a core: we start our own.
  command -v service >/dev/null && service nginx stop >/dev/null 2>&1 || true
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  OHA=${OHA:-$(command -v oha || true)}
  [ -z "$OHA" ] && [ -x "$ROOT/bench/.tools/bin/oha" ] && OHA="$ROOT/bench/.tools/bin/oha"
  if [ -z "$OHA" ] && [ "$SMOKE" = 0 ] && want cpu && [ "${BENCH_NO_OHA:-0}" = 0 ]; then
    log "oha is not in Debian: cargo install oha --locked (several minutes, once)"
    cargo install oha --locked --root "$ROOT/bench/.tools" >"$OUT/raw/oha-install.log" 2>&1 \
      && OHA="$ROOT/bench/.tools/bin/oha" || log "cargo install oha failed (raw/oha-install.log): oha skipped"
  fi
}

build() {
  log "building surge and the delay target (profile $PROFILE)"
  echo "cargo build --profile $PROFILE -p surge-cli -p surge-benches" >>"$CMDS"
  (cd "$ROOT" && cargo build --profile "$PROFILE" -p surge-cli -p surge-benches) >"$OUT/raw/build.log" 2>&1 \
    || { tail -30 "$OUT/raw/build.log" >&2; exit 1; }
  SURGE="$BIN_DIR/surge" DELAY="$BIN_DIR/delay-target"
}

versions() {
  {
    echo "date: $STAMP"
    echo "surge: $("$SURGE" --version) (cargo profile $PROFILE)"
    rustc --version
    command -v wrk >/dev/null && echo "wrk: $(wrk --version 2>&1 | head -1)"
    [ -x "$NGINX" ] && echo "nginx: $("$NGINX" -v 2>&1)"
    [ -n "$OHA" ] && echo "oha: $("$OHA" --version 2>&1)" || echo "oha: not available"
  } >"$OUT/versions.txt"
  { echo "cores: $(nproc)"; grep -m1 "model name" /proc/cpuinfo || true; echo "loadavg before: $(cat /proc/loadavg)"; } >"$OUT/machine.txt"
}

# ---- measurement helpers ----------------------------------------------------------------------------
# Busy share of the whole machine (all cores) between two /proc/stat readings.
stat_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
busy_pct() { echo "$1 $2" | awk '{printf "%.0f", ($3-$1)*100/(($4-$2)>0?($4-$2):1)}'; }

# Core 0's steal time and all its time, in jiffies: steal is time the hypervisor ran something else
# while this virtual core had work (the guest cannot see or prevent it).
stat_steal0() { awk '/^cpu0 /{print $9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }

# timed NAME CMD...: runs CMD (output in raw/NAME.out/.err); sets CPU_S (user+sys of it and its
# children), WALL_S, BUSY (machine busy % meanwhile) and STEAL0 (% of core 0 the hypervisor took).
timed() {
  local name=$1; shift
  echo "$*" >>"$CMDS"
  local s0 t0 st0; s0=$(stat_busy); st0=$(stat_steal0); t0=$(date +%s.%N)
  ( "$@" >"$OUT/raw/$name.out" 2>"$OUT/raw/$name.err" || echo "exit $?" >>"$OUT/raw/$name.err"; times >"$OUT/raw/$name.times" )
  WALL_S=$(echo "$t0 $(date +%s.%N)" | awk '{printf "%.2f", $2-$1}')
  BUSY=$(busy_pct "$s0" "$(stat_busy)")
  STEAL0=$(echo "$st0 $(stat_steal0)" | awk '{t = $4 - $2; printf "%.1f", (t > 0) ? ($3 - $1) * 100 / t : 0}')
  CPU_S=$(sed -n 2p "$OUT/raw/$name.times" | awk '{
    split($1,u,/[ms]/); split($2,s,/[ms]/); printf "%.3f", u[1]*60+u[2]+s[1]*60+s[2] }')
}

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

start_nginx() {
  local dir="$OUT/raw/nginx"; mkdir -p "$dir/logs" "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
worker_rlimit_nofile 200000;
events { worker_connections 100000; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  client_body_temp_path $dir/tmp;
  proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp; uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
  server { listen 127.0.0.1:$PORT; location / { return 200 "ok\n"; } }
}
EOF
  echo "$TGT_CPU $NGINX -p $dir -c $dir/nginx.conf" >>"$CMDS"
  $TGT_CPU "$NGINX" -p "$dir" -c "$dir/nginx.conf" >"$OUT/raw/nginx.out" 2>&1 & PIDS+=($!)
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && return 0; sleep 0.1; done
  log "nginx did not start (raw/nginx.out)"; return 1
}

start_delay() { # start_delay PORT ARGS...: the delay target on core 1
  local port=$1; shift
  echo "$TGT_CPU $DELAY --listen 127.0.0.1:$port $*" >>"$CMDS"
  $TGT_CPU "$DELAY" --listen "127.0.0.1:$port" "$@" >"$OUT/raw/delay-$port.out" 2>&1 & PIDS+=($!)
  DELAY_PID=$!
  sleep 0.3
}

surge_run() { # surge_run NAME PROFILE ARGS...: timed surge run into raw/NAME/
  local name=$1 profile=$2; shift 2
  timed "$name" $GEN_CPU "$SURGE" run "$ROOT/profiles/$profile" --workers "${SURGE_WORKERS:-1}" --no-report --no-health-check \
    --out "$OUT/raw/$name" "$@"
}

# surge_dist NAME WORKERS PROFILE ARGS...: a coordinator and WORKERS worker processes (one engine thread
# each) on the generator core, timed together: CPU_S is all of their user+sys.
surge_dist() {
  local name=$1 n=$2 profile=$3; shift 3
  local port=$((PORT + 7))
  timed "$name" $GEN_CPU bash -c '
    surge=$1 n=$2 port=$3 out=$4; shift 4
    "$surge" coordinator --listen "127.0.0.1:$port" --token bench --workers "$n" --no-report \
      --no-health-check --out "$out" "$@" & c=$!
    for i in $(seq "$n"); do
      "$surge" worker --join "http://127.0.0.1:$port" --token bench --threads 1 --name "w$i" \
        >"$out.w$i.log" 2>&1 &
    done
    wait "$c"; rc=$?; wait; exit "$rc"' _ "$SURGE" "$n" "$port" "$OUT/raw/$name" "$ROOT/profiles/$profile" "$@"
}

# ---- 1. CPU per request -----------------------------------------------------------------------------
cpu_bench() {
  command -v wrk >/dev/null && [ -x "$NGINX" ] || { note "## 1. CPU per request: skipped (no wrk/nginx)"; return; }
  start_nginx || return
  local url="http://127.0.0.1:$PORT/" tsv="$OUT/raw/cpu.tsv"
  echo -e "round\ttool\trequests\tcpu_s\twall_s\tus_per_req\treq_per_s\tmachine_busy_pct" >"$tsv"
  for r in $(seq "$ROUNDS"); do
    log "cpu round $r/$ROUNDS: wrk, surge (fast), surge (hyper), oha; ${CPU_SECS}s each, $CONNS connections"
    timed "wrk-$r" $GEN_CPU wrk -t1 -c"$CONNS" -d"${CPU_SECS}s" "$url"
    local n; n=$(awk '/requests in/{print $1}' "$OUT/raw/wrk-$r.out")
    row "$r" wrk "$n" >>"$tsv"
    for client in fast hyper; do
      surge_run "surge-$client-$r" bench-get.toml --target "http://127.0.0.1:$PORT" --concurrency "$CONNS" \
        --duration "${CPU_SECS}s" --http1 "$client" --drain 1s
      n=$(json "$OUT/raw/surge-$client-$r/summary.json" "d['totals']['count']" 2>/dev/null || echo 0)
      row "$r" "surge-$client" "$n" >>"$tsv"
    done
    # The same load from one process with 4 engine threads: what 4 event loops on one core cost, apart
    # from anything distributed.
    SURGE_WORKERS=4 surge_run "surge-local4-$r" bench-get.toml --target "http://127.0.0.1:$PORT" \
      --concurrency "$CONNS" --duration "${CPU_SECS}s" --drain 1s
    n=$(json "$OUT/raw/surge-local4-$r/summary.json" "d['totals']['count']" 2>/dev/null || echo 0)
    row "$r" "surge-local4" "$n" >>"$tsv"
    # The same load from a coordinator and 4 worker processes (issue 9, item 5: within 10% of one process).
    surge_dist "surge-dist4-$r" 4 bench-get.toml --target "http://127.0.0.1:$PORT" --concurrency "$CONNS" \
      --duration "${CPU_SECS}s" --drain 1s
    n=$(json "$OUT/raw/surge-dist4-$r/summary.json" "d['totals']['count']" 2>/dev/null || echo 0)
    row "$r" "surge-dist4" "$n" >>"$tsv"
    if [ -n "$OHA" ]; then
      timed "oha-$r" $GEN_CPU "$OHA" -z "${CPU_SECS}s" -c "$CONNS" --no-tui "$url"
      # Requests = rate x total time; oha prints the total in "secs" or "ms".
      n=$(awk '/Requests\/sec/{rps=$2} /Total:/{t=$2; if ($3 == "ms") t /= 1000} END{printf "%.0f", rps*t}' "$OUT/raw/oha-$r.out")
      row "$r" oha "$n" >>"$tsv"
    fi
  done
  kill "${PIDS[-1]}" 2>/dev/null || true
  python3 - "$tsv" >>"$RESULTS" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
tools = list(dict.fromkeys(r["tool"] for r in rows))
med = lambda t, k: statistics.median(float(r[k]) for r in rows if r["tool"] == t)
# Ratios are taken per round (same load), then the median of them.
def ratio(t):
    rs = [float(a["us_per_req"]) / float(b["us_per_req"]) for a in rows if a["tool"] == t
          for b in rows if b["tool"] == "wrk" and b["round"] == a["round"] and float(b["us_per_req"]) > 0]
    return statistics.median(rs) if rs else float("nan")
print("## 1. CPU per request (GET against nginx pinned to the other core)\n")
print("| generator | µs CPU / request (median) | CPU s per million requests | vs wrk (same round) | max req/s | machine busy % |")
print("|---|---|---|---|---|---|")
for t in tools:
    us = med(t, "us_per_req")
    print(f"| {t} | {us:.2f} | {us:.2f} | {ratio(t):.2f}x | {med(t,'req_per_s'):,.0f} | {med(t,'machine_busy_pct'):.0f} |")
def per_round(t, base):
    return [float(a["us_per_req"]) / float(b["us_per_req"]) for a in rows if a["tool"] == t
            for b in rows if b["tool"] == base and b["round"] == a["round"] and float(b["us_per_req"]) > 0]
def vs(t, base):
    rs = per_round(t, base)
    return statistics.median(rs) if rs else float("nan")
if "surge-dist4" in tools and "surge-fast" in tools:
    rs = sorted(per_round('surge-dist4', 'surge-fast'))
    print(f"\nA coordinator + 4 worker processes (surge-dist4) against one process with one engine thread (surge-fast), CPU per request, same round: {vs('surge-dist4', 'surge-fast'):.2f}x (goal: at most 1.10x); per round: {', '.join(f'{r:.2f}' for r in rs)}.")
if "surge-dist4" in tools and "surge-local4" in tools:
    print(f"Against one process with 4 engine threads on the same core (surge-local4): {vs('surge-dist4', 'surge-local4'):.2f}x; surge-local4 against surge-fast: {vs('surge-local4', 'surge-fast'):.2f}x.")
print(f"\n{len(rows)} measurements, raw in raw/cpu.tsv. 'machine busy' is all cores together (100 = both busy).\n")
EOF
}
row() { echo "$1 $2 $3 $CPU_S $WALL_S $BUSY" | awk '{us=($3>0)?$4*1e6/$3:0; rps=($5>0)?$3/$5:0;
  printf "%s\t%s\t%s\t%s\t%s\t%.3f\t%.0f\t%s\n", $1,$2,$3,$4,$5,us,rps,$6}'; }

# ---- 2. schedule adherence (issue 21: rounds, the host's timer floor, the 100k/s round) -------------
# shellcheck source=bench/pacing.sh
source "$ROOT/bench/pacing.sh"

# ---- 3. accuracy and the coordinated-omission check -------------------------------------------------
accuracy_bench() {
  command -v wrk >/dev/null || { note "## 3. Accuracy: skipped (no wrk)"; return; }
  local lua="$ROOT/bench/wrk-percentiles.lua" p1=$((PORT + 1)) p2=$((PORT + 2))
  note "## 3. Accuracy against a 20 ms target (bench delay-target), $CONNS connections, ${ACC_SECS}s"
  note ""
  note "| run | p50 ms | p99 ms | p99.9 ms | max ms | requests |"
  note "|---|---|---|---|---|---|"
  start_delay "$p1" --delay-ms 20
  log "accuracy: wrk and surge against the 20 ms target"
  timed acc-wrk $GEN_CPU wrk -t1 -c"$CONNS" -d"${ACC_SECS}s" -s "$lua" "http://127.0.0.1:$p1/"
  note "| wrk (closed) | $(grep '^PCT' "$OUT/raw/acc-wrk.out" | cut -d' ' -f2- | tr ' ' '|' ) |"
  surge_run acc-surge bench-get.toml --target "http://127.0.0.1:$p1" --concurrency "$CONNS" --duration "${ACC_SECS}s" --drain 1s
  note "| surge (closed) | $(json "$OUT/raw/acc-surge/summary.json" "' | '.join(f\"{d['totals'][k]:.2f}\" for k in ['p50_ms','p99_ms','p999_ms','max_ms']) + f\" | {d['totals']['count']}\"") |"
  kill "$DELAY_PID" 2>/dev/null || true
  log "coordinated-omission check: the target stalls ${STALL_SECS}s after ${STALL_AFTER}s"
  start_delay "$p2" --delay-ms 20 --stall-after-s "$STALL_AFTER" --stall-s "$STALL_SECS"
  timed co-wrk $GEN_CPU wrk -t1 -c"$CONNS" -d"${ACC_SECS}s" -s "$lua" "http://127.0.0.1:$p2/"
  kill "$DELAY_PID" 2>/dev/null || true
  note "| wrk, ${STALL_SECS}s stall (uncorrected) | $(grep '^PCT' "$OUT/raw/co-wrk.out" | cut -d' ' -f2- | tr ' ' '|' ) |"
  start_delay "$p2" --delay-ms 20 --stall-after-s "$STALL_AFTER" --stall-s "$STALL_SECS"
  # 1,500 arrivals/s: bench-open's 600,000 people x scale over ACC_SECS.
  surge_run co-surge bench-open.toml --target "http://127.0.0.1:$p2" --scale "$(echo "$ACC_SECS" | awk '{print $1*1500/600000}')" \
    --duration "${ACC_SECS}s" --drain 3s
  kill "$DELAY_PID" 2>/dev/null || true
  note "| surge open model 1,500/s, ${STALL_SECS}s stall (from intended start) | $(json "$OUT/raw/co-surge/summary.json" "' | '.join(f\"{d['totals'][k]:.2f}\" for k in ['p50_ms','p99_ms','p999_ms','max_ms']) + f\" | {d['totals']['count']}\"") |"
  note ""
  note "wrk measures from its own send: a stalled connection stops sending, so the stall hides in a few"
  note "samples. surge measures from each arrival's intended start, so every arrival during the stall shows it."
  note ""
}

# ---- 4. scale ----------------------------------------------------------------------------------------
scale_bench() {
  local people=$1 port=$((PORT + 3))
  [ "$people" -gt 0 ] || return 0
  # bench-scale.toml: quickstart's people and reference journey at a flat rate, population 3000 over
  # 30 s; --scale multiplies people, --duration stretches the curve so the arrival rate stays what one
  # core of reference backend serves.
  local scale dur
  scale=$(echo "$people" | awk '{printf "%.6f", $1/3000}')
  dur=$(echo "$people" | awk -v r="${SCALE_RATE:-2500}" '{printf "%ds", ($1/r < 10) ? 10 : $1/r}')
  log "scale: $people people (bench-scale x $scale over $dur) against surge target on core 1 (profile bench-scale.toml, plan scale.toml)"
  local plan="$ROOT/profiles/plans/scale.toml"
  echo "$TGT_CPU $SURGE target --listen 127.0.0.1:$port --plan $plan" >>"$CMDS"
  $TGT_CPU "$SURGE" target --listen "127.0.0.1:$port" --plan "$plan" >"$OUT/raw/scale-target.out" 2>&1 & PIDS+=($!)
  sleep 0.5
  # Peak RSS of the tester: GNU time's maximum resident set size.
  surge_run scale bench-scale.toml --target "http://127.0.0.1:$port" --scale "$scale" --duration "$dur" --drain 10s
  kill "${PIDS[-1]}" 2>/dev/null || true
  python3 - "$OUT/raw/scale" "$CPU_S" "$WALL_S" "$BUSY" "$OUT/raw/scale.err" >>"$RESULTS" <<'EOF'
import json, re, sys
d, cpu, wall, busy, err = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
s = json.load(open(f"{d}/summary.json"))
started = sum(j["started"] for j in s["journeys"].values()); ok = sum(j["succeeded"] for j in s["journeys"].values())
rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(err).read())
print("## 4. Scale: the reference journey (quickstart's signup + discovery) against `surge target`\n")
print("| people started | succeeded | tester peak RSS | tester CPU s | µs CPU / journey | wall s | machine busy % |")
print("|---|---|---|---|---|---|---|")
print(f"| {started:,} | {ok:,} | {int(rss.group(1))/1024 if rss else float('nan'):.0f} MB | {cpu:.1f} | {cpu*1e6/max(started,1):.0f} | {wall} | {busy} |\n")
# Arrivals against the curve, per region, per 10-second window (regions.csv: one row per interval and
# region with the curve's intended arrivals and the people actually started). The last window of the
# curve is cut where the run ends and is left out when it is shorter than 10 s.
import csv, collections
rows = list(csv.DictReader(open(f"{d}/regions.csv")))
step = 1.0   # interval length: the first change of t_s
for r in rows:
    if r["t_s"] != rows[0]["t_s"]:
        step = float(r["t_s"]) - float(rows[0]["t_s"]); break
win = collections.defaultdict(lambda: [0.0, 0, 0])   # (region, window) -> intended, started, intervals
for r in rows:
    w = win[(r["region"], int(float(r["t_s"]) // 10))]
    w[0] += float(r["intended_arrivals"]); w[1] += int(r["started"]); w[2] += 1
full = int(round(10 / step))
print("Arrivals per 10 s window against the curve (windows with at least 100 intended arrivals):\n")
print("| region | windows | within 1% | worst window | worst deviation |")
print("|---|---|---|---|---|")
for region in sorted({k[0] for k in win}):
    ws = [(k[1], v) for k, v in sorted(win.items()) if k[0] == region and v[2] == full and v[0] >= 100]
    devs = [(abs(v[1] - v[0]) / v[0], k, v) for k, v in ws]
    ok1 = sum(1 for x, _, _ in devs if x <= 0.01)
    worst = max(devs, default=None)
    wdesc = f"{worst[1]*10}-{worst[1]*10+10} s: {worst[2][1]:,} of {worst[2][0]:,.0f}" if worst else "-"
    print(f"| {region} | {len(ws)} | {ok1} | {wdesc} | {worst[0]*100 if worst else 0:.2f}% |")
print()
EOF
}

# ---- 5. coordinator merge ----------------------------------------------------------------------------
merge_bench() {
  log "merge bench (criterion)"
  local cmd=(cargo bench -p surge-benches --bench merge)
  # Smoke: the same code once, unoptimised and small (SURGE_BENCH_SNAPSHOTS), as a test.
  [ "$SMOKE" = 1 ] && cmd=(env SURGE_BENCH_SNAPSHOTS=20 cargo test -p surge-benches --bench merge)
  echo "${cmd[*]}" >>"$CMDS"
  (cd "$ROOT" && "${cmd[@]}") >"$OUT/raw/merge.out" 2>&1 || { log "merge bench failed (raw/merge.out)"; return 1; }
  note "## 5. Coordinator merge (criterion, crates/surge-benches/benches/merge.rs)"
  note ""
  note '```'
  grep -E "^coordinator|time:|Success|Testing|histogram bytes" "$OUT/raw/merge.out" >>"$RESULTS" || note "(no figures: see raw/merge.out)"
  note '```'
  note ""
}

# raw.tar.xz: what the tables were computed from, small enough to commit (well under 1 MB): raw/ less the
# latency logs (.hlog), compressed copies (.gz), build/apt/server logs and nginx's scratch folders.
archive_raw() {
  (cd "$OUT" && tar -cJf raw.tar.xz --exclude='*.hlog' --exclude='*.gz' --exclude='*.log' \
    --exclude='raw/nginx/logs' --exclude='raw/nginx/tmp' --exclude='*.pid' raw)
  local size; size=$(stat -c %s "$OUT/raw.tar.xz")
  [ "$size" -lt 1000000 ] || log "raw.tar.xz is $size bytes: too large to commit, look at what raw/ holds"
}

# ---- run ---------------------------------------------------------------------------------------------
echo "# surge benchmarks, $STAMP$([ "$SMOKE" = 1 ] && echo ' (smoke: figures are not measurements)' || true)" >"$RESULTS"
note ""
install_tools
build
versions
note "Generators on core 0, targets on core 1 ($( [ -n "$GEN_CPU" ] && echo pinned || echo 'not pinned: one core')). Load before: $(cat /proc/loadavg)."
note ""
# The scale run wraps the tester in GNU time -v for its peak RSS.
if [ "$SCALE_PEOPLE" -gt 0 ] && [ -x /usr/bin/time ]; then GEN_CPU="/usr/bin/time -v $GEN_CPU"; fi
if [ "$SCALE_PEOPLE" -gt 0 ] && want scale; then scale_bench "$SCALE_PEOPLE"; fi
GEN_CPU=${GEN_CPU#/usr/bin/time -v }
want cpu && cpu_bench
want pacing && pacing_bench
want accuracy && accuracy_bench
want merge && merge_bench
echo "loadavg after: $(cat /proc/loadavg)" >>"$OUT/machine.txt"
note "Load after: $(cat /proc/loadavg). Raw outputs: raw/ (not committed), its figures in raw.tar.xz; commands: commands.txt; versions: versions.txt."
archive_raw
cat "$RESULTS"
log "written $OUT"
if [ "$SMOKE" = 1 ]; then
  # The smoke run checks that every pipeline produced figures, not what they are.
  for f in "$OUT"/raw/*/summary.json; do [ -s "$f" ] || { log "missing $f"; exit 1; }; done
  ! grep -q "nan" "$RESULTS" || { log "a figure is missing (nan) in results.md"; exit 1; }
  # A few thousand idle WebSocket connections held by one surge process (issue 14).
  SURGE="$ROOT/target/release/surge" "$ROOT/bench/ws-hold.sh" --smoke || { log "ws-hold smoke failed"; exit 1; }
fi
