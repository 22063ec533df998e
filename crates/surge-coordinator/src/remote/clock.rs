//! Clock offsets in a distributed run: the coordinator's clock is the run's time.
//!
//! A delivery is measured from the sender's `sent_at` (µs since the run's common start on the
//! sender's worker) to its receipt (µs since the common start on the receiver's): when the two sit on
//! different hosts, both must place the common start at the same instant. Each worker therefore probes
//! the coordinator's clock [`surge_wire::clock::JOIN_PROBES`] times just before it joins
//! ([`AgentClock::probe`]); the coordinator estimates its offset from the exchange with the smallest
//! round trip ([`surge_wire::clock::ClockEstimate`]), records it (run.json `clocks`, summary.json
//! `clock`, events.jsonl) and sends it in the assignment; the worker starts at the common start plus
//! its offset on its own clock ([`AgentClock::engine_start`]). From then on the engine measures with
//! the monotonic clock only, so a wall-clock step on the worker mid-run changes nothing.
//!
//! During the run every report carries the worker's corrected run clock ([`RunClock`]) and every
//! reply the coordinator's stamps: the coordinator re-estimates from them ([`Book::run_estimate`]) and
//! records, at the end, how far each corrected clock still is from its own (`clock_check` events):
//! this is the residual error of cross-worker latencies, drift included.
//!
//! For tests, `surge worker` reads `SURGE_TEST_CLOCK_OFFSET_MS` (test-only, undocumented in `--help`):
//! the worker then behaves as if its wall clock were that far ahead (negative: behind).

use super::link::Link;
use super::server::{refuse, respond};
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use surge_wire::clock::{ClockEcho, ClockEstimate, ClockProbe, ClockSample, JOIN_PROBES};
use surge_wire::{Assignment, CLOCK_PATH};
use tokio::time::Instant;

/// Run-time exchanges the coordinator keeps per worker (the newest).
const RUN_SAMPLES: usize = 64;

/// This host's wall clock, µs since the Unix epoch.
pub(crate) fn unix_now_us() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// `SystemTime` of `us` µs since the Unix epoch (negative before it).
fn system_time(us: i64) -> SystemTime {
    let d = Duration::from_micros(us.unsigned_abs());
    if us >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH.checked_sub(d).unwrap_or(UNIX_EPOCH)
    }
}

/// `POST /v1/clock`: the probe's stamp with the coordinator's (`t1_us` taken when the request arrived).
pub(crate) fn echo(body: &Bytes, t1_us: i64) -> Response<Full<Bytes>> {
    let probe: ClockProbe = match surge_wire::decode(body) {
        Ok(p) => p,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, super::link::causes(&e)),
    };
    let echo = ClockEcho {
        t0_us: probe.t0_us,
        t1_us,
        t2_us: unix_now_us(),
    };
    match surge_wire::encode(&echo) {
        Ok(b) => respond(StatusCode::OK, "application/json", b),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, super::link::causes(&e)),
    }
}

/// What the coordinator knows of one worker's clock.
#[derive(Debug, Default)]
pub(crate) struct Book {
    /// Estimated from the join's exchanges: the correction the worker applied.
    pub join: Option<ClockEstimate>,
    /// The newest run-time exchanges (the worker's corrected run clock against ours).
    run: VecDeque<ClockSample>,
}

impl Book {
    /// From the join's exchanges.
    pub fn at_join(samples: &[ClockSample]) -> Book {
        Book {
            join: ClockEstimate::from_samples(samples),
            run: VecDeque::new(),
        }
    }

    /// Adds a run-time exchange.
    pub fn add_run(&mut self, s: ClockSample) {
        if self.run.len() == RUN_SAMPLES {
            self.run.pop_front();
        }
        self.run.push_back(s);
    }

    /// How far the worker's corrected clock is from the coordinator's now (best of the newest
    /// exchanges); `None` before any.
    pub fn run_estimate(&self) -> Option<ClockEstimate> {
        let samples: Vec<ClockSample> = self.run.iter().copied().collect();
        ClockEstimate::from_samples(&samples)
    }
}

/// The worker's wall clock (with the test-only skew) and the probes before the join.
#[derive(Debug, Clone, Copy, Default)]
pub struct AgentClock {
    /// Test-only: how far ahead of this host's real clock the worker pretends its clock is, µs.
    pub skew_us: i64,
}

impl AgentClock {
    /// The worker's wall clock, µs since the Unix epoch.
    pub fn wall_us(&self) -> i64 {
        unix_now_us().saturating_add(self.skew_us)
    }

