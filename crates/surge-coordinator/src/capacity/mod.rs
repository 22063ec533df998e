//! Capacity search: the largest steady arrival rate (journeys/s) each region holds with every SLO met.
//!
//! Per region, independently and one after the other, the [`search`] picks rates (upwards by
//! doubling from a low start, then bisection); each rate is a real open-model run ([`probe`]) of the
//! profile's journey in which the searched region's people arrive evenly at that rate and the other
//! regions' at their profile peak, each written as a normal results folder
//! `OUT/probe-NNN-<region>-<rate>/`. `capacity.json` is rewritten after every probe, so a search
//! stopped by Ctrl-C (or killed) keeps what it found. A probe where surge itself fell behind stops
//! everything and says so.
//!
//! The search logic is pure and driven through [`Prober`]: tests drive it with a synthetic target,
//! [`LocalProber`] with real runs, in-process or through the coordinator with remote worker
//! processes ([`RemoteProbes`]: the workers join again after each probe and are released at the end).

mod local;
pub mod probe;
pub mod search;

pub use local::{LocalProber, RemoteProbes};

use crate::RunError;
use search::{End, Next, Search, SearchSpec, Verdict};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use surge_plan::Plan;
use surge_results::capacity::{
    CAPACITY_SCHEMA_VERSION, CapacityResult, CapacityStatus, Probe, RegionCapacity, RepeatStats,
    SearchEnd,
};

/// Bad input to a capacity search, found before anything is sent.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CapacityInputError {
    /// `--region` names a region the profile does not have.
    #[error("unknown region `{name}` (the profile has: {known})")]
    UnknownRegion {
        /// The name given.
        name: String,
        /// The profile's regions.
        known: String,
    },
    /// The profile has no SLO: there is nothing to search against.
    #[error("the profile has no SLOs: a capacity search needs at least one to search against")]
    NoSlos,
    /// `--up-to` is below the region's first probe.
    #[error(
        "--up-to {up_to}/s is below the first probe of {region} ({start}/s); lower --start or raise --up-to"
    )]
    UpToBelowStart {
        /// The region.
        region: String,
        /// The ceiling.
        up_to: f64,
        /// The first probe.
        start: f64,
    },
    /// No SLO names the region (or no region): nothing to search it against.
    #[error(
        "no SLO applies to region `{name}`: a capacity search needs one naming it (or no region)"
    )]
    NoSloForRegion {
        /// The region.
        name: String,
    },
    /// A rate or ratio is not a positive finite number.
    #[error("{what} must be a positive number, got {value}")]
    NotPositive {
        /// The flag.
        what: &'static str,
        /// The value.
        value: f64,
    },
}

/// What the user asked, checked against the plan.
#[derive(Clone, Debug)]
pub struct SearchInput {
    /// Regions to search (empty: all of the plan's).
    pub regions: Vec<String>,
    /// `--start`: the first probe (default a fraction of each region's peak).
    pub start: Option<f64>,
    /// `--up-to`.
    pub up_to: Option<f64>,
    /// `--precision` (0.05 = 5%).
    pub precision: f64,
}

/// One region's search, resolved: its index, the SLOs that decide it and its search spec.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionSearch {
    /// Region id.
    pub region: u16,
    /// Per SLO of the plan: whether it applies to this region (names it or no region). Only these
    /// decide a probe: the other regions, held at their peak, may fail theirs without blaming this one.
    pub applies: Vec<bool>,
    /// Send-lag p99 above which a probe is flagged as surge falling behind, ms.
    pub lag_limit_ms: f64,
    /// The spec.
    pub spec: SearchSpec,
}

/// Probes allowed per search.
pub const MAX_PROBES: u32 = 24;

