//! Renders the reports of a real results folder and checks what they say.

mod common;

use common::{REGIONS, STEPS, Shape, tempdir, write_run};
use surge_report::{render_html, render_markdown, terminal_table, write_reports};

type R = Result<(), Box<dyn std::error::Error>>;

/// The fixture run of the under-provisioned plan, written under `tmp`.
fn underprovisioned(
    tmp: &tempfile::TempDir,
) -> Result<surge_results::RunData, surge_results::ResultsError> {
    write_run(
        &tmp.path().join("run"),
        "fixture",
        "profiles/plans/americas-underprovisioned.toml",
        Shape::default(),
    )
}

#[test]
fn html_is_self_contained_and_shows_every_region_step_and_slo() -> R {
    let tmp = tempdir();
    let data = underprovisioned(&tmp)?;
    let html = render_html(&data);
    if let Some(out) = std::env::var_os("SURGE_REPORT_DUMP") {
        std::fs::write(
            std::path::Path::new(&out).join("fixture-report.html"),
            &html,
        )?;
    }
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for r in REGIONS {
        assert!(
            html.contains(&format!("<td>{r}</td>")),
            "region {r} not in the summary table"
        );
    }
    for s in STEPS {
        assert!(
            html.contains(&format!("{s}: response time p50 / p99 / p99.9")),
            "no latency chart for {s}"
        );
    }
    assert!(html.contains("<table class=\"slos\">"), "SLO table");
    assert!(
        html.contains("p99 of register in americas &lt; 500ms</td><td class=\"FAIL\">FAIL"),
        "americas SLO fails"
    );
    assert!(html.contains("completeness in europe &gt; 99.5%</td><td class=\"PASS\">PASS"));
    assert!(html.contains("SLO breach timeline"));
    assert!(html.contains("class=\"fail\""), "breached intervals drawn");
    assert!(
        html.contains(
            "generator saturated — latency in this window is not the target&#39;s: 5-6 s"
        ),
        "saturated window flagged"
    );
    assert!(html.contains("register: latency by percentile"));
    assert!(html.contains("Discovery completeness per region"));
    assert!(html.contains("http_429"), "shed load by class");
    for bad in ["http://", "https://", "src=", "<script", "@import", "url("] {
        assert!(
            !html.contains(bad),
            "external reference {bad:?} in the report"
        );
    }
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    assert!(
        html.matches("<svg").count() >= 4 + 6,
        "one chart per step plus the others"
    );
    assert!(html.matches("<polyline").count() > 20);
    assert!(
        !html.contains("NaN") && !html.contains("inf"),
        "no broken coordinates"
    );
    Ok(())
}

/// Mean SVG y of the polyline titled `title` inside `svg` (smaller y = higher on the chart).
fn mean_y(svg: &str, title: &str) -> Option<f64> {
    let end = svg.find(&format!("<title>{title}</title></polyline>"))?;
    let start = svg[..end].rfind("points=\"")? + "points=\"".len();
    let pts = svg[start..].split('"').next()?;
    let ys: Vec<f64> = pts
        .split(' ')
        .filter_map(|p| p.split(',').nth(1)?.parse().ok())
        .collect();
    (!ys.is_empty()).then(|| ys.iter().sum::<f64>() / ys.len() as f64)
}

#[test]
fn americas_slowdown_stands_out_in_the_latency_chart() -> R {
    let tmp = tempdir();
    let data = write_run(
        &tmp.path().join("run"),
        "fixture",
        "plan",
        Shape {
            saturated: None,
            ..Shape::default()
        },
    )?;
    let am = data
        .summary
        .step("americas", "register")
        .map(|c| c.p99_ms)
        .unwrap_or(0.0);
    let eu = data
        .summary
        .step("europe", "register")
        .map(|c| c.p99_ms)
        .unwrap_or(f64::MAX);
    assert!(am > 50.0 * eu, "americas {am} ms vs europe {eu} ms");
    let html = render_html(&data);
    let start = html
        .find("register: response time p50 / p99 / p99.9")
        .ok_or("no register chart")?;
    let chart = &html[start..start + html[start..].find("</svg>").ok_or("unclosed svg")?];
    let (a, e) = (
        mean_y(chart, "americas p99").ok_or("no americas line")?,
        mean_y(chart, "europe p99").ok_or("no europe line")?,
    );
    // The plot is 228 px tall over about three decades: americas sits far above europe.
    assert!(
        e - a > 100.0,
        "americas line at y={a:.0}, europe at y={e:.0}"
    );
    Ok(())
}

