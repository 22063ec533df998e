//! Each bad profile is refused before anything runs, with its precise location, field and rule.

use std::path::{Path, PathBuf};

use surge_profile::ProfileError;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn refused(name: &str) -> ProfileError {
    match surge_profile::load(&fixture(name)) {
        Ok(_) => panic!("{name} was accepted"),
        Err(e) => e,
    }
}

/// (fixture, line, column, field, words the rule must contain)
const CASES: &[(&str, usize, usize, &str, &str)] = &[
    (
        "syntax-error.toml",
        4,
        16,
        "event.duration",
        "invalid basic string",
    ),
    (
        "unknown-field.toml",
        4,
        1,
        "event.populaton",
        "unknown field",
    ),
    (
        "missing-field.toml",
        2,
        1,
        "event.duration",
        "missing field",
    ),
    (
        "shares-sum.toml",
        8,
        9,
        "regions[*].share",
        "shares must sum to 1",
    ),
    (
        "negative-share.toml",
        12,
        9,
        "regions[1].share",
        "must not be negative",
    ),
    ("inf-share.toml", 12, 9, "regions[1].share", "finite"),
    ("nan-rate.toml", 16, 5, "curve.p", "finite"),
    (
        "negative-rate.toml",
        17,
        5,
        "curve.q",
        "must not be negative",
    ),
    (
        "zero-population.toml",
        3,
        14,
        "event.population",
        "between 1 and",
    ),
    (
        "huge-number.toml",
        3,
        14,
        "event.population",
        "out of range",
    ),
    (
        "huge-population.toml",
        3,
        14,
        "event.population",
        "between 1 and 5000000000",
    ),
    (
        "bad-duration.toml",
        4,
        12,
        "event.duration",
        "expected a duration",
    ),
    ("wrong-type.toml", 12, 9, "regions[1].share", "invalid type"),
    (
        "slo-unknown-region.toml",
        1,
        9,
        "slos[0]",
        "unknown region `mars`",
    ),
    ("slo-syntax.toml", 1, 9, "slos[0]", "expected a comparison"),
    (
        "diurnal-without-onset.toml",
        9,
        11,
        "regions[0].diurnal",
        "needs event.onset",
    ),
    (
        "field-of-other-kind.toml",
        17,
        5,
        "curve.q",
        "does not apply to kind = \"ramp\"",
    ),
    (
        "duplicate-region.toml",
        11,
        8,
        "regions[1].name",
        "duplicate region name",
    ),
    (
        "closed-without-concurrency.toml",
        18,
        1,
        "load.concurrency",
        "required for model = \"closed\"",
    ),
    (
        "ramp-too-long.toml",
        14,
        1,
        "curve",
        "must fit in event.duration",
    ),
    (
        "unknown-kind.toml",
        15,
        8,
        "curve.kind",
        "expected \"ramp\", \"bass\" or \"trace\"",
    ),
    (
        "trace-missing-column.toml",
        9,
        8,
        "regions[1].name",
        "no column `europe`",
    ),
    (
        "bad-retry.toml",
        19,
        9,
        "client.retry",
        "expected \"give-up\"",
    ),
    ("bad-url.toml", 1, 10, "target", "http:// or https://"),
];

#[test]
fn the_good_fixture_is_accepted() {
    let p = surge_profile::load(&fixture("good.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.event.population, 1000);
}

#[test]
fn each_bad_profile_yields_its_precise_error() {
    for &(name, line, column, field, rule) in CASES {
        let e = refused(name);
        let text = e.to_string();
        assert_eq!(
            (e.line(), e.column()),
            (Some(line), Some(column)),
            "{name}: {text}"
        );
        assert_eq!(e.field, field, "{name}: {text}");
        assert!(
            e.rule.contains(rule),
            "{name}: rule {:?} lacks {rule:?}",
            e.rule
        );
        let file = e
            .location
            .as_ref()
            .map(|l| l.file.clone())
            .unwrap_or_default();
        assert!(file.ends_with(name), "{name}: file {file}");
        assert!(
            text.starts_with(&format!("{file}:{line}:{column}: field `{field}`")),
            "{text}"
        );
    }
}

#[test]
fn every_fixture_is_covered() {
    let dir = std::fs::read_dir(fixture("")).unwrap_or_else(|e| panic!("{e}"));
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".toml") && name != "good.toml" {
            assert!(
                CASES.iter().any(|c| c.0 == name),
                "{name} has no expected error"
            );
        }
    }
}

#[test]
fn a_missing_file_is_an_error_without_location() {
    let e = refused("does-not-exist.toml");
    assert!(e.location.is_none());
    assert!(e.rule.contains("cannot read profile"), "{e}");
    assert!(e.to_string().contains("does-not-exist.toml"), "{e}");
}
