//! One merged interval as the page reads it: a small JSON object per message, built once on the run
//! loop. Rates and percentiles are of the interval just merged; completeness, errors so far and SLOs
//! of the totals.

use super::{Meta, SATURATION_MS};
use crate::collect::WorkerState;
use crate::live::View;
use serde_json::{Map, Value, json};
use surge_metrics::{Outcome, SloOp, Snapshot, VerdictStatus};

/// The first message of a run: its names, SLOs and lengths.
pub(super) fn begin_message(meta: Option<&Meta>) -> Value {
    let Some(m) = meta else {
        return json!({"kind": "begin"});
    };
    json!({
        "kind": "begin",
        "t": 0.0,
        "name": m.name,
        "regions": m.regions,
        "steps": m.steps,
        "slos": m.slos.iter().map(|s| s.text.clone()).collect::<Vec<_>>(),
        "interval_s": m.interval_s,
        "run_duration_s": m.run_duration_s,
        "population": m.population,
        "out_dir": m.out_dir.display().to_string(),
    })
}

/// A tick: the run is alive, `t` seconds since it began; the last gauges repeated.
pub(super) fn tick_message(t: f64, gauges: &Value) -> Value {
    json!({"kind": "tick", "t": round(t, 2), "gauges": gauges})
}

/// The end of the run.
pub(super) fn end_message(
    t: f64,
    status: &str,
    reason: Option<&str>,
    meta: Option<&Meta>,
) -> Value {
    json!({
        "kind": "end",
        "t": round(t, 2),
        "status": status,
        "reason": reason,
        "out_dir": meta.map(|m| m.out_dir.display().to_string()),
    })
}

/// report.html is there.
pub(super) fn report_message() -> Value {
    json!({"kind": "report", "report": "/report.html"})
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn ms(us: u64) -> f64 {
    round(us as f64 / 1000.0, 3)
}

/// The message for the interval just merged (or for a change of worker states before the first), and
/// the gauges that ticks repeat.
pub(super) fn interval_message(meta: &Meta, v: &View<'_>, t: f64) -> (Value, Value) {
    let gauges = gauges(v);
    let Some(last) = v.last else {
        return (
            json!({"kind": "tick", "t": round(t, 2), "gauges": gauges}),
            gauges,
        );
    };
    let secs = meta.interval_s.max(1e-9);
    let intended = crate::intended_arrivals(v.plan, last.interval);
    let regions: Vec<Value> = (0..meta.regions.len())
        .map(|r| region(meta, v, last, r as u16, intended.get(r).copied(), secs))
        .collect();
    let lag = last.merged_cell(None, None);
    let lag_p99 = (!lag.send_lag.is_empty()).then(|| ms(lag.send_lag.value_at_quantile(0.99)));
    let own_limits =
        lag.outcomes[Outcome::GeneratorFd.index()] + lag.outcomes[Outcome::GeneratorPorts.index()];
    let saturated = own_limits > 0 || lag_p99.is_some_and(|p| p > SATURATION_MS);
    let totals = v.totals.merged_counters(None);
    let msg = json!({
        "kind": "interval",
        "t": round(t, 2),
        "interval": last.interval,
        "run_t": round((last.interval + 1) as f64 * secs, 3),
        "regions": regions,
        "errors": errors(last),
        "errors_total": errors(v.totals),
        "started": totals.started,
        "ended": totals.succeeded + totals.failed + totals.unfinished,
        "slos": slos(meta, v, last),
        "saturated": saturated,
        "send_lag_p99_ms": lag_p99,
        "gauges": gauges,
    });
    (msg, gauges)
}

/// People in flight, open connections and worker states: what a tick repeats.
fn gauges(v: &View<'_>) -> Value {
    let count = |state| v.states.iter().filter(|s| **s == state).count();
    let c = v.totals.merged_counters(None);
    let sessions = c.has_connections();
    json!({
        "in_flight": v.in_flight,
        "connections": sessions.then(|| c.connections_opened.saturating_sub(c.connections_closed)),
        "workers": {
            "live": count(WorkerState::Live),
            "done": count(WorkerState::Done),
            "lost": count(WorkerState::Lost),
        },
    })
}

fn region(
    meta: &Meta,
    v: &View<'_>,
    last: &Snapshot,
    r: u16,
    intended: Option<f64>,
    secs: f64,
) -> Value {
    let now = last.merged_counters(Some(r));
    let total = v.totals.merged_counters(Some(r));
    let (mut p50, mut p99) = (Vec::new(), Vec::new());
    for s in 0..meta.steps.len() as u16 {
        let cell = last.cell(r, s).filter(|c| !c.response.is_empty());
        p50.push(cell.map(|c| ms(c.response.value_at_quantile(0.5))));
        p99.push(cell.map(|c| ms(c.response.value_at_quantile(0.99))));
    }
    let delivery = (total.messages_sent > 0).then(|| {
        round(
            total.messages_delivered as f64 / total.messages_sent as f64,
            5,
        )
    });
    json!({
        "intended": intended.map(|n| round(n / secs, 3)),
        "achieved": round(now.started as f64 / secs, 3),
        "started": total.started,
        "p50": p50,
        "p99": p99,
        "completeness": total.completeness().map(|c| round(c, 5)),
        "delivery": delivery,
        "connections": total.has_connections()
            .then(|| total.connections_opened.saturating_sub(total.connections_closed)),
    })
}

/// Steps that ended in an error, by class, all regions and steps together (nonzero only).
fn errors(s: &Snapshot) -> Value {
    let all = s.merged_cell(None, None);
    let mut m = Map::new();
    for o in Outcome::ALL.iter().filter(|o| o.is_error()) {
        let n = all.outcomes[o.index()];
        if n > 0 {
            m.insert(o.as_str().into(), n.into());
        }
    }
    Value::Object(m)
}

/// Each SLO over the run so far, and whether it is at risk: `fail` (broken so far), `lost` (can no
/// longer be met), `at_risk` (holds so far, but the interval just merged breaks it), `pass`, `no_data`.
fn slos(meta: &Meta, v: &View<'_>, last: &Snapshot) -> Value {
    let seconds = ((last.interval + 1) as f64 * meta.interval_s).max(1e-9);
    let list: Vec<Value> = meta
        .slos
        .iter()
        .map(|slo| {
            let so_far = slo.evaluate(v.totals, seconds);
            let now = slo.observe(last, meta.interval_s.max(1e-9));
            let lost = crate::guard::cannot_recover(slo, v.totals, meta.max_samples);
            let breaks_now = now.is_some_and(|x| !slo.op.holds(x, slo.threshold));
            let status = match so_far.status {
                VerdictStatus::NoData => "no_data",
                VerdictStatus::Fail if lost => "lost",
                VerdictStatus::Fail => "fail",
                VerdictStatus::Pass
                    if breaks_now || near(slo.op, so_far.observed, slo.threshold) =>
                {
                    "at_risk"
                }
                VerdictStatus::Pass => "pass",
            };
            json!({
                "text": slo.text,
                "status": status,
                "observed": so_far.observed.map(|x| round(x, 5)),
                "now": now.map(|x| round(x, 5)),
                "threshold": slo.threshold,
            })
        })
        .collect();
    Value::Array(list)
}

/// Within 10% of an upper bound (lower bounds are at risk only when the last interval breaks them).
fn near(op: SloOp, observed: Option<f64>, threshold: f64) -> bool {
    matches!(op, SloOp::Lt | SloOp::Le) && observed.is_some_and(|x| x > 0.9 * threshold)
}
