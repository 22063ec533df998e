//! Arrival curves: the arrival process follows the curve; Bass, time of day, traces, compression.

use std::path::Path;
use std::time::Duration;

use surge_plan::arrivals::{bass_density, bass_peak_time};
use surge_plan::{Overrides, Plan, PlanError};

fn compile(text: &str, ov: &Overrides) -> Result<Plan, PlanError> {
    let origin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inline.toml");
    let profile = surge_profile::parse(text, &origin.display().to_string())?;
    Plan::compile(&profile, ov)
}

fn plan(text: &str, ov: &Overrides) -> Plan {
    compile(text, ov).unwrap_or_else(|e| panic!("{e}"))
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

const QUICK: &str = include_str!("../../../profiles/quickstart.toml");

#[test]
fn a_short_runs_arrivals_follow_the_curve_per_region_and_window() {
    let p = plan(
        QUICK
            .replace("plan = \"plans/baseline.toml\"\n", "")
            .as_str(),
        &Overrides::default(),
    );
    let windows = p.run_duration.as_secs() as usize;
    let mut counts = vec![vec![0u32; windows]; p.regions.len()];
    for u in 0..p.population {
        let person = p.person(u);
        counts[usize::from(person.region)][person.arrival.as_secs() as usize] += 1;
    }
    for (r, per_window) in counts.iter().enumerate() {
        for (w, &got) in per_window.iter().enumerate() {
            let want = p.intended_count(r as u16, secs(w as f64), secs(w as f64 + 1.0));
            let tol = (want * 0.05).max(2.0);
            assert!(
                (f64::from(got) - want).abs() <= tol,
                "region {r} window {w}: {got} arrivals, curve says {want:.1}"
            );
        }
        let total: u32 = per_window.iter().sum();
        let want = p.population as f64 * p.regions[r].share;
        assert!(
            (f64::from(total) - want).abs() <= 2.0,
            "region {r}: {total} vs {want}"
        );
    }
}

const BASS: &str = r#"
name = "bass"
[event]
population = 1_000_000
duration = "24h"
replay = "24m"
[[regions]]
name = "a"
share = 1.0
[curve]
kind = "bass"
p = 0.06
q = 0.76
unit = "1h"
"#;

#[test]
fn bass_peaks_at_ln_q_over_p_divided_by_p_plus_q() {
    let p = plan(BASS, &Overrides::default());
    let want = bass_peak_time(0.06, 0.76) * 3600.0;
    assert!((want / 3600.0 - 3.096).abs() < 0.01);
    let (_, at) = p.peak_rate();
    let got = p.event_time(at).as_secs_f64();
    assert!(
        (got - want).abs() < 120.0,
        "peak at {got} s of event time, want {want}"
    );
}

#[test]
fn trigger_end_decay_and_returning_shape_the_tail() {
    let text = BASS.replace(
        "unit = \"1h\"",
        "unit = \"1h\"\ntrigger_end = \"4h\"\ndecay = \"1h\"\nreturning = 0.5",
    );
    let p = plan(&text, &Overrides::default());
    // run time = event time / 60 (24h into 24m)
    let rate = |h: f64| p.intended_total(secs(h * 60.0), secs(h * 60.0 + 6.0));
    let (before, after) = (rate(3.9), rate(4.0));
    assert!(
        (after / before - 0.5).abs() < 0.05,
        "drop at trigger end {before} -> {after}"
    );
    let later = rate(5.0);
    let f = |h: f64| bass_density(0.06, 0.76, h + 0.05);
    let want = (-1.0f64).exp() * f(5.0) / f(4.0);
    assert!(
        (later / after - want).abs() < 0.01,
        "decay over one tau: {after} -> {later}, want ratio {want}"
    );
}

const DIURNAL: &str = r#"
name = "day"
[event]
population = 1_000_000
duration = "24h"
replay = "24m"
onset = 2021-10-04T00:00:00Z
[[regions]]
name = "americas"
share = 0.5
utc_offset = "-5h"
diurnal = { floor = 0.5, peak_hour = 22 }
[[regions]]
name = "asia"
share = 0.5
utc_offset = "+5h30m"
diurnal = { floor = 0.35, peak_hour = 21 }
[curve]
kind = "ramp"
up = "0s"
baseline = 1.0
"#;

#[test]
fn the_same_event_peaks_at_each_regions_local_evening() {
    let p = plan(DIURNAL, &Overrides::default());
    let peak_utc = |r: u16| p.event_time(p.region_peak_rate(r).1).as_secs_f64() / 3600.0;
    assert!(
        (peak_utc(0) - 3.0).abs() < 0.1,
        "americas peaks at {} UTC",
        peak_utc(0)
    );
    assert!(
        (peak_utc(1) - 15.5).abs() < 0.1,
        "asia peaks at {} UTC",
        peak_utc(1)
    );
    // floor: the quietest hour runs at `floor` of the peak
    let rate = |r: u16, h: f64| p.intended_count(r, secs(h * 60.0), secs(h * 60.0 + 1.0));
    let ratio = rate(0, 15.0) / rate(0, 3.0);
    assert!((ratio - 0.5).abs() < 0.01, "americas trough/peak {ratio}");
}

const TRACE: &str = r#"
name = "trace"
[event]
duration = "4h"
replay = "4m"
[[regions]]
name = "americas"
[[regions]]
name = "europe"
[curve]
kind = "trace"
file = "hourly.csv"
step = "1h"
columns = { americas = "am", europe = "eu" }
interpolation = "step"
"#;

#[test]
fn a_trace_is_replayed_hour_by_hour() {
    let p = plan(TRACE, &Overrides::default());
    assert_eq!(p.population, 18_000);
    assert!((p.regions[0].share - 12_600.0 / 18_000.0).abs() < 1e-9);
    let hour = |r: u16, h: f64| p.intended_count(r, secs(h * 60.0), secs(h * 60.0 + 60.0));
    for (h, am, eu) in [
        (0.0, 3600.0, 0.0),
        (1.0, 7200.0, 1800.0),
        (2.0, 0.0, 3600.0),
        (3.0, 1800.0, 0.0),
    ] {
        assert!(
            (hour(0, h) - am).abs() < 1.0,
            "americas hour {h}: {}",
            hour(0, h)
        );
        assert!(
            (hour(1, h) - eu).abs() < 1.0,
            "europe hour {h}: {}",
            hour(1, h)
        );
    }
}

#[test]
fn a_trace_can_be_shifted_scaled_and_interpolated() {
    let text = TRACE.replace(
        "interpolation = \"step\"",
        "interpolation = \"step\"\nshift = \"1h\"\nscale = 2.0",
    );
    let p = plan(&text, &Overrides::default());
    // shifted one hour later: the last trace hour falls outside the 4 h event
    assert_eq!(p.population, 2 * (3600 + 7200 + 1800 + 3600));
    assert!(p.intended_total(Duration::ZERO, secs(60.0)) < 1.0);
    assert!((p.intended_count(0, secs(120.0), secs(180.0)) - 14_400.0).abs() < 1.0);
    let linear = plan(
        &TRACE.replace("\"step\"", "\"linear\""),
        &Overrides::default(),
    );
    let mid = linear.intended_count(0, secs(29.0), secs(31.0)) / 2.0 * 60.0;
    assert!(
        (mid - 5400.0).abs() < 50.0,
        "half-way between 3600/h and 7200/h: {mid}"
    );
}

#[test]
fn compression_keeps_the_shape() {
    let fb = include_str!("../../../profiles/facebook-outage-2021.toml")
        .replace("plan = \"plans/baseline.toml\"\n", "");
    let a = plan(
        &fb,
        &Overrides {
            duration: Some(secs(600.0)),
            scale: Some(0.001),
            ..Overrides::default()
        },
    );
    let b = plan(
        &fb,
        &Overrides {
            duration: Some(secs(60.0)),
            scale: Some(0.0001),
            ..Overrides::default()
        },
    );
    assert_eq!((a.population, b.population), (70_000, 7_000));
    for k in 0..10 {
        let fa = a.intended_total(secs(k as f64 * 60.0), secs(k as f64 * 60.0 + 60.0))
            / a.population as f64;
        let fb = b.intended_total(secs(k as f64 * 6.0), secs(k as f64 * 6.0 + 6.0))
            / b.population as f64;
        assert!((fa - fb).abs() < 1e-9, "tenth {k}: {fa} vs {fb}");
    }
    assert_eq!(a.event_time(secs(300.0)), Duration::from_secs(12 * 3600));
}

#[test]
fn baseline_share_arrives_outside_the_ramp() {
    let text = r#"
name = "b"
[event]
population = 10000
duration = "100s"
[[regions]]
name = "a"
share = 1.0
[curve]
kind = "ramp"
start = "40s"
up = "5s"
hold = "10s"
down = "5s"
baseline = 0.25
"#;
    let p = plan(text, &Overrides::default());
    let outside =
        p.intended_total(Duration::ZERO, secs(40.0)) + p.intended_total(secs(60.0), secs(100.0));
    assert!((outside - 10_000.0 * 0.25 * 0.8).abs() < 1.0, "{outside}");
}

#[test]
fn bad_overrides_and_slo_steps_are_refused() {
    let quick = QUICK.replace("plan = \"plans/baseline.toml\"\n", "");
    for ov in [
        Overrides {
            scale: Some(0.0),
            ..Overrides::default()
        },
        Overrides {
            scale: Some(f64::NAN),
            ..Overrides::default()
        },
        Overrides {
            scale: Some(1e12),
            ..Overrides::default()
        },
        Overrides {
            scale: Some(1e-9),
            ..Overrides::default()
        },
        Overrides {
            duration: Some(Duration::ZERO),
            ..Overrides::default()
        },
        Overrides {
            interval: Some(Duration::ZERO),
            ..Overrides::default()
        },
        Overrides {
            concurrency: Some(0),
            ..Overrides::default()
        },
    ] {
        assert!(
            matches!(compile(&quick, &ov), Err(PlanError::Override { .. })),
            "{ov:?} accepted"
        );
    }
    let bad_slo = quick.replace("slos = [", "slos = [\"p99 of registration < 1s\", ");
    match compile(&bad_slo, &Overrides::default()) {
        Err(PlanError::UnknownStep { step, known, .. }) => {
            assert_eq!(step, "registration");
            assert!(known.contains("register"));
        }
        other => panic!("{other:?}"),
    }
    let closed = plan(
        &quick,
        &Overrides {
            concurrency: Some(8),
            ..Overrides::default()
        },
    );
    assert_eq!(
        closed.model,
        surge_plan::LoadModel::Closed { concurrency: 8 }
    );
}

#[test]
fn the_curve_table_shows_regions_times_and_peak() {
    let p = plan(
        &include_str!("../../../profiles/facebook-outage-2021.toml")
            .replace("plan = \"plans/baseline.toml\"\n", ""),
        &Overrides::default(),
    );
    let t = p.curve_table(6);
    // Title, header, 6 rows, the peak, and (the profile has a connected phase) the connections held.
    assert_eq!(t.lines().count(), 1 + 1 + 6 + 1 + 1, "{t}");
    assert!(
        t.lines()
            .last()
            .is_some_and(|l| l.starts_with("connections held at once: about ")),
        "{t}"
    );
    for name in [
        "americas/s",
        "europe/s",
        "asia/s",
        "mena/s",
        "oceania/s",
        "total/s",
        "utc",
        "peak",
    ] {
        assert!(t.contains(name), "{name} missing in\n{t}");
    }
    assert!(t.lines().nth(2).is_some_and(|l| l.contains("15:39")), "{t}");
}
