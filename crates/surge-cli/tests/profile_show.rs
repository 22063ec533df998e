//! `surge profile show` prints the compressed per-region curve and the peak, sending nothing.

mod common;

use common::profile;
use std::process::Command;

#[test]
fn profile_show_prints_the_curve_of_every_shipped_event() {
    for name in [
        "quickstart",
        "facebook-outage-2021",
        "signal-jan-2021",
        "whatsapp-2014",
        "whatsapp-2023",
        "brazil-block-2015",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_surge"))
            .args([
                "profile",
                "show",
                &profile(&format!("{name}.toml")),
                "--scale",
                "0.001",
                "--duration",
                "10m",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.to_lowercase().contains("peak"),
            "{name}: no peak line:\n{text}"
        );
        assert!(
            text.lines().count() >= 8,
            "{name}: table too short:\n{text}"
        );
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args([
            "profile",
            "show",
            &profile("quickstart.toml"),
            "--scale",
            "-1",
        ])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a negative scale is a usage error"
    );
}
