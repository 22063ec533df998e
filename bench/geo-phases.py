"""Before, during and after the failover of a geo-failover run: each region's register p50/p99 (the
hlog's interval histograms merged exactly, bucket by bucket) and its mean response, distance and
queueing per step (regions.csv). Phases by interval start: 0-20 s, 20-45 s (`us` down), 45 s on.

    surge run profiles/geo-failover.toml --out /tmp/geo
    python3 bench/geo-phases.py /tmp/geo

The last lines check the merge against summary.json over the whole run (they must be equal). The
hlog is HdrHistogram's V2 log, DEFLATE-compressed, values in microseconds.
"""
import base64, csv, math, struct, sys, zlib
from collections import defaultdict

def decode(b64):
    raw = base64.b64decode(b64)
    cookie, length = struct.unpack(">ii", raw[:8])
    data = zlib.decompress(raw[8:8 + length])
    cookie, plen, _norm, digits, lowest, _highest, _ratio = struct.unpack(">iiiiqqd", data[:40])
    payload = data[40:40 + plen]
    counts, i, pos = {}, 0, 0
    while pos < len(payload):
        v, shift = 0, 0
        while True:  # LEB128 (at most 9 bytes; the 9th carries 8 bits)
            b = payload[pos]; pos += 1
            if shift == 56:
                v |= b << 56; break
            v |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80: break
        v = (v >> 1) ^ -(v & 1)  # zigzag
        if v < 0:
            i += -v
        else:
            if v: counts[i] = counts.get(i, 0) + v
            i += 1
    return counts, digits, lowest

def value_range(i, digits, lowest):
    sub_count_mag = math.ceil(math.log2(2 * 10 ** digits))
    half_mag = max(sub_count_mag - 1, 0)
    half = 1 << half_mag
    unit = int(math.floor(math.log2(lowest)))
    bucket = (i >> half_mag) - 1
    sub = (i & (half - 1)) + half
    if bucket < 0:
        sub -= half; bucket = 0
    lo = sub << (bucket + unit)
    return lo, lo + (1 << (bucket + unit)) - 1

def quantile(counts, digits, lowest, q):
    total = sum(counts.values())
    want = max(1, math.ceil(q * total))
    seen = 0
    for i in sorted(counts):
        seen += counts[i]
        if seen >= want:
            return value_range(i, digits, lowest)[1]

folder = sys.argv[1]
phases = [("before", 0, 20), ("during", 20, 45), ("after", 45, 61)]
hist = defaultdict(dict)
meta = None
for line in open(f"{folder}/latency.hlog"):
    if not line.startswith("Tag="):
        continue
    tag, start, _len, _max, b64 = line.strip().split(",")
    region, step, measure = tag[4:].split("/")
    if step != "register" or measure != "response":
        continue
    t = float(start)
    counts, digits, lowest = decode(b64)
    meta = (digits, lowest)
    for name, a, b in phases:
        if a <= t < b:
            h = hist[(region, name)]
            for k, v in counts.items():
                h[k] = h.get(k, 0) + v
split = defaultdict(lambda: [0, 0, 0, 0])
for row in csv.DictReader(open(f"{folder}/regions.csv")):
    t = float(row["t_s"])
    for name, a, b in phases:
        if a <= t < b:
            s = split[(row["region"], name)]
            s[0] += int(row["timed_steps"]); s[1] += int(row["timed_response_us"])
            s[2] += int(row["distance_us"]); s[3] += int(row["queueing_us"])
print("phase   region    register p50  register p99   mean per step: response  distance  queueing")
for name, a, b in phases:
    for region in ("americas", "europe", "asia"):
        h = hist[(region, name)]
        p50 = quantile(h, *meta, 0.5) / 1000; p99 = quantile(h, *meta, 0.99) / 1000
        n, resp, dist, queue = split[(region, name)]
        print(f"{name:7} {region:9} {p50:9.1f} ms  {p99:9.1f} ms  {resp/n/1000:18.1f} ms  {dist/n/1000:5.1f} ms  {queue/n/1000:5.2f} ms")
# Cross-check against summary.json over the whole run.
import json
s = json.load(open(f"{folder}/summary.json"))
allh = defaultdict(dict)
for (region, _), h in hist.items():
    for k, v in h.items():
        allh[region][k] = allh[region].get(k, 0) + v
for region in ("americas", "europe", "asia"):
    r = s["regions"][region]["register"]
    print(f"# check {region}: merged p50 {quantile(allh[region], *meta, 0.5)/1000:.3f} p99 {quantile(allh[region], *meta, 0.99)/1000:.3f} vs summary {r['p50_ms']} {r['p99_ms']}")
