//! The run's figures as metric families: one list of named series with labels and values, built once
//! per update and rendered twice (Prometheus text for `/metrics`, protobuf for remote write), so that
//! pull and push carry exactly the same series.

use super::View;
use super::names as n;
use crate::collect::WorkerState;
use surge_metrics::{Cell, Outcome, Snapshot};

/// Send-lag p99 above which an interval counts as "generator saturated"; the same threshold as the
/// report's verdict (`surge_report::analysis::DEFAULT_SATURATION_MS`).
pub const SATURATION_SECONDS: f64 = 0.010;

/// Counter or gauge (the only two kinds surge exports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up during a run.
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    /// `counter` or `gauge`, as in `# TYPE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// One series' labels (without the name) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Label names and values, in the order rendered.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

/// A metric family: name, kind, help and its series.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// One of [`super::names::ALL`].
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// One line of help.
    pub help: &'static str,
    /// The series.
    pub samples: Vec<Sample>,
}

struct Out(Vec<Family>);

impl Out {
    fn family(&mut self, name: &'static str, kind: Kind, help: &'static str) -> &mut Family {
        self.0.push(Family {
            name,
            kind,
            help,
            samples: Vec::new(),
        });
        let last = self.0.len() - 1;
        &mut self.0[last]
    }
}

impl Family {
    fn add(&mut self, labels: Vec<(&'static str, String)>, value: f64) -> &mut Family {
        self.samples.push(Sample { labels, value });
        self
    }
}

/// Every family of the run as `v` shows it.
pub(crate) fn collect(v: &View<'_>) -> Vec<Family> {
    let mut out = Out(Vec::with_capacity(n::ALL.len()));
    run(&mut out, v);
    arrivals(&mut out, v);
    journeys(&mut out, v);
    steps(&mut out, v);
    errors(&mut out, v);
    connected(&mut out, v);
    slos(&mut out, v);
    generator(&mut out, v);
    out.0
}

fn region(v: &View<'_>, r: usize) -> Vec<(&'static str, String)> {
    vec![("region", v.plan.regions[r].name.clone())]
}

fn secs(v: &View<'_>) -> f64 {
    v.plan.interval.as_secs_f64().max(1e-9)
}

/// Merged run time so far: the intervals merged (the next one to merge) times the interval.
fn elapsed(v: &View<'_>) -> f64 {
    v.last.map_or(0.0, |s| (s.interval + 1) as f64 * secs(v))
}

fn run(out: &mut Out, v: &View<'_>) {
    let k = v.last.map_or(-1.0, |s| s.interval as f64);
    let ended = !v.states.is_empty() && v.states.iter().all(|s| *s != WorkerState::Live);
    out.family(
        n::INTERVAL,
        Kind::Gauge,
        "Index of the last merged interval (-1 before the first).",
    )
    .add(vec![], k);
    out.family(
        n::PLANNED_SECONDS,
        Kind::Gauge,
        "Planned length of the arrival curves, seconds.",
    )
    .add(vec![], v.plan.run_duration.as_secs_f64());
    out.family(
        n::ELAPSED_SECONDS,
        Kind::Gauge,
        "Run time merged so far (intervals x interval length), seconds.",
    )
    .add(vec![], elapsed(v));
    out.family(
        n::RUN_ENDED,
        Kind::Gauge,
        "1 once every worker is done or lost, else 0.",
    )
    .add(vec![], f64::from(u8::from(ended)));
    let f = out.family(n::WORKERS, Kind::Gauge, "Workers by state.");
    for (state, name) in [
        (WorkerState::Live, "live"),
        (WorkerState::Done, "done"),
        (WorkerState::Lost, "lost"),
    ] {
        let count = v.states.iter().filter(|s| **s == state).count();
        f.add(vec![("state", name.into())], count as f64);
    }
}

fn arrivals(out: &mut Out, v: &View<'_>) {
    let regions = 0..v.plan.regions.len();
    let until = v.plan.interval.mul_f64(elapsed(v) / secs(v));
    let f = out.family(
        n::ARRIVALS_INTENDED,
        Kind::Counter,
        "Arrivals the plan's curves intended up to the last merged interval, per region.",
    );
    for r in regions.clone() {
        let want = v
            .plan
            .intended_count(r as u16, std::time::Duration::ZERO, until);
        f.add(region(v, r), want.round());
    }
    let f = out.family(
        n::ARRIVALS_ACHIEVED,
        Kind::Counter,
        "Arrivals that started their journey, per region.",
    );
    for r in regions.clone() {
        f.add(region(v, r), v.totals.counters[r].started as f64);
    }
    let from = until.saturating_sub(v.plan.interval);
    let f = out.family(
        n::ARRIVALS_INTENDED_RATE,
        Kind::Gauge,
        "Intended arrivals per second in the last interval, per region.",
    );
    for r in regions.clone() {
        let want = match v.last {
            Some(_) => v.plan.intended_count(r as u16, from, until) / secs(v),
            None => 0.0,
        };
        f.add(region(v, r), want);
    }
    let f = out.family(
        n::ARRIVALS_ACHIEVED_RATE,
        Kind::Gauge,
        "Arrivals started per second in the last interval, per region.",
    );
    for r in regions {
        let got = v.last.map_or(0, |s| s.counters[r].started);
        f.add(region(v, r), got as f64 / secs(v));
    }
}

fn journeys(out: &mut Out, v: &View<'_>) {
    let f = out.family(
        n::JOURNEYS_ENDED,
        Kind::Counter,
        "Journeys ended, per region and result (ok, failed, unfinished).",
    );
    for (r, c) in v.totals.counters.iter().enumerate() {
        for (result, count) in [
            ("ok", c.succeeded),
            ("failed", c.failed),
            ("unfinished", c.unfinished),
        ] {
            let mut l = region(v, r);
            l.push(("result", result.into()));
            f.add(l, count as f64);
        }
    }
    let f = out.family(
        n::IN_FLIGHT,
        Kind::Gauge,
        "People in flight (started, not ended) at the last merged interval, per region.",
    );
    for (r, c) in v.totals.counters.iter().enumerate() {
        let ended = c.succeeded + c.failed + c.unfinished;
        f.add(region(v, r), c.started.saturating_sub(ended) as f64);
    }
}

/// Every (region, step) label set with its cell in `snap` (if anything was recorded there).
fn cells<'a>(
    v: &'a View<'_>,
    snap: Option<&'a Snapshot>,
) -> impl Iterator<Item = (Vec<(&'static str, String)>, Option<&'a Cell>)> + 'a {
    let steps = v.plan.steps.len();
    (0..v.plan.regions.len() * steps).map(move |i| {
        let (r, s) = (i / steps, i % steps);
        let mut l = region(v, r);
        l.push(("step", v.plan.steps[s].clone()));
        (l, snap.and_then(|x| x.cell(r as u16, s as u16)))
    })
}

