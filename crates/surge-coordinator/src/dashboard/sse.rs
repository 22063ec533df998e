//! The dashboard's HTTP side: the page, `/state`, `/report.html`, and `/events` as Server-Sent Events.
//!
//! Each `/events` connection has its own feeder task: it subscribes to the dashboard's broadcast
//! *before* reading the ring (so nothing falls between the two), replays every kept message after the
//! client's `Last-Event-ID` (or `?after=`), then follows the broadcast. The feeder hands frames to the
//! response body through a small bounded channel: a slow browser fills it and its feeder waits, the
//! broadcast lags for that connection alone, and the feeder catches up from the ring. The run never
//! waits for a browser.

use super::{Access, Dashboard, Served};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{broadcast, mpsc};

/// The page: HTML, CSS and JS in one file, nothing fetched from elsewhere.
const PAGE: &str = include_str!("page.html");

/// Frames a connection may have queued before its feeder waits for the browser.
const QUEUE: usize = 16;

/// What a listener answers with: a whole body, or an event stream.
pub(crate) type Reply = Response<Either<Full<Bytes>, SseBody>>;

/// The body of an `/events` response: frames as the feeder hands them over; ends when the dashboard
/// is dropped.
#[derive(Debug)]
pub struct SseBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|f| f.map(|b| Ok(Frame::data(b))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

fn whole(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Either::Left(Full::new(body.into())));
    *r.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

/// The value of `key` in a query string, percent-decoded.
pub(crate) fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn allowed(access: &Access, query: Option<&str>, headers: &HeaderMap) -> bool {
    let Access::Token(token) = access else {
        return true;
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(surge_wire::bearer)
        .map(str::to_string);
    bearer
        .or_else(|| query_param(query, "token"))
        .is_some_and(|given| surge_wire::token_matches(token, &given))
}

/// Answers the dashboard's paths; `None` for any other path (the listener's own routes).
pub(crate) async fn route<B>(req: &Request<B>, served: &Served) -> Option<Reply> {
    let path = req.uri().path();
    if !matches!(
        path,
        "/" | "/index.html" | "/events" | "/state" | "/report.html"
    ) {
        return None;
    }
    if req.method() != Method::GET {
        return Some(whole(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n",
        ));
    }
    let query = req.uri().query();
    if !allowed(&served.access, query, req.headers()) {
        return Some(whole(
            StatusCode::UNAUTHORIZED,
            "text/plain; charset=utf-8",
            "this dashboard is not on loopback: it needs the run's token, as ?token=TOKEN or Authorization: Bearer TOKEN\n",
        ));
    }
    let d = &served.dashboard;
    if path != "/report.html" {
        d.mark_watched();
    }
    Some(match path {
        "/events" => {
            let after = req
                .headers()
                .get("last-event-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| query_param(query, "after"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
            events(d.clone(), after)
        }
        "/state" => whole(StatusCode::OK, "application/json", d.state_json()),
        "/report.html" => match d.report_path() {
            Some(p) => match tokio::fs::read(&p).await {
                Ok(html) => whole(StatusCode::OK, "text/html; charset=utf-8", html),
                Err(e) => whole(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    format!("cannot read {}: {e}\n", p.display()),
                ),
            },
            None => whole(
                StatusCode::NOT_FOUND,
                "text/plain",
                "the report is written when the run ends\n",
            ),
        },
        _ => page(),
    })
}

fn page() -> Reply {
    let mut r = whole(StatusCode::OK, "text/html; charset=utf-8", PAGE);
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
        ),
    );
    r
}

fn events(d: Arc<Dashboard>, after: u64) -> Reply {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(feed(d, after, tx));
    let mut r = Response::new(Either::Right(SseBody { rx }));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

/// Replays what the client missed, then follows the broadcast, until the client goes away.
async fn feed(d: Arc<Dashboard>, mut after: u64, tx: mpsc::Sender<Bytes>) {
    let mut live = d.subscribe();
    // Browsers wait this long (ms) before reconnecting.
    if tx
        .send(Bytes::from_static(b"retry: 1000\n\n"))
        .await
        .is_err()
    {
        return;
    }
    let ring = d.since(after);
    // The feeder must not keep the dashboard alive.
    let weak = Arc::downgrade(&d);
    drop(d);
    for m in ring {
        after = m.id;
        if tx.send(m.frame.clone()).await.is_err() {
            return;
        }
    }
    loop {
        let got = tokio::select! {
            r = live.recv() => r,
            _ = tx.closed() => return,
        };
        let batch = match got {
            Ok(m) if m.id > after => vec![m],
            Ok(_) => continue,
            // Too slow for the broadcast: catch up from the ring.
            Err(broadcast::error::RecvError::Lagged(_)) => match weak.upgrade() {
                Some(d) => d.since(after),
                None => return,
            },
            Err(broadcast::error::RecvError::Closed) => return,
        };
        for m in batch {
            after = m.id;
            if tx.send(m.frame.clone()).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::{Access, Dashboard, Served};

    fn served(access: Access) -> Served {
        Served {
            dashboard: Arc::new(Dashboard::new("s3cret")),
            access,
        }
    }

    async fn status(s: &Served, uri: &str, bearer: Option<&str>) -> Option<StatusCode> {
        let mut req = Request::builder().uri(uri);
        if let Some(t) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req.body(()).unwrap_or_default();
        route(&req, s).await.map(|r| r.status())
    }

    #[tokio::test]
    async fn off_loopback_every_dashboard_path_needs_the_token() {
        let s = served(Access::for_addr(
            "0.0.0.0:7700".parse().unwrap_or(([0; 4], 0).into()),
            "s3cret",
        ));
        assert!(s.access.needs_token());
        for path in ["/", "/state", "/events", "/report.html"] {
            assert_eq!(
                status(&s, path, None).await,
                Some(StatusCode::UNAUTHORIZED),
                "{path}"
            );
            assert_eq!(
                status(&s, &format!("{path}?token=wrong"), None).await,
                Some(StatusCode::UNAUTHORIZED)
            );
            assert_eq!(
                status(&s, path, Some("wrong")).await,
                Some(StatusCode::UNAUTHORIZED)
            );
        }
        assert_eq!(
            status(&s, "/?token=s3cret", None).await,
            Some(StatusCode::OK)
        );
        assert_eq!(
            status(&s, "/state", Some("s3cret")).await,
            Some(StatusCode::OK)
        );
        assert_eq!(
            status(&s, "/report.html?token=s3cret", None).await,
            Some(StatusCode::NOT_FOUND)
        );
        assert_eq!(
            status(&s, "/metrics", None).await,
            None,
            "not the dashboard's path"
        );
    }

    #[tokio::test]
    async fn on_loopback_the_page_is_open() {
        let s = served(Access::for_addr(([127, 0, 0, 1], 0).into(), "s3cret"));
        assert!(!s.access.needs_token());
        assert_eq!(status(&s, "/", None).await, Some(StatusCode::OK));
        assert_eq!(status(&s, "/state", None).await, Some(StatusCode::OK));
    }

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(
            query_param(Some("a=1&token=x%2By+z"), "token").as_deref(),
            Some("x+y z")
        );
        assert_eq!(
            query_param(Some("after=12"), "after").as_deref(),
            Some("12")
        );
        assert_eq!(
            query_param(Some("token=%zz%"), "token").as_deref(),
            Some("%zz%")
        );
        assert_eq!(query_param(None, "token"), None);
    }
}
