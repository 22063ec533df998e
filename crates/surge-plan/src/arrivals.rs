//! Arrival curves: per-region rates in event time, compressed into the run and tabulated.
//!
//! For region `r` the raw shape in event time `t` (seconds from the event start) is
//! `g_r(t) = shape_r(t) * diurnal_r(local hour at t)`, where `shape` is the ramp, the Bass density
//! with its trigger, or the region's trace column. A `baseline` share `b` of the region's people
//! arrives on `diurnal_r` alone (the normal daily signups), the rest on `g_r`:
//! `lambda_r = N s_r ((1 - b) g_r / int g_r + b diurnal_r / int diurnal_r)`. Each region is
//! normalised on its own so that its arrivals integrate to exactly `share_r * N`: shares are exact, time of day only moves arrivals
//! within the region's own day. The run `[0, R)` maps linearly onto the event `[0, E)` (time
//! compression). The curve is tabulated on [`CELLS`] cells of run time (each the mean of
//! [`SUBSAMPLES`] samples); within a cell arrivals are spread evenly, so the cumulative count is
//! piecewise linear and its inverse (`arrival_offset`) exact and monotone.

use std::time::Duration;

use surge_profile::{Bass, Curve, Profile, Ramp};

use crate::PlanError;

/// Cells of the tabulated curve.
pub const CELLS: usize = 8192;
/// Samples per cell when integrating.
pub const SUBSAMPLES: usize = 8;

/// The tabulated arrival process.
#[derive(Clone, Debug)]
pub struct Table {
    /// Run length.
    pub run: Duration,
    /// Event length.
    pub event: Duration,
    /// Number of people.
    pub population: u64,
    /// Regions.
    pub regions: usize,
    /// `cum[k]`: expected arrivals (all regions) before cell k; `cum[CELLS] = population`.
    pub cum: Vec<f64>,
    /// `region_cum[r * (CELLS + 1) + k]`: expected arrivals of region r before cell k.
    pub region_cum: Vec<f64>,
    /// `cdf[k * regions + r]`: probability that an arrival in cell k is of region <= r.
    pub cdf: Vec<f64>,
    /// `lookup[j]`: the cell holding arrival position `j * population / LOOKUP` (narrows the search).
    lookup: Vec<u32>,
}

/// Buckets of the cell lookup index.
const LOOKUP: usize = 4096;

/// Last cell `k` with `cum[k] <= x`, searched within `lo..=hi`.
#[inline]
fn search(cum: &[f64], x: f64, lo: usize, hi: usize) -> usize {
    let hi = (hi + 2).min(cum.len());
    let lo = lo.min(hi);
    let k = lo + cum[lo..hi].partition_point(|&c| c <= x);
    k.saturating_sub(1).min(CELLS - 1)
}

/// Raw (unnormalised) shape of region `r` at event time `t` seconds, before time of day and
/// without the baseline.
fn shape(profile: &Profile, r: usize, t: f64) -> f64 {
    let region = &profile.regions[r];
    match &profile.curve {
        Curve::Ramp(ramp) => ramp_shape(ramp, t),
        Curve::Bass(b) => bass_shape(b, region.p.unwrap_or(b.p), region.q.unwrap_or(b.q), t),
        Curve::Trace(tr) => tr.rate(r, t),
    }
}

/// Time-of-day activity of region `r` at event time `t`.
fn day(profile: &Profile, r: usize, t: f64) -> f64 {
    let region = &profile.regions[r];
    match (&region.diurnal, &profile.event.onset) {
        (Some(d), Some(o)) => {
            d.factor((o.utc_hour_at(t) + region.utc_offset_secs / 3600.0).rem_euclid(24.0))
        }
        _ => 1.0,
    }
}

/// Share of arrivals spread evenly over the event (times time of day).
fn baseline(profile: &Profile) -> f64 {
    match &profile.curve {
        Curve::Ramp(r) => r.baseline,
        Curve::Bass(b) => b.baseline,
        Curve::Trace(_) => 0.0,
    }
}

