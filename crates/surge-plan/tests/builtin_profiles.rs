//! Every built-in profile validates, compiles, and its compressed curve integrates to population x scale.

use std::path::{Path, PathBuf};
use std::time::Duration;

use surge_plan::{Overrides, Plan};

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles")
}

fn compile(name: &str, ov: &Overrides) -> Plan {
    let path = profiles_dir().join(name);
    let profile = match surge_profile::load(&path) {
        Ok(p) => p,
        Err(e) => panic!("{name}: {e}"),
    };
    match Plan::compile(&profile, ov) {
        Ok(p) => p,
        Err(e) => panic!("{name}: {e}"),
    }
}

/// All `profiles/*.toml` (the journeys engineer's files included: they must validate too).
fn all_profiles() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(profiles_dir())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".toml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn quickstart_is_small_and_fast() {
    let plan = compile("quickstart.toml", &Overrides::default());
    assert_eq!(
        plan.steps,
        ["request_code", "verify_code", "register", "discover"]
    );
    assert_eq!(
        plan.regions
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["americas", "europe", "asia"]
    );
    assert_eq!(plan.run_duration, Duration::from_secs(30));
    let (peak, _) = plan.peak_rate();
    assert!((100.0..=200.0).contains(&peak), "peak {peak}");
    assert!(
        plan.target_plan
            .as_ref()
            .is_some_and(|p| p.ends_with("plans/baseline.toml"))
    );
}

#[test]
fn americas_surge_peaks_in_the_americas() {
    let plan = compile("americas-surge.toml", &Overrides::default());
    let rates: Vec<f64> = (0..3).map(|r| plan.region_peak_rate(r).0).collect();
    assert!(
        (140.0..=160.0).contains(&rates[0]),
        "americas peak {}",
        rates[0]
    );
    assert!(
        (25.0..=35.0).contains(&rates[1]) && (25.0..=35.0).contains(&rates[2]),
        "others {rates:?}"
    );
    assert_eq!(plan.run_duration, Duration::from_secs(60));
}

#[test]
fn every_profile_integrates_to_population_times_scale() {
    let names = all_profiles();
    assert!(names.len() >= 2, "{names:?}");
    for name in &names {
        for ov in [
            Overrides::default(),
            Overrides {
                scale: Some(0.01),
                duration: Some(Duration::from_secs(60)),
                ..Overrides::default()
            },
        ] {
            let plan = compile(name, &ov);
            let total: f64 = (0..plan.regions.len() as u16)
                .map(|r| plan.intended_count(r, Duration::ZERO, plan.run_duration))
                .sum();
            let n = plan.population as f64;
            assert!(
                (total - n).abs() <= 0.01 * n,
                "{name}: curve integrates to {total}, population {n}"
            );
            for (r, region) in plan.regions.iter().enumerate() {
                let got = plan.intended_count(r as u16, Duration::ZERO, plan.run_duration) / n;
                assert!(
                    (got - region.share).abs() < 0.002,
                    "{name}: {} share {got} vs {}",
                    region.name,
                    region.share
                );
            }
            let last = plan.arrival_offset(plan.population - 1);
            assert!(last < plan.run_duration, "{name}: last arrival {last:?}");
            assert!(!plan.curve_table(10).is_empty());
        }
    }
}

#[test]
fn the_plan_can_be_shared_by_worker_threads() {
    fn shared<T: Send + Sync + Clone + std::fmt::Debug>() {}
    shared::<Plan>();
    let plan = std::sync::Arc::new(compile("quickstart.toml", &Overrides::default()));
    let handles: Vec<_> = (0..2u64)
        .map(|t| {
            let plan = plan.clone();
            std::thread::spawn(move || {
                (0..1000u64)
                    .map(|u| plan.person(u * 2 + t).phone.0)
                    .sum::<u64>()
            })
        })
        .collect();
    let sums: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap_or(0)).collect();
    assert!(sums.iter().all(|&s| s > 0));
}

#[test]
fn the_reference_verification_code_is_six_digits_of_the_shared_formula() {
    let plan = compile("quickstart.toml", &Overrides::default());
    let phone = plan.person(0).phone;
    let code = plan.verification_code(phone);
    assert_eq!(code.len(), 6);
    assert_eq!(
        code,
        surge_plan::verification_code("surge-staging-secret", phone)
    );
}
