//! `surge new [--from reference|matrix|get] FILE.toml`: the written profile loads as `surge profile
//! show` loads it, every field is explained, the reference one runs a surge against the embedded
//! backend as written, its commented `[journey.connect]` validates once uncommented, and an existing
//! file is never overwritten.

mod common;

use common::{assert_tally, serial};
use std::path::Path;
use std::process::{Command, Output};

const TEMPLATES: [&str; 3] = ["reference", "matrix", "get"];

fn surge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_surge"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// `surge new --from T DIR/my-api.toml`, checked to succeed; the file's path and text.
fn new_profile(dir: &Path, template: &str) -> (String, String) {
    let file = dir.join(format!("my-{template}-api.toml"));
    let file = file.display().to_string();
    let out = surge(&["new", "--from", template, &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("surge profile show {file}")),
        "{}",
        text(&out.stdout)
    );
    let written = std::fs::read_to_string(&file).unwrap();
    (file, written)
}

#[test]
fn every_template_validates_as_written_through_profile_show() {
    let dir = tempfile::tempdir().unwrap();
    for template in TEMPLATES {
        let (file, written) = new_profile(dir.path(), template);
        assert!(
            !written.contains("__NAME__") && !written.contains("__FILE__"),
            "{template}: a placeholder of the template itself was left"
        );
        assert!(
            written.contains(&format!("name = \"my-{template}-api\"")),
            "{template}: the profile is not named after the file"
        );
        assert!(
            written.contains("# <- YOUR"),
            "{template}: no marked line to adapt"
        );
        // The same code as `surge profile show`...
        let plan = surge_cli::load_plan(Path::new(&file), &Default::default())
            .unwrap_or_else(|e| panic!("{template}: {e:#}"));
        assert!(plan.population > 0, "{template}");
        // ... and the command itself, as a process.
        let show = surge(&["profile", "show", &file]);
        assert_eq!(
            show.status.code(),
            Some(0),
            "{template}: {}",
            text(&show.stderr)
        );
        assert!(
            text(&show.stdout).to_lowercase().contains("peak"),
            "{template}: {}",
            text(&show.stdout)
        );
    }
}

/// Every `key = value` line is explained: a comment on its line, or on the line just above, or an
/// explained key of the same name earlier in a table of the same name (a second region, a later step).
#[test]
fn every_field_is_explained_in_a_comment() {
    let dir = tempfile::tempdir().unwrap();
    for template in TEMPLATES {
        let (_, written) = new_profile(dir.path(), template);
        let mut table = String::new();
        let mut explained = std::collections::HashSet::new();
        let mut previous = "";
        let mut unexplained = Vec::new();
        let mut keys = 0;
        for line in written.lines() {
            let t = line.trim();
            if t.starts_with('[') {
                table = t.trim_matches(|c| c == '[' || c == ']').to_string();
            } else if let Some((key, value)) = t.split_once('=')
                && !t.starts_with('#')
                && !t.starts_with('{')
            {
                keys += 1;
                let key = (table.clone(), key.trim().to_string());
                let commented = value.contains(" # ") || previous.trim_start().starts_with('#');
                if commented {
                    explained.insert(key);
                } else if !explained.contains(&key) {
                    unexplained.push(format!("[{}] {}", key.0, key.1));
                }
            }
            previous = line;
        }
        assert!(keys >= 15, "{template}: only {keys} fields");
        assert!(
            unexplained.is_empty(),
            "{template}: fields without a comment: {unexplained:?}"
        );
    }
}

#[test]
fn the_commented_connected_phase_validates_once_uncommented() {
    let dir = tempfile::tempdir().unwrap();
    let (file, written) = new_profile(dir.path(), "reference");
    let as_written = surge_profile::load(Path::new(&file)).unwrap();
    assert!(as_written.journey.connect.is_none());
    // Uncomment the TOML lines of the block: `# [journey.connect]` and the `# key = ...` lines after it.
    let mut inside = false;
    let mut uncommented = 0;
    let lines: Vec<String> = written
        .lines()
        .map(|line| {
            if line == "# [journey.connect]" {
                inside = true;
            }
            let toml = line.strip_prefix("# ").filter(|rest| {
                rest.starts_with('[')
                    || rest
                        .split_once(" = ")
                        .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            });
            match toml {
                Some(rest) if inside => {
                    uncommented += 1;
                    rest.to_string()
                }
                _ => line.to_string(),
            }
        })
        .collect();
    assert!(inside, "no `# [journey.connect]` block");
    assert!(uncommented >= 8, "only {uncommented} lines uncommented");
    let connected = dir.path().join("connected.toml");
    std::fs::write(&connected, lines.join("\n")).unwrap();
    let profile = surge_profile::load(&connected).unwrap_or_else(|e| panic!("{e}"));
    let c = profile.journey.connect.expect("a connected phase");
    assert!(c.heartbeat.is_some() && c.messages.is_some() && c.deliver.is_some());
    let show = surge(&["profile", "show", &connected.display().to_string()]);
    assert_eq!(show.status.code(), Some(0), "{}", text(&show.stderr));
}

#[test]
fn refuses_to_overwrite_and_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.toml");
    std::fs::write(&file, "keep me\n").unwrap();
    let path = file.display().to_string();
    for template in TEMPLATES {
        let out = surge(&["new", "--from", template, &path]);
        assert_eq!(out.status.code(), Some(2), "{template}");
        let err = text(&out.stderr);
        assert!(
            err.contains(&path) && err.contains("overwrite"),
            "{template}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me\n");

    let missing = dir.path().join("no-such-dir").join("x.toml");
    let out = surge(&["new", &missing.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&missing.display().to_string()),
        "{}",
        text(&out.stderr)
    );

    let bad = surge(&["new", "--from", "nope", "x.toml"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown template is a usage error"
    );
}

#[test]
fn the_reference_template_runs_a_surge_against_the_embedded_backend_as_written() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = new_profile(dir.path(), "reference");
    let out_dir = dir.path().join("run");
    let out = surge(&[
        "run",
        &file,
        "--duration",
        "4s",
        "--scale",
        "0.1",
        "--workers",
        "1",
        "--no-report",
        "--out",
        &out_dir.display().to_string(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let summary = assert_tally(&out_dir);
    let mut started = 0;
    for region in ["americas", "europe"] {
        let j = &summary["journeys"][region];
        started += j["started"].as_u64().unwrap();
        assert_eq!(j["failed"].as_u64(), Some(0), "{region}: {j}");
        for step in ["request_code", "verify_code", "register", "discover"] {
            let s = common::step(&summary, region, step);
            assert!(s["count"].as_u64().unwrap_or(0) > 0, "{region}/{step}: {s}");
        }
    }
    assert_eq!(started, 300, "3000 people x scale 0.1");
    assert_eq!(summary["all_slos_pass"], true);
}
