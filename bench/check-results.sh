# Sourced by bench/compose-test.sh and bench/swarm-test.sh: checks the results folder a containerised
# run wrote on the host.
#
#   check_results WHO RESULTS_DIR HOW      # HOW: words for the OK line ("3 workers", ...)
check_results() {
  local who="$1" results="$2" how="$3" run f
  run="$(find "$results" -mindepth 1 -maxdepth 1 -type d | head -1)"
  [ -n "$run" ] || { printf '%s: FAILED: no results folder in %s\n' "$who" "$results"; return 1; }
  for f in run.json summary.json latency.hlog timeseries.csv report.html; do
    [ -s "$run/$f" ] || { printf '%s: FAILED: %s missing or empty\n' "$who" "$run/$f"; return 1; }
  done
  python3 - "$run" "$who" "$how" <<'PY'
import json, sys, pathlib
run, who, how = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
info = json.loads((run / "run.json").read_text())
summary = json.loads((run / "summary.json").read_text())
assert len(info["workers"]) == 3, f"run.json lists {info['workers']}"
assert summary["status"] == "complete", summary["status"]
assert summary["lost_workers"] == [], summary["lost_workers"]
started = sum(j["started"] for j in summary["journeys"].values())
assert started >= 0.95 * info["population"], f"{started} of {info['population']} journeys started"
for region, steps in summary["regions"].items():
    for step in ("request_code", "verify_code", "register", "discover"):
        s = steps[step]
        assert s["count"] > 0 and s["errors"] == 0, f"{region}/{step}: {s}"
print(f"{who}: OK: {run.name}: {how} ({', '.join(info['workers'])}), "
      f"{started} of {info['population']} journeys, 0 errors, p99 register "
      f"{max(s['register']['p99_ms'] for s in summary['regions'].values()):.1f} ms")
PY
}