/// Checks the input against the plan (phase 1: nothing sent yet) and resolves each region's search.
pub fn resolve(plan: &Plan, input: &SearchInput) -> Result<Vec<RegionSearch>, CapacityInputError> {
    if plan.slos.is_empty() {
        return Err(CapacityInputError::NoSlos);
    }
    for (what, v) in [
        ("--precision", Some(input.precision)),
        ("--start", input.start),
        ("--up-to", input.up_to),
    ] {
        if let Some(value) = v
            && !(value.is_finite() && value > 0.0)
        {
            return Err(CapacityInputError::NotPositive { what, value });
        }
    }
    let explicit = !input.regions.is_empty();
    let names: Vec<String> = if input.regions.is_empty() {
        plan.regions.iter().map(|r| r.name.clone()).collect()
    } else {
        input.regions.clone()
    };
    let mut out: Vec<RegionSearch> = Vec::new();
    for name in names {
        let region = plan
            .region_index(&name)
            .ok_or_else(|| CapacityInputError::UnknownRegion {
                name: name.clone(),
                known: plan
                    .regions
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        if out.iter().any(|s| s.region == region) {
            continue;
        }
        let applies: Vec<bool> = plan
            .slos
            .iter()
            .map(|s| s.region.as_deref().is_none_or(|r| r == name))
            .collect();
        if !applies.contains(&true) {
            if explicit {
                return Err(CapacityInputError::NoSloForRegion { name });
            }
            continue;
        }
        let start = search::round_rate(
            input
                .start
                .unwrap_or_else(|| probe::default_start(plan, region)),
        )
        .max(0.1);
        if let Some(up_to) = input.up_to
            && up_to < start
        {
            return Err(CapacityInputError::UpToBelowStart {
                region: name,
                up_to,
                start,
            });
        }
        out.push(RegionSearch {
            region,
            lag_limit_ms: probe::lag_limit_ms(plan, &applies),
            applies,
            spec: SearchSpec {
                start,
                up_to: input.up_to,
                precision: input.precision,
                growth: 2.0,
                floor: (start / 16.0).max(0.1),
                max_probes: MAX_PROBES,
            },
        });
    }
    if out.is_empty() {
        return Err(CapacityInputError::NoSlos);
    }
    Ok(out)
}

/// Runs one probe: every region's rate (journeys/s, plan order), into folder `name`.
pub trait Prober {
    /// The probe's record and how the search reads it; `None` when stopped (Ctrl-C) during it.
    fn probe(
        &mut self,
        repeat: u32,
        search: &RegionSearch,
        rates: &[f64],
        name: &str,
    ) -> impl Future<Output = Result<Option<Probe>, RunError>>;
    /// Whether a stop (Ctrl-C) was asked for.
    fn stopped(&self) -> bool;
}

/// Everything a search needs besides its prober.
pub struct Capacity<'a> {
    /// The profile with the run's overrides (peak rates, SLOs, names).
    pub base: &'a Plan,
    /// The resolved searches.
    pub searches: Vec<RegionSearch>,
    /// Searches per region.
    pub repeat: u32,
    /// The result's fixed fields (regions, status are filled in as the search goes).
    pub header: CapacityResult,
    /// Where capacity.json goes.
    pub out: PathBuf,
    /// Workers each probe runs with.
    pub workers: usize,
    /// What one worker sustains, journeys/s (`surge calibrate`), if known.
    pub per_worker: Option<f64>,
}

/// How many workers a rate the generator could not send needs: from `surge calibrate`'s measure
/// when given, else from the highest rate these workers did keep up with.
fn workers_advice(workers: usize, per_worker: Option<f64>, probes: &[Probe], total: f64) -> String {
    if let Some(per) = per_worker {
        return format!(
            "{total:.1} journeys/s needs --workers {} ({per}/s per worker, as `surge calibrate` measured)",
            crate::calibrate::workers_for(total, per)
        );
    }
    let kept_up = probes
        .iter()
        .filter(|p| p.flagged.is_none())
        .map(|p| p.rates.values().sum::<f64>())
        .fold(0.0, f64::max);
    if kept_up >= total {
        // More workers would not have helped: the same workers sent more than this on time before.
        format!(
            "{workers} worker(s) kept up with {kept_up:.1} journeys/s earlier in this search, more than \
             this probe's {total:.1}/s: the send lag came from the host (other work on its cores), not \
             from too few workers; search again on a quieter host or give surge cores of its own"
        )
    } else if kept_up > 0.0 {
        let per = kept_up / workers.max(1) as f64;
        format!(
            "{} worker(s) kept up with {kept_up:.1} journeys/s: {total:.1}/s needs about --workers {} (measure one worker with `surge calibrate` and pass --per-worker)",
            workers,
            crate::calibrate::workers_for(total, per)
        )
    } else {
        format!(
            "{workers} worker(s) did not keep up even at the first probe: add workers (measure one with `surge calibrate`)"
        )
    }
}

/// Progress of a search, for the terminal.
pub enum Event<'a> {
    /// A probe ended.
    Probe(&'a str, &'a Probe),
    /// A region's search ended.
    Region(&'a str, &'a RegionCapacity),
}