fn steps(out: &mut Out, v: &View<'_>) {
    let f = out.family(
        n::STEPS,
        Kind::Counter,
        "Steps finished (any outcome), per region and step.",
    );
    for (l, c) in cells(v, Some(v.totals)) {
        f.add(l, c.map_or(0, Cell::count) as f64);
    }
    let f = out.family(
        n::STEP_RATE,
        Kind::Gauge,
        "Steps finished per second in the last interval, per region and step.",
    );
    for (l, c) in cells(v, v.last) {
        f.add(l, c.map_or(0, Cell::count) as f64 / secs(v));
    }
    for (name, help, service) in [
        (
            n::STEP_RESPONSE,
            "Response time from the intended start in the last interval, by quantile.",
            false,
        ),
        (
            n::STEP_SERVICE,
            "Service time from the last send in the last interval, by quantile.",
            true,
        ),
    ] {
        let f = out.family(name, Kind::Gauge, help);
        for (l, c) in cells(v, v.last) {
            let Some(c) = c.filter(|c| c.count() > 0) else {
                continue;
            };
            let h = if service { &c.service } else { &c.response };
            for q in ["0.5", "0.99"] {
                let mut l = l.clone();
                let us = h.value_at_quantile(q.parse().unwrap_or(0.5));
                l.push(("quantile", q.into()));
                f.add(l, us as f64 / 1e6);
            }
        }
    }
}

fn errors(out: &mut Out, v: &View<'_>) {
    for (name, help, retries) in [
        (
            n::STEP_ERRORS,
            "Steps that ended in an error, by region, step and class.",
            false,
        ),
        (
            n::STEP_RETRIES,
            "Attempts that were retried, by region, step and class.",
            true,
        ),
    ] {
        let f = out.family(name, Kind::Counter, help);
        for (l, c) in cells(v, Some(v.totals)) {
            let Some(c) = c else { continue };
            let counts = if retries { &c.retries } else { &c.outcomes };
            for o in Outcome::ALL.iter().filter(|o| o.is_error()) {
                let count = counts[o.index()];
                if count > 0 {
                    let mut l = l.clone();
                    l.push(("class", o.as_str().into()));
                    f.add(l, count as f64);
                }
            }
        }
    }
}

