//! The live dashboard: a self-contained web page (`/`) that follows a run through Server-Sent Events
//! (`/events`), with a JSON snapshot for its first load (`/state`) and, once the run's report is
//! written, the report itself (`/report.html`).
//!
//! The run loop hands every merged interval to [`Dashboard`] (through [`crate::LiveMetrics`]); the
//! dashboard renders it once into one JSON message with an id, keeps the last [`RING`] messages, and
//! broadcasts it. Nothing here can hold the run back: publishing takes a short lock and a
//! non-blocking send; a browser that reads slowly falls behind on its own connection and catches up
//! from the ring ([`sse`]). A browser that reconnects sends `Last-Event-ID` and gets exactly the
//! messages it missed.
//!
//! Access ([`Access`]): on a loopback address the page needs nothing; on any other address every
//! request must carry the run's token, as `?token=` or `Authorization: Bearer`.
//!
//! ```no_run
//! # async fn demo(plan: &surge_plan::Plan) {
//! use std::sync::Arc;
//! use surge_coordinator::dashboard::Dashboard;
//! let dash = Arc::new(Dashboard::new("s3cret"));
//! dash.begin(plan, &[], std::path::Path::new("results/run"));
//! let live = Arc::new(surge_coordinator::LiveMetrics::with_dashboard(dash.clone()));
//! // ... cfg.live = Some(live); run; then:
//! dash.ended("complete", None);
//! # }
//! ```

mod sse;
mod update;

pub use sse::SseBody;
pub(crate) use sse::{Reply, route};

use crate::live::View;
use bytes::Bytes;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use surge_metrics::Slo;
use surge_plan::Plan;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// How many messages the dashboard keeps for browsers that reconnect and for the first load (an hour
/// of one-second updates).
pub const RING: usize = 3600;

/// With no merged interval for this long, a tick message still tells browsers the run is alive.
pub const TICK: Duration = Duration::from_secs(1);

/// Send-lag p99 of an interval (ms) above which the generator is flagged saturated (the report's
/// default threshold).
pub const SATURATION_MS: f64 = 10.0;

/// One message: its id and its SSE frame (`id: N`, `data: {json}`).
#[derive(Debug)]
pub(crate) struct Message {
    pub id: u64,
    pub json: Bytes,
    pub frame: Bytes,
}

/// What the run looks like to the page: names, SLOs, lengths.
#[derive(Debug, Clone, Default)]
pub(crate) struct Meta {
    pub name: String,
    pub regions: Vec<String>,
    pub steps: Vec<String>,
    pub slos: Vec<Slo>,
    pub interval_s: f64,
    pub run_duration_s: f64,
    pub population: u64,
    pub out_dir: PathBuf,
    pub max_samples: u64,
}

#[derive(Debug, Default)]
struct State {
    meta: Option<Arc<Meta>>,
    plan: Option<Arc<Plan>>,
    ring: VecDeque<Arc<Message>>,
    next_id: u64,
    began: Option<Instant>,
    last_sent: Option<Instant>,
    /// The last gauges sent (in flight, workers), repeated in ticks.
    gauges: serde_json::Value,
    ended: bool,
    /// The status the run ended with (summary.json's), once ended.
    end_status: Option<String>,
    report: Option<PathBuf>,
}

/// The dashboard's state, shared by the run loop (writer) and the listeners (readers).
#[derive(Debug)]
pub struct Dashboard {
    token: String,
    state: Mutex<State>,
    tx: broadcast::Sender<Arc<Message>>,
    /// Whether anyone opened the page (`/`, `/state` or `/events`, token checked).
    watched: std::sync::atomic::AtomicBool,
}

