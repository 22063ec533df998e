//! Every bad journey is refused at load with file:line:column, the field path (with the step's name)
//! and the rule broken.

use surge_profile::ProfileError;
use surge_profile::journey::parse_journey;

/// 1-based (line, column) of the first occurrence of `needle` in `text`.
fn pos_of(text: &str, needle: &str) -> (usize, usize) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the fixture"));
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

fn refused(text: &str) -> ProfileError {
    match parse_journey(text, "bad.toml", &["americas".to_string()]) {
        Ok(spec) => panic!("accepted a bad journey: {spec:?}"),
        Err(e) => e,
    }
}

/// Asserts the error sits at `needle`, names `field` and says `rule`.
fn check(text: &str, needle: &str, field: &str, rule: &str) {
    let e = refused(text);
    let shown = e.to_string();
    let loc = e
        .location
        .as_ref()
        .unwrap_or_else(|| panic!("no location: {shown}"));
    assert_eq!(loc.file, "bad.toml");
    assert_eq!((loc.line, loc.column), pos_of(text, needle), "{shown}");
    assert_eq!(e.field, field, "{shown}");
    assert!(e.rule.contains(rule), "rule {:?} lacks {rule:?}", e.rule);
    assert!(
        shown.starts_with(&format!("bad.toml:{}:{}: ", loc.line, loc.column)),
        "{shown}"
    );
}

const HEAD: &str = "[journey]\n[[journey.steps]]\nname = \"request_code\"\nmethod = \"POST\"\npath = \"/v1/code\"\n";

#[test]
fn unknown_template_variable() {
    let text = format!("{HEAD}body = '{{\"number\":\"{{phnoe}}\"}}'\n");
    check(
        &text,
        "{phnoe}",
        "journey.steps[0](request_code).body",
        "unknown template variable `phnoe`",
    );
}

#[test]
fn value_extracted_by_a_later_step() {
    let text = format!(
        "{HEAD}headers = {{ authorization = \"Bearer {{token}}\" }}\n\
         [[journey.steps]]\nname = \"register\"\npath = \"/r\"\nextract = {{ token = \"/token\" }}\n"
    );
    check(
        &text,
        "{token}",
        "journey.steps[0](request_code).headers.authorization",
        "value `token` is extracted only by a later step (steps[1])",
    );
}

#[test]
fn value_extracted_by_a_later_round() {
    let text = "[journey]\n[[journey.steps]]\nname = \"register\"\npath = \"/r\"\nrounds = [\n  \
                { body = '{\"s\":\"{session}\"}', expect = 401 },\n  \
                { body = '{}', extract = { session = \"/session\" } },\n]\n";
    check(
        text,
        "{session}",
        "journey.steps[0](register).rounds[0].body",
        "only by a later round (rounds[1])",
    );
}

#[test]
fn own_extraction_is_not_yet_known() {
    let text = format!("{HEAD}body = '{{\"t\":\"{{t}}\"}}'\nextract = {{ t = \"/t\" }}\n");
    check(
        &text,
        "{t}",
        "journey.steps[0](request_code).body",
        "by this same request",
    );
}

#[test]
fn malformed_json_body() {
    let text = format!("{HEAD}body = '{{\"number\":\"{{phone}}\",}}'\n");
    check(
        &text,
        "'{\"number\"",
        "journey.steps[0](request_code).body",
        "malformed JSON body",
    );
    let text = format!("{HEAD}body = '{{\"hashes\":{{contacts}}'\ndiscovery = {{ batch = 10 }}\n");
    check(
        &text,
        "'{\"hashes\"",
        "journey.steps[0](request_code).body",
        "malformed JSON body",
    );
}

#[test]
fn contacts_inside_a_json_string() {
    let text = format!("{HEAD}body = '{{\"h\":\"{{contacts}}\"}}'\ndiscovery = {{ batch = 10 }}\n");
    check(
        &text,
        "{contacts}",
        "journey.steps[0](request_code).body",
        "is a JSON array",
    );
}

#[test]
fn contacts_outside_a_discovery_step() {
    let text = format!("{HEAD}body = '{{\"h\":{{contacts}}}}'\n");
    check(
        &text,
        "{contacts}",
        "journey.steps[0](request_code).body",
        "only a step with `discovery`",
    );
}

