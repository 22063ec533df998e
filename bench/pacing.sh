# bench/pacing.sh: part 2 of bench/run.sh (sourced by it; uses its helpers): schedule adherence, issue 21.
#
# Each round, on the generator core (core 0), one after the other:
#   1. the host's timer floor: `timer-floor` (surge_engine::floor), a bare thread sleeping to absolute
#      deadlines at the pacer's wake-up rate (the arrival rate, at most 10,000/s: the fine grid), FLOOR_SECS;
#   2. surge --pacing fine at PACE_RATE arrivals/s for PACE_DUR (bench-open.toml, GET / against nginx on core 1);
#   3. PACE_BASE fine, when set: another surge binary (the old pacer) in the same round, A/B;
#   4. surge --pacing coarse, same load: the pacing's own CPU is fine minus coarse, µs per arrival,
#      read against the host's least: the extra wake-ups fine needs over coarse times what one wake-up
#      cost the floor probe (its own CPU per wake-up, step 1).
#   5. the host's request floor, fine and coarse (`request-floor`, grid 100 µs and 1 ms): a bare
#      single-threaded epoll client sending the same schedule to the same nginx, no runtime, no tasks,
#      no recording beyond one number per arrival. What any paced client pays on this host: surge's CPU
#      per arrival minus it is surge's own; its fine minus coarse is the least the finer grid costs here
#      (the target's cross-core wake-ups included, which a loopback sender pays in its send calls).
# Then one round at PACE_HIGH_RATE (100,000/s) across $(nproc) worker threads, unpinned (fine only),
# and the request floor at that rate with as many threads.
#
# Knobs (environment): PACE_ROUNDS (5), PACE_RATE (20000), PACE_DUR (30s), FLOOR_SECS (10),
# FLOOR_RATE (min(PACE_RATE, 10000)), PACE_BASE (path to a surge binary, unset), PACE_COARSE (1),
# PACE_REQ (1; 0 skips the request floor), PACE_REQ_DUR (15s),
# PACE_HIGH (1; 0 skips the 100k round), PACE_HIGH_RATE (100000), PACE_HIGH_DUR (10s),
# PACE_NICE (unset; e.g. -10 runs the probe and every surge in a session of its own at that autogroup
# nice, and nginx too: what the pacer does when the host gives it the cores, apart from what others take).
# Quick look: PACE_ROUNDS=2 PACE_DUR=8s FLOOR_SECS=3 PACE_HIGH=0 bench/run.sh --only pacing

pace_scale() { # pace_scale RATE DURATION: bench-open's --scale for RATE arrivals/s over DURATION
  echo "$1 ${2%s}" | awk '{printf "%.6f", $1*$2/600000}'
}

# pace_row ROUND KIND DIR: one TSV row of a surge run's figures (CPU_S, BUSY from `timed`).
pace_row() {
  python3 - "$1" "$2" "$3" "$CPU_S" "$BUSY" <<'EOF'
import csv, json, sys
rnd, kind, d, cpu, busy = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
try:
    s = json.load(open(f"{d}/summary.json")); run = json.load(open(f"{d}/run.json"))
    rows = list(csv.DictReader(open(f"{d}/regions.csv")))
except (OSError, ValueError):
    print(f"{rnd}\t{kind}\tnan\tnan\tnan\tnan\tnan\tnan\tnan\t{busy}\t0\tnan\tnan"); sys.exit()
g = s["generator"]; n = s["totals"]["count"] or 1
per = {}
for r in rows:
    k = int(r["interval"]); a, b = per.get(k, (0.0, 0.0))
    per[k] = (a + float(r["intended_arrivals"]), b + float(r["started"]))
# Full intervals only: the first and last may be cut.
full = [v for k, v in sorted(per.items()) if v[0] > 0][1:-1] or [v for v in per.values() if v[0] > 0]
err = (sum(b for _, b in full) / max(sum(a for a, _ in full), 1) - 1) * 100
worst = max((abs(b - a) / a for a, b in full), default=0) * 100
print(f"{rnd}\t{kind}\t{g['send_lag_p50_ms']*1e3:.0f}\t{g['send_lag_p99_ms']*1e3:.0f}\t{g['send_lag_p999_ms']*1e3:.0f}\t"
      f"{g['send_lag_max_ms']*1e3:.0f}\t{err:+.3f}\t{worst:.2f}\t{cpu*1e6/n:.2f}\t{busy}\t{n}\tnan\tnan")
EOF
}

