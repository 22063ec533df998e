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
            n("delivered") + n("late") + n("lost") + n("refused"),
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
    connected_figures_are_in_every_file_and_report(&out);
}

/// The connected figures beyond summary.json: the steps in timeseries.csv and latency.hlog, the
/// connection counters in regions.csv, and the report's connected section, charts and verdict line.
fn connected_figures_are_in_every_file_and_report(out: &std::path::Path) {
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    let ts = read("timeseries.csv");
    for step in ["connect", "deliver"] {
        assert!(
            ts.lines()
                .any(|l| l.contains(&format!(",americas,{step},"))),
            "timeseries.csv has no americas/{step} row"
        );
    }
    let hlog = read("latency.hlog");
    for tag in ["americas/connect/", "americas/deliver/", "europe/deliver/"] {
        assert!(hlog.contains(tag), "latency.hlog has no {tag} histogram");
    }
    let regions = read("regions.csv");
    let head = regions.lines().next().unwrap_or_default();
    for col in [
        "connections_opened",
        "connections_closed",
        "reconnects",
        "messages_delivered",
        "messages_late",
        "messages_refused",
    ] {
        assert!(head.contains(col), "regions.csv lacks {col}: {head}");
    }
    let html = read("report.html");
    assert!(html.contains("<h2 id=\"connected\">Connected people</h2>"));
    for id in [
        "chart-connections",
        "chart-delivery-p99",
        "chart-reconnect-storm",
        "chart-reconnect-p99",
    ] {
        let at = html
            .find(&format!("<figure id=\"{id}\">"))
            .unwrap_or_else(|| panic!("report.html has no figure {id}"));
        let figure = &html[at..];
        let figure = &figure[..figure.find("</figure>").unwrap_or(figure.len())];
        assert!(figure.contains("<svg class=\"chart\""), "{id}: no svg");
        if id != "chart-reconnect-p99" {
            // Reconnect times exist only when something reconnected.
            assert!(
                figure.contains("<polyline") || figure.contains("<path"),
                "{id}: no line drawn: {figure}"
            );
        }
    }
    let verdict = &html[..html.find("</section>").unwrap_or(0)];
    assert!(
        verdict.contains("messages delivered within the deadline"),
        "the verdict block names delivery completeness: {verdict}"
    );
    let md = read("report.md");
    assert!(md.contains("## Connected people"), "{md}");
    assert!(md.contains("| americas |"), "{md}");
    assert!(md.contains("delivery: messages delivered within the deadline"));
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
    let accounted = n("delivered") + n("late") + n("lost") + n("refused");
    assert_eq!(n("sent"), accounted, "{m}");
}

/// Runs `profile` (a reconnect-storm profile) at reduced scale against the storm plan with its fault
/// moved to `at`, as a child process; returns its terminal output.
fn storm_run(profile_name: &str, plan: &std::path::Path, out: &std::path::Path) -> String {
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_surge"))
        .args([
            "run",
            &profile(profile_name),
            "--plan",
            &plan.display().to_string(),
            "--duration",
            "10s",
            "--scale",
            "0.2",
            "--out",
            &out.display().to_string(),
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    let code = run.status.code();
    assert!(
        code == Some(0) || code == Some(1),
        "{profile_name}: exit {code:?}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    stdout
}

#[test]
fn the_reconnect_storm_shows_in_the_summary_and_jitter_refuses_fewer_handshakes() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let storm = std::fs::read_to_string(profile("plans/reconnect-storm.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let plan = tmp.path().join("storm.toml");
    // The 40 s profile runs in 10 s: everyone has arrived by ~4 s; the drop comes at 5 s.
    std::fs::write(&plan, storm.replace("at = \"20s\"", "at = \"5s\""))
        .unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = (tmp.path().join("immediate"), tmp.path().join("jitter"));
    let term = storm_run("reconnect-storm.toml", &plan, &a);
    assert!(term.contains("connected people:"), "{term}");
    assert!(term.contains("reconnect storm in americas: peak"), "{term}");
    assert!(!term.contains("reconnect storm in europe"), "{term}");
    let html = std::fs::read_to_string(a.join("report.html")).unwrap_or_default();
    assert!(html.contains("<figure id=\"chart-reconnect-storm\">"));
    storm_run("reconnect-storm-jitter.toml", &plan, &b);

    let refused = |dir: &std::path::Path| {
        let s = read_json(&dir.join("summary.json"));
        let c = &s["regions"]["americas"]["connect"];
        c["errors"].as_u64().unwrap_or_else(|| panic!("{c}"))
    };
    let (ra, rb) = (refused(&a), refused(&b));
    eprintln!("americas handshakes refused: immediate {ra}, jitter {rb}");
    assert!(
        ra > rb,
        "immediate reconnects are refused more: {ra} vs {rb}"
    );
    for dir in [&a, &b] {
        let s = read_json(&dir.join("summary.json"));
        let c = &s["journeys"]["americas"]["connections"];
        assert!(c["reconnects"].as_u64().unwrap_or(0) > 0, "{c}");
        assert!(c["reconnect_p99_ms"].as_f64().is_some(), "{c}");
    }

    let cmp = tmp.path().join("cmp");
    let code = surge(&[
        "compare",
        &a.display().to_string(),
        &b.display().to_string(),
        "--out",
        &cmp.display().to_string(),
    ]);
    assert_eq!(code, 0);
    let md = std::fs::read_to_string(cmp.join("compare.md")).unwrap_or_default();
    let row = |step: &str, metric: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("| americas | {step} | {metric} |")))
            .unwrap_or_else(|| panic!("no americas/{step}/{metric} row: {md}"))
            .to_string()
    };
    let refused_row = row("connect", "refused");
    eprintln!(
        "{refused_row}\n{}\n{}",
        row("connect", "p99"),
        row("reconnect", "p99")
    );
    assert!(
        refused_row.trim_end().ends_with("better |"),
        "jitter (B) refuses fewer: {refused_row}"
    );
    assert!(
        md.contains("- profile: reconnect-storm (A) vs reconnect-storm-jitter (B)"),
        "{md}"
    );
}