fn connected(out: &mut Out, v: &View<'_>) {
    let c = &v.totals.counters;
    let f = out.family(
        n::DISCOVERY_COMPLETENESS,
        Kind::Gauge,
        "Share of the expected contacts that discovery found so far, per region (0..1).",
    );
    for (r, rc) in c.iter().enumerate() {
        if let Some(x) = rc.completeness() {
            f.add(region(v, r), x);
        }
    }
    let f = out.family(
        n::DELIVERY_COMPLETENESS,
        Kind::Gauge,
        "Share of sent messages delivered within the deadline so far, per region (0..1).",
    );
    for (r, rc) in c.iter().enumerate() {
        if rc.messages_sent > 0 {
            f.add(
                region(v, r),
                rc.messages_delivered as f64 / rc.messages_sent as f64,
            );
        }
    }
    for (name, kind, help, get) in [
        (
            n::CONNECTIONS,
            Kind::Gauge,
            "Connected sessions open at the last merged interval, per region.",
            (|rc: &surge_metrics::RegionCounters| {
                rc.connections_opened.saturating_sub(rc.connections_closed)
            }) as fn(&surge_metrics::RegionCounters) -> u64,
        ),
        (
            n::RECONNECTS,
            Kind::Counter,
            "Connections re-established after a drop or a refused handshake, per region.",
            |rc| rc.reconnects,
        ),
        (
            n::MESSAGES_SENT,
            Kind::Counter,
            "Messages sent in the connected phase, per region.",
            |rc| rc.messages_sent,
        ),
    ] {
        let f = out.family(name, kind, help);
        for (r, rc) in c.iter().enumerate() {
            f.add(region(v, r), get(rc) as f64);
        }
    }
}

fn slos(out: &mut Out, v: &View<'_>) {
    let seconds = elapsed(v).max(1e-9);
    let verdicts: Vec<_> = v
        .slos
        .iter()
        .map(|s| s.evaluate(v.totals, seconds))
        .collect();
    let f = out.family(
        n::SLO_PASS,
        Kind::Gauge,
        "1 while the SLO holds on the figures so far, else 0 (failing, or nothing measured yet).",
    );
    for verdict in &verdicts {
        f.add(
            vec![("slo", verdict.slo.clone())],
            f64::from(u8::from(verdict.pass)),
        );
    }
    let f = out.family(
        n::SLO_OBSERVED,
        Kind::Gauge,
        "The SLO's observed value so far, in the SLO's own unit (ms for percentiles).",
    );
    for verdict in &verdicts {
        if let Some(x) = verdict.observed {
            f.add(vec![("slo", verdict.slo.clone())], x);
        }
    }
    let f = out.family(
        n::SLO_THRESHOLD,
        Kind::Gauge,
        "The SLO's threshold, in the SLO's own unit.",
    );
    for verdict in &verdicts {
        f.add(vec![("slo", verdict.slo.clone())], verdict.threshold);
    }
}

fn generator(out: &mut Out, v: &View<'_>) {
    let last = v.last.map(|s| s.merged_cell(None, None));
    let lag = last
        .as_ref()
        .filter(|c| !c.send_lag.is_empty())
        .map_or(0.0, |c| c.send_lag.value_at_quantile(0.99) as f64 / 1e6);
    let own_limits = last.as_ref().map_or(0, |c| {
        Outcome::ALL
            .iter()
            .filter(|o| o.is_generator())
            .map(|o| c.outcomes[o.index()])
            .sum::<u64>()
    });
    out.family(
        n::SEND_LAG_P99,
        Kind::Gauge,
        "Send lag (the generator's own lateness) p99 in the last interval, seconds.",
    )
    .add(vec![], lag);
    let saturated = lag > SATURATION_SECONDS || own_limits > 0;
    out.family(
        n::GENERATOR_SATURATED,
        Kind::Gauge,
        "1 when the generator was saturated in the last interval (send lag p99 above 10 ms, or its own descriptors or ports ran out), else 0.",
    )
    .add(vec![], f64::from(u8::from(saturated)));
}
