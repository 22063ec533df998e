//! Helpers shared by the CLI's end-to-end tests: run `surge` in-process, find the shipped profiles,
//! read results files.
#![allow(dead_code)]

use clap::Parser;
use serde_json::Value;
use std::path::Path;
use surge_cli::args::Cli;
use surge_testkit::repo_root;

/// Absolute path of a shipped profile (or plan, with "plans/x.toml").
pub fn profile(name: &str) -> String {
    repo_root()
        .join("profiles")
        .join(name)
        .display()
        .to_string()
}

/// Runs `surge ARGS...` in-process and returns its exit code.
pub fn surge(args: &[&str]) -> i32 {
    let mut argv = vec!["surge"];
    argv.extend_from_slice(args);
    surge_cli::execute(Cli::parse_from(argv))
}

/// Parses a JSON file, naming it on failure.
pub fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `regions.<region>.<step>` of a summary.
pub fn step<'a>(summary: &'a Value, region: &str, step: &str) -> &'a Value {
    &summary["regions"][region][step]
}

/// A class count in a step summary's outcomes (absent = 0).
pub fn outcome(step: &Value, class: &str) -> u64 {
    step["outcomes"][class].as_u64().unwrap_or(0)
}

/// A float field of a JSON object, panicking with context when absent.
pub fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no `{key}` in {v}"))
}

/// Serialises the latency-sensitive tests of one test binary: on a 2-core machine two surges at once
/// would measure each other. Hold the guard for the whole test.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Asserts that every person of a results folder is accounted for: per region of summary.json,
/// `started = succeeded + failed + unfinished + lost_with_worker + unknown`, and the reader finds
/// nothing that disagrees. Returns summary.json.
pub fn assert_tally(dir: &Path) -> Value {
    let data =
        surge_results::RunData::read(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    assert_eq!(
        data.tally_problems(),
        Vec::<String>::new(),
        "{}",
        dir.display()
    );
    let summary = serde_json::to_value(&data.summary).unwrap();
    let journeys = summary["journeys"].as_object().expect("journeys");
    assert!(!journeys.is_empty());
    for (region, j) in journeys {
        let n = |k: &str| {
            j[k].as_u64()
                .unwrap_or_else(|| panic!("{region}: no {k} in {j}"))
        };
        assert_eq!(
            n("started"),
            n("succeeded") + n("failed") + n("unfinished") + n("lost_with_worker") + n("unknown"),
            "{region}: {j}"
        );
    }
    summary
}

/// Asserts that every region of `summary` started exactly its share of `plan`'s population (a person's
/// region is a pure function of the seed and its index).
pub fn assert_everyone_started_once(summary: &Value, plan: &surge_plan::Plan) {
    let mut per_region = vec![0u64; plan.regions.len()];
    for u in 0..plan.population {
        per_region[plan.person(u).region as usize] += 1;
    }
    for (r, want) in plan.regions.iter().zip(&per_region) {
        let j = &summary["journeys"][&r.name];
        assert_eq!(j["started"].as_u64().unwrap(), *want, "{}: {j}", r.name);
    }
}

/// The installed Chromium (or Chrome), if any.
pub fn chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_string)
}

/// Headless Chromium with a throw-away profile under `tmp`.
pub fn headless(browser: &str, tmp: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!(
        "--user-data-dir={}",
        tmp.join("chrome-profile").display()
    ));
    cmd
}
