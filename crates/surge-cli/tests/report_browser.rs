//! The report a person opens: rendered from a real run, checked for content, then opened in a real
//! headless Chromium that must raise no console error and paint a non-blank page.

mod common;

use common::{profile, surge};
use std::path::Path;
use std::process::Command;

fn chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_string)
}

#[test]
fn a_real_run_renders_a_self_contained_report_that_a_browser_opens_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let code = surge(&[
        "run",
        &profile("quickstart.toml"),
        "--duration",
        "5s",
        "--scale",
        "0.3",
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(code, 0);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for needle in [
        "americas",
        "europe",
        "asia",
        "request_code",
        "verify_code",
        "register",
        "discover",
        "<svg",
        "SLO",
    ] {
        assert!(html.contains(needle), "report.html lacks {needle}");
    }
    for external in [
        "http://",
        "https://",
        "src=",
        "<script src",
        "url(",
        "@import",
    ] {
        assert!(
            !html.contains(external),
            "report.html references something external: {external}"
        );
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("register") && md.contains("americas"));

    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium (.ci/run does)"
        );
        eprintln!(
            "SKIPPED: no chromium on this machine (apt-get install chromium); content checks above ran"
        );
        return;
    };
    let shot = tmp.path().join("shot.png");
    let profile_dir = tmp.path().join("chrome-profile");
    let output = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile_dir.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,2400")
        .arg(format!("file://{}", out.join("report.html").display()))
        .output()
        .expect("run chromium");
    let log = String::from_utf8_lossy(&output.stderr);
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("ERROR") || l.contains("Uncaught")))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:#?}"
    );
    assert!(shot.is_file(), "no screenshot; chromium said: {log}");
    assert_non_blank(&shot);
}

/// The screenshot has real content: many distinct colours, not a single flat page.
fn assert_non_blank(path: &Path) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    let px = info.color_type.samples();
    let mut colours = std::collections::HashSet::new();
    let mut non_white = 0usize;
    for p in bytes.chunks(px) {
        colours.insert(p[..3.min(px)].to_vec());
        non_white += usize::from(p.iter().take(3).any(|&c| c < 240));
    }
    let total = bytes.len() / px;
    assert!(
        colours.len() > 20,
        "screenshot looks blank: {} colours",
        colours.len()
    );
    assert!(
        non_white * 100 > total,
        "screenshot is {non_white} of {total} pixels non-white"
    );
}
