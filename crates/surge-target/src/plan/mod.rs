//! The capacity plan: which data centre serves which region, how many requests each serves at once,
//! how long each endpoint takes, what happens when the queue is full, the SMS gateway's rate per
//! region and the discovery index's lag.
//!
//! Plans are TOML files under `profiles/plans/`; see `profiles/plans/baseline.toml` for every field
//! with comments. Loading checks every rule before anything listens, and every error names the
//! file, line, column and field.

mod geo;
mod raw;
mod text;
mod validate;
mod ws;

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

pub use text::{DurationError, format_duration, parse_duration};
pub(crate) use ws::WsPlan;
pub use ws::{DEFAULT_MAILBOX_LIMIT, Fault, FaultAction};

use crate::error::PlanError;
use raw::RawPlan;
use validate::{Validator, toml_error};

const BASELINE_TOML: &str = include_str!("../../../../profiles/plans/baseline.toml");
const BASELINE_ORIGIN: &str = "profiles/plans/baseline.toml";

/// Default shared secret from which verification codes and tokens are derived.
pub const DEFAULT_SECRET: &str = "surge-staging-secret";
/// Default maximum number of hashes in one discovery request.
pub const DEFAULT_DISCOVERY_BATCH_LIMIT: usize = 2048;

/// One API endpoint of the backend, the unit of service-time distributions and metrics labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `POST /v1/verification/code`
    RequestCode,
    /// `PUT /v1/verification/code`
    VerifyCode,
    /// `POST /v1/accounts`
    Register,
    /// `PUT /v1/keys`
    Keys,
    /// `POST /v1/discovery`
    Discovery,
}

impl Endpoint {
    /// Every endpoint, in a fixed order.
    pub const ALL: [Endpoint; 5] = [
        Endpoint::RequestCode,
        Endpoint::VerifyCode,
        Endpoint::Register,
        Endpoint::Keys,
        Endpoint::Discovery,
    ];

    /// The name used in plans and in the `endpoint` metrics label.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::RequestCode => "request_code",
            Endpoint::VerifyCode => "verify_code",
            Endpoint::Register => "register",
            Endpoint::Keys => "keys",
            Endpoint::Discovery => "discovery",
        }
    }

    /// Position in [`Endpoint::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What a data centre does with a request when all slots are busy and `queue_limit` requests wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum WhenFull {
    /// Answer `429` with `Retry-After: 1` at once (load shedding).
    #[serde(rename = "shed-429")]
    Shed429,
    /// Answer `503` at once.
    #[serde(rename = "reject-503")]
    Reject503,
    /// Keep queueing without limit (`queue_limit` is ignored).
    #[serde(rename = "queue")]
    Queue,
}

/// How the service time is slept while a slot is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TimerKind {
    /// A timerfd-driven sleep that ends within ~0.2 ms of the drawn service time (Linux; elsewhere
    /// falls back to tokio).
    #[serde(rename = "precise")]
    Precise,
    /// `tokio::time::sleep`: cheaper, but rounds every sleep up to the next millisecond, and
    /// follows tokio's paused clock in tests.
    #[serde(rename = "tokio")]
    Tokio,
}

/// A log-normal service-time distribution given by its median and 99th percentile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServiceTime {
    median: Duration,
    p99: Duration,
    sigma: f64,
}

/// The z-score of the 99th percentile of a standard normal distribution.
const Z_P99: f64 = 2.326_347_874;

impl ServiceTime {
    /// A distribution with this median and p99 (`p99 >= median`; both zero means no service time).
    pub fn new(median: Duration, p99: Duration) -> Option<ServiceTime> {
        if p99 < median || (median.is_zero() && !p99.is_zero()) {
            return None;
        }
        let sigma = if median.is_zero() {
            0.0
        } else {
            (p99.as_secs_f64() / median.as_secs_f64()).ln() / Z_P99
        };
        Some(ServiceTime { median, p99, sigma })
    }

    /// The median.
    pub fn median(&self) -> Duration {
        self.median
    }

    /// The 99th percentile.
    pub fn p99(&self) -> Duration {
        self.p99
    }

    /// The service time at standard-normal quantile `z` (clamped to ±6): `median * exp(sigma * z)`.
    pub fn at(&self, z: f64) -> Duration {
        let z = if z.is_finite() {
            z.clamp(-6.0, 6.0)
        } else {
            0.0
        };
        self.median.mul_f64((self.sigma * z).exp())
    }
}

/// One region's part of the plan.
#[derive(Debug, Clone)]
pub(crate) struct RegionPlan {
    pub name: String,
    pub dc: usize,
    pub sms_rate_per_s: f64,
    pub sms_burst: u32,
    /// The SMS pipeline's providers in order of preference, the voice fallback (if any) last; empty:
    /// codes are usable at once (only the gateway's rate limit applies).
    pub providers: Vec<ProviderPlan>,
    /// Round trip to each data centre, by data-centre index (zero where the plan gives none).
    pub rtt: Vec<Duration>,
    /// Up to this much more per round trip, drawn uniformly per request.
    pub rtt_jitter: Duration,
}

