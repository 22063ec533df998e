//! One probe: the profile's journey and regions at a steady open-model arrival rate per region, for
//! the probe's length; and how its summary reads for the search (pass, fail, or surge fell behind).

use std::collections::BTreeMap;
use std::time::Duration;
use surge_plan::Plan;
use surge_profile::{Curve, Load, Profile, Ramp};
use surge_results::capacity::{Probe, ProbeSlo};
use surge_results::{RegionRow, Summary};

use super::search::Verdict;

/// Send-lag p99 below which the generator always counts as on time, ms (the report's default
/// saturation threshold).
pub const SATURATION_MS: f64 = 10.0;

/// Share of the tightest latency SLO that the generator's own send lag p99 may take before a probe
/// is flagged: surge's lateness is part of every latency it measures, and beyond this share it, not
/// the target, could decide the verdict.
pub const LAG_SHARE: f64 = 0.1;

/// The send-lag p99 above which a probe is flagged, ms: [`LAG_SHARE`] of the tightest percentile SLO
/// that applies (`applies[i]` for `plan.slos[i]`), never below [`SATURATION_MS`].
pub fn lag_limit_ms(plan: &Plan, applies: &[bool]) -> f64 {
    let share = plan
        .slos
        .iter()
        .zip(applies)
        .filter(|(s, a)| **a && matches!(s.stat, surge_profile::SloStat::Percentile(_)))
        .map(|(s, _)| s.threshold * LAG_SHARE)
        .fold(f64::INFINITY, f64::min);
    if share.is_finite() {
        share.max(SATURATION_MS)
    } else {
        SATURATION_MS
    }
}

/// Share of its profile peak at which a region's first probe starts.
pub const START_FRACTION: f64 = 0.25;

/// The rates of every region while `region` is probed at `rate`: the others held at their peak
/// rate in `base` (the profile with the run's overrides), journeys/s, to 0.1/s.
pub fn probe_rates(base: &Plan, region: u16, rate: f64) -> Vec<f64> {
    (0..base.regions.len() as u16)
        .map(|r| {
            if r == region {
                rate
            } else {
                super::search::round_rate(base.region_peak_rate(r).0)
            }
        })
        .collect()
}

/// The first probe's rate of `region`: a fraction of its peak in the profile.
pub fn default_start(base: &Plan, region: u16) -> f64 {
    super::search::round_rate(base.region_peak_rate(region).0 * START_FRACTION).max(0.1)
}

/// The profile of a steady probe: region `r`'s people arrive evenly at `rates[r]` per second for
/// `length`, with the profile's journey, address books, client and SLOs; no time of day, open model,
/// scale 1, seed `seed` (a fresh seed per probe: nobody registers twice against the same target).
pub fn probe_profile(profile: &Profile, rates: &[f64], length: Duration, seed: u64) -> Profile {
    let total: f64 = rates.iter().sum();
    let mut p = profile.clone();
    p.seed = seed;
    p.event.population = (total * length.as_secs_f64()).round().max(1.0) as u64;
    p.event.scale = 1.0;
    p.event.duration = length;
    p.event.replay = length;
    p.event.onset = None;
    p.curve = Curve::Ramp(Ramp {
        start: Duration::ZERO,
        up: Duration::ZERO,
        hold: length,
        down: Duration::ZERO,
        baseline: 0.0,
    });
    p.load = Load::Open;
    for (region, &rate) in p.regions.iter_mut().zip(rates) {
        region.share = if total > 0.0 { rate / total } else { 0.0 };
        region.diurnal = None;
        region.p = None;
        region.q = None;
    }
    p
}

/// Share of the journeys started that the target must finish in the same time, once past the first
/// interval, for a probe to pass: below it the target's backlog grows, and a longer probe (or the
/// real surge) would break the SLOs even if this short one did not yet.
pub const KEPT_UP: f64 = 0.9;

/// Journeys of `region` ended (succeeded or failed) over those started, in the intervals of the
/// arrival window after the first (`arrival_intervals` intervals hold arrivals); `None` when
/// nothing started there (a probe too short for the interval).
pub fn completed_ratio(rows: &[RegionRow], region: &str, arrival_intervals: u64) -> Option<f64> {
    let (started, ended) = rows
        .iter()
        .filter(|r| r.region == region && r.interval >= 1 && r.interval < arrival_intervals)
        .fold((0u64, 0u64), |(s, e), r| {
            (
                s + r.counters.started,
                e + r.counters.succeeded + r.counters.failed,
            )
        });
    (started > 0).then(|| ended as f64 / started as f64)
}

/// The search's reading of a probe, and why when surge fell behind.
/// `applies[i]`: whether SLO `i` decides (it applies to the searched region).
/// `lag_limit_ms`: see [`lag_limit_ms`].
/// `completed`: see [`completed_ratio`].
pub fn judge(
    summary: &Summary,
    applies: &[bool],
    lag_limit_ms: f64,
    completed: Option<f64>,
) -> (Verdict, Option<String>) {
    if let Some(why) = generator_behind(summary, lag_limit_ms) {
        return (Verdict::GeneratorBehind, Some(why));
    }
    if completed.is_some_and(|c| c < KEPT_UP) {
        return (Verdict::Fail, None);
    }
    let held = summary.slos.iter().zip(applies).all(|(v, &a)| v.pass || !a);
    if held {
        (Verdict::Pass, None)
    } else {
        (Verdict::Fail, None)
    }
}

