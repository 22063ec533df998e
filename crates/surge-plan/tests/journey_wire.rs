//! Journeys against a real HTTP/1.1 server on 127.0.0.1:0 that checks what it receives.
//!
//! The server speaks a miniature of the reference API and of the Matrix API. It parses every
//! request body as JSON and checks it (the verification code must be the one derived from the
//! number, the session id must come back exactly as issued, even with quotes and non-ASCII in it),
//! so a wrong byte in a rendered template fails the journey.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use surge_plan::journey::{self, Ctx, Journey, RequestBuf, Step};
use surge_plan::{Contact, Person, Phone, verification_code};
use surge_profile::journey::builtin_journey;

const SECRET: &str = "wire-secret";

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    raw: Vec<u8>,
    body: Value,
}

struct Reply(u16, Vec<(&'static str, String)>, Value);

#[derive(Default)]
struct Backend {
    sessions: HashMap<String, u64>,
    verified: HashMap<String, bool>,
    accounts: HashMap<u64, String>,
    seen: Vec<Vec<u8>>,
}

fn digits_of(number: &str) -> u64 {
    number.trim_start_matches('+').parse().unwrap_or(0)
}

fn hash16(phone: u64) -> String {
    surge_plan::discovery_hash_hex(Phone(phone))
}

impl Backend {
    fn handle(&mut self, r: &Request) -> Reply {
        self.seen.push(r.raw.clone());
        let auth = r.headers.get("authorization").cloned().unwrap_or_default();
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/v1/verification/code") => {
                let number = r.body["number"].as_str().unwrap_or("");
                let sid = format!("s\"{}\\é", self.sessions.len());
                self.sessions.insert(sid.clone(), digits_of(number));
                Reply(202, vec![], json!({ "session_id": sid }))
            }
            ("PUT", "/v1/verification/code") => {
                let sid = r.body["session_id"].as_str().unwrap_or("");
                let Some(&phone) = self.sessions.get(sid) else {
                    return Reply(404, vec![], json!({}));
                };
                if r.body["code"].as_str() != Some(&verification_code(SECRET, Phone(phone))) {
                    return Reply(403, vec![], json!({}));
                }
                self.verified.insert(sid.to_string(), true);
                Reply(200, vec![], json!({ "verified": true }))
            }
            ("POST", "/v1/accounts") => {
                let sid = r.body["session_id"].as_str().unwrap_or("");
                match (self.verified.get(sid), self.sessions.get(sid)) {
                    (Some(true), Some(&phone)) => {
                        let token = format!("tok{phone}");
                        self.accounts.insert(phone, token.clone());
                        Reply(201, vec![], json!({ "account_id": phone, "token": token }))
                    }
                    _ => Reply(403, vec![], json!({})),
                }
            }
            ("POST", "/v1/discovery")
                if self
                    .accounts
                    .values()
                    .any(|t| auth == format!("Bearer {t}")) =>
            {
                let registered: Vec<String> = self.accounts.keys().map(|p| hash16(*p)).collect();
                let asked = r.body["hashes"].as_array().cloned().unwrap_or_default();
                let found: Vec<&Value> = asked
                    .iter()
                    .filter(|h| registered.iter().any(|r| Some(r.as_str()) == h.as_str()))
                    .collect();
                Reply(
                    200,
                    vec![("x-found", found.len().to_string())],
                    json!({ "found": found }),
                )
            }
            (_, p) if p.starts_with("/_matrix/") => self.matrix(r, &auth),
            _ => Reply(401, vec![], json!({ "error": "no route or bad token" })),
        }
    }

    fn matrix(&mut self, r: &Request, auth: &str) -> Reply {
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/_matrix/client/v3/register") => match r.body["auth"]["session"].as_str() {
                None => Reply(
                    401,
                    vec![],
                    json!({ "session": "sess-1", "flows": [{ "stages": ["m.login.dummy"] }] }),
                ),
                Some("sess-1") if r.body["auth"]["type"] == "m.login.dummy" => {
                    let user = r.body["username"].as_str().unwrap_or("").to_string();
                    self.accounts.insert(0, "mx".into());
                    Reply(
                        200,
                        vec![],
                        json!({ "user_id": format!("@{user}:hs"), "access_token": "mx" }),
                    )
                }
                Some(_) => Reply(401, vec![], json!({ "errcode": "M_UNKNOWN" })),
            },
            ("POST", "/_matrix/client/v3/user_directory/search") if auth == "Bearer mx" => {
                let term = r.body["search_term"].as_str().unwrap_or("");
                let users = ["surge3", "surge30", "surge17"];
                let hits: Vec<Value> = users
                    .iter()
                    .filter(|u| u.starts_with(term))
                    .map(|u| json!({ "user_id": format!("@{u}:hs") }))
                    .collect();
                Reply(200, vec![], json!({ "limited": false, "results": hits }))
            }
            _ => Reply(404, vec![], json!({ "errcode": "M_UNRECOGNIZED" })),
        }
    }
}

