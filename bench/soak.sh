#!/usr/bin/env bash
# Soak: a steady 100 journeys/s of the reference journey against the reference target (release build),
# sampling the RSS of the surge process every 10 s; prints min/max RSS and the error count.
#
#   bench/soak.sh                       # the documented soak: 30 minutes, 180,000 journeys
#   SOAK_DURATION=3m bench/soak.sh      # a short one (the population is scaled to keep 100/s)
#
# Environment: SOAK_DURATION (30m; s/m/h), SOAK_OUT (results folder, default
# bench/soak-runs/<UTC time>), SOAK_SAMPLE (RSS sampling period in seconds, 10), CARGO_TARGET_DIR.
# Exit code: surge's (0 when the SLOs held), or 3 when RSS grew by more than 20% from the first
# minute to the end, or errors were counted.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${SOAK_DURATION:-30m}
sample=${SOAK_SAMPLE:-10}
out=${SOAK_OUT:-bench/soak-runs/$(date -u +%Y%m%dT%H%M%SZ)}
case "$duration" in
  *h) secs=$(( ${duration%h} * 3600 )) ;;
  *m) secs=$(( ${duration%m} * 60 )) ;;
  *s) secs=${duration%s} ;;
  *) echo "SOAK_DURATION: use 30m, 1800s or 1h" >&2; exit 2 ;;
esac
# bench/soak.toml holds 180,000 people over 30 minutes: scale them with the duration to keep 100/s.
scale=$(awk -v s="$secs" 'BEGIN { printf "%.6f", s / 1800 }')

cargo build --release -p surge-cli --quiet
bin=${CARGO_TARGET_DIR:-target}/release/surge
mkdir -p "$out"

"$bin" target --listen 127.0.0.1:0 2> "$out/target.log" &
target_pid=$!
trap 'kill "$target_pid" 2>/dev/null || true' EXIT
url=""
for _ in $(seq 100); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$out/target.log" | head -1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "the reference target did not start:" >&2; cat "$out/target.log" >&2; exit 2; }

echo "soak: $duration at 100 journeys/s (scale $scale) against $url; results in $out/run"
"$bin" run bench/soak.toml --target "$url" --duration "$duration" --scale "$scale" \
  --out "$out/run" > "$out/surge.out" 2> "$out/surge.err" &
surge_pid=$!
echo "t_s,surge_rss_kib,target_rss_kib" > "$out/rss.csv"
start=$(date +%s)
while kill -0 "$surge_pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$surge_pid/status" 2>/dev/null || true)
  trss=$(awk '/^VmRSS/ { print $2 }' "/proc/$target_pid/status" 2>/dev/null || true)
  [ -n "$rss" ] && echo "$(( $(date +%s) - start )),$rss,$trss" >> "$out/rss.csv"
  sleep "$sample"
done
code=0
wait "$surge_pid" || code=$?

summary="$out/run/summary.json"
errors=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["errors"])' "$summary" 2>/dev/null || echo "?")
count=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["count"])' "$summary" 2>/dev/null || echo "?")
status=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$summary" 2>/dev/null || echo "?")
# First sample after a minute of warm-up (or the first one for short runs) against the last one.
read -r min max first last n < <(awk -F, -v warm=60 'NR > 1 {
    v = $2 / 1024; n++
    if (min == "" || v < min) min = v
    if (v > max) max = v
    if (first == "" && $1 >= warm) first = v
    last = v; any = v
  } END { if (first == "") first = any; printf "%.1f %.1f %.1f %.1f %d\n", min, max, first, last, n }' "$out/rss.csv")
growth=$(awk -v a="$first" -v b="$last" 'BEGIN { if (a > 0) printf "%.1f", 100 * (b - a) / a; else print "?" }')
{
  echo "soak: $duration, $count requests, status $status, exit $code"
  echo "surge RSS: min $min MiB, max $max MiB; after warm-up $first MiB -> end $last MiB ($growth%), $n samples every ${sample}s"
  echo "errors: $errors"
} | tee "$out/soak.txt"
if [ "$code" -ne 0 ]; then exit "$code"; fi
if [ "$errors" != "0" ] || awk -v g="$growth" 'BEGIN { exit !(g > 20) }'; then exit 3; fi
