use super::*;

const SMALL: &str = r#"
default_region = "a"

[regions.a]
sms_rate_per_s = 10
sms_burst = 2

[regions.b]
sms_rate_per_s = 10
sms_burst = 2

[service]
request_code = { median = "1ms", p99 = "3ms" }
verify_code = { median = "1ms", p99 = "3ms" }
register = { median = "1ms", p99 = "3ms" }
keys = { median = "1ms", p99 = "3ms" }
discovery = { median = "1ms", p99 = "3ms" }

[dcs.one]
regions = ["a"]
slots = 2

[dcs.two]
regions = ["b"]
slots = 3
[dcs.two.service]
register = { median = "7ms", p99 = "9ms" }
"#;

fn invalid(text: &str) -> (usize, String, String) {
    match CapacityPlan::from_toml_str(text, "t.toml") {
        Err(PlanError::Invalid {
            line,
            field,
            message,
            ..
        }) => (line, field, message),
        other => panic!("expected an invalid-plan error, got {other:?}"),
    }
}

#[test]
fn baseline_file_is_valid() {
    let plan = CapacityPlan::from_toml_str(BASELINE_TOML, BASELINE_ORIGIN);
    let plan = plan.map_err(|e| e.to_string());
    assert!(plan.is_ok(), "{plan:?}");
    let plan = CapacityPlan::baseline();
    assert_eq!(plan.origin(), BASELINE_ORIGIN);
    assert_eq!(plan.dc_of("americas"), Some("us"));
    assert_eq!(plan.dc_of("europe"), Some("eu"));
    assert_eq!(plan.dc_of("asia"), Some("ap"));
    assert_eq!(plan.secret(), DEFAULT_SECRET);
    assert_eq!(plan.default_region(), "americas");
}

#[test]
fn defaults_and_overrides_apply() {
    let plan = CapacityPlan::from_toml_str(SMALL, "t.toml").map_err(|e| e.to_string());
    let Ok(plan) = plan else { panic!("{plan:?}") };
    assert_eq!(plan.secret(), DEFAULT_SECRET);
    assert_eq!(plan.discovery_batch_limit(), DEFAULT_DISCOVERY_BATCH_LIMIT);
    assert_eq!(plan.slots("two"), Some(3));
    let two = plan
        .service_time("two", Endpoint::Register)
        .map(|s| s.median());
    assert_eq!(two, Some(Duration::from_millis(7)));
    let one = plan
        .service_time("one", Endpoint::Register)
        .map(|s| s.median());
    assert_eq!(one, Some(Duration::from_millis(1)));
    assert_eq!(plan.timer(), TimerKind::Precise);
}

#[test]
fn service_time_quantiles_match_median_and_p99() {
    let st = ServiceTime::new(Duration::from_millis(4), Duration::from_millis(12));
    let Some(st) = st else {
        panic!("valid distribution refused")
    };
    assert_eq!(st.at(0.0), Duration::from_millis(4));
    let p99 = st.at(Z_P99).as_secs_f64();
    assert!((p99 - 0.012).abs() < 1e-6, "{p99}");
    assert!(ServiceTime::new(Duration::from_millis(4), Duration::from_millis(3)).is_none());
    assert!(ServiceTime::new(Duration::ZERO, Duration::from_millis(3)).is_none());
    let zero = ServiceTime::new(Duration::ZERO, Duration::ZERO);
    assert_eq!(zero.map(|z| z.at(3.0)), Some(Duration::ZERO));
}

#[test]
fn unknown_field_names_line_and_field() {
    let text = SMALL.replace("slots = 3", "slots = 3\nslotz = 4");
    let (line, field, message) = invalid(&text);
    assert_eq!(line, 26);
    assert_eq!(field, "dcs.two.slotz");
    assert!(message.contains("unknown field"), "{message}");
}

#[test]
fn bad_duration_names_its_field() {
    let text = SMALL.replace("median = \"7ms\"", "median = \"7 parsecs\"");
    let (line, field, message) = invalid(&text);
    assert_eq!(line, 27);
    assert_eq!(field, "dcs.two.service.register.median");
    assert!(message.contains("parsecs"), "{message}");
}

#[test]
fn p99_below_median_is_refused() {
    let text = SMALL.replace("p99 = \"9ms\"", "p99 = \"5ms\"");
    let (line, field, message) = invalid(&text);
    assert_eq!(line, 27);
    assert_eq!(field, "dcs.two.service.register");
    assert!(message.contains("at least the median"), "{message}");
}

#[test]
fn missing_field_is_named() {
    let text = SMALL.replace("slots = 2\n", "");
    let (_, field, message) = invalid(&text);
    assert!(field.ends_with("slots"), "{field}");
    assert!(message.contains("missing field"), "{message}");
}

#[test]
fn region_rules_are_checked() {
    let text = SMALL.replace("regions = [\"b\"]", "regions = [\"a\"]");
    let (line, field, message) = invalid(&text);
    assert_eq!((line, field.as_str()), (24, "dcs.two.regions"));
    assert!(message.contains("already served"), "{message}");

    let text = SMALL.replace("regions = [\"b\"]", "regions = [\"c\"]");
    let (_, _, message) = invalid(&text);
    assert!(message.contains("not in [regions]"), "{message}");

    let text = SMALL.replace("default_region = \"a\"", "default_region = \"zz\"");
    let (line, field, _) = invalid(&text);
    assert_eq!((line, field.as_str()), (2, "default_region"));

    let text = SMALL.replace(
        "sms_rate_per_s = 10\nsms_burst = 2\n\n[regions.b]",
        "sms_rate_per_s = -1\nsms_burst = 2\n\n[regions.b]",
    );
    let (line, field, _) = invalid(&text);
    assert_eq!((line, field.as_str()), (5, "regions.a.sms_rate_per_s"));
}

#[test]
fn shares_and_limits_are_checked() {
    let text = format!("discovery_omit_share = 1.5\n{SMALL}");
    let (line, field, _) = invalid(&text);
    assert_eq!((line, field.as_str()), (1, "discovery_omit_share"));
    let text = format!("discovery_batch_limit = 0\n{SMALL}");
    let (_, field, _) = invalid(&text);
    assert_eq!(field, "discovery_batch_limit");
    let text = SMALL.replace("slots = 2", "slots = 0");
    let (_, field, _) = invalid(&text);
    assert_eq!(field, "dcs.one.slots");
}

#[test]
fn syntax_error_has_location_and_display_names_file() {
    let text = SMALL.replace("slots = 2", "slots = = 2");
    let error = CapacityPlan::from_toml_str(&text, "t.toml");
    let Err(error) = error else {
        panic!("syntax error accepted")
    };
    let shown = error.to_string();
    assert!(shown.starts_with("t.toml:21:9: dcs.one.slots: "), "{shown}");
    assert_eq!(error.line(), Some(21));
}

#[test]
fn load_reports_missing_file() {
    let error = CapacityPlan::load(Path::new("/nonexistent/plan.toml"));
    assert!(matches!(error, Err(PlanError::Read { .. })));
}
