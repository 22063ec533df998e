//! Network distance and geo failover in capacity plans: each region's round trip to each data
//! centre spent as network time (reported in `Server-Timing`), by API requests, WebSocket
//! handshakes and the frames of held connections, a `down` fault sending a data centre's regions
//! along its failover chain, and the plans refused at load (cycles, unknown data centres, missing
//! round trips) with file:line.

mod common;

use std::time::Duration;

use common::{plan, start};
use http::StatusCode;
use surge_target::{CapacityPlan, FaultAction};

/// Three regions and data centres; `us` fails over to `eu`, `ap` has no failover. `faults` is put
/// at the top, `us_extra` under `[dcs.us]`.
fn geo_text(faults: &str, us_extra: &str, americas_rtt: &str) -> String {
    format!(
        r#"default_region = "americas"
timer = "precise"
{faults}
[regions.americas]
sms_rate_per_s = 100000
sms_burst = 1000
rtt = {americas_rtt}

[regions.europe]
sms_rate_per_s = 100000
sms_burst = 1000
rtt = {{ eu = "10ms" }}

[regions.asia]
sms_rate_per_s = 100000
sms_burst = 1000
rtt = {{ ap = "30ms" }}
rtt_jitter = "4ms"

[service]
request_code = {{ median = "2ms", p99 = "2ms" }}
verify_code = {{ median = "2ms", p99 = "2ms" }}
register = {{ median = "2ms", p99 = "2ms" }}
keys = {{ median = "2ms", p99 = "2ms" }}
discovery = {{ median = "2ms", p99 = "2ms" }}

[dcs.ap]
regions = ["asia"]
slots = 64

[dcs.eu]
regions = ["europe"]
slots = 64

[dcs.us]
regions = ["americas"]
slots = 64
{us_extra}
"#
    )
}

const AMERICAS_RTT: &str = r#"{ us = "40ms", eu = "120ms" }"#;

/// The error's field and the text of the line it names (checking it starts with `geo.toml:LINE:`).
fn refused(text: &str) -> (String, String, String) {
    let error = match CapacityPlan::from_toml_str(text, "geo.toml") {
        Ok(_) => panic!("plan accepted:\n{text}"),
        Err(error) => error,
    };
    let line = error.line().unwrap_or(0);
    let shown = error.to_string();
    assert!(shown.starts_with(&format!("geo.toml:{line}:")), "{shown}");
    let text_line = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    (
        error.field().unwrap_or("").to_owned(),
        text_line.trim().to_owned(),
        shown,
    )
}

#[test]
fn round_trips_and_failover_chains_load() {
    let plan = plan(&geo_text(
        "[[faults]]\nat = \"1s\"\ndc = \"us\"\naction = \"down\"\nfor = \"2s\"\n",
        "failover = \"eu\"",
        AMERICAS_RTT,
    ));
    assert_eq!(plan.rtt("americas", "us"), Some(Duration::from_millis(40)));
    assert_eq!(plan.rtt("americas", "eu"), Some(Duration::from_millis(120)));
    assert_eq!(
        plan.rtt("americas", "ap"),
        Some(Duration::ZERO),
        "not given"
    );
    assert_eq!(plan.rtt("mars", "ap"), None);
    assert_eq!(plan.failover_chain("americas"), vec!["us", "eu"]);
    assert_eq!(plan.failover_chain("asia"), vec!["ap"]);
    let down_for = Duration::from_secs(2);
    assert_eq!(plan.faults()[0].action, FaultAction::Down { down_for });
    // The shipped scenario loads too, with the Americas failing over to `eu`.
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../profiles/plans/geo-failover.toml");
    let shipped = CapacityPlan::load(&shipped).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(shipped.failover_chain("americas")[..2], ["us", "eu"]);
    assert!(shipped.rtt("americas", "eu") > shipped.rtt("americas", "us"));
}

