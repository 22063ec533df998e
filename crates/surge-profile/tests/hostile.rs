//! Hostile inputs are refused with clear errors, and no input makes the parser panic.

use std::io::Write;

use proptest::prelude::*;

const GOOD: &str = include_str!("fixtures/good.toml");

#[test]
fn a_ten_megabyte_string_is_refused_up_front() {
    let text = format!("description = \"{}\"\n{GOOD}", "x".repeat(10 << 20));
    let e = surge_profile::parse(&text, "big.toml")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("larger than 1048576 bytes"), "{e}");
    assert!(
        e.len() < 200,
        "the error repeats the input: {} bytes",
        e.len()
    );
    let mut f = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let e = surge_profile::load(f.path())
        .err()
        .map(|e| e.rule)
        .unwrap_or_default();
    assert!(e.contains("larger than"), "{e}");
}

#[test]
fn a_long_string_field_is_refused_with_its_location() {
    let text = format!("description = \"{}\"\n{GOOD}", "x".repeat(100_000));
    let e = surge_profile::parse(&text, "long.toml").err();
    let e = e.unwrap_or_else(|| panic!("accepted"));
    assert_eq!(
        (e.line(), e.column(), e.field.as_str()),
        (Some(1), Some(15), "description")
    );
    assert!(e.rule.contains("too long"), "{e}");
    assert!(
        e.value.len() < 120,
        "value not shortened: {}",
        e.value.len()
    );
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!(
        "{GOOD}\n[load]\nmodel = {}1{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let e = surge_profile::parse(&deep, "deep.toml")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("recursion") || e.contains("invalid type"),
        "{}",
        &e[..e.len().min(300)]
    );
    let tables = format!(
        "{GOOD}\nx = {}1{}\n",
        "{a=".repeat(10_000),
        "}".repeat(10_000)
    );
    assert!(surge_profile::parse(&tables, "deep.toml").is_err());
}

#[test]
fn invalid_utf8_is_refused_with_its_location() {
    let mut f = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
    f.write_all(b"name = \"a\xffb\"\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let e = surge_profile::load(f.path())
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!((e.line(), e.column()), (Some(1), Some(10)));
    assert!(e.rule.contains("utf-8"));
}

#[test]
fn non_finite_and_out_of_range_numbers_are_refused() {
    for (from, to, field) in [
        ("share = 0.4", "share = nan", "regions[1].share"),
        ("share = 0.4", "share = -inf", "regions[1].share"),
        ("share = 0.4", "share = 1e308", "regions[1].share"),
        ("population = 1000", "population = -5", "event.population"),
        ("name = \"bad\"", "name = \"bad\"\nseed = -1", "seed"),
        (
            "name = \"bad\"",
            "name = \"bad\"\nshards = 4294967297",
            "shards",
        ),
        (
            "duration = \"30s\"",
            "duration = \"99999999999999999999h\"",
            "event.duration",
        ),
    ] {
        let text = GOOD.replace(from, to);
        let e = surge_profile::parse(&text, "n.toml")
            .err()
            .unwrap_or_else(|| panic!("{to} accepted"));
        assert_eq!(e.field, field, "{to}: {e}");
        assert!(e.line().is_some(), "{to}: {e}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = surge_profile::parse(&text, "fuzz.toml");
    }

    #[test]
    fn mutated_profiles_never_panic(at in 0usize..GOOD.len(), len in 0usize..8, insert in "[\\[\\]{}=\"'.,#a-z0-9 \n-]{0,12}") {
        let mut text = GOOD.to_string();
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + len).min(text.len());
        let end = (end..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
        text.replace_range(at..end, &insert);
        if let Err(e) = surge_profile::parse(&text, "fuzz.toml") {
            // every error carries a location inside the text
            let line = e.line().unwrap_or(0);
            prop_assert!(line >= 1 && line <= text.lines().count() + 1, "{e}");
        }
    }
}
