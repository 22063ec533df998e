//! The backend's run-time state: data centres, SMS gateways, accounts, sessions, counters, clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::HeaderMap;

use crate::capacity::DataCentre;
use crate::metrics::Counters;
use crate::plan::CapacityPlan;
use crate::sms::SmsGateway;
use crate::state::{Accounts, Numbers, Sessions, mix64};
use crate::timer::Timer;
use crate::ws::{Hub, WsDc};

/// The request header naming the caller's region.
pub const REGION_HEADER: &str = "x-surge-region";

/// Salt mixed into discovery hashes before the omit decision, so omission is independent of sharding.
const OMIT_SALT: u64 = 0x6f6d_6974_5f73_616c;

/// Index of a region in the plan, or `regions.len()` for a request without a known region header.
pub(crate) type RegionSlot = usize;

/// Everything a request handler needs, shared by all connections.
pub(crate) struct Backend {
    pub plan: CapacityPlan,
    pub dcs: Vec<DataCentre>,
    pub sms: SmsGateway,
    pub accounts: Accounts,
    pub sessions: Sessions,
    pub counters: Counters,
    pub timer: Timer,
    pub ws: Vec<WsDc>,
    pub hub: Hub,
    pub numbers: Numbers,
    /// Per-account discovery quotas (the plan's `[discovery_quota]`), if any.
    pub quotas: Option<crate::discovery::Quotas>,
    /// Per-number code-request limits and per-session code-check limits (`[sms_limits]`).
    pub code_limits: [Option<crate::sms::per_number::PerKey>; 2],
    /// The regions' SMS pipelines (providers, failover, voice, expiring queue).
    pub pipeline: crate::sms::pipeline::Pipeline,
    /// When each number's code lands, for regions with a pipeline.
    pub deliveries: crate::sms::pipeline::Deliveries,
    epoch: tokio::time::Instant,
    omit_below: Option<u64>,
}

impl Backend {
    pub fn new(plan: CapacityPlan, timer: Timer) -> Backend {
        let dcs = plan.dcs.iter().map(DataCentre::new).collect();
        let sms = SmsGateway::new(&plan.regions);
        let ttl_ms = u64::try_from(plan.session_ttl.as_millis()).unwrap_or(u64::MAX);
        let share = plan.discovery_omit_share;
        let omit_below = if share <= 0.0 {
            None
        } else if share >= 1.0 {
            Some(u64::MAX)
        } else {
            Some((share * 18_446_744_073_709_551_616.0) as u64)
        };
        Backend {
            counters: Counters::new(plan.regions.len()),
            dcs,
            sms,
            accounts: Accounts::new(),
            sessions: Sessions::new(ttl_ms),
            timer,
            ws: plan.dcs.iter().map(|d| WsDc::new(&d.ws)).collect(),
            hub: Hub::new(plan.mailbox_limit),
            numbers: Numbers::new(),
            code_limits: plan
                .sms_limits
                .map(|l| l.map(crate::sms::per_number::PerKey::new)),
            pipeline: crate::sms::pipeline::Pipeline::new(&plan.regions, plan.sms_queue, plan.seed),
            deliveries: crate::sms::pipeline::Deliveries::new(),
            quotas: plan
                .discovery_quota
                .map(|q| crate::discovery::Quotas::new(q, &plan.secret)),
            epoch: tokio::time::Instant::now(),
            omit_below,
            plan,
        }
    }

    /// When the server started serving: faults' `at` counts from here.
    pub fn epoch(&self) -> tokio::time::Instant {
        self.epoch
    }

    /// Milliseconds since the server started.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The region named by the request's `x-surge-region` header, or the "unknown" slot.
    pub fn region_slot(&self, headers: &HeaderMap) -> RegionSlot {
        let regions = &self.plan.regions;
        headers
            .get(REGION_HEADER)
            .and_then(|v| {
                regions
                    .iter()
                    .position(|r| r.name.as_bytes() == v.as_bytes())
            })
            .unwrap_or(regions.len())
    }

    /// The plan region whose data centre and SMS gateway serve this slot.
    pub fn effective_region(&self, slot: RegionSlot) -> usize {
        if slot < self.plan.regions.len() {
            slot
        } else {
            self.plan.default_region
        }
    }

    /// The data centre that serves this slot when it is up (its home; the metrics' `dc` label).
    pub fn dc_index(&self, slot: RegionSlot) -> usize {
        self.plan.regions[self.effective_region(slot)].dc
    }

    /// The data centre serving this slot now: its home, or while that is down the first data
    /// centre up along the home's failover chain; `None` when every one of them is down.
    pub fn serving_dc(&self, slot: RegionSlot) -> Option<usize> {
        let now = self.now_ms();
        let mut at = self.dc_index(slot);
        // The plan's chains have no cycle; the bound only guards the walk.
        for _ in 0..=self.dcs.len() {
            if !self.dcs[at].is_down(now) {
                return Some(at);
            }
            at = self.plan.dcs[at].failover?;
        }
        None
    }

    /// One request's network time between this slot's region and data centre `dc`: the plan's
    /// round trip plus up to its jitter, drawn uniformly from `unit` (0..1].
    pub fn network_time(&self, slot: RegionSlot, dc: usize, unit: f64) -> Duration {
        let region = &self.plan.regions[self.effective_region(slot)];
        let rtt = region.rtt.get(dc).copied().unwrap_or(Duration::ZERO);
        if region.rtt_jitter.is_zero() {
            return rtt;
        }
        rtt.saturating_add(region.rtt_jitter.mul_f64(unit.clamp(0.0, 1.0)))
    }

    /// The metrics label of a region slot.
    pub fn region_label(&self, slot: RegionSlot) -> &str {
        self.plan
            .regions
            .get(slot)
            .map_or("unknown", |r| r.name.as_str())
    }

    /// Whether discovery deliberately leaves this registered number out (`discovery_omit_share`).
    pub fn omitted(&self, hash: u64) -> bool {
        match self.omit_below {
            None => false,
            Some(u64::MAX) => true,
            Some(below) => mix64(hash ^ OMIT_SALT) < below,
        }
    }
}

/// A per-connection stream of service-time quantiles: splitmix64, seeded from the plan's seed and
/// the connection's index, turned into standard normals with Box-Muller. Lock-free, so HTTP/2
/// streams of one connection can draw concurrently.
pub(crate) struct ConnRng(AtomicU64);

impl ConnRng {
    pub fn new(seed: u64, connection: u64) -> ConnRng {
        ConnRng(AtomicU64::new(mix64(seed ^ mix64(connection))))
    }

    fn next_u64(&self) -> u64 {
        let state = self.0.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        mix64(state.wrapping_add(0x9e37_79b9_7f4a_7c15))
    }

    /// A uniform draw in (0, 1].
    pub fn next_unit(&self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal draw.
    pub fn next_normal(&self) -> f64 {
        let radius = (-2.0 * self.next_unit().ln()).sqrt();
        let angle = std::f64::consts::TAU * self.next_unit();
        radius * angle.cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_draws_have_unit_spread() {
        let rng = ConnRng::new(1, 2);
        let n = 20_000;
        let draws: Vec<f64> = (0..n).map(|_| rng.next_normal()).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|z| (z - mean) * (z - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        let above = draws.iter().filter(|z| **z > 2.326).count() as f64 / n as f64;
        assert!((above - 0.01).abs() < 0.004, "share above z99: {above}");
    }

    #[test]
    fn same_seed_same_draws() {
        let a = ConnRng::new(7, 3);
        let b = ConnRng::new(7, 3);
        let c = ConnRng::new(7, 4);
        let xa: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..5).map(|_| c.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }
}
