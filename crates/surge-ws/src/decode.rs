//! The incremental, bounded frame decoder.
//!
//! [`Decoder::decode`] reads as many frames from the front of a buffer as it takes to produce one
//! [`Message`] (a whole data message, or one control frame) and says how many bytes it used; a partial
//! frame at the end is left for the caller to keep and prepend to the next read. Fragments of a message
//! are copied into the decoder (bounded by [`Limits::max_message`]); everything else is borrowed from
//! the buffer, unmasked in place.

use crate::frame::{Opcode, apply_mask};
use crate::{FrameError, close};

/// Which side of the connection decodes: a client expects unmasked frames, a server masked ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Decodes a server's frames.
    Client,
    /// Decodes a client's frames.
    Server,
}

/// Bounds on what the decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame payload, in bytes.
    pub max_frame: usize,
    /// Largest (reassembled) message, in bytes.
    pub max_message: usize,
}

impl Default for Limits {
    /// 64 KiB frames and messages.
    fn default() -> Limits {
        Limits {
            max_frame: 64 * 1024,
            max_message: 64 * 1024,
        }
    }
}

/// One decoded message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A whole text message (checked UTF-8).
    Text(&'a str),
    /// A whole binary message.
    Binary(&'a [u8]),
    /// A ping with its payload.
    Ping(&'a [u8]),
    /// A pong with its payload.
    Pong(&'a [u8]),
    /// A close frame: the code (`None` when the frame had no payload) and the reason.
    Close(Option<u16>, &'a str),
}

/// The frame decoder of one connection. Holds the fragments of a message in progress; empty (no
/// allocation) otherwise.
#[derive(Debug, Clone)]
pub struct Decoder {
    role: Role,
    limits: Limits,
    /// The opcode of the fragmented message in progress.
    fragmented: Option<Opcode>,
    /// Its payload so far.
    assembly: Vec<u8>,
    /// `assembly` was handed out by the last call and is cleared by the next.
    handed_out: bool,
}

/// A parsed frame header.
struct Header {
    fin: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    header_len: usize,
    payload_len: usize,
}

impl Decoder {
    /// A decoder for `role` within `limits`.
    pub fn new(role: Role, limits: Limits) -> Decoder {
        Decoder {
            role,
            limits,
            fragmented: None,
            assembly: Vec::new(),
            handed_out: false,
        }
    }

    /// No message in progress and no memory held.
    pub fn is_idle(&self) -> bool {
        self.fragmented.is_none() && self.assembly.capacity() == 0
    }

    /// Decodes from the front of `buf` (unmasking in place). Returns the bytes used and the message
    /// they completed; `(n, None)` when the rest of `buf` is a partial frame (`n` bytes of fragments
    /// were absorbed). Call again on `buf[n..]` until it answers `None`. After an error the connection
    /// must be closed (see [`FrameError::close_code`]).
    pub fn decode<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> Result<(usize, Option<Message<'a>>), FrameError> {
        if self.handed_out {
            self.handed_out = false;
            self.assembly = Vec::new();
        }
        let mut rest = buf;
        let mut used = 0;
        loop {
            let Some(h) = self.header(rest)? else {
                return Ok((used, None));
            };
            let total = h.header_len + h.payload_len;
            let (frame, tail) = std::mem::take(&mut rest).split_at_mut(total);
            rest = tail;
            used += total;
            let payload = &mut frame[h.header_len..];
            if let Some(key) = h.mask {
                apply_mask(payload, key, 0);
            }
            let payload: &'a [u8] = payload;
            if h.opcode.is_control() {
                return control(h.opcode, payload).map(|m| (used, Some(m)));
            }
            match (self.fragmented, h.opcode, h.fin) {
                (None, Opcode::Continuation, _) | (Some(_), Opcode::Text | Opcode::Binary, _) => {
                    return Err(FrameError::Continuation);
                }
                (None, op, true) => return data(op, payload).map(|m| (used, Some(m))),
                (None, op, false) => {
                    self.fragmented = Some(op);
                    self.append(payload)?;
                }
                (Some(_), _, false) => self.append(payload)?,
                (Some(op), _, true) => {
                    self.append(payload)?;
                    self.fragmented = None;
                    self.handed_out = true;
                    return data(op, &self.assembly).map(|m| (used, Some(m)));
                }
            }
        }
    }

    fn append(&mut self, payload: &[u8]) -> Result<(), FrameError> {
        let len = self.assembly.len() + payload.len();
        if len > self.limits.max_message {
            return Err(FrameError::TooBig(len as u64));
        }
        self.assembly.extend_from_slice(payload);
        Ok(())
    }

    /// The header at the front of `b` when the whole frame is there; checks everything the header
    /// alone can tell.
    fn header(&self, b: &[u8]) -> Result<Option<Header>, FrameError> {
        let (Some(&b0), Some(&b1)) = (b.first(), b.get(1)) else {
            return Ok(None);
        };
        if b0 & 0x70 != 0 {
            return Err(FrameError::Reserved);
        }
        let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(FrameError::Opcode(b0 & 0x0F))?;
        let fin = b0 & 0x80 != 0;
        let masked = b1 & 0x80 != 0;
        if masked != (self.role == Role::Server) {
            return Err(FrameError::Mask);
        }
        let (len, mut at) = match b1 & 0x7F {
            126 => match b.get(2..4) {
                Some(l) => (u64::from(u16::from_be_bytes([l[0], l[1]])), 4),
                None => return Ok(None),
            },
            127 => match b.get(2..10).and_then(|l| <[u8; 8]>::try_from(l).ok()) {
                Some(l) => (u64::from_be_bytes(l), 10),
                None => return Ok(None),
            },
            l => (u64::from(l), 2),
        };
        if opcode.is_control() && (!fin || len > 125) {
            return Err(FrameError::Control);
        }
        let max = if opcode.is_control() {
            125
        } else {
            self.limits.max_frame
        };
        if len > max as u64 {
            return Err(FrameError::TooBig(len));
        }
        let mask = if masked {
            let Some(k) = b.get(at..at + 4).and_then(|k| <[u8; 4]>::try_from(k).ok()) else {
                return Ok(None);
            };
            at += 4;
            Some(k)
        } else {
            None
        };
        let payload_len = len as usize;
        if b.len() - at < payload_len {
            return Ok(None);
        }
        Ok(Some(Header {
            fin,
            opcode,
            mask,
            header_len: at,
            payload_len,
        }))
    }
}

fn data(op: Opcode, payload: &[u8]) -> Result<Message<'_>, FrameError> {
    if op == Opcode::Text {
        std::str::from_utf8(payload)
            .map(Message::Text)
            .map_err(|_| FrameError::Utf8)
    } else {
        Ok(Message::Binary(payload))
    }
}

fn control(op: Opcode, payload: &[u8]) -> Result<Message<'_>, FrameError> {
    Ok(match op {
        Opcode::Ping => Message::Ping(payload),
        Opcode::Pong => Message::Pong(payload),
        _ => match payload {
            [] => Message::Close(None, ""),
            [_] => return Err(FrameError::Close),
            [a, b, reason @ ..] => {
                let code = u16::from_be_bytes([*a, *b]);
                if !close::is_valid(code) {
                    return Err(FrameError::Close);
                }
                let reason = std::str::from_utf8(reason).map_err(|_| FrameError::Utf8)?;
                Message::Close(Some(code), reason)
            }
        },
    })
}
