//! The fast HTTP/1.1 client against real servers on 127.0.0.1:0: answers parsed right (length,
//! chunked, close-delimited), connections reused, and every failure classified exactly as the
//! hyper-util client classifies it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use surge_engine::h1::{H1Pool, Reply};
use surge_engine::http::{HttpClients, MAX_BODY};
use surge_metrics::Outcome;
use surge_plan::journey::{Method, RequestBuf};
use surge_testkit::{Fault, FaultServer, refused_url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn get(path: &str) -> RequestBuf {
    RequestBuf {
        method: Method::Get,
        path: path.as_bytes().to_vec(),
        ..RequestBuf::default()
    }
}

async fn fast(base: &str, req: &RequestBuf, timeout: Duration) -> Result<Reply, Outcome> {
    let pool = H1Pool::new(8);
    let mut reply = Reply::default();
    match tokio::time::timeout(timeout, pool.send(base, req, &mut reply)).await {
        Err(_) => Err(Outcome::Timeout),
        Ok(Err(o)) => Err(o),
        Ok(Ok(())) => Ok(reply),
    }
}

async fn hyper(base: &str, req: &RequestBuf, timeout: Duration) -> Result<u16, Outcome> {
    let clients = HttpClients::new(8);
    match tokio::time::timeout(timeout, clients.send(base, req, false)).await {
        Err(_) => Err(Outcome::Timeout),
        Ok(Err(o)) => Err(o),
        Ok(Ok(a)) => Ok(a.status),
    }
}

/// A raw server answering every request on a connection with `answer`; counts connections.
async fn raw_server(answer: &'static [u8], close_after: bool) -> (String, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let conns = Arc::new(AtomicU64::new(0));
    let c2 = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            c2.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut have = Vec::new();
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    have.extend_from_slice(&buf[..n]);
                    while let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                        have.drain(..end + 4);
                        if s.write_all(answer).await.is_err() {
                            return;
                        }
                        if close_after {
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, conns)
}

#[tokio::test]
async fn faults_classify_like_hyper() {
    let t = Duration::from_millis(500);
    let servers = [
        (FaultServer::start(Fault::Garbage).await, Outcome::Protocol),
        (
            FaultServer::start(Fault::ResetMidResponse).await,
            Outcome::Reset,
        ),
        (
            FaultServer::start(Fault::HugeBody(MAX_BODY as u64 + 1)).await,
            Outcome::BodyTooLarge,
        ),
        (
            FaultServer::start(Fault::NeverAnswer).await,
            Outcome::Timeout,
        ),
    ];
    for (server, want) in &servers {
        let f = fast(&server.url(), &get("/"), t).await.map(|r| r.status);
        let h = hyper(&server.url(), &get("/"), t).await;
        assert_eq!(f, Err(*want), "fast client vs {}", want.as_str());
        assert_eq!(h, Err(*want), "hyper client vs {}", want.as_str());
    }
    let refused = refused_url();
    assert_eq!(
        fast(&refused, &get("/"), t).await.map(|r| r.status),
        Err(Outcome::Connect)
    );
    assert_eq!(hyper(&refused, &get("/"), t).await, Err(Outcome::Connect));
}

#[tokio::test]
async fn status_headers_and_body_are_read() {
    let server = FaultServer::start(Fault::Fixed(429, r#"{"retry":true}"#)).await;
    let r = fast(&server.url(), &get("/v1/x?y=1"), Duration::from_secs(2))
        .await
        .expect("answer");
    assert_eq!(r.status, 429);
    assert_eq!(r.body, br#"{"retry":true}"#);
    assert_eq!(r.header("Content-Type"), Some(&b"application/json"[..]));
    assert_eq!(r.header("x-missing"), None);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn chunked_and_close_delimited_bodies() {
    let (chunked, _) =
        raw_server(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\nx-t: 1\r\n\r\n", false).await;
    let r = fast(&chunked, &get("/"), Duration::from_secs(2))
        .await
        .expect("chunked");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello world"[..]));
    let (until_close, _) = raw_server(b"HTTP/1.1 201 Created\r\n\r\nall of it", true).await;
    let r = fast(&until_close, &get("/"), Duration::from_secs(2))
        .await
        .expect("close-delimited");
    assert_eq!((r.status, r.body.as_slice()), (201, &b"all of it"[..]));
}

#[tokio::test]
async fn keep_alive_reuses_one_connection_and_close_does_not() {
    let pool = H1Pool::new(8);
    let mut reply = Reply::default();
    let (keep, keep_conns) =
        raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", false).await;
    for _ in 0..20 {
        pool.send(&keep, &get("/"), &mut reply)
            .await
            .expect("keep-alive answer");
        assert_eq!(reply.body, b"ok");
    }
    assert_eq!(
        keep_conns.load(Ordering::Relaxed),
        1,
        "20 requests on one connection"
    );
    let (close, close_conns) = raw_server(
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
        true,
    )
    .await;
    for _ in 0..5 {
        pool.send(&close, &get("/"), &mut reply)
            .await
            .expect("answer then close");
    }
    assert_eq!(
        close_conns.load(Ordering::Relaxed),
        5,
        "`connection: close` is honoured"
    );
    // A server that closes after each answer *without* saying so: the dead idle connection is noticed
    // at checkout instead of failing the next request.
    let (silent, silent_conns) =
        raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", true).await;
    for _ in 0..5 {
        pool.send(&silent, &get("/"), &mut reply)
            .await
            .expect("answer");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(silent_conns.load(Ordering::Relaxed), 5);
}

#[tokio::test]
async fn request_bytes_carry_host_headers_and_body() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}/api/", l.local_addr().expect("addr"));
    let seen = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.expect("accept");
        let mut buf = vec![0u8; 4096];
        let mut have = Vec::new();
        while !have.ends_with(b"{\"a\":1}") {
            let n = s.read(&mut buf).await.expect("read");
            assert!(
                n > 0,
                "request cut short: {:?}",
                String::from_utf8_lossy(&have)
            );
            have.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .expect("write");
        String::from_utf8(have).expect("utf-8")
    });
    let mut req = get("/v1/accounts");
    req.method = Method::Post;
    req.headers
        .push(("content-type".into(), b"application/json".to_vec()));
    req.body = b"{\"a\":1}".to_vec();
    let r = fast(&base, &req, Duration::from_secs(2))
        .await
        .expect("answer");
    assert_eq!(r.status, 204);
    let text = seen.await.expect("server");
    assert!(
        text.starts_with("POST /api/v1/accounts HTTP/1.1\r\nhost: 127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("\r\ncontent-type: application/json\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\ncontent-length: 7\r\n\r\n{\"a\":1}"),
        "{text}"
    );
}

#[tokio::test]
async fn connections_per_origin_are_capped_and_waiters_get_served() {
    let (url, conns) = raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", false).await;
    let pool = std::rc::Rc::new(H1Pool::new(2));
    let local = tokio::task::LocalSet::new();
    let done = local
        .run_until(async {
            let tasks: Vec<_> = (0..10)
                .map(|_| {
                    let (pool, url) = (pool.clone(), url.clone());
                    tokio::task::spawn_local(async move {
                        let mut reply = Reply::default();
                        pool.send(&url, &get("/"), &mut reply)
                            .await
                            .map(|()| reply.status)
                    })
                })
                .collect();
            let mut ok = 0;
            for t in tasks {
                let r = tokio::time::timeout(Duration::from_secs(5), t).await;
                assert!(
                    matches!(r, Ok(Ok(Ok(200)))),
                    "every waiter is served: {r:?}"
                );
                ok += 1;
            }
            ok
        })
        .await;
    assert_eq!(done, 10);
    assert!(
        conns.load(Ordering::Relaxed) <= 2,
        "cap of 2 connections: {}",
        conns.load(Ordering::Relaxed)
    );
}

#[tokio::test]
async fn released_idle_connections_are_closed_and_not_reused() {
    let pool = H1Pool::new(8);
    let (base, conns) = raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", false).await;
    // Two exchanges at once: two connections, both idle afterwards.
    let (mut a, mut b) = (Reply::default(), Reply::default());
    let req = get("/");
    let (ra, rb) = tokio::join!(
        pool.send(&base, &req, &mut a),
        pool.send(&base, &req, &mut b)
    );
    ra.expect("first answer");
    rb.expect("second answer");
    assert_eq!(conns.load(Ordering::Relaxed), 2);
    assert_eq!(pool.idle_count(0, &base), 2);
    pool.release_idle(0, &base);
    assert_eq!(pool.idle_count(0, &base), 1, "one released");
    // Another lane or origin is untouched; releasing with nothing idle is harmless.
    pool.release_idle(1, &base);
    pool.release_idle(0, "http://127.0.0.1:1");
    assert_eq!(pool.idle_count(0, &base), 1);
    pool.release_idle(0, &base);
    pool.release_idle(0, &base);
    assert_eq!(pool.idle_count(0, &base), 0);
    pool.send(&base, &req, &mut a).await.expect("answer");
    assert_eq!(
        conns.load(Ordering::Relaxed),
        3,
        "a released connection is never reused: the next exchange opens a new one"
    );
}
