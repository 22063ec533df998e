//! Late SMS and impatient people, end to end against the embedded reference backend with an SMS
//! pipeline: Asia's route (2 codes/s and a 1/s voice fallback) falls behind a surge of 9 people/s,
//! people whose code is late ask again (`code_wait`), some give up; the Americas' short code keeps
//! up. summary.json carries the delay per region (`regions.<r>.code_delay`) and the share who gave
//! up (`journeys.<r>.codes`), and the reports say it per region.

mod common;

use common::{step, surge};
use std::path::Path;

const PLAN: &str = r#"default_region = "americas"

[sms_queue]
expiry = "1m"
failover_after = "1s"

[regions.americas]
providers = [{ name = "short-code", rate_per_s = 1000, latency = { median = "100ms", p99 = "300ms" } }]

[regions.asia]
providers = [{ name = "account", rate_per_s = 2, latency = { median = "200ms", p99 = "600ms" } }]
voice = { rate_per_s = 1, latency = { median = "500ms", p99 = "1s" } }

[service]
request_code = { median = "1ms", p99 = "3ms" }
verify_code = { median = "1ms", p99 = "3ms" }
register = { median = "1ms", p99 = "3ms" }
keys = { median = "1ms", p99 = "3ms" }
discovery = { median = "1ms", p99 = "3ms" }

[dcs.us]
regions = ["americas"]
slots = 64

[dcs.ap]
regions = ["asia"]
slots = 64
"#;

const PROFILE: &str = r#"name = "late-codes"
description = "a surge whose Asian SMS route falls behind"
seed = 5

[journey]
name = "impatient"
headers = { "x-surge-region" = "{region}" }

[[journey.steps]]
name = "request_code"
method = "POST"
path = "/v1/verification/code"
body = '{"number":"{phone}"}'
expect = 202
extract = { session_id = "/session_id" }
code_wait = { delay = "header:x-surge-code-delay-ms", patience = { kind = "fixed", time = "1500ms" }, resends = 1 }

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

[event]
population = 60
duration = "4s"
replay = "4s"
interval = "1s"

[[regions]]
name = "americas"
share = 0.4

[[regions]]
name = "asia"
share = 0.6

[curve]
kind = "ramp"
up = "0s"
hold = "4s"
down = "0s"

[address_book]
median = 5
sigma = 0.5
max = 20
same_region = 0.8
never_join = 0.3
later = 0.1

[client]
timeout = "5s"
retry = "give-up"
"#;

fn u(v: &serde_json::Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"))
}

#[test]
fn late_codes_are_measured_per_region_and_people_give_up() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let (plan, profile) = (tmp.path().join("plan.toml"), tmp.path().join("p.toml"));
    std::fs::write(&plan, PLAN).unwrap();
    std::fs::write(&profile, PROFILE).unwrap();
    let out = tmp.path().join("out");
    let code = surge(&[
        "run",
        &profile.display().to_string(),
        "--plan",
        &plan.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--drain",
        "20s",
    ]);
    assert!(code == 0 || code == 1, "run failed to run: {code}");
    let s = common::assert_tally(Path::new(&out));
    let (am, asia) = (&s["journeys"]["americas"], &s["journeys"]["asia"]);

    // Everyone waited for a code; in the Americas it came in time for all.
    let (am_codes, asia_codes) = (&am["codes"], &asia["codes"]);
    assert_eq!(u(am_codes, "awaited"), u(am, "started"), "{am}");
    assert_eq!(u(asia_codes, "awaited"), u(asia, "started"), "{asia}");
    assert_eq!(u(am_codes, "gave_up"), 0, "{am}");
    assert_eq!(u(am, "succeeded"), u(am, "started"), "{am}");
    // Asia's route fell behind: people asked again (more code requests than people) and some gave up.
    let gave_up = u(asia_codes, "gave_up");
    assert!(gave_up > 0, "{asia}");
    assert!(u(asia_codes, "resent") >= gave_up, "{asia}");
    let share = asia_codes["gave_up_share"].as_f64().unwrap_or(0.0);
    assert!((share - gave_up as f64 / u(asia_codes, "awaited") as f64).abs() < 1e-9);
    assert_eq!(
        u(asia, "failed"),
        gave_up,
        "only those who gave up failed: {asia}"
    );
    let asked = u(step(&s, "asia", "request_code"), "count");
    assert_eq!(asked, u(asia, "started") + u(asia_codes, "resent"));

    // The delay is its own histogram per region: Asia's median is later than the Americas' p99.
    let (am_delay, asia_delay) = (
        step(&s, "americas", "code_delay"),
        step(&s, "asia", "code_delay"),
    );
    assert_eq!(u(am_delay, "count"), u(am, "started"));
    assert_eq!(u(asia_delay, "count"), u(asia, "started"));
    assert_eq!(common::outcome(asia_delay, "timeout"), gave_up);
    assert!(
        common::f(asia_delay, "p50_ms") > common::f(am_delay, "p99_ms"),
        "asia {asia_delay}\namericas {am_delay}"
    );
    // The short code's latency (median 100 ms) is in the Americas' delay.
    assert!(common::f(am_delay, "p50_ms") >= 30.0, "{am_delay}");

    // The reports say it per region.
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let line = md
        .lines()
        .find(|l| l.contains("codes:"))
        .unwrap_or_else(|| panic!("no codes line in report.md:\n{md}"));
    assert!(
        line.contains("americas delay p50") && line.contains("asia delay p50"),
        "{line}"
    );
    assert!(line.contains("gave up waiting"), "{line}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("gave up waiting"));
}
