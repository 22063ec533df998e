//! The coordinator's side of the worker protocol, in-process, spoken raw over HTTP/1.1: joins wait for
//! every worker, resends are counted once, registrations are unioned back, a silent worker is lost and
//! its shards move to the survivor in its next reply, hostile snapshots are refused. Clock exchanges
//! give a worker its offset (a simulated 250 ms skew is found and recorded); presence is relayed to the
//! other workers only.

use std::sync::Arc;
use std::time::Duration;
use surge_coordinator::{Coordinator, Guards, RemoteConfig, RunConfig};
use surge_metrics::{Outcome, Recorder, StepRecord};
use surge_plan::{Overrides, Plan};
use surge_results::RunInfo;
use surge_wire::{Assignment, PROTOCOL_VERSION, ProfileSource, Reply, Report, WireOverrides};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "protocol-test-token";
const PROFILE: &str = r#"name = "tiny"
description = "protocol test"
seed = 3
journey = "reference"

[event]
population = 200
duration = "4s"
replay = "4s"
interval = "200ms"

[[regions]]
name = "one"
share = 1.0

[curve]
kind = "ramp"
up = "0s"
hold = "4s"
down = "0s"
"#;

fn config(plan: Arc<Plan>, out: std::path::PathBuf) -> RunConfig {
    let info = RunInfo {
        schema_version: surge_results::SCHEMA_VERSION,
        name: plan.name.clone(),
        profile_path: "tiny.toml".into(),
        started_at: String::new(),
        args: Vec::new(),
        seed: plan.seed,
        scale: plan.scale,
        population: plan.population,
        run_duration_s: plan.run_duration.as_secs_f64(),
        interval_s: plan.interval.as_secs_f64(),
        target: "http://127.0.0.1:9".into(),
        plan: None,
        workers: Vec::new(),
        regions: plan.regions.iter().map(|r| r.name.clone()).collect(),
        steps: plan.steps.clone(),
        slos: Vec::new(),
        versions: Default::default(),
        model: "open".into(),
        ..RunInfo::default()
    };
    RunConfig {
        plan,
        target: "http://127.0.0.1:9".into(),
        workers: 2,
        info,
        out_dir: out,
        slos: Vec::new(),
        guards: Guards::default(),
        max_rps: 0,
        max_in_flight: 1000,
        drain: Duration::from_secs(1),
        live: None,
        engine: surge_engine::Engine::new(Default::default()).unwrap(),
        resume: None,
    }
}

/// One raw request; status and body.
async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    token: &str,
    version: u32,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\nauthorization: Bearer {token}\r\nsurge-protocol: {version}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let status = std::str::from_utf8(&buf[9..12]).unwrap().parse().unwrap();
    (status, buf[split + 4..].to_vec())
}

fn report(
    worker: u32,
    seq: u64,
    snap: Option<&surge_metrics::Snapshot>,
    registered: Vec<u64>,
    cursor: u64,
    shards_version: u64,
    done: bool,
) -> Vec<u8> {
    let r = Report {
        version: PROTOCOL_VERSION,
        worker,
        seq,
        snapshot: snap.map(|s| s.encode().unwrap()),
        registered,
        registry_cursor: cursor,
        shards_version,
        done,
        error: None,
        clock_t0_us: None,
        clock_sample: None,
        presence: Vec::new(),
        presence_cursor: 0,
    };
    surge_wire::encode(&r).unwrap()
}

/// `body` (a report) with presence changes, presence cursor and a clock stamp.
fn with_presence(body: Vec<u8>, presence: Vec<(u64, bool)>, cursor: u64, t0: i64) -> Vec<u8> {
    let mut r: Report = surge_wire::decode(&body).unwrap();
    r.presence = presence;
    r.presence_cursor = cursor;
    r.clock_t0_us = Some(t0);
    surge_wire::encode(&r).unwrap()
}

fn unix_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// One exchange with `/v1/clock` by a worker whose clock is `skew_us` ahead.
async fn clock_sample(addr: std::net::SocketAddr, skew_us: i64) -> surge_wire::clock::ClockSample {
    use surge_wire::clock::{ClockEcho, ClockProbe};
    let t0 = unix_us() + skew_us;
    let probe = ClockProbe {
        version: PROTOCOL_VERSION,
        t0_us: t0,
    };
    let (s, b) = post(
        addr,
        "/v1/clock",
        TOKEN,
        PROTOCOL_VERSION,
        &surge_wire::encode(&probe).unwrap(),
    )
    .await;
    let t3 = unix_us() + skew_us;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let echo: ClockEcho = surge_wire::decode(&b).unwrap();
    assert_eq!(echo.t0_us, t0);
    echo.sample(t3)
}

