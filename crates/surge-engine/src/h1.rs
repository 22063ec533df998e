//! The fast HTTP/1.1 client: plain `http://` keep-alive connections driven directly by the person task
//! that holds them, requests serialised into one reused buffer and written with one `write`, answers
//! parsed with `httparse` into reused buffers. No connection task, no channel, no per-request
//! allocation once a connection's buffers have grown.
//!
//! It classifies failures into the same [`Outcome`] classes as the hyper client in [`crate::http`]:
//! a failed connect is `connect`, a connection closed or reset mid-exchange is `reset`, bytes that are
//! not HTTP are `protocol`, a body over [`crate::http::MAX_BODY`] is `body_too_large`; timeouts are
//! the caller's (`tokio::time::timeout` around [`H1Pool::send`]). Like the hyper client (built with
//! `retry_canceled_requests(false)`), it never replays a request behind the tester's back.
//!
//! Each worker thread owns one [`H1Pool`] (thread-local, no locks): idle connections per origin,
//! checked out by a person for one exchange and put back when the answer was complete and the server
//! did not ask to close.

use crate::http::MAX_BODY;
use std::cell::RefCell;
use std::io::ErrorKind;
use std::ops::Range;
use std::sync::Arc;
use surge_metrics::Outcome;
use surge_plan::journey::RequestBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Largest response head accepted (status line and headers); larger is [`Outcome::Protocol`].
const MAX_HEAD: usize = 64 * 1024;
/// Most headers parsed in one answer; more is [`Outcome::Protocol`].
const MAX_HEADERS: usize = 64;
/// Read buffer size of a connection.
const READ_CHUNK: usize = 4096;

/// An answer read by the fast client (or copied from the hyper client), in reused buffers.
#[derive(Debug, Default)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    head: Vec<u8>,
    headers: Vec<(Range<usize>, Range<usize>)>,
    /// The body (at most `MAX_BODY` bytes).
    pub body: Vec<u8>,
}

impl Reply {
    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| {
                self.head
                    .get(n.clone())
                    .is_some_and(|h| h.eq_ignore_ascii_case(name.as_bytes()))
            })
            .and_then(|(_, v)| self.head.get(v.clone()))
    }

    /// Copies an answer of the hyper client in.
    pub fn fill_from(&mut self, a: &crate::http::Answer) {
        self.clear();
        self.status = a.status;
        for (name, value) in &a.headers {
            let n0 = self.head.len();
            self.head.extend_from_slice(name.as_str().as_bytes());
            let v0 = self.head.len();
            self.head.extend_from_slice(value.as_bytes());
            self.headers.push((n0..v0, v0..self.head.len()));
        }
        self.body.extend_from_slice(&a.body);
    }

    fn clear(&mut self) {
        self.status = 0;
        self.head.clear();
        self.headers.clear();
        self.body.clear();
    }
}

/// Where a base URL points: the connect address and `Host`, and a path prefix.
#[derive(Debug)]
struct Origin {
    /// Which group of people uses this pool (the region): regions are different populations of phones,
    /// so one region's backlog never holds another's connections.
    lane: u16,
    base: Box<str>,
    authority: Box<str>,
    prefix: Box<str>,
    idle: Vec<Conn>,
    /// One permit per exchange in progress: at most `max_conns` per origin; more people wait for one.
    /// A connection is only opened by a holder of a permit who found none idle, so at most
    /// `max_conns` connections are ever open per origin.
    slots: Arc<Semaphore>,
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Bytes of `buf` holding data not yet consumed.
    filled: usize,
}

/// Whether the fast client can send to `base` (plain `http://`); otherwise use the hyper client.
pub fn supports(base: &str) -> bool {
    base.len() > 7 && base.as_bytes()[..7].eq_ignore_ascii_case(b"http://")
}

/// One worker's keep-alive connections, per origin.
///
/// At most `max_conns` connections per origin are open at once: a person who finds none idle and the
/// cap reached waits for one (the wait is part of its response time from the intended start). Without
/// the cap, an open-model burst would open a connection per person in flight, exhaust file
/// descriptors and accept queues, and measure SYN retransmits instead of the target.
#[derive(Debug)]
pub struct H1Pool {
    origins: RefCell<Vec<Origin>>,
    max_conns: usize,
    out: RefCell<Vec<u8>>,
    /// Where new connections bind (the run's `--source-addresses`, in turn), if anywhere.
    sources: Option<Arc<crate::Engine>>,
}

impl H1Pool {
    /// A pool with at most `max_conns` connections per origin (all of them kept alive when idle).
    pub fn new(max_conns: usize) -> H1Pool {
        H1Pool {
            origins: RefCell::new(Vec::new()),
            max_conns: max_conns.max(1),
            out: RefCell::new(Vec::new()),
            sources: None,
        }
    }

