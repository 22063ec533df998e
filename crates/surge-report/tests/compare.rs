//! Compares an under-provisioned plan with a doubled one, as runs and as repeats.

mod common;

use common::{Shape, tempdir, write_run};
use surge_report::{Metric, SIGNIFICANCE_RULE, compare};
use surge_results::RunData;

type R = Result<(), Box<dyn std::error::Error>>;

fn side(
    root: &std::path::Path,
    plan: &str,
    peak_us: u64,
    repeats: u64,
) -> Result<Vec<RunData>, surge_results::ResultsError> {
    (0..repeats)
        .map(|i| {
            let shape = Shape {
                intervals: 5,
                americas_peak_us: peak_us,
                seed: i,
                saturated: None,
            };
            write_run(
                &root.join(format!("{plan}-{i}")),
                "americas-surge",
                plan,
                shape,
            )
        })
        .collect()
}

#[test]
fn repeats_show_a_significant_americas_improvement_and_nothing_elsewhere() -> R {
    let tmp = tempdir();
    let a = side(tmp.path(), "americas-underprovisioned", 900_000, 3)?;
    let b = side(tmp.path(), "americas-doubled", 60_000, 3)?;
    let c = compare(&a, &b);
    let am = c
        .find("americas", "register", Metric::P99)
        .ok_or("no americas p99 row")?;
    assert!(am.change.is_some_and(|x| x < -0.8), "{am:?}");
    assert_eq!(am.direction(), "better");
    assert_eq!(am.significant, Some(true));
    assert!(
        am.a.is_some_and(|s| s.n == 3 && s.spread() > 0.0),
        "repeats differ a little: {am:?}"
    );
    let eu = c
        .find("europe", "register", Metric::P99)
        .ok_or("no europe row")?;
    assert_eq!(
        eu.significant,
        Some(false),
        "same figures on both sides: {eu:?}"
    );
    let err = c
        .find("americas", "register", Metric::ErrorRate)
        .ok_or("no error row")?;
    assert_eq!(err.direction(), "better");
    let slo = c
        .slos
        .iter()
        .find(|s| s.slo.starts_with("p99 of register"))
        .ok_or("no slo")?;
    assert_eq!((slo.a, slo.b), ((0, 3), (3, 3)));
    let text = c.to_terminal();
    assert!(text.contains(SIGNIFICANCE_RULE));
    let line = text
        .lines()
        .find(|l| l.starts_with("americas") && l.contains("register") && l.contains("p99 "))
        .ok_or("no line")?;
    assert!(line.contains("better, significant"), "{line}");
    let md = c.to_markdown();
    assert!(md.contains("| americas | register | p99 |") && md.contains("better, significant"));
    let html = c.to_html();
    assert!(!html.contains("http://") && html.contains("class=\"PASS\">better, significant"));
    let (h, m) = c.write(&tmp.path().join("cmp"))?;
    assert!(h.is_file() && m.is_file());
    Ok(())
}

#[test]
fn single_runs_are_compared_without_a_significance_claim() -> R {
    let tmp = tempdir();
    let a = side(tmp.path(), "under", 900_000, 1)?;
    let b = side(tmp.path(), "doubled", 60_000, 1)?;
    let c = compare(&a, &b);
    let am = c
        .find("americas", "register", Metric::P99)
        .ok_or("no row")?;
    assert_eq!(am.significant, None);
    assert_eq!(am.direction(), "better");
    let comp = c
        .find("americas", "-", Metric::Completeness)
        .ok_or("no completeness row")?;
    assert_eq!(comp.direction(), "better");
    assert!(compare(&[], &b).a_label.contains("no run"));
    Ok(())
}

#[test]
fn an_unchanged_figure_is_same_and_differences_in_what_ran_are_named() -> R {
    let tmp = tempdir();
    let a = side(tmp.path(), "under", 900_000, 1)?;
    let b = side(tmp.path(), "doubled", 60_000, 1)?;
    let c = compare(&a, &b);
    let eu = c
        .find("europe", "register", Metric::Rate)
        .ok_or("no europe rate row")?;
    assert_eq!(eu.change.map(|x| x.abs() < 1e-3), Some(true), "{eu:?}");
    assert_eq!(eu.direction(), "same", "+0.0% is not 'higher'");
    assert_eq!(
        c.differs,
        vec!["plan: under (A) vs doubled (B)".to_string()]
    );
    assert!(c.unrelated().is_none(), "same regions and steps");
    let text = c.to_terminal();
    assert!(text.starts_with("differs: "), "{text}");
    assert!(text.contains("  plan: under (A) vs doubled (B)"));
    assert!(c.to_markdown().contains("**differs:**"));
    assert!(c.to_html().contains("id=\"differs\""));
    let same = compare(&a, &a);
    assert!(same.differs.is_empty() && !same.to_terminal().contains("differs:"));
    Ok(())
}

#[test]
fn runs_that_share_no_region_or_step_are_unrelated() -> R {
    let tmp = tempdir();
    let a = side(tmp.path(), "under", 900_000, 1)?;
    let mut b = side(tmp.path(), "other", 60_000, 1)?;
    for r in &mut b {
        r.info.name = "bench-open".into();
        r.info.regions = vec!["all".into()];
        r.summary.regions = [("all".to_string(), r.summary.regions["americas"].clone())].into();
        r.summary.journeys.clear();
    }
    let c = compare(&a, &b);
    assert_eq!(c.shared_cells, 0);
    let why = c.unrelated().ok_or("not called unrelated")?;
    assert!(why.contains("share no region and step"), "{why}");
    assert!(
        why.contains("profile: americas-surge (A) vs bench-open (B)"),
        "{why}"
    );
    Ok(())
}
