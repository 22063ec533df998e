//! The profiles of the surges since 2021 reproduce their sourced figures: the compiled curve's
//! cumulative sign-ups at each published time, and the region shares, match what was reported.

use std::path::Path;
use std::time::Duration;

use surge_plan::{FigureCheck, Overrides, Plan};

fn compile(name: &str, ov: &Overrides) -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../profiles")
        .join(name);
    let profile = surge_profile::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    Plan::compile(&profile, ov).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn checks(name: &str) -> Vec<FigureCheck> {
    let mut all = Vec::new();
    // The figures hold whatever the run's size and length.
    for ov in [
        Overrides::default(),
        Overrides {
            scale: Some(0.001),
            duration: Some(Duration::from_secs(300)),
            ..Overrides::default()
        },
    ] {
        let plan = compile(name, &ov);
        let c = plan.figure_checks();
        assert!(!c.is_empty(), "{name}: no figures");
        for f in &c {
            if f.is_share {
                assert!(
                    (f.plan - f.sourced).abs() < 0.005,
                    "{name}: {f:?} share off by more than 0.5 pt"
                );
            } else {
                assert!(
                    f.relative_error().abs() < 0.03,
                    "{name}: {f:?} off by more than 3%"
                );
            }
        }
        assert!(plan.curve_table(10).contains("sourced figures"), "{name}");
        all = c;
    }
    all
}

fn people_at(c: &[FigureCheck], hours: u64) -> f64 {
    c.iter()
        .find(|f| !f.is_share && f.window.is_none() && f.at == Duration::from_secs(hours * 3600))
        .unwrap_or_else(|| panic!("no figure at {hours}h in {c:?}"))
        .sourced
}

#[test]
fn threads_2023_follows_the_published_ramp() {
    let c = checks("threads-2023.toml");
    assert_eq!(people_at(&c, 2), 2e6);
    assert_eq!(people_at(&c, 4), 5e6);
    assert_eq!(people_at(&c, 7), 10e6);
    assert_eq!(people_at(&c, 120), 100e6);
    assert_eq!(c.len(), 6);
}

#[test]
fn telegram_jan_2021_is_25m_in_72h_with_the_sourced_region_split() {
    let c = checks("telegram-jan-2021.toml");
    assert_eq!(people_at(&c, 72), 25e6);
    let share = |r: &str| {
        c.iter()
            .find(|f| f.is_share && f.region.as_deref() == Some(r))
            .unwrap_or_else(|| panic!("no share of {r}"))
            .plan
    };
    assert!((share("asia") - 0.38).abs() < 0.005);
    assert!((share("europe") - 0.27).abs() < 0.005);
    assert!((share("latam") - 0.21).abs() < 0.005);
    assert!((share("mena") - 0.08).abs() < 0.005);
}

#[test]
fn bluesky_brazil_2024_is_2_6m_in_a_week_85_percent_brazil() {
    let c = checks("bluesky-brazil-2024.toml");
    assert_eq!(people_at(&c, 7 * 24), 2.6e6);
    let br = c.iter().find(|f| f.is_share).expect("brazil share");
    assert_eq!(br.region.as_deref(), Some("brazil"));
    assert!((br.plan - 0.85).abs() < 0.005, "{br:?}");
    // A news-driven wave: most of the week's sign-ups come in the first days.
    let plan = compile("bluesky-brazil-2024.toml", &Overrides::default());
    let (_, at) = plan.peak_rate();
    assert!(
        plan.event_time(at) < Duration::from_secs(2 * 86_400),
        "peak at {:?}",
        plan.event_time(at)
    );
}

#[test]
fn mastodon_2022_peaks_above_70k_a_day_and_spreads_over_several_targets() {
    let c = checks("mastodon-2022.toml");
    assert_eq!(people_at(&c, 12 * 24), 489_003.0);
    let day = c.iter().find(|f| f.window.is_some()).expect("daily figure");
    assert_eq!(day.window, Some(Duration::from_secs(86_400)));
    assert!(day.plan > 70_000.0, "{day:?}");
    let plan = compile("mastodon-2022.toml", &Overrides::default());
    let targets: std::collections::BTreeSet<&String> =
        plan.regions.iter().flat_map(|r| &r.targets).collect();
    assert_eq!(targets.len(), 8, "{targets:?}");
    assert!(plan.regions.iter().all(|r| r.base_url.is_none()));
}
