//! # surge-wire
//!
//! The versioned messages between a surge coordinator and its workers, and the token check. The
//! transport (HTTP/1.1 with JSON bodies, in `surge-coordinator`) is not here: this crate only says what
//! the messages are, how they are encoded, and how a request proves it belongs to the run.
//!
//! The conversation, all `POST`s from the worker, each with `authorization: Bearer TOKEN` and the
//! [`VERSION_HEADER`]:
//!
//! 1. [`JOIN_PATH`] with a [`Join`]; the coordinator answers, once every expected worker has joined,
//!    with an [`Assignment`]: the profile text and overrides (the worker compiles the plan itself),
//!    the target, its shards and the common start time.
//! 2. [`REPORT_PATH`] with a [`Report`] per interval (a snapshot, histograms as surge's packed bucket
//!    lists, and the people it saw registered) or as a heartbeat (nothing new); every [`Reply`] carries the
//!    registrations other workers confirmed, shards moved to this worker, and stop.
//!
//! Before joining, a worker probes the coordinator's clock ([`CLOCK_PATH`], [`clock`]): the join
//! carries those exchanges, the coordinator estimates the worker's offset from them, and the
//! assignment says it, so that the worker places the common start (and with it every `sent_at` and
//! delivery) on the coordinator's time. Reports and replies keep exchanging stamps during the run:
//! they measure how far the corrected clock has drifted.
//!
//! A worker of another protocol version is refused with `409 Conflict` and a [`Refusal`] that says so;
//! a wrong token with `401`.
//!
//! ```
//! use surge_wire::{Join, PROTOCOL_VERSION, decode, encode, token_matches};
//! let join = Join { version: PROTOCOL_VERSION, name: "worker-a".into(), threads: 2, regions: vec![], clock: vec![] };
//! let bytes = encode(&join).unwrap();
//! let back: Join = decode(&bytes).unwrap();
//! assert_eq!(back.name, "worker-a");
//! assert!(token_matches("s3cret", "s3cret") && !token_matches("s3cret", "guess"));
//! ```
#![warn(missing_docs)]

pub mod clock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;
use surge_metrics::EncodedSnapshot;
use surge_plan::{Overrides, Plan};

/// The protocol this build speaks. Bumped on any change a peer of the previous version would misread.
/// 2: workers send their histograms as surge's packed bucket lists
/// ([`surge_metrics::codec::packed`]), which a version-1 coordinator cannot decode.
/// 3: the engine settings travel as one typed [`surge_engine::EngineConfig`], and outcomes gained
/// `unfinished`, `generator_fd` and `generator_ports` (17 counters where version 2 sent 14).
/// 4: clock offsets: [`CLOCK_PATH`], [`Join::clock`], [`Assignment::clock`], the stamps of
/// [`Report::clock_t0_us`], [`Report::clock_sample`] and [`Reply::clock`]; presence of connected
/// people ([`Report::presence`], [`Reply::presence`]) so that messages cross workers; placement by
/// region ([`Join::regions`], [`Assignment::by_region`]).
/// 5: capacity searches through the coordinator: [`Assignment::probe`] (the run is a steady probe of
/// the profile, which a version-4 worker would run as the whole profile) and [`Assignment::rejoin`].
pub const PROTOCOL_VERSION: u32 = 5;
/// Header carrying the sender's protocol version on every request (checked before the body is read).
pub const VERSION_HEADER: &str = "surge-protocol";
/// Where a worker joins.
pub const JOIN_PATH: &str = "/v1/join";
/// Where a worker reports.
pub const REPORT_PATH: &str = "/v1/report";
/// Where a worker probes the coordinator's clock ([`clock::ClockProbe`] in, [`clock::ClockEcho`] out).
pub const CLOCK_PATH: &str = "/v1/clock";
/// Largest message body accepted, either way.
pub const MAX_BODY: usize = 64 << 20;
/// Most registrations sent back in one reply (the rest follow in the next ones).
pub const MAX_REGISTERED_PER_REPLY: usize = 1 << 20;