/// One SMS or voice provider of a region's pipeline.
#[derive(Debug, Clone)]
pub(crate) struct ProviderPlan {
    pub name: String,
    /// Time between two sends (1 / rate).
    pub interval: Duration,
    /// From the send to the code on the phone.
    pub latency: ServiceTime,
}

/// `[sms_queue]`: the delivery queue's rules, for every region with providers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SmsQueuePlan {
    /// A message not sent within this long of its request expires (Twilio: 10 hours).
    pub expiry: Duration,
    /// A provider whose backlog is longer than this passes the message to the next one.
    pub failover_after: Duration,
}

impl SmsQueuePlan {
    /// Twilio's 10-hour validity; failover once a provider is 10 s behind.
    pub const DEFAULT: SmsQueuePlan = SmsQueuePlan {
        expiry: Duration::from_secs(36_000),
        failover_after: Duration::from_secs(10),
    };
}

/// One data centre's part of the plan.
#[derive(Debug, Clone)]
pub(crate) struct DcPlan {
    pub name: String,
    /// The data centre that takes this one's regions while it is down.
    pub failover: Option<usize>,
    pub slots: u32,
    pub queue_limit: usize,
    pub when_full: WhenFull,
    pub index_lag_base: Duration,
    pub index_lag_per_queued: Duration,
    pub service: [ServiceTime; 5],
    pub ws: WsPlan,
}

/// A validated capacity plan for the reference backend.
#[derive(Debug, Clone)]
pub struct CapacityPlan {
    pub(crate) origin: String,
    pub(crate) secret: String,
    pub(crate) default_region: usize,
    pub(crate) discovery_batch_limit: usize,
    pub(crate) discovery_omit_share: f64,
    pub(crate) discovery_quota: Option<crate::discovery::DiscoveryQuota>,
    /// Per-number limits on code requests and per-session limits on code checks.
    pub(crate) sms_limits: [Option<crate::sms::per_number::NumberLimit>; 2],
    /// The delivery queue of the regions' SMS pipelines.
    pub(crate) sms_queue: SmsQueuePlan,
    pub(crate) seed: u64,
    pub(crate) timer: TimerKind,
    pub(crate) session_ttl: Duration,
    pub(crate) regions: Vec<RegionPlan>,
    pub(crate) dcs: Vec<DcPlan>,
    pub(crate) mailbox_limit: usize,
    pub(crate) faults: Vec<Fault>,
}

impl CapacityPlan {
    /// The plan shipped as `profiles/plans/baseline.toml` (embedded at build time): three data
    /// centres, `us` (americas), `eu` (europe) and `ap` (asia), each with ample capacity.
    pub fn baseline() -> CapacityPlan {
        match CapacityPlan::from_toml_str(BASELINE_TOML, BASELINE_ORIGIN) {
            Ok(plan) => plan,
            Err(error) => {
                // Unreachable while the unit test `baseline_file_is_valid` passes.
                tracing::error!(%error, "embedded baseline plan is invalid; using a one-region plan");
                CapacityPlan::single_region()
            }
        }
    }

