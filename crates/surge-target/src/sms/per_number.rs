//! Per-number limits on code requests and code checks (the plan's `[sms_limits]`), after Signal's
//! `RateLimiters.java` defaults: registration 6 then 1 per 30 s, verification 6 per 2 minutes (1 per
//! 20 s). Over the limit the answer is 429 `{"error":"PHONE_NUMBER_FLOOD"}` (Telegram's name for it)
//! with `Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// One limit: a burst, then one more every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberLimit {
    /// Requests allowed at once.
    pub burst: u32,
    /// One more allowed every this long.
    pub every: Duration,
}

impl NumberLimit {
    /// Signal's registration limit: 6, then 1 per 30 s.
    pub const SIGNAL_REGISTRATION: NumberLimit = NumberLimit {
        burst: 6,
        every: Duration::from_secs(30),
    };
    /// Signal's verification limit: 6 per 2 minutes.
    pub const SIGNAL_VERIFY: NumberLimit = NumberLimit {
        burst: 6,
        every: Duration::from_secs(20),
    };
}

/// The error message of a refusal.
pub(crate) const FLOOD: &str = "PHONE_NUMBER_FLOOD";

/// A limit kept per key (a number, or a session).
pub(crate) struct PerKey {
    limit: NumberLimit,
    /// key -> (tokens, at ms)
    buckets: Mutex<HashMap<u64, (f64, u64)>>,
}

/// At most this many keys are tracked; past it, the oldest half is forgotten (a full bucket again).
const MAX_KEYS: usize = 1 << 20;

impl PerKey {
    pub fn new(limit: NumberLimit) -> PerKey {
        PerKey {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request for `key`, or says how long until one is allowed.
    pub fn take(&self, key: u64, now_ms: u64) -> Result<(), Duration> {
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if b.len() >= MAX_KEYS && !b.contains_key(&key) {
            let mut ats: Vec<u64> = b.values().map(|v| v.1).collect();
            ats.sort_unstable();
            let cut = ats[ats.len() / 2];
            b.retain(|_, v| v.1 > cut);
        }
        let burst = f64::from(self.limit.burst);
        let per_ms = self.limit.every.as_secs_f64() * 1000.0;
        let e = b.entry(key).or_insert((burst, now_ms));
        let refilled = now_ms.saturating_sub(e.1) as f64 / per_ms;
        e.0 = (e.0 + refilled).min(burst);
        e.1 = now_ms;
        if e.0 >= 1.0 {
            e.0 -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - e.0) * per_ms / 1000.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_then_one_per_thirty_seconds() {
        let l = PerKey::new(NumberLimit::SIGNAL_REGISTRATION);
        for _ in 0..6 {
            assert_eq!(l.take(7, 0), Ok(()));
        }
        assert_eq!(l.take(7, 0), Err(Duration::from_secs(30)));
        assert_eq!(l.take(8, 0), Ok(()), "another number has its own limit");
        assert_eq!(l.take(7, 15_000), Err(Duration::from_secs(15)));
        assert_eq!(l.take(7, 30_000), Ok(()));
        assert!(l.take(7, 30_000).is_err());
    }
}