# floor_row ROUND: the timer-floor probe on the generator core, as a TSV row.
floor_row() {
  local r=$1 rate=${FLOOR_RATE:-$(( PACE_RATE < 10000 ? PACE_RATE : 10000 ))}
  timed "floor-$r" $GEN_CPU "$FLOOR" --seconds "${FLOOR_SECS}" --rate "$rate" --clock timerfd --cpu-seconds 1
  python3 - "$r" "$OUT/raw/floor-$r.out" "$BUSY" <<'EOF'
import json, sys
r, f, busy = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    d = json.loads(open(f).read().strip().splitlines()[-1])
    share, wake = d.get("cpu_share"), d.get("cpu_us_per_wakeup")
    print(f"{r}\tfloor\t{d['p50_us']:.0f}\t{d['p99_us']:.0f}\t{d['p999_us']:.0f}\t{d['max_us']:.0f}\tnan\tnan\tnan\t{busy}\t{d['wakeups']}\t{'nan' if share is None else share}\t{'nan' if wake is None else wake}")
except (OSError, ValueError, IndexError, KeyError):
    print(f"{r}\tfloor\tnan\tnan\tnan\tnan\tnan\tnan\tnan\t{busy}\t0\tnan\tnan")
EOF
}

# req_row ROUND KIND GRID_US RATE DURATION [THREADS [CPU]]: the request floor (a bare paced client) as a TSV row.
req_row() {
  local r=$1 kind=$2 grid=$3 rate=$4 secs=${5%s} threads=${6:-1} cpu=${7-$GEN_CPU}
  timed "$kind-$r" $cpu "$BIN_DIR/request-floor" --target "127.0.0.1:$PORT" --rate "$rate" --seconds "$secs" \
    --grid-us "$grid" --threads "$threads"
  # CPU per arrival as surge's rows count it: the whole process (from `times`), setup included.
  python3 - "$r" "$kind" "$OUT/raw/$kind-$r.out" "$BUSY" "$rate" "$CPU_S" <<'EOF'
import json, sys
r, kind, f, busy, rate, cpu = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), float(sys.argv[6])
try:
    d = json.loads(open(f).read().strip().splitlines()[-1])
    # Sent before the schedule's end, against what it held: how far behind the client fell.
    err = (d.get("in_schedule", d["arrivals"]) / (rate * d["seconds"]) - 1) * 100
    print(f"{r}\t{kind}\t{d['p50_us']:.0f}\t{d['p99_us']:.0f}\t{d['p999_us']:.0f}\t{d['max_us']:.0f}\t{err:+.3f}\tnan\t"
          f"{cpu * 1e6 / max(d['arrivals'], 1):.2f}\t{busy}\t{d['arrivals']}\tnan\tnan")
except (OSError, ValueError, IndexError, KeyError):
    print(f"{r}\t{kind}\tnan\tnan\tnan\tnan\tnan\tnan\tnan\t{busy}\t0\tnan\tnan")
EOF
}

# steal_col: raw/row.tsv (a row printer's output, written there and not piped, so that the `timed`
# inside it ran in this shell) with the last `timed` run's STEAL0 appended.
steal_col() { sed "s/\$/\t${STEAL0:-nan}/" "$OUT/raw/row.tsv"; }

