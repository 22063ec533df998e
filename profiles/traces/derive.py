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


def threads_2023():
    # Onset 2023-07-05 23:00 UTC (launch on the evening of July 5, US Eastern) [A]. Meta's statements as
    # reported by the press (surges.md, "Added 2026-12"): 2M sign-ups in 2 h, 5M in 4 h, 10M in 7 h,
    # 30M by the next morning (taken as 16 h, about 11:00 US Eastern, [A]), 70M by day 3 (taken as 38 h,
    # July 7 morning US Eastern, [A]), 100M in 5 days (120 h). Each period's total is exact; hours within
    # a period are weighted by time of day. Shares [A]: no split was published; Threads launched in 100
    # countries but not the EU: americas 40 (US, Brazil, Mexico), asia 45 (India, Indonesia, Japan),
    # mena 10, oceania 5.
    shares = {"americas": .40, "asia": .45, "mena": .10, "oceania": .05}
    periods = [(2, 2_000_000), (2, 3_000_000), (3, 5_000_000), (9, 20_000_000), (22, 40_000_000),
               (82, 30_000_000)]
    rows = spread(periods, shares, 23)
    head = ("# Threads sign-ups per hour and region after launch (hour 0 = 2023-07-05 23:00 UTC, [A]).\n"
            "# Derived (derive.py) from surges.md 'Added 2026-12': 2M in 2 h, 5M in 4 h, 10M in 7 h, 30M by the\n"
            "# next morning (16 h [A]), 70M by day 3 (38 h [A]), 100M in 5 days (Meta, as reported by the press);\n"
            "# each period's total exact, hours weighted by time of day, shares 40/45/10/5 [A].\n")
    write("threads-2023.csv", head, rows, list(shares))


def mastodon_2022():
    # Onset 2022-10-27 00:00 UTC (Musk's acquisition of Twitter closed on Oct 27). surges.md 'Added
    # 2026-12': more than 70k sign-ups on 28 Oct; 489,003 new users and 1,124 new servers from 27 Oct to
    # 7 Nov (12 days). Day totals other than Oct 28 are [A]: a rise on the 27th, the peak on the 28th, a
    # slow decline, summing to exactly 489,003. Shares [A]: europe 50 (Mastodon's home), americas 40
    # (US tech Twitter), asia 7, oceania 3.
    shares = {"europe": .50, "americas": .40, "asia": .07, "oceania": .03}
    days = [30_000, 72_000, 60_000, 45_000, 40_000, 38_000, 35_000, 35_000, 34_000, 33_000, 33_000]
    days.append(489_003 - sum(days))
    rows = spread([(24, d) for d in days], shares, 0)
    head = ("# Mastodon sign-ups per hour and region, 2022-10-27 to 2022-11-07 (hour 0 = 2022-10-27 00:00 UTC).\n"
            "# Derived (derive.py) from surges.md 'Added 2026-12': more than 70k on 28 Oct, 489,003 new users from\n"
            "# 27 Oct to 7 Nov; the other day totals are [A] (sum exact); hours weighted by time of day;\n"
            "# shares 50/40/7/3 [A].\n")
    write("mastodon-2022.csv", head, rows, list(shares))


if __name__ == "__main__":
    whatsapp_2014()
    brazil_2015()
    threads_2023()
    mastodon_2022()
