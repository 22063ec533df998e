//! Errors carry their cause once: each level's `Display` shows only itself and the cause hangs off
//! `source()`, so the CLI's `{:#}` (every level, joined by ": ") names each cause exactly once.

use std::path::Path;
use std::process::Command;

/// `text` holds `needle` exactly once.
fn once(text: &str, needle: &str) {
    assert_eq!(
        text.matches(needle).count(),
        1,
        "{needle:?} should appear exactly once in {text:?}"
    );
}

fn chain(e: impl Into<anyhow::Error>) -> String {
    format!("{:#}", e.into())
}

#[test]
fn a_missing_profile_names_its_path_and_the_os_error_once() {
    let path = Path::new("/nonexistent/surge-error-chain.toml");
    let Err(e) = surge_cli::load_plan(path, &surge_cli::args::ShapeArgs::default()) else {
        panic!("a missing profile loaded");
    };
    let text = chain(e);
    once(&text, "invalid profile");
    once(&text, "/nonexistent/surge-error-chain.toml");
    once(&text, "os error 2");
}

#[test]
fn surge_run_of_a_missing_profile_prints_path_and_cause_once() {
    let out = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args(["run", "/nonexistent.toml"])
        .output()
        .expect("surge runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    once(&stderr, "/nonexistent.toml");
    once(&stderr, "os error 2");
}

#[test]
fn a_results_folder_that_cannot_be_created_names_the_cause_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "not a folder").expect("write");
    let Err(e) = surge_results::ResultsWriter::create(&file.join("run"), &Default::default())
    else {
        panic!("a results folder was created under a file");
    };
    // Nested twice: the coordinator's run error around the results error around the OS error.
    let text = chain(surge_coordinator::RunError::from(e));
    once(&text, "results");
    once(&text, "a-file");
    once(&text, "os error 20");
}

#[test]
fn a_busy_port_names_the_address_and_the_os_error_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Err(e) = rt.block_on(surge_target::serve(
        addr,
        surge_target::CapacityPlan::baseline(),
    )) else {
        panic!("two listeners on {addr}");
    };
    let text = chain(e);
    once(&text, &format!("cannot listen on {addr}"));
    once(&text, "os error 98");
}

#[test]
fn a_malformed_coordinator_answer_names_the_json_error_once() {
    let Err(wire) = surge_wire::decode::<surge_wire::Join>(b"{\"version\": ") else {
        panic!("half a message decoded");
    };
    let json_error = std::error::Error::source(&wire)
        .map(|s| s.to_string())
        .expect("the wire error has the json error as its source");
    let text = chain(surge_coordinator::WorkerError::Protocol(wire));
    once(&text, "unreadable answer from the coordinator");
    once(&text, "malformed message");
    once(&text, &json_error);
}
