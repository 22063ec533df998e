//! Missing contacts split by cause, end to end against the embedded reference backend: a lagging
//! index (`index_lag`), Signal-style quotas (`quota`, `profiles/plans/signal-like.toml` with a small
//! bucket) and failing lookups (`error`); summary.json's `journeys.<region>.discovery` and the
//! report's discovery line name the dominant cause per region.

mod common;

use common::{profile, surge};
use serde_json::Value;
use std::path::Path;

const REGIONS: [&str; 3] = ["americas", "europe", "asia"];

fn run(dir: &Path, plan: &Path) -> Value {
    let code = surge(&[
        "run",
        &profile("quickstart.toml"),
        "--scale",
        "0.3",
        "--duration",
        "5s",
        "--plan",
        &plan.display().to_string(),
        "--out",
        &dir.display().to_string(),
    ]);
    assert!(code == 0 || code == 1, "run failed to run: {code}");
    common::assert_tally(dir)
}

/// (expected, found, missing, index_lag, quota, error) summed over regions, checking each region's
/// own arithmetic on the way.
fn causes(s: &Value) -> [u64; 6] {
    let mut t = [0u64; 6];
    for r in REGIONS {
        let d = &s["journeys"][r]["discovery"];
        let n = |k: &str| {
            d[k].as_u64()
                .unwrap_or_else(|| panic!("{r}: no {k} in {d}"))
        };
        let m = |k: &str| d["missing_by_cause"][k].as_u64().expect(k);
        assert_eq!(
            n("missing"),
            m("index_lag") + m("quota") + m("error"),
            "{r}: {d}"
        );
        assert_eq!(n("expected"), n("found") + n("missing"), "{r}: {d}");
        assert_eq!(
            s["journeys"][r]["contacts_missing"].as_u64(),
            Some(n("missing"))
        );
        for (i, v) in [
            n("expected"),
            n("found"),
            n("missing"),
            m("index_lag"),
            m("quota"),
            m("error"),
        ]
        .into_iter()
        .enumerate()
        {
            t[i] += v;
        }
    }
    t
}

fn report(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("report.md")).expect("report.md")
}

#[test]
fn missing_contacts_are_split_by_cause_and_the_report_names_the_dominant_one() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let baseline = std::fs::read_to_string(profile("plans/baseline.toml")).unwrap();
    let signal = std::fs::read_to_string(profile("plans/signal-like.toml")).unwrap();

    // The index trails registrations by 1.5 s: contacts who just registered are not in the answers.
    let lag = run(
        &tmp.path().join("lag"),
        Path::new(&profile("plans/lagging-index.toml")),
    );
    let [expected, _, missing, index_lag, quota, error] = causes(&lag);
    assert!(expected > 0 && missing > 0, "{}", lag["journeys"]);
    assert_eq!(
        (missing, quota, error),
        (index_lag, 0, 0),
        "{}",
        lag["journeys"]
    );
    assert!(report(&tmp.path().join("lag")).contains("mostly index_lag"));

    // Signal-like quotas with a bucket of 12 permits: a first upload of more than 12 new numbers is
    // refused (429 + Retry-After of hours), the quickstart's client gives up, its contacts are missing.
    let small = tmp.path().join("small-quota.toml");
    std::fs::write(&small, signal.replace("permits = 50_000", "permits = 12")).unwrap();
    let q = run(&tmp.path().join("quota"), &small);
    let [_, found, missing, _, quota, error] = causes(&q);
    assert!(quota > 0 && quota * 2 > missing, "{}", q["journeys"]);
    assert!(
        found > 0,
        "books of at most 12 numbers pass: {}",
        q["journeys"]
    );
    assert_eq!(error, 0, "{}", q["journeys"]);
    assert!(report(&tmp.path().join("quota")).contains("mostly quota"));

    // The shipped signal-like plan's 50,000 permits cover any first upload: nothing is refused.
    let shipped = run(
        &tmp.path().join("signal"),
        Path::new(&profile("plans/signal-like.toml")),
    );
    let [_, _, _, _, quota, error] = causes(&shipped);
    assert_eq!((quota, error), (0, 0), "{}", shipped["journeys"]);

    // Lookups refused outright (413: the plan takes at most 3 numbers a request): errors.
    let tiny = tmp.path().join("tiny-batch.toml");
    std::fs::write(
        &tiny,
        baseline.replace("discovery_batch_limit = 2048", "discovery_batch_limit = 3"),
    )
    .unwrap();
    let e = run(&tmp.path().join("error"), &tiny);
    let [_, _, missing, _, quota, error] = causes(&e);
    assert!(error > 0 && error * 2 > missing, "{}", e["journeys"]);
    assert_eq!(quota, 0, "{}", e["journeys"]);
    assert!(report(&tmp.path().join("error")).contains("mostly error"));
}
