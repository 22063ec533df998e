//! `summary.json` is a contract: a real `Summary` must validate against the committed
//! `results/schema/summary.schema.json`.
//!
//! The validator (`support/schema_check.rs`) implements exactly the JSON Schema keywords that schema uses (type, const, enum,
//! minimum, maximum, required, properties, additionalProperties, items, local `$ref`) and refuses any
//! other keyword, so the schema cannot silently use something this test does not check.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use surge_metrics::{Outcome, Recorder, SloOp, StepRecord, Verdict};
use surge_results::{LostWorker, RunEnd, RunInfo, RunStatus, Summary};

#[path = "support/schema_check.rs"]
mod schema_check;
use schema_check::check;

fn schema() -> Result<Value, Box<dyn std::error::Error>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../results/schema/summary.schema.json");
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

fn real_summary() -> Summary {
    let info = RunInfo {
        name: "quickstart".into(),
        regions: vec!["americas".into(), "europe".into()],
        steps: vec!["register".into(), "discover".into(), "reconnect".into()],
        // A distributed run: the workers' clock offsets, summarised in `clock`.
        clocks: vec![
            surge_results::WorkerClock {
                worker: "w0".into(),
                offset_ms: -0.4,
                bound_ms: 0.05,
                samples: 8,
            },
            surge_results::WorkerClock {
                worker: "w1".into(),
                offset_ms: 1500.2,
                bound_ms: 0.2,
                samples: 8,
            },
        ],
        ..RunInfo::default()
    };
    let mut rec = Recorder::new(2, 3);
    for i in 0..200u64 {
        let outcome = if i % 50 == 0 {
            Outcome::Timeout
        } else {
            Outcome::Ok
        };
        rec.step(StepRecord {
            region: (i % 2) as u16,
            step: (i % 3 % 2) as u16,
            outcome,
            response_us: 1_000 + i * 37,
            service_us: 900,
            send_lag_us: 20,
        });
    }
    rec.retry(0, 0, Outcome::Http429);
    rec.journey_started(0);
    rec.journey_ended(0, true);
    rec.journey_started(0);
    rec.journey_unfinished(0);
    rec.journey_started(0);
    rec.discovery(0, 10, 4, 3, 0);
    // Verification codes in region 0: four people waited, three asked again, one gave up.
    for _ in 0..4 {
        rec.code_awaited(0);
    }
    for _ in 0..3 {
        rec.code_resent(0);
    }
    rec.code_gave_up(0);
    // The connected phase in region 0: messages, connections, a reconnect, closes by code.
    if let Some(c) = rec.conn(0) {
        c.messages_sent = 10;
        c.messages_delivered = 7;
        c.messages_late = 1;
        c.connections_opened = 3;
        c.reconnects = 1;
        c.close(Some(1001));
    }
    rec.step(StepRecord {
        region: 0,
        step: 2,
        outcome: Outcome::Ok,
        response_us: 250_000,
        service_us: 1_000,
        send_lag_us: 0,
    });
    // The target's Server-Timing account of one step in region 0: `latency_split`.
    let timing = surge_metrics::ServerTiming {
        network_us: 120_000,
        queue_us: 2_000,
        service_us: 5_000,
    };
    rec.timed(0, 130_000, timing);
    let totals = rec.take(1);
    let end = RunEnd {
        status: RunStatus::Aborted,
        duration_s: 12.5,
        verdicts: vec![
            Verdict::new(
                "p99 of register < 800ms".into(),
                SloOp::Lt,
                Some(7.9),
                800.0,
            ),
            Verdict::new("completeness > 99.5%".into(), SloOp::Gt, None, 0.995),
        ],
        reason: Some("guard: error rate".into()),
        lost_workers: vec![LostWorker {
            worker: "w2".into(),
            lost_at_s: 4.0,
            missing_intervals: vec![4, 5, 6],
            in_flight: [("americas".to_string(), 1)].into(),
        }],
        unknown: Default::default(),
    };
    Summary::from_totals(&info, &totals, &end)
}

#[test]
fn a_real_summary_validates_against_the_committed_schema() -> Result<(), Box<dyn std::error::Error>>
{
    let schema = schema()?;
    let summary = real_summary();
    let v = serde_json::to_value(&summary)?;
    assert_eq!(check(&schema, &v), Vec::<String>::new());
    assert_eq!(
        v["journeys"]["americas"]["latency_split"]["steps"],
        json!(1)
    );
    assert!(v["journeys"]["europe"].get("latency_split").is_none());
    assert!(v["regions"]["europe"]["discover"]["p999_ms"].is_number());
    assert_eq!(
        v["regions"]["americas"]["register"]["retries"],
        json!({"http_429": 1})
    );
    assert_eq!(v["slos"][0]["status"], "pass");
    assert_eq!(
        v["slos"][1]["status"], "no_data",
        "nothing observed is no data"
    );
    assert_eq!(v["slos"][1]["pass"], false);
    assert_eq!(v["all_slos_pass"], false, "no data counts as failed");
    let m = &v["journeys"]["americas"]["messages"];
    assert_eq!(
        (&m["sent"], &m["delivered"], &m["late"], &m["lost"]),
        (&json!(10), &json!(7), &json!(1), &json!(2))
    );
    let codes = &v["journeys"]["americas"]["codes"];
    assert_eq!(
        (&codes["awaited"], &codes["resent"], &codes["gave_up"]),
        (&json!(4), &json!(3), &json!(1))
    );
    assert_eq!(codes["gave_up_share"], json!(0.25));
    assert!(
        v["journeys"]["europe"].get("codes").is_none(),
        "absent when no code was awaited"
    );
    let c = &v["journeys"]["americas"]["connections"];
    assert_eq!(&c["closes"], &json!({"1001": 1}));
    let clock = &v["clock"];
    let bound = clock["bound_ms"].as_f64().unwrap_or(0.0);
    assert!(
        (bound - 0.25).abs() < 1e-9,
        "the two largest bounds: {clock}"
    );
    assert_eq!(clock["max_offset_ms"], json!(1500.2));
    assert!(c["reconnect_p99_ms"].as_f64().is_some_and(|ms| ms > 200.0));
    assert!(v["journeys"]["europe"].get("messages").is_none());
    // One succeeded, one unfinished, one lost with worker w2: the tally holds.
    assert_eq!(v["journeys"]["americas"]["unfinished"], json!(1));
    assert_eq!(v["journeys"]["americas"]["lost_with_worker"], json!(1));
    assert!(
        summary.tally_problems().is_empty(),
        "{:?}",
        summary.tally_problems()
    );
    let back: Summary = serde_json::from_value(v)?;
    assert_eq!(back, summary);
    Ok(())
}

#[test]
fn the_validator_catches_drift() -> Result<(), Box<dyn std::error::Error>> {
    let schema = schema()?;
    let mut v = serde_json::to_value(real_summary())?;
    v["status"] = json!("finished");
    if let Some(cell) = v["regions"]["americas"]["register"].as_object_mut() {
        cell.remove("p99_ms");
        cell.insert("p95_ms".into(), json!(1.0));
    }
    v["generator"]["samples"] = json!(-1);
    v["slos"][0]["status"] = json!("vacuous");
    let errs: BTreeMap<String, ()> = check(&schema, &v).into_iter().map(|e| (e, ())).collect();
    let text = format!("{:?}", errs.keys().collect::<Vec<_>>());
    for want in [
        "$.status",
        "missing p99_ms",
        "p95_ms: not allowed",
        "$.generator.samples",
        "$.slos[0].status",
    ] {
        assert!(text.contains(want), "{want} not reported in {text}");
    }
    Ok(())
}
