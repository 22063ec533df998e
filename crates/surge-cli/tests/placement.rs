//! Placement by region in distributed mode, with real processes on loopback: `surge coordinator
//! --placement region` and workers started with `--region`. A placed run accounts for everyone and
//! records its placement; a region without a worker, an unknown region and a `--region` the
//! coordinator does not use are each refused with a clear message before anything is sent.
//! (That each region's people really leave from its own host is measured across network namespaces
//! with per-link delays by `bench/hosts-test.sh`.)
// These tests time real processes: std's clock is meant.
#![allow(clippy::disallowed_methods)]

mod common;
mod distributed_support;

use distributed_support::{
    Proc, coordinator, flat_profile, json, metric_sum, metrics, target, worker,
};
use std::time::Duration;

const TOKEN: &str = "placement-token";

fn plan_of(profile: &std::path::Path) -> surge_plan::Plan {
    let text = std::fs::read_to_string(profile).unwrap();
    let p = surge_profile::parse(&text, &profile.display().to_string()).unwrap();
    surge_plan::Plan::compile(&p, &surge_plan::Overrides::default()).unwrap()
}

#[test]
fn a_placed_run_sends_every_region_from_its_workers_and_records_the_placement() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let profile = flat_profile(tmp.path(), 600, 4, 500);
    let out = tmp.path().join("run");
    let (_target, turl) = target();
    let (mut coord, curl) = coordinator(
        &profile.display().to_string(),
        "3",
        TOKEN,
        &turl,
        &out.display().to_string(),
        &["--placement", "region", "--drain", "3s"],
    );
    let mut workers = vec![
        worker("us-east", &curl, TOKEN, &["--region", "americas"]),
        worker("us-west", &curl, TOKEN, &["--region", "americas"]),
        worker("eu-ap", &curl, TOKEN, &["--region", "europe,asia"]),
    ];
    assert_eq!(
        coord.wait_exit(Duration::from_secs(90)).code(),
        Some(0),
        "{}",
        coord.output()
    );
    for w in &mut workers {
        assert_eq!(
            w.wait_exit(Duration::from_secs(20)).code(),
            Some(0),
            "{}",
            w.output()
        );
    }
    let summary = common::assert_tally(&out);
    common::assert_everyone_started_once(&summary, &plan_of(&profile));
    let info = json(&out.join("run.json"));
    let placed = |region: &str| -> Vec<String> {
        info["placement"][region]
            .as_array()
            .unwrap_or_else(|| panic!("run.json placement: {}", info["placement"]))
            .iter()
            .map(|n| n.as_str().unwrap().split('@').next().unwrap().to_string())
            .collect()
    };
    let mut americas = placed("americas");
    americas.sort();
    assert_eq!(americas, vec!["us-east", "us-west"]);
    assert_eq!(placed("europe"), vec!["eu-ap"]);
    assert_eq!(placed("asia"), vec!["eu-ap"]);
}

#[test]
fn a_region_without_a_worker_is_refused_before_anything_is_sent() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let profile = flat_profile(tmp.path(), 600, 4, 500);
    let out = tmp.path().join("run");
    let (_target, turl) = target();
    let before = metric_sum(
        &metrics(&turl).expect("target /metrics"),
        "surge_target_requests_total",
    );
    let (mut coord, curl) = coordinator(
        &profile.display().to_string(),
        "2",
        TOKEN,
        &turl,
        &out.display().to_string(),
        &["--placement", "region"],
    );
    let mut a = worker("w-americas", &curl, TOKEN, &["--region", "americas"]);
    let mut b = worker("w-europe", &curl, TOKEN, &["--region", "europe"]);
    assert_eq!(coord.wait_exit(Duration::from_secs(30)).code(), Some(2));
    let said = coord.output();
    assert!(
        said.contains("no worker is placed in region `asia`") && said.contains("--region asia"),
        "{said}"
    );
    for w in [&mut a, &mut b] {
        assert_eq!(
            w.wait_exit(Duration::from_secs(20)).code(),
            Some(2),
            "{}",
            w.output()
        );
        assert!(w.output().contains("`asia`"), "{}", w.output());
    }
    let after = metric_sum(
        &metrics(&turl).expect("target /metrics"),
        "surge_target_requests_total",
    );
    assert_eq!(
        after, before,
        "requests reached the target of a refused run"
    );
}

#[test]
fn unknown_and_unplaced_regions_are_refused_at_join() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let profile = flat_profile(tmp.path(), 60, 2, 500);
    let (_target, turl) = target();

    let out = tmp.path().join("placed");
    let (mut coord, curl) = coordinator(
        &profile.display().to_string(),
        "1",
        TOKEN,
        &turl,
        &out.display().to_string(),
        &["--placement", "region"],
    );
    let mut mars = worker("mars", &curl, TOKEN, &["--region", "mars"]);
    assert_eq!(mars.wait_exit(Duration::from_secs(20)).code(), Some(2));
    assert!(
        mars.output().contains(
            "unknown region `mars` in --region: the profile's regions are americas, europe, asia"
        ),
        "{}",
        mars.output()
    );
    let mut none = worker("nowhere", &curl, TOKEN, &[]);
    assert_eq!(none.wait_exit(Duration::from_secs(20)).code(), Some(2));
    assert!(
        none.output()
            .contains("start the worker with --region NAME"),
        "{}",
        none.output()
    );
    coord.kill();

    let out = tmp.path().join("unplaced");
    let (mut coord, curl) = coordinator(
        &profile.display().to_string(),
        "1",
        TOKEN,
        &turl,
        &out.display().to_string(),
        &[],
    );
    let mut placed: Proc = worker("placed", &curl, TOKEN, &["--region", "asia"]);
    assert_eq!(placed.wait_exit(Duration::from_secs(20)).code(), Some(2));
    assert!(
        placed
            .output()
            .contains("add --placement region to the coordinator"),
        "{}",
        placed.output()
    );
    coord.kill();
}
