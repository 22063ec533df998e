//! The link emulator on real sockets: it delays each direction, keeps the byte stream intact and in
//! order, passes half-closes on, and cutting it ends the connections through it.

use std::time::Duration;
use surge_testkit::link::{Link, LinkSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// An echo server on 127.0.0.1:0 that echoes until the client half-closes, then closes.
async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

fn spec(delay_ms: u64, jitter_ms: u64) -> LinkSpec {
    LinkSpec {
        delay: Duration::from_millis(delay_ms),
        jitter: Duration::from_millis(jitter_ms),
        seed: 3,
    }
}

#[tokio::test]
async fn a_round_trip_takes_at_least_twice_the_one_way_delay() {
    let echo = echo_server().await;
    let link = Link::start("127.0.0.1:0".parse().unwrap(), echo, spec(30, 0))
        .await
        .unwrap();
    let mut s = TcpStream::connect(link.addr()).await.unwrap();
    s.set_nodelay(true).unwrap();
    for round in 0..3u8 {
        let sent = Instant::now();
        s.write_all(&[round; 16]).await.unwrap();
        let mut back = [0u8; 16];
        s.read_exact(&mut back).await.unwrap();
        let rtt = sent.elapsed();
        assert_eq!(back, [round; 16]);
        assert!(
            rtt >= Duration::from_millis(60),
            "round {round}: rtt {rtt:?}"
        );
    }
    assert_eq!(
        link.stats()
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn a_megabyte_arrives_whole_and_in_order_through_jitter() {
    let echo = echo_server().await;
    let link = Link::start("127.0.0.1:0".parse().unwrap(), echo, spec(2, 2))
        .await
        .unwrap();
    let s = TcpStream::connect(link.addr()).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), r.read_to_end(&mut got))
        .await
        .expect("the echo ends after the half-close passes through the link")
        .unwrap();
    writer.await.unwrap();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "bytes reordered or changed");
}

#[tokio::test]
async fn cutting_the_link_ends_its_connections_and_refuses_new_ones() {
    let echo = echo_server().await;
    let link = Link::start("127.0.0.1:0".parse().unwrap(), echo, spec(1, 0))
        .await
        .unwrap();
    let addr = link.addr();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"ping").await.unwrap();
    let mut back = [0u8; 4];
    s.read_exact(&mut back).await.unwrap();
    link.stop();
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "a connection through a cut link must end");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "a cut link must not accept"
    );
}

#[tokio::test]
async fn an_unreachable_upstream_is_counted_and_the_client_is_closed() {
    // A port that was just free: nothing listens there.
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let link = Link::start("127.0.0.1:0".parse().unwrap(), dead, spec(0, 0))
        .await
        .unwrap();
    let mut s = TcpStream::connect(link.addr()).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest))
        .await
        .expect("closed");
    assert_eq!(
        link.stats()
            .refused
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}
