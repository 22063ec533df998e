//! Remote write against a tiny receiver on 127.0.0.1:0 that records what it is sent and answers a
//! chosen status: pushes land with the protocol's headers and decode (with a decoder written here, not
//! surge's encoder) to the series offered; 5xx is retried then counted, 4xx is counted and not retried,
//! a receiver that is down or never answers is counted and never blocks; a bad URL is refused up front.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use surge_coordinator::live::families::{Family, Kind, Sample};
use surge_coordinator::{RemoteWrite, RemoteWriteConfig, RemoteWriteError};

/// What the receiver saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    headers: http::HeaderMap,
    body: Vec<u8>,
}

/// A receiver answering `status` with `text` to every request, or never answering when `hang`.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn receiver(status: u16, text: &'static str, hang: bool) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let log = log.clone();
                    async move {
                        let headers = req.headers().clone();
                        let body = req.into_body().collect().await?.to_bytes().to_vec();
                        log.lock().unwrap().push(Seen { headers, body });
                        if hang {
                            std::future::pending::<()>().await;
                        }
                        let mut resp =
                            Response::new(Full::new(Bytes::from_static(text.as_bytes())));
                        *resp.status_mut() = StatusCode::from_u16(status).unwrap();
                        Ok::<_, hyper::Error>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Receiver { url, seen }
}

async fn answering(status: u16, text: &'static str) -> Receiver {
    receiver(status, text, false).await
}

fn families(value: f64) -> Vec<Family> {
    vec![
        Family {
            name: "surge_step_response_seconds",
            kind: Kind::Gauge,
            help: "h",
            samples: ["americas", "europe"]
                .iter()
                .map(|r| Sample {
                    labels: vec![
                        ("region", r.to_string()),
                        ("step", "register".into()),
                        ("quantile", "0.99".into()),
                    ],
                    value,
                })
                .collect(),
        },
        Family {
            name: "surge_interval",
            kind: Kind::Gauge,
            help: "h",
            samples: vec![Sample {
                labels: vec![],
                value: 7.0,
            }],
        },
    ]
}

fn fast(url: &str) -> RemoteWriteConfig {
    let mut cfg = RemoteWriteConfig::new(url).unwrap();
    cfg.max_attempts = 3;
    cfg.backoff = Duration::from_millis(10);
    cfg.max_backoff = Duration::from_millis(40);
    cfg.timeout = Duration::from_secs(2);
    cfg.flush_limit = Duration::from_secs(10);
    cfg
}

// --- a protobuf reader, independent of surge's encoder ---------------------------------------

fn varint(b: &[u8], i: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*i];
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// (field, wire type, payload) of each field of a message.
fn fields(b: &[u8]) -> Vec<(u64, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i);
        let (field, wire) = (key >> 3, key & 7);
        let payload = match wire {
            0 => {
                let v = varint(b, &mut i);
                v.to_le_bytes().to_vec()
            }
            1 => {
                i += 8;
                b[i - 8..i].to_vec()
            }
            2 => {
                let n = varint(b, &mut i) as usize;
                i += n;
                b[i - n..i].to_vec()
            }
            w => panic!("unexpected wire type {w}"),
        };
        out.push((field, wire, payload));
    }
    out
}

/// One decoded series: its labels in wire order, its value and timestamp.
type Series = (Vec<(String, String)>, f64, i64);

/// Each series of a snappy-compressed WriteRequest.
fn decode(body: &[u8]) -> Vec<Series> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
    fields(&raw)
        .into_iter()
        .map(|(f, w, ts)| {
            assert_eq!((f, w), (1, 2), "WriteRequest.timeseries");
            let (mut labels, mut value, mut stamp) = (Vec::new(), f64::NAN, 0i64);
            for (f, _, p) in fields(&ts) {
                match f {
                    1 => {
                        let l = fields(&p);
                        labels.push((
                            String::from_utf8(l[0].2.clone()).unwrap(),
                            String::from_utf8(l[1].2.clone()).unwrap(),
                        ));
                    }
                    2 => {
                        for (f, _, p) in fields(&p) {
                            let x = u64::from_le_bytes(p.try_into().unwrap());
                            match f {
                                1 => value = f64::from_bits(x),
                                2 => stamp = x as i64,
                                _ => panic!("unknown Sample field {f}"),
                            }
                        }
                    }
                    _ => panic!("unknown TimeSeries field {f}"),
                }
            }
            (labels, value, stamp)
        })
        .collect()
}

