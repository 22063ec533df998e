#!/usr/bin/env python3
"""Derives the hourly traces in this folder from the figures in /work/shared/research/surges.md.

No hourly signup curve of these events is published (surges.md, section 1: "Hourly signup curves:
none found"). These series are reconstructions: the published totals are exact per period, and
within a period the hours are weighted by each region's time-of-day activity
D_r(h) = a + (1-a)(1+cos(2 pi (h - h*)/24))/2 (surges.md, "Arrival model": Europe/Asia/Africa a=0.35,
h*=21; Americas a=0.5, h*=22; Oceania a=0.4, h*=21) times the region's share. Re-run with
`python3 derive.py` (stdlib only); the output is deterministic.
"""
import math

REGIONS = {  # name: (utc offset h, floor a, peak hour h*)
    "americas": (-5, 0.5, 22), "europe": (1, 0.35, 21), "asia": (5.5, 0.35, 21),
    "mena": (3, 0.35, 21), "oceania": (10, 0.4, 21), "brazil": (-2, 0.5, 22),
}


def activity(region, utc_hour):
    off, a, peak = REGIONS[region]
    h = (utc_hour + off) % 24
    return a + (1 - a) * 0.5 * (1 + math.cos(2 * math.pi * (h - peak) / 24))


def spread(periods, shares, onset_utc_hour):
    """periods: [(hours, total people)]; returns rows [hour, {region: people in that hour}]."""
    rows, hour = [], 0
    for hours, total in periods:
        weights = []
        for i in range(hours):
            utc = (onset_utc_hour + hour + i) % 24
            weights.append({r: s * activity(r, utc) for r, s in shares.items()})
        norm = sum(sum(w.values()) for w in weights)
        for i, w in enumerate(weights):
            rows.append((hour + i, {r: total * v / norm for r, v in w.items()}))
        hour += hours
    return rows


def write(path, header, rows, regions):
    with open(path, "w") as f:
        f.write(header)
        f.write("time," + ",".join(regions) + "\n")
        for t, vals in rows:
            f.write(f"{t}," + ",".join(f"{vals[r]:.0f}" for r in regions) + "\n")


def whatsapp_2014():
    # Onset 2014-02-22 19:00 UTC. Telegram: 1.8M on Feb 22 (the 5 h left of the day, at the stated cap
    # of 100 registrations/s = 360k/h), 4.95M on Feb 23, "more than 9M in 4 days" (Feb 24-25 carry the
    # rest, assumed 1.45M and 0.8M), then a 19 h tail of 0.4M [A]. Shares 25/60/10/4/1 [A].
    shares = {"americas": .25, "europe": .60, "asia": .10, "mena": .04, "oceania": .01}
    first = [(1, 360_000)] * 5  # flat at the cap: one period per hour so no diurnal reshaping
    rows = spread(first + [(24, 4_950_000), (24, 1_450_000), (24, 800_000), (19, 400_000)], shares, 19)
    head = ("# Telegram signups per hour and region after the 2014-02-22 WhatsApp outage (hour 0 = 19:00 UTC).\n"
            "# Derived (derive.py) from surges.md section 2: 100 registrations/s peak (TNW), 1.8M on Feb 22,\n"
            "# 4.95M on Feb 23, more than 9M in 4 days (actualidad.rt.com); hours weighted by time of day [A].\n")
    write("whatsapp-2014-telegram.csv", head, rows, list(shares))


def brazil_2015():
    # Onset 2015-12-17 02:00 UTC. 500k signups in 3 h, 1M two hours later, 1.5M an hour after that
    # (olhardigital.com.br), 5.7M Brazilian users in total; the remaining 4.2M over the next 42 h decay
    # with a 12 h time constant, weighted by Brazil's time of day (UTC-2 in December) [A].
    first = [(1, 500_000 / 3)] * 3 + [(1, 250_000)] * 2 + [(1, 500_000)]
    tail = []
    weights = [math.exp(-h / 12) * activity("brazil", (2 + 6 + h) % 24) for h in range(42)]
    norm = sum(weights)
    tail = [(1, 4_200_000 * w / norm) for w in weights]
    rows = [(t, {"brazil": v}) for t, (_, v) in enumerate(first + tail)]
    head = ("# Telegram signups per hour from Brazil (+55) after the 2015-12-17 court block of WhatsApp (hour 0 = 02:00 UTC).\n"
            "# Derived (derive.py) from surges.md section 2: 500k in 3 h, 1M two hours later, 1.5M an hour after,\n"
            "# 5.7M in total (olhardigital.com.br); the 4.2M tail decays over 42 h (tau 12 h) by time of day [A].\n")
    write("brazil-2015-telegram.csv", head, rows, ["brazil"])


if __name__ == "__main__":
    whatsapp_2014()
    brazil_2015()
