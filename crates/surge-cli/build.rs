//! Records the versions of the crates surge is built from (read from Cargo.lock) for run.json.

use std::fmt::Write as _;

fn main() {
    let lock = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    let wanted = [
        "tokio",
        "hyper",
        "hyper-util",
        "hdrhistogram",
        "governor",
        "clap",
    ];
    let mut out = String::new();
    let mut name = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take())
            && wanted.contains(&n.as_str())
        {
            let _ = write!(out, "{n}={};", v.trim_matches('"'));
        }
    }
    println!("cargo:rustc-env=SURGE_DEP_VERSIONS={out}");
}