fn read_request(stream: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut raw = Vec::new();
    let mut line = String::new();
    let mut headers = HashMap::new();
    stream.read_line(&mut line).ok()?;
    raw.extend_from_slice(line.as_bytes());
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    loop {
        line.clear();
        stream.read_line(&mut line).ok()?;
        raw.extend_from_slice(line.as_bytes());
        let Some((k, v)) = line.trim_end().split_once(": ") else {
            break;
        };
        headers.insert(k.to_string(), v.to_string());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    stream.read_exact(&mut body).ok()?;
    raw.extend_from_slice(&body);
    let body = if len == 0 {
        Value::Null
    } else {
        serde_json::from_slice(&body).ok()?
    };
    Some(Request {
        method,
        path,
        headers,
        raw,
        body,
    })
}

/// Serves up to `max` connections, one request each; returns the address and the backend.
fn serve(max: usize) -> (String, Arc<Mutex<Backend>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let backend = Arc::new(Mutex::new(Backend::default()));
    let b = Arc::clone(&backend);
    thread::spawn(move || {
        for stream in listener.incoming().take(max).flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let Ok(clone) = stream.try_clone() else {
                continue;
            };
            let mut reader = BufReader::new(clone);
            let reply = match read_request(&mut reader) {
                Some(req) => {
                    b.lock()
                        .map(|mut b| b.handle(&req))
                        .unwrap_or(Reply(500, vec![], json!({})))
                }
                None => Reply(400, vec![], json!({ "error": "unparsable request" })),
            };
            let body = reply.2.to_string();
            let mut out = format!(
                "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                reply.0,
                body.len()
            );
            for (k, v) in reply.1 {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            out.push_str(&body);
            let mut stream = stream;
            let _ = stream.write_all(out.as_bytes());
        }
    });
    (addr, backend)
}

struct Answer {
    status: u16,
    headers: HashMap<String, Vec<u8>>,
    body: Vec<u8>,
}

/// Sends `req` as HTTP/1.1 and reads the answer (the server closes the connection).
fn send(addr: &str, req: &RequestBuf) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\n",
        req.method.as_str(),
        String::from_utf8_lossy(&req.path)
    );
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {}\r\n", String::from_utf8_lossy(v)));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        req.body.len()
    ));
    let mut wire = head.into_bytes();
    wire.extend_from_slice(&req.body);
    s.write_all(&wire).unwrap_or_else(|e| panic!("write: {e}"));
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(all.len());
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
        .collect();
    Answer {
        status,
        headers,
        body: all.get(split + 4..).unwrap_or_default().to_vec(),
    }
}

