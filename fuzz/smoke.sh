#!/usr/bin/env bash
# Coverage-guided fuzzing of surge's input decoders on the STABLE toolchain, short: every target for
# FUZZ_SECONDS (30) seconds from its seed corpus. For .ci/run. Installs cargo-fuzz when missing.
#
#   fuzz/smoke.sh                          # ~30 s per target (plus the first build)
#   FUZZ_SECONDS=3600 fuzz/smoke.sh wire   # the longer run of one target (see fuzz/README.md)
#   FUZZ_SEED=1 FUZZ_RUNS=200000 fuzz/smoke.sh   # what .ci/run does: a fixed seed and input count
#
# With FUZZ_SEED and FUZZ_RUNS the run is repeatable: CI replays the same mutations that passed here
# (FUZZ_SECONDS stays a ceiling on a slow machine), so a red CI means a regression, not a lucky draw.
# Exploration for new findings is the long, unseeded run above.
#
# Targets: profile (surge_profile::parse), wire (surge-wire messages and the snapshot a report
# carries), snapshot (EncodedSnapshot JSON + V2+DEFLATE histograms),
# ws_frames (surge_ws::Decoder in both roles, and the upgrade answer check). Seeds: fuzz/corpus/<target>/,
# copied to a scratch folder so the run never rewrites the committed corpus. A crash leaves its input
# in fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")"

secs=${FUZZ_SECONDS:-30}
sanitizer=${FUZZ_SANITIZER:-none}   # "address" works too (slower); surge's decoders have no unsafe code
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(profile wire snapshot ws_frames)

if ! cargo fuzz --version > /dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --quiet
fi
# cargo fuzz passes flags that stable rustc accepts only in bootstrap mode (-Zsanitizer, --cfg fuzzing
# checks). Nothing else in the build uses unstable features.
export RUSTC_BOOTSTRAP=1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  cp corpus/"$t"/* "$work/$t/"
  log="$work/$t.log"
  extra=()
  [ -n "${FUZZ_SEED:-}" ] && extra+=(-seed="$FUZZ_SEED")
  [ -n "${FUZZ_RUNS:-}" ] && extra+=(-runs="$FUZZ_RUNS")
  if cargo fuzz run --sanitizer "$sanitizer" "$t" "$work/$t" -- "${extra[@]}" \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 > "$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
    echo "fuzz $t: ok, $runs inputs (ceiling ${secs}s), coverage $cov edges, corpus $(ls "$work/$t" | wc -l) files"
  else
    status=1
    echo "fuzz $t: FAILED (input saved under fuzz/artifacts/$t/)"
    tail -n 40 "$log"
  fi
done
exit "$status"
