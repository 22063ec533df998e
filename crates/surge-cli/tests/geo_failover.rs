//! Issue 18: the geo-failover scenario end to end against the embedded reference backend, reduced
//! to 14 s: `us` goes down at 4 s for 6 s, the Americas move to `eu`; their latency rises from
//! distance (120 ms round trips instead of 40 ms) plus load, Europe's from the queueing the
//! Americas' load causes at `eu`. The results keep distance and queueing apart (regions.csv per
//! interval, summary.json's `latency_split`, the terminal table). And connected people's `connect`
//! step counts in that split from its upgrade's answer, 101 or refusal (two runs of 3 s and 2 s).

mod common;

use common::{assert_tally, profile, read_json, surge};
use surge_results::RunData;

/// Means per timed step over the intervals of `region` starting in `[from, to)` s: (steps,
/// response, distance, queueing), ms.
fn phase(data: &RunData, region: &str, from: f64, to: f64) -> (u64, f64, f64, f64) {
    let (mut n, mut response, mut distance, mut queueing) = (0u64, 0u64, 0u64, 0u64);
    for row in data
        .region_rows
        .iter()
        .filter(|r| r.region == region && r.t_s >= from && r.t_s < to)
    {
        let c = &row.counters;
        n += c.timed_steps;
        response += c.timed_response_us;
        distance += c.distance_us;
        queueing += c.queueing_us;
    }
    let mean = |us: u64| us as f64 / n.max(1) as f64 / 1000.0;
    (n, mean(response), mean(distance), mean(queueing))
}

#[test]
fn geo_failover_moves_the_americas_to_eu_and_the_results_keep_distance_and_queueing_apart() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(profile("plans/geo-failover.toml")).unwrap();
    assert!(
        shipped.contains("at = \"20s\"") && shipped.contains("for = \"25s\""),
        "geo-failover plan layout changed"
    );
    let plan = tmp.path().join("geo-failover-short.toml");
    std::fs::write(
        &plan,
        shipped
            .replace("at = \"20s\"", "at = \"4s\"")
            .replace("for = \"25s\"", "for = \"6s\""),
    )
    .unwrap();
    let dir = tmp.path().join("run");
    // 14 s instead of 60 s at the same arrival rate: scale 14/60.
    let code = surge(&[
        "run",
        &profile("geo-failover.toml"),
        "--plan",
        plan.to_str().unwrap(),
        "--duration",
        "14s",
        "--scale",
        "0.2333",
        "--out",
        dir.to_str().unwrap(),
        "--no-report",
    ]);
    assert!(code == 0 || code == 1, "surge run exited {code}");
    assert_tally(&dir);
    let data = RunData::read(&dir).unwrap();

    // Before (1-4 s), while `us` is down (5-10 s: a second after the failover to let queues form).
    let am_before = phase(&data, "americas", 1.0, 4.0);
    let am_down = phase(&data, "americas", 5.0, 10.0);
    let eu_before = phase(&data, "europe", 1.0, 4.0);
    let eu_down = phase(&data, "europe", 5.0, 10.0);
    let shown = format!(
        "(steps, response, distance, queueing) ms: americas before {am_before:?} down {am_down:?}; \
         europe before {eu_before:?} down {eu_down:?}"
    );
    eprintln!("{shown}");
    for p in [am_before, am_down, eu_before, eu_down] {
        assert!(p.0 > 100, "too few timed steps: {shown}");
    }
    // Distance: the Americas' round trip goes from `us` (40 ms + up to 4 ms) to `eu` (120 ms).
    assert!(
        (40.0..50.0).contains(&am_before.2),
        "americas distance before: {shown}"
    );
    assert!(
        (120.0..130.0).contains(&am_down.2),
        "americas distance while us is down: {shown}"
    );
    // Europe's distance does not move; its queueing does, from the Americas' load.
    assert!(
        (eu_down.2 - eu_before.2).abs() < 2.0,
        "europe distance: {shown}"
    );
    assert!(
        eu_down.3 > 1.0 && eu_down.3 > 3.0 * eu_before.3,
        "europe queueing must rise with the Americas' load: {shown}"
    );
    // The Americas queue at `eu` too: distance plus load.
    assert!(
        am_down.3 > 1.0 && am_down.3 > 3.0 * am_before.3,
        "americas queueing at eu: {shown}"
    );
    assert!(
        am_down.1 > am_before.1 + 75.0,
        "americas response time must rise by about the extra distance: {shown}"
    );
    // Europe's response time rises with its queueing (its distance does not move).
    assert!(
        eu_down.1 - eu_before.1 > 0.5 * (eu_down.3 - eu_before.3),
        "europe response time must rise with its queueing: {shown}"
    );
    // Back home once `us` is up (from 11 s).
    let am_after = phase(&data, "americas", 11.0, 13.0);
    assert!(
        (40.0..50.0).contains(&am_after.2),
        "americas back at us: {am_after:?}; {shown}"
    );

    // The summary and the terminal table show distance and queueing apart per region.
    let summary = read_json(&dir.join("summary.json"));
    for region in ["americas", "europe", "asia"] {
        let split = &summary["journeys"][region]["latency_split"];
        let share = |k: &str| split[k].as_f64().unwrap_or(-1.0);
        let total = share("distance_share")
            + share("queueing_share")
            + share("service_share")
            + share("other_share");
        assert!((total - 1.0).abs() < 1e-6, "{region}: {split}");
        assert!(share("distance_mean_ms") > 0.0, "{region}: {split}");
    }
    let am = &summary["journeys"]["americas"]["latency_split"];
    let eu = &summary["journeys"]["europe"]["latency_split"];
    assert!(
        am["distance_share"].as_f64() > eu["distance_share"].as_f64(),
        "americas {am} europe {eu}"
    );
    let table = surge_report::terminal_table(&data, false);
    assert!(
        table.contains("distance and queueing") && table.contains("americas"),
        "{table}"
    );
    let markdown = surge_report::render_markdown(&data);
    assert!(markdown.contains("## Distance and queueing"), "{markdown}");
}

