//! A WebSocket connection's network distance: the plan's round trip between the person's region and
//! the data centre that admitted the connection, spent on the frames that cross it.
//!
//! The model, the same as the HTTP API's (half the round trip in, half out, holding no slot), applied
//! to each direction of a held connection:
//!
//! - a frame from the client (a `send`, a `ping`) is handled one way after it arrived;
//! - a frame to the client (an `ack`, a `pong`, an `error`, a delivered `message`) leaves one way
//!   before the client sees it.
//!
//! So an ack or a pong takes the sender's whole round trip, and a delivered message takes the
//! sender's one way (its `send` crossing in), the data centre's fan-out queue and delivery service,
//! then the receiver's one way (the `message` crossing out). Each connection pays its own distance:
//! the receiver's is that of the receiver's region to the data centre its connection is held at,
//! which after a failover is the failover data centre. Traffic between data centres (sender's and
//! receiver's) is not modelled.
//!
//! Each crossing draws the region's jitter anew, but a frame never overtakes the one before it in
//! the same direction (the release time is at least the previous frame's), as over TCP. With no
//! distance (a plan without `rtt`), frames are handled and sent as they come, as before distance
//! existed. A close, a binary frame or a broken stream ends the session at once: sends still
//! crossing in then are not handled (the client closed before they arrived).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::backend::{Backend, ConnRng, RegionSlot};

/// Frames allowed to be crossing one direction at once; beyond it the session stops reading (in)
/// or taking from its outbox (out), so a client that floods pushes back, as over a real link.
const IN_FLIGHT_LIMIT: usize = 256;

/// A round trip and its jitter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Distance {
    rtt: Duration,
    jitter: Duration,
}

impl Distance {
    /// The plan's distance between a region slot and data centre `dc`.
    pub fn of(backend: &Backend, slot: RegionSlot, dc: usize) -> Distance {
        let rtt = backend.network_time(slot, dc, 0.0);
        let jitter = backend.network_time(slot, dc, 1.0).saturating_sub(rtt);
        Distance { rtt, jitter }
    }

    pub fn is_zero(&self) -> bool {
        self.rtt.is_zero() && self.jitter.is_zero()
    }

    /// One round trip: the rtt plus up to the jitter, drawn from `rng` only when there is jitter.
    pub fn round_trip(&self, rng: &ConnRng) -> Duration {
        if self.jitter.is_zero() {
            return self.rtt;
        }
        self.rtt
            .saturating_add(self.jitter.mul_f64(rng.next_unit()))
    }
}

/// Frames crossing one direction, each with the instant it arrives on the other side.
#[derive(Default)]
struct DelayLine {
    frames: VecDeque<(Instant, Utf8Bytes)>,
    last: Option<Instant>,
}

impl DelayLine {
    fn push(&mut self, now: Instant, one_way: Duration, frame: Utf8Bytes) {
        let due = (now + one_way).max(self.last.unwrap_or(now));
        self.last = Some(due);
        self.frames.push_back((due, frame));
    }

    fn pop_due(&mut self, now: Instant) -> Option<Utf8Bytes> {
        if self.frames.front().is_some_and(|(due, _)| *due <= now) {
            let frame = self.frames.pop_front().map(|(_, f)| f);
            if self.frames.is_empty() {
                // An idle connection keeps no buffer.
                self.frames = VecDeque::new();
            }
            return frame;
        }
        None
    }

    fn next_due(&self) -> Option<Instant> {
        self.frames.front().map(|(due, _)| *due)
    }

    fn has_room(&self) -> bool {
        self.frames.len() < IN_FLIGHT_LIMIT
    }
}

/// Both directions of one connection.
pub(crate) struct Link {
    distance: Distance,
    inbound: DelayLine,
    outbound: DelayLine,
}

impl Link {
    pub fn new(distance: Distance) -> Link {
        Link {
            distance,
            inbound: DelayLine::default(),
            outbound: DelayLine::default(),
        }
    }

    /// Whether frames cross at once (no distance).
    pub fn is_direct(&self) -> bool {
        self.distance.is_zero()
    }

    fn one_way(&self, rng: &ConnRng) -> Duration {
        self.distance.round_trip(rng) / 2
    }

    /// A text frame from the client starts crossing in.
    pub fn receive(&mut self, frame: Utf8Bytes, rng: &ConnRng) {
        let one_way = self.one_way(rng);
        self.inbound.push(Instant::now(), one_way, frame);
    }

    /// A frame to the client starts crossing out.
    pub fn send(&mut self, frame: Utf8Bytes, rng: &ConnRng) {
        let one_way = self.one_way(rng);
        self.outbound.push(Instant::now(), one_way, frame);
    }

    /// The next client frame that has arrived.
    pub fn arrived_in(&mut self) -> Option<Utf8Bytes> {
        self.inbound.pop_due(Instant::now())
    }

    /// The next frame that has crossed out, to be written to the socket.
    pub fn arrived_out(&mut self) -> Option<Utf8Bytes> {
        self.outbound.pop_due(Instant::now())
    }

    /// When the next frame arrives, either way.
    pub fn next_due(&self) -> Option<Instant> {
        match (self.inbound.next_due(), self.outbound.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether another client frame may start crossing in.
    pub fn room_in(&self) -> bool {
        self.inbound.has_room()
    }

    /// Whether another frame may start crossing out.
    pub fn room_out(&self) -> bool {
        self.outbound.has_room()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_arrive_after_their_one_way_and_never_overtake() {
        let mut line = DelayLine::default();
        let t0 = Instant::now();
        line.push(t0, Duration::from_millis(30), "a".into());
        line.push(t0, Duration::from_millis(10), "b".into());
        assert_eq!(line.next_due(), Some(t0 + Duration::from_millis(30)));
        assert!(line.pop_due(t0 + Duration::from_millis(29)).is_none());
        let now = t0 + Duration::from_millis(30);
        assert_eq!(line.pop_due(now).as_deref(), Some("a"));
        assert_eq!(line.pop_due(now).as_deref(), Some("b"), "b waited behind a");
        assert!(line.pop_due(now).is_none());
        assert_eq!(line.next_due(), None);
    }

    #[test]
    fn jitter_is_drawn_only_where_there_is_some() {
        let rng = ConnRng::new(1, 1);
        let fixed = Distance {
            rtt: Duration::from_millis(40),
            jitter: Duration::ZERO,
        };
        assert_eq!(fixed.round_trip(&rng), Duration::from_millis(40));
        let jittery = Distance {
            rtt: Duration::from_millis(40),
            jitter: Duration::from_millis(4),
        };
        for _ in 0..100 {
            let d = jittery.round_trip(&rng);
            assert!(d >= Duration::from_millis(40) && d <= Duration::from_millis(44));
        }
        assert!(Distance::default().is_zero());
    }
}