    /// As [`H1Pool::new`], binding each new connection to `engine`'s next source address when the run
    /// names any (`--source-addresses`).
    pub fn for_engine(max_conns: usize, engine: &Arc<crate::Engine>) -> H1Pool {
        let mut pool = H1Pool::new(max_conns);
        if !engine.config().source_addresses.is_empty() {
            pool.sources = Some(engine.clone());
        }
        pool
    }

    /// Sends `req` to `base` (`http://host:port[/prefix]`) and reads the answer into `reply`.
    pub async fn send(
        &self,
        base: &str,
        req: &RequestBuf,
        reply: &mut Reply,
    ) -> Result<(), Outcome> {
        self.send_in_lane(0, base, req, reply).await
    }

    /// As [`H1Pool::send`], with connections pooled (and capped) separately per `lane` (the region).
    pub async fn send_in_lane(
        &self,
        lane: u16,
        base: &str,
        req: &RequestBuf,
        reply: &mut Reply,
    ) -> Result<(), Outcome> {
        let mut out = std::mem::take(&mut *self.out.borrow_mut());
        out.clear();
        let result = self.send_with(lane, base, req, reply, &mut out).await;
        *self.out.borrow_mut() = out;
        result
    }

    async fn send_with(
        &self,
        lane: u16,
        base: &str,
        req: &RequestBuf,
        reply: &mut Reply,
        out: &mut Vec<u8>,
    ) -> Result<(), Outcome> {
        let (i, slots) = self.origin(lane, base)?;
        let _permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => slots.acquire_owned().await.map_err(|_| Outcome::Skipped)?,
        };
        let conn = match self.prepare(i, req, out) {
            Some(c) => c,
            None => self.connect(i).await?,
        };
        self.exchange(i, conn, out, req, reply).await
    }

    /// The index and exchange slots of `base`'s origin in `lane` (parsed on first use).
    fn origin(&self, lane: u16, base: &str) -> Result<(usize, Arc<Semaphore>), Outcome> {
        let mut origins = self.origins.borrow_mut();
        if let Some(i) = origins
            .iter()
            .position(|o| o.lane == lane && &*o.base == base)
        {
            return Ok((i, origins[i].slots.clone()));
        }
        let o = parse_origin(lane, base, self.max_conns)?;
        let slots = o.slots.clone();
        origins.push(o);
        Ok((origins.len() - 1, slots))
    }

    async fn exchange(
        &self,
        origin: usize,
        mut conn: Conn,
        out: &[u8],
        req: &RequestBuf,
        reply: &mut Reply,
    ) -> Result<(), Outcome> {
        conn.stream
            .write_all(out)
            .await
            .map_err(|e| io_outcome(&e))?;
        let head_only = req.method.as_str().eq_ignore_ascii_case("HEAD");
        let keep = read_answer(&mut conn, reply, head_only).await?;
        if keep && conn.filled == 0 {
            self.checkin(origin, conn);
        }
        Ok(())
    }

    /// Serialises `req` for the origin into `out` and checks out an idle connection that is still
    /// open, if there is one.
    fn prepare(&self, origin: usize, req: &RequestBuf, out: &mut Vec<u8>) -> Option<Conn> {
        let mut origins = self.origins.borrow_mut();
        let o = origins.get_mut(origin)?;
        serialize(&o.authority, &o.prefix, req, out);
        while let Some(c) = o.idle.pop() {
            if still_open(&c) {
                return Some(c);
            }
        }
        None
    }

    /// A new connection to the origin (an allocation per connection, not per request).
    async fn connect(&self, origin: usize) -> Result<Conn, Outcome> {
        let authority = {
            let origins = self.origins.borrow();
            let o = origins.get(origin).ok_or(Outcome::Connect)?;
            o.authority.to_string()
        };
        let stream = match self.sources.as_ref().and_then(|e| e.next_source()) {
            None => TcpStream::connect(authority.as_str())
                .await
                .map_err(|e| Outcome::from_connect_error(&e))?,
            Some(source) => connect_from(source, &authority).await?,
        };
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: vec![0; READ_CHUNK],
            filled: 0,
        })
    }

    /// Closes one idle connection to `base` in `lane`, if there is one: a person who leaves the HTTP
    /// part of its journey (for a WebSocket held for minutes) gives its connection up instead of
    /// leaving it idle in the pool. Connections in use and other origins are untouched.
    pub fn release_idle(&self, lane: u16, base: &str) {
        let conn = self
            .origins
            .borrow_mut()
            .iter_mut()
            .find(|o| o.lane == lane && &*o.base == base)
            .and_then(|o| o.idle.pop());
        drop(conn);
    }

    /// Connections to `base` in `lane` kept idle now.
    pub fn idle_count(&self, lane: u16, base: &str) -> usize {
        self.origins
            .borrow()
            .iter()
            .find(|o| o.lane == lane && &*o.base == base)
            .map_or(0, |o| o.idle.len())
    }

    fn checkin(&self, origin: usize, conn: Conn) {
        if let Some(o) = self.origins.borrow_mut().get_mut(origin) {
            o.idle.push(conn);
        }
    }
}