fn reply(body: &[u8]) -> Reply {
    surge_wire::decode(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_reports_union_loss_and_refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = surge_profile::parse(PROFILE, "tiny.toml").unwrap();
    let plan = Arc::new(Plan::compile(&profile, &Overrides::default()).unwrap());
    let cfg = config(plan.clone(), tmp.path().join("run"));
    let remote = RemoteConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        token: TOKEN.into(),
        profile: ProfileSource {
            text: PROFILE.into(),
            origin: "tiny.toml".into(),
        },
        overrides: WireOverrides::default(),
        by_region: false,
        probe: None,
        rejoin: false,
    };
    let coordinator = Coordinator::bind(&cfg, remote).await.unwrap();
    let addr = coordinator.local_addr();
    let run = tokio::spawn(async move {
        coordinator
            .run(cfg, &mut |_, _, _| {}, &mut |_| {}, std::future::pending())
            .await
    });

    // Both joins are answered only once both have joined. Worker a's clock runs 250 ms ahead.
    let mut samples = Vec::new();
    for _ in 0..4 {
        samples.push(clock_sample(addr, 250_000).await);
    }
    let join = move |name: &str, clock: Vec<surge_wire::clock::ClockSample>| {
        surge_wire::encode(&surge_wire::Join {
            version: PROTOCOL_VERSION,
            name: name.into(),
            threads: 1,
            regions: Vec::new(),
            clock,
        })
        .unwrap()
    };
    let first = tokio::spawn(async move {
        post(
            addr,
            "/v1/join",
            TOKEN,
            PROTOCOL_VERSION,
            &join("a", samples),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !first.is_finished(),
        "a join is answered before every worker has joined"
    );
    let (s1, b1) = post(
        addr,
        "/v1/join",
        TOKEN,
        PROTOCOL_VERSION,
        &surge_wire::encode(&surge_wire::Join {
            version: PROTOCOL_VERSION,
            name: "b".into(),
            threads: 1,
            regions: Vec::new(),
            clock: Vec::new(),
        })
        .unwrap(),
    )
    .await;
    let (s0, b0) = first.await.unwrap();
    assert_eq!((s0, s1), (200, 200));
    let (a0, a1): (Assignment, Assignment) = (
        surge_wire::decode(&b0).unwrap(),
        surge_wire::decode(&b1).unwrap(),
    );
    assert_eq!((a0.worker, a1.worker, a0.workers), (0, 1, 2));
    assert_eq!(a0.profile.text, PROFILE);
    assert_eq!(a0.start_unix_ms, a1.start_unix_ms, "one common start");
    let c0 = a0.clock.expect("worker a's clock offset");
    assert!(
        (c0.offset_us - 250_000).unsigned_abs() <= c0.bound_us,
        "offset {c0} for a 250 ms skew"
    );
    assert_eq!(c0.samples, 4);
    assert!(a1.clock.is_none(), "no exchange, no estimate");
    let mut all: Vec<u32> = a0.shards.iter().chain(&a1.shards).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..plan.shards).collect::<Vec<_>>(),
        "every shard exactly once"
    );
    // A third worker is one too many.
    let (s, _) = post(
        addr,
        "/v1/join",
        TOKEN,
        PROTOCOL_VERSION,
        &join("c", Vec::new()),
    )
    .await;
    assert_eq!(s, 403);

    // Worker 0 reports interval 0 with 5 samples and two registrations; the resend is not counted twice.
    let mut rec = Recorder::new(1, plan.steps.len() as u16);
    for i in 0..5 {
        rec.step(StepRecord {
            region: 0,
            step: 0,
            outcome: Outcome::Ok,
            response_us: 1000 + i,
            service_us: 900,
            send_lag_us: 10,
        });
    }
    let snap = rec.take(1);
    // Person 5 connects on worker 0; the reply echoes the report's clock stamp with the coordinator's.
    let body = report(0, 1, Some(&snap), vec![5, 7], 0, a0.shards_version, false);
    let body = with_presence(body, vec![(5, true)], 0, 42);
    for _ in 0..2 {
        let (s, b) = post(addr, "/v1/report", TOKEN, PROTOCOL_VERSION, &body).await;
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
        let r = reply(&b);
        assert!(
            r.presence.is_empty(),
            "a worker's own presence is not echoed"
        );
        let echo = r.clock.expect("clock echo");
        assert!(echo.t0_us == 42 && echo.t2_us >= echo.t1_us, "{echo:?}");
    }
    // Worker 1 hears worker 0's registrations.
    let (s, b) = post(
        addr,
        "/v1/report",
        TOKEN,
        PROTOCOL_VERSION,
        &report(1, 0, None, vec![], 0, a1.shards_version, false),
    )
    .await;
    assert_eq!(s, 200);
    let r = reply(&b);
    assert_eq!(
        (r.registered.clone(), r.registry_cursor, r.stop),
        (vec![5, 7], 2, false)
    );
    assert_eq!((r.presence, r.presence_cursor), (vec![(5, true)], 1));
    // Hostile input is refused, not merged: another shape, an interval far beyond the run, a wrong version.
    let bad = surge_metrics::Snapshot::new(0, 3, 1);
    let (s, _) = post(
        addr,
        "/v1/report",
        TOKEN,
        PROTOCOL_VERSION,
        &report(1, 1, Some(&bad), vec![], 2, a1.shards_version, false),
    )
    .await;
    assert_eq!(s, 400);
    let far = surge_metrics::Snapshot::new(1 << 40, 1, plan.steps.len() as u16);
    let (s, _) = post(
        addr,
        "/v1/report",
        TOKEN,
        PROTOCOL_VERSION,
        &report(1, 1, Some(&far), vec![], 2, a1.shards_version, false),
    )
    .await;
    assert_eq!(s, 400);
    let (s, b) = post(
        addr,
        "/v1/report",
        TOKEN,
        PROTOCOL_VERSION + 1,
        &report(1, 1, None, vec![], 2, a1.shards_version, false),
    )
    .await;
    assert_eq!(s, 409, "{}", String::from_utf8_lossy(&b));
    let (s, _) = post(
        addr,
        "/v1/report",
        "guess",
        PROTOCOL_VERSION,
        &report(1, 1, None, vec![], 2, a1.shards_version, false),
    )
    .await;
    assert_eq!(s, 401);

    // Worker 1 falls silent; worker 0 keeps talking and, within a few intervals, gets its shards.
    let mut moved = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (s, b) = post(
            addr,
            "/v1/report",
            TOKEN,
            PROTOCOL_VERSION,
            &report(0, 1, None, vec![], 2, a0.shards_version, false),
        )
        .await;
        assert_eq!(s, 200);
        if let Some(list) = reply(&b).shards {
            moved = Some(list);
            break;
        }
    }
    let moved = moved.expect("the lost worker's shards never moved");
    assert_eq!(
        moved.len() as u32,
        plan.shards,
        "worker 0 now runs every shard"
    );
    let (s, _) = post(
        addr,
        "/v1/report",
        TOKEN,
        PROTOCOL_VERSION,
        &report(1, 1, None, vec![], 2, a1.shards_version, false),
    )
    .await;
    assert_eq!(s, 410, "a lost worker is told it is gone");

    // Worker 0 finishes: the run ends and says what happened.
    let (s, _) = post(
        addr,
        "/v1/report",
        TOKEN,
        PROTOCOL_VERSION,
        &report(0, 2, None, vec![], 2, a0.shards_version + 1, true),
    )
    .await;
    assert_eq!(s, 200);
    let outcome = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the run ends")
        .unwrap()
        .unwrap();
    let sum = &outcome.summary;
    assert_eq!(sum.lost_workers.len(), 1);
    assert!(
        sum.lost_workers[0].worker.starts_with("b@"),
        "{:?}",
        sum.lost_workers
    );
    assert!(!sum.lost_workers[0].missing_intervals.is_empty());
    assert_eq!(sum.totals.count, 5, "the resent interval was counted once");
    let clock = sum
        .clock
        .as_ref()
        .expect("summary.clock in a distributed run");
    assert_eq!(clock.workers.len(), 1, "{clock:?}");
    assert!(clock.workers[0].worker.starts_with("a@"));
    assert!(
        (clock.max_offset_ms - 250.0).abs() <= clock.bound_ms,
        "{clock:?}"
    );
}
