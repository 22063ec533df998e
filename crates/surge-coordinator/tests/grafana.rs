//! `deploy/grafana/surge.json` checked by structure: it parses as a Grafana dashboard, every panel's
//! PromQL (and every template variable's query) names only series surge exports, taken from the code's
//! own list (`surge_coordinator::live::names::ALL`), and the panels the issue asks for are there.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use surge_coordinator::live::names;

fn dashboard() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana/surge.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every panel, rows' nested panels included.
fn panels(v: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in v["panels"].as_array().expect("panels") {
        out.push(p);
        out.extend(panels_of(p));
    }
    out
}

fn panels_of(p: &Value) -> Vec<&Value> {
    p.get("panels")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// The identifiers of a PromQL expression outside string literals (metric names, functions, labels,
/// keywords).
fn identifiers(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in expr.chars() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        if c == '"' || c == '\'' || c == '`' {
            quote = Some(c);
        } else if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            cur.push(c);
            continue;
        }
        if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The surge series an expression names; panics on a name surge does not export.
fn series_named(expr: &str, what: &str) -> BTreeSet<&'static str> {
    let mut found = BTreeSet::new();
    for id in identifiers(expr) {
        if id.starts_with("surge") || id.contains(':') {
            let known = names::ALL.iter().find(|n| **n == id);
            assert!(
                known.is_some(),
                "{what}: `{id}` in `{expr}` is not a series surge exports (live::names::ALL)"
            );
            found.extend(known);
        }
    }
    found
}

#[test]
fn the_identifier_scanner_skips_strings_and_splits_names() {
    assert_eq!(
        identifiers(r#"sum by (class) (rate(surge_step_errors_total{job=~"surge_x"}[1m]))"#),
        [
            "sum",
            "by",
            "class",
            "rate",
            "surge_step_errors_total",
            "job",
            "1m"
        ]
    );
}

#[test]
fn every_panel_query_names_only_series_surge_exports() {
    let d = dashboard();
    assert!(d["uid"].is_string() && d["title"].is_string());
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 30));
    let mut ids = BTreeSet::new();
    let mut used = BTreeSet::new();
    let mut queries = 0;
    for p in panels(&d) {
        let title = p["title"].as_str().expect("every panel has a title");
        assert!(
            ids.insert(p["id"].as_u64().expect("id")),
            "{title}: id repeats"
        );
        let grid = &p["gridPos"];
        for k in ["x", "y", "w", "h"] {
            assert!(grid[k].is_u64(), "{title}: gridPos.{k}");
        }
        assert!(
            grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
            "{title}"
        );
        if p["type"] == "row" {
            continue;
        }
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no targets");
        for t in targets {
            let expr = t["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{title}: a target without expr"));
            let named = series_named(expr, title);
            assert!(!named.is_empty(), "{title}: `{expr}` names no surge series");
            used.extend(named);
            queries += 1;
        }
    }
    for var in d["templating"]["list"].as_array().expect("templating") {
        if let Some(q) = var["query"]["query"].as_str() {
            assert!(
                !series_named(q, "variable").is_empty(),
                "variable query {q}"
            );
        }
    }
    assert!(queries >= 20, "{queries} queries");
    // What the issue asks the dashboard to show.
    for (what, name) in [
        ("p99 per region", names::STEP_RESPONSE),
        ("arrivals intended", names::ARRIVALS_INTENDED_RATE),
        ("arrivals achieved", names::ARRIVALS_ACHIEVED_RATE),
        ("errors", names::STEP_ERRORS),
        ("in flight", names::IN_FLIGHT),
        ("connections", names::CONNECTIONS),
        ("discovery completeness", names::DISCOVERY_COMPLETENESS),
        ("delivery completeness", names::DELIVERY_COMPLETENESS),
        ("SLOs", names::SLO_PASS),
        ("workers", names::WORKERS),
        ("generator saturated", names::GENERATOR_SATURATED),
    ] {
        assert!(used.contains(name), "no panel shows {what} ({name})");
    }
}

#[test]
fn exported_names_follow_prometheus_conventions() {
    let unique: BTreeSet<_> = names::ALL.iter().collect();
    assert_eq!(unique.len(), names::ALL.len(), "a name repeats");
    for n in names::ALL {
        assert!(n.starts_with("surge_"), "{n}");
        assert!(
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{n}"
        );
        assert!(!n.ends_with("_total_total") && !n.contains("__"), "{n}");
    }
}
