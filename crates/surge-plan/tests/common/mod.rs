//! Helpers shared by the journey tests.
#![allow(dead_code)]

use std::time::Duration;

use surge_plan::journey::{self, Ctx, Journey, RequestBuf, Step};
use surge_plan::{Contact, Person, Phone};
use surge_profile::journey::{builtin_journey, parse_journey};

pub const SECRET: &str = "surge-staging-secret";
// Hand-computed with Python's hashlib: sha256(E.164) and derived secrets.
pub const HEX16_US: &str = "b275013166a65f69"; // +15550001234
pub const HEX16_UK: &str = "a8acc3a90a7b4e4d"; // +447700900123
pub const HEX16_IN: &str = "f3a47ce5ce3d4ca8"; // +919876543210
pub const HEX_US: &str = "b275013166a65f6948b0bd3076d8fb52d37f6d2855985cb5573a210f1a7588fb";
pub const B64_US: &str = "snUBMWamX2lIsL0wdtj7UtN/bShVmFy1VzohDxp1iPs=";
pub const KEY_42: &str = "yQHvYNZ6xRFnFIe2TNCzz44FiuJXOQD9Y5inLQalTFc="; // base64 sha256("surge-staging-secret:key:42")
pub const PW_42: &str = "e916cd1a6288fbee"; // sha256("surge-staging-secret:pw:42") hex[..16]

pub fn person() -> Person {
    Person {
        index: 42,
        region: 0,
        phone: Phone(15550001234),
        arrival: Duration::ZERO,
    }
}

pub fn contacts() -> Vec<Contact> {
    vec![
        Contact {
            phone: Phone(15550001234),
            user: Some(3),
        },
        Contact {
            phone: Phone(447700900123),
            user: None,
        },
        Contact {
            phone: Phone(919876543210),
            user: Some(17),
        },
    ]
}

pub fn compile(text: &str) -> Journey {
    let spec = match parse_journey(text, "test.toml", &[]) {
        Ok(s) => s,
        Err(e) => panic!("journey does not validate: {e}"),
    };
    let mut steps = Vec::new();
    match journey::compile(&spec, SECRET, &mut steps) {
        Ok(j) => j,
        Err(e) => panic!("journey does not compile: {e}"),
    }
}

pub fn builtin(name: &str, keys: bool) -> (Journey, Vec<String>) {
    let spec = builtin_journey(name, keys).unwrap_or_else(|| panic!("no builtin {name}"));
    let mut steps = Vec::new();
    let j = journey::compile(&spec, SECRET, &mut steps).unwrap_or_else(|e| panic!("{e}"));
    (j, steps)
}

pub fn render(
    step: &Step,
    round: usize,
    values: &[Option<String>],
    batch: &[Contact],
) -> RequestBuf {
    let p = person();
    let ctx = Ctx {
        plan_secret: SECRET,
        person: &p,
        region_name: "americas",
        code: "123456",
        values,
        batch,
    };
    let mut out = RequestBuf::default();
    step.build(round, &ctx, &mut out);
    out
}

pub fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("<not utf-8>")
}

pub fn headers(r: &RequestBuf) -> Vec<(String, String)> {
    r.headers
        .iter()
        .map(|(n, v)| (n.clone(), text(v).to_string()))
        .collect()
}

pub fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}
