//! The simulated SMS gateway: one `governor` GCRA rate limiter per region.
//!
//! A region's gateway sends `sms_rate_per_s` codes per second with bursts of up to `sms_burst`;
//! a code request over the limit is refused with the time until the gateway can send again, which
//! the API turns into `429` and `Retry-After` (whole seconds, at least 1).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::plan::RegionPlan;

pub(crate) mod per_number;
pub(crate) mod pipeline;

/// Per-region SMS gateways.
pub(crate) struct SmsGateway {
    limiters: Vec<DefaultDirectRateLimiter>,
}

impl SmsGateway {
    pub fn new(regions: &[RegionPlan]) -> SmsGateway {
        let limiters = regions
            .iter()
            .map(|r| RateLimiter::direct(quota(r.sms_rate_per_s, r.sms_burst)))
            .collect();
        SmsGateway { limiters }
    }

    /// Takes one send from the region's gateway, or says how long until one is possible.
    pub fn try_send(&self, region: usize) -> Result<(), Duration> {
        let Some(limiter) = self.limiters.get(region) else {
            return Ok(());
        };
        limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }
}

fn quota(rate_per_s: f64, burst: u32) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let period = Duration::from_secs_f64(1.0 / rate_per_s.max(1e-9));
    match Quota::with_period(period) {
        Some(quota) => quota.allow_burst(burst),
        None => Quota::per_second(NonZeroU32::MAX).allow_burst(burst),
    }
}

/// `Retry-After` in whole seconds: the wait rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_with_wait() {
        let region = RegionPlan {
            name: "a".to_owned(),
            dc: 0,
            sms_rate_per_s: 0.5,
            sms_burst: 3,
            providers: Vec::new(),
            rtt: Vec::new(),
            rtt_jitter: std::time::Duration::ZERO,
        };
        let gateway = SmsGateway::new(&[region]);
        for _ in 0..3 {
            assert_eq!(gateway.try_send(0), Ok(()));
        }
        let wait = gateway.try_send(0);
        let Err(wait) = wait else {
            panic!("fourth send passed a burst of 3")
        };
        assert!(
            wait > Duration::from_millis(1_500) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        assert_eq!(retry_after_secs(wait), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
