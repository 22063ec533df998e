//! Incremental discovery and the wait for a code, as compiled: an incremental lookup renders the
//! numbers seen before in `{prev_contacts}` with the last answer's `{discovery_token}` and only the new
//! ones in `{contacts}`; the answer's token is read back; a code request's answer says when the code
//! lands.

mod common;

use common::{HEX16_IN, HEX16_UK, HEX16_US, SECRET, builtin, compile, contacts, person, text};
use std::time::Duration;
use surge_plan::journey::{CodeDelay, Ctx, EncodedBatch, RequestBuf};

#[test]
fn an_incremental_lookup_sends_seen_numbers_back_with_the_token() {
    let (j, _) = builtin("reference", false);
    let disc = &j.steps[3];
    let d = disc.discovery.as_ref().expect("discover");
    assert!(d.incremental);
    let (p, book) = (person(), contacts());
    let values = vec![Some("s".to_string()), Some("7.abc".to_string())];
    let ctx = Ctx {
        plan_secret: SECRET,
        person: &p,
        region_name: "americas",
        code: "123456",
        values: &values,
        batch: &book,
    };
    let mut enc = EncodedBatch::default();
    let mut out = RequestBuf::default();
    // A first upload: everything is new, no token.
    d.encode_lookup(&book, 0, None, &mut enc);
    disc.build_encoded(0, &ctx, &enc, &mut out);
    assert_eq!(
        text(&out.body),
        format!(r#"{{"hashes":["{HEX16_US}","{HEX16_UK}","{HEX16_IN}"],"prev":[],"token":""}}"#)
    );
    // A re-sync after the book gained one number: the two seen go back with the token.
    d.encode_lookup(&book, 2, Some("1.00ff"), &mut enc);
    assert_eq!((enc.len(), enc.prev_len()), (3, 2));
    disc.build_encoded(0, &ctx, &enc, &mut out);
    assert_eq!(
        text(&out.body),
        format!(
            r#"{{"hashes":["{HEX16_IN}"],"prev":["{HEX16_US}","{HEX16_UK}"],"token":"1.00ff"}}"#
        )
    );
    // The answer lists seen and new numbers: both are checked against the whole lookup.
    let answer = format!(r#"{{"found":["{HEX16_US}","{HEX16_IN}"],"token":"1.abcd"}}"#);
    let mut found = Vec::new();
    d.found_encoded(answer.as_bytes(), &book, &enc, &mut found)
        .expect("a well-formed answer");
    assert_eq!(found, [true, false, true]);
    assert_eq!(d.token_of(answer.as_bytes()).as_deref(), Some("1.abcd"));
    assert_eq!(
        d.token_of(br#"{"found":[]}"#),
        None,
        "no token: the next upload is full"
    );
}

#[test]
fn incremental_lookups_need_their_holes() {
    let head = "[journey]\n[[journey.steps]]\nname = \"d\"\nmethod = \"POST\"\npath = \"/d\"\n";
    let no_prev =
        format!("{head}body = '{{\"h\":{{contacts}}}}'\ndiscovery = {{ incremental = true }}\n");
    let e = surge_profile::journey::parse_journey(&no_prev, "j.toml", &[]).expect_err("no prev");
    assert!(e.to_string().contains("{prev_contacts}"), "{e}");
    let not_incremental = format!(
        "{head}body = '{{\"h\":{{contacts}},\"p\":{{prev_contacts}}}}'\ndiscovery = {{ batch = 5 }}\n"
    );
    let e = surge_profile::journey::parse_journey(&not_incremental, "j.toml", &[])
        .expect_err("prev without incremental");
    assert!(e.to_string().contains("incremental = true"), "{e}");
    let token_alone =
        format!("{head}body = '{{\"h\":{{contacts}}}}'\ndiscovery = {{ token = \"/t\" }}\n");
    let e = surge_profile::journey::parse_journey(&token_alone, "j.toml", &[])
        .expect_err("token without incremental");
    assert!(e.to_string().contains("incremental"), "{e}");
}

#[test]
fn a_code_request_answer_says_when_the_code_lands() {
    let j = compile(
        r#"[journey]
[[journey.steps]]
name = "request_code"
method = "POST"
path = "/code"
body = '{"number":"{phone}"}'
code_wait = { delay = "header:x-surge-code-delay-ms", patience = { kind = "fixed", time = "20s" }, resends = 3 }
[[journey.steps]]
name = "ask"
method = "POST"
path = "/ask"
code_wait = { delay = "/eta_ms", patience = { kind = "uniform", min = "1s", max = "2s" }, metric = "eta" }
"#,
    );
    let w = j.steps[0].code_wait.as_ref().expect("code_wait");
    assert_eq!(w.resends, 3);
    assert_eq!(w.patience.sample(0.5), Duration::from_secs(20));
    let header = |v: Option<&'static str>| {
        move |n: &str| {
            (n == "x-surge-code-delay-ms")
                .then_some(v)
                .flatten()
                .map(|s| s.as_bytes().to_vec())
        }
    };
    assert_eq!(
        w.delay(&header(Some("1500")), b""),
        CodeDelay::After(Duration::from_millis(1500))
    );
    assert_eq!(w.delay(&header(Some("expired")), b""), CodeDelay::Never);
    assert_eq!(w.delay(&header(None), b""), CodeDelay::Unknown);
    let from_body = j.steps[1].code_wait.as_ref().expect("second");
    let none = |_: &str| None;
    assert_eq!(
        from_body.delay(&none, br#"{"eta_ms":250}"#),
        CodeDelay::After(Duration::from_millis(250))
    );
    // Each wait has its own metric step, after its code request.
    assert_ne!(w.metric, from_body.metric);
}
