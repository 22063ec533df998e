//! A miniature Matrix homeserver for tests, on `127.0.0.1:0`: just what the built-in `matrix` journey
//! and its `/sync` long-poll phase use, over real HTTP/1.1 (keep-alive, content-length bodies).
//!
//! - `POST /_matrix/client/v3/register`: interactive auth (401 with a `session` without `auth`; 200
//!   with `user_id`, `access_token`, `home_server` with it; 400 `M_USER_IN_USE` twice);
//! - `POST /_matrix/client/v3/user_directory/search`: the user whose localpart is the search term;
//! - `POST /_matrix/client/v3/createRoom` (`invite`), `POST /_matrix/client/v3/join/{room}`,
//!   `PUT /_matrix/client/v3/rooms/{room}/send/{type}/{txn}`: rooms whose history a joiner sees;
//! - `GET /_matrix/client/v3/sync?since=&timeout=`: every event after `since` (a stream position),
//!   held up to `timeout` ms while there is none: `rooms.invite.<room>` and
//!   `rooms.join.<room>.timeline.events` (a sender's own messages included, as Synapse does).
//!
//! ```no_run
//! # async fn demo() {
//! let hs = surge_testkit::sync::SyncServer::start(surge_testkit::sync::SyncMode::Normal).await;
//! let url = hs.url(); // "http://127.0.0.1:PORT"
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// How the server behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// As described above.
    Normal,
    /// Answer every `n`th held `/sync` (one with a `since`) with 502: clients must reconnect.
    FailEveryNthPoll(u64),
    /// Take each message send this long before accepting it (a loaded homeserver): a message picks
    /// its receiver while connected, and reaches them after that.
    SlowSends(Duration),
    /// A joiner is shown the room's history twice (as Synapse may show a newly joined room's recent
    /// timeline again in a later answer): clients must not count a message twice.
    RepeatHistory,
}

/// A running server.
pub struct SyncServer {
    addr: SocketAddr,
    hs: Arc<Homeserver>,
    task: tokio::task::JoinHandle<()>,
}

impl SyncServer {
    /// Starts the server.
    pub async fn start(mode: SyncMode) -> SyncServer {
        let (listener, addr) = crate::loopback_listener().await;
        let hs = Arc::new(Homeserver {
            mode,
            state: Mutex::default(),
            changed: Notify::new(),
            syncs: AtomicU64::new(0),
            failed_syncs: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            joins: AtomicU64::new(0),
        });
        let shared = hs.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let hs = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, hs).await;
                });
            }
        });
        SyncServer { addr, hs, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `/sync` requests answered (failed ones included).
    pub fn syncs(&self) -> u64 {
        self.hs.syncs.load(Ordering::Relaxed)
    }

    /// `/sync` requests failed on purpose ([`SyncMode::FailEveryNthPoll`]).
    pub fn failed_syncs(&self) -> u64 {
        self.hs.failed_syncs.load(Ordering::Relaxed)
    }

    /// `m.room.message` events accepted.
    pub fn messages(&self) -> u64 {
        self.hs.messages.load(Ordering::Relaxed)
    }

    /// Room joins accepted.
    pub fn joins(&self) -> u64 {
        self.hs.joins.load(Ordering::Relaxed)
    }
}

impl Drop for SyncServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Homeserver {
    mode: SyncMode,
    state: Mutex<State>,
    /// Woken whenever an event is queued.
    changed: Notify,
    syncs: AtomicU64,
    failed_syncs: AtomicU64,
    messages: AtomicU64,
    joins: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Access token -> user id.
    tokens: HashMap<String, String>,
    /// Stream position of the last event.
    pos: u64,
    /// Per user: (position, room, what) in position order.
    queues: HashMap<String, Vec<(u64, String, Item)>>,
    rooms: HashMap<String, Room>,
}

#[derive(Clone)]
enum Item {
    Invite,
    Event(Value),
}

#[derive(Default)]
struct Room {
    joined: Vec<String>,
    invited: Vec<String>,
    events: Vec<Value>,
}

impl State {
    fn push(&mut self, user: &str, room: &str, item: Item) {
        self.pos += 1;
        let pos = self.pos;
        self.queues
            .entry(user.to_string())
            .or_default()
            .push((pos, room.to_string(), item));
    }
}