/// Why a message could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Not JSON of the expected shape.
    #[error("malformed message")]
    Json(#[from] serde_json::Error),
    /// The peer speaks another protocol version.
    #[error(
        "protocol version mismatch: this side speaks v{ours}, the peer v{theirs}; run the same surge version on both"
    )]
    Version {
        /// Ours.
        ours: u32,
        /// Theirs.
        theirs: u32,
    },
}

/// Checks a peer's version.
pub fn check_version(theirs: u32) -> Result<(), WireError> {
    if theirs == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(WireError::Version {
            ours: PROTOCOL_VERSION,
            theirs,
        })
    }
}

/// Encodes a message as JSON bytes.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, WireError> {
    Ok(serde_json::to_vec(msg)?)
}

/// Decodes a message from JSON bytes (never panics on hostile input).
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, WireError> {
    Ok(serde_json::from_slice(bytes)?)
}

/// Whether `given` is the run's token, compared in constant time: both are hashed and the digests
/// compared without an early exit, so neither the content nor the length of the token leaks.
pub fn token_matches(expected: &str, given: &str) -> bool {
    let a = Sha256::digest(expected.as_bytes());
    let b = Sha256::digest(given.as_bytes());
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    diff == 0 && !expected.is_empty()
}

/// The token of an `authorization: Bearer TOKEN` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// A worker asks to take part in the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Join {
    /// Sender's protocol version.
    pub version: u32,
    /// A label for results and logs (host name, pod name).
    pub name: String,
    /// Engine threads the worker will run.
    pub threads: u32,
    /// The regions this worker is placed in (`surge worker --region`): under placement by region
    /// it runs only their people. Empty: no placement asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// The clock exchanges the worker made just before joining (see [`clock`]).
    #[serde(default)]
    pub clock: Vec<clock::ClockSample>,
}

/// The profile as the coordinator read it: workers need no files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileSource {
    /// The TOML text.
    pub text: String,
    /// Where the coordinator read it (labels errors; relative paths resolve against its folder).
    pub origin: String,
}