#[test]
fn terminal_and_markdown_match_their_snapshots() -> R {
    let tmp = tempdir();
    let data = underprovisioned(&tmp)?;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    for (name, got) in [
        ("terminal.txt", terminal_table(&data, false)),
        ("report.md", render_markdown(&data)),
    ] {
        let path = dir.join(name);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&path, &got)?;
        }
        let want = std::fs::read_to_string(&path)?;
        assert!(
            got == want,
            "{name} changed (UPDATE_SNAPSHOTS=1 to accept):\n{got}"
        );
    }
    let colored = terminal_table(&data, true);
    assert!(colored.contains("\x1b[31mFAIL\x1b[0m") && colored.contains("\x1b[32mPASS\x1b[0m"));
    assert!(!terminal_table(&data, false).contains('\x1b'));
    Ok(())
}

#[test]
fn a_run_cut_short_renders_with_a_banner() -> R {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    write_run(&dir, "fixture", "plan", Shape::default())?;
    std::fs::remove_file(dir.join("summary.json"))?;
    let hlog = std::fs::read(dir.join("latency.hlog"))?;
    std::fs::write(dir.join("latency.hlog"), &hlog[..hlog.len() - 3])?;
    let data = surge_results::RunData::read(&dir)?;
    let banner = "run cut short: data up to interval 6";
    assert!(render_html(&data).contains(&format!(
        "<li class=\"bad\"><span class=\"topic\">run</span><span>{banner}</span></li>"
    )));
    assert!(render_markdown(&data).contains(&format!("- **run: {banner}**")));
    assert!(terminal_table(&data, false).contains(banner));
    let (html, md) = write_reports(&data)?;
    assert!(html.ends_with("report.html") && html.is_file() && md.is_file());
    Ok(())
}

#[test]
fn both_reports_lead_with_the_verdict_block() -> R {
    let tmp = tempdir();
    let data = underprovisioned(&tmp)?;
    let html = render_html(&data);
    let after_title = &html[html.find("</h1>").ok_or("no title")? + "</h1>".len()..];
    assert!(
        after_title.starts_with("<section id=\"verdict\" class=\"verdict\"><h2>Verdict</h2>"),
        "the verdict block comes first: {}",
        &after_title[..200.min(after_title.len())]
    );
    let block = &after_title[..after_title.find("</section>").ok_or("unclosed")?];
    for want in [
        "FAIL p99 of register in americas &lt; 500ms",
        "PASS completeness in europe &gt; 99.5%",
        "p99 in americas is",
        "http_429",
        "unfinished",
        "completeness americas",
        "send lag p99",
    ] {
        assert!(
            block.contains(want),
            "verdict block lacks {want:?}: {block}"
        );
    }
    assert!(
        html.find("id=\"verdict\"") < html.find("<svg"),
        "verdict before the charts"
    );
    assert!(
        html.find("<svg") < html.find("id=\"summary\""),
        "charts before the tables"
    );
    assert!(html.contains("@media print"), "a print stylesheet");
    assert!(html.contains("svg.chart{display:block;margin:8px 0;background:#fff;width:100%"));
    let md = render_markdown(&data);
    let first_section = md.lines().find(|l| l.starts_with("## "));
    assert_eq!(first_section, Some("## Verdict"));
    assert!(
        md.contains("- **SLO: FAIL p99 of register in americas < 500ms"),
        "{md}"
    );
    Ok(())
}