/// Why the generator did not keep up in this probe, if it did not: its own descriptors or ports ran
/// out, or its send lag p99 passed `lag_limit_ms`.
pub fn generator_behind(summary: &Summary, lag_limit_ms: f64) -> Option<String> {
    let own = |c: &str| summary.totals.outcomes.get(c).copied().unwrap_or(0);
    let (fds, ports) = (own("generator_fd"), own("generator_ports"));
    if fds + ports > 0 {
        return Some(format!(
            "surge ran out of its own file descriptors ({fds}) or local ports ({ports})"
        ));
    }
    let g = &summary.generator;
    (g.samples > 0 && g.send_lag_p99_ms > lag_limit_ms).then(|| {
        format!(
            "send lag p99 {:.1} ms above {lag_limit_ms:.0} ms: surge could not send on time",
            g.send_lag_p99_ms
        )
    })
}

/// The probe's line in capacity.json.
pub struct ProbeFacts<'a> {
    /// 1-based repeat.
    pub repeat: u32,
    /// The searched region's name.
    pub region: &'a str,
    /// Every region's name and rate.
    pub rates: Vec<(String, f64)>,
    /// The probe's folder relative to the capacity folder.
    pub dir: String,
    /// Probe length, s.
    pub length_s: f64,
    /// Per SLO: whether it applies to the searched region.
    pub applies: &'a [bool],
    /// Send-lag p99 above which the probe is flagged, ms.
    pub lag_limit_ms: f64,
    /// See [`completed_ratio`].
    pub completed: Option<f64>,
}

/// The probe's record for capacity.json from its summary.
pub fn record(f: ProbeFacts<'_>, summary: &Summary) -> Probe {
    let (verdict, flagged) = judge(summary, f.applies, f.lag_limit_ms, f.completed);
    let cells = summary.regions.get(f.region);
    let (errors, count) = cells.map_or((0, 0), |steps| {
        steps
            .values()
            .fold((0, 0), |(e, c), s| (e + s.errors, c + s.count))
    });
    let started = summary.journeys.get(f.region).map_or(0, |j| j.started);
    let rate = f
        .rates
        .iter()
        .find(|(n, _)| n == f.region)
        .map_or(0.0, |(_, r)| *r);
    Probe {
        repeat: f.repeat,
        rate_per_s: rate,
        rates: f.rates.into_iter().collect::<BTreeMap<_, _>>(),
        pass: verdict == Verdict::Pass,
        flagged,
        slos: summary
            .slos
            .iter()
            .zip(f.applies)
            .map(|(v, &applies)| ProbeSlo {
                slo: v.slo.clone(),
                observed: v.observed,
                threshold: v.threshold,
                pass: v.pass,
                applies,
            })
            .collect(),
        error_rate: if count > 0 {
            errors as f64 / count as f64
        } else {
            0.0
        },
        started_per_s: started as f64 / f.length_s.max(1e-9),
        send_lag_p99_ms: summary.generator.send_lag_p99_ms,
        completed_ratio: f.completed,
        dir: f.dir,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use surge_plan::Overrides;

    const PROFILE: &str = r#"
name = "two"
seed = 3
journey = "reference"
slos = ["p99 of register in americas < 800ms"]
[event]
population = 6000
duration = "60s"
[[regions]]
name = "americas"
share = 0.75
[[regions]]
name = "europe"
share = 0.25
[curve]
kind = "ramp"
up = "20s"
hold = "20s"
down = "20s"
"#;

    #[test]
    fn a_probe_is_a_steady_rate_per_region_with_the_others_at_their_peak() {
        let profile = surge_profile::parse(PROFILE, "two.toml").unwrap();
        let base = Plan::compile(&profile, &Overrides::default()).unwrap();
        // Peak: 6000 / 40 s = 150/s, 112.5 in the americas, 37.5 in europe.
        let rates = probe_rates(&base, 0, 80.0);
        assert_eq!(rates[0], 80.0);
        assert!((rates[1] - 37.5).abs() < 0.5, "{rates:?}");
        assert!((default_start(&base, 0) - 28.1).abs() < 0.2);
        let p = probe_profile(&profile, &rates, Duration::from_secs(4), 99);
        let plan = Plan::compile(&p, &Overrides::default()).unwrap();
        assert_eq!(
            plan.population,
            ((80.0 + rates[1]) * 4.0_f64).round() as u64
        );
        assert_eq!(plan.run_duration, Duration::from_secs(4));
        assert_eq!(plan.seed, 99);
        // Steady: every second of the probe gets the same arrivals, per region.
        for s in 0..4 {
            let (from, to) = (Duration::from_secs(s), Duration::from_secs(s + 1));
            assert!((plan.intended_count(0, from, to) - 80.0).abs() < 0.5);
            assert!((plan.intended_count(1, from, to) - rates[1]).abs() < 0.5);
        }
        assert_eq!(plan.slos.len(), 1);
    }
}