/// One request, as far as this server cares.
struct Request {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    token: Option<String>,
    body: Value,
}

async fn serve(mut sock: TcpStream, hs: Arc<Homeserver>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let (req, used) = loop {
            match parse(&buf) {
                Ok(Some(r)) => break r,
                Ok(None) => {}
                Err(()) => {
                    return sock
                        .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                        .await;
                }
            }
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await?;
            if n == 0 || buf.len() > 1 << 20 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        buf.drain(..used);
        let (status, body) = hs.answer(req).await;
        let text = body.to_string();
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            text.len()
        );
        sock.write_all(head.as_bytes()).await?;
        sock.write_all(text.as_bytes()).await?;
    }
}

/// A whole request (head and content-length body) and its length, or `None` while partial.
fn parse(buf: &[u8]) -> Result<Option<(Request, usize)>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Request::new(&mut headers);
    let head = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let header = |name: &str| {
        r.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).to_string())
    };
    let len: usize = header("content-length")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if buf.len() < head + len {
        return Ok(None);
    }
    let target = r.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect();
    let body = serde_json::from_slice(&buf[head..head + len]).unwrap_or(Value::Null);
    let req = Request {
        method: r.method.unwrap_or("GET").to_string(),
        path: path.to_string(),
        query,
        token: header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_string)),
        body,
    };
    Ok(Some((req, head + len)))
}

/// Percent-decoding (`%21` -> `!`).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = || u8::from_str_radix(std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?, 16).ok();
        match (b[i], hex()) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

fn error(status: u16, code: &str) -> (u16, Value) {
    (status, json!({"errcode": code, "error": code}))
}

impl Homeserver {
    async fn answer(&self, req: Request) -> (u16, Value) {
        const P: &str = "/_matrix/client/v3/";
        let Some(route) = req.path.strip_prefix(P) else {
            return error(404, "M_UNRECOGNIZED");
        };
        if route == "register" && req.method == "POST" {
            return self.register(&req.body);
        }
        let user = {
            let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            req.token.as_ref().and_then(|t| st.tokens.get(t).cloned())
        };
        let Some(user) = user else {
            return error(401, "M_UNKNOWN_TOKEN");
        };
        let parts: Vec<String> = route.split('/').map(decode).collect();
        match (req.method.as_str(), parts.as_slice()) {
            ("POST", [a, b]) if a == "user_directory" && b == "search" => self.search(&req.body),
            ("GET", [s]) if s == "sync" => self.sync(&user, &req.query).await,
            ("POST", [c]) if c == "createRoom" => self.create_room(&user, &req.body),
            ("POST", [j, room]) if j == "join" => self.join(&user, room),
            ("PUT", [r, room, s, kind, _txn]) if r == "rooms" && s == "send" => {
                if let SyncMode::SlowSends(d) = self.mode {
                    tokio::time::sleep(d).await;
                }
                self.send(&user, room, kind, req.body)
            }
            _ => error(404, "M_UNRECOGNIZED"),
        }
    }

    fn register(&self, body: &Value) -> (u16, Value) {
        let Some(name) = body["username"].as_str() else {
            return error(400, "M_INVALID_USERNAME");
        };
        if body.get("auth").is_none() {
            let flows = json!([{"stages": ["m.login.dummy"]}]);
            return (401, json!({"session": "s", "flows": flows, "params": {}}));
        }
        let user = format!("@{name}:test");
        let token = format!("t-{name}");
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.tokens.contains_key(&token) {
            return error(400, "M_USER_IN_USE");
        }
        st.tokens.insert(token.clone(), user.clone());
        let answer = json!({"user_id": user, "access_token": token, "home_server": "test"});
        (200, answer)
    }

    fn search(&self, body: &Value) -> (u16, Value) {
        let term = body["search_term"].as_str().unwrap_or("");
        let user = format!("@{term}:test");
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let results: Vec<Value> = st
            .tokens
            .values()
            .filter(|u| **u == user)
            .map(|u| json!({"user_id": u}))
            .collect();
        (200, json!({"results": results, "limited": false}))
    }