    /// Parses and validates a plan; `origin` names the text in errors (usually its path).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<CapacityPlan, PlanError> {
        let raw: RawPlan = toml::from_str(text).map_err(|e| toml_error(text, origin, &e))?;
        Validator { text, origin }.plan(raw)
    }

    /// Reads, parses and validates a plan file.
    pub fn load(path: &Path) -> Result<CapacityPlan, PlanError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
            path: path.to_owned(),
            source,
        })?;
        CapacityPlan::from_toml_str(&text, &path.display().to_string())
    }

    /// The shared secret from which verification codes and tokens are derived.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Where the plan came from (file path or `profiles/plans/baseline.toml`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Region names, in alphabetical order.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.regions.iter().map(|r| r.name.as_str())
    }

    /// Data-centre names, in alphabetical order.
    pub fn data_centres(&self) -> impl Iterator<Item = &str> {
        self.dcs.iter().map(|d| d.name.as_str())
    }

    /// The data centre serving `region`, if the plan knows the region.
    pub fn dc_of(&self, region: &str) -> Option<&str> {
        let r = self.regions.iter().find(|r| r.name == region)?;
        Some(&self.dcs[r.dc].name)
    }

    /// The region whose data centre and SMS gateway serve requests without a known region header.
    pub fn default_region(&self) -> &str {
        &self.regions[self.default_region].name
    }

    /// The round trip from `region` to data centre `dc` (zero when the plan gives none); `None`
    /// when either is unknown.
    pub fn rtt(&self, region: &str, dc: &str) -> Option<Duration> {
        let r = self.regions.iter().find(|r| r.name == region)?;
        let d = self.dcs.iter().position(|d| d.name == dc)?;
        Some(r.rtt.get(d).copied().unwrap_or(Duration::ZERO))
    }

    /// The data centres that serve `region`, its own first, then its failover chain.
    pub fn failover_chain(&self, region: &str) -> Vec<&str> {
        let Some(r) = self.regions.iter().find(|r| r.name == region) else {
            return Vec::new();
        };
        geo::chain(&self.dcs, r.dc)
            .into_iter()
            .map(|i| self.dcs[i].name.as_str())
            .collect()
    }

    /// Concurrent slots of a data centre.
    pub fn slots(&self, dc: &str) -> Option<u32> {
        self.dcs.iter().find(|d| d.name == dc).map(|d| d.slots)
    }

    /// Service-time distribution of `endpoint` in data centre `dc`.
    pub fn service_time(&self, dc: &str, endpoint: Endpoint) -> Option<ServiceTime> {
        let d = self.dcs.iter().find(|d| d.name == dc)?;
        Some(d.service[endpoint.index()])
    }

    /// SMS and voice providers of `region`'s pipeline, in failover order (voice last), as
    /// `(name, sends per second)`; empty when the region has no pipeline.
    pub fn sms_providers(&self, region: &str) -> Vec<(String, f64)> {
        self.regions
            .iter()
            .find(|r| r.name == region)
            .map(|r| {
                r.providers
                    .iter()
                    .map(|p| (p.name.clone(), 1.0 / p.interval.as_secs_f64().max(1e-12)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The per-account discovery quota (`[discovery_quota]`), if the plan has one.
    pub fn discovery_quota(&self) -> Option<crate::discovery::DiscoveryQuota> {
        self.discovery_quota
    }

    /// Maximum number of hashes in one discovery request (413 above it).
    pub fn discovery_batch_limit(&self) -> usize {
        self.discovery_batch_limit
    }

    /// Share (0..=1) of registered accounts deliberately left out of discovery answers.
    pub fn discovery_omit_share(&self) -> f64 {
        self.discovery_omit_share
    }

    /// The same plan with another omitted share (clamped to 0..=1; NaN counts as 0), for tests of
    /// a tester's missing-contact detection.
    pub fn with_discovery_omit_share(mut self, share: f64) -> CapacityPlan {
        self.discovery_omit_share = if share.is_nan() {
            0.0
        } else {
            share.clamp(0.0, 1.0)
        };
        self
    }

    /// The same plan with another timer (e.g. [`TimerKind::Tokio`] to follow a paused clock).
    pub fn with_timer(mut self, timer: TimerKind) -> CapacityPlan {
        self.timer = timer;
        self
    }

    /// Which timer sleeps the service times.
    pub fn timer(&self) -> TimerKind {
        self.timer
    }

    /// Most connections a data centre holds at once (handshakes over it get 503).
    pub fn max_connections(&self, dc: &str) -> Option<u32> {
        let d = self.dcs.iter().find(|d| d.name == dc)?;
        Some(d.ws.max_connections)
    }

    /// Messages kept per offline account (`mailbox_limit`); more are dropped and counted.
    pub fn mailbox_limit(&self) -> usize {
        self.mailbox_limit
    }

    /// The fault schedule, in order of `at` (counted from when the server started serving).
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    fn single_region() -> CapacityPlan {
        let fixed = ServiceTime::new(Duration::from_millis(2), Duration::from_millis(6));
        let fixed = fixed.unwrap_or(ServiceTime {
            median: Duration::ZERO,
            p99: Duration::ZERO,
            sigma: 0.0,
        });
        CapacityPlan {
            origin: "<built-in>".to_owned(),
            secret: DEFAULT_SECRET.to_owned(),
            default_region: 0,
            discovery_batch_limit: DEFAULT_DISCOVERY_BATCH_LIMIT,
            discovery_omit_share: 0.0,
            discovery_quota: None,
            sms_limits: [None, None],
            sms_queue: SmsQueuePlan::DEFAULT,
            seed: 0,
            timer: TimerKind::Precise,
            session_ttl: Duration::from_secs(600),
            regions: vec![RegionPlan {
                name: "default".to_owned(),
                dc: 0,
                sms_rate_per_s: 10_000.0,
                sms_burst: 1_000,
                providers: Vec::new(),
                rtt: vec![Duration::ZERO],
                rtt_jitter: Duration::ZERO,
            }],
            dcs: vec![DcPlan {
                name: "local".to_owned(),
                failover: None,
                slots: 256,
                queue_limit: 4096,
                when_full: WhenFull::Shed429,
                index_lag_base: Duration::ZERO,
                index_lag_per_queued: Duration::ZERO,
                service: [fixed; 5],
                ws: WsPlan::fallback(),
            }],
            mailbox_limit: DEFAULT_MAILBOX_LIMIT,
            faults: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
