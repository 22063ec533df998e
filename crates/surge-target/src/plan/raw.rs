//! The plan as written: serde types with spans, before any cross-field rule is checked.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use super::{TimerKind, WhenFull};

/// A fault's action as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RawFaultAction {
    /// `"drop-connections"`
    #[serde(rename = "drop-connections")]
    DropConnections,
    /// `"restart"`
    #[serde(rename = "restart")]
    Restart,
    /// `"down"`
    #[serde(rename = "down")]
    Down,
}

/// A duration written as a string such as `"4ms"`.
#[derive(Debug, Clone, Copy)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::text::parse_duration(&text)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    pub secret: Option<Spanned<String>>,
    pub default_region: Spanned<String>,
    pub discovery_batch_limit: Option<Spanned<u64>>,
    pub discovery_omit_share: Option<Spanned<f64>>,
    pub discovery_quota: Option<Spanned<RawDiscoveryQuota>>,
    pub sms_limits: Option<Spanned<RawSmsLimits>>,
    pub sms_queue: Option<Spanned<RawSmsQueue>>,
    pub seed: Option<u64>,
    pub timer: Option<TimerKind>,
    pub session_ttl: Option<Spanned<Dur>>,
    pub regions: Spanned<BTreeMap<Spanned<String>, RawRegion>>,
    pub service: RawService,
    pub dcs: Spanned<BTreeMap<Spanned<String>, RawDc>>,
    pub mailbox_limit: Option<Spanned<u32>>,
    #[serde(default)]
    pub faults: Vec<Spanned<RawFault>>,
}

/// `[discovery_quota]`: Signal-style per-account token bucket for discovery.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiscoveryQuota {
    pub permits: Spanned<i64>,
    pub refill: Spanned<f64>,
    pub per: Option<Spanned<Dur>>,
}

/// `[sms_limits]`: per-number limits on code requests and code checks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmsLimits {
    pub request_code: Option<Spanned<RawLimit>>,
    pub verify_code: Option<Spanned<RawLimit>>,
}

/// `{ burst = 6, every = "30s" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimit {
    pub burst: Spanned<i64>,
    pub every: Spanned<Dur>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub at: Spanned<Dur>,
    pub dc: Spanned<String>,
    pub action: Spanned<RawFaultAction>,
    #[serde(rename = "for")]
    pub down_for: Option<Spanned<Dur>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegion {
    pub sms_rate_per_s: Option<Spanned<f64>>,
    pub sms_burst: Option<Spanned<u32>>,
    /// The SMS pipeline: providers in order of preference (failover runs down the list).
    pub providers: Option<Spanned<Vec<Spanned<RawProvider>>>>,
    /// The voice-call fallback, after every SMS provider.
    pub voice: Option<Spanned<RawProvider>>,
    /// Round-trip time from this region to each data centre: `rtt = { us = "40ms", eu = "120ms" }`.
    pub rtt: Option<Spanned<BTreeMap<Spanned<String>, Spanned<Dur>>>>,
    /// Up to this much more on each round trip, drawn uniformly per request.
    pub rtt_jitter: Option<Spanned<Dur>>,
}

/// One SMS (or voice) provider: `{ name = "short-code", rate_per_s = 100, latency = { .. } }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub name: Option<Spanned<String>>,
    pub rate_per_s: Spanned<f64>,
    pub latency: Spanned<RawDist>,
}

/// `[sms_queue]`: how long a queued message lives, and when a provider's backlog fails over.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmsQueue {
    pub expiry: Option<Spanned<Dur>>,
    pub failover_after: Option<Spanned<Dur>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDc {
    pub regions: Spanned<Vec<Spanned<String>>>,
    /// The data centre that takes this one's regions while it is down.
    pub failover: Option<Spanned<String>>,
    pub slots: Spanned<u32>,
    pub queue_limit: Option<u32>,
    pub when_full: Option<WhenFull>,
    pub index_lag_base: Option<Dur>,
    pub index_lag_per_queued: Option<Dur>,
    pub service: Option<RawServiceOverride>,
    pub max_connections: Option<Spanned<u32>>,
    pub accept_rate_per_s: Option<Spanned<f64>>,
    pub accept_burst: Option<Spanned<u32>>,
    pub delivery_slots: Option<Spanned<u32>>,
    pub delivery_queue_limit: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub request_code: Spanned<RawDist>,
    pub verify_code: Spanned<RawDist>,
    pub register: Spanned<RawDist>,
    pub keys: Spanned<RawDist>,
    pub discovery: Spanned<RawDist>,
    pub connect: Option<Spanned<RawDist>>,
    pub deliver: Option<Spanned<RawDist>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServiceOverride {
    pub request_code: Option<Spanned<RawDist>>,
    pub verify_code: Option<Spanned<RawDist>>,
    pub register: Option<Spanned<RawDist>>,
    pub keys: Option<Spanned<RawDist>>,
    pub discovery: Option<Spanned<RawDist>>,
    pub connect: Option<Spanned<RawDist>>,
    pub deliver: Option<Spanned<RawDist>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDist {
    pub median: Dur,
    pub p99: Dur,
}

impl RawService {
    /// The five distributions in [`super::Endpoint::ALL`] order.
    pub fn in_order(&self) -> [&Spanned<RawDist>; 5] {
        [
            &self.request_code,
            &self.verify_code,
            &self.register,
            &self.keys,
            &self.discovery,
        ]
    }
}

impl RawServiceOverride {
    /// The five optional overrides in [`super::Endpoint::ALL`] order.
    pub fn in_order(&self) -> [Option<&Spanned<RawDist>>; 5] {
        [
            self.request_code.as_ref(),
            self.verify_code.as_ref(),
            self.register.as_ref(),
            self.keys.as_ref(),
            self.discovery.as_ref(),
        ]
    }
}
