//! `surge worker`: join a coordinator, compile the plan it sends, run the assigned shards, report one
//! snapshot per interval, obey its commands, and stop all load by itself when the coordinator has been
//! unreachable for [`WorkerConfig::dead_man`] (a load generator must never keep hitting a target
//! unattended).

use super::clock::{AgentClock, RunClock};
use super::crew::Crew;
use super::deadman::{DeadMan, LinkFailure};
use super::link::{JoinUrlError, Link, LinkError, LinkSetup, refusal_message};
use http::StatusCode;
use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use surge_plan::Plan;
use surge_wire::clock::ClockSample;
use surge_wire::{Assignment, JOIN_PATH, Join, PlanFingerprint, REPORT_PATH, Reply, Report};
use tokio::time::Instant;

/// How a worker process is told to work.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The coordinator, `http://HOST:PORT` or `https://HOST:PORT`.
    pub join: String,
    /// Also trust the CA certificates of this PEM file for an https coordinator.
    pub tls_ca: Option<PathBuf>,
    /// The run's token.
    pub token: String,
    /// A label for results and logs (host or pod name).
    pub name: String,
    /// Engine threads.
    pub threads: usize,
    /// Protocol version announced (always [`surge_wire::PROTOCOL_VERSION`] except in tests).
    pub protocol_version: u32,
    /// Stop all load when the coordinator has not answered for this long.
    pub dead_man: Duration,
    /// How long to keep trying to reach the coordinator before the run starts.
    pub join_timeout: Duration,
    /// The regions this worker is placed in (`--region`; used when the coordinator places people by
    /// region). Empty: none declared.
    pub regions: Vec<String>,
    /// Test-only: behave as if this host's wall clock were this far ahead (negative: behind), µs,
    /// so that tests can check the coordinator's clock-offset correction (`SURGE_TEST_CLOCK_OFFSET_MS`
    /// on `surge worker`). 0 in real runs.
    pub test_clock_skew_us: i64,
    /// Test-only: ignore the coordinator's offset estimate (`SURGE_TEST_CLOCK_UNCORRECTED=1`), the
    /// control that shows what an uncorrected skew does to delivery latencies. false in real runs.
    pub test_clock_uncorrected: bool,
}

impl WorkerConfig {
    /// Defaults: protocol of this build, 5 s dead-man switch, 60 s to reach the coordinator.
    pub fn new(join: &str, token: &str, name: &str, threads: usize) -> WorkerConfig {
        WorkerConfig {
            join: join.to_string(),
            tls_ca: None,
            token: token.to_string(),
            name: name.to_string(),
            threads,
            protocol_version: surge_wire::PROTOCOL_VERSION,
            dead_man: Duration::from_secs(5),
            join_timeout: Duration::from_secs(60),
            regions: Vec::new(),
            test_clock_skew_us: 0,
            test_clock_uncorrected: false,
        }
    }
}

/// How a worker's part of the run ended, when it ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerEnd {
    /// Its plan ran to the end and every figure was acknowledged.
    Finished(ReportLoop),
    /// The coordinator (or Ctrl-C) stopped it; every figure was acknowledged.
    Stopped(String),
    /// A series of runs (a capacity search's probes) is over: it took part in `runs` of them, every
    /// figure acknowledged, and the coordinator said so (`message`) when it joined again.
    Released {
        /// Runs it took part in.
        runs: u32,
        /// The coordinator's words.
        message: String,
    },
}

/// What the report loop did over a run: how often it woke, over how long. It sleeps between events,
/// answers and a 50 ms tick, so a few dozen wake-ups a second at most; more means it spins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportLoop {
    /// Times the loop woke up.
    pub wakes: u64,
    /// Milliseconds from its start to its end.
    pub millis: u64,
    /// The pacing this worker's engine ran with (the coordinator's).
    pub pacing: surge_engine::Pacing,
    /// The HTTP/1.1 client this worker's engine ran with (the coordinator's).
    pub http1: surge_engine::Http1Client,
}