#[tokio::test]
async fn pushes_land_with_the_protocol_headers_and_decode_to_the_series_offered() {
    let rx = answering(204, "").await;
    let mut cfg = fast(&rx.url);
    cfg.labels.push(("run".into(), "r1".into()));
    let push = RemoteWrite::start(cfg).unwrap();
    for v in [0.25, 0.5, 0.75] {
        push.offer(&families(v));
    }
    let report = push.finish().await;
    assert_eq!(
        (report.pushed, report.samples, report.failed, report.dropped),
        (3, 9, 0, 0),
        "{report}"
    );
    assert!(
        report.all_pushed() && report.last_error.is_none(),
        "{report}"
    );
    let seen = rx.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let mut last_ts = 0;
    for (k, s) in seen.iter().enumerate() {
        assert_eq!(s.headers["content-encoding"], "snappy");
        assert_eq!(s.headers["content-type"], "application/x-protobuf");
        assert_eq!(s.headers["x-prometheus-remote-write-version"], "0.1.0");
        let series = decode(&s.body);
        assert_eq!(series.len(), 3);
        let (labels, value, ts) = &series[0];
        let want: Vec<(String, String)> = [
            ("__name__", "surge_step_response_seconds"),
            ("job", "surge"),
            ("quantile", "0.99"),
            ("region", "americas"),
            ("run", "r1"),
            ("step", "register"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(labels, &want, "labels sorted by name, extra labels added");
        assert_eq!(*value, 0.25 * (k + 1) as f64);
        assert!(
            series.iter().all(|(_, _, t)| t == ts),
            "one timestamp per push"
        );
        assert!(
            *ts > last_ts,
            "timestamps strictly increase: {ts} after {last_ts}"
        );
        last_ts = *ts;
        assert_eq!(series[2].0[0].1, "surge_interval");
        assert_eq!(series[2].1, 7.0);
    }
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_counted_as_failed() {
    let rx = answering(503, "overloaded").await;
    let push = RemoteWrite::start(fast(&rx.url)).unwrap();
    push.offer(&families(1.0));
    push.offer(&families(2.0));
    let report = push.finish().await;
    // 3 attempts each: 2 retries each.
    assert_eq!(rx.seen.lock().unwrap().len(), 6);
    assert_eq!(
        (
            report.pushed,
            report.failed,
            report.rejected,
            report.retries,
            report.dropped
        ),
        (0, 2, 0, 4, 0),
        "{report}"
    );
    let last = report.last_error.clone().unwrap();
    assert!(
        last.contains("503") && last.contains("overloaded"),
        "{last}"
    );
    assert!(!report.all_pushed());
    let text = report.to_string();
    assert!(
        text.contains("0 pushes accepted") && text.contains("2 failed"),
        "{text}"
    );
}

#[tokio::test]
async fn client_errors_are_counted_and_never_retried() {
    let rx = answering(400, "out of order sample").await;
    let push = RemoteWrite::start(fast(&rx.url)).unwrap();
    for v in [1.0, 2.0, 3.0] {
        push.offer(&families(v));
    }
    let report = push.finish().await;
    assert_eq!(rx.seen.lock().unwrap().len(), 3, "one request per push");
    assert_eq!(
        (
            report.pushed,
            report.failed,
            report.rejected,
            report.retries
        ),
        (0, 3, 3, 0),
        "{report}"
    );
    assert!(
        report
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("400") && e.contains("out of order sample")),
        "{report}"
    );
}

#[tokio::test]
async fn too_many_requests_is_retried() {
    let rx = answering(429, "slow down").await;
    let push = RemoteWrite::start(fast(&rx.url)).unwrap();
    push.offer(&families(1.0));
    let report = push.finish().await;
    assert_eq!(rx.seen.lock().unwrap().len(), 3);
    assert_eq!((report.failed, report.rejected, report.retries), (1, 0, 2));
}

#[tokio::test]
async fn a_receiver_that_is_down_is_counted_and_does_not_block() {
    let url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/api/v1/write", l.local_addr().unwrap())
    };
    let push = RemoteWrite::start(fast(&url)).unwrap();
    push.offer(&families(1.0));
    push.offer(&families(2.0));
    let report = push.finish().await;
    assert_eq!(
        (report.pushed, report.failed, report.retries),
        (0, 2, 4),
        "{report}"
    );
    let e = report.last_error.unwrap();
    assert!(e.contains("request failed"), "{e}");
}

/// The run loop never waits: with the queue full, offers are dropped and counted; a receiver that never
/// answers is left when the end's wait runs out, and what was queued counts as dropped.
#[tokio::test]
async fn a_full_queue_drops_and_a_hung_receiver_is_left_at_the_end() {
    let rx = receiver(204, "", true).await;
    let mut cfg = fast(&rx.url);
    cfg.queue = 1;
    cfg.timeout = Duration::from_secs(30);
    cfg.flush_limit = Duration::from_millis(300);
    let push = RemoteWrite::start(cfg).unwrap();
    // On this current-thread runtime the sender task cannot run between these offers: the first is
    // queued, the others find the queue full.
    for v in 0..5 {
        push.offer(&families(f64::from(v)));
    }
    assert_eq!(push.report().dropped, 4);
    let report = push.finish().await;
    assert_eq!(
        (report.pushed, report.failed, report.dropped),
        (0, 0, 5),
        "{report}"
    );
    // Offers after the end are dropped too, never sent.
    push.offer(&families(9.0));
    assert_eq!(push.report().dropped, 6);
}

#[test]
fn bad_urls_are_refused_before_anything_is_sent() {
    for (url, want) in [
        ("not a url", "must be http://"),
        ("http://bad host:9090/api/v1/write", "is not a URL"),
        ("http:///api/v1/write", "is not a URL"),
        ("ftp://prometheus:9090/api/v1/write", "must be http://"),
        ("127.0.0.1:9090/api/v1/write", "must be http://"),
        ("/api/v1/write", "must be http://"),
    ] {
        let e = RemoteWriteConfig::new(url).unwrap_err();
        assert!(e.to_string().contains(want), "{url}: {e}");
        assert!(e.to_string().contains(url), "{url}: {e}");
    }
    let e = RemoteWriteConfig::new("http://bad host/").unwrap_err();
    assert!(matches!(e, RemoteWriteError::NotAUrl { .. }));
    assert!(
        std::error::Error::source(&e).is_some(),
        "the cause hangs off source()"
    );
    let ok = RemoteWriteConfig::new("https://mimir.example:443/api/v1/push").unwrap();
    assert_eq!(ok.labels, vec![("job".to_string(), "surge".to_string())]);
}