impl Dashboard {
    /// An empty dashboard whose pages, on an address other than loopback, need `token`;
    /// [`Dashboard::begin`] describes the run.
    pub fn new(token: impl Into<String>) -> Dashboard {
        let (tx, _) = broadcast::channel(64);
        Dashboard {
            token: token.into(),
            state: Mutex::new(State {
                next_id: 1,
                ..State::default()
            }),
            tx,
            watched: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether anyone opened the page (or its stream) so far: someone may be waiting for the
    /// report link, so the listener is worth keeping up after the end.
    pub fn watched(&self) -> bool {
        self.watched.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn mark_watched(&self) {
        self.watched
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The token required off loopback.
    pub fn token(&self) -> &str {
        &self.token
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A run begins (again, with `--repeat`): its names and SLOs, where its results go. Message ids go
    /// on increasing across runs, so a browser never mistakes one run's message for another's.
    pub fn begin(&self, plan: &Plan, slos: &[Slo], out_dir: &Path) {
        let meta = Meta {
            name: plan.name.clone(),
            regions: plan.regions.iter().map(|r| r.name.clone()).collect(),
            steps: plan.steps.clone(),
            slos: slos.to_vec(),
            interval_s: plan.interval.as_secs_f64(),
            run_duration_s: plan.run_duration.as_secs_f64(),
            population: plan.population,
            out_dir: out_dir.to_path_buf(),
            max_samples: plan
                .population
                .saturating_mul(plan.journey.steps.len() as u64),
        };
        let mut s = self.lock();
        s.meta = Some(Arc::new(meta));
        s.plan = Some(Arc::new(plan.clone()));
        s.ring.clear();
        s.began = Some(Instant::now());
        s.ended = false;
        s.end_status = None;
        s.report = None;
        s.gauges = serde_json::Value::Null;
        let msg = update::begin_message(s.meta.as_deref());
        self.push(&mut s, msg);
    }

    /// Renders one merged interval (or a change of worker states) into a message.
    pub(crate) fn update(&self, view: &View<'_>) {
        let mut s = self.lock();
        let (Some(meta), Some(began)) = (s.meta.clone(), s.began) else {
            return;
        };
        let t = began.elapsed().as_secs_f64();
        let (msg, gauges) = update::interval_message(&meta, view, t);
        s.gauges = gauges;
        self.push(&mut s, msg);
    }

    /// A tick when nothing was sent for [`TICK`]: elapsed time and the last gauges. Returns `false`
    /// once the run has ended (no more ticks needed).
    pub fn tick(&self) -> bool {
        let mut s = self.lock();
        if s.ended || s.meta.is_none() {
            return !s.ended;
        }
        let now = Instant::now();
        if s.last_sent.is_some_and(|l| now.duration_since(l) < TICK) {
            return true;
        }
        let t = s.began.map_or(0.0, |b| b.elapsed().as_secs_f64());
        let msg = update::tick_message(t, &s.gauges);
        self.push(&mut s, msg);
        true
    }

    /// The run has ended: `status` as in summary.json (`complete`, `aborted`, ...) and why.
    pub fn ended(&self, status: &str, reason: Option<&str>) {
        let mut s = self.lock();
        s.ended = true;
        s.end_status = Some(status.to_string());
        let t = s.began.map_or(0.0, |b| b.elapsed().as_secs_f64());
        let msg = update::end_message(t, status, reason, s.meta.as_deref());
        self.push(&mut s, msg);
    }

    /// The run's report.html is written at `path`: the page links to `/report.html`.
    pub fn report_ready(&self, path: &Path) {
        let mut s = self.lock();
        s.report = Some(path.to_path_buf());
        let msg = update::report_message();
        self.push(&mut s, msg);
    }

    /// Whether the run has ended.
    pub fn has_ended(&self) -> bool {
        self.lock().ended
    }

    /// The status the last run ended with (`complete`, `aborted`, `interrupted`, `error`, ...), once
    /// it has ended.
    pub fn end_status(&self) -> Option<String> {
        self.lock().end_status.clone()
    }

    /// Sends a tick every [`TICK`] while nothing else is sent, until the run ends or the dashboard is
    /// dropped. Spawned on the current runtime.
    pub fn spawn_ticker(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(TICK / 4);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                match weak.upgrade() {
                    Some(d) if d.tick() => {}
                    _ => break,
                }
            }
        });
    }

    fn push(&self, s: &mut State, json: serde_json::Value) {
        let id = s.next_id;
        s.next_id += 1;
        let mut json = json;
        if let Some(o) = json.as_object_mut() {
            o.insert("id".into(), id.into());
        }
        let text = json.to_string();
        let frame = format!("id: {id}\ndata: {text}\n\n");
        let msg = Arc::new(Message {
            id,
            json: Bytes::from(text),
            frame: Bytes::from(frame),
        });
        if s.ring.len() >= RING {
            s.ring.pop_front();
        }
        s.ring.push_back(msg.clone());
        s.last_sent = Some(Instant::now());
        // No receiver is fine; a slow receiver lags and catches up from the ring.
        let _ = self.tx.send(msg);
    }

    /// Messages with an id above `after`, oldest first (all kept when `after` is 0).
    pub(crate) fn since(&self, after: u64) -> Vec<Arc<Message>> {
        self.lock()
            .ring
            .iter()
            .filter(|m| m.id > after)
            .cloned()
            .collect()
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Message>> {
        self.tx.subscribe()
    }

    /// `/state`: the run's description and every message kept, as one JSON document.
    pub(crate) fn state_json(&self) -> Bytes {
        let s = self.lock();
        let mut out =
            Vec::with_capacity(256 + s.ring.iter().map(|m| m.json.len() + 1).sum::<usize>());
        out.extend_from_slice(b"{\"updates\":[");
        for (i, m) in s.ring.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&m.json);
        }
        out.extend_from_slice(b"]}");
        Bytes::from(out)
    }

    /// report.html once written.
    pub fn report_path(&self) -> Option<PathBuf> {
        self.lock().report.clone()
    }
}

impl Served {
    /// The dashboard `live` feeds, as a listener bound to `addr` serves it (`None`: no dashboard).
    pub(crate) fn on(live: &crate::LiveMetrics, addr: std::net::SocketAddr) -> Option<Served> {
        let dashboard = live.dashboard()?.clone();
        let access = Access::for_addr(addr, dashboard.token());
        Some(Served { dashboard, access })
    }
}

/// Tells the dashboard `live` feeds (if any) that the run ended, well or not.
pub(crate) fn run_ended(
    live: Option<&crate::LiveMetrics>,
    outcome: &Result<crate::RunOutcome, crate::RunError>,
) {
    let Some(d) = live.and_then(|l| l.dashboard()) else {
        return;
    };
    match outcome {
        Ok(o) => d.ended(o.summary.status.as_str(), o.summary.reason.as_deref()),
        Err(e) => d.ended("error", Some(&error_chain(e))),
    }
}

/// An error and its causes, as one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Who may see the dashboard on one listener.
#[derive(Debug, Clone)]
pub enum Access {
    /// Anyone who can connect (a loopback listener).
    Open,
    /// Only requests with this token (`?token=` or `Authorization: Bearer`).
    Token(String),
}

impl Access {
    /// The policy for a listener bound to `addr`: open on loopback, else the token.
    pub fn for_addr(addr: std::net::SocketAddr, token: &str) -> Access {
        if addr.ip().is_loopback() {
            Access::Open
        } else {
            Access::Token(token.to_string())
        }
    }