#[test]
fn a_step_never_reached_and_an_slo_without_data_are_shown_as_such() -> R {
    let tmp = tempdir();
    let mut data = write_run(&tmp.path().join("run"), "fixture", "plan", Shape::default())?;
    if let Some(asia) = data.summary.regions.get_mut("asia") {
        asia.remove("discover");
    }
    data.summary.slos.push(surge_metrics::Verdict::new(
        "p99 of discover in asia < 1s".into(),
        surge_metrics::SloOp::Lt,
        None,
        1000.0,
    ));
    data.summary.all_slos_pass = false;
    let term = terminal_table(&data, false);
    let line = term
        .lines()
        .find(|l| l.starts_with("asia") && l.contains("discover"))
        .ok_or("asia/discover row omitted")?;
    assert!(line.ends_with("never reached"), "{line}");
    assert!(
        term.contains("NO DATA  p99 of discover in asia < 1s  (observed nothing measured"),
        "{term}"
    );
    assert!(term.contains("no data counts as failed"));
    let md = render_markdown(&data);
    assert!(md.contains("| asia | discover | - | - |"), "{md}");
    assert!(
        md.contains("| p99 of discover in asia < 1s | **NO DATA** |"),
        "{md}"
    );
    let html = render_html(&data);
    assert!(html.contains(
        "<td>asia</td><td>discover</td><td class=\"nr\" colspan=\"8\">never reached</td>"
    ));
    assert!(html.contains("<td class=\"NO_DATA\">NO DATA</td>"));
    assert!(
        html.contains("NO DATA p99 of discover in asia &lt; 1s"),
        "in the verdict block"
    );
    Ok(())
}

#[test]
fn unfinished_people_and_a_broken_tally_are_shown() -> R {
    let tmp = tempdir();
    let mut data = underprovisioned(&tmp)?;
    let am = data
        .summary
        .journeys
        .get_mut("americas")
        .ok_or("no americas journeys")?;
    am.unfinished = 4;
    am.started += 4 + 3; // 3 people nobody accounts for
    let term = terminal_table(&data, false);
    let head = term
        .lines()
        .find(|l| l.starts_with("region") && l.contains("started"))
        .ok_or("no journeys table")?;
    assert!(
        head.contains("failed  unfinished  contacts expected"),
        "{head}"
    );
    let row = term
        .lines()
        .find(|l| l.starts_with("americas") && l.contains("1,448"))
        .ok_or("no americas journeys row")?;
    assert!(row.contains("369        362       0           4"), "{row}");
    let md = render_markdown(&data);
    assert!(md.contains("| americas | 369 | 362 | 0 | 4 |"), "{md}");
    assert!(
        md.contains("**unfinished: 4 of 1,093 people unfinished"),
        "{md}"
    );
    assert!(
        md.contains("tally does not hold: summary.json: americas: started 369"),
        "{md}"
    );
    let html = render_html(&data);
    let block = &html[..html.find("</section>").ok_or("no verdict block")?];
    assert!(block.contains("tally does not hold"), "{block}");
    assert!(html.contains("<th>unfinished</th>"));
    Ok(())
}

/// Requests the generator could not send for lack of its own descriptors or ports are named in the
/// verdict as the generator's saturation, never as the target's errors.
#[test]
fn the_generators_own_limits_are_named_in_the_verdict() -> R {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    write_run(&dir, "fixture", "plan", Shape::default())?;
    let path = dir.join("summary.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    v["totals"]["outcomes"]["generator_fd"] = serde_json::json!(3);
    v["totals"]["outcomes"]["generator_ports"] = serde_json::json!(2);
    std::fs::write(&path, serde_json::to_string(&v)?)?;
    let data = surge_results::RunData::read(&dir)?;
    let md = render_markdown(&data);
    assert!(
        md.contains("generator saturated: 5 requests never reached the target because surge ran out of its own file descriptors (3) or local ports (2)"),
        "{md}"
    );
    Ok(())
}
