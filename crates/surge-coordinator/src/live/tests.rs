//! The families of a run in progress: every exported name present, kinds and names agree with the
//! conventions, values are the snapshot's.

use super::families::{Kind, collect};
use super::{View, names};
use crate::collect::WorkerState;
use surge_metrics::{Measure, Outcome, Snapshot};

fn plan() -> surge_plan::Plan {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles/quickstart.toml");
    let profile = surge_profile::load(&path).expect("quickstart profile");
    surge_plan::Plan::compile(&profile, &surge_plan::Overrides::default()).expect("plan")
}

/// Interval 3 of a run: every region and step has 10 steps at 2 ms, 1 of them a 503, and 50 ms of send
/// lag in the first region.
fn interval(plan: &surge_plan::Plan) -> Snapshot {
    let (regions, steps) = (plan.regions.len() as u16, plan.steps.len() as u16);
    let mut s = Snapshot::new(3, regions, steps);
    for r in 0..regions {
        for st in 0..steps {
            let c = s.cell_mut(r, st).unwrap();
            for i in 0..10 {
                c.record(Measure::Response, 2_000);
                c.record(Measure::Service, 1_000);
                c.record(Measure::SendLag, if r == 0 { 50_000 } else { 10 });
                let o = if i == 0 {
                    Outcome::Http5xx
                } else {
                    Outcome::Ok
                };
                c.outcomes[o.index()] += 1;
            }
        }
        let rc = &mut s.counters[r as usize];
        rc.started = 12;
        rc.succeeded = 9;
        rc.failed = 1;
        rc.contacts_expected = 4;
        rc.contacts_found = 3;
    }
    s
}

#[test]
fn every_exported_name_is_present_with_conventional_kinds() {
    let plan = plan();
    let snap = interval(&plan);
    let slos = crate::resolve_slos(&plan).unwrap();
    let states = [WorkerState::Live, WorkerState::Done];
    let fams = collect(&View {
        plan: &plan,
        last: Some(&snap),
        totals: &snap,
        states: &states,
        slos: &slos,
        in_flight: 0,
    });
    let got: Vec<&str> = fams.iter().map(|f| f.name).collect();
    assert_eq!(got.len(), names::ALL.len());
    for n in names::ALL {
        assert!(got.contains(n), "{n} not exported");
    }
    for f in &fams {
        assert_eq!(
            f.kind == Kind::Counter,
            f.name.ends_with("_total"),
            "{}: counters, and only counters, end in _total",
            f.name
        );
    }
    let value = |name: &str, labels: &[(&str, &str)]| {
        fams.iter()
            .find(|f| f.name == name)
            .and_then(|f| {
                f.samples.iter().find(|s| {
                    labels
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
                })
            })
            .map(|s| s.value)
            .unwrap_or_else(|| panic!("no {name} {labels:?}"))
    };
    for reg in &plan.regions {
        let r = reg.name.as_str();
        let p99 = value(
            names::STEP_RESPONSE,
            &[("region", r), ("step", "register"), ("quantile", "0.99")],
        );
        assert!((p99 - 0.002).abs() < 0.0001, "{r}: {p99}");
        assert_eq!(value(names::ARRIVALS_ACHIEVED, &[("region", r)]), 12.0);
        assert_eq!(value(names::IN_FLIGHT, &[("region", r)]), 2.0);
        assert_eq!(value(names::DISCOVERY_COMPLETENESS, &[("region", r)]), 0.75);
        assert_eq!(
            value(names::STEP_ERRORS, &[("region", r), ("class", "http_5xx")]),
            1.0
        );
        assert!(value(names::ARRIVALS_INTENDED, &[("region", r)]) > 0.0);
    }
    assert_eq!(value(names::INTERVAL, &[]), 3.0);
    assert_eq!(value(names::WORKERS, &[("state", "live")]), 1.0);
    assert_eq!(
        value(names::GENERATOR_SATURATED, &[]),
        1.0,
        "50 ms send lag"
    );
    assert_eq!(value(names::RUN_ENDED, &[]), 0.0);
    assert_eq!(value(names::SLO_PASS, &[("slo", "error rate < 1%")]), 0.0);
    assert_eq!(
        value(names::SLO_PASS, &[("slo", "p99 of register < 1s")]),
        1.0
    );
    let text = super::text::render(&fams);
    assert!(text.contains("# TYPE surge_arrivals_achieved_total counter\n"));
}

#[test]
fn before_the_first_interval_every_name_is_announced() {
    let plan = plan();
    let empty = Snapshot::new(0, plan.regions.len() as u16, plan.steps.len() as u16);
    let fams = collect(&View {
        plan: &plan,
        last: None,
        totals: &empty,
        states: &[],
        slos: &[],
        in_flight: 0,
    });
    let text = super::text::render(&fams);
    for n in names::ALL {
        assert!(text.contains(&format!("# TYPE {n} ")), "{n}");
    }
    assert!(text.contains("surge_interval -1\n"), "{text}");
}
