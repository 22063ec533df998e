//! `surge run` with a connected phase, end to end, in-process, against the embedded reference
//! backend's real `/v1/ws`: the messages and connections figures of summary.json add up.

mod common;

use common::{outcome, profile, read_json, surge};

#[test]
fn connected_people_deliver_messages_and_the_summary_adds_up() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = tmp.path().join("run");
    let out_s = out.display().to_string();
    let code = surge(&[
        "run",
        &profile("connected.toml"),
        "--duration",
        "6s",
        "--scale",
        "0.2",
        "--out",
        &out_s,
        "--seed",
        "7",
    ]);
    assert!(code == 0 || code == 1, "run failed with {code}");
    let summary = read_json(&out.join("summary.json"));
    let mut delivered_total = 0;
    for region in ["americas", "europe"] {
        let j = &summary["journeys"][region];
        let m = &j["messages"];
        let n = |k: &str| {
            m[k].as_u64()
                .unwrap_or_else(|| panic!("{region}.messages.{k}: {m}"))
        };
        assert_eq!(
            n("sent"),
            n("delivered") + n("late") + n("lost"),
            "{region}: {m}"
        );
        delivered_total += n("delivered");
        let c = &j["connections"];
        assert!(c["peak"].as_u64().unwrap_or(0) > 0, "{region}: {c}");
        assert!(c["opened"].as_u64().unwrap_or(0) > 0, "{region}: {c}");
        let connect = &summary["regions"][region]["connect"];
        assert!(outcome(connect, "ok") > 0, "{region}: {connect}");
        assert!(connect["p99_ms"].as_f64().is_some(), "{region}: {connect}");
    }
    assert!(delivered_total > 0, "no delivery at all");
    let deliver = &summary["regions"]["americas"]["deliver"];
    assert!(deliver["p99_ms"].as_f64().is_some(), "{deliver}");
    let header = std::fs::read_to_string(out.join("regions.csv")).unwrap_or_default();
    assert!(
        header
            .lines()
            .next()
            .unwrap_or("")
            .contains("messages_sent")
    );
}

#[test]
fn a_drop_connections_fault_shows_as_closes_1001_and_measured_reconnects() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // The shipped storm plan, with its fault moved into a 6 s run.
    let storm = std::fs::read_to_string(profile("plans/reconnect-storm.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(storm.contains("at = \"20s\""), "the storm plan changed");
    let plan = tmp.path().join("storm.toml");
    std::fs::write(&plan, storm.replace("at = \"20s\"", "at = \"3s\""))
        .unwrap_or_else(|e| panic!("{e}"));
    let out = tmp.path().join("run");
    let code = surge(&[
        "run",
        &profile("connected.toml"),
        "--plan",
        &plan.display().to_string(),
        "--duration",
        "6s",
        "--scale",
        "0.2",
        "--out",
        &out.display().to_string(),
        "--seed",
        "7",
    ]);
    assert!(code == 0 || code == 1, "run failed with {code}");
    let summary = read_json(&out.join("summary.json"));
    let c = &summary["journeys"]["americas"]["connections"];
    assert!(c["closes"]["1001"].as_u64().unwrap_or(0) > 0, "{c}");
    assert!(c["reconnects"].as_u64().unwrap_or(0) > 0, "{c}");
    assert!(c["reconnect_p99_ms"].as_f64().is_some(), "{c}");
    let e = &summary["journeys"]["europe"]["connections"];
    assert!(
        e["closes"].get("1001").is_none(),
        "the fault is the Americas' only: {e}"
    );
    let m = &summary["journeys"]["americas"]["messages"];
    let n = |k: &str| m[k].as_u64().unwrap_or(0);
    assert_eq!(n("sent"), n("delivered") + n("late") + n("lost"), "{m}");
}
