//! The connected part of capacity plans: connection capacity, the fault schedule, and the errors
//! (with file:line) of bad ones.

mod common;

use std::path::Path;
use std::time::Duration;

use common::plan_text;
use surge_target::{CapacityPlan, FaultAction, PlanError};

const FAST: &str = "{ median = \"0ms\", p99 = \"0ms\" }";

fn load(extra_us: &str, top: &str) -> Result<CapacityPlan, PlanError> {
    CapacityPlan::from_toml_str(&plan_text(FAST, 64, extra_us, top), "storm.toml")
}

/// The error's field, its line, and the line's text.
fn refused(extra_us: &str, top: &str) -> (String, String, String) {
    let text = plan_text(FAST, 64, extra_us, top);
    let error = match CapacityPlan::from_toml_str(&text, "storm.toml") {
        Ok(_) => panic!("plan accepted: {top}{extra_us}"),
        Err(error) => error,
    };
    let line = error.line().unwrap_or(0);
    let shown = error.to_string();
    assert!(shown.starts_with(&format!("storm.toml:{line}:")), "{shown}");
    let text_line = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    (
        error.field().unwrap_or("").to_owned(),
        text_line.trim().to_owned(),
        shown,
    )
}

#[test]
fn faults_load_sorted_with_their_data_centre() {
    let top = "[[faults]]\nat = \"40s\"\ndc = \"eu\"\naction = \"restart\"\nfor = \"10s\"\n\
               [[faults]]\nat = \"1.5s\"\ndc = \"us\"\naction = \"drop-connections\"\n";
    let plan = load("max_connections = 5", top).expect("valid");
    let faults = plan.faults();
    assert_eq!(faults.len(), 2);
    assert_eq!(
        (faults[0].at, faults[0].dc.as_str(), faults[0].action),
        (
            Duration::from_millis(1500),
            "us",
            FaultAction::DropConnections
        )
    );
    let down_for = Duration::from_secs(10);
    assert_eq!(faults[1].action, FaultAction::Restart { down_for });
    assert_eq!(plan.max_connections("us"), Some(5));
    assert_eq!(plan.max_connections("eu"), Some(100_000), "the default");
}

#[test]
fn bad_faults_are_refused_with_file_and_line() {
    let fault = |body: &str| format!("[[faults]]\n{body}\n");
    let (field, line, shown) = refused(
        "",
        &fault("at = \"1s\"\ndc = \"mars\"\naction = \"restart\"\nfor = \"1s\""),
    );
    assert_eq!(
        (field.as_str(), line.as_str()),
        ("faults[0].dc", "dc = \"mars\""),
        "{shown}"
    );
    let (_, line, shown) = refused(
        "",
        &fault("at = \"-5s\"\ndc = \"us\"\naction = \"drop-connections\""),
    );
    assert_eq!(line, "at = \"-5s\"", "{shown}");
    let (field, _, shown) = refused("", &fault("at = \"1s\"\ndc = \"us\"\naction = \"restart\""));
    assert_eq!(field, "faults[0].for", "{shown}");
    let (_, line, shown) = refused("", &fault("at = \"1s\"\ndc = \"us\"\naction = \"explode\""));
    assert_eq!(line, "action = \"explode\"", "{shown}");
    let (field, _, shown) = refused(
        "",
        &fault("at = \"1s\"\ndc = \"us\"\naction = \"drop-connections\"\nfor = \"2s\""),
    );
    assert_eq!(field, "faults[0].for", "{shown}");
}

#[test]
fn overlapping_restarts_of_one_data_centre_are_refused() {
    let restart = |at: &str, dc: &str| {
        format!("[[faults]]\nat = \"{at}\"\ndc = \"{dc}\"\naction = \"restart\"\nfor = \"10s\"\n")
    };
    let top = format!("{}{}", restart("10s", "us"), restart("15s", "us"));
    let (field, _, shown) = refused("", &top);
    assert_eq!(field, "faults", "{shown}");
    assert!(shown.contains("overlaps"), "{shown}");
    let text = plan_text(FAST, 64, "", &top);
    let line = CapacityPlan::from_toml_str(&text, "x")
        .err()
        .and_then(|e| e.line());
    let second = text.lines().position(|l| l.contains("15s")).map(|i| i + 1);
    assert!(
        line.is_some_and(|l| second.is_some_and(|s| l <= s && l + 2 >= s)),
        "the error points at the later restart: {line:?} vs {second:?}"
    );
    // Back to back, or in different data centres, is fine.
    assert!(
        load(
            "",
            &format!("{}{}", restart("10s", "us"), restart("20s", "us"))
        )
        .is_ok()
    );
    assert!(
        load(
            "",
            &format!("{}{}", restart("10s", "us"), restart("15s", "eu"))
        )
        .is_ok()
    );
}

#[test]
fn bad_connection_capacity_is_refused() {
    let (field, _, shown) = refused("max_connections = 0", "");
    assert_eq!(field, "dcs.us.max_connections", "{shown}");
    let (field, _, shown) = refused("accept_rate_per_s = -1.0", "");
    assert_eq!(field, "dcs.us.accept_rate_per_s", "{shown}");
    let (field, _, shown) = refused("delivery_slots = 0", "");
    assert_eq!(field, "dcs.us.delivery_slots", "{shown}");
    let (field, _, shown) = refused("", "mailbox_limit = 0");
    assert_eq!(field, "mailbox_limit", "{shown}");
}

#[test]
fn shipped_reconnect_storm_drops_the_americas_mid_run() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles/plans/reconnect-storm.toml");
    let plan = CapacityPlan::load(&path).expect("reconnect-storm.toml loads");
    let faults = plan.faults();
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].dc, "us");
    assert_eq!(plan.dc_of("americas"), Some("us"));
    assert_eq!(faults[0].action, FaultAction::DropConnections);
    assert!(faults[0].at >= Duration::from_secs(5));
    let baseline = CapacityPlan::baseline();
    assert!(baseline.faults().is_empty());
    assert_eq!(baseline.max_connections("us"), Some(20_000));
}
