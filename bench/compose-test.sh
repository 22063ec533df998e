#!/usr/bin/env bash
# The docker compose test of distributed mode (issue 6): builds the static binary and the FROM-scratch
# image, runs docker-compose.yml with a target, a coordinator and 3 workers for a short profile, and
# checks the results folder on the host. Works with `docker compose` (v2) or `docker-compose` (v1).
#
#   bench/compose-test.sh
#   SURGE_BIN=path/to/static/surge bench/compose-test.sh     # skip the build, use this binary
#
# Exits 0 with a printed reason, without testing, only where no Docker engine answers. Any other
# failure (build, image, run, results) exits non-zero.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
say() { printf 'compose-test: %s\n' "$*"; }

if ! command -v docker >/dev/null 2>&1; then
  say "SKIPPED: no docker client installed, so no Docker engine answers"; exit 0
fi
if ! timeout 20 docker info >/dev/null 2>&1; then
  say "SKIPPED: no Docker engine answers ($(timeout 20 docker info 2>&1 | grep -m1 -i error || echo 'docker info failed'))"; exit 0
fi
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  say "FAILED: a Docker engine answers but neither 'docker compose' nor 'docker-compose' is installed"; exit 1
fi
say "using ${compose[*]} ($("${compose[@]}" version 2>/dev/null | head -1))"

# 1-2. The static binary, built outside docker, and the image (bench/image.sh).
# shellcheck source=bench/image.sh
. "$repo/bench/image.sh"
# shellcheck source=bench/check-results.sh
. "$repo/bench/check-results.sh"
proj="surgetest$$"
results="$repo/results/compose-test"
cleanup() {
  "${compose[@]}" -p "$proj" down --volumes --remove-orphans >/dev/null 2>&1 || true
}
trap cleanup EXIT
build_surge_image compose-test

# 3. The run: 3 workers, a short quickstart, results bind-mounted on the host.
rm -rf "$results"
mkdir -p "$results"
export SURGE_RESULTS="$results" SURGE_WORKERS=3 SURGE_DURATION="${SURGE_DURATION:-8s}" SURGE_PROFILE=quickstart.toml
export SURGE_TOKEN="ci-$RANDOM-$RANDOM" SURGE_UID="$(id -u)" SURGE_GID="$(id -g)" SURGE_COORDINATOR_PORT=
say "docker compose up: target, coordinator, 3 workers, quickstart over $SURGE_DURATION"
"${compose[@]}" -p "$proj" up -d --no-build --scale worker=3
cid="$("${compose[@]}" -p "$proj" ps -q coordinator)"
code="$(timeout 180 docker wait "$cid" || echo timeout)"
"${compose[@]}" -p "$proj" logs --no-color coordinator worker | tail -n 40
if [ "$code" != 0 ]; then
  say "FAILED: the coordinator exited with $code"; exit 1
fi
for w in $("${compose[@]}" -p "$proj" ps -q worker); do
  wcode="$(timeout 30 docker wait "$w" || echo timeout)"
  [ "$wcode" = 0 ] || { say "FAILED: worker $w exited with $wcode"; exit 1; }
done

# 4. The results folder on the host.
check_results compose-test "$results" "3 workers"