/// Why a worker stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Not a usable `--join` URL.
    #[error("--join")]
    Url(#[source] JoinUrlError),
    /// The `--tls-ca` file is unreadable or holds no certificate.
    #[error(transparent)]
    TlsCa(surge_engine::http::TlsError),
    /// The TLS handshake with the coordinator failed (untrusted certificate, not a TLS server...).
    #[error(
        "tls handshake with the coordinator failed (does this worker trust its certificate? --tls-ca FILE)"
    )]
    Tls(#[source] Box<LinkError>),
    /// The coordinator refused this worker (token, protocol version, run full...).
    #[error("the coordinator refused this worker ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The coordinator's reason.
        message: String,
    },
    /// The coordinator could not be reached before the run started.
    #[error("cannot reach the coordinator {url} for {waited:?}")]
    Unreachable {
        /// The coordinator.
        url: String,
        /// How long the worker kept trying (`--join-timeout`).
        waited: Duration,
        /// The last failure.
        #[source]
        cause: Box<LinkFailure>,
    },
    /// The dead-man switch fired.
    #[error(
        "dead-man switch: no answer from the coordinator at {url} for {secs:.1} s; all load stopped"
    )]
    DeadMan {
        /// The coordinator.
        url: String,
        /// Silence, in s.
        secs: f64,
        /// The last failure (none: exchanges were under way, none had failed yet).
        #[source]
        cause: Option<Box<LinkFailure>>,
    },
    /// The coordinator declared this worker lost and moved its shards.
    #[error("the coordinator declared this worker lost: {0}")]
    Lost(String),
    /// The profile sent by the coordinator does not parse here.
    #[error("the coordinator's profile does not parse here")]
    Profile(#[source] surge_profile::ProfileError),
    /// The profile sent by the coordinator does not compile here.
    #[error("the coordinator's profile does not compile here")]
    Compile(#[source] surge_plan::PlanError),
    /// The profile compiles here to another plan than on the coordinator (another surge version?).
    #[error("the coordinator's profile compiles to {here} here but {there} on the coordinator")]
    Fingerprint {
        /// This worker's plan fingerprint.
        here: String,
        /// The coordinator's.
        there: String,
    },
    /// The coordinator's engine settings cannot be used here (its CA certificates, a source address
    /// that is not local to this worker's host).
    #[error("the coordinator's engine settings")]
    Engine(#[source] surge_engine::ConfigError),
    /// An answer that is not a protocol message.
    #[error("unreadable answer from the coordinator")]
    Protocol(#[source] surge_wire::WireError),
    /// A message to the coordinator could not be encoded.
    #[error("cannot encode a message for the coordinator")]
    Encode(#[source] surge_wire::WireError),
    /// An engine thread could not start.
    #[error("could not start a worker thread")]
    Spawn(#[source] std::io::Error),
}

/// Joins, runs and reports until the run ends for this worker, or `stop` resolves (Ctrl-C: load stops,
/// the last figures are still sent).
pub async fn run_worker(
    cfg: WorkerConfig,
    stop: impl Future<Output = ()>,
) -> Result<WorkerEnd, WorkerError> {
    let link = Link::new(
        &cfg.join,
        &cfg.token,
        cfg.protocol_version,
        cfg.tls_ca.as_deref(),
    )
    .map_err(|e| match e {
        LinkSetup::Url(e) => WorkerError::Url(e),
        LinkSetup::Tls(e) => WorkerError::TlsCa(e),
    })?;
    tokio::pin!(stop);
    let mut stop = StopOnce {
        fut: stop,
        fired: false,
    };
    let mut runs = 0u32;
    loop {
        let joined = tokio::select! {
            a = join(&link, &cfg) => a?,
            _ = &mut stop => return Ok(WorkerEnd::Stopped(if runs == 0 {
                "interrupted before the run started".into()
            } else {
                format!("interrupted between runs, after {runs}")
            })),
        };
        let a = match joined {
            Joined::Assigned(a) => *a,
            Joined::Over(message) if runs > 0 => return Ok(WorkerEnd::Released { runs, message }),
            Joined::Over(message) => {
                return Err(WorkerError::Refused {
                    status: 410,
                    message,
                });
            }
        };
        let rejoin = a.rejoin;
        let end = run_assignment(&link, &cfg, a, Pin::new(&mut stop)).await?;
        runs += 1;
        if !rejoin || stop.fired {
            return Ok(end);
        }
        tracing::info!("run {runs} ended ({end:?}); joining again for the next one");
    }
}

/// A stop signal that may be awaited again after it fired (then it never resolves again), and says
/// whether it fired: a worker taking part in several runs checks it between them.
struct StopOnce<'a, F> {
    fut: Pin<&'a mut F>,
    fired: bool,
}

impl<F: Future<Output = ()>> Future for StopOnce<'_, F> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.fired {
            return std::task::Poll::Pending;
        }
        let ready = self.fut.as_mut().poll(cx).is_ready();
        if ready {
            self.fired = true;
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}

/// Runs one assignment to its end: compile, start the engine threads, report until done.
async fn run_assignment(
    link: &Link,
    cfg: &WorkerConfig,
    mut a: Assignment,
    stop: Pin<&mut impl Future<Output = ()>>,
) -> Result<WorkerEnd, WorkerError> {
    let plan = Arc::new(compile(&a)?);
    if cfg.test_clock_uncorrected {
        a.clock = None;
    }
    let clock = AgentClock {
        skew_us: cfg.test_clock_skew_us,
    };
    match &a.clock {
        Some(c) => {
            tracing::info!("clock offset from the coordinator's {c}: the start is corrected")
        }
        None => {
            tracing::warn!("no clock offset from the coordinator: running on this host's clock")
        }
    }
    let start = clock.engine_start(&a);
    let engine = surge_engine::Engine::new(a.engine.clone()).map_err(WorkerError::Engine)?;
    // This process holds its share of the people: its own descriptor limit applies.
    if let Some(limit) = surge_engine::limits::raise_nofile() {
        let budget = surge_engine::limits::FdBudget::new(limit.soft, false);
        if let Some(why) = budget.shortfall(a.max_in_flight) {
            tracing::warn!("{why}");
            a.max_in_flight = budget.max_in_flight;
        }
    }
    tracing::info!(
        pacing = ?engine.config().pacing,
        http1 = ?engine.config().http1,
        target_ca = engine.config().tls_ca_pem.is_some(),
        source_addresses = engine.config().source_addresses.len(),
        "engine settings from the coordinator"
    );
    tracing::info!(
        worker = a.worker,
        shards = a.shards.len(),
        "joined; plan compiled, starting"
    );
    let crew =
        Crew::spawn(&a, plan.clone(), cfg.threads, engine, start).map_err(WorkerError::Spawn)?;
    let mut r = Reporter::new(link.clone(), cfg, &a, plan.interval, crew);
    r.run_clock = Some(RunClock::new(start, &a));
    let result = r.run(stop).await;
    r.crew.stop_all();
    r.crew.join(Duration::from_secs(2)).await;
    result
}

/// What a join got.
enum Joined {
    /// A run to take part in.
    Assigned(Box<Assignment>),
    /// `410 Gone`: the series of runs this worker took part in is over (the coordinator's words).
    Over(String),
}

/// POSTs the join until the coordinator answers (it answers once every worker has joined).
/// Each attempt first probes the coordinator's clock; the join carries those exchanges.
async fn join(link: &Link, cfg: &WorkerConfig) -> Result<Joined, WorkerError> {
    let clock = AgentClock {
        skew_us: cfg.test_clock_skew_us,
    };
    let mut failing_since: Option<Instant> = None;
    loop {
        let samples = clock
            .probe(link, cfg.protocol_version, AgentClock::join_probes())
            .await;
        let body = surge_wire::encode(&Join {
            version: cfg.protocol_version,
            name: cfg.name.clone(),
            threads: cfg.threads as u32,
            regions: cfg.regions.clone(),
            clock: samples,
        })
        .map_err(WorkerError::Encode)?;
        match link.post(JOIN_PATH, body, None).await {
            Ok((StatusCode::OK, b)) => {
                let a: Assignment = surge_wire::decode(&b).map_err(WorkerError::Protocol)?;
                surge_wire::check_version(a.version).map_err(|e| WorkerError::Refused {
                    status: 409,
                    message: e.to_string(),
                })?;
                return Ok(Joined::Assigned(Box::new(a)));
            }
            Ok((StatusCode::GONE, b)) => return Ok(Joined::Over(refusal_message(&b))),
            Ok((status, b)) if status != StatusCode::SERVICE_UNAVAILABLE => {
                return Err(WorkerError::Refused {
                    status: status.as_u16(),
                    message: refusal_message(&b),
                });
            }
            Ok((status, b)) => {
                let why = LinkFailure::Answered {
                    status: status.as_u16(),
                    message: refusal_message(&b),
                };
                failing(&mut failing_since, cfg, link, why)?;
            }
            Err(e) if e.is_tls() => return Err(WorkerError::Tls(Box::new(e))),
            Err(e) => failing(&mut failing_since, cfg, link, e.into())?,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn failing(
    since: &mut Option<Instant>,
    cfg: &WorkerConfig,
    link: &Link,
    cause: LinkFailure,
) -> Result<(), WorkerError> {
    let t0 = *since.get_or_insert_with(Instant::now);
    if t0.elapsed() >= cfg.join_timeout {
        return Err(WorkerError::Unreachable {
            url: link.base().to_string(),
            waited: cfg.join_timeout,
            cause: Box::new(cause),
        });
    }
    tracing::info!("coordinator not reachable yet, retrying: {}", chain(&cause));
    Ok(())
}

/// Compiles the coordinator's profile (or the steady probe of it a capacity search asks for) with its
/// overrides and checks it is the same plan.
fn compile(a: &Assignment) -> Result<Plan, WorkerError> {
    let mut profile =
        surge_profile::parse(&a.profile.text, &a.profile.origin).map_err(WorkerError::Profile)?;
    if let Some(p) = &a.probe {
        profile = crate::capacity::probe::probe_profile(
            &profile,
            &p.rates,
            Duration::from_millis(p.length_ms),
            p.seed,
        );
    }
    let mut plan =
        Plan::compile(&profile, &a.overrides.overrides()).map_err(WorkerError::Compile)?;
    if let Some(t) = a.overrides.timeout() {
        plan.client.timeout = t;
    }
    let here = PlanFingerprint::of(&plan);
    if here != a.fingerprint {
        return Err(WorkerError::Fingerprint {
            here: format!("{here:?}"),
            there: format!("{:?}", a.fingerprint),
        });
    }
    Ok(plan)
}

type Exchange = Pin<Box<dyn Future<Output = Result<(StatusCode, bytes::Bytes), LinkError>> + Send>>;

/// An error and its causes on one line, for a log line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    super::link::causes(e)
}

/// The report loop: merged intervals out, commands in, the dead-man switch.
struct Reporter {
    link: Link,
    crew: Crew,
    worker: u32,
    version: u32,
    dead_man: DeadMan,
    /// How long one report may wait for its answer.
    answer_timeout: Duration,
    heartbeat: Duration,
    outbox: VecDeque<Report>,
    seq: u64,
    cursor: u64,
    next_send: Instant,
    /// When the last report or heartbeat went out.
    last_send: Instant,
    stopping: Option<String>,
    done_queued: bool,
    /// The engine settings the coordinator assigned.
    engine: surge_engine::EngineConfig,
    /// The corrected run clock, for the stamps of reports.
    run_clock: Option<RunClock>,
    /// The stamp of the report in flight, and the last complete exchange (sent with the next report).
    clock_t0_us: Option<i64>,
    clock_sample: Option<ClockSample>,
    /// This process's presence changes not yet queued, and the coordinator's presence log cursor.
    presence: Vec<(u64, bool)>,
    presence_cursor: u64,
}

impl Reporter {
    fn new(
        link: Link,
        cfg: &WorkerConfig,
        a: &Assignment,
        interval: Duration,
        crew: Crew,
    ) -> Reporter {
        Reporter {
            link,
            crew,
            worker: a.worker,
            version: cfg.protocol_version,
            dead_man: DeadMan::new(cfg.dead_man),
            answer_timeout: (cfg.dead_man / 2).min(Duration::from_secs(2)),
            heartbeat: (interval / 2).clamp(Duration::from_millis(50), Duration::from_millis(500)),
            outbox: VecDeque::new(),
            seq: 0,
            cursor: 0,
            next_send: Instant::now(),
            last_send: Instant::now(),
            stopping: None,
            done_queued: false,
            engine: a.engine.clone(),
            run_clock: None,
            clock_t0_us: None,
            clock_sample: None,
            presence: Vec::new(),
            presence_cursor: 0,
        }
    }

    async fn run(
        &mut self,
        stop: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<WorkerEnd, WorkerError> {
        let mut stop = stop;
        let mut inflight: Option<(Exchange, bool)> = None;
        let mut events_open = true;
        let began = Instant::now();
        let mut wakes = 0u64;
        loop {
            self.queue_ready()?;
            if self.done_queued && self.outbox.is_empty() && inflight.is_none() {
                return Ok(match self.stopping.take() {
                    Some(why) => WorkerEnd::Stopped(why),
                    None => WorkerEnd::Finished(ReportLoop {
                        wakes,
                        millis: began.elapsed().as_millis() as u64,
                        pacing: self.engine.pacing,
                        http1: self.engine.http1,
                    }),
                });
            }
            wakes += 1;
            // New registrations go out within REGISTRATION_FLUSH, heartbeat or not: other workers'
            // discovery checks count a contact as registered only once they hear of it.
            let now = Instant::now();
            self.presence.extend(self.crew.registry.take_presence());
            let flush = !(self.crew.registered.is_empty() && self.presence.is_empty())
                && now >= self.last_send + surge_engine::REGISTRATION_FLUSH;
            if inflight.is_none() && (now >= self.next_send || flush) {
                self.last_send = now;
                inflight = Some(self.send()?);
            }
            let wake = Instant::now() + Duration::from_millis(50);
            tokio::select! {
                // Once every engine thread has ended the channel is closed: `recv` would answer `None`
                // at once, and this loop would spin until the last report is acknowledged.
                ev = self.crew.rx.recv(), if events_open => match ev {
                    Some(ev) => self.crew.on_event(ev),
                    None => events_open = false,
                },
                res = async { match inflight.as_mut() { Some((f, _)) => f.as_mut().await, None => std::future::pending().await } }, if inflight.is_some() => {
                    let content = inflight.take().is_some_and(|(_, c)| c);
                    self.on_answer(res, content)?;
                }
                _ = tokio::time::sleep_until(wake) => {}
                _ = stop.as_mut(), if self.stopping.is_none() => self.stop("interrupted (Ctrl-C)".into()),
            }
            if let Some((silent, cause)) = self.dead_man.fired() {
                self.crew.stop_all();
                tracing::error!(
                    "dead-man switch: coordinator silent for {:.1} s, all load stopped",
                    silent.as_secs_f64()
                );
                return Err(WorkerError::DeadMan {
                    url: self.link.base().to_string(),
                    secs: silent.as_secs_f64(),
                    cause: cause.map(Box::new),
                });
            }
        }
    }

    fn stop(&mut self, why: String) {
        if self.stopping.is_none() {
            tracing::warn!("stopping all load: {why}");
            self.crew.stop_all();
            self.stopping = Some(why);
        }
    }

    /// Queues a report per merged interval, and the final one when every thread has finished.
    fn queue_ready(&mut self) -> Result<(), WorkerError> {
        while let Some(snap) = self.crew.pop_ready() {
            // Packed bucket lists: what the coordinator merges without inflating anything.
            self.push(Some(snap.to_sparse().encode()), false);
        }
        if self.crew.collector.finished() && !self.done_queued {
            self.push(None, true);
            self.done_queued = true;
        }
        Ok(())
    }

    fn push(&mut self, snapshot: Option<surge_metrics::EncodedSnapshot>, done: bool) {
        self.seq += 1;
        self.outbox.push_back(Report {
            version: self.version,
            worker: self.worker,
            seq: self.seq,
            snapshot,
            registered: std::mem::take(&mut self.crew.registered),
            registry_cursor: 0,
            shards_version: 0,
            done,
            error: if done { self.crew.error.clone() } else { None },
            clock_t0_us: None,
            clock_sample: None,
            presence: std::mem::take(&mut self.presence),
            presence_cursor: 0,
        });
    }

    /// Starts sending the oldest unacknowledged report, or a heartbeat.
    fn send(&mut self) -> Result<(Exchange, bool), WorkerError> {
        if self.outbox.is_empty() && !(self.crew.registered.is_empty() && self.presence.is_empty())
        {
            self.push(None, false);
        }
        let (mut report, content) = match self.outbox.front() {
            Some(r) => (r.clone(), true),
            None => (self.heartbeat(), false),
        };
        report.registry_cursor = self.cursor;
        report.presence_cursor = self.presence_cursor;
        report.shards_version = self.crew.shards_version;
        report.clock_sample = self.clock_sample.take();
        self.clock_t0_us = self.run_clock.map(|c| c.now_us());
        report.clock_t0_us = self.clock_t0_us;
        let body = surge_wire::encode(&report).map_err(WorkerError::Encode)?;
        let link = self.link.clone();
        let timeout = Some(self.answer_timeout);
        Ok((
            Box::pin(async move { link.post(REPORT_PATH, body, timeout).await }),
            content,
        ))
    }

    fn heartbeat(&self) -> Report {
        Report {
            version: self.version,
            worker: self.worker,
            seq: self.seq,
            snapshot: None,
            registered: Vec::new(),
            registry_cursor: 0,
            shards_version: 0,
            done: false,
            error: None,
            clock_t0_us: None,
            clock_sample: None,
            presence: Vec::new(),
            presence_cursor: 0,
        }
    }

    fn on_answer(
        &mut self,
        res: Result<(StatusCode, bytes::Bytes), LinkError>,
        content: bool,
    ) -> Result<(), WorkerError> {
        let (status, body) = match res {
            Ok(x) => x,
            Err(e) => {
                let line = chain(&e);
                if self.dead_man.failed(e.into()) {
                    tracing::warn!("coordinator unreachable: {line}");
                }
                self.next_send = Instant::now() + Duration::from_millis(200);
                return Ok(());
            }
        };
        match status {
            StatusCode::OK => {}
            StatusCode::GONE => return Err(WorkerError::Lost(refusal_message(&body))),
            s if s.is_server_error() => {
                self.dead_man.failed(LinkFailure::Answered {
                    status: s.as_u16(),
                    message: refusal_message(&body),
                });
                self.next_send = Instant::now() + Duration::from_millis(200);
                return Ok(());
            }
            s => {
                return Err(WorkerError::Refused {
                    status: s.as_u16(),
                    message: refusal_message(&body),
                });
            }
        }
        let reply: Reply = surge_wire::decode(&body).map_err(WorkerError::Protocol)?;
        if let (Some(echo), Some(rc)) = (reply.clock, self.run_clock)
            && Some(echo.t0_us) == self.clock_t0_us
        {
            self.clock_sample = Some(echo.sample(rc.now_us()));
        }
        self.dead_man.answered();
        if content {
            self.outbox.pop_front();
        }
        self.apply(reply);
        Ok(())
    }

    fn apply(&mut self, reply: Reply) {
        let more = reply.registered.len() >= surge_wire::MAX_REGISTERED_PER_REPLY;
        reply.registered.iter().for_each(|&u| {
            self.crew.registry.insert(u);
        });
        self.cursor = reply.registry_cursor;
        for &(u, on) in &reply.presence {
            self.crew.registry.set_connected_elsewhere(u, on);
        }
        self.presence_cursor = reply.presence_cursor;
        if let Some(list) = &reply.shards {
            tracing::info!(
                shards = list.len(),
                "shard assignment changed (a worker was lost)"
            );
            self.crew.set_shards(list, reply.shards_version);
        }
        if reply.stop {
            self.stop(
                reply
                    .stop_reason
                    .unwrap_or_else(|| "stopped by the coordinator".into()),
            );
        }
        let now = Instant::now();
        self.next_send = if more || !self.outbox.is_empty() {
            now
        } else if !(reply.registered.is_empty() && reply.presence.is_empty()) {
            // Others are registering people: ask again soon, as they hand theirs on.
            now + surge_engine::REGISTRATION_FLUSH.min(self.heartbeat)
        } else {
            now + self.heartbeat
        };
    }
}
