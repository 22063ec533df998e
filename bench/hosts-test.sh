#!/usr/bin/env bash
# surge across hosts (issue 18, part 2): a small internet of network namespaces on this machine, one
# surge run across it, and the checks that matter when workers sit in other regions.
#
#   sudo bash bench/hosts-test.sh              # the three scenarios below (~2 minutes)
#   HOSTS_SCENARIOS=distance bash bench/hosts-test.sh     # only the first (what .ci/run runs)
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
scenarios="${HOSTS_SCENARIOS:-distance host-loss dead-man}"
work="$(mktemp -d)"
chmod 755 "$work"

namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep '^surgeh-' || true; }
cleanup() {
  for ns in $(namespaces); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  done
  for ns in $(namespaces); do ip netns del "$ns" 2>/dev/null || true; done
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
}

build_internet
say "built: target 10.77.0.2, coordinator 10.77.0.3, workers ${addr[*]}; links americas ${delay[americas]}, europe ${delay[europe]}, asia ${delay[asia]} each way (+- $jitter)"
for s in $scenarios; do
  case "$s" in
    distance) scenario_distance ;;
    host-loss) scenario_host_loss ;;
    dead-man) scenario_dead_man ;;
    *) fail "unknown scenario $s (distance, host-loss, dead-man)" ;;
  esac
done
say "OK: $scenarios"