fn compile(name: &str) -> Journey {
    let spec = builtin_journey(name, false).unwrap_or_else(|| panic!("no builtin {name}"));
    journey::compile(&spec, SECRET, &mut Vec::new()).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs every round of `step`; returns the last answer.
fn run_step(addr: &str, step: &Step, ctx: &Ctx, values: &mut Vec<Option<String>>) -> Answer {
    let mut req = RequestBuf::default();
    let mut last = None;
    for round in 0..step.rounds() {
        let c = Ctx { values, ..*ctx };
        step.build(round, &c, &mut req);
        let a = send(addr, &req);
        let hdr = |h: &str| a.headers.get(h).cloned();
        if let Err(e) = step.accept(round, a.status, &hdr, &a.body, values) {
            panic!(
                "step {} round {round}: {e} (answer {})",
                step.name,
                String::from_utf8_lossy(&a.body)
            );
        }
        last = Some(a);
    }
    last.unwrap_or_else(|| panic!("step {} has no rounds", step.name))
}

#[test]
fn reference_journey_passes_a_checking_server() {
    let (addr, backend) = serve(16);
    let j = compile("reference");
    let person = Person {
        index: 5,
        region: 1,
        phone: Phone(447_700_900_123),
        arrival: Duration::ZERO,
    };
    let code = verification_code(SECRET, person.phone);
    // the person registers themself, so their own number is in the batch and must be found
    let batch = [
        Contact {
            phone: Phone(15_550_001_234),
            user: Some(1),
        },
        Contact {
            phone: person.phone,
            user: Some(5),
        },
    ];
    let ctx = Ctx {
        plan_secret: SECRET,
        person: &person,
        region_name: "europe",
        code: &code,
        values: &[],
        batch: &batch,
    };
    let mut values = vec![None; j.value_slots];
    let mut found = Vec::new();
    for step in &j.steps {
        let a = run_step(&addr, step, &ctx, &mut values);
        if let Some(d) = &step.discovery {
            assert_eq!(d.found(&a.body, &batch, &mut found), Ok(()));
        }
    }
    assert_eq!(found, [false, true]);
    assert_eq!(
        values[0].as_deref(),
        Some("s\"0\\é"),
        "session id round-trips through JSON escaping"
    );
    let seen = backend.lock().map(|b| b.seen.clone()).unwrap_or_default();
    assert_eq!(seen.len(), 4);
    let first = format!(
        "POST /v1/verification/code HTTP/1.1\r\nhost: {addr}\r\nx-surge-region: europe\r\n\
         content-type: application/json\r\ncontent-length: 26\r\nconnection: close\r\n\r\n\
         {{\"number\":\"+447700900123\"}}"
    );
    assert_eq!(String::from_utf8_lossy(&seen[0]), first);
    let verify = String::from_utf8_lossy(&seen[1]).into_owned();
    assert!(
        verify.ends_with(&format!(
            "{{\"session_id\":\"s\\\"0\\\\é\",\"code\":\"{code}\"}}"
        )),
        "{verify}"
    );
}

#[test]
fn a_wrong_code_fails_the_journey_with_a_status() {
    let (addr, _backend) = serve(4);
    let j = compile("reference");
    let person = Person {
        index: 6,
        region: 0,
        phone: Phone(15_550_009_999),
        arrival: Duration::ZERO,
    };
    let ctx = Ctx {
        plan_secret: SECRET,
        person: &person,
        region_name: "americas",
        code: "000000",
        values: &[],
        batch: &[],
    };
    let mut values = vec![None; j.value_slots];
    run_step(&addr, &j.steps[0], &ctx, &mut values);
    let mut req = RequestBuf::default();
    j.steps[1].build(
        0,
        &Ctx {
            values: &values,
            ..ctx
        },
        &mut req,
    );
    let a = send(&addr, &req);
    let hdr = |h: &str| a.headers.get(h).cloned();
    let got = j.steps[1].accept(0, a.status, &hdr, &a.body, &mut values);
    assert_eq!(got, Err(journey::StepFailure::UnexpectedStatus(403)));
}

#[test]
fn matrix_journey_passes_interactive_auth_and_directory_search() {
    let (addr, backend) = serve(8);
    let j = compile("matrix");
    let person = Person {
        index: 42,
        region: 0,
        phone: Phone(15_550_001_234),
        arrival: Duration::ZERO,
    };
    let contacts = [
        Contact {
            phone: Phone(15_550_000_003),
            user: Some(3),
        },
        Contact {
            phone: Phone(15_550_000_004),
            user: Some(4),
        },
        Contact {
            phone: Phone(15_550_000_017),
            user: None,
        },
    ];
    let ctx = Ctx {
        plan_secret: SECRET,
        person: &person,
        region_name: "x",
        code: "",
        values: &[],
        batch: &[],
    };
    let mut values = vec![None; j.value_slots];
    run_step(&addr, &j.steps[0], &ctx, &mut values);
    let disc = &j.steps[1];
    let Some(d) = disc.discovery.as_ref() else {
        panic!("no discovery")
    };
    let mut found = Vec::new();
    let mut all = Vec::new();
    for chunk in contacts.chunks(d.batch_size) {
        let a = run_step(
            &addr,
            disc,
            &Ctx {
                batch: chunk,
                ..ctx
            },
            &mut values,
        );
        assert_eq!(d.found(&a.body, chunk, &mut found), Ok(()));
        all.extend_from_slice(&found);
    }
    // surge3 exists (and surge30 is only a prefix match), surge4 does not, a never-join number never is
    assert_eq!(all, [true, false, false]);
    let seen = backend.lock().map(|b| b.seen.len()).unwrap_or(0);
    assert_eq!(seen, 5, "two register rounds and one search per contact");
}