    fn create_room(&self, user: &str, body: &Value) -> (u16, Value) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let room_id = format!("!r{}:test", st.rooms.len() + 1);
        let invited: Vec<String> = body["invite"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for u in &invited {
            st.push(u, &room_id, Item::Invite);
        }
        st.rooms.insert(
            room_id.clone(),
            Room {
                joined: vec![user.to_string()],
                invited,
                events: Vec::new(),
            },
        );
        drop(st);
        self.changed.notify_waiters();
        (200, json!({"room_id": room_id}))
    }

    fn join(&self, user: &str, room_id: &str) -> (u16, Value) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(room) = st.rooms.get_mut(room_id) else {
            return error(404, "M_NOT_FOUND");
        };
        if !room.invited.iter().any(|u| u == user) {
            return error(403, "M_FORBIDDEN");
        }
        room.invited.retain(|u| u != user);
        room.joined.push(user.to_string());
        // History is shared: the joiner sees what was said before.
        let history = room.events.clone();
        let times = if self.mode == SyncMode::RepeatHistory {
            2
        } else {
            1
        };
        for _ in 0..times {
            for e in &history {
                st.push(user, room_id, Item::Event(e.clone()));
            }
        }
        drop(st);
        self.joins.fetch_add(1, Ordering::Relaxed);
        self.changed.notify_waiters();
        (200, json!({"room_id": room_id}))
    }

    fn send(&self, user: &str, room_id: &str, kind: &str, content: Value) -> (u16, Value) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let event_id = format!("$e{}", st.pos + 1);
        let Some(room) = st.rooms.get_mut(room_id) else {
            return error(404, "M_NOT_FOUND");
        };
        if !room.joined.iter().any(|u| u == user) {
            return error(403, "M_FORBIDDEN");
        }
        let event = json!({"type": kind, "sender": user, "event_id": event_id, "content": content});
        room.events.push(event.clone());
        let members = room.joined.clone();
        for m in members {
            st.push(&m, room_id, Item::Event(event.clone()));
        }
        drop(st);
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.changed.notify_waiters();
        (200, json!({"event_id": event_id}))
    }

    async fn sync(&self, user: &str, query: &BTreeMap<String, String>) -> (u16, Value) {
        let n = self.syncs.fetch_add(1, Ordering::Relaxed) + 1;
        let since: Option<u64> = query.get("since").and_then(|s| s.parse().ok());
        if let (SyncMode::FailEveryNthPoll(every), Some(_)) = (self.mode, since)
            && every > 0
            && n.is_multiple_of(every)
        {
            self.failed_syncs.fetch_add(1, Ordering::Relaxed);
            return error(502, "M_UNKNOWN");
        }
        let since = since.unwrap_or(0);
        let wait = query
            .get("timeout")
            .and_then(|t| t.parse().ok())
            .map_or(Duration::ZERO, Duration::from_millis);
        let until = tokio::time::Instant::now() + wait.min(Duration::from_secs(60));
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(answer) = self.events_after(user, since) {
                return (200, answer);
            }
            if tokio::time::timeout_at(until, changed).await.is_err() {
                let pos = self.state.lock().unwrap_or_else(|e| e.into_inner()).pos;
                return (200, json!({"next_batch": pos.to_string(), "rooms": {}}));
            }
        }
    }

    /// The answer with every event of `user` after `since`, or `None` when there is none.
    fn events_after(&self, user: &str, since: u64) -> Option<Value> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let queue = st.queues.get(user)?;
        let start = queue.partition_point(|(p, _, _)| *p <= since);
        let new = &queue[start..];
        let last = new.last()?.0;
        let mut join = serde_json::Map::new();
        let mut invite = serde_json::Map::new();
        for (_, room, item) in new {
            match item {
                Item::Invite => {
                    invite.insert(room.clone(), json!({"invite_state": {"events": []}}));
                }
                Item::Event(e) => {
                    let r = join
                        .entry(room.clone())
                        .or_insert_with(|| json!({"timeline": {"events": []}}));
                    if let Some(list) = r["timeline"]["events"].as_array_mut() {
                        list.push(e.clone());
                    }
                }
            }
        }
        let rooms = json!({"join": join, "invite": invite});
        Some(json!({"next_batch": last.to_string(), "rooms": rooms}))
    }
}