/// Ramp: 0, linear rise over `up`, 1 over `hold`, linear fall over `down`, 0.
fn ramp_shape(r: &Ramp, t: f64) -> f64 {
    let (s, up, hold, down) = (
        r.start.as_secs_f64(),
        r.up.as_secs_f64(),
        r.hold.as_secs_f64(),
        r.down.as_secs_f64(),
    );
    let x = t - s;
    if x < 0.0 {
        0.0
    } else if x < up {
        x / up
    } else if x < up + hold {
        1.0
    } else if x < up + hold + down {
        1.0 - (x - up - hold) / down
    } else {
        0.0
    }
}

/// Bass density `f(t)` (see [`bass_density`]) times the trigger `G(t)`: 1 while the trigger is
/// active, `(1 - returning) e^{-(t - end)/decay}` after it ends.
pub fn bass_shape(b: &Bass, p: f64, q: f64, t: f64) -> f64 {
    let g = match b.trigger_end {
        Some(end) if t >= end.as_secs_f64() => {
            let tau = b.decay.as_secs_f64();
            if tau > 0.0 {
                (1.0 - b.returning) * (-(t - end.as_secs_f64()) / tau).exp()
            } else {
                0.0
            }
        }
        _ => 1.0,
    };
    bass_density(p, q, t) * g
}

/// Bass adoption density.
pub fn bass_density(p: f64, q: f64, t: f64) -> f64 {
    let s = p + q;
    let x = (-s * t).exp();
    let d = 1.0 + (q / p) * x;
    (s * s / p) * x / (d * d)
}

/// Bass cumulative adoption `F(t) = (1 - e^{-(p+q)t}) / (1 + (q/p) e^{-(p+q)t})`.
pub fn bass_cdf(p: f64, q: f64, t: f64) -> f64 {
    let x = (-(p + q) * t).exp();
    (1.0 - x) / (1.0 + (q / p) * x)
}

/// Time of the Bass density's peak, `ln(q/p)/(p+q)` (0 when q <= p).
pub fn bass_peak_time(p: f64, q: f64) -> f64 {
    if q <= p { 0.0 } else { (q / p).ln() / (p + q) }
}

/// Share of region `r`'s people arriving in each cell (sums to 1): the shaped part and the
/// baseline part, each normalised on its own.
fn region_weights(profile: &Profile, r: usize) -> Result<Vec<f64>, PlanError> {
    let e = profile.event.duration.as_secs_f64();
    let (mut shaped, mut flat) = (vec![0.0; CELLS], vec![0.0; CELLS]);
    for k in 0..CELLS {
        for s in 0..SUBSAMPLES {
            let t = (k as f64 + (s as f64 + 0.5) / SUBSAMPLES as f64) / CELLS as f64 * e;
            let d = day(profile, r, t);
            shaped[k] += finite(shape(profile, r, t) * d);
            flat[k] += finite(d);
        }
    }
    let (ts, tf): (f64, f64) = (shaped.iter().sum(), flat.iter().sum());
    let weight = if ts > 0.0 {
        1.0 - baseline(profile)
    } else {
        0.0
    };
    let fweight = if tf > 0.0 { 1.0 - weight } else { 0.0 };
    if weight + fweight <= 0.0 {
        let name = &profile.regions[r].name;
        return Err(PlanError::Curve(format!(
            "region `{name}` has no arrivals within the event"
        )));
    }
    Ok((0..CELLS)
        .map(|k| {
            let a = if weight > 0.0 {
                weight * shaped[k] / ts
            } else {
                0.0
            };
            let b = if fweight > 0.0 {
                fweight * flat[k] / tf
            } else {
                0.0
            };
            a + b
        })
        .collect())
}

fn finite(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 { x } else { 0.0 }
}

