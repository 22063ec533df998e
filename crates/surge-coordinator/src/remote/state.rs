//! What the coordinator knows about its remote workers, shared by the HTTP handlers (which feed the run
//! loop [`WorkerEvent`]s) and the run loop (which commands through [`RemotePool`]).

use super::clock::{Book, unix_now_us};
use super::link::causes;
use super::server::{refuse, respond};
use crate::pool::Pool;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use surge_engine::{Registry, WorkerEvent};
use surge_metrics::SparseSnapshot;
use surge_wire::clock::{ClockEcho, ClockEstimate};
use surge_wire::{Assignment, Join, MAX_REGISTERED_PER_REPLY, PROTOCOL_VERSION, Reply, Report};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// A remote worker's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Live,
    Done,
    Lost,
}

#[derive(Debug)]
struct Remote {
    name: String,
    standing: Standing,
    last_seen: Instant,
    last_seq: u64,
    shards: Vec<u32>,
    shards_version: u64,
    /// The regions it is placed in (placement by region), as region indexes.
    regions: Vec<u16>,
    clock: Book,
    /// How far into the presence log it has read (its reports' cursor, absolute).
    presence_read: u64,
}

#[derive(Debug)]
struct Inner {
    workers: Vec<Remote>,
    /// Every registration confirmed by any worker, once, in the order received.
    log: Vec<u64>,
    seen: Registry,
    /// Presence changes any worker reported, in the order received, with its worker: those some
    /// live worker has not read yet (the ones every live worker read are dropped, so the log stays
    /// bounded however long a run reconnects).
    presence: VecDeque<(u64, bool, u32)>,
    /// Absolute position of `presence[0]` (cursors count from the run's first change).
    presence_base: u64,
    stop: Option<String>,
    started: bool,
}

/// The coordinator's side of the protocol.
pub(crate) struct RemoteState {
    token: String,
    /// The plan (for placement: its regions and shards).
    plan: Arc<surge_plan::Plan>,
    /// Placement by region (`--placement region`).
    by_region: bool,
    /// One of a series of runs on this address (a capacity search): a worker joining again after
    /// the end is told to retry (the next run will have it), not that the run has ended.
    pub(crate) series: bool,
    expected: usize,
    shape: (u16, u16),
    max_interval: u64,
    inner: Mutex<Inner>,
    joined: watch::Sender<usize>,
    assigned: watch::Sender<Option<Arc<Assignment>>>,
    /// Set when the run is refused before it starts: the waiting joins answer it.
    refused: watch::Sender<Option<String>>,
    events: mpsc::UnboundedSender<WorkerEvent>,
}