pacing_bench() {
  [ -x "$NGINX" ] || { note "## 2. Schedule adherence: skipped (no nginx)"; return; }
  FLOOR="$BIN_DIR/timer-floor"
  local rounds=${PACE_ROUNDS:-$([ "$SMOKE" = 1 ] && echo 1 || echo 5)}
  PACE_RATE=${PACE_RATE:-$([ "$SMOKE" = 1 ] && echo 2000 || echo 20000)}
  FLOOR_SECS=${FLOOR_SECS:-$([ "$SMOKE" = 1 ] && echo 1 || echo 10)}
  local dur=${PACE_DUR:-30s} high=${PACE_HIGH:-1} base=${PACE_BASE:-} req=${PACE_REQ:-1}
  local req_dur=${PACE_REQ_DUR:-$([ "$SMOKE" = 1 ] && echo 2s || echo 15s)}
  local scale; scale=$(pace_scale "$PACE_RATE" "$dur")
  local tsv="$OUT/raw/pacing.tsv" url="http://127.0.0.1:$PORT"
  local GEN_CPU=$GEN_CPU TGT_CPU=$TGT_CPU
  if [ -n "${PACE_NICE:-}" ]; then
    GEN_CPU="setsid -w $ROOT/bench/nice-session.sh $PACE_NICE $GEN_CPU"
    TGT_CPU="setsid -w $ROOT/bench/nice-session.sh $PACE_NICE $TGT_CPU"
  fi
  start_nginx || return
  echo -e "round\tkind\tp50_us\tp99_us\tp999_us\tmax_us\trate_err_pct\tworst_interval_pct\tus_cpu_per_arrival\tmachine_busy_pct\tcount\tcore_share\tcpu_us_per_wakeup\tsteal0_pct" >"$tsv"
  for r in $(seq "$rounds"); do
    log "pacing round $r/$rounds: floor ${FLOOR_SECS}s, then $PACE_RATE arrivals/s for $dur: fine$([ -n "$base" ] && echo ', base fine'), coarse"
    floor_row "$r" >"$OUT/raw/row.tsv"; steal_col >>"$tsv"
    surge_run "pace-fine-$r" bench-open.toml --target "$url" --scale "$scale" --duration "$dur" --pacing fine --drain 2s
    pace_row "$r" fine "$OUT/raw/pace-fine-$r" >"$OUT/raw/row.tsv"; steal_col >>"$tsv"
    if [ -n "$base" ]; then
      SURGE="$base" surge_run "pace-base-$r" bench-open.toml --target "$url" --scale "$scale" --duration "$dur" --pacing fine --drain 2s
      pace_row "$r" base-fine "$OUT/raw/pace-base-$r" >"$OUT/raw/row.tsv"; steal_col >>"$tsv"
    fi
    if [ "${PACE_COARSE:-1}" = 1 ]; then
      surge_run "pace-coarse-$r" bench-open.toml --target "$url" --scale "$scale" --duration "$dur" --pacing coarse --drain 2s
      pace_row "$r" coarse "$OUT/raw/pace-coarse-$r" >"$OUT/raw/row.tsv"; steal_col >>"$tsv"
    fi
    if [ "$req" = 1 ]; then
      req_row "$r" req-fine 100 "$PACE_RATE" "$req_dur" >"$OUT/raw/row.tsv"; steal_col >>"$tsv"
      req_row "$r" req-coarse 1000 "$PACE_RATE" "$req_dur" >"$OUT/raw/row.tsv"; steal_col >>"$tsv"
    fi
  done
  if [ "$high" = 1 ] && [ "$SMOKE" = 0 ]; then
    local hr=${PACE_HIGH_RATE:-100000} hd=${PACE_HIGH_DUR:-10s}
    log "pacing at $hr arrivals/s for $hd across $(nproc) worker threads (unpinned)"
    # The whole machine's worker threads: surge is not pinned (nginx still is, to core 1).
    GEN_CPU="${PACE_NICE:+setsid -w $ROOT/bench/nice-session.sh $PACE_NICE}" SURGE_WORKERS=$(nproc) surge_run "pace-high" bench-open.toml --target "$url" \
      --scale "$(pace_scale "$hr" "$hd")" --duration "$hd" --pacing fine --drain 2s
    pace_row high fine "$OUT/raw/pace-high" >"$OUT/raw/row.tsv"; steal_col >>"$tsv"
    if [ "$req" = 1 ]; then
      req_row high req-fine 100 "$hr" "$hd" "$(nproc)" "${PACE_NICE:+setsid -w $ROOT/bench/nice-session.sh $PACE_NICE}" >"$OUT/raw/row.tsv"; steal_col >>"$tsv"
    fi
  fi
  kill "${PIDS[-1]}" 2>/dev/null || true
  # Under PACE_NICE the PID above is setsid's: stop nginx itself, by the pid file it wrote.
  [ -s "$OUT/nginx/nginx.pid" ] && kill "$(cat "$OUT/nginx/nginx.pid")" 2>/dev/null || true
  python3 - "$tsv" "$PACE_RATE" "$dur" "$rounds" "${PACE_NICE:-}" "$(nproc)" "${PACE_HIGH_RATE:-100000}" >>"$RESULTS" <<'EOF'
import csv, math, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
rate, dur, rounds, nice = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
ncpu, high_rate = int(sys.argv[6]), int(sys.argv[7])
f = lambda x: float(x) if x not in ("", "nan") else math.nan
get = lambda rnd, kind: next((x for x in rows if x["round"] == rnd and x["kind"] == kind), None)
GOAL_P99, GOAL_ERR, GOAL_CPU, FLOOR_BUDGET = 200, 0.5, 10, 100
print(f"## 2. Schedule adherence: {rate:,} arrivals/s for {dur}, {rounds} rounds (bench-open.toml, GET / against nginx on core 1)\n")
if nice:
    print(f"**PACE_NICE={nice}: the probe, surge and nginx ran in sessions of their own at autogroup nice {nice}**, "
          "taking both cores from the other work on them: these figures are the pacer's, not what a default run gets.\n")
print("Per round, in this order on core 0: the host's timer floor (a bare thread sleeping to absolute deadlines), "
      "surge fine, [the baseline binary, fine,] surge coarse, then the request floor fine and coarse (req-fine, "
      "req-coarse: a bare epoll client, no runtime, same schedule, same nginx). Send lag in µs. "
      "'steal' is the share of core 0 the hypervisor gave to something else while the run had work for it.\n")
print("| round | floor p99 (p99.9) µs, core share, CPU / wake-up | pacing | send lag p50 / p99 / p99.9 / max µs | rate error | worst 1 s | µs CPU / arrival | pacing CPU µs / arrival (fine − coarse; the host's least) | lag goal met | CPU goal met | busy % | steal % |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
# The wake-ups a second each pacing needs: fine one per 100 µs grid slot with an arrival (at most
# 10,000), coarse one per tokio tick (1 ms). The extra ones times what one costs on this host (the
# floor probe's CPU per wake-up, same round) is the least fine pacing can cost over coarse.
extra_wakeups = min(rate, 10_000) - min(rate, 1_000)
met, host_limited, p99s, pcpu, base_p99s = 0, 0, [], [], []
req_p99s, req_pcpu, req_cpu, own, steals = [], [], [], [], []
cpu_met, cpu_host, cpu_floors = 0, 0, []
for rnd in sorted({x["round"] for x in rows if x["round"] != "high"}, key=int):
    fl, co = get(rnd, "floor"), get(rnd, "coarse")
    rf, rc = get(rnd, "req-fine"), get(rnd, "req-coarse")
    # The request floor's own pacing CPU: a bare client's fine minus coarse, same schedule, same target.
    req_pc = f(rf["us_cpu_per_arrival"]) - f(rc["us_cpu_per_arrival"]) if rf and rc else math.nan
    for kind in ("fine", "base-fine", "coarse", "req-fine", "req-coarse"):
        x = get(rnd, kind)
        if not x: continue
        p99, err, cpu = f(x["p99_us"]), f(x["rate_err_pct"]), f(x["us_cpu_per_arrival"])
        base = rc if kind.startswith("req") else co
        pc = cpu - f(base["us_cpu_per_arrival"]) if base and not kind.endswith("coarse") else math.nan
        wake = f(fl.get("cpu_us_per_wakeup", "nan")) if fl else math.nan
        least = extra_wakeups * wake / rate   # the host's least pacing CPU per arrival, µs
        if not math.isnan(req_pc):
            least = max(least, req_pc)
        cpu_ok = pc <= GOAL_CPU
        cpu_verdict = "-" if kind.endswith("coarse") or math.isnan(pc) else ("yes" if cpu_ok else (
            f"no: host (the least here is {least:.1f} > {GOAL_CPU})" if least > GOAL_CPU else "no"))
        ok = p99 <= GOAL_P99 and abs(err) <= GOAL_ERR
        need = cpu * rate / 1e6   # the share of core 0 this load needs
        share = f(fl["core_share"]) if fl else math.nan
        why = []
        if fl and f(fl["p99_us"]) > FLOOR_BUDGET: why.append(f"timer floor p99 {f(fl['p99_us']):.0f} µs > {FLOOR_BUDGET}")
        if share < need: why.append(f"core share {share:.0%} < the {need:.0%} this load needs")
        if rf and f(rf["p99_us"]) > GOAL_P99: why.append(f"a bare paced client's p99 {f(rf['p99_us']):.0f} µs > {GOAL_P99}")
        steal = f(x.get("steal0_pct") or "nan")
        if steal >= 1: why.append(f"the hypervisor took {steal:.0f}% of core 0")
        if kind == "fine": steals.append(steal)
        limited = bool(why)
        verdict = "-" if kind.endswith("coarse") else ("yes" if ok else ("no: host (" + "; ".join(why) + ")" if limited else "no"))
        if kind == "fine":
            met += ok; p99s.append(p99); pcpu.append(pc)
            host_limited += (not ok) and limited
            cpu_met += cpu_ok; cpu_host += (not cpu_ok) and least > GOAL_CPU; cpu_floors.append(least)
        if kind == "base-fine": base_p99s.append(p99)
        if kind == "req-fine":
            req_p99s.append(p99); req_pcpu.append(pc); req_cpu.append(cpu)
            if get(rnd, "fine"): own.append(f(get(rnd, "fine")["us_cpu_per_arrival"]) - cpu)
        floor = f"{f(fl['p99_us']):.0f} ({f(fl['p999_us']):.0f}), {share:.0%}, {wake:.1f} µs" if fl and kind == "fine" else ""
        pcs = "" if math.isnan(pc) else (f"{pc:.1f} ({least:.1f})" if not math.isnan(least) else f"{pc:.1f}")
        print(f"| {rnd if kind == 'fine' else ''} | {floor} | {kind} | {f(x['p50_us']):.0f} / {p99:.0f} / {f(x['p999_us']):.0f} / {f(x['max_us']):.0f} | "
              f"{err:+.2f}% | {'-' if math.isnan(f(x['worst_interval_pct'])) else format(f(x['worst_interval_pct']), '.2f') + '%'} | {cpu:.1f} | {pcs} | {verdict} | {cpu_verdict} | {x['machine_busy_pct']} | {steal:.0f} |")
def mw(v):
    v = [x for x in v if not math.isnan(x)]
    return (statistics.median(v), max(v)) if v else (math.nan, math.nan)
(m99, w99), (mc, wc) = mw(p99s), mw(pcpu)
floors = mw([f(x["p99_us"]) for x in rows if x["kind"] == "floor"])
print(f"\nfine, {len(p99s)} rounds: send lag p99 median **{m99:.0f} µs**, worst **{w99:.0f} µs** (goal ≤ {GOAL_P99} µs with rate within {GOAL_ERR}%: "
      f"met in **{met} of {len(p99s)}**; {host_limited} of the misses in rounds where the host was the limit: timer floor p99 above {FLOOR_BUDGET} µs, or "
      f"less of core 0 left to a busy thread than the load needs). "
      f"Pacing CPU (fine − coarse): median **{mc:.1f}**, worst {wc:.1f} µs per arrival (goal ≤ {GOAL_CPU}: met in **{cpu_met} of {len(pcpu)}**; "
      f"{cpu_host} of the misses in rounds where the host's own cost of the {extra_wakeups:,} extra wake-ups a second was above the goal: "
      f"median {mw(cpu_floors)[0]:.1f} µs per arrival). "
      f"Host timer floor p99: median {floors[0]:.0f} µs, worst {floors[1]:.0f} µs. "
      f"Steal on core 0 during surge fine: median {mw(steals)[0]:.0f}%, worst {mw(steals)[1]:.0f}%.")
if req_p99s:
    (rm, rw), (rpm, rpw), (om, ow) = mw(req_p99s), mw(req_pcpu), mw(own)
    print(f"\nThe request floor (a bare single-threaded epoll client, same schedule, same nginx), {len(req_p99s)} rounds: "
          f"fine send lag p99 median **{rm:.0f} µs**, worst {rw:.0f} µs; its CPU {mw(req_cpu)[0]:.1f} µs per arrival fine, "
          f"and its pacing CPU (fine − coarse) median **{rpm:.1f} µs**, worst {rpw:.1f} µs per arrival: the least this host "
          f"allows for a 100 µs grid against this target. Surge's own CPU per arrival over the bare client's (fine): "
          f"median **{om:.1f} µs**, worst {ow:.1f} µs.")
if base_p99s:
    bm, bw = mw(base_p99s)
    print(f"Baseline binary (PACE_BASE), fine, same rounds: p99 median {bm:.0f} µs, worst {bw:.0f} µs.")
h = get("high", "fine")
hr = get("high", "req-fine")
if hr:
    print(f"\nThe request floor at the high rate with {ncpu} threads: send lag p50 / p99 / max {f(hr['p50_us']):.0f} / **{f(hr['p99_us']):.0f}** / "
          f"{f(hr['max_us']):.0f} µs, sent within the schedule {f(hr['rate_err_pct']):+.2f}% off its rate, {f(hr['us_cpu_per_arrival']):.1f} µs CPU per arrival.")
if h:
    print(f"\nAt the high rate across the machine's worker threads: send lag p50 / p99 / p99.9 / max {f(h['p50_us']):.0f} / **{f(h['p99_us']):.0f}** / "
          f"{f(h['p999_us']):.0f} / {f(h['max_us']):.0f} µs (goal p99 ≤ 1,000 µs), rate error {f(h['rate_err_pct']):+.2f}%, "
          f"{f(h['us_cpu_per_arrival']):.1f} µs CPU / arrival, {int(h['count']):,} arrivals.")
    # What the machine can give at all: the generator's CPU per arrival times the rate, against the
    # cores there are (one of which also runs the target).
    need = f(h["us_cpu_per_arrival"]) * high_rate / 1e6
    if not math.isnan(need):
        if need > ncpu - 0.5:
            print(f"That rate needs ~{need:.1f} cores of generator CPU at the {f(h['us_cpu_per_arrival']):.1f} µs per arrival measured; "
                  f"this host has {ncpu}, one of them also running the target: **the host cannot offer it**, whatever the pacer does.")
        else:
            print(f"That rate needs ~{need:.1f} of this host's {ncpu} cores of generator CPU at the CPU per arrival measured.")
print("\nThe floor's rate is the pacer's wake-up rate (the arrival rate, at most one per 100 µs grid slot); "
      "'core share' is the part of core 0 a busy thread got for 1 s right after it (others' work takes the rest); "
      "'CPU / wake-up' is the floor probe's own CPU per wake-up, and '(the host's least)' the extra wake-ups fine pacing needs over coarse "
      "times that, per arrival: what any pacer on this grid pays here. "
      "Raw figures: raw/pacing.tsv; each run's summary.json under raw/pace-*.\n")
EOF
}
