//! The live dashboard in a real headless Chromium, driven over the DevTools protocol, while a real
//! `surge run --dashboard` replays the quickstart surge against the embedded reference backend: the
//! page loads with no console error, shows every region and values that change between two moments,
//! fills the gap after a dropped stream, paints its charts, and at the end says the run ended and
//! links to the report, which it serves.
//!
//! `SURGE_DASHBOARD_SHOT=PATH` also writes the screenshot there (how docs/img/dashboard.png is made).
// These tests wait for real processes: std's clock is meant.
#![allow(clippy::disallowed_methods)]

mod common;
mod dashboard_support;

use common::chromium;
use dashboard_support::cdp::Browser;
use dashboard_support::{get, start};
use serde_json::Value;
use std::time::Duration;

/// What the test reads off the page: the last update's id, region rows and their figures.
const PROBE: &str = r#"(() => {
  const rows = [...document.querySelectorAll('#regions tbody tr')].map(tr => ({
    region: tr.dataset.region,
    cells: [...tr.cells].map(td => td.textContent),
  }));
  return {
    id: st.lastId,
    points: st.points.length,
    rows,
    started: document.getElementById('g-started').textContent,
    inflight: document.getElementById('g-inflight').textContent,
    slos: [...document.querySelectorAll('#slos li')].map(li => li.dataset.status),
    svgs: document.querySelectorAll('svg path').length,
    status: document.getElementById('status').textContent,
    errors: window.__surgeErrors,
  };
})()"#;

#[test]
fn the_live_page_follows_a_surge_in_a_real_browser() {
    let _serial = common::serial();
    let Some(browser) = chromium() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium");
        eprintln!("SKIPPED: no chromium on this machine (apt-get install chromium)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut run = start(
        &common::profile("quickstart.toml"),
        &[
            "--duration",
            "25s",
            "--scale",
            "0.3",
            "--drain",
            "3s",
            "--dashboard-linger",
            "30s",
        ],
        &out,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut b = Browser::launch(&browser, &tmp.path().join("chrome"), 1280, 900).await;
        // A few intervals in.
        std::thread::sleep(Duration::from_secs(4));
        b.goto(&run.url).await;
        b.wait(3.0).await;
        let one = b.eval(PROBE).await;
        let dom = b.dom().await;
        for region in ["americas", "europe", "asia"] {
            assert!(
                dom.contains(&format!("data-region=\"{region}\"")),
                "{region} is not in the DOM"
            );
        }
        for step in ["request_code", "verify_code", "register", "discover"] {
            assert!(dom.contains(step), "{step} is not in the DOM");
        }
        b.wait(4.0).await;
        let two = b.eval(PROBE).await;
        eprintln!("moment 1: {one}\nmoment 2: {two}");
        assert!(
            two["id"].as_u64() > one["id"].as_u64(),
            "no update in 4 s: {one} / {two}"
        );
        assert!(two["points"].as_u64() > one["points"].as_u64());
        assert_ne!(one["started"], two["started"], "journeys started did not change");
        assert_ne!(one["rows"], two["rows"], "the region figures did not change");
        assert_eq!(two["rows"].as_array().map(Vec::len), Some(3));
        assert_eq!(two["status"], "live");
        assert_eq!(two["slos"].as_array().map(Vec::len), Some(2), "{two}");
        // Arrivals, in flight, errors, completeness, four steps: each a chart with drawn lines.
        assert!(two["svgs"].as_u64() >= Some(8 + 3 * 2), "{two}");
        assert_eq!(two["errors"], Value::Array(Vec::new()));

        // A dropped stream: the page loses ~3 s of updates, reconnects from its last id, and the
        // gap is filled: the intervals it holds are consecutive, none missing, none twice.
        let dropped = b
            .eval("(() => { if (es) es.close(); es = null; return st.lastId; })()")
            .await;
        b.wait(3.0).await;
        b.eval("(() => { connect(); return true; })()").await;
        b.wait(2.0).await;
        let after = b
            .eval("({ last: st.lastId, iv: st.points.map(p => p.interval) })")
            .await;
        let iv: Vec<u64> = after["iv"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        assert!(
            after["last"].as_u64() > dropped.as_u64().map(|d| d + 3),
            "updates after the reconnect: {dropped} -> {after}"
        );
        assert!(
            iv.windows(2).all(|w| w[1] == w[0] + 1),
            "a gap or a repeat across the reconnect: {iv:?}"
        );

        let png = b.screenshot().await;
        if let Some(path) = std::env::var_os("SURGE_DASHBOARD_SHOT") {
            std::fs::write(&path, &png).unwrap();
        }
        assert_chart_screenshot(&png);

        // The end: the page says so and links to the report, which the dashboard serves.
        run.wait_line("dashboard stays up", Duration::from_secs(90))
            .unwrap_or_else(|| panic!("the run did not end: {:#?}", run.stderr));
        b.wait(2.0).await;
        let ended = b
            .eval("document.getElementById('ended').textContent")
            .await;
        let ended = ended.as_str().unwrap_or("");
        assert!(ended.contains("The run has ended (complete)"), "{ended}");
        let href = b
            .eval("document.getElementById('report-link') && document.getElementById('report-link').getAttribute('href')")
            .await;
        assert_eq!(href, "report.html", "{ended}");
        assert!(
            b.errors.is_empty(),
            "console errors or exceptions: {:#?}",
            b.errors
        );
        b.goto(&format!("{}report.html", run.url)).await;
        b.wait(1.0).await;
        let title = b.eval("document.title").await;
        assert!(
            title.as_str().unwrap_or("").contains("quickstart"),
            "not the report: {title}"
        );
    });
    let report = get(run.addr, "/report.html", &[]);
    assert_eq!(report.status, 200);
}

/// The screenshot is a real picture of charts: the size asked for, many colours, the regions'
/// line colours present.
fn assert_chart_screenshot(png_bytes: &[u8]) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.width, 1280, "the page is wider than the window");
    assert!(info.height >= 900, "{}x{}", info.width, info.height);
    let px = info.color_type.samples();
    let bytes = &buf[..info.buffer_size()];
    let mut colours = std::collections::HashSet::new();
    let (mut blue, mut red, mut green) = (0usize, 0usize, 0usize);
    for p in bytes.chunks(px) {
        let (r, g, b) = (p[0], p[1.min(px - 1)], p[2.min(px - 1)]);
        colours.insert((r, g, b));
        // The page's region colours: #2563eb, #dc2626, #059669.
        blue += usize::from(r < 80 && g > 80 && g < 130 && b > 200);
        red += usize::from(r > 200 && g < 70 && b < 70);
        green += usize::from(r < 30 && g > 130 && g < 170 && b > 80 && b < 130);
    }
    eprintln!(
        "screenshot: {}x{}, {} bytes, {} colours, region-coloured pixels {blue}/{red}/{green}",
        info.width,
        info.height,
        png_bytes.len(),
        colours.len()
    );
    assert!(colours.len() > 50, "{} colours: blank?", colours.len());
    assert!(
        blue > 500 && red > 500 && green > 500,
        "chart lines missing: {blue}/{red}/{green} pixels of the region colours"
    );
}