    /// `n` exchanges with the coordinator; those that failed are left out (the coordinator then
    /// estimates from fewer, or from none: the worker runs on its own clock).
    pub(crate) async fn probe(&self, link: &Link, version: u32, n: usize) -> Vec<ClockSample> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let t0_us = self.wall_us();
            let Ok(body) = surge_wire::encode(&ClockProbe { version, t0_us }) else {
                break;
            };
            let answer = link
                .post(CLOCK_PATH, body, Some(Duration::from_secs(2)))
                .await;
            let t3_us = self.wall_us();
            match answer {
                Ok((StatusCode::OK, b)) => {
                    if let Ok(echo) = surge_wire::decode::<ClockEcho>(&b)
                        && echo.t0_us == t0_us
                    {
                        out.push(echo.sample(t3_us));
                    }
                }
                // An older coordinator, a refusal: the join will say what is wrong.
                Ok(_) | Err(_) => break,
            }
        }
        out
    }

    /// The default number of join probes.
    pub(crate) fn join_probes() -> usize {
        JOIN_PROBES
    }

    /// The common start as the engine takes it (on this host's real clock, which the engine reads):
    /// the assignment's start plus the estimated offset is the start on the worker's clock; minus the
    /// test skew, on the real one.
    pub fn engine_start(&self, a: &Assignment) -> SystemTime {
        let start_us = i64::try_from(a.start_unix_ms)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        let offset = a.clock.map_or(0, |c| c.offset_us);
        system_time(start_us.saturating_add(offset).saturating_sub(self.skew_us))
    }
}

/// The worker's run clock: the coordinator's time as the engine's monotonic clock carries it from the
/// corrected common start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunClock {
    origin: Instant,
    origin_us: i64,
}

impl RunClock {
    /// The engine's start instant (as `surge_engine` derives it from `engine_start`) is the
    /// coordinator's `start_unix_ms`.
    pub fn new(engine_start: SystemTime, a: &Assignment) -> RunClock {
        let now = Instant::now();
        let origin = match engine_start.duration_since(SystemTime::now()) {
            Ok(ahead) => now + ahead,
            Err(behind) => now.checked_sub(behind.duration()).unwrap_or(now),
        };
        RunClock {
            origin,
            origin_us: i64::try_from(a.start_unix_ms)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
        }
    }

    /// Now, µs since the Unix epoch on the coordinator's time (as this worker believes it).
    pub fn now_us(&self) -> i64 {
        let now = Instant::now();
        let since = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        if now >= self.origin {
            self.origin_us
                .saturating_add(since(now.duration_since(self.origin)))
        } else {
            self.origin_us
                .saturating_sub(since(self.origin.duration_since(now)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_ring_keeps_the_newest_and_estimates_from_them() {
        let mut b = Book::default();
        assert!(b.run_estimate().is_none());
        for i in 0..(RUN_SAMPLES as i64 + 10) {
            // Offset 5 ms, round trip 2i µs + 2 µs: the newest have the largest round trips, but
            // the ring has forgotten the oldest.
            b.add_run(ClockSample {
                t0_us: 5000,
                t1_us: -i,
                t2_us: -i,
                t3_us: 5000 + 2,
            });
        }
        let e = b.run_estimate().unwrap_or_else(|| panic!("estimate"));
        assert_eq!(e.samples as usize, RUN_SAMPLES);
    }

    #[test]
    fn the_engine_start_moves_by_the_offset_less_the_test_skew() {
        let a = |offset_us: Option<i64>| Assignment {
            clock: offset_us.map(|o| ClockEstimate {
                offset_us: o,
                bound_us: 10,
                samples: 8,
            }),
            ..assignment()
        };
        let real = |c: AgentClock, a: &Assignment| {
            c.engine_start(a)
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(-1)
        };
        let plain = AgentClock::default();
        assert_eq!(real(plain, &a(None)), 1_000_000_000);
        assert_eq!(real(plain, &a(Some(-2500))), 999_997_500);
        // A worker 300 ms ahead whose offset was estimated right starts at the real start.
        let ahead = AgentClock { skew_us: 300_000 };
        assert_eq!(real(ahead, &a(Some(300_000))), 1_000_000_000);
        // Uncorrected, it would start 300 ms early.
        assert_eq!(real(ahead, &a(None)), 999_700_000);
    }

    fn assignment() -> Assignment {
        Assignment {
            version: surge_wire::PROTOCOL_VERSION,
            worker: 0,
            workers: 1,
            profile: surge_wire::ProfileSource {
                text: String::new(),
                origin: String::new(),
            },
            overrides: Default::default(),
            fingerprint: surge_wire::PlanFingerprint {
                population: 0,
                shards: 0,
                seed: 0,
                interval_ms: 0,
                regions: vec![],
                steps: vec![],
            },
            target: String::new(),
            shards: vec![],
            shards_version: 0,
            start_unix_ms: 1_000_000,
            max_in_flight: 1,
            max_rps: 0,
            concurrency: 0,
            drain_ms: 0,
            engine: surge_engine::EngineConfig::default(),
            first_interval: 0,
            by_region: false,
            clock: None,
            probe: None,
            rejoin: false,
        }
    }
}
