//! Frame encoding (RFC 6455 section 5.2). Client frames are masked, server frames are not.
//!
//! ```
//! use surge_ws::{Opcode, frame};
//! let mut out = Vec::new();
//! frame::encode(Opcode::Text, true, b"{\"type\":\"ping\"}", Some([1, 2, 3, 4]), &mut out);
//! assert_eq!(out.len(), 2 + 4 + 15);
//! assert_eq!(out[0], 0x81);
//! assert_eq!(out[1], 0x80 | 15);
//! ```

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// Continuation of a fragmented message.
    Continuation,
    /// UTF-8 text.
    Text,
    /// Binary.
    Binary,
    /// Close (control).
    Close,
    /// Ping (control).
    Ping,
    /// Pong (control).
    Pong,
}

impl Opcode {
    /// The 4-bit wire value.
    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// The opcode of a 4-bit wire value, `None` for the reserved ones.
    pub fn from_bits(b: u8) -> Option<Opcode> {
        Some(match b {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// Appends one frame to `out`: `fin` set on the last (or only) frame of a message; `mask` is the
/// client's masking key (`None` for a server's frame).
pub fn encode(opcode: Opcode, fin: bool, payload: &[u8], mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    out.push(u8::from(fin) << 7 | opcode.bits());
    let m = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(m | len as u8);
    } else if let Ok(l) = u16::try_from(len) {
        out.push(m | 126);
        out.extend_from_slice(&l.to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            let start = out.len();
            out.extend_from_slice(payload);
            apply_mask(&mut out[start..], key, 0);
        }
        None => out.extend_from_slice(payload),
    }
}

/// Appends a close frame with `code` and a short `reason` (cut to fit 125 bytes).
pub fn encode_close(code: u16, reason: &str, mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = [0u8; 125];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + end].copy_from_slice(&reason.as_bytes()[..end]);
    encode(Opcode::Close, true, &payload[..2 + end], mask, out);
}

/// XORs `data` with `key`, `data[0]` being byte `offset` of the payload.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= key[(offset + i) & 3];
    }
}
