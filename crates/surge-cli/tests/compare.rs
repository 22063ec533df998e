//! `surge compare` says what differs between A and B, and refuses (exit 2) to compare runs that share
//! no region or step unless `--force` is given.

mod common;

use common::{profile, surge};
use std::path::Path;

fn run(dir: &Path, profile_name: &str, scale: &str) {
    let code = surge(&[
        "run",
        &profile(profile_name),
        "--duration",
        "2s",
        "--scale",
        scale,
        "--no-report",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(code == 0 || code == 1, "{profile_name}: exit {code}");
}

#[test]
fn compare_names_what_differs_and_refuses_unrelated_runs_unless_forced() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("quick-a"),
        tmp.path().join("quick-b"),
        tmp.path().join("bench"),
    );
    run(&a, "quickstart.toml", "0.03");
    run(&b, "quickstart.toml", "0.05");
    run(&c, "bench-open.toml", "0.0005");
    let cmp = |x: &Path, y: &Path, out: &str, extra: &[&str]| {
        let out = tmp.path().join(out);
        let mut args = vec![
            "compare",
            x.to_str().unwrap(),
            y.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        (surge(&args), out.join("compare.md"))
    };

    let (code, md) = cmp(&a, &b, "ab", &[]);
    assert_eq!(code, 0);
    let md = std::fs::read_to_string(md).unwrap();
    assert!(md.contains("**differs:**"), "{md}");
    assert!(md.contains("- scale: 0.03 (A) vs 0.05 (B)"), "{md}");
    assert!(!md.contains("- profile:"), "same profile: {md}");

    let (code, md) = cmp(&a, &c, "ac", &[]);
    assert_eq!(code, 2, "runs sharing no region or step are refused");
    assert!(!md.exists(), "nothing written when refused");

    let (code, md) = cmp(&a, &c, "forced", &["--force"]);
    assert_eq!(code, 0, "--force compares anyway");
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.contains("- profile: quickstart (A) vs bench-open (B)"),
        "{md}"
    );
}
