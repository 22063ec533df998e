-- wrk -s bench/wrk-percentiles.lua: prints one machine-readable line after wrk's own summary:
-- PCT p50_ms p99_ms p999_ms max_ms requests   (wrk's latency: from its send, not an intended start)
done = function(summary, latency, requests)
  io.write(string.format("PCT %.2f %.2f %.2f %.2f %d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    latency.max / 1000, summary.requests))
end