/// The geo plan's regions with the reference journey and a connected phase, `population` people
/// arriving over `duration` (a 500 ms ramp, then `hold`), the connect step's bearer `bearer`.
fn connected_geo_profile(population: u32, duration: &str, hold: &str, bearer: &str) -> String {
    format!(
        r#"
name = "geo-connected"
seed = 18
[event]
population = {population}
duration = "{duration}"
interval = "1s"
[[regions]]
name = "americas"
share = 0.5
[[regions]]
name = "europe"
share = 0.5
[curve]
kind = "ramp"
up = "500ms"
hold = "{hold}"
down = "0s"
[address_book]
median = 10
sigma = 1.0
max = 50
same_region = 0.8
never_join = 0.3
[client]
timeout = "5s"
retry = "give-up"
[journey]
builtin = "reference"
[journey.connect]
path = "/v1/ws"
headers = {{ authorization = "Bearer {bearer}", "x-surge-region" = "{{region}}" }}
dwell = {{ fixed = "1m" }}
heartbeat = {{ every = "5s", frame = '{{"type":"ping"}}', reply = {{ pointer = "/type", equals = "pong" }}, timeout = "5s" }}
messages = {{ per_minute = 6.0, frame = '{{"type":"send","id":"{{msg_id}}","to":"{{to}}","body":{{"sent_at":{{sent_at}},"region":"{{region}}"}}}}' }}
ack = {{ pointer = "/type", equals = "ack", id = "/id" }}
deliver = {{ pointer = "/type", equals = "message", id = "/id", sent_at = "/body/sent_at", region = "/body/region", deadline = "2s" }}
reconnect = {{ policy = "backoff", base = "500ms", max = "5s" }}
"#
    )
}

/// Finished steps of `step` in `region` that got an answer from the target (which carries
/// `Server-Timing`): every outcome but the network's, the generator's, skipped and unfinished.
fn answered(summary: &serde_json::Value, region: &str, step: &str) -> u64 {
    [
        "ok",
        "http_4xx",
        "http_429",
        "http_5xx",
        "http_other",
        "extraction",
        "wrong_answer",
    ]
    .iter()
    .map(|class| common::outcome(&summary["regions"][region][step], class))
    .sum()
}

#[test]
fn the_connect_step_counts_in_distance_against_queueing_whether_upgraded_or_refused() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap();
    // No fault within these runs (the plan's `us` goes down at 20 s).
    let plan = profile("plans/geo-failover.toml");
    let run = |name: &str, text: String, duration: &str| {
        let file = tmp.path().join(format!("{name}.toml"));
        std::fs::write(&file, text).unwrap();
        let dir = tmp.path().join(name);
        let code = surge(&[
            "run",
            file.to_str().unwrap(),
            "--plan",
            &plan,
            "--duration",
            duration,
            "--out",
            dir.to_str().unwrap(),
            "--no-report",
        ]);
        assert!(code == 0 || code == 1, "{name}: surge run exited {code}");
        read_json(&dir.join("summary.json"))
    };
    let http = ["request_code", "verify_code", "register", "discover"];
    // (region, round trip to its data centre, jitter), from the plan.
    let regions = [("americas", 40.0, 4.0), ("europe", 15.0, 2.0)];

    // Upgraded (101): the timed steps are the HTTP steps answered plus the connect steps answered.
    let s = run(
        "upgraded",
        connected_geo_profile(60, "3s", "2500ms", "{token}"),
        "3s",
    );
    for (region, rtt, jitter) in regions {
        let split = &s["journeys"][region]["latency_split"];
        let connects = answered(&s, region, "connect");
        let ok = common::outcome(&s["regions"][region]["connect"], "ok");
        let steps: u64 = http.iter().map(|st| answered(&s, region, st)).sum();
        let shown = format!(
            "{region}: {split}; connect {}",
            s["regions"][region]["connect"]
        );
        assert!(ok > 5, "too few upgrades: {shown}");
        assert_eq!(split["steps"].as_u64(), Some(steps + connects), "{shown}");
        let distance = split["distance_mean_ms"].as_f64().unwrap_or(-1.0);
        assert!(
            (rtt..rtt + jitter + 0.5).contains(&distance),
            "distance is the region's round trip: {shown}"
        );
    }

    // Refused (401, a token the target never issued): every connect step is timed, and the
    // refusal paid the round trip too. Only the connect steps are timed beside the HTTP ones.
    let s = run(
        "refused",
        connected_geo_profile(30, "2s", "1500ms", "forged"),
        "2s",
    );
    for (region, rtt, jitter) in regions {
        let split = &s["journeys"][region]["latency_split"];
        let refused = common::outcome(&s["regions"][region]["connect"], "http_4xx");
        let steps: u64 = http.iter().map(|st| answered(&s, region, st)).sum();
        let shown = format!(
            "{region}: {split}; connect {}",
            s["regions"][region]["connect"]
        );
        assert!(refused > 3, "too few refusals: {shown}");
        assert_eq!(split["steps"].as_u64(), Some(steps + refused), "{shown}");
        let distance = split["distance_mean_ms"].as_f64().unwrap_or(-1.0);
        assert!(
            (rtt..rtt + jitter + 0.5).contains(&distance),
            "distance is the region's round trip: {shown}"
        );
    }
}