#[test]
fn a_failover_cycle_is_refused_at_the_line_that_closes_it() {
    // us -> eu -> us: the line of eu's failover (eu comes before us in [dcs] order) or us's.
    let text = geo_text("", "failover = \"eu\"", AMERICAS_RTT)
        .replace("[dcs.eu]\n", "[dcs.eu]\nfailover = \"us\"\n");
    let (field, line, shown) = refused(&text);
    assert!(
        field.ends_with(".failover") && line.starts_with("failover = "),
        "{field} / {line} / {shown}"
    );
    assert!(
        shown.contains("cycle") && shown.contains("eu -> us"),
        "{shown}"
    );
    // A longer one: ap -> us -> eu -> ap.
    let text = geo_text("", "failover = \"eu\"", AMERICAS_RTT)
        .replace("[dcs.eu]\n", "[dcs.eu]\nfailover = \"ap\"\n")
        .replace("[dcs.ap]\n", "[dcs.ap]\nfailover = \"us\"\n");
    let (_, line, shown) = refused(&text);
    assert!(line.starts_with("failover = "), "{line} / {shown}");
    assert!(shown.contains("cycle"), "{shown}");
    // To itself.
    let (field, line, shown) = refused(&geo_text("", "failover = \"us\"", AMERICAS_RTT));
    assert_eq!(
        (field.as_str(), line.as_str()),
        ("dcs.us.failover", "failover = \"us\""),
        "{shown}"
    );
}

