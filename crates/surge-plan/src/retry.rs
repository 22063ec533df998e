//! Client behaviour under errors: the retry policies of the profile's `[client]`.

use std::time::Duration;

/// What the client does after a failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryPolicy {
    /// Never retry.
    GiveUp,
    /// Retry at once (the naive client: a retry storm).
    Immediate,
    /// Exponential backoff: `base * 2^(attempt-1)` capped at `cap`; with `jitter`, a uniform draw in
    /// `[0, that]` ("full jitter").
    Backoff {
        /// First delay.
        base: Duration,
        /// Largest delay.
        cap: Duration,
        /// Full jitter.
        jitter: bool,
    },
    /// Wait what the answer's Retry-After says (or `fallback`), at most `cap`.
    RetryAfter {
        /// Delay without a Retry-After header.
        fallback: Duration,
        /// Largest delay.
        cap: Duration,
    },
}

impl RetryPolicy {
    /// Delay before the next attempt after `attempt` failed attempts (1 after the first failure);
    /// `retry_after` is the answer's Retry-After, `rand01` a uniform draw in [0, 1).
    /// `None` means give up. This does not count attempts: see [`ClientPolicy::retry_delay`].
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rand01: f64,
    ) -> Option<Duration> {
        match self {
            RetryPolicy::GiveUp => None,
            RetryPolicy::Immediate => Some(Duration::ZERO),
            RetryPolicy::Backoff { base, cap, jitter } => {
                let exp = attempt.saturating_sub(1).min(30);
                let d = base.saturating_mul(1u32 << exp).min(*cap);
                if *jitter {
                    Some(d.mul_f64(rand01.clamp(0.0, 1.0)))
                } else {
                    Some(d)
                }
            }
            RetryPolicy::RetryAfter { fallback, cap } => {
                Some(retry_after.unwrap_or(*fallback).min(*cap))
            }
        }
    }
}

/// Per-request client behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientPolicy {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Attempts per request including the first (>= 1).
    pub max_attempts: u32,
}

impl ClientPolicy {
    /// Like [`RetryPolicy::delay`], but `None` once `attempt >= max_attempts`.
    pub fn retry_delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rand01: f64,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        self.retry.delay(attempt, retry_after, rand01)
    }
}

impl From<&surge_profile::Client> for ClientPolicy {
    fn from(c: &surge_profile::Client) -> Self {
        use surge_profile::Retry;
        let retry = match &c.retry {
            Retry::GiveUp => RetryPolicy::GiveUp,
            Retry::Immediate => RetryPolicy::Immediate,
            Retry::Backoff { base, cap, jitter } => RetryPolicy::Backoff {
                base: *base,
                cap: *cap,
                jitter: *jitter,
            },
            Retry::RetryAfter { fallback, cap } => RetryPolicy::RetryAfter {
                fallback: *fallback,
                cap: *cap,
            },
        };
        ClientPolicy {
            timeout: c.timeout,
            retry,
            max_attempts: c.max_attempts.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays() {
        let ms = Duration::from_millis;
        assert_eq!(RetryPolicy::GiveUp.delay(1, None, 0.5), None);
        assert_eq!(
            RetryPolicy::Immediate.delay(5, None, 0.5),
            Some(Duration::ZERO)
        );
        let b = RetryPolicy::Backoff {
            base: ms(100),
            cap: ms(1000),
            jitter: false,
        };
        assert_eq!(b.delay(1, None, 0.5), Some(ms(100)));
        assert_eq!(b.delay(3, None, 0.5), Some(ms(400)));
        assert_eq!(b.delay(10, None, 0.5), Some(ms(1000)));
        assert_eq!(b.delay(u32::MAX, None, 0.5), Some(ms(1000)));
        let j = RetryPolicy::Backoff {
            base: ms(100),
            cap: ms(1000),
            jitter: true,
        };
        assert_eq!(j.delay(2, None, 0.5), Some(ms(100)));
        let r = RetryPolicy::RetryAfter {
            fallback: ms(500),
            cap: ms(2000),
        };
        assert_eq!(r.delay(1, Some(ms(1500)), 0.0), Some(ms(1500)));
        assert_eq!(r.delay(1, Some(ms(9000)), 0.0), Some(ms(2000)));
        assert_eq!(r.delay(1, None, 0.0), Some(ms(500)));
        let c = ClientPolicy {
            timeout: ms(1),
            retry: RetryPolicy::Immediate,
            max_attempts: 3,
        };
        assert_eq!(c.retry_delay(2, None, 0.0), Some(Duration::ZERO));
        assert_eq!(c.retry_delay(3, None, 0.0), None);
    }
}
