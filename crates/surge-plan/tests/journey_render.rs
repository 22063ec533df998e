//! Byte-exact rendering of journey requests: bodies, paths, forms, headers, contact encodings.

mod common;

use std::time::Duration;

use common::*;
use surge_plan::journey::{Ctx, EncodedBatch, Journey, Method, RequestBuf};
use surge_profile::journey::{builtin_journey, builtin_text, parse_journey};

#[test]
fn reference_journey_is_byte_exact() {
    let (j, steps) = builtin("reference", true);
    assert_eq!(
        steps,
        [
            "request_code",
            "verify_code",
            "register",
            "upload_keys",
            "discover"
        ]
    );
    assert_eq!(j.value_slots, 2);
    let values = vec![Some("s-1\"x".to_string()), Some("7.abc".to_string())];
    let json = ("content-type", "application/json");
    let region = ("x-surge-region", "americas");

    let r = render(&j.steps[0], 0, &values, &[]);
    assert_eq!(
        (r.method, text(&r.path)),
        (Method::Post, "/v1/verification/code")
    );
    assert_eq!(headers(&r), h(&[region, json]));
    assert_eq!(text(&r.body), r#"{"number":"+15550001234"}"#);

    let r = render(&j.steps[1], 0, &values, &[]);
    assert_eq!(
        (r.method, text(&r.path)),
        (Method::Put, "/v1/verification/code")
    );
    assert_eq!(text(&r.body), r#"{"session_id":"s-1\"x","code":"123456"}"#);

    let r = render(&j.steps[2], 0, &values, &[]);
    assert_eq!((r.method, text(&r.path)), (Method::Post, "/v1/accounts"));
    assert_eq!(text(&r.body), r#"{"session_id":"s-1\"x"}"#);

    let r = render(&j.steps[3], 0, &values, &[]);
    assert_eq!((r.method, text(&r.path)), (Method::Put, "/v1/keys"));
    assert_eq!(
        headers(&r),
        h(&[region, ("authorization", "Bearer 7.abc"), json])
    );
    assert_eq!(
        text(&r.body),
        format!(r#"{{"identity_key":"{KEY_42}","prekeys":["{KEY_42}"]}}"#)
    );

    let disc = &j.steps[4];
    let d = disc
        .discovery
        .as_ref()
        .unwrap_or_else(|| panic!("discover has no discovery"));
    assert_eq!((d.batch_size, d.check), (2048, true));
    let r = render(disc, 0, &values, &contacts());
    assert_eq!(text(&r.path), "/v1/discovery");
    assert_eq!(
        headers(&r),
        h(&[region, ("authorization", "Bearer 7.abc"), json])
    );
    assert_eq!(
        text(&r.body),
        format!(r#"{{"hashes":["{HEX16_US}","{HEX16_UK}","{HEX16_IN}"],"prev":[],"token":""}}"#)
    );
    assert_eq!(r.base_url, None);
}

#[test]
fn reference_without_keys_and_get_builtin() {
    let (j, steps) = builtin("reference", false);
    assert_eq!(
        steps,
        ["request_code", "verify_code", "register", "discover"]
    );
    assert!(
        j.steps
            .iter()
            .all(|s| s.rounds() == 1 && !s.http2 && s.timeout.is_none())
    );
    let (g, steps) = builtin("get", false);
    assert_eq!(steps, ["get"]);
    let r = render(&g.steps[0], 0, &[], &[]);
    assert_eq!(
        (r.method, text(&r.path), r.headers.len(), r.body.len()),
        (Method::Get, "/", 0, 0)
    );
}

#[test]
fn declarative_reference_equals_builtin() {
    let text = builtin_text("reference").unwrap_or_default();
    let mut declared = parse_journey(text, "reference.toml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let spec = builtin_journey("reference", true).unwrap_or_else(|| panic!("builtin"));
    // The text carries the connected phase, which the built-in takes only with `connect = true`.
    assert!(declared.connect.take().is_some());
    // ... and the wait for the code, which it takes only with `wait_for_code = true`.
    assert!(declared.steps[0].code_wait.take().is_some());
    assert_eq!(declared, spec);
}

fn discovery_journey(encoding: &str, body: &str) -> Journey {
    compile(&format!(
        r#"
[journey]
[[journey.steps]]
name = "d"
method = "POST"
path = "/d"
body = '{body}'
discovery = {{ batch = 8, encoding = "{encoding}" }}
"#
    ))
}

#[test]
fn each_contact_encoding_is_byte_exact() {
    let cases = [
        (
            "e164",
            r#"["+15550001234","+447700900123","+919876543210"]"#.to_string(),
        ),
        (
            "digits",
            r#"["15550001234","447700900123","919876543210"]"#.to_string(),
        ),
        (
            "sha256-hex16",
            format!(r#"["{HEX16_US}","{HEX16_UK}","{HEX16_IN}"]"#),
        ),
        (
            "matrix-localpart",
            r#"["surge3","surgen447700900123","surge17"]"#.to_string(),
        ),
    ];
    for (enc, want) in cases {
        let j = discovery_journey(enc, r#"{"c":{contacts},"n":{batch_len}}"#);
        let r = render(&j.steps[0], 0, &[], &contacts());
        assert_eq!(
            text(&r.body),
            format!(r#"{{"c":{want},"n":3}}"#),
            "encoding {enc}"
        );
    }
    let one = [contacts()[0]];
    let j = discovery_journey("sha256-hex", r#"{"c":{contacts}}"#);
    assert_eq!(
        text(&render(&j.steps[0], 0, &[], &one).body),
        format!(r#"{{"c":["{HEX_US}"]}}"#)
    );
    let j = discovery_journey("sha256-b64", r#"{"c":{contacts}}"#);
    assert_eq!(
        text(&render(&j.steps[0], 0, &[], &one).body),
        format!(r#"{{"c":["{B64_US}"]}}"#)
    );
    let empty = render(&j.steps[0], 0, &[], &[]);
    assert_eq!(text(&empty.body), r#"{"c":[]}"#);
}

#[test]
fn encoded_batch_renders_like_on_the_fly() {
    let j = discovery_journey("sha256-hex16", r#"{"hashes":{contacts},"n":{batch_len}}"#);
    let step = &j.steps[0];
    let d = step
        .discovery
        .as_ref()
        .unwrap_or_else(|| panic!("no discovery"));
    let mut enc = EncodedBatch::default();
    d.encode(&contacts(), &mut enc);
    assert_eq!(enc.len(), 3);
    assert_eq!(enc.get(1), Some(HEX16_UK.as_bytes()));
    let p = person();
    let ctx = Ctx {
        plan_secret: SECRET,
        person: &p,
        region_name: "x",
        code: "",
        values: &[],
        batch: &[],
    };
    let mut out = RequestBuf::default();
    step.build_encoded(0, &ctx, &enc, &mut out);
    assert_eq!(out.body, render(step, 0, &[], &contacts()).body);
}

#[test]
fn paths_forms_and_headers_escape_their_values() {
    let j = compile(
        r#"
[journey]
headers = { "x-who" = "{region}/{user_id}" }
[[journey.steps]]
name = "a"
path = "/a"
extract = { v = "/v" }
[[journey.steps]]
name = "f"
method = "patch"
path = "/u/{phone}/x?r={region}&v={v}"
form = "who={phone}&pw={password}&list={contacts}&v={v}"
headers = { "x-val" = "[{v}]", "content-type" = "text/plain" }
discovery = { batch = 4, encoding = "e164" }
http = "2"
timeout = "1.5s"
[[journey.steps]]
name = "g"
path = "/g/{v}"
base = "http://127.0.0.1:9/"
"#,
    );
    let step = &j.steps[1];
    assert!(step.http2 && !j.steps[0].http2);
    assert_eq!(step.timeout, Some(Duration::from_millis(1500)));
    let p = person();
    let batch = &contacts()[..2];
    let values = [Some("a b&c/\r\nX: y".to_string())];
    let ctx = Ctx {
        plan_secret: SECRET,
        person: &p,
        region_name: "new york",
        code: "",
        values: &values,
        batch,
    };
    let mut r = RequestBuf::default();
    step.build(0, &ctx, &mut r);
    assert_eq!(r.method, Method::Patch);
    let v = "a%20b%26c%2F%0D%0AX%3A%20y";
    assert_eq!(
        text(&r.path),
        format!("/u/%2B15550001234/x?r=new%20york&v={v}")
    );
    assert_eq!(
        text(&r.body),
        format!("who=%2B15550001234&pw={PW_42}&list=%2B15550001234%2C%2B447700900123&v={v}")
    );
    let want = h(&[
        ("x-who", "new york/42"),
        ("content-type", "text/plain"),
        ("x-val", "[a b&c/X: y]"),
    ]);
    assert_eq!(headers(&r), want);
    j.steps[2].build(0, &ctx, &mut r);
    assert_eq!(text(&r.path), format!("/g/{v}"));
    assert_eq!(headers(&r), h(&[("x-who", "new york/42")]));
    assert!(r.body.is_empty());
    assert_eq!(r.base_url.as_deref(), Some("http://127.0.0.1:9/"));
    j.steps[0].build(0, &ctx, &mut r);
    assert_eq!(r.base_url, None);
}

#[test]
fn header_values_drop_line_breaks() {
    let j = compile(
        r#"
[journey]
[[journey.steps]]
name = "a"
path = "/a"
extract = { t = "/t" }
[[journey.steps]]
name = "b"
path = "/b"
headers = { authorization = "Bearer {t}" }
"#,
    );
    let values = [Some("tok\r\nx-evil: 1".to_string())];
    let r = render(&j.steps[1], 0, &values, &[]);
    assert_eq!(headers(&r), h(&[("authorization", "Bearer tokx-evil: 1")]));
}

#[test]
fn json_escaping_and_bare_values() {
    let j = compile(
        r#"
[journey]
[[journey.steps]]
name = "a"
path = "/a"
extract = { s = "/s", n = "/n" }
[[journey.steps]]
name = "b"
method = "POST"
path = "/b"
body = '{"in":"<{s}>","bare":{s},"num":{n},"uid":{user_id},"ph":{phone}}'
"#,
    );
    // slots: first extraction in journey order; names sorted within one extract table (n, s)
    let values = [
        Some("-12.5e3".to_string()),
        Some("q\"b\\s\n\t\u{1}é".to_string()),
    ];
    let r = render(&j.steps[1], 0, &values, &[]);
    let want = r#"{"in":"<q\"b\\s\n\t\u0001é>","bare":"q\"b\\s\n\t\u0001é","num":-12.5e3,"uid":42,"ph":"+15550001234"}"#;
    assert_eq!(text(&r.body), want);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_ok());
    let values = [Some("12abc".to_string()), Some("x".to_string())];
    let r = render(&j.steps[1], 0, &values, &[]);
    assert!(
        text(&r.body).contains(r#""num":"12abc""#),
        "not a number: quoted"
    );
}

#[test]
fn buffers_are_reused_between_requests() {
    let (j, _) = builtin("reference", false);
    let values = vec![Some("s".to_string()), Some("t".to_string())];
    let batch = contacts();
    let p = person();
    let ctx = Ctx {
        plan_secret: SECRET,
        person: &p,
        region_name: "americas",
        code: "1",
        values: &values,
        batch: &batch,
    };
    let mut out = RequestBuf::default();
    for step in &j.steps {
        step.build(0, &ctx, &mut out);
    }
    let before = (
        out.body.as_ptr(),
        out.body.capacity(),
        out.path.as_ptr(),
        out.headers.capacity(),
    );
    for _ in 0..3 {
        for step in &j.steps {
            step.build(0, &ctx, &mut out);
        }
    }
    let after = (
        out.body.as_ptr(),
        out.body.capacity(),
        out.path.as_ptr(),
        out.headers.capacity(),
    );
    assert_eq!(before, after, "a warmed-up buffer is not reallocated");
    assert_eq!(out.headers.len(), 3);
}

/// The verification code (a SHA-256 per person) is derived only for journeys that send it: the
/// reference journey's `verify_code` step does, the one-GET journey does not.
#[test]
fn a_journey_knows_whether_it_sends_the_code() {
    let (reference, _) = builtin("reference", true);
    assert!(reference.uses_code);
    assert!(reference.steps[1].uses_code() && !reference.steps[0].uses_code());
    let (get, _) = builtin("get", false);
    assert!(!get.uses_code);
}
