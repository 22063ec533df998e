//! The shipped profiles that name a journey load, and their journeys are the expected ones.

use std::path::Path;

fn load(name: &str) -> surge_profile::Profile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../profiles")
        .join(name);
    surge_profile::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn step_names(p: &surge_profile::Profile) -> Vec<&str> {
    p.journey.steps.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn matrix_signup_profile_uses_the_matrix_journey() {
    let p = load("matrix-signup.toml");
    assert_eq!(p.journey.name, "matrix");
    assert_eq!(step_names(&p), ["register", "discover"]);
    assert_eq!(p.journey.steps[0].rounds.len(), 2);
}

#[test]
fn bench_get_profile_is_one_get() {
    let p = load("bench-get.toml");
    assert_eq!(p.journey.name, "get");
    assert_eq!(step_names(&p), ["get"]);
}

#[test]
fn quickstart_runs_the_reference_journey() {
    let p = load("quickstart.toml");
    assert_eq!(
        step_names(&p),
        ["request_code", "verify_code", "register", "discover"]
    );
}

/// A whole profile whose declarative journey is bad: the error points into the profile file.
#[test]
fn profile_with_a_bad_journey_is_refused_with_its_location() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles/quickstart.toml");
    let base = std::fs::read_to_string(path).unwrap_or_default();
    let base = base.replace("journey = \"reference\"\n", "");
    let good = format!(
        "{base}\n[journey]\nname = \"mine\"\n[[journey.steps]]\nname = \"signup\"\nmethod = \"POST\"\n\
         path = \"/signup\"\nbody = '{{\"n\":\"{{phone}}\"}}'\n"
    );
    let p = surge_profile::parse(&good, "q.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.journey.name, "mine");
    let bad = good.replace("{phone}", "{phnoe}");
    let e = match surge_profile::parse(&bad, "q.toml") {
        Ok(_) => panic!("accepted an unknown template variable"),
        Err(e) => e,
    };
    let line = bad[..bad.find("{phnoe}").unwrap_or(0)]
        .matches('\n')
        .count()
        + 1;
    assert_eq!(e.line(), Some(line), "{e}");
    assert_eq!(e.field, "journey.steps[0](signup).body");
    let bad = good.replace("method = \"POST\"", "method = \"POST\"\nbogus = 1");
    let e = match surge_profile::parse(&bad, "q.toml") {
        Ok(_) => panic!("accepted an unknown field"),
        Err(e) => e,
    };
    let line = bad[..bad.find("bogus").unwrap_or(0)].matches('\n').count() + 1;
    assert_eq!(e.line(), Some(line), "{e}");
    assert!(e.to_string().contains("bogus"), "{e}");
}