    /// Whether a token is required.
    pub fn needs_token(&self) -> bool {
        matches!(self, Access::Token(_))
    }
}

/// The dashboard as one listener serves it.
#[derive(Debug, Clone)]
pub struct Served {
    /// The shared state.
    pub dashboard: Arc<Dashboard>,
    /// Who may see it there.
    pub access: Access,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_ring_keeps_the_last_messages_with_consecutive_ids() {
        let d = Dashboard::new("t");
        let plan = surge_plan::Plan::compile(
            &surge_profile::parse(TINY, "tiny.toml").unwrap_or_else(|e| panic!("{e}")),
            &surge_plan::Overrides::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        d.begin(&plan, &[], Path::new("out"));
        for _ in 0..RING + 10 {
            d.ended("complete", None);
        }
        let all = d.since(0);
        assert_eq!(all.len(), RING);
        assert_eq!(all[0].id, 12, "the oldest were dropped");
        assert!(all.windows(2).all(|w| w[1].id == w[0].id + 1));
        let tail = d.since(all[RING - 3].id);
        assert_eq!(tail.len(), 2);
        let frame = std::str::from_utf8(&tail[1].frame).unwrap_or("");
        assert!(
            frame.starts_with(&format!("id: {}\ndata: {{", tail[1].id)) && frame.ends_with("}\n\n")
        );
        assert!(d.has_ended());
        assert!(!d.tick(), "no ticks after the end");
    }

    const TINY: &str = r#"name = "tiny"
description = "dashboard test"
seed = 3
journey = "reference"

[event]
population = 20
duration = "2s"
replay = "2s"
interval = "1s"

[[regions]]
name = "one"
share = 1.0

[curve]
kind = "ramp"
up = "0s"
hold = "2s"
down = "0s"
"#;
}