impl RemoteState {
    pub fn new(
        token: String,
        expected: usize,
        plan: &Arc<surge_plan::Plan>,
        by_region: bool,
        max_interval: u64,
        events: mpsc::UnboundedSender<WorkerEvent>,
    ) -> RemoteState {
        RemoteState {
            token,
            plan: plan.clone(),
            by_region,
            series: false,
            expected,
            shape: (plan.regions.len() as u16, plan.steps.len() as u16),
            max_interval,
            inner: Mutex::new(Inner {
                workers: Vec::new(),
                log: Vec::new(),
                seen: Registry::new(plan.population),
                presence: VecDeque::new(),
                presence_base: 0,
                stop: None,
                started: false,
            }),
            joined: watch::channel(0).0,
            assigned: watch::channel(None).0,
            refused: watch::channel(None).0,
            events,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn token_ok(&self, given: &str) -> bool {
        surge_wire::token_matches(&self.token, given)
    }

    /// Follows the number of workers joined.
    pub fn joined(&self) -> watch::Receiver<usize> {
        self.joined.subscribe()
    }

    /// The names of the workers, in index order.
    pub fn names(&self) -> Vec<String> {
        self.lock().workers.iter().map(|w| w.name.clone()).collect()
    }

    /// Every worker's units at the start (see [`super::placement::assign`]).
    pub fn initial_units(&self) -> Result<Vec<Vec<u32>>, super::placement::PlacementError> {
        let inner = self.lock();
        let names: Vec<String> = inner.workers.iter().map(|w| w.name.clone()).collect();
        let regions: Vec<Vec<u16>> = inner.workers.iter().map(|w| w.regions.clone()).collect();
        super::placement::assign(&self.plan, self.by_region, &names, &regions)
    }

    /// Region -> workers placed in it (empty without placement), for run.json.
    pub fn placement(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        if !self.by_region {
            return Default::default();
        }
        let inner = self.lock();
        let names: Vec<String> = inner.workers.iter().map(|w| w.name.clone()).collect();
        let regions: Vec<Vec<u16>> = inner.workers.iter().map(|w| w.regions.clone()).collect();
        super::placement::table(&self.plan, &names, &regions)
    }

    /// Each worker's name and clock offset as estimated at its join (`None`: no usable exchange).
    pub fn clocks_at_join(&self) -> Vec<(String, Option<ClockEstimate>)> {
        let inner = self.lock();
        inner
            .workers
            .iter()
            .map(|w| (w.name.clone(), w.clock.join))
            .collect()
    }

    /// Fixes every worker's shards and releases the waiting joins with their assignments.
    pub fn start(&self, template: Assignment, shards: Vec<Vec<u32>>) {
        {
            let mut inner = self.lock();
            inner.started = true;
            let now = Instant::now();
            for (w, s) in inner.workers.iter_mut().zip(shards) {
                w.shards = s;
                w.shards_version = 1;
                w.last_seen = now;
            }
        }
        self.assigned.send_replace(Some(Arc::new(template)));
    }

    /// Refuses the run before it starts: every waiting join is answered 409 with `reason`.
    pub fn refuse(&self, reason: &str) {
        self.set_stop(reason);
        self.refused.send_replace(Some(reason.to_string()));
    }

    /// Sets the stop command that every later reply carries.
    pub fn set_stop(&self, reason: &str) {
        let mut inner = self.lock();
        if inner.stop.is_none() {
            inner.stop = Some(reason.to_string());
        }
    }

    /// `POST /v1/join`: registers the worker, then waits until the run starts and answers its assignment.
    pub async fn join(&self, body: &Bytes, peer: SocketAddr) -> Response<Full<Bytes>> {
        let join: Join = match surge_wire::decode(body) {
            Ok(j) => j,
            Err(e) => return refuse(StatusCode::BAD_REQUEST, causes(&e)),
        };
        if let Err(e) = surge_wire::check_version(join.version) {
            return refuse(
                StatusCode::CONFLICT,
                format!("coordinator refused the worker: {e}"),
            );
        }
        let regions = match super::placement::resolve(&self.plan, self.by_region, &join.regions) {
            Ok(r) => r,
            Err(e) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    format!("coordinator refused the worker: {e}"),
                );
            }
        };
        let id = {
            let mut inner = self.lock();
            if inner.started && (self.series || inner.stop.is_some()) {
                return if self.series {
                    // A worker of a series of runs (a capacity search's probes) joining again
                    // while this one ends: the next run will have it; it retries.
                    refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "this probe has ended: retry for the next one".into(),
                    )
                } else {
                    refuse(StatusCode::GONE, "the run has ended".into())
                };
            }
            if inner.started || inner.workers.len() >= self.expected {
                return refuse(
                    StatusCode::FORBIDDEN,
                    format!("the run already has its {} workers", self.expected),
                );
            }
            let name: String = join
                .name
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect();
            inner.workers.push(Remote {
                name: format!("{name}@{peer}"),
                standing: Standing::Live,
                last_seen: Instant::now(),
                last_seq: 0,
                shards: Vec::new(),
                shards_version: 0,
                regions,
                clock: Book::at_join(&join.clock),
                presence_read: 0,
            });
            let n = inner.workers.len();
            self.joined.send_replace(n);
            n - 1
        };
        tracing::info!(%peer, worker = id, name = %join.name, threads = join.threads, "worker joined");
        match ClockEstimate::from_samples(&join.clock) {
            Some(c) if c.warns() => tracing::warn!(
                %peer, worker = id, name = %join.name,
                "worker clock offset {c}: beyond ±{} ms (is NTP running on its host?); corrected for this run",
                surge_wire::clock::WARN_OFFSET_US / 1000
            ),
            Some(c) => tracing::info!(%peer, worker = id, "worker clock offset {c}"),
            None => {
                tracing::warn!(%peer, worker = id, "worker sent no usable clock exchange: it runs on its own clock, uncorrected")
            }
        }
        self.assignment_for(id).await
    }

    /// Waits for the start, then answers worker `id`'s assignment.
    async fn assignment_for(&self, id: usize) -> Response<Full<Bytes>> {
        let mut rx = self.assigned.subscribe();
        let mut refused = self.refused.subscribe();
        let template = tokio::select! {
            a = rx.wait_for(|a| a.is_some()) => match a {
                Ok(a) => a.clone(),
                Err(_) => None,
            },
            r = refused.wait_for(|r| r.is_some()) => {
                let reason = r.ok().and_then(|r| r.clone()).unwrap_or_default();
                return refuse(StatusCode::CONFLICT, format!("coordinator refused the run: {reason}"));
            }
        };
        let Some(template) = template else {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the coordinator is shutting down".into(),
            );
        };
        let mut a = (*template).clone();
        {
            let mut inner = self.lock();
            let Some(w) = inner.workers.get_mut(id) else {
                return refuse(StatusCode::INTERNAL_SERVER_ERROR, "worker vanished".into());
            };
            w.last_seen = Instant::now();
            a.worker = id as u32;
            a.shards.clone_from(&w.shards);
            a.shards_version = w.shards_version;
            a.clock = w.clock.join;
            a.concurrency = crate::run::concurrency_share_n(a.concurrency, id, self.expected);
        }
        match surge_wire::encode(&a) {
            Ok(b) => respond(StatusCode::OK, "application/json", b),
            Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, causes(&e)),
        }
    }

    /// `POST /v1/report`: takes the content once (resends are acknowledged, not counted twice) and
    /// answers the commands.
    pub fn report(&self, body: &Bytes, peer: SocketAddr, t1_us: i64) -> Response<Full<Bytes>> {
        let report: Report = match surge_wire::decode(body) {
            Ok(r) => r,
            Err(e) => return refuse(StatusCode::BAD_REQUEST, causes(&e)),
        };
        if let Err(e) = surge_wire::check_version(report.version) {
            return refuse(
                StatusCode::CONFLICT,
                format!("coordinator refused the worker: {e}"),
            );
        }
        let snap = match report
            .snapshot
            .as_ref()
            .map(|s| self.check_snapshot(s))
            .transpose()
        {
            Ok(s) => s,
            Err(e) => return refuse(StatusCode::BAD_REQUEST, causes(&e)),
        };
        let mut inner = self.lock();
        let Inner {
            workers,
            log,
            seen,
            presence,
            presence_base,
            stop,
            ..
        } = &mut *inner;
        let w = report.worker as usize;
        let Some(remote) = workers.get_mut(w) else {
            return refuse(StatusCode::NOT_FOUND, format!("unknown worker {w}"));
        };
        if remote.standing == Standing::Lost {
            tracing::warn!(%peer, worker = w, "report from a worker already declared lost: told to stop");
            return refuse(
                StatusCode::GONE,
                "this worker was declared lost (silent too long); its shards moved to others: stop"
                    .into(),
            );
        }
        remote.last_seen = Instant::now();
        if let Some(sample) = report.clock_sample {
            remote.clock.add_run(sample);
        }
        if report.seq > remote.last_seq {
            remote.last_seq = report.seq;
            for &u in &report.registered {
                if seen.insert(u) {
                    log.push(u);
                }
            }
            presence.extend(report.presence.iter().map(|&(u, on)| (u, on, w as u32)));
            self.forward(w, remote, &report, snap);
        }
        remote.presence_read = remote.presence_read.max(report.presence_cursor);
        let mut reply = reply_to(&report, remote, log, stop);
        let from = usize::try_from(report.presence_cursor.saturating_sub(*presence_base))
            .unwrap_or(usize::MAX)
            .min(presence.len());
        let to = (from + MAX_REGISTERED_PER_REPLY).min(presence.len());
        reply.presence = presence
            .range(from..to)
            .filter(|e| e.2 != w as u32)
            .map(|&(u, on, _)| (u, on))
            .collect();
        reply.presence_cursor = *presence_base + to as u64;
        compact_presence(workers, presence, presence_base);
        reply.clock = report.clock_t0_us.map(|t0_us| ClockEcho {
            t0_us,
            t1_us,
            t2_us: unix_now_us(),
        });
        match surge_wire::encode(&reply) {
            Ok(b) => respond(StatusCode::OK, "application/json", b),
            Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, causes(&e)),
        }
    }

    /// Length of the presence log (changes not yet read by every live worker).
    #[cfg(test)]
    fn presence_len(&self) -> usize {
        self.lock().presence.len()
    }

    /// Hands a new report's figures (and its end) to the run loop.
    fn forward(
        &self,
        w: usize,
        remote: &mut Remote,
        report: &Report,
        snap: Option<SparseSnapshot>,
    ) {
        if let Some(snap) = snap {
            let _ = self.events.send(WorkerEvent::Snapshot {
                worker: w,
                snap,
                registered: Vec::new(),
            });
        }
        if report.done && remote.standing == Standing::Live {
            remote.standing = Standing::Done;
            let _ = self.events.send(WorkerEvent::Done {
                worker: w,
                error: report.error.clone(),
            });
        }
    }

    /// Decodes a snapshot (straight to the sparse form the run loop merges, here in the handler's
    /// thread) and checks it fits this run: shape and a plausible interval index.
    fn check_snapshot(
        &self,
        enc: &surge_metrics::EncodedSnapshot,
    ) -> Result<SparseSnapshot, BadSnapshot> {
        let snap = enc.decode_sparse().map_err(BadSnapshot::Decode)?;
        if (snap.regions, snap.steps) != self.shape {
            return Err(BadSnapshot::Shape {
                got: (snap.regions, snap.steps),
                want: self.shape,
            });
        }
        if snap.interval > self.max_interval {
            return Err(BadSnapshot::Interval {
                got: snap.interval,
                last: self.max_interval,
            });
        }
        Ok(snap)
    }
}