#[test]
fn unknown_data_centres_and_missing_round_trips_are_refused_with_file_and_line() {
    let (field, line, shown) = refused(&geo_text("", "failover = \"mars\"", AMERICAS_RTT));
    assert_eq!(
        (field.as_str(), line.as_str()),
        ("dcs.us.failover", "failover = \"mars\""),
        "{shown}"
    );
    assert!(shown.contains("unknown data centre `mars`"), "{shown}");
    let (field, line, shown) = refused(&geo_text(
        "",
        "failover = \"eu\"",
        r#"{ us = "40ms", eu = "120ms", moon = "1s" }"#,
    ));
    assert_eq!(field, "regions.americas.rtt.moon", "{shown}");
    assert!(line.starts_with("rtt = "), "{line}");
    // `eu` serves the Americas while `us` is down: its round trip must be given.
    let (field, line, shown) = refused(&geo_text("", "failover = \"eu\"", r#"{ us = "40ms" }"#));
    assert_eq!(field, "regions.americas.rtt", "{shown}");
    assert!(line.starts_with("rtt = "), "{line}");
    assert!(
        shown.contains("`eu`") && shown.contains("us -> eu"),
        "{shown}"
    );
    let (field, _, shown) = refused(&geo_text("", "", r#"{ us = "2m" }"#));
    assert_eq!(field, "regions.americas.rtt.us", "{shown}");
    // `down` needs `for`.
    let (field, line, shown) = refused(&geo_text(
        "[[faults]]\nat = \"1s\"\ndc = \"us\"\naction = \"down\"\n",
        "",
        AMERICAS_RTT,
    ));
    assert_eq!(
        (field.as_str(), line.as_str()),
        ("faults[0].for", "action = \"down\""),
        "{shown}"
    );
    // A down overlapping a restart of the same data centre.
    let outage = |at: &str, action: &str| {
        format!("[[faults]]\nat = \"{at}\"\ndc = \"us\"\naction = \"{action}\"\nfor = \"10s\"\n")
    };
    let faults = format!("{}{}", outage("1s", "restart"), outage("5s", "down"));
    let (_, _, shown) = refused(&geo_text(&faults, "", AMERICAS_RTT));
    assert!(
        shown.contains("down of `us` at 5s overlaps the restart"),
        "{shown}"
    );
}

/// `net`, `queue`, `svc` (ms) and `dc` of a `Server-Timing` header.
fn timing(reply: &common::Reply) -> (f64, f64, f64, String) {
    let text = reply
        .headers
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Server-Timing: {:?}", reply.headers));
    let (mut net, mut queue, mut svc, mut dc) = (-1.0, -1.0, -1.0, String::new());
    for metric in text.split(',') {
        let mut parts = metric.trim().split(';');
        let name = parts.next().unwrap_or("");
        for p in parts {
            if let Some(v) = p.strip_prefix("dur=") {
                let v: f64 = v.parse().unwrap_or(-1.0);
                match name {
                    "net" => net = v,
                    "queue" => queue = v,
                    "svc" => svc = v,
                    _ => {}
                }
            } else if let Some(v) = p.strip_prefix("desc=") {
                dc = v.to_owned();
            }
        }
    }
    (net, queue, svc, dc)
}

/// Times one code request from `region`; returns the elapsed ms and the reply.
async fn timed(api: &common::Api, region: &str, i: u64) -> (f64, common::Reply) {
    let started = tokio::time::Instant::now();
    let reply = api
        .request_code(region, &format!("+1555{:07}", 1_000 + i))
        .await;
    (started.elapsed().as_secs_f64() * 1000.0, reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_round_trip_is_network_time_and_a_down_data_centre_fails_over() {
    // `us` is down from 0.8 s to 2.0 s: the Americas go to `eu` at 120 ms; `ap` is down from 0.8 s
    // to 2.0 s with no failover: Asia gets 503 after its round trip.
    let faults = "[[faults]]\nat = \"800ms\"\ndc = \"us\"\naction = \"down\"\nfor = \"1200ms\"\n\
                  [[faults]]\nat = \"800ms\"\ndc = \"ap\"\naction = \"down\"\nfor = \"1200ms\"\n";
    let (_target, api) = start(plan(&geo_text(faults, "failover = \"eu\"", AMERICAS_RTT))).await;
    let origin = tokio::time::Instant::now();
    let (ms, reply) = timed(&api, "americas", 1).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let (net, queue, svc, dc) = timing(&reply);
    assert_eq!((net, dc.as_str()), (40.0, "us"), "{:?}", reply.headers);
    assert!((0.0..1.0).contains(&queue), "queue {queue}");
    assert!((1.9..2.5).contains(&svc), "svc {svc}");
    assert!(
        (42.0..90.0).contains(&ms),
        "americas took {ms} ms for 40 + 2"
    );
    let (ms, reply) = timed(&api, "asia", 2).await;
    let (net, _, _, dc) = timing(&reply);
    assert!(
        (30.0..=34.0).contains(&net) && dc == "ap",
        "asia net {net} at {dc}"
    );
    assert!(ms >= 32.0, "asia took {ms} ms");
    // A burst from Europe alone: 64 slots, no queue.
    let (_, reply) = timed(&api, "europe", 3).await;
    assert_eq!(timing(&reply).0, 10.0);

    tokio::time::sleep_until(origin + Duration::from_millis(1_100)).await;
    let (ms, reply) = timed(&api, "americas", 4).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let (net, _, _, dc) = timing(&reply);
    assert_eq!((net, dc.as_str()), (120.0, "eu"), "failed over");
    assert!(ms >= 122.0, "americas at eu took {ms} ms");
    let (ms, reply) = timed(&api, "asia", 5).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert!(reply.body.contains("data centre down"), "{}", reply.body);
    let (net, queue, svc, dc) = timing(&reply);
    assert!(net >= 30.0 && queue == 0.0 && svc == 0.0 && dc == "ap");
    assert!(ms >= 30.0, "a refusal still crosses the network: {ms} ms");
    let metrics = api.get("/metrics").await.body;
    assert!(
        metrics.contains("surge_target_dc_down{dc=\"us\"} 1")
            && metrics.contains("surge_target_dc_down{dc=\"eu\"} 0"),
        "{metrics}"
    );

    tokio::time::sleep_until(origin + Duration::from_millis(2_300)).await;
    let (_, reply) = timed(&api, "americas", 6).await;
    assert_eq!(timing(&reply).3, "us", "back home once `us` is up");
    let (_, reply) = timed(&api, "asia", 7).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_time_holds_no_slot_and_queueing_is_reported_apart() {
    // One slot in `us`, 40 ms round trip, 20 ms service: 8 requests at once spend their round
    // trips in parallel but queue for the slot one after another.
    let text = geo_text("", "", AMERICAS_RTT)
        .replace(
            "[dcs.us]\nregions = [\"americas\"]\nslots = 64",
            "[dcs.us]\nregions = [\"americas\"]\nslots = 1\n[dcs.us.service]\nrequest_code = { median = \"20ms\", p99 = \"20ms\" }",
        );
    let (_target, api) = start(plan(&text)).await;
    let started = tokio::time::Instant::now();
    let calls: Vec<_> = (0..8u64)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move { timed(&api, "americas", 100 + i).await })
        })
        .collect();
    let mut queues = Vec::new();
    for call in calls {
        let (_, reply) = call.await.expect("joins");
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        let (net, queue, svc, _) = timing(&reply);
        assert_eq!(net, 40.0);
        assert!((19.5..25.0).contains(&svc), "svc {svc}");
        queues.push(queue);
    }
    let total = started.elapsed().as_secs_f64() * 1000.0;
    // Holding the slot over the round trip would take 8 x 60 ms; the slot alone is 8 x 20 ms.
    assert!(
        total < 8.0 * 60.0 * 0.8,
        "took {total} ms: network time held the slot?"
    );
    queues.sort_by(f64::total_cmp);
    assert!(
        queues[0] < 2.0,
        "the first request waits for nothing: {queues:?}"
    );
    assert!(
        queues[7] >= 6.0 * 19.0,
        "the last waits for ~7 services: {queues:?}"
    );
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A WebSocket handshake from `region`: the connection, the elapsed ms, and the 101's `net` (ms) and
/// `dc` from `Server-Timing`.
async fn ws_connect(
    target: &surge_target::Listening,
    region: &str,
    token: &str,
) -> (Ws, f64, f64, String) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/v1/ws", target.local_addr())
        .into_client_request()
        .expect("request");
    let headers = request.headers_mut();
    headers.insert("x-surge-region", region.parse().expect("region"));
    let bearer = format!("Bearer {token}").parse().expect("token");
    headers.insert("authorization", bearer);
    let started = tokio::time::Instant::now();
    let stream = tokio::net::TcpStream::connect(target.local_addr())
        .await
        .expect("tcp");
    let (ws, response) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::client_async(request, stream),
    )
    .await
    .expect("handshake ends")
    .unwrap_or_else(|e| panic!("handshake from {region} refused: {e}"));
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let reply = common::Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: String::new(),
    };
    let (net, _, _, dc) = timing(&reply);
    (ws, ms, net, dc)
}

/// The next text frame as JSON, and the ms since `since` when it came (pings skipped; `None` at a
/// close).
async fn ws_next(ws: &mut Ws, since: tokio::time::Instant) -> Option<(serde_json::Value, f64)> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame in time");
        match frame {
            Some(Ok(Message::Text(text))) => {
                let ms = since.elapsed().as_secs_f64() * 1000.0;
                return Some((serde_json::from_str(text.as_str()).expect("json"), ms));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            _ => return None,
        }
    }
}

/// Sends `to` a message from `ws`; returns the send's instant.
async fn ws_send(ws: &mut Ws, id: &str, to: &str) -> tokio::time::Instant {
    use futures_util::SinkExt;
    let frame = serde_json::json!({"type":"send","id":id,"to":to,"body":{}}).to_string();
    let at = tokio::time::Instant::now();
    ws.send(tokio_tungstenite::tungstenite::Message::text(frame))
        .await
        .expect("send");
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_handshakes_and_deliveries_cross_each_connection_s_distance() {
    // Americas 80 ms from `us` (160 ms from `eu` while `us` is down, from 2.5 s), Europe 10 ms from
    // `eu`. A handshake pays its region's round trip; a message pays the sender's one way in and the
    // receiver's one way out (plus ~1 ms of delivery service); an ack the sender's round trip.
    let faults = "[[faults]]\nat = \"2500ms\"\ndc = \"us\"\naction = \"down\"\nfor = \"3s\"\n";
    let rtt = r#"{ us = "80ms", eu = "160ms" }"#;
    let (target, api) = start(plan(&geo_text(faults, "failover = \"eu\"", rtt))).await;
    let origin = tokio::time::Instant::now();
    let secret = target.plan().secret().to_owned();
    let (ann_no, eve_no) = (common::number(1), common::number(2));
    let (_, ann_token) = api.signup("americas", &ann_no, &secret).await;
    let (_, eve_token) = api.signup("europe", &eve_no, &secret).await;

    let (mut ann, ms, net, dc) = ws_connect(&target, "americas", &ann_token).await;
    assert_eq!((net, dc.as_str()), (80.0, "us"));
    assert!(
        ms >= 80.0,
        "americas handshake took {ms:.1} ms for an 80 ms round trip"
    );
    let (mut eve, ms, net, dc) = ws_connect(&target, "europe", &eve_token).await;
    assert_eq!((net, dc.as_str()), (10.0, "eu"));
    assert!(ms >= 10.0, "europe handshake took {ms:.1} ms");

    // Europe -> Americas: 5 ms in, 40 ms out. Had the receiver paid its round trip (80) or the
    // sender's one way been left out, the bounds below would not hold.
    let sent = ws_send(&mut eve, "e1", &ann_no).await;
    let (ack, ack_ms) = ws_next(&mut eve, sent).await.expect("ack");
    assert_eq!(ack["type"], "ack", "{ack}");
    assert!(
        ack_ms >= 10.0,
        "the ack crosses Europe's round trip: {ack_ms:.1} ms"
    );
    let (got, e_to_a) = ws_next(&mut ann, sent).await.expect("delivery");
    assert_eq!(
        (got["type"].as_str(), got["id"].as_str()),
        (Some("message"), Some("e1"))
    );
    // Americas -> Europe: 40 ms in, 5 ms out; the ack takes the Americas' 80 ms round trip.
    let sent = ws_send(&mut ann, "a1", &eve_no).await;
    let (got, a_to_e) = ws_next(&mut eve, sent).await.expect("delivery");
    assert_eq!(got["id"], "a1", "{got}");
    let (ack, ack_ms) = ws_next(&mut ann, sent).await.expect("ack");
    assert_eq!(ack["type"], "ack", "{ack}");
    assert!(
        ack_ms >= 80.0,
        "the ack crosses the Americas' round trip: {ack_ms:.1} ms"
    );
    eprintln!(
        "europe -> americas {e_to_a:.1} ms, americas -> europe {a_to_e:.1} ms (5 + 40 + service)"
    );
    for (what, ms) in [
        ("europe -> americas", e_to_a),
        ("americas -> europe", a_to_e),
    ] {
        assert!(
            (45.0..75.0).contains(&ms),
            "{what} delivered in {ms:.1} ms: one way each side is 5 + 40 ms"
        );
    }

    // `us` goes down: the Americas' connection closes, and the next one is held at `eu`, 160 ms away.
    assert!(
        ws_next(&mut ann, origin).await.is_none(),
        "the down fault closes the americas connection"
    );
    assert!(
        origin.elapsed() < Duration::from_millis(5_000),
        "closed by the fault"
    );
    let (mut ann, ms, net, dc) = ws_connect(&target, "americas", &ann_token).await;
    assert_eq!((net, dc.as_str()), (160.0, "eu"), "failed over");
    assert!(ms >= 160.0, "americas handshake at eu took {ms:.1} ms");
    let sent = ws_send(&mut eve, "e2", &ann_no).await;
    let (got, ms) = ws_next(&mut ann, sent).await.expect("delivery");
    assert_eq!(got["id"], "e2", "{got}");
    assert!(
        (85.0..115.0).contains(&ms),
        "europe -> americas at eu in {ms:.1} ms: 5 + 80 ms"
    );
}