/// Runs every region's search (`repeat` times), rewriting capacity.json after each probe.
pub async fn run_search<P: Prober>(
    c: Capacity<'_>,
    prober: &mut P,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<CapacityResult, RunError> {
    let mut result = c.header;
    result.status = CapacityStatus::Complete;
    let mut n = 0u32;
    'regions: for rs in &c.searches {
        let name = c.base.regions[usize::from(rs.region)].name.clone();
        let rates0 = probe::probe_rates(c.base, rs.region, 0.0);
        let mut entry = RegionCapacity {
            max_rate_per_s: None,
            bracket: [None, None],
            end: SearchEnd::Interrupted,
            note: String::new(),
            others_per_s: c
                .base
                .regions
                .iter()
                .zip(&rates0)
                .filter(|(r, _)| r.name != name)
                .map(|(r, &v)| (r.name.clone(), search::round_rate(v)))
                .collect(),
            repeats: None,
            probes: Vec::new(),
        };
        let mut ends: Vec<End> = Vec::new();
        for repeat in 1..=c.repeat.max(1) {
            let mut s = Search::new(rs.spec);
            let mut limit: Option<String> = None;
            let end = loop {
                let rate = match s.next() {
                    Next::Done(end) => break Some(end),
                    Next::Probe(rate) => rate,
                };
                let rates = probe::probe_rates(c.base, rs.region, rate);
                let total: f64 = rates.iter().sum();
                if let Some(per) = c.per_worker
                    && total > per * c.workers as f64
                {
                    // Known beforehand: these workers cannot send this much; nothing is sent.
                    s.record(rate, Verdict::GeneratorBehind);
                    limit = Some(format!(
                        "{total:.1} journeys/s in all regions is more than {} worker(s) sustain ({per}/s each, as `surge calibrate` measured): use --workers {}",
                        c.workers,
                        crate::calibrate::workers_for(total, per)
                    ));
                    continue;
                }
                n += 1;
                let dir = format!("probe-{n:03}-{name}-{rate}");
                let Some(mut p) = prober.probe(repeat, rs, &rates, &dir).await? else {
                    break None;
                };
                p.rate_per_s = rate;
                let verdict = match (&p.flagged, p.pass) {
                    (Some(_), _) => Verdict::GeneratorBehind,
                    (None, true) => Verdict::Pass,
                    (None, false) => Verdict::Fail,
                };
                s.record(rate, verdict);
                if let Some(why) = &p.flagged {
                    limit = Some(format!(
                        "{why}; {}",
                        workers_advice(c.workers, c.per_worker, &entry.probes, total)
                    ));
                }
                on(Event::Probe(&name, &p));
                entry.probes.push(p);
                settle(&mut entry, &ends, None);
                result.regions.insert(name.clone(), entry.clone());
                result.write(&c.out)?;
                if prober.stopped() {
                    break None;
                }
            };
            match end {
                Some(end) => ends.push(end),
                None => {
                    result.status = CapacityStatus::Interrupted;
                    result.reason = Some(
                        "interrupted (Ctrl-C): probes so far kept, the answer is partial".into(),
                    );
                    settle(&mut entry, &ends, None);
                    entry.end = SearchEnd::Interrupted;
                    entry.note = format!("interrupted; {}", entry.note);
                    result.regions.insert(name.clone(), entry);
                    break 'regions;
                }
            }
            if let Some(End::GeneratorBehind { at, .. }) = ends.last() {
                let why = limit.unwrap_or_default();
                result.status = CapacityStatus::GeneratorBehind;
                result.reason = Some(format!(
                    "surge itself fell behind at {at}/s in {name} ({why}): the search stopped; the target was not to blame"
                ));
                break;
            }
        }
        settle(&mut entry, &ends, ends.last().copied());
        on(Event::Region(&name, &entry));
        result.regions.insert(name, entry);
        result.write(&c.out)?;
        if result.status == CapacityStatus::GeneratorBehind {
            break;
        }
    }
    result.write(&c.out)?;
    Ok(result)
}

