//! `surge profile show`: the per-region arrival curve as a small text table.

use std::fmt::Write;
use std::time::Duration;

use surge_metrics::thousands;
use surge_profile::duration::format as fmt_dur;

use crate::Plan;
use crate::arrivals::CELLS;

impl Plan {
    /// A table of `rows` time buckets: run time, event time (and UTC wall clock when the profile has
    /// an onset), per-region arrival rate per second of run, total; then the peak rate and when, and
    /// the profile's sourced figures against the curve ([`Plan::figure_table`]).
    pub fn curve_table(&self, rows: usize) -> String {
        let rows = rows.clamp(1, 1000);
        let run = self.run_duration.as_secs_f64();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} people over {} (event {} compressed {:.1}x), seed {}",
            self.name,
            thousands(self.population),
            fmt_dur(self.run_duration),
            fmt_dur(self.event_duration),
            self.event_duration.as_secs_f64() / run,
            self.seed
        );
        let mut header = format!("{:>9} {:>10}", "run", "event");
        if self.onset.is_some() {
            let _ = write!(header, " {:>6}", "utc");
        }
        for r in &self.regions {
            let _ = write!(header, " {:>12}", format!("{}/s", r.name));
        }
        let _ = write!(header, " {:>12}", "total/s");
        let _ = writeln!(out, "{header}");
        for i in 0..rows {
            let (a, b) = (
                run * i as f64 / rows as f64,
                run * (i + 1) as f64 / rows as f64,
            );
            let (da, db) = (Duration::from_secs_f64(a), Duration::from_secs_f64(b));
            let mut line = format!("{:>9} {:>10}", fmt_dur(da), fmt_dur(self.event_time(da)));
            if let Some(o) = &self.onset {
                let h = o.utc_hour_at(self.event_time(da).as_secs_f64());
                let _ = write!(line, " {:>3}:{:02}", h as u32, ((h.fract()) * 60.0) as u32);
            }
            for r in 0..self.regions.len() {
                let _ = write!(
                    line,
                    " {:>12.1}",
                    self.intended_count(r as u16, da, db) / (b - a)
                );
            }
            let _ = write!(line, " {:>12.1}", self.intended_total(da, db) / (b - a));
            let _ = writeln!(out, "{line}");
        }
        let (peak, at) = self.peak_rate();
        let _ = writeln!(
            out,
            "peak {:.1} arrivals/s at run time {} (event time {})",
            peak,
            fmt_dur(at),
            fmt_dur(self.event_time(at))
        );
        if let Some((held, at)) = self.peak_connections() {
            let _ = writeln!(
                out,
                "connections held at once: about {held:.0} at run time {} (arrivals x dwell)",
                fmt_dur(at)
            );
        }
        out.push_str(&self.figure_table());
        out
    }

    /// The highest total arrival rate (per second of run) over the tabulated cells, and when.
    pub fn peak_rate(&self) -> (f64, Duration) {
        let w = self.run_duration.as_secs_f64() / CELLS as f64;
        let mut best = (0.0, 0usize);
        for k in 0..CELLS {
            let rate = (self.table.cum[k + 1] - self.table.cum[k]) / w;
            if rate > best.0 {
                best = (rate, k);
            }
        }
        (best.0, Duration::from_secs_f64(best.1 as f64 * w))
    }

    /// Peak rate of one region (per second of run), and when.
    pub fn region_peak_rate(&self, region: u16) -> (f64, Duration) {
        let w = self.run_duration.as_secs_f64() / CELLS as f64;
        let base = usize::from(region) * (CELLS + 1);
        let mut best = (0.0, 0usize);
        for k in 0..CELLS {
            let c = &self.table.region_cum;
            let rate = c
                .get(base + k + 1)
                .zip(c.get(base + k))
                .map_or(0.0, |(b, a)| (b - a) / w);
            if rate > best.0 {
                best = (rate, k);
            }
        }
        (best.0, Duration::from_secs_f64(best.1 as f64 * w))
    }
}
