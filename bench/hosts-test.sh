#!/usr/bin/env bash
# surge across hosts (issue 18, part 2): a small internet of network namespaces on this machine, one
# surge run across it, and the checks that matter when workers sit in other regions.
#
#   sudo bash bench/hosts-test.sh              # the four scenarios below (~80 s; what .ci/run runs)
#   HOSTS_SCENARIOS=clock sudo bash bench/hosts-test.sh   # only the named ones
#   HOSTS_KEEP=/tmp/hosts sudo bash bench/hosts-test.sh   # keep the results folders and logs there
#   HOSTS_CLOCK_UNCORRECTED=1 HOSTS_SCENARIOS=clock ...   # the control: workers ignore the estimated
#                                                         # offset, and the clock scenario must fail
#
# Layout (addresses 10.77.0.0/24 on one bridge, in a namespace of its own, so the machine's own
# network is never touched):
#   surgeh-target   10.77.0.2   `surge target` (baseline plan) on :8080
#   surgeh-coord    10.77.0.3   `surge coordinator --placement region` on :7700
#   surgeh-w-REGION 10.77.0.1x  one worker host per region: `surge worker --region REGION`
# Every host reaches the target through its own link: a `surge-link` relay on the host's 127.0.0.1:9000
# that holds each chunk for the link's one-way delay (+- jitter) before passing it to 10.77.0.2:8080.
# This kernel has no netem, so the delay is emulated in user space (crates/surge-testkit/src/link.rs,
# test tooling, not the product). The coordinator's `--target http://127.0.0.1:9000` therefore means
# "the target, at this host's distance" on every host.
#
# Scenarios and checks:
#   distance   each region's people leave from their own host (run.json placement), and each region's
#              register p50 is the target's service time plus that link's round trip: p50 - RTT agrees
#              across regions within 12 ms, and p50 >= RTT.
#   host-loss  the americas worker host is deleted (its processes killed, its namespace removed) mid-run:
#              the coordinator reports the worker lost, with the intervals it never reported.
#   dead-man   the coordinator's link is cut (its veth deleted) mid-run: every worker stops all load by
#              its dead-man switch and exits 2 within seconds.
#   clock      connected people message each other across hosts (americas and europe, contacts from
#              both regions, so about half the messages leave one worker host and arrive at the other),
#              twice: with true clocks, then with the americas worker's clock 1.5 s ahead
#              (SURGE_TEST_CLOCK_OFFSET_MS: namespaces share the kernel's clock, so the skew is
#              injected in the worker). Both hosts reach the target through a second link of their
#              own with the same one-way delay (20 ms +- 1 ms), so a message takes the sender's link,
#              the delivery service and the receiver's link whichever host it goes to. Checked: the
#              coordinator's recorded offset of each worker is the injected one within the recorded
#              error bound; the skewed run's delivery p50/p99 agree with the true-clock run's within
#              the stated clock bound plus a tolerance; delivery p50 is 20 + 20 ms + the service time.
#
# Root only (ip netns). Leaves nothing behind: every namespace it made is deleted on exit, on Ctrl-C
# and on TERM; a run killed with -9 is cleaned up by the next run (the names are fixed, prefix surgeh-).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
say() { printf 'hosts-test: %s\n' "$*"; }
fail() { say "FAILED: $*"; exit 1; }

[ "$(id -u)" = 0 ] || { say "SKIPPED: needs root for ip netns"; exit 0; }
command -v ip >/dev/null || { say "SKIPPED: no iproute2"; exit 0; }

regions=(americas europe asia)
declare -A delay=([americas]=30ms [europe]=10ms [asia]=60ms)   # one way: RTT is twice this
declare -A rtt_ms=([americas]=60 [europe]=20 [asia]=120)
declare -A addr=([americas]=10.77.0.11 [europe]=10.77.0.12 [asia]=10.77.0.13)
jitter=1ms
scenarios="${HOSTS_SCENARIOS:-distance host-loss dead-man clock}"
work="$(mktemp -d)"
chmod 755 "$work"

namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep '^surgeh-' || true; }
cleanup() {
  for ns in $(namespaces); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  done
  for ns in $(namespaces); do ip netns del "$ns" 2>/dev/null || true; done
  if [ -n "${HOSTS_KEEP:-}" ] && [ -d "$work" ]; then
    mkdir -p "$HOSTS_KEEP" && cp -r "$work"/. "$HOSTS_KEEP"/ && say "kept the results and logs in $HOSTS_KEEP"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup_leftovers() {
  local left
  left="$(namespaces | tr '\n' ' ')"
  if [ -n "$left" ]; then say "removing namespaces left by an earlier run: $left"; fi
  for ns in $(namespaces); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
}

# The binaries: surge and the link emulator, release builds.
if [ -z "${SURGE_BIN:-}" ] || [ -z "${SURGE_LINK_BIN:-}" ]; then
  say "building surge and surge-link (release)"
  cargo build --release -q -p surge-cli -p surge-testkit --bins
fi
surge="${SURGE_BIN:-$repo/target/release/surge}"
link="${SURGE_LINK_BIN:-$repo/target/release/surge-link}"

# host NAME ADDR: a namespace with loopback up and one veth into the bridge.
host() {
  local ns="surgeh-$1" ip="$2" ifn="v${2##*.}"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add "$ifn" netns "$ns" type veth peer name "$ifn-br" netns surgeh-net
  ip -n "$ns" addr add "$ip/24" dev "$ifn"
  ip -n "$ns" link set "$ifn" up
  ip -n surgeh-net link set "$ifn-br" master br0 up
}

# in_bg NAME LABEL CMD...: run in host NAME's namespace, in the background (a child of this shell, so
# it can be waited for), output to $work/NAME.LABEL.log; its pid in $bg_pid.
bg_pid=""
in_bg() {
  local name="$1" label="$2"; shift 2
  ip netns exec "surgeh-$name" "$@" >"$work/$name.$label.log" 2>&1 &
  bg_pid=$!
}

build_internet() {
  cleanup_leftovers
  ip netns add surgeh-net
  ip -n surgeh-net link set lo up
  ip -n surgeh-net link add br0 type bridge
  ip -n surgeh-net link set br0 up
  host target 10.77.0.2
  host coord 10.77.0.3
  for r in "${regions[@]}"; do host "w-$r" "${addr[$r]}"; done
  in_bg target target "$surge" target --listen 10.77.0.2:8080 --plan profiles/plans/baseline.toml
  in_bg coord link "$link" 127.0.0.1:9000 10.77.0.2:8080
  for r in "${regions[@]}"; do
    in_bg "w-$r" link "$link" 127.0.0.1:9000 10.77.0.2:8080 --delay "${delay[$r]}" --jitter "$jitter" --seed 7
  done
  # The target answers through the coordinator host's link.
  for _ in $(seq 1 50); do
    ip netns exec surgeh-coord bash -c 'exec 3<>/dev/tcp/127.0.0.1/9000' 2>/dev/null && return 0
    sleep 0.2
  done
  fail "the target did not answer through the coordinator's link"
}

# run_surge NAME DURATION: a coordinator and one worker per region; sets $coord_pid and $worker_pid[r].
declare -A worker_pid
run_surge() {
  local name="$1" duration="$2"
  mkdir -p "$work/results-$name"
  in_bg coord "coordinator-$name" "$surge" coordinator profiles/quickstart.toml \
    --listen 10.77.0.3:7700 --workers 3 --token hosts-test --placement region \
    --target http://127.0.0.1:9000 --duration "$duration" --out "$work/results-$name/run" --no-report
  coord_pid=$bg_pid
  sleep 0.5
  for r in "${regions[@]}"; do
    in_bg "w-$r" "worker-$name" "$surge" worker --join http://10.77.0.3:7700 \
      --token hosts-test --region "$r" --name "host-$r" --threads 1
    worker_pid[$r]=$bg_pid
  done
}

scenario_distance() {
  say "distance: quickstart for 15 s, each region's people from its own host, RTT americas ${rtt_ms[americas]} ms, europe ${rtt_ms[europe]} ms, asia ${rtt_ms[asia]} ms"
  run_surge distance 15s
  local code=0
  wait "$coord_pid" || code=$?
  [ "$code" = 0 ] || { tail -n 30 "$work/coord.coordinator-distance.log"; fail "distance: the coordinator exited with $code"; }
  for r in "${regions[@]}"; do wait "${worker_pid[$r]}" || fail "distance: the $r worker exited non-zero"; done
  python3 - "$work/results-distance/run" <<PY
import json, sys, pathlib
run = pathlib.Path(sys.argv[1])
info = json.loads((run / "run.json").read_text())
summary = json.loads((run / "summary.json").read_text())
rtt = {"americas": ${rtt_ms[americas]}, "europe": ${rtt_ms[europe]}, "asia": ${rtt_ms[asia]}}
placement = info.get("placement", {})
for region in rtt:
    names = placement.get(region, [])
    assert len(names) == 1 and names[0].startswith(f"host-{region}@"), f"placement of {region}: {placement}"
rest = {}
for region, steps in summary["regions"].items():
    s = steps["register"]
    assert s["count"] > 0 and s["errors"] == 0, f"{region}: {s}"
    assert s["p50_ms"] >= rtt[region], f"{region}: p50 {s['p50_ms']} ms below its RTT {rtt[region]} ms"
    rest[region] = s["p50_ms"] - rtt[region]
    print(f"hosts-test:   {region:9} register p50 {s['p50_ms']:7.1f} ms = link RTT {rtt[region]:4} ms + {rest[region]:5.1f} ms (p99 {s['p99_ms']:.1f} ms, {s['count']} requests)")
spread = max(rest.values()) - min(rest.values())
assert spread <= 12, f"p50 - RTT differs by {spread:.1f} ms across regions: {rest}"
print(f"hosts-test: distance OK: p50 minus the link's RTT agrees across regions within {spread:.1f} ms; placement {placement}")
PY
}

scenario_host_loss() {
  say "host-loss: quickstart for 16 s; the americas host is deleted 6 s in"
  run_surge host-loss 16s
  sleep 6.5
  for pid in $(ip netns pids surgeh-w-americas); do kill -9 "$pid" 2>/dev/null || true; done
  ip netns del surgeh-w-americas
  say "host-loss: deleted surgeh-w-americas"
  local code=0
  wait "$coord_pid" || code=$?
  wait "${worker_pid[europe]}" || true
  wait "${worker_pid[asia]}" || true
  python3 - "$work/results-host-loss/run" "$code" <<'PY'
import json, sys, pathlib
run = pathlib.Path(sys.argv[1])
summary = json.loads((run / "summary.json").read_text())
lost = summary["lost_workers"]
assert len(lost) == 1 and lost[0]["worker"].startswith("host-americas@"), f"lost workers: {lost}"
gap = lost[0]["missing_intervals"]
assert gap, f"no gap reported: {lost[0]}"
events = [json.loads(l) for l in (run / "events.jsonl").read_text().splitlines() if l.strip()]
said = [e for e in events if e.get("kind") == "worker_lost"]
assert said, "no worker_lost event"
print(f"hosts-test: host-loss OK: {lost[0]['worker']} lost at {lost[0]['lost_at_s']:.1f} s, intervals {gap} never reported "
      f"(coordinator exit {sys.argv[2]}); event: {said[0].get('detail', '')[:160]}")
PY
  # The americas host is gone: make it again for the next scenario.
  host w-americas "${addr[americas]}"
  in_bg w-americas link "$link" 127.0.0.1:9000 10.77.0.2:8080 --delay "${delay[americas]}" --jitter "$jitter" --seed 7
}

scenario_dead_man() {
  say "dead-man: quickstart for 30 s; the coordinator's link is cut 5 s in"
  run_surge dead-man 30s
  sleep 5.5
  ip -n surgeh-net link del v3-br
  local cut_at=$SECONDS
  say "dead-man: deleted the coordinator's veth"
  for r in "${regions[@]}"; do
    local code=0
    wait "${worker_pid[$r]}" || code=$?
    local took=$((SECONDS - cut_at))
    [ "$code" = 2 ] || { tail -n 20 "$work/w-$r.worker-dead-man.log"; fail "dead-man: the $r worker exited with $code, not 2"; }
    [ "$took" -le 20 ] || fail "dead-man: the $r worker took $took s to stop"
    grep -qi "dead-man\|not answered" "$work/w-$r.worker-dead-man.log" || { tail -n 20 "$work/w-$r.worker-dead-man.log"; fail "dead-man: the $r worker did not say why it stopped"; }
  done
  say "dead-man OK: all 3 workers stopped by their dead-man switch and exited 2, $(( SECONDS - cut_at )) s after the cut ($(grep -hi -m1 'dead-man\|not answered' "$work/w-americas.worker-dead-man.log" | cut -c1-140))"
  kill "$coord_pid" 2>/dev/null || true
  wait "$coord_pid" 2>/dev/null || true
  # The coordinator host has no link left: make it again for the next scenario.
  for pid in $(ip netns pids surgeh-coord); do kill -9 "$pid" 2>/dev/null || true; done
  ip netns del surgeh-coord
  host coord 10.77.0.3
  in_bg coord link "$link" 127.0.0.1:9000 10.77.0.2:8080
}

# The clock scenario's profile: americas and europe, 400 people over 10 s, each connected to the
# run's end and sending one message a second to a connected contact. Contacts are drawn from earlier
# arrivals of both regions (same_region = 0), so about half the messages cross between the hosts.
clock_profile() {
  local seed="$1" path="$work/clock-$1.toml"
  cat >"$path" <<TOML
name = "hosts-clock"
seed = $seed

[event]
population = 400
duration = "10s"
replay = "10s"
interval = "1s"

[[regions]]
name = "americas"
share = 0.5

[[regions]]
name = "europe"
share = 0.5

[curve]
kind = "ramp"
up = "0s"
hold = "10s"
down = "0s"

[address_book]
median = 12
sigma = 0.5
max = 40
same_region = 0.0
never_join = 0.0
later = 0.0

[client]
timeout = "5s"
retry = "give-up"

[journey]
builtin = "reference"

[journey.connect]
path = "/v1/ws"
headers = { authorization = "Bearer {token}", "x-surge-region" = "{region}" }
dwell = { fixed = "60s" }
messages = { per_minute = 60.0, frame = '{"type":"send","id":"{msg_id}","to":"{to}","body":{"sent_at":{sent_at},"region":"{region}"}}' }
ack = { pointer = "/type", equals = "ack", id = "/id" }
deliver = { pointer = "/type", equals = "message", id = "/id", sent_at = "/body/sent_at", region = "/body/region", deadline = "2s" }
TOML
  printf '%s' "$path"
}

# run_clock NAME SEED SKEW_MS: the coordinator and the americas and europe workers, the americas one
# with its clock SKEW_MS ahead, against the target through the clock links (:9001); waits for all.
run_clock() {
  local name="$1" seed="$2" skew="$3" profile code=0
  profile="$(clock_profile "$seed")"
  mkdir -p "$work/results-$name"
  in_bg coord "coordinator-$name" "$surge" coordinator "$profile" \
    --listen 10.77.0.3:7700 --workers 2 --token hosts-test --placement region \
    --target http://127.0.0.1:9001 --duration 10s --drain 5s --out "$work/results-$name/run" --no-report
  coord_pid=$bg_pid
  sleep 0.5
  for r in americas europe; do
    local offset=0
    [ "$r" = americas ] && offset="$skew"
    # The worker reads SURGE_TEST_CLOCK_UNCORRECTED when set at all, even empty.
    local control=()
    [ -n "${HOSTS_CLOCK_UNCORRECTED:-}" ] && control=(SURGE_TEST_CLOCK_UNCORRECTED=1)
    in_bg "w-$r" "worker-$name" env SURGE_TEST_CLOCK_OFFSET_MS="$offset" "${control[@]}" "$surge" worker \
      --join http://10.77.0.3:7700 --token hosts-test --region "$r" --name "host-$r" --threads 1
    worker_pid[$r]=$bg_pid
  done
  wait "$coord_pid" || code=$?
  [ "$code" -le 1 ] || { tail -n 30 "$work/coord.coordinator-$name.log"; fail "clock: the $name coordinator exited with $code"; }
  for r in americas europe; do
    wait "${worker_pid[$r]}" || { tail -n 20 "$work/w-$r.worker-$name.log"; fail "clock: the $name $r worker exited non-zero"; }
  done
}

scenario_clock() {
  local skew=1500 clock_delay=20ms pids=() pid
  # The clock links: the same one-way delay on both worker hosts (and none on the coordinator's).
  in_bg coord link-clock "$link" 127.0.0.1:9001 10.77.0.2:8080
  pids+=("$bg_pid")
  for r in americas europe; do
    in_bg "w-$r" link-clock "$link" 127.0.0.1:9001 10.77.0.2:8080 --delay "$clock_delay" --jitter "$jitter" --seed 9
    pids+=("$bg_pid")
  done
  local up=""
  for _ in $(seq 1 50); do
    ip netns exec surgeh-coord bash -c 'exec 3<>/dev/tcp/127.0.0.1/9001' 2>/dev/null && { up=1; break; }
    sleep 0.2
  done
  [ -n "$up" ] || fail "clock: the target did not answer through the coordinator's clock link"
  say "clock: connected people in americas and europe, both hosts ${clock_delay} (+- $jitter) one way from the target; 10 s with true clocks, then 10 s with the americas worker's clock +$skew ms"
  run_clock clock-true 1801 0
  run_clock clock-skewed 1802 "$skew"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  python3 - "$work/results-clock-true/run" "$work/results-clock-skewed/run" "$skew" \
    "${clock_delay%ms}" "${jitter%ms}" <<'PY'
import json, sys, pathlib
true_run, skew_run = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
skew, one_way, jitter = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
regions = ("americas", "europe")

def figures(run, injected):
    info = json.loads((run / "run.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    clocks = {c["worker"].split("@")[0]: c for c in info.get("clocks", [])}
    assert set(clocks) == {"host-americas", "host-europe"}, f"{run.name}: clocks {info.get('clocks')}"
    for host, c in clocks.items():
        want = injected.get(host, 0.0)
        # Namespaces share the kernel's clock: the true offset is exactly the injected one, so the
        # estimate must hold it within its own bound (plus 1 us of rounding).
        assert abs(c["offset_ms"] - want) <= c["bound_ms"] + 0.001, \
            f"{run.name}: {host} recorded offset {c['offset_ms']:+.3f} ms +- {c['bound_ms']:.3f}, injected {want:+.0f} ms"
    deliver = {}
    for region in regions:
        d = summary["regions"][region]["deliver"]
        m = summary["journeys"][region]["messages"]
        assert d["count"] > 100, f"{run.name}: {region} delivered only {d['count']}: {m}"
        deliver[region] = (d["p50_ms"], d["p99_ms"], d["count"], m)
    return clocks, summary["clock"]["bound_ms"], deliver

true_clocks, true_bound, true_d = figures(true_run, {})
skew_clocks, skew_bound, skew_d = figures(skew_run, {"host-americas": skew})
for label, clocks, bound, d in (("true clocks", true_clocks, true_bound, true_d),
                                (f"americas +{skew:.0f} ms", skew_clocks, skew_bound, skew_d)):
    offsets = ", ".join(f"{h} {c['offset_ms']:+.3f} +- {c['bound_ms']:.3f} ms" for h, c in sorted(clocks.items()))
    print(f"hosts-test:   {label:17} recorded offsets {offsets}; stated bound {bound:.3f} ms")
    for region, (p50, p99, n, m) in sorted(d.items()):
        print(f"hosts-test:   {label:17} from {region:8} deliver p50 {p50:5.1f} ms, p99 {p99:5.1f} ms "
              f"({n} delivered, {m['late']} late, {m['lost']} lost, {m['unknown']} unknown)")

# Agreement between the runs: the stated bound covers the clocks; the tolerances cover two separate
# runs (other people, other contacts) on a shared host. Measured here (2 cores, load average 5-7
# from other builds): p50 stayed within 44.0-44.9 ms over six runs, so 5 ms is the sharp check; a
# p99 of ~950 deliveries is about the 10th worst, and it ranged 48-89 ms between equal runs, so p99
# gets 100 ms, room for a busier CI host. An uncorrected +1.5 s skew moves every delivery into the
# americas host by +1,500 ms and refuses those out of it as not surge's (HOSTS_CLOCK_UNCORRECTED=1
# shows it: p50 1,543 ms): 15x beyond even the p99 tolerance.
TOL_P50, TOL_P99 = 5.0, 100.0
for region in regions:
    (a50, a99, _, _), (b50, b99, _, _) = true_d[region], skew_d[region]
    assert abs(a50 - b50) <= skew_bound + TOL_P50, f"{region} p50: skewed {b50:.1f} vs true {a50:.1f} ms"
    assert abs(a99 - b99) <= skew_bound + TOL_P99, f"{region} p99: skewed {b99:.1f} vs true {a99:.1f} ms"

# The links: a message crosses the sender's link one way, the target's delivery (baseline plan:
# median 1 ms) and the receiver's link one way: 20 + 20 ms + ~1 ms whichever host it goes to. Each
# crossing's jitter is +-1 ms. SLACK_MS is what the processes on this host add (acks, the same two
# crossings plus the ack, come back ~3 ms after the round trip here under load).
SERVICE_MS, SLACK_MS = 1.0, 8.0
links = 2 * one_way
low, high = links - 2 * jitter, links + SERVICE_MS + 2 * jitter + SLACK_MS
for label, d in (("true", true_d), ("skewed", skew_d)):
    for region, (p50, _, _, _) in d.items():
        assert low <= p50 <= high, f"{label} {region}: deliver p50 {p50:.1f} ms outside [{low:.0f}, {high:.0f}] ms (links {links:.0f} ms)"
c = skew_clocks["host-americas"]
worst50 = max(abs(true_d[r][0] - skew_d[r][0]) for r in regions)
worst99 = max(abs(true_d[r][1] - skew_d[r][1]) for r in regions)
p50s = [d[r][0] for d in (true_d, skew_d) for r in regions]
print(f"hosts-test: clock OK: host-americas recorded {c['offset_ms']:+.3f} ms +- {c['bound_ms']:.3f} ms for +{skew:.0f} ms injected; "
      f"skewed vs true deliver p50 within {worst50:.1f} ms, p99 within {worst99:.1f} ms (bound {skew_bound:.3f} ms + {TOL_P50:.0f} / {TOL_P99:.0f} ms); "
      f"deliver p50 {min(p50s):.1f}-{max(p50s):.1f} ms = links {one_way:.0f} + {one_way:.0f} ms + service")
PY
}

build_internet
say "built: target 10.77.0.2, coordinator 10.77.0.3, workers ${addr[*]}; links americas ${delay[americas]}, europe ${delay[europe]}, asia ${delay[asia]} each way (+- $jitter)"
for s in $scenarios; do
  case "$s" in
    distance) scenario_distance ;;
    host-loss) scenario_host_loss ;;
    dead-man) scenario_dead_man ;;
    clock) scenario_clock ;;
    *) fail "unknown scenario $s (distance, host-loss, dead-man, clock)" ;;
  esac
done
say "OK: $scenarios"
