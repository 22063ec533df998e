//! The bounded set of things that can happen to one request.

use serde::{Deserialize, Serialize};

/// What happened to one request (or one step of a journey). Never a free-form string: errors are
/// counted by class, not by their message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The expected status and a well-formed answer.
    Ok,
    /// A 4xx status other than 429 that the step did not expect.
    Http4xx,
    /// 429 Too Many Requests: the target shed load or rate-limited.
    Http429,
    /// A 5xx status.
    Http5xx,
    /// Any other unexpected status (1xx/2xx/3xx not listed as expected).
    HttpOther,
    /// The TCP connection could not be established (refused, unreachable).
    Connect,
    /// The connection was reset or closed mid-exchange.
    Reset,
    /// No complete answer within the step's timeout.
    Timeout,
    /// The TLS handshake failed.
    Tls,
    /// The peer spoke malformed HTTP.
    Protocol,
    /// The answer body exceeded the read cap.
    BodyTooLarge,
    /// A value the journey needs could not be extracted from the answer.
    Extraction,
    /// The answer was well-formed but wrong (e.g. a discovery answer naming unknown contacts).
    WrongAnswer,
    /// The generator itself refused to send (safety cap, shutdown).
    Skipped,
}

impl Outcome {
    /// Every outcome, in a fixed order (the order of counters in snapshots and CSV columns).
    pub const ALL: [Outcome; 14] = [
        Outcome::Ok,
        Outcome::Http4xx,
        Outcome::Http429,
        Outcome::Http5xx,
        Outcome::HttpOther,
        Outcome::Connect,
        Outcome::Reset,
        Outcome::Timeout,
        Outcome::Tls,
        Outcome::Protocol,
        Outcome::BodyTooLarge,
        Outcome::Extraction,
        Outcome::WrongAnswer,
        Outcome::Skipped,
    ];

    /// Number of outcomes.
    pub const COUNT: usize = Outcome::ALL.len();

    /// Position in [`Outcome::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Stable snake_case name, used in files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Http4xx => "http_4xx",
            Outcome::Http429 => "http_429",
            Outcome::Http5xx => "http_5xx",
            Outcome::HttpOther => "http_other",
            Outcome::Connect => "connect",
            Outcome::Reset => "reset",
            Outcome::Timeout => "timeout",
            Outcome::Tls => "tls",
            Outcome::Protocol => "protocol",
            Outcome::BodyTooLarge => "body_too_large",
            Outcome::Extraction => "extraction",
            Outcome::WrongAnswer => "wrong_answer",
            Outcome::Skipped => "skipped",
        }
    }

    /// Parses [`Outcome::as_str`] back.
    pub fn from_name(name: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// Classifies an HTTP status the step did not expect.
    pub fn from_status(status: u16) -> Outcome {
        match status {
            429 => Outcome::Http429,
            400..=499 => Outcome::Http4xx,
            500..=599 => Outcome::Http5xx,
            _ => Outcome::HttpOther,
        }
    }

    /// Whether this is an error (anything but `Ok`).
    pub fn is_error(self) -> bool {
        self != Outcome::Ok
    }

    /// Whether retrying the same request may succeed (load-related or network-level), as opposed to a
    /// permanent mismatch between the journey and the target.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Outcome::Http429
                | Outcome::Http5xx
                | Outcome::Connect
                | Outcome::Reset
                | Outcome::Timeout
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indexes_match_order() {
        for (i, o) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(o.index(), i);
            assert_eq!(Outcome::from_name(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::from_status(429), Outcome::Http429);
        assert_eq!(Outcome::from_status(404), Outcome::Http4xx);
        assert_eq!(Outcome::from_status(503), Outcome::Http5xx);
        assert_eq!(Outcome::from_status(302), Outcome::HttpOther);
        assert!(Outcome::Timeout.is_transient());
        assert!(!Outcome::WrongAnswer.is_transient());
    }
}