/// Why a worker's snapshot is refused (the worker is told, as the refusal's text).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BadSnapshot {
    /// Not a snapshot.
    #[error("snapshot")]
    Decode(#[source] surge_metrics::MetricsError),
    /// Another plan's shape.
    #[error(
        "snapshot shape {}x{} does not match the plan's {}x{} regions x steps",
        got.0, got.1, want.0, want.1
    )]
    Shape {
        /// The snapshot's.
        got: (u16, u16),
        /// The plan's.
        want: (u16, u16),
    },
    /// Past the run's end.
    #[error("snapshot interval {got} is beyond the run's last ({last})")]
    Interval {
        /// The snapshot's.
        got: u64,
        /// The run's last.
        last: u64,
    },
}

/// The commands for one worker: the registrations it has not seen, its shards when they changed, stop.
fn reply_to(report: &Report, remote: &Remote, log: &[u64], stop: &Option<String>) -> Reply {
    let from = (report.registry_cursor as usize).min(log.len());
    let to = (from + MAX_REGISTERED_PER_REPLY).min(log.len());
    Reply {
        version: PROTOCOL_VERSION,
        registered: log[from..to].to_vec(),
        registry_cursor: to as u64,
        shards_version: remote.shards_version,
        shards: (report.shards_version != remote.shards_version).then(|| remote.shards.clone()),
        stop: stop.is_some(),
        stop_reason: stop.clone(),
        clock: None,
        presence: Vec::new(),
        presence_cursor: 0,
    }
}

