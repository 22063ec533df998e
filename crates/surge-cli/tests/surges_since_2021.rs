//! The profiles of the surges since 2021: `surge profile show` prints each curve against its sourced
//! figures, and a profile can spread its people over several targets (mastodon-2022, run against
//! eight reference backends on 127.0.0.1:0).

mod common;

use common::{profile, read_json, surge};
use std::process::Command;

fn show(name: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args(["profile", "show", &profile(name), "--rows", "4"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The line of the figures table for event time `at` (and region), parsed: (sourced, curve, diff).
fn figure_line<'a>(text: &'a str, at: &str, region: &str) -> Vec<&'a str> {
    let line = text
        .lines()
        .skip_while(|l| !l.starts_with("sourced figures"))
        .find(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.first() == Some(&at) && w.get(2) == Some(&region)
        })
        .unwrap_or_else(|| panic!("no figure at {at} {region} in:\n{text}"));
    line.split_whitespace().collect()
}

fn number(s: &str) -> f64 {
    s.trim_end_matches('%').replace(',', "").parse().unwrap()
}

#[test]
fn profile_show_prints_each_curve_against_its_sourced_figures() {
    let threads = show("threads-2023.toml");
    for (at, people) in [
        ("2h", 2e6),
        ("4h", 5e6),
        ("7h", 10e6),
        ("16h", 30e6),
        ("38h", 70e6),
        ("120h", 100e6),
    ] {
        let w = figure_line(&threads, at, "all");
        assert_eq!(number(w[3]), people, "{w:?}");
        let curve = number(w[4]);
        assert!(
            (curve - people).abs() / people < 0.03,
            "threads {at}: curve {curve} vs {people}"
        );
    }
    let telegram = show("telegram-jan-2021.toml");
    let w = figure_line(&telegram, "72h", "all");
    assert!((number(w[4]) - 25e6).abs() / 25e6 < 0.03, "{w:?}");
    for (region, share) in [
        ("asia", 38.0),
        ("europe", 27.0),
        ("latam", 21.0),
        ("mena", 8.0),
    ] {
        let w = figure_line(&telegram, "72h", region);
        assert_eq!(number(w[3]), share);
        assert!((number(w[4]) - share).abs() < 0.5, "{w:?}");
    }
    let bluesky = show("bluesky-brazil-2024.toml");
    let w = figure_line(&bluesky, "168h", "brazil");
    assert!((number(w[4]) - 85.0).abs() < 0.5, "{w:?}");
    let w = figure_line(&bluesky, "168h", "all");
    assert!((number(w[4]) - 2.6e6).abs() / 2.6e6 < 0.03, "{w:?}");
    let mastodon = show("mastodon-2022.toml");
    let w = figure_line(&mastodon, "48h/24h", "all");
    assert!(number(w[4]) > 70_000.0, "{w:?}");
    let w = figure_line(&mastodon, "288h", "all");
    assert!((number(w[4]) - 489_003.0).abs() / 489_003.0 < 0.03, "{w:?}");
}

#[test]
fn mastodon_2022_spreads_its_people_over_several_reference_backends() {
    let _serial = common::serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let backends: Vec<surge_target::Listening> = (0..8)
        .map(|_| {
            rt.block_on(surge_target::serve(
                "127.0.0.1:0".parse().unwrap(),
                surge_target::CapacityPlan::baseline(),
            ))
            .unwrap()
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut text = std::fs::read_to_string(profile("mastodon-2022.toml")).unwrap();
    for (i, b) in backends.iter().enumerate() {
        text = text.replace(&format!("http://127.0.0.1:{}", 18081 + i), &b.url());
    }
    assert!(!text.contains(":1808"), "every shipped target replaced");
    std::fs::create_dir(tmp.path().join("traces")).unwrap();
    std::fs::copy(
        profile("traces/mastodon-2022.csv"),
        tmp.path().join("traces/mastodon-2022.csv"),
    )
    .unwrap();
    let path = tmp.path().join("mastodon-2022.toml");
    std::fs::write(&path, text).unwrap();
    let out = tmp.path().join("run");
    let code = surge(&[
        "run",
        &path.display().to_string(),
        "--scale",
        "0.002",
        "--duration",
        "6s",
        "--out",
        &out.display().to_string(),
        "--no-report",
    ]);
    assert_eq!(code, 0, "light load passes the profile's SLOs");
    let summary = common::assert_tally(&out);
    let registered: u64 = summary["regions"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| common::outcome(&r["register"], "ok"))
        .sum();
    let accounts: Vec<u64> = backends.iter().map(|b| b.stats().accounts).collect();
    assert_eq!(
        accounts.iter().sum::<u64>(),
        registered,
        "every account is on one of the listed backends: {accounts:?}"
    );
    assert!(
        accounts.iter().all(|&n| n > 0),
        "every backend got people: {accounts:?}"
    );
    // Europe's people are spread evenly over its four servers (person u -> targets[u mod 4]).
    let europe = &accounts[0..4];
    let (lo, hi) = (*europe.iter().min().unwrap(), *europe.iter().max().unwrap());
    assert!(hi - lo <= hi / 4 + 3, "europe uneven: {europe:?}");
    let run = read_json(&out.join("run.json"));
    assert!(run.is_object());
    for b in backends {
        rt.block_on(b.shutdown());
    }
}