/// Fills a region's answer from the searches that ended (`ends`), the last one deciding how it ended.
fn settle(entry: &mut RegionCapacity, ends: &[End], last: Option<End>) {
    let answers: Vec<f64> = ends
        .iter()
        .filter_map(|e| match *e {
            End::Found { last_pass, .. } | End::Ceiling { last_pass } => Some(last_pass),
            _ => None,
        })
        .collect();
    entry.repeats = if ends.len() > 1 {
        RepeatStats::of(&answers)
    } else {
        None
    };
    // The median search decides the answer and its bracket.
    let mut found: Vec<&End> = ends
        .iter()
        .filter(|e| matches!(e, End::Found { .. } | End::Ceiling { .. }))
        .collect();
    found.sort_by(|a, b| {
        a.bracket()[0]
            .partial_cmp(&b.bracket()[0])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let median = found.get(found.len() / 2).copied().copied();
    let Some(decisive) = median.or(last) else {
        // Nothing ended yet: the bracket of the probes so far.
        let pass = entry
            .probes
            .iter()
            .filter(|p| p.pass)
            .map(|p| p.rate_per_s)
            .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
        let fail = entry
            .probes
            .iter()
            .filter(|p| !p.pass && p.flagged.is_none() && pass.is_none_or(|m| p.rate_per_s > m))
            .map(|p| p.rate_per_s)
            .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r))));
        entry.bracket = [pass, fail];
        entry.max_rate_per_s = pass;
        entry.note = "searching".into();
        return;
    };
    entry.bracket = decisive.bracket();
    entry.max_rate_per_s = decisive.bracket()[0];
    let (end, note) = describe(&decisive);
    entry.end = if let Some(l) = last
        && !matches!(l, End::Found { .. } | End::Ceiling { .. })
    {
        describe(&l).0
    } else {
        end
    };
    entry.note = match last {
        Some(l) if !matches!(l, End::Found { .. } | End::Ceiling { .. }) => describe(&l).1,
        _ => note,
    };
}

/// How an end reads in capacity.json.
fn describe(end: &End) -> (SearchEnd, String) {
    match *end {
        End::Found {
            last_pass,
            first_fail,
        } => (
            SearchEnd::Found,
            format!("every SLO held at {last_pass}/s, one failed at {first_fail}/s"),
        ),
        End::Ceiling { last_pass } => (
            SearchEnd::Ceiling,
            format!(
                "every SLO held up to the ceiling --up-to {last_pass}/s: the capacity is at least that"
            ),
        ),
        End::NonePassed { first_fail } => (
            SearchEnd::NonePassed,
            format!("an SLO failed even at {first_fail}/s: no rate passed"),
        ),
        End::GeneratorBehind { at, .. } => (
            SearchEnd::GeneratorBehind,
            format!(
                "surge fell behind at {at}/s: more workers needed (see the reason); the target was not to blame"
            ),
        ),
        End::ProbeLimit { .. } => (
            SearchEnd::ProbeLimit,
            format!("{MAX_PROBES} probes did not narrow the bracket to the precision"),
        ),
    }
}

/// The header of a capacity result before any probe.
pub fn header(base: &Plan, h: Header) -> CapacityResult {
    CapacityResult {
        schema_version: CAPACITY_SCHEMA_VERSION,
        name: base.name.clone(),
        target: h.target,
        capacity_plan: h.capacity_plan,
        status: CapacityStatus::Complete,
        reason: None,
        probe_s: h.probe.as_secs_f64(),
        precision: h.precision,
        repeat: h.repeat,
        up_to: h.up_to,
        workers: h.workers,
        slos: base.slos.iter().map(|s| s.text.clone()).collect(),
        regions: BTreeMap::new(),
    }
}

/// The fixed facts of a search for its header.
pub struct Header {
    /// The target as shown.
    pub target: String,
    /// The embedded backend's plan.
    pub capacity_plan: Option<String>,
    /// Probe length.
    pub probe: Duration,
    /// Precision.
    pub precision: f64,
    /// Searches per region.
    pub repeat: u32,
    /// Ceiling.
    pub up_to: Option<f64>,
    /// Workers.
    pub workers: usize,
}

#[cfg(test)]
mod tests;