/// The command-line overrides the coordinator applied, so workers compile the same plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WireOverrides {
    /// `--scale`.
    pub scale: Option<f64>,
    /// `--duration`, in ms.
    pub duration_ms: Option<u64>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--interval`, in ms.
    pub interval_ms: Option<u64>,
    /// `--concurrency`.
    pub concurrency: Option<u32>,
    /// `--timeout` (per request), in ms.
    pub timeout_ms: Option<u64>,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl WireOverrides {
    /// From the plan overrides and the per-request timeout override.
    pub fn new(ov: &Overrides, timeout: Option<Duration>) -> WireOverrides {
        WireOverrides {
            scale: ov.scale,
            duration_ms: ov.duration.map(ms),
            seed: ov.seed,
            interval_ms: ov.interval.map(ms),
            concurrency: ov.concurrency,
            timeout_ms: timeout.map(ms),
        }
    }

    /// Back to plan overrides.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            scale: self.scale,
            duration: self.duration_ms.map(Duration::from_millis),
            seed: self.seed,
            interval: self.interval_ms.map(Duration::from_millis),
            concurrency: self.concurrency,
        }
    }

    /// The per-request timeout override.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_ms.map(Duration::from_millis)
    }
}

/// What must be equal between the coordinator's plan and a worker's for their figures to merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanFingerprint {
    /// People in the run.
    pub population: u64,
    /// Virtual shards.
    pub shards: u32,
    /// Population seed.
    pub seed: u64,
    /// Snapshot interval, in ms.
    pub interval_ms: u64,
    /// Region names, in index order.
    pub regions: Vec<String>,
    /// Step names, in index order.
    pub steps: Vec<String>,
}

impl PlanFingerprint {
    /// The fingerprint of a compiled plan.
    pub fn of(plan: &Plan) -> PlanFingerprint {
        PlanFingerprint {
            population: plan.population,
            shards: plan.shards,
            seed: plan.seed,
            interval_ms: ms(plan.interval),
            regions: plan.regions.iter().map(|r| r.name.clone()).collect(),
            steps: plan.steps.clone(),
        }
    }
}

/// The coordinator's answer to a [`Join`], sent once every expected worker has joined.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    /// Sender's protocol version.
    pub version: u32,
    /// This worker's index in the run.
    pub worker: u32,
    /// How many workers the run has.
    pub workers: u32,
    /// The profile.
    pub profile: ProfileSource,
    /// Overrides to apply when compiling it.
    pub overrides: WireOverrides,
    /// What the compiled plan must look like.
    pub fingerprint: PlanFingerprint,
    /// Base URL of the target.
    pub target: String,
    /// The virtual shards this worker runs.
    pub shards: Vec<u32>,
    /// Version of the shard assignment (see [`Reply::shards`]).
    pub shards_version: u64,
    /// The common start, in ms since the Unix epoch.
    pub start_unix_ms: u64,
    /// This worker's cap on people in flight.
    pub max_in_flight: u64,
    /// This worker's cap on requests per second (0 = none).
    pub max_rps: u32,
    /// Closed model: this worker's share of the concurrency (0 in the open model).
    pub concurrency: u32,
    /// How long in-flight people may finish after the last arrival, in ms.
    pub drain_ms: u64,
    /// The run's engine settings (`--pacing`, `--http1`, the PEM text of `--tls-ca` for an https target,
    /// `--source-addresses`), typed as the engine takes them: workers need no files.
    pub engine: surge_engine::EngineConfig,
    /// The first interval of this run (0; more when it resumes a run cut short: people arriving
    /// before it are skipped).
    #[serde(default)]
    pub first_interval: u64,
    /// Placement by region: `shards` lists units `region x plan shards + shard`
    /// (`surge_plan::Plan::unit_of`), so this worker runs only the regions placed on it.
    #[serde(default)]
    pub by_region: bool,
    /// The coordinator's estimate of this worker's clock offset, from the join's exchanges: the worker
    /// starts at `start_unix_ms` plus the offset on its own clock. `None`: no usable exchange (the
    /// worker runs on its clock as it is).
    #[serde(default)]
    pub clock: Option<clock::ClockEstimate>,
    /// A capacity search's probe: the worker compiles the steady probe of the profile these figures
    /// describe (`surge_coordinator::capacity::probe::probe_profile`), not the profile as written.
    #[serde(default)]
    pub probe: Option<SteadyProbe>,
    /// More runs follow (a capacity search's probes): once this one has ended, the worker joins
    /// again, until the coordinator answers a join with `410 Gone` (the search is over).
    #[serde(default)]
    pub rejoin: bool,
}

/// One probe of a capacity search: every region's people arrive evenly at its rate for `length_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SteadyProbe {
    /// Journeys per second per region, in the plan's region order.
    pub rates: Vec<f64>,
    /// How long the arrivals last, in ms.
    pub length_ms: u64,
    /// The probe's population seed (a fresh one per probe: nobody registers twice).
    pub seed: u64,
}

