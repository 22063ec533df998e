//! # surge-ws
//!
//! A small, bounded RFC 6455 (WebSocket) codec for surge's connected people: the client's opening
//! handshake ([`handshake`]), frame encoding ([`frame`]) and an incremental decoder ([`Decoder`]) that
//! never panics and never holds more than its limits allow.
//!
//! It does no I/O. The engine reads from a socket into one scratch buffer per worker when the socket is
//! readable, hands the bytes to the connection's [`Decoder`], and keeps only the remainder of a partial
//! frame: a held, idle connection owns no read or write buffer (see [`Decoder::is_idle`]).
//!
//! ```
//! use surge_ws::{Decoder, Limits, Message, Opcode, Role, frame};
//! // A server's text frame "hi", unmasked, as it arrives on the wire.
//! let mut wire = Vec::new();
//! frame::encode(Opcode::Text, true, b"hi", None, &mut wire);
//! let mut dec = Decoder::new(Role::Client, Limits::default());
//! let (used, msg) = dec.decode(&mut wire).unwrap();
//! assert_eq!(used, 4);
//! assert_eq!(msg, Some(Message::Text("hi")));
//! ```
//!
//! # Limits
//! [`Limits::max_frame`] bounds one frame's payload, [`Limits::max_message`] a reassembled fragmented
//! message. Past either, the decoder answers [`FrameError::TooBig`] (close code 1009) before buffering
//! anything of it.
//!
//! # Errors
//! [`FrameError`] (the peer broke the protocol; each maps to the close code to answer with
//! [`FrameError::close_code`]) and [`HandshakeError`] (the upgrade was refused or malformed). Both are
//! permanent for the connection they happened on.
#![warn(missing_docs)]

mod decode;
mod error;
pub mod frame;
pub mod handshake;

pub use decode::{Decoder, Limits, Message, Role};
pub use error::{FrameError, HandshakeError};
pub use frame::Opcode;

/// Close codes surge names (RFC 6455 section 7.4.1).
pub mod close {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// Going away (server restart, a `drop-connections` fault).
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error.
    pub const PROTOCOL: u16 = 1002;
    /// Text that is not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// Policy violation (e.g. a malformed JSON frame).
    pub const POLICY: u16 = 1008;
    /// Message too big.
    pub const TOO_BIG: u16 = 1009;
    /// Try again later (overload).
    pub const TRY_AGAIN: u16 = 1013;

    /// Whether `code` may appear in a close frame on the wire (RFC 6455 section 7.4).
    pub fn is_valid(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}
