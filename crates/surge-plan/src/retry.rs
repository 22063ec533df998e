//! Client behaviour under errors: the retry policies of the profile's `[client]`.

use std::time::Duration;

/// What the client does after a failed attempt: the profile's own type (validated there, with its
/// delays computed there), used as it is; the name says its role in a plan.
pub use surge_profile::Retry as RetryPolicy;

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
        ClientPolicy {
            timeout: c.timeout,
            retry: c.retry.clone(),
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