/// An idle connection the server closed (or that holds unexpected bytes) must not carry a request.
/// `try_read` costs no system call while tokio knows the socket is not readable.
fn still_open(c: &Conn) -> bool {
    let mut probe = [0u8; 1];
    matches!(c.stream.try_read(&mut probe), Err(e) if e.kind() == ErrorKind::WouldBlock)
}

/// Connects to `authority` from the local address `source` (a socket bound before it connects).
pub(crate) async fn connect_from(
    source: std::net::IpAddr,
    authority: impl tokio::net::ToSocketAddrs,
) -> Result<TcpStream, Outcome> {
    let peer = tokio::net::lookup_host(authority)
        .await
        .map_err(|_| Outcome::Connect)?
        .find(|a| a.is_ipv4() == source.is_ipv4())
        .ok_or(Outcome::Connect)?;
    let socket = if source.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|e| Outcome::from_connect_error(&e))?;
    socket
        .bind(std::net::SocketAddr::new(source, 0))
        .map_err(|e| Outcome::from_connect_error(&e))?;
    socket
        .connect(peer)
        .await
        .map_err(|e| Outcome::from_connect_error(&e))
}

fn parse_origin(lane: u16, base: &str, max_conns: usize) -> Result<Origin, Outcome> {
    let rest = base.get(7..).ok_or(Outcome::Protocol)?;
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(Outcome::Connect);
    }
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok(Origin {
        lane,
        base: base.into(),
        authority: authority.into(),
        prefix: prefix.into(),
        idle: Vec::new(),
        slots: Arc::new(Semaphore::new(max_conns)),
    })
}

/// `METHOD prefix+path HTTP/1.1`, `host`, the step's headers, `content-length` when there is a body.
fn serialize(authority: &str, prefix: &str, req: &RequestBuf, out: &mut Vec<u8>) {
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(prefix.as_bytes());
    if req.path.first() != Some(&b'/') {
        out.push(b'/');
    }
    out.extend_from_slice(&req.path);
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(authority.trim_end_matches(":80").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &req.headers {
        if name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !req.body.is_empty() || matches!(req.method.as_str(), "POST" | "PUT" | "PATCH") {
        let n = itoa_buf(req.body.len());
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&req.body);
}

/// A small decimal formatter that does not allocate.
struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(mut n: usize) -> Digits {
    let mut d = Digits {
        buf: [0; 20],
        start: 20,
    };
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || d.start == 0 {
            return d;
        }
    }
}

fn io_outcome(e: &std::io::Error) -> Outcome {
    match e.kind() {
        ErrorKind::TimedOut => Outcome::Timeout,
        _ => Outcome::Reset,
    }
}

/// Reads more bytes into `conn.buf` after `conn.filled`; end of stream mid-answer is a reset.
async fn fill(conn: &mut Conn) -> Result<(), Outcome> {
    if conn.filled == conn.buf.len() {
        if conn.buf.len() >= MAX_HEAD {
            return Err(Outcome::Protocol);
        }
        conn.buf.resize(conn.buf.len() * 2, 0);
    }
    match conn.stream.read(&mut conn.buf[conn.filled..]).await {
        Ok(0) => Err(Outcome::Reset),
        Ok(n) => {
            conn.filled += n;
            Ok(())
        }
        Err(e) => Err(io_outcome(&e)),
    }
}

/// How the body of an answer is framed.
enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

/// Reads one answer (skipping 1xx interim answers). Returns whether the connection can be reused.
async fn read_answer(conn: &mut Conn, reply: &mut Reply, head_only: bool) -> Result<bool, Outcome> {
    loop {
        reply.clear();
        let (used, framing, close) = loop {
            if conn.filled > 0
                && let Some(parsed) = parse_head(&conn.buf[..conn.filled], reply, head_only)?
            {
                break parsed;
            }
            fill(conn).await?;
        };
        conn.buf.copy_within(used..conn.filled, 0);
        conn.filled -= used;
        if (100..200).contains(&reply.status) && reply.status != 101 {
            continue;
        }
        let complete = match framing {
            Framing::None => true,
            Framing::Length(n) => read_length(conn, &mut reply.body, n).await?,
            Framing::Chunked => read_chunked(conn, &mut reply.body).await?,
            Framing::UntilClose => {
                read_to_close(conn, &mut reply.body).await?;
                false
            }
        };
        return Ok(complete && !close);
    }
}

/// Parses the head in `buf`; `None` when incomplete. Records the head and header ranges in `reply`.
fn parse_head(
    buf: &[u8],
    reply: &mut Reply,
    head_only: bool,
) -> Result<Option<(usize, Framing, bool)>, Outcome> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let used = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Outcome::Protocol),
    };
    let status = resp.code.ok_or(Outcome::Protocol)?;
    reply.status = status;
    reply.head.extend_from_slice(&buf[..used]);
    let base = buf.as_ptr() as usize;
    let (mut length, mut chunked, mut close) = (None, false, resp.version == Some(0));
    for h in resp.headers.iter() {
        let n0 = h.name.as_ptr() as usize - base;
        let v0 = h.value.as_ptr() as usize - base;
        reply
            .headers
            .push((n0..n0 + h.name.len(), v0..v0 + h.value.len()));
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok());
            length = Some(v.ok_or(Outcome::Protocol)?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h
                .value
                .windows(7)
                .any(|w| w.eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = h.value;
            if v.windows(5).any(|w| w.eq_ignore_ascii_case(b"close")) {
                close = true;
            } else if v.windows(10).any(|w| w.eq_ignore_ascii_case(b"keep-alive")) {
                close = false;
            }
        }
    }
    let framing = if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        if n > MAX_BODY as u64 {
            return Err(Outcome::BodyTooLarge);
        }
        Framing::Length(n as usize)
    } else {
        Framing::UntilClose
    };
    Ok(Some((used, framing, close)))
}

