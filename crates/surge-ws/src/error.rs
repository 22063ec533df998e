//! Errors: a peer that broke the framing protocol, or an upgrade that did not happen.

/// The peer sent bytes that are not a valid frame sequence. Permanent for the connection: answer with
/// [`FrameError::close_code`] and drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A reserved bit is set (no extension was negotiated).
    #[error("reserved bits set")]
    Reserved,
    /// An opcode RFC 6455 does not define.
    #[error("unknown opcode {0:#x}")]
    Opcode(u8),
    /// A control frame that is fragmented or longer than 125 bytes.
    #[error("malformed control frame")]
    Control,
    /// A continuation without a message in progress, or a new data frame inside one.
    #[error("unexpected continuation")]
    Continuation,
    /// The frame's masking is wrong for its direction (servers never mask, clients always do).
    #[error("wrong masking")]
    Mask,
    /// A frame or reassembled message beyond the decoder's limits.
    #[error("frame or message too big ({0} bytes)")]
    TooBig(u64),
    /// A text message or close reason that is not UTF-8.
    #[error("text is not utf-8")]
    Utf8,
    /// A close frame with a 1-byte payload or a code that may not be sent.
    #[error("invalid close frame")]
    Close,
}

impl FrameError {
    /// The close code to answer this error with.
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::TooBig(_) => crate::close::TOO_BIG,
            FrameError::Utf8 => crate::close::INVALID_DATA,
            _ => crate::close::PROTOCOL,
        }
    }
}

/// The opening handshake failed. Permanent for the attempt; whether to retry is the caller's policy
/// ([`HandshakeError::Refused`] carries the status and any `Retry-After`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The server answered with a status other than 101.
    #[error("upgrade refused with status {status}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// `Retry-After` in whole seconds, when the server sent one.
        retry_after: Option<u32>,
    },
    /// The answer is not HTTP/1.1, or its head exceeds the limit.
    #[error("malformed upgrade answer")]
    Malformed,
    /// A 101 whose `Upgrade`, `Connection` or `Sec-WebSocket-Accept` header is missing or wrong.
    #[error("upgrade answer does not accept the key")]
    BadAccept,
}
