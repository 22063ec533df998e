//! How precisely the open-model scheduler keeps its appointments, and which HTTP/1.1 client runs.
//!
//! tokio's timer wheel has a 1 ms granularity and rounds every sleep up: a schedule paced by
//! `sleep_until` keeps its rate but sends every arrival 0-1 ms late, in 1 ms batches, and that
//! lateness lands in every latency measured from the intended start. [`Pacing::Fine`] sleeps on
//! tokio's timer until about a millisecond before the next arrival, then on a Linux `timerfd`
//! registered with the runtime's event loop, armed for the next point of a small grid
//! ([`FINE_GRID`]) at or after the arrival: every arrival due by that point starts at that wake-up.
//! The grid bounds the wake-ups (at most 1 / grid per second, however high the arrival rate), and
//! each wake-up is what costs CPU on a VM, so the grid is the precision/CPU trade-off.
//! [`Pacing::Coarse`] is tokio's timer alone: the cheapest, for runs where a millisecond of send lag
//! does not matter. The send lag is recorded either way. How the fine pacer arms its timer is in
//! `pacer.rs`; what this host's timers allow at all is [`floor_probe`]'s to say.
//!
//! Both are part of the run's [`crate::EngineConfig`]:
//!
//! ```
//! use surge_engine::pacing::Pacing;
//! assert_eq!("fine".parse::<Pacing>().ok(), Some(Pacing::Fine));
//! assert!("sloppy".parse::<Pacing>().is_err());
//! ```

pub use crate::floor::{FloorFigures, floor_probe, preflight};
pub(crate) use crate::pacer::Pacer;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Wake-ups of the fine pacer fall on this grid (from the run's start).
pub const FINE_GRID: Duration = Duration::from_micros(100);

/// How the open-model scheduler waits for the next arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pacing {
    /// tokio's timer: ~1 ms of send lag, cheapest.
    Coarse,
    /// A timerfd on a 100 µs grid for the last millisecond: sub-millisecond send lag, more CPU.
    #[default]
    Fine,
}

impl Pacing {
    /// The name `--pacing` takes (and the wire carries to remote workers).
    pub fn as_str(self) -> &'static str {
        match self {
            Pacing::Coarse => "coarse",
            Pacing::Fine => "fine",
        }
    }
}

/// A setting name that is not one of its choices.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?} (one of: {choices})")]
pub struct UnknownSetting {
    /// Which setting.
    pub what: &'static str,
    /// What was given.
    pub given: String,
    /// The accepted names.
    pub choices: &'static str,
}

impl std::str::FromStr for Pacing {
    type Err = UnknownSetting;
    fn from_str(s: &str) -> Result<Pacing, UnknownSetting> {
        match s {
            "coarse" => Ok(Pacing::Coarse),
            "fine" => Ok(Pacing::Fine),
            other => Err(UnknownSetting {
                what: "pacing",
                given: other.to_string(),
                choices: "coarse, fine",
            }),
        }
    }
}

/// Which client sends plain `http://` HTTP/1.1 steps (h2 and https always use hyper-util).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Http1Client {
    /// The lean client of [`crate::h1`].
    #[default]
    Fast,
    /// hyper-util's pooled client.
    Hyper,
}

impl Http1Client {
    /// The name `--http1` takes (and the wire carries to remote workers).
    pub fn as_str(self) -> &'static str {
        match self {
            Http1Client::Fast => "fast",
            Http1Client::Hyper => "hyper",
        }
    }
}

impl std::str::FromStr for Http1Client {
    type Err = UnknownSetting;
    fn from_str(s: &str) -> Result<Http1Client, UnknownSetting> {
        match s {
            "fast" => Ok(Http1Client::Fast),
            "hyper" => Ok(Http1Client::Hyper),
            other => Err(UnknownSetting {
                what: "HTTP/1.1 client",
                given: other.to_string(),
                choices: "fast, hyper",
            }),
        }
    }
}