/// Moves up to `want` buffered bytes of `conn` into `body`.
fn take_buffered(conn: &mut Conn, body: &mut Vec<u8>, want: usize) -> usize {
    let k = want.min(conn.filled);
    body.extend_from_slice(&conn.buf[..k]);
    conn.buf.copy_within(k..conn.filled, 0);
    conn.filled -= k;
    k
}

async fn read_length(conn: &mut Conn, body: &mut Vec<u8>, n: usize) -> Result<bool, Outcome> {
    let mut left = n - take_buffered(conn, body, n);
    while left > 0 {
        fill(conn).await?;
        left -= take_buffered(conn, body, left);
    }
    Ok(true)
}

async fn read_to_close(conn: &mut Conn, body: &mut Vec<u8>) -> Result<(), Outcome> {
    take_buffered(conn, body, usize::MAX);
    loop {
        match conn.stream.read(&mut conn.buf).await {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if body.len() + n > MAX_BODY {
                    return Err(Outcome::BodyTooLarge);
                }
                body.extend_from_slice(&conn.buf[..n]);
            }
            Err(e) => return Err(io_outcome(&e)),
        }
    }
}

async fn read_chunked(conn: &mut Conn, body: &mut Vec<u8>) -> Result<bool, Outcome> {
    loop {
        let (used, size) = loop {
            match httparse::parse_chunk_size(&conn.buf[..conn.filled]) {
                Ok(httparse::Status::Complete(x)) => break x,
                Ok(httparse::Status::Partial) => fill(conn).await?,
                Err(_) => return Err(Outcome::Protocol),
            }
        };
        conn.buf.copy_within(used..conn.filled, 0);
        conn.filled -= used;
        let size = usize::try_from(size).map_err(|_| Outcome::BodyTooLarge)?;
        if body.len().saturating_add(size) > MAX_BODY {
            return Err(Outcome::BodyTooLarge);
        }
        if size == 0 {
            // Trailers (ignored) end with an empty line.
            return skip_trailers(conn).await.map(|()| true);
        }
        read_length(conn, body, size).await?;
        while conn.filled < 2 {
            fill(conn).await?;
        }
        if &conn.buf[..2] != b"\r\n" {
            return Err(Outcome::Protocol);
        }
        conn.buf.copy_within(2..conn.filled, 0);
        conn.filled -= 2;
    }
}

async fn skip_trailers(conn: &mut Conn) -> Result<(), Outcome> {
    loop {
        if let Some(i) = conn.buf[..conn.filled]
            .windows(2)
            .position(|w| w == b"\r\n")
        {
            let line_empty = i == 0;
            conn.buf.copy_within(i + 2..conn.filled, 0);
            conn.filled -= i + 2;
            if line_empty {
                return Ok(());
            }
            continue;
        }
        fill(conn).await?;
    }
}
