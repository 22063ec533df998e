//! `summary.json` is a contract: a real `Summary` must validate against the committed
//! `results/schema/summary.schema.json`.
//!
//! The validator below implements exactly the JSON Schema keywords that schema uses (type, const, enum,
//! minimum, maximum, required, properties, additionalProperties, items, local `$ref`) and refuses any
//! other keyword, so the schema cannot silently use something this test does not check.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use surge_metrics::{Outcome, Recorder, SloOp, StepRecord, Verdict};
use surge_results::{LostWorker, RunEnd, RunInfo, RunStatus, Summary};

const ANNOTATIONS: [&str; 5] = ["$schema", "$id", "title", "description", "$defs"];

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

fn validate(root: &Value, schema: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        return errs.push(format!("{path}: schema is not an object"));
    };
    for (k, rule) in s {
        match k.as_str() {
            k if ANNOTATIONS.contains(&k) => {}
            "$ref" => {
                let name = rule
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .unwrap_or_default();
                validate(root, &root["$defs"][name], v, path, errs);
            }
            "type" => {
                let ok = match rule {
                    Value::String(t) => type_ok(t, v),
                    Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| type_ok(t, v)),
                    _ => false,
                };
                if !ok {
                    errs.push(format!("{path}: {v} is not of type {rule}"));
                }
            }
            "const" if rule != v => errs.push(format!("{path}: want {rule}, got {v}")),
            "enum" if !rule.as_array().is_some_and(|a| a.contains(v)) => {
                errs.push(format!("{path}: {v} not in {rule}"))
            }
            "minimum" if v.as_f64().zip(rule.as_f64()).is_some_and(|(x, m)| x < m) => {
                errs.push(format!("{path}: {v} < {rule}"))
            }
            "maximum" if v.as_f64().zip(rule.as_f64()).is_some_and(|(x, m)| x > m) => {
                errs.push(format!("{path}: {v} > {rule}"))
            }
            "const" | "enum" | "minimum" | "maximum" => {}
            "required" => {
                for key in rule
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if v.is_object() && v.get(key).is_none() {
                        errs.push(format!("{path}: missing {key}"));
                    }
                }
            }
            // Both keywords are checked together, once.
            "properties" => validate_props(root, s, v, path, errs),
            "additionalProperties" if !s.contains_key("properties") => {
                validate_props(root, s, v, path, errs)
            }
            "additionalProperties" => {}
            "items" => {
                for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                    validate(root, rule, item, &format!("{path}[{i}]"), errs);
                }
            }
            other => errs.push(format!("{path}: unsupported keyword {other}")),
        }
    }
}

fn validate_props(
    root: &Value,
    s: &serde_json::Map<String, Value>,
    v: &Value,
    path: &str,
    errs: &mut Vec<String>,
) {
    let Some(obj) = v.as_object() else { return };
    let props = s.get("properties").and_then(Value::as_object);
    for (k, val) in obj {
        let p = format!("{path}.{k}");
        match (props.and_then(|m| m.get(k)), s.get("additionalProperties")) {
            (Some(sub), _) => validate(root, sub, val, &p, errs),
            (None, Some(Value::Bool(false))) => errs.push(format!("{p}: not allowed")),
            (None, Some(Value::Bool(true)) | None) => {}
            (None, Some(sub)) => validate(root, sub, val, &p, errs),
        }
    }
}

fn check(schema: &Value, v: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    validate(schema, schema, v, "$", &mut errs);
    errs
}

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
