//! `capacity.json` is a contract: a `CapacityResult` with every kind of value (found, ceiling,
//! interrupted, repeats, a flagged probe) must validate against `results/schema/capacity.schema.json`,
//! and the validator must catch drift. The CLI's end-to-end test validates a real search's file too.

#[path = "support/schema_check.rs"]
mod schema_check;

use schema_check::check;
use serde_json::{Value, json};
use surge_results::capacity::{
    CapacityResult, CapacityStatus, Probe, ProbeSlo, RegionCapacity, RepeatStats, SearchEnd,
};

fn schema() -> Result<Value, Box<dyn std::error::Error>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../results/schema/capacity.schema.json");
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

fn probe(rate: f64, p99: Option<f64>, flagged: Option<&str>) -> Probe {
    Probe {
        repeat: 1,
        rate_per_s: rate,
        rates: [("americas".to_string(), rate), ("europe".to_string(), 30.0)].into(),
        pass: p99.is_some_and(|v| v < 800.0) && flagged.is_none(),
        flagged: flagged.map(str::to_string),
        slos: vec![
            ProbeSlo {
                slo: "p99 of register in americas < 800ms".into(),
                observed: p99,
                threshold: 800.0,
                pass: p99.is_some_and(|v| v < 800.0),
                applies: true,
            },
            ProbeSlo {
                slo: "p99 of register in europe < 800ms".into(),
                observed: Some(61.0),
                threshold: 800.0,
                pass: true,
                applies: false,
            },
        ],
        error_rate: 0.02,
        started_per_s: rate + 30.0,
        send_lag_p99_ms: 0.4,
        completed_ratio: Some(0.97),
        dir: format!("probe-001-americas-{rate}"),
    }
}

fn sample() -> CapacityResult {
    let found = RegionCapacity {
        max_rate_per_s: Some(93.8),
        bracket: [Some(93.8), Some(98.4)],
        end: SearchEnd::Found,
        note: "every SLO held at 93.8/s, one failed at 98.4/s".into(),
        others_per_s: [("europe".to_string(), 30.0)].into(),
        repeats: RepeatStats::of(&[93.8, 91.4, 96.1]),
        probes: vec![
            probe(37.5, Some(61.0), None),
            probe(150.0, Some(1400.0), None),
            probe(93.8, None, None),
        ],
    };
    let ceiling = RegionCapacity {
        max_rate_per_s: Some(40.0),
        bracket: [Some(40.0), None],
        end: SearchEnd::Ceiling,
        note: "held up to the ceiling".into(),
        others_per_s: [("americas".to_string(), 150.0)].into(),
        repeats: None,
        probes: vec![probe(
            40.0,
            Some(70.0),
            Some("send lag p99 40 ms above 10 ms"),
        )],
    };
    CapacityResult {
        schema_version: surge_results::capacity::CAPACITY_SCHEMA_VERSION,
        name: "americas-surge".into(),
        target: "embedded reference backend".into(),
        capacity_plan: Some("profiles/plans/americas-underprovisioned.toml".into()),
        status: CapacityStatus::Interrupted,
        reason: Some("interrupted (Ctrl-C)".into()),
        probe_s: 3.0,
        precision: 0.1,
        repeat: 3,
        up_to: None,
        workers: 2,
        slos: vec!["p99 of register in americas < 800ms".into()],
        regions: [
            ("americas".to_string(), found),
            ("europe".to_string(), ceiling),
        ]
        .into(),
    }
}

#[test]
fn a_capacity_result_validates_against_the_committed_schema()
-> Result<(), Box<dyn std::error::Error>> {
    let schema = schema()?;
    let c = sample();
    let v = serde_json::to_value(&c)?;
    assert_eq!(check(&schema, &v), Vec::<String>::new());
    assert_eq!(v["regions"]["americas"]["max_rate_per_s"], json!(93.8));
    assert_eq!(v["regions"]["americas"]["bracket"], json!([93.8, 98.4]));
    assert_eq!(v["regions"]["europe"]["bracket"], json!([40.0, null]));
    assert_eq!(v["regions"]["europe"]["end"], json!("ceiling"));
    assert_eq!(v["status"], json!("interrupted"));
    // Written and read back through the folder.
    let dir = tempfile::tempdir()?;
    c.write(dir.path())?;
    assert!(CapacityResult::is_capacity_dir(dir.path()));
    let back = CapacityResult::read(dir.path())?;
    assert_eq!(
        back.regions["americas"].bracket,
        c.regions["americas"].bracket
    );
    assert_eq!(back.status, c.status);
    Ok(())
}

#[test]
fn the_capacity_validator_catches_drift() -> Result<(), Box<dyn std::error::Error>> {
    let schema = schema()?;
    let mut v = serde_json::to_value(sample())?;
    v["status"] = json!("done");
    v["regions"]["americas"]["bracket"] = json!(["93.8", 98.4]);
    if let Some(r) = v["regions"]["europe"].as_object_mut() {
        r.remove("max_rate_per_s");
        r.insert("max_rps".into(), json!(1.0));
    }
    v["regions"]["americas"]["probes"][0]["error_rate"] = json!(1.5);
    let errs = check(&schema, &v);
    let text = format!("{errs:?}");
    for want in [
        "$.status",
        "$.regions.americas.bracket[0]",
        "missing max_rate_per_s",
        "max_rps: not allowed",
        "$.regions.americas.probes[0].error_rate",
    ] {
        assert!(text.contains(want), "{want} not reported in {text}");
    }
    Ok(())
}
