//! Signal-style incremental contact discovery (the plan's `[discovery_quota]`), after CDSI
//! (signalapp/ContactDiscoveryService-Icelake): each account has a token bucket of permits
//! (Signal's defaults: 50,000, refilling 6 an hour); a lookup answers with a token that stands for
//! the set of numbers it covered; a later lookup that sends those numbers back in `prev` with that
//! token is not charged for them, only for its new numbers. Over quota: 429 with `Retry-After`.
//!
//! The token is stateless: `{account:x}.{set:016x}`, where `set` is the XOR of a keyed mix of every
//! distinct number hash of the lookup (order-free), so the server keeps nothing per lookup beyond the
//! bucket per account.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::state::mix64;

/// The plan's `[discovery_quota]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiscoveryQuota {
    /// Bucket size (and the permits a new account starts with).
    pub permits: u64,
    /// Permits added back per second.
    pub refill_per_s: f64,
}

impl DiscoveryQuota {
    /// Signal's CDSI defaults: 50,000 permits, 6 more an hour.
    pub const SIGNAL: DiscoveryQuota = DiscoveryQuota {
        permits: 50_000,
        refill_per_s: 6.0 / 3600.0,
    };
}

/// Why a lookup is refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Refusal {
    /// Not enough permits: retry after this long (when the bucket will hold enough).
    OverQuota(Duration),
    /// The token does not stand for the `prev` numbers sent with it (or belongs to another account).
    BadToken,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    permits: f64,
    at_ms: u64,
}

/// Per-account token buckets.
pub(crate) struct Quotas {
    quota: DiscoveryQuota,
    key: u64,
    buckets: Mutex<HashMap<u64, Bucket>>,
}

impl Quotas {
    pub fn new(quota: DiscoveryQuota, secret: &str) -> Quotas {
        let key = secret
            .bytes()
            .fold(0x6364_7369_746f_6b6e, |k, b| mix64(k ^ u64::from(b)));
        Quotas {
            quota,
            key,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The token standing for `hashes` (duplicates count once: callers pass distinct hashes).
    pub fn token(&self, account: u64, hashes: impl Iterator<Item = u64>) -> String {
        let set = hashes.fold(mix64(self.key ^ account), |acc, h| {
            acc ^ mix64(h ^ self.key.rotate_left(17))
        });
        format!("{account:x}.{set:016x}")
    }

    /// Checks `token` against the distinct `prev` hashes, then charges `new` permits to `account`.
    pub fn charge(
        &self,
        account: u64,
        token: Option<&str>,
        prev: &[u64],
        new: u64,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        if !prev.is_empty() && token != Some(self.token(account, prev.iter().copied()).as_str()) {
            return Err(Refusal::BadToken);
        }
        if new == 0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let cap = self.quota.permits as f64;
        let b = buckets.entry(account).or_insert(Bucket {
            permits: cap,
            at_ms: now_ms,
        });
        let elapsed = now_ms.saturating_sub(b.at_ms) as f64 / 1000.0;
        b.permits = (b.permits + elapsed * self.quota.refill_per_s).min(cap);
        b.at_ms = now_ms;
        let need = new as f64;
        if b.permits + 1e-9 < need {
            // More than the bucket holds can never pass: say when a full bucket would be there.
            let missing = need.min(cap) - b.permits;
            let secs = (missing / self.quota.refill_per_s).max(0.001);
            return Err(Refusal::OverQuota(Duration::from_secs_f64(secs.min(1e9))));
        }
        b.permits -= need;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quotas(permits: u64, per_hour: f64) -> Quotas {
        Quotas::new(
            DiscoveryQuota {
                permits,
                refill_per_s: per_hour / 3600.0,
            },
            "s",
        )
    }

    #[test]
    fn tokens_are_order_free_and_bound_to_the_set_and_account() {
        let q = quotas(10, 6.0);
        let a = q.token(1, [5, 6, 7].into_iter());
        assert_eq!(a, q.token(1, [7, 5, 6].into_iter()));
        assert_ne!(a, q.token(1, [5, 6].into_iter()));
        assert_ne!(a, q.token(2, [5, 6, 7].into_iter()));
        assert!(a.starts_with("1."));
    }

    #[test]
    fn new_numbers_are_charged_prev_with_token_free_and_the_bucket_refills() {
        let q = quotas(10, 3600.0); // one permit a second
        assert_eq!(q.charge(1, None, &[], 8, 0), Ok(()));
        let t = q.token(1, [1, 2, 3].into_iter());
        // Three previously seen numbers with their token, and two new ones: only 2 permits needed.
        assert_eq!(q.charge(1, Some(&t), &[1, 2, 3], 2, 0), Ok(()));
        // The bucket is empty: 3 new numbers need 3 s of refill.
        let Err(Refusal::OverQuota(wait)) = q.charge(1, Some(&t), &[1, 2, 3], 3, 0) else {
            panic!("over quota passed")
        };
        assert_eq!(wait, Duration::from_secs(3));
        assert_eq!(q.charge(1, Some(&t), &[1, 2, 3], 3, 3_000), Ok(()));
        // Another account has its own bucket.
        assert_eq!(q.charge(2, None, &[], 10, 3_000), Ok(()));
        // A token that does not stand for `prev` is refused, whatever the quota.
        assert_eq!(
            q.charge(1, Some(&t), &[1, 2], 0, 3_000),
            Err(Refusal::BadToken)
        );
        assert_eq!(q.charge(1, None, &[1], 0, 3_000), Err(Refusal::BadToken));
    }
}
