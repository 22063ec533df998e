//! The bounded set of things that can happen to one request.

use serde::{Deserialize, Serialize};

// Linux errno values (stable ABI), kept here so this crate needs no libc.
const ENFILE: i32 = 23;
const EMFILE: i32 = 24;
const EADDRINUSE: i32 = 98;
const EADDRNOTAVAIL: i32 = 99;

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
    /// Still in flight when the run ended (drain cut, Ctrl-C, guard abort): the latency recorded is how
    /// long it had been waiting so far, a lower bound, so a stuck request shows in the tail instead of
    /// vanishing. Counts as an error.
    Unfinished,
    /// The generator ran out of file descriptors (`EMFILE`/`ENFILE`) opening a connection: its own
    /// limit, not the target's. Flagged as generator saturation.
    GeneratorFd,
    /// The generator ran out of local ports or source addresses (`EADDRNOTAVAIL`/`EADDRINUSE` on
    /// connect): its own limit, not the target's. Flagged as generator saturation.
    GeneratorPorts,
}

impl Outcome {
    /// Every outcome, in a fixed order (the order of counters in snapshots and CSV columns).
    pub const ALL: [Outcome; 17] = [
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
        Outcome::Unfinished,
        Outcome::GeneratorFd,
        Outcome::GeneratorPorts,
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
            Outcome::Unfinished => "unfinished",
            Outcome::GeneratorFd => "generator_fd",
            Outcome::GeneratorPorts => "generator_ports",
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

    /// Whether the generator's own limits caused it (descriptors, ports): never blamed on the target.
    pub fn is_generator(self) -> bool {
        matches!(self, Outcome::GeneratorFd | Outcome::GeneratorPorts)
    }

    /// Classifies an I/O error from opening a connection: the generator's own limits are named,
    /// anything else is a connect failure of the target.
    pub fn from_connect_error(e: &std::io::Error) -> Outcome {
        match e.raw_os_error() {
            Some(c) if c == EMFILE || c == ENFILE => Outcome::GeneratorFd,
            Some(c) if c == EADDRNOTAVAIL || c == EADDRINUSE => Outcome::GeneratorPorts,
            _ if e.kind() == std::io::ErrorKind::TimedOut => Outcome::Timeout,
            _ => Outcome::Connect,
        }
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
        let emfile = std::io::Error::from_raw_os_error(24);
        assert_eq!(Outcome::from_connect_error(&emfile), Outcome::GeneratorFd);
        let ports = std::io::Error::from_raw_os_error(99);
        assert_eq!(Outcome::from_connect_error(&ports), Outcome::GeneratorPorts);
        let refused = std::io::Error::from_raw_os_error(111);
        assert_eq!(Outcome::from_connect_error(&refused), Outcome::Connect);
        assert!(Outcome::GeneratorFd.is_generator() && !Outcome::Connect.is_generator());
    }
}
