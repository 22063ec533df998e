#!/usr/bin/env bash
# Distributed mode under Docker's swarm mode (issue 18, part 3): a one-node swarm on this machine
# (`docker swarm init --advertise-addr 127.0.0.1`), the stack deploy/swarm/surge-stack.yml (target,
# coordinator, workers as services, endpoint_mode dnsrr), the workers scaled from 1 to 3 with
# `docker service scale`, joining the coordinator by service name, and the results checked on the host
# through the bind mount.
#
#   bench/swarm-test.sh
#   SURGE_BIN=path/to/static/surge bench/swarm-test.sh     # skip the build, use this binary
#
# Leaves the machine as it found it: the stack removed, and the swarm left if this script created it
# (a swarm that was already active is used and kept). Exits 0 with a printed reason, without testing,
# only where no Docker engine answers.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
say() { printf 'swarm-test: %s\n' "$*"; }
# shellcheck source=bench/image.sh
. "$repo/bench/image.sh"
# shellcheck source=bench/check-results.sh
. "$repo/bench/check-results.sh"

if ! command -v docker >/dev/null 2>&1; then
  say "SKIPPED: no docker client installed, so no Docker engine answers"; exit 0
fi
if ! timeout 20 docker info >/dev/null 2>&1; then
  say "SKIPPED: no Docker engine answers"; exit 0
fi

stack="surgeswarm$$"
results="$repo/results/swarm-test"
made_swarm=0
cleanup() {
  docker stack rm "$stack" >/dev/null 2>&1 || true
  # The stack's overlay network goes once its tasks are gone; leaving the swarm waits for nothing.
  for _ in $(seq 1 30); do
    docker network ls --format '{{.Name}}' | grep -q "^${stack}_" || break
    sleep 1
  done
  if [ "$made_swarm" = 1 ]; then
    docker swarm leave --force >/dev/null 2>&1 || true
    say "left the swarm this script created"
  fi
}
trap cleanup EXIT INT TERM

build_surge_image swarm-test

state="$(docker info --format '{{.Swarm.LocalNodeState}}')"
if [ "$state" = active ]; then
  say "a swarm is already active here: using it, and leaving it active"
else
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  made_swarm=1
  say "docker swarm init --advertise-addr 127.0.0.1"
fi

rm -rf "$results"
mkdir -p "$results"
export SURGE_RESULTS="$results" SURGE_WORKERS=3 SURGE_DURATION="${SURGE_DURATION:-8s}" SURGE_PROFILE=quickstart.toml
export SURGE_TOKEN="ci-$RANDOM-$RANDOM" SURGE_UID="$(id -u)" SURGE_GID="$(id -g)"
say "docker stack deploy $stack: target, coordinator waiting for 3 workers, 1 worker"
docker stack deploy --resolve-image never -c deploy/swarm/surge-stack.yml "$stack" >/dev/null

# The coordinator waits for 3 workers; the stack starts 1. Scale as a user would.
sleep 3
say "docker service scale ${stack}_worker=3"
docker service scale --detach "${stack}_worker=3" >/dev/null

# The coordinator's task ends (restart_policy none) when the run is over: Complete or Failed.
final=""
for _ in $(seq 1 180); do
  final="$(docker service ps --no-trunc --format '{{.CurrentState}}' "${stack}_coordinator" | head -1)"
  case "$final" in Complete*|Failed*|Rejected*|Shutdown*) break ;; esac
  sleep 1
done
coord_logs="$(docker service logs --raw "${stack}_coordinator" 2>&1 | tail -n 30)"
printf '%s\n' "$coord_logs"
case "$final" in
  Complete*) say "coordinator task: $final" ;;
  *) say "FAILED: coordinator task ended as '$final'"
     docker service ps --no-trunc "${stack}_coordinator" "${stack}_worker" "${stack}_target" || true
     exit 1 ;;
esac
workers_done="$(docker service ps --format '{{.CurrentState}}' "${stack}_worker" | grep -c '^Complete' || true)"
[ "$workers_done" = 3 ] || { say "FAILED: $workers_done of 3 worker tasks completed"; docker service ps --no-trunc "${stack}_worker"; exit 1; }

check_results swarm-test "$results" "3 workers scaled by docker service scale"
