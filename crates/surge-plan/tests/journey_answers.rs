//! Reading answers: status checks, extraction by pointer and header, multi-round steps, and
//! `Discovery::found` on good and garbage answers.

mod common;

use common::*;
use surge_plan::journey::{EncodedBatch, Method, StepFailure};

fn no_headers(_: &str) -> Option<Vec<u8>> {
    None
}

#[test]
fn extraction_by_pointer_and_header() {
    let j = compile(
        r#"
[journey]
[[journey.steps]]
name = "a"
path = "/a"
expect = [200, 201]
extract = { s = "/data/0/id", n = "/n", loc = "header:Location", obj = "/o" }
"#,
    );
    let step = &j.steps[0];
    let mut values = vec![None; j.value_slots];
    let hdr = |name: &str| (name == "location").then(|| b"/next/1".to_vec());
    let body = br#"{"data":[{"id":"abc"}],"n":17,"o":{"k":[1,true]}}"#;
    assert_eq!(step.accept(0, 201, &hdr, body, &mut values), Ok(()));
    let got: Vec<&str> = values
        .iter()
        .map(|v| v.as_deref().unwrap_or("<none>"))
        .collect();
    // slots are allocated in name order within a step (the extract table is sorted)
    assert_eq!(got, ["/next/1", "17", r#"{"k":[1,true]}"#, "abc"]);

    assert_eq!(
        step.accept(0, 500, &hdr, body, &mut values),
        Err(StepFailure::UnexpectedStatus(500))
    );
    assert_eq!(
        step.accept(0, 204, &hdr, body, &mut values),
        Err(StepFailure::UnexpectedStatus(204))
    );
    let missing = step.accept(0, 200, &hdr, br#"{"data":[],"n":1,"o":{}}"#, &mut values);
    assert!(
        matches!(missing, Err(StepFailure::Extraction { ref what }) if what.contains("/data/0/id")),
        "{missing:?}"
    );
    let not_json = step.accept(0, 200, &hdr, b"<html>", &mut values);
    assert!(
        matches!(not_json, Err(StepFailure::Extraction { ref what }) if what.contains("not JSON")),
        "{not_json:?}"
    );
    let no_header = step.accept(0, 200, &no_headers, body, &mut values);
    assert!(
        matches!(no_header, Err(StepFailure::Extraction { ref what }) if what.contains("location"))
    );
    let null = step.accept(
        0,
        200,
        &hdr,
        br#"{"data":[{"id":null}],"n":1,"o":{}}"#,
        &mut values,
    );
    assert!(matches!(null, Err(StepFailure::Extraction { .. })));
}

#[test]
fn matrix_register_runs_two_rounds_then_searches_per_contact() {
    let (j, steps) = builtin("matrix", false);
    assert_eq!(steps, ["register", "discover"]);
    let reg = &j.steps[0];
    assert_eq!(reg.rounds(), 2);
    let mut values = vec![None; j.value_slots];
    let r = render(reg, 0, &values, &[]);
    assert_eq!(
        (r.method, text(&r.path)),
        (Method::Post, "/_matrix/client/v3/register")
    );
    assert_eq!(
        text(&r.body),
        format!(r#"{{"username":"surge42","password":"{PW_42}"}}"#)
    );
    assert_eq!(
        reg.accept(0, 200, &no_headers, b"{}", &mut values),
        Err(StepFailure::UnexpectedStatus(200))
    );
    let first = br#"{"session":"xyzzy","flows":[{"stages":["m.login.dummy"]}],"params":{}}"#;
    assert_eq!(reg.accept(0, 401, &no_headers, first, &mut values), Ok(()));
    let r = render(reg, 1, &values, &[]);
    let want = format!(
        r#"{{"username":"surge42","password":"{PW_42}","auth":{{"type":"m.login.dummy","session":"xyzzy"}}}}"#
    );
    assert_eq!(text(&r.body), want);
    let done = br#"{"user_id":"@surge42:hs","access_token":"syt_abc","device_id":"D"}"#;
    assert_eq!(reg.accept(1, 200, &no_headers, done, &mut values), Ok(()));

    let disc = &j.steps[1];
    let d = disc
        .discovery
        .as_ref()
        .unwrap_or_else(|| panic!("no discovery"));
    assert_eq!(d.batch_size, 1);
    let r = render(disc, 0, &values, &contacts()[2..]);
    assert_eq!(text(&r.path), "/_matrix/client/v3/user_directory/search");
    assert_eq!(
        headers(&r),
        h(&[
            ("authorization", "Bearer syt_abc"),
            ("content-type", "application/json")
        ])
    );
    assert_eq!(text(&r.body), r#"{"search_term":"surge17","limit":50}"#);
    let r = render(disc, 0, &values, &contacts()[1..2]);
    assert_eq!(
        text(&r.body),
        r#"{"search_term":"surgen447700900123","limit":50}"#
    );

    let mut out = Vec::new();
    let answer = br#"{"limited":false,"results":[{"user_id":"@surge170:hs"},{"user_id":"@surge17:hs","display_name":"x"}]}"#;
    assert_eq!(d.found(answer, &contacts()[2..], &mut out), Ok(()));
    assert_eq!(out, [true]);
    let answer = br#"{"limited":false,"results":[{"user_id":"@surge170:hs"}]}"#;
    assert_eq!(d.found(answer, &contacts()[2..], &mut out), Ok(()));
    assert_eq!(out, [false]);
}

#[test]
fn found_decodes_reference_answers() {
    let (j, _) = builtin("reference", false);
    let d = j.steps[3]
        .discovery
        .as_ref()
        .unwrap_or_else(|| panic!("no discovery"));
    let batch = contacts();
    let mut out = vec![true; 7];
    let body = format!(r#"{{"found":["{HEX16_IN}","{HEX16_US}"]}}"#);
    assert_eq!(d.found(body.as_bytes(), &batch, &mut out), Ok(()));
    assert_eq!(out, [true, false, true]);
    assert_eq!(d.found(br#"{"found":[]}"#, &batch, &mut out), Ok(()));
    assert_eq!(out, [false, false, false]);

    let mut enc = EncodedBatch::default();
    d.encode(&batch, &mut enc);
    assert_eq!(
        d.found_encoded(body.as_bytes(), &batch, &enc, &mut out),
        Ok(())
    );
    assert_eq!(out, [true, false, true]);

    let garbage: [&[u8]; 8] = [
        b"",
        b"not json",
        br#"{"found":"b275013166a65f69"}"#,
        br#"{"nope":[]}"#,
        br#"{"found":[1,2]}"#,
        br#"{"found":["0000000000000000"]}"#,
        br#"[]"#,
        &[0xff, 0xfe, b'{'],
    ];
    for g in garbage {
        let got = d.found(g, &batch, &mut out);
        assert!(
            matches!(got, Err(StepFailure::WrongAnswer { .. })),
            "{:?} -> {got:?}",
            text(g)
        );
    }
}

#[test]
fn random_answers_never_panic() {
    let (j, _) = builtin("reference", false);
    let (m, _) = builtin("matrix", false);
    let steps = [&j.steps[0], &j.steps[3], &m.steps[0], &m.steps[1]];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = br#"{}[]":,0123456789abcdef"found"results"user_id"session@:\ ntrue"#;
    let mut values = vec![None; 4];
    let mut out = Vec::new();
    for _ in 0..3000 {
        let len = (next() % 64) as usize;
        let body: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        for step in steps {
            let _ = step.accept(0, 200, &no_headers, &body, &mut values);
            if let Some(d) = &step.discovery {
                let _ = d.found(&body, &contacts(), &mut out);
            }
        }
    }
}