impl Table {
    /// Tabulates a profile's curve for `population` people over a run of `run`.
    pub fn build(profile: &Profile, population: u64, run: Duration) -> Result<Table, PlanError> {
        let nreg = profile.regions.len();
        let share_sum: f64 = profile.regions.iter().map(|r| r.share).sum();
        let n = population as f64;
        let mut region_cum = vec![0.0; nreg * (CELLS + 1)];
        let mut cell_mass = vec![0.0; CELLS * nreg];
        for r in 0..nreg {
            let people = n * profile.regions[r].share / share_sum;
            let weights = region_weights(profile, r)?;
            let base = r * (CELLS + 1);
            for (k, w) in weights.iter().enumerate() {
                let w = w * people;
                cell_mass[k * nreg + r] = w;
                region_cum[base + k + 1] = region_cum[base + k] + w;
            }
        }
        let mut cum = vec![0.0; CELLS + 1];
        let mut cdf = vec![0.0; CELLS * nreg];
        for k in 0..CELLS {
            let row = &cell_mass[k * nreg..(k + 1) * nreg];
            let sum: f64 = row.iter().sum();
            cum[k + 1] = cum[k] + sum;
            let mut acc = 0.0;
            for (r, m) in row.iter().enumerate() {
                acc += m;
                let p = if sum > 0.0 {
                    acc / sum
                } else {
                    (r + 1) as f64 / nreg as f64
                };
                cdf[k * nreg + r] = p;
            }
            cdf[k * nreg + nreg - 1] = 1.0;
        }
        cum[CELLS] = n;
        let lookup = (0..=LOOKUP)
            .map(|j| search(&cum, j as f64 * n / LOOKUP as f64, 0, CELLS) as u32)
            .collect();
        let event = profile.event.duration;
        Ok(Table {
            run,
            event,
            population,
            regions: nreg,
            cum,
            region_cum,
            cdf,
            lookup,
        })
    }

    /// Cell holding arrival index `u` (the cell where the cumulative count passes `u + 0.5`).
    #[inline]
    pub fn cell_of(&self, u: u64) -> usize {
        let x = u as f64 + 0.5;
        let j = ((x / self.population as f64) * LOOKUP as f64) as usize;
        match (self.lookup.get(j), self.lookup.get(j + 1)) {
            (Some(&lo), Some(&hi)) => search(&self.cum, x, lo as usize, hi as usize),
            _ => search(&self.cum, x, 0, CELLS),
        }
    }

    /// Run-time offset of arrival `u`, in seconds, and its cell.
    #[inline]
    pub fn offset_secs(&self, u: u64) -> (f64, usize) {
        let k = self.cell_of(u);
        let x = u as f64 + 0.5;
        let (a, b) = (self.cum[k], self.cum[k + 1]);
        let frac = if b > a {
            ((x - a) / (b - a)).clamp(0.0, 1.0)
        } else {
            0.5
        };
        let w = self.run.as_secs_f64() / CELLS as f64;
        (
            ((k as f64 + frac) * w).min(self.run.as_secs_f64() * (1.0 - 1e-12)),
            k,
        )
    }

    /// Expected arrivals of region `r` (all regions if `None`) before run time `t` seconds.
    pub fn cumulative(&self, r: Option<usize>, t: f64) -> f64 {
        let run = self.run.as_secs_f64();
        let pos = (t / run * CELLS as f64).clamp(0.0, CELLS as f64);
        let k = (pos.floor() as usize).min(CELLS - 1);
        let frac = pos - k as f64;
        let c = |i: usize| match r {
            Some(r) => self.region_cum[r * (CELLS + 1) + i],
            None => self.cum[i],
        };
        c(k) + (c(k + 1) - c(k)) * frac
    }

    /// Region of an arrival in cell `k` given a uniform draw `x` in [0, 1).
    #[inline]
    pub fn region_in_cell(&self, k: usize, x: f64) -> usize {
        let row = &self.cdf[k * self.regions..(k + 1) * self.regions];
        row.iter().position(|&c| x < c).unwrap_or(self.regions - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bass_density_integrates_to_its_cdf() {
        let (p, q) = (0.03, 0.38);
        let mut acc = 0.0;
        let dt = 0.001;
        let mut t = 0.0;
        while t < 20.0 {
            acc += bass_density(p, q, t + dt / 2.0) * dt;
            t += dt;
        }
        assert!((acc - bass_cdf(p, q, 20.0)).abs() < 1e-6);
        let peak = bass_peak_time(p, q);
        assert!(bass_density(p, q, peak) > bass_density(p, q, peak - 0.1));
        assert!(bass_density(p, q, peak) > bass_density(p, q, peak + 0.1));
    }
}
