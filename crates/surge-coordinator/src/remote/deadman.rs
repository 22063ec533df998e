//! The worker's dead-man switch: a load generator must never keep hitting a target unattended, so a
//! worker stops all load by itself once its coordinator has not answered for a while. Time is tokio's:
//! tests pause and advance it.

use super::link::LinkError;
use std::time::Duration;
use tokio::time::Instant;

/// What last went wrong talking to the coordinator.
#[derive(Debug, thiserror::Error)]
pub enum LinkFailure {
    /// No answer at all.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The coordinator answered with a server error (its message crossed the wire as text).
    #[error("the coordinator answered {status}: {message}")]
    Answered {
        /// HTTP status.
        status: u16,
        /// Its message.
        message: String,
    },
}

/// Silence since the coordinator last answered, against a limit.
#[derive(Debug)]
pub(crate) struct DeadMan {
    limit: Duration,
    last_ok: Instant,
    last_failure: Option<LinkFailure>,
}

impl DeadMan {
    /// A switch that fires `limit` after the last answer; the clock starts now.
    pub fn new(limit: Duration) -> DeadMan {
        DeadMan {
            limit,
            last_ok: Instant::now(),
            last_failure: None,
        }
    }

    /// The coordinator answered: the silence starts again from now.
    pub fn answered(&mut self) {
        self.last_ok = Instant::now();
        self.last_failure = None;
    }

    /// An exchange failed; answers whether it is the first failure since the last answer (to be logged).
    pub fn failed(&mut self, why: LinkFailure) -> bool {
        let first = self.last_failure.is_none();
        self.last_failure = Some(why);
        first
    }

    /// How long the coordinator has been silent, if that is the limit or longer: then all load must
    /// stop. The last failure goes with it.
    pub fn fired(&mut self) -> Option<(Duration, Option<LinkFailure>)> {
        let silent = self.last_ok.elapsed();
        (silent >= self.limit).then(|| (silent, self.last_failure.take()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> LinkFailure {
        LinkFailure::Answered {
            status: 503,
            message: "busy".into(),
        }
    }

    /// The switch on tokio's paused clock: advanced by hand, no wall-clock sleep.
    #[tokio::test(start_paused = true)]
    async fn fires_exactly_when_the_silence_reaches_the_limit_and_an_answer_resets_it() {
        let limit = Duration::from_secs(5);
        let mut d = DeadMan::new(limit);
        tokio::time::advance(Duration::from_millis(4_999)).await;
        assert!(d.fired().is_none(), "4.999 s of silence");
        d.answered();
        tokio::time::advance(Duration::from_millis(4_999)).await;
        assert!(d.fired().is_none(), "an answer started the silence again");
        assert!(d.failed(refused()), "the first failure is logged");
        assert!(!d.failed(refused()), "the next ones are not");
        tokio::time::advance(Duration::from_millis(1)).await;
        let (silent, why) = d.fired().unwrap_or_else(|| panic!("5 s of silence"));
        assert_eq!(silent, limit);
        assert!(
            matches!(why, Some(LinkFailure::Answered { status: 503, .. })),
            "{why:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_followed_by_an_answer_is_forgotten() {
        let mut d = DeadMan::new(Duration::from_secs(1));
        d.failed(refused());
        d.answered();
        tokio::time::advance(Duration::from_secs(2)).await;
        let (silent, why) = d.fired().unwrap_or_else(|| panic!("2 s of silence"));
        assert_eq!(silent, Duration::from_secs(2));
        assert!(why.is_none(), "{why:?}");
    }
}
