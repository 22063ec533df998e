//! The client side of Signal-style incremental discovery, end to end against the reference backend
//! with a discovery quota (`profiles/plans/signal-like.toml`), started on 127.0.0.1:0 in this process so
//! its counters can be read: the built-in `reference` journey keeps the token of each answer and sends
//! the numbers seen before back with it, so the backend charges every person exactly the distinct
//! numbers of their address book (plus those it gained before each re-sync), and a re-sync of an
//! unchanged book costs nothing; a journey that re-uploads everything pays for its book again at every
//! re-sync.

mod common;

use std::collections::HashSet;
use std::path::Path;

use common::{profile, surge};
use surge_target::{CapacityPlan, TargetStats};

const PEOPLE: u64 = 60;

/// A flat 3 s arrival of `PEOPLE` people over three regions, small books, the given `[journey]`.
fn profile_text(journey: &str) -> String {
    format!(
        r#"name = "incremental"
description = "incremental discovery against a metered backend"
seed = 17

{journey}

[event]
population = {PEOPLE}
duration = "3s"
replay = "3s"
interval = "1s"

[[regions]]
name = "americas"
share = 0.4

[[regions]]
name = "europe"
share = 0.3

[[regions]]
name = "asia"
share = 0.3

[curve]
kind = "ramp"
up = "0s"
hold = "3s"
down = "0s"

[address_book]
median = 12
sigma = 0.5
max = 40
same_region = 0.8
never_join = 0.3
later = 0.1

[client]
timeout = "5s"
retry = "give-up"
"#
    )
}

/// Runs the profile `text` against a fresh target with the signal-like plan's quota; returns the
/// target's counters, summary.json and the compiled plan.
fn run(dir: &Path, text: &str) -> (TargetStats, serde_json::Value, surge_plan::Plan) {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("profile.toml");
    std::fs::write(&file, text).unwrap();
    let loaded = surge_profile::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let plan = surge_plan::Plan::compile(&loaded, &surge_plan::Overrides::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let capacity = CapacityPlan::load(Path::new(&profile("plans/signal-like.toml"))).unwrap();
    let target = rt
        .block_on(surge_target::serve(
            "127.0.0.1:0".parse().unwrap(),
            capacity,
        ))
        .unwrap();
    let out = dir.join("out");
    let code = surge(&[
        "run",
        &file.display().to_string(),
        "--target",
        &target.url(),
        "--out",
        &out.display().to_string(),
        "--no-report",
    ]);
    assert!(code == 0 || code == 1, "run failed to run: {code}");
    let summary = common::assert_tally(&out);
    let stats = target.stats();
    rt.block_on(target.shutdown());
    (stats, summary, plan)
}

/// Distinct numbers of each person's book, plus `added` more before each of `times` re-syncs.
fn distinct_numbers(plan: &surge_plan::Plan, times: u32, added: u32) -> u64 {
    let mut total = 0;
    let mut book = Vec::new();
    for u in 0..plan.population {
        plan.contacts(u, &mut book);
        for k in 1..=times {
            plan.contacts_added(u, k, added, &mut book);
        }
        total += book.iter().map(|c| c.phone).collect::<HashSet<_>>().len() as u64;
    }
    total
}

fn succeeded(summary: &serde_json::Value) -> u64 {
    summary["journeys"]
        .as_object()
        .map(|j| j.values().filter_map(|r| r["succeeded"].as_u64()).sum())
        .unwrap_or(0)
}

fn lookups(stats: &TargetStats) -> u64 {
    stats.requests.get("discovery").copied().unwrap_or(0)
}

#[test]
fn the_backend_charges_only_new_numbers_and_unchanged_resyncs_cost_nothing() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap();

    // Re-syncs of an unchanged book: the first upload pays for the book, the two re-syncs nothing.
    let (stats, summary, plan) = run(
        &tmp.path().join("unchanged"),
        &profile_text("[journey]\nbuiltin = \"reference\"\nresync = { every = \"1s\", times = 2 }"),
    );
    assert_eq!(succeeded(&summary), PEOPLE, "{}", summary["journeys"]);
    let book = distinct_numbers(&plan, 0, 0);
    assert!(book > PEOPLE * 5, "books too small to tell: {book}");
    assert_eq!(stats.discovery_charged, book, "charged beyond the books");
    assert_eq!(lookups(&stats), PEOPLE * 3, "one lookup per sync");
    assert_eq!(stats.discovery_over_quota, 0);

    // The book gains 4 numbers before each re-sync: only those are charged.
    let (stats, summary, plan) = run(
        &tmp.path().join("growing"),
        &profile_text(
            "[journey]\nbuiltin = \"reference\"\nresync = { every = \"1s\", times = 2, added = 4 }",
        ),
    );
    assert_eq!(succeeded(&summary), PEOPLE, "{}", summary["journeys"]);
    let grown = distinct_numbers(&plan, 2, 4);
    assert!(grown > book, "{grown} <= {book}");
    assert_eq!(stats.discovery_charged, grown);
    assert_eq!(lookups(&stats), PEOPLE * 3);
    // The re-syncs found contacts among the added numbers too: expected counts grew.
    let expected = |s: &serde_json::Value| -> u64 {
        s["journeys"]
            .as_object()
            .map(|j| {
                j.values()
                    .filter_map(|r| r["contacts_expected"].as_u64())
                    .sum()
            })
            .unwrap_or(0)
    };
    assert!(expected(&summary) > 0, "{}", summary["journeys"]);

    // The same journey spelled out without `incremental`: every re-sync uploads the whole book again
    // and pays for it again.
    let full = r#"[journey]
name = "full-uploads"
headers = { "x-surge-region" = "{region}" }
resync = { every = "1s", times = 2 }

[[journey.steps]]
name = "request_code"
method = "POST"
path = "/v1/verification/code"
body = '{"number":"{phone}"}'
expect = 202
extract = { session_id = "/session_id" }

[[journey.steps]]
name = "verify_code"
method = "PUT"
path = "/v1/verification/code"
body = '{"session_id":"{session_id}","code":"{code}"}'
expect = 200

[[journey.steps]]
name = "register"
method = "POST"
path = "/v1/accounts"
body = '{"session_id":"{session_id}"}'
expect = 201
extract = { token = "/token" }

[[journey.steps]]
name = "discover"
method = "POST"
path = "/v1/discovery"
headers = { authorization = "Bearer {token}" }
body = '{"hashes":{contacts}}'
expect = 200
discovery = { batch = 2048, encoding = "sha256-hex16", answer = "/found" }"#;
    let (stats, summary, plan) = run(&tmp.path().join("full"), &profile_text(full));
    assert_eq!(succeeded(&summary), PEOPLE, "{}", summary["journeys"]);
    assert_eq!(stats.discovery_charged, 3 * distinct_numbers(&plan, 0, 0));
}