/// The run loop's handle on the remote workers.
pub(crate) struct RemotePool {
    pub state: Arc<RemoteState>,
}

impl Pool for RemotePool {
    fn names(&self) -> Vec<String> {
        self.state.names()
    }

    fn silent(&self, limit: Duration) -> Vec<usize> {
        let inner = self.state.lock();
        inner
            .workers
            .iter()
            .enumerate()
            .filter(|(_, w)| w.standing == Standing::Live && w.last_seen.elapsed() > limit)
            .map(|(i, _)| i)
            .collect()
    }

    fn lose(&mut self, worker: usize) -> Vec<u32> {
        let mut inner = self.state.lock();
        match inner.workers.get_mut(worker) {
            Some(w) => {
                w.standing = Standing::Lost;
                std::mem::take(&mut w.shards)
            }
            None => Vec::new(),
        }
    }

    fn redistribute(
        &self,
        shards: &[u32],
        survivors: &[usize],
    ) -> (Vec<(usize, Vec<u32>)>, Vec<String>) {
        if !self.state.by_region {
            return (crate::pool::redistribute(shards, survivors), Vec::new());
        }
        let regions: Vec<Vec<u16>> = self
            .state
            .lock()
            .workers
            .iter()
            .map(|w| w.regions.clone())
            .collect();
        super::placement::redistribute(&self.state.plan, shards, survivors, &regions)
    }

