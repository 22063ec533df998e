//! `surge calibrate` measures one worker's capacity for a profile's journey at its SLOs and sizes a
//! distributed run: a real run of doubling concurrency against the embedded backend.

mod common;

use common::profile;
use std::process::Command;

#[test]
fn calibrate_prints_per_worker_capacity_and_workers_per_region() {
    let out = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args([
            "calibrate",
            &profile("quickstart.toml"),
            "--step",
            "1s",
            "--max-concurrency",
            "4",
            "--drain",
            "2s",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("concurrency    1:"),
        "every step is reported: {stderr}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("one worker sustains"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let rate: f64 = line
        .split_whitespace()
        .nth(3)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        rate > 1.0,
        "a worker sustains more than one journey per second: {line}"
    );
    for region in ["americas", "europe", "asia", "all"] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(region))
            .unwrap_or_else(|| panic!("no {region} row:\n{stdout}"));
        let workers: u64 = row
            .split_whitespace()
            .nth(2)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{row}"));
        assert!(workers >= 1, "{row}");
    }
}

#[test]
fn live_outlets_are_refused_by_name_before_anything_runs() {
    // A receiver that would accept the pushes: calibrate must refuse before sending it anything.
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1/write", receiver.local_addr().unwrap());
    receiver.set_nonblocking(true).unwrap();
    for (flags, named) in [
        (
            vec!["--prom-remote-write", url.as_str()],
            "--prom-remote-write is",
        ),
        (vec!["--dashboard", "127.0.0.1:0"], "--dashboard is"),
        (
            vec![
                "--metrics-listen",
                "127.0.0.1:0",
                "--prom-remote-write",
                url.as_str(),
            ],
            "--metrics-listen, --prom-remote-write are",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_surge"))
            .args(["calibrate", &profile("quickstart.toml"), "--step", "1s"])
            .args(&flags)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("{named} not available with calibrate")),
            "{stderr}"
        );
        assert!(
            !stderr.contains("calibrating"),
            "nothing may start: {stderr}"
        );
    }
    assert!(
        receiver.accept().is_err(),
        "nothing was pushed to the receiver"
    );
}