#[test]
fn invalid_header_name_and_value() {
    let text = format!("{HEAD}headers = {{ \"bad header\" = \"x\" }}\n");
    check(
        &text,
        "\"x\"",
        "journey.steps[0](request_code).headers.bad header",
        "invalid header name",
    );
    let text = format!("{HEAD}headers = {{ \"x-a\" = \"a\\nb\" }}\n");
    check(
        &text,
        "\"a\\nb\"",
        "journey.steps[0](request_code).headers.x-a",
        "invalid header value",
    );
    let text = format!("{HEAD}headers = {{ \"content-length\" = \"3\" }}\n");
    check(
        &text,
        "\"3\"",
        "journey.steps[0](request_code).headers.content-length",
        "set by the client",
    );
    let text =
        "[journey]\nheaders = { \"x y\" = \"1\" }\n[[journey.steps]]\nname = \"a\"\npath = \"/\"\n";
    check(
        text,
        "\"1\"",
        "journey.headers.x y (in journey.steps[0](a))",
        "invalid header name",
    );
}

#[test]
fn bad_pointers() {
    let text = format!("{HEAD}extract = {{ t = \"token\" }}\n");
    check(
        &text,
        "\"token\"",
        "journey.steps[0](request_code).extract.t",
        "invalid JSON pointer",
    );
    let text = format!("{HEAD}extract = {{ t = \"/a~2\" }}\n");
    check(
        &text,
        "\"/a~2\"",
        "journey.steps[0](request_code).extract.t",
        "invalid JSON pointer",
    );
    let text = format!("{HEAD}extract = {{ t = \"header:a b\" }}\n");
    check(
        &text,
        "\"header:a b\"",
        "journey.steps[0](request_code).extract.t",
        "invalid header name",
    );
    let text =
        format!("{HEAD}body = '{{\"h\":{{contacts}}}}'\ndiscovery = {{ answer = \"found\" }}\n");
    check(
        &text,
        "\"found\"",
        "journey.steps[0](request_code).discovery.answer",
        "invalid JSON pointer",
    );
}

#[test]
fn bad_extraction_names() {
    let text = format!("{HEAD}extract = {{ phone = \"/p\" }}\n");
    check(
        &text,
        "\"/p\"",
        "journey.steps[0](request_code).extract.phone",
        "built-in template variable",
    );
    let text = format!("{HEAD}extract = {{ \"a-b\" = \"/p\" }}\n");
    check(
        &text,
        "\"/p\"",
        "journey.steps[0](request_code).extract.a-b",
        "identifiers",
    );
}

#[test]
fn bad_step_fields() {
    let text = HEAD.replace("\"POST\"", "\"FETCH\"");
    check(
        &text,
        "\"FETCH\"",
        "journey.steps[0](request_code).method",
        "expected GET, POST",
    );
    let text = HEAD.replace("\"/v1/code\"", "\"v1/{phone}\"");
    check(
        &text,
        "\"v1/",
        "journey.steps[0](request_code).path",
        "starts with `/`",
    );
    let text = HEAD.replace("\"/v1/code\"", "\"/v1 code\"");
    check(
        &text,
        "\"/v1 code\"",
        "journey.steps[0](request_code).path",
        "visible ASCII",
    );
    let text = format!("{HEAD}expect = [200, 700]\n");
    check(
        &text,
        "[200, 700]",
        "journey.steps[0](request_code).expect",
        "100..=599",
    );
    let text = format!("{HEAD}timeout = \"soon\"\n");
    check(
        &text,
        "\"soon\"",
        "journey.steps[0](request_code).timeout",
        "duration",
    );
    let text = format!("{HEAD}http = \"3\"\n");
    check(
        &text,
        "\"3\"",
        "journey.steps[0](request_code).http",
        "\"1.1\" or \"2\"",
    );
    let text = format!("{HEAD}base = \"mars\"\n");
    check(
        &text,
        "\"mars\"",
        "journey.steps[0](request_code).base",
        "region name",
    );
    let text = format!("{HEAD}body = '{{}}'\nform = \"a=1\"\n");
    check(
        &text,
        "\"a=1\"",
        "journey.steps[0](request_code).form",
        "either `body` or `form`",
    );
}

#[test]
fn duplicate_step_names() {
    let text = format!("{HEAD}[[journey.steps]]\nname = \"request_code\"\npath = \"/\"\n");
    let second = text.rfind("\"request_code\"").unwrap_or(0);
    let e = refused(&text);
    assert_eq!(e.field, "journey.steps[1].name");
    assert!(e.rule.contains("duplicate step name"));
    assert_eq!(
        e.location.map(|l| l.line),
        Some(text[..second].matches('\n').count() + 1)
    );
}

