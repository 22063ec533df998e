//! Data centres really queue: slots, FIFO waiting, shedding and rejection when the queue is full.

mod common;

use std::time::Duration;

use common::{Api, number, parse_prometheus, plan, plan_text, series, start};
use http::StatusCode;
use tokio::task::JoinSet;
use tokio::time::Instant;

async fn concurrent_codes(
    api: &Api,
    region: &'static str,
    n: u64,
    first: u64,
) -> Vec<(Duration, common::Reply)> {
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    for i in 0..n {
        let api = api.clone();
        tasks.spawn(async move {
            let reply = api.request_code(region, &number(first + i)).await;
            (start.elapsed(), reply)
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        out.push(joined.expect("task"));
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

/// Opens `n` idle pooled connections so that later concurrent requests do not pay for set-up.
async fn warm(api: &Api, n: u64) {
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let api = api.clone();
        tasks.spawn(async move { api.get("/healthz").await });
    }
    while tasks.join_next().await.is_some() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_wait_for_slots() {
    let text = plan_text(
        "{ median = \"50ms\", p99 = \"50ms\" }",
        2,
        "queue_limit = 100",
        "",
    );
    let (target, api) = start(plan(&text)).await;
    warm(&api, 10).await;
    let replies = concurrent_codes(&api, "americas", 10, 0).await;
    let times: Vec<u128> = replies.iter().map(|(t, _)| t.as_millis()).collect();
    println!("completion times (ms): {times:?}");
    assert!(
        replies
            .iter()
            .all(|(_, r)| r.status == StatusCode::ACCEPTED)
    );
    // Two slots, 50 ms each: pairs finish at 50, 100, 150, 200, 250 ms.
    for (pair, chunk) in times.chunks(2).enumerate() {
        let ideal = 50 * (pair as u128 + 1);
        for t in chunk {
            assert!(
                *t >= ideal - 2 && *t <= ideal + 40,
                "pair {pair} finished at {t} ms, ideal {ideal}"
            );
        }
    }
    let us = &target.stats().data_centres["us"];
    assert!(
        us.peak_queue_depth >= 7,
        "peak queue {}",
        us.peak_queue_depth
    );
    assert_eq!((us.queue_depth, us.in_service), (0, 0));
    target.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_sheds_429_for_its_region_only() {
    let extra = "queue_limit = 3\nwhen_full = \"shed-429\"";
    let text = plan_text("{ median = \"300ms\", p99 = \"300ms\" }", 2, extra, "");
    let (target, api) = start(plan(&text)).await;
    warm(&api, 14).await;
    let (americas, europe) = tokio::join!(
        concurrent_codes(&api, "americas", 10, 0),
        concurrent_codes(&api, "europe", 4, 100),
    );
    let shed: Vec<_> = americas
        .iter()
        .filter(|(_, r)| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    let served = americas
        .iter()
        .filter(|(_, r)| r.status == StatusCode::ACCEPTED)
        .count();
    assert_eq!(
        (served, shed.len()),
        (5, 5),
        "2 in service + 3 queued; the rest shed"
    );
    for (t, reply) in &shed {
        assert_eq!(reply.retry_after(), Some(1));
        assert_eq!(reply.json()["error"], "overloaded");
        assert!(
            *t < Duration::from_millis(150),
            "shed at once, not after waiting ({t:?})"
        );
    }
    assert!(europe.iter().all(|(_, r)| r.status == StatusCode::ACCEPTED));

    let metrics = parse_prometheus(&api.get("/metrics").await.body).expect("prometheus text");
    let us = r#"dc="us",region="americas",endpoint="request_code""#;
    let eu = r#"dc="eu",region="europe",endpoint="request_code""#;
    assert_eq!(series(&metrics, "surge_target_shed_total", us), Some(5.0));
    assert_eq!(series(&metrics, "surge_target_shed_total", eu), Some(0.0));
    let status = r#"dc="us",region="americas",endpoint="request_code",status="429""#;
    assert_eq!(
        series(&metrics, "surge_target_requests_total", status),
        Some(5.0)
    );
    let stats = target.stats();
    assert_eq!(stats.shed.get("americas"), Some(&5));
    assert_eq!(stats.shed.get("europe"), Some(&0));
    target.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_can_reject_503_or_keep_queueing() {
    let extra = "queue_limit = 0\nwhen_full = \"reject-503\"";
    let text = plan_text("{ median = \"200ms\", p99 = \"200ms\" }", 1, extra, "");
    let (target, api) = start(plan(&text)).await;
    warm(&api, 3).await;
    let replies = concurrent_codes(&api, "americas", 3, 0).await;
    let statuses: Vec<u16> = replies.iter().map(|(_, r)| r.status.as_u16()).collect();
    assert_eq!(statuses, vec![503, 503, 202]);
    target.shutdown().await;

    let extra = "queue_limit = 0\nwhen_full = \"queue\"";
    let text = plan_text("{ median = \"100ms\", p99 = \"100ms\" }", 1, extra, "");
    let (target, api) = start(plan(&text)).await;
    warm(&api, 3).await;
    let replies = concurrent_codes(&api, "americas", 3, 0).await;
    assert!(
        replies
            .iter()
            .all(|(_, r)| r.status == StatusCode::ACCEPTED)
    );
    assert!(
        replies[2].0 >= Duration::from_millis(298),
        "third waited for two others"
    );
    target.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_times_follow_the_distribution() {
    // Log-normal with median 20 ms and p99 60 ms; ample slots, so latency = service time plus the
    // (debug-build, shared-machine) HTTP overhead. Requests are spread 5 ms apart, not bursty.
    let text = plan_text("{ median = \"20ms\", p99 = \"60ms\" }", 64, "", "");
    let (target, api) = start(plan(&text)).await;
    warm(&api, 8).await;
    let mut tasks = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    for i in 0..300u64 {
        tick.tick().await;
        let api = api.clone();
        tasks.spawn(async move {
            let sent = Instant::now();
            let reply = api.request_code("americas", &number(i)).await;
            (sent.elapsed().as_secs_f64() * 1e3, reply.status)
        });
    }
    let mut times = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (ms, status) = done.expect("task");
        assert_eq!(status, StatusCode::ACCEPTED);
        times.push(ms);
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let (p10, median, p90) = (at(0.10), at(0.50), at(0.90));
    println!("p10 {p10:.1} ms, median {median:.1} ms, p90 {p90:.1} ms");
    // Ideal: p10 10.9, median 20, p90 36.6 ms.
    assert!(
        (19.0..30.0).contains(&median),
        "median {median:.1} ms, plan says 20 ms"
    );
    assert!(
        p10 >= 9.0,
        "p10 {p10:.1} ms below the distribution's 10.9 ms"
    );
    assert!(
        p90 / p10 > 2.0,
        "spread p90/p10 {:.2}, log-normal gives 3.35",
        p90 / p10
    );
    target.shutdown().await;
}