/// One message from a worker: an interval's figures, its last words, or a heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Sender's protocol version.
    pub version: u32,
    /// The worker's index.
    pub worker: u32,
    /// Sequence number of the content; a report whose `seq` was already received is a resend and its
    /// content is ignored (heartbeats repeat the last `seq` and carry no content).
    pub seq: u64,
    /// One merged interval of the worker's threads, its histograms as packed bucket lists
    /// ([`surge_metrics::SparseSnapshot::encode`]); a coordinator decodes V2+DEFLATE as well.
    pub snapshot: Option<EncodedSnapshot>,
    /// People the worker saw register successfully since its last report.
    pub registered: Vec<u64>,
    /// How many entries of the coordinator's registration log the worker has applied.
    pub registry_cursor: u64,
    /// The shard assignment version the worker runs.
    pub shards_version: u64,
    /// The worker has finished: nothing follows.
    pub done: bool,
    /// Why it finished early, if it did.
    pub error: Option<String>,
    /// The worker's corrected run clock when it sent this report, µs since the Unix epoch (the
    /// coordinator echoes it with its stamps in [`Reply::clock`]).
    #[serde(default)]
    pub clock_t0_us: Option<i64>,
    /// The last complete exchange of stamps (from an earlier report and its reply).
    #[serde(default)]
    pub clock_sample: Option<clock::ClockSample>,
    /// Presence changes of the worker's people since its last report: (person, connected).
    #[serde(default)]
    pub presence: Vec<(u64, bool)>,
    /// How many entries of the coordinator's presence log the worker has seen.
    #[serde(default)]
    pub presence_cursor: u64,
}

/// The coordinator's answer to a [`Report`]: the acknowledgement and the commands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reply {
    /// Sender's protocol version.
    pub version: u32,
    /// Registrations confirmed by the run's workers (entries `registry_cursor..` of the log).
    pub registered: Vec<u64>,
    /// The worker's cursor after applying `registered`.
    pub registry_cursor: u64,
    /// The current assignment version.
    pub shards_version: u64,
    /// The full shard list, when the worker's version is older (shards of a lost worker moved here).
    pub shards: Option<Vec<u32>>,
    /// Stop all load now, send the last figures and report done.
    pub stop: bool,
    /// Why.
    pub stop_reason: Option<String>,
    /// The report's [`Report::clock_t0_us`] with the coordinator's receipt and answer stamps.
    #[serde(default)]
    pub clock: Option<clock::ClockEcho>,
    /// Other workers' presence changes (entries `presence_cursor..` of the log, the worker's own left
    /// out): senders pick among contacts connected anywhere in the run.
    #[serde(default)]
    pub presence: Vec<(u64, bool)>,
    /// The worker's presence cursor after `presence`.
    #[serde(default)]
    pub presence_cursor: u64,
}

/// The body of a refusal (4xx): what went wrong, in words a person can act on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refusal {
    /// Sender's protocol version.
    pub version: u32,
    /// The reason.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_by_value_only() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abc", "abd"));
        assert!(!token_matches("abc", "abcd"));
        assert!(!token_matches("", ""), "an empty token never authenticates");
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer("Bearer t0k"), Some("t0k"));
        assert_eq!(bearer("bearer  t0k "), Some("t0k"));
        assert_eq!(bearer("Basic dXNlcg=="), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn version_mismatch_is_named() {
        assert!(check_version(PROTOCOL_VERSION).is_ok());
        let e = check_version(PROTOCOL_VERSION + 1).unwrap_err().to_string();
        assert!(e.contains(&format!("v{}", PROTOCOL_VERSION + 1)), "{e}");
    }

    #[test]
    fn overrides_round_trip() {
        let ov = Overrides {
            scale: Some(0.5),
            duration: Some(Duration::from_millis(2500)),
            seed: Some(9),
            interval: Some(Duration::from_millis(250)),
            concurrency: None,
        };
        let w = WireOverrides::new(&ov, Some(Duration::from_secs(3)));
        let back: WireOverrides = decode(&encode(&w).unwrap()).unwrap();
        assert_eq!(back, w);
        let o = back.overrides();
        assert_eq!(
            (o.scale, o.duration, o.seed, o.interval),
            (ov.scale, ov.duration, ov.seed, ov.interval)
        );
        assert_eq!(back.timeout(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn hostile_bodies_are_errors_not_panics() {
        for body in [&b""[..], b"{", b"[]", b"{\"version\":1}", &[0xff, 0xfe]] {
            assert!(decode::<Report>(body).is_err());
        }
    }
}