#[test]
fn bad_discovery_settings() {
    let body = "body = '{\"h\":{contacts}}'\n";
    let text = format!("{HEAD}{body}discovery = {{ encoding = \"md5\" }}\n");
    check(
        &text,
        "\"md5\"",
        "journey.steps[0](request_code).discovery.encoding",
        "unknown encoding",
    );
    let text = format!("{HEAD}{body}discovery = {{ batch = 0 }}\n");
    check(
        &text,
        "0 }",
        "journey.steps[0](request_code).discovery.batch",
        "batch is 1..=",
    );
    let text = format!("{HEAD}body = '{{\"c\":{{contact}}}}'\ndiscovery = {{ batch = 5 }}\n");
    check(
        &text,
        "5 }",
        "journey.steps[0](request_code).discovery.batch",
        "set batch = 1",
    );
    let text = format!("{HEAD}body = '{{}}'\ndiscovery = {{ batch = 5 }}\n");
    check(
        &text,
        "{ batch = 5 }",
        "journey.steps[0](request_code).discovery",
        "must send its batch",
    );
}

#[test]
fn bad_think_and_resync() {
    let tail = "[[journey.steps]]\nname = \"a\"\npath = \"/\"\n";
    let text = format!("[journey]\nthink = {{ kind = \"gamma\" }}\n{tail}");
    check(&text, "\"gamma\"", "journey.think.kind", "log-normal");
    let text =
        format!("[journey]\nthink = {{ kind = \"uniform\", min = \"2s\", max = \"1s\" }}\n{tail}");
    check(
        &text,
        "{ kind = \"uniform\"",
        "journey.think.min",
        "must not exceed max",
    );
    let text = format!(
        "[journey]\nthink = {{ kind = \"log-normal\", median = \"1s\", sigma = -1.0 }}\n{tail}"
    );
    check(&text, "-1.0", "journey.think.sigma", "sigma is 0..=5");
    let text = format!("[journey]\nresync = {{ every = \"30s\", times = 2 }}\n{tail}");
    check(
        &text,
        "{ every",
        "journey.resync",
        "needs a step with `discovery`",
    );
}

#[test]
fn unknown_builtin_and_unknown_fields() {
    let text = "journey = \"referense\"\n";
    check(
        text,
        "\"referense\"",
        "journey",
        "unknown built-in journey (known: reference, matrix, get)",
    );
    let text = "[journey]\nbuiltin = \"referense\"\n";
    check(
        text,
        "\"referense\"",
        "journey.builtin",
        "unknown built-in journey",
    );
    let text = format!("{HEAD}bogus = 1\n");
    let e = refused(&text);
    assert!(e.rule.contains("unknown field `bogus`"), "{e}");
    assert_eq!(e.line(), Some(pos_of(&text, "bogus").0), "{e}");
    let text = "[journey]\nname = \"x\"\n";
    assert!(refused(text).rule.contains("needs `steps` or `builtin`"));
    let text = "[journey]\nkeys = true\nsteps = []\n";
    assert!(refused(text).rule.contains("`keys` only applies"));
}

#[test]
fn good_journeys_are_accepted() {
    let text = "[journey]\nbuiltin = \"reference\"\nkeys = true\nname = \"ref-keys\"\n\
                think = { kind = \"fixed\", time = \"250ms\" }\nresync = { every = \"30s\", times = 2 }\n";
    let spec = parse_journey(text, "ok.toml", &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.name, "ref-keys");
    assert_eq!(spec.steps.len(), 5);
    assert_eq!(spec.resync.map(|r| r.times), Some(2));
    let text = format!("{HEAD}base = \"americas\"\nmetric = \"signup\"\n");
    let spec = parse_journey(&text, "ok.toml", &["americas".to_string()])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.steps[0].metric, "signup");
    assert_eq!(spec.steps[0].base.as_deref(), Some("americas"));
}

/// Random single-byte edits of a good journey never panic the validator (bounded: 3000 variants).
#[test]
fn mutated_journeys_never_panic() {
    let good = surge_profile::journey::builtin_text("matrix").unwrap_or_default();
    let alphabet = b"{}[]\"'=,:/~\\\n #abz09_-.";
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut accepted = 0;
    for _ in 0..3000 {
        let mut bytes = good.as_bytes().to_vec();
        for _ in 0..1 + next() % 3 {
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = alphabet[(next() % alphabet.len() as u64) as usize];
        }
        let text = String::from_utf8_lossy(&bytes);
        accepted += usize::from(parse_journey(&text, "fuzz.toml", &[]).is_ok());
    }
    assert!(accepted < 3000, "some edits must be refused");
}