    fn placement(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        self.state.placement()
    }

    fn add_shards(&mut self, worker: usize, shards: &[u32]) {
        let mut inner = self.state.lock();
        if let Some(w) = inner.workers.get_mut(worker) {
            w.shards.extend_from_slice(shards);
            w.shards.sort_unstable();
            w.shards.dedup();
            w.shards_version += 1;
        }
    }

    fn stop_all(&mut self, reason: &str) {
        self.state.set_stop(reason);
    }

    fn clock_checks(&self) -> Vec<Option<ClockEstimate>> {
        let inner = self.state.lock();
        inner
            .workers
            .iter()
            .map(|w| w.clock.run_estimate())
            .collect()
    }

    async fn finish(self) {}
}

/// The presence log is dropped in steps of this many changes read by every live worker.
const PRESENCE_COMPACT: u64 = 4096;

/// Drops the presence changes every live worker has read (a lost worker reads no more; joins end
/// when the run starts, so no worker can still need them).
fn compact_presence(workers: &[Remote], presence: &mut VecDeque<(u64, bool, u32)>, base: &mut u64) {
    let Some(low) = workers
        .iter()
        .filter(|r| r.standing != Standing::Lost)
        .map(|r| r.presence_read)
        .min()
    else {
        return;
    };
    let read = low.saturating_sub(*base).min(presence.len() as u64);
    if read >= PRESENCE_COMPACT {
        presence.drain(..read as usize);
        *base += read;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(workers: usize) -> Result<RemotePool, Box<dyn std::error::Error>> {
        let profile = surge_profile::parse(
            &surge_testkit::profiles::one_step_text("tiny", 20, 4, ""),
            "<tiny>",
        )?;
        let plan = surge_plan::Plan::compile(&profile, &surge_plan::Overrides::default())?;
        let state = RemoteState::new(
            "t".into(),
            workers,
            &Arc::new(plan),
            false,
            10,
            mpsc::unbounded_channel().0,
        );
        for i in 0..workers {
            state.lock().workers.push(Remote {
                name: format!("w{i}"),
                standing: Standing::Live,
                last_seen: Instant::now(),
                last_seq: 0,
                shards: vec![i as u32],
                shards_version: 1,
                regions: Vec::new(),
                clock: Book::default(),
                presence_read: 0,
            });
        }
        Ok(RemotePool {
            state: Arc::new(state),
        })
    }

    /// Worker-loss detection on tokio's clock: paused, advanced by hand, no wall-clock sleep.
    #[tokio::test(start_paused = true)]
    async fn a_worker_is_silent_only_once_its_last_word_is_older_than_the_limit()
    -> Result<(), Box<dyn std::error::Error>> {
        let mut pool = pool(2)?;
        let limit = Duration::from_secs(3);
        tokio::time::advance(limit).await;
        assert_eq!(
            pool.silent(limit),
            Vec::<usize>::new(),
            "exactly at the limit"
        );
        // Worker 1 speaks; worker 0 stays silent past the limit.
        pool.state.lock().workers[1].last_seen = Instant::now();
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(pool.silent(limit), vec![0]);
        assert_eq!(pool.lose(0), vec![0]);
        // A lost worker is not reported again; worker 1 goes silent in turn.
        tokio::time::advance(limit).await;
        assert_eq!(pool.silent(limit), vec![1]);
        Ok(())
    }

    /// A report of `worker` carrying presence `changes`, having read the log up to `cursor`.
    fn presence_report(worker: u32, seq: u64, changes: Vec<(u64, bool)>, cursor: u64) -> Bytes {
        let r = Report {
            version: PROTOCOL_VERSION,
            worker,
            seq,
            snapshot: None,
            registered: Vec::new(),
            registry_cursor: 0,
            shards_version: 1,
            done: false,
            error: None,
            clock_t0_us: None,
            clock_sample: None,
            presence: changes,
            presence_cursor: cursor,
        };
        Bytes::from(surge_wire::encode(&r).unwrap_or_default())
    }

    async fn reply_of(r: Response<Full<Bytes>>) -> Result<Reply, Box<dyn std::error::Error>> {
        use http_body_util::BodyExt;
        let body = r.into_body().collect().await?.to_bytes();
        Ok(surge_wire::decode(&body)?)
    }

    /// A long run's reconnects: 40 reports of 1,000 presence changes each from one worker. The
    /// other worker receives every one of them, in order, and the log never holds more than what
    /// some worker has not read plus a compaction step.
    #[tokio::test]
    async fn the_presence_log_stays_bounded_and_relays_every_change()
    -> Result<(), Box<dyn std::error::Error>> {
        let pool = pool(2)?;
        let st = &pool.state;
        let peer: SocketAddr = "127.0.0.1:9".parse()?;
        let (mut c0, mut c1, mut seq1) = (0u64, 0u64, 0u64);
        let mut relayed = Vec::new();
        let mut longest = 0;
        for seq in 1..=40u64 {
            let changes: Vec<(u64, bool)> =
                (0..1000).map(|i| (seq * 1000 + i, i % 2 == 0)).collect();
            let reply = reply_of(st.report(&presence_report(0, seq, changes, c0), peer, 0)).await?;
            assert!(
                reply.presence.is_empty(),
                "a worker's own changes stay its own"
            );
            c0 = reply.presence_cursor;
            loop {
                seq1 += 1;
                let r = presence_report(1, seq1, Vec::new(), c1);
                let reply = reply_of(st.report(&r, peer, 0)).await?;
                relayed.extend(reply.presence.iter().map(|&(u, _)| u));
                let caught_up = reply.presence_cursor == c1;
                c1 = reply.presence_cursor;
                if caught_up {
                    break;
                }
            }
            longest = longest.max(st.presence_len());
        }
        let want: Vec<u64> = (1..=40u64)
            .flat_map(|s| (0..1000).map(move |i| s * 1000 + i))
            .collect();
        assert_eq!(relayed, want);
        assert_eq!(c1, 40_000, "cursors stay absolute across compactions");
        assert!(
            longest <= PRESENCE_COMPACT as usize + 2 * 1000,
            "the log held {longest} changes"
        );
        assert!(st.presence_len() < PRESENCE_COMPACT as usize + 1000);
        Ok(())
    }
}
