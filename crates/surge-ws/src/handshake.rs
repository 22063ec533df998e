//! The client's opening handshake (RFC 6455 section 4.1): the request bytes and the check of the
//! server's answer.
//!
//! ```
//! use surge_ws::handshake;
//! let key = handshake::key([7; 16]);
//! let mut req = Vec::new();
//! handshake::request("example.com:80", "/v1/ws", &key, &[("authorization", b"Bearer t")], &mut req);
//! assert!(req.starts_with(b"GET /v1/ws HTTP/1.1\r\nhost: example.com:80\r\n"));
//! let answer = format!(
//!     "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
//!     handshake::accept(&key)
//! );
//! assert_eq!(handshake::check(answer.as_bytes(), &key), Ok(Some(answer.len())));
//! ```

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::HandshakeError;

/// Longest answer head accepted, in bytes.
pub const MAX_HEAD: usize = 8 * 1024;
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Key` for 16 random bytes (base64, 24 chars).
pub fn key(nonce: [u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(nonce)
}

/// The `Sec-WebSocket-Accept` a server must answer `key` with.
pub fn accept(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Writes the upgrade request for `path` (path and query) on `host` (`host[:port]`) into `out`, with
/// extra `headers` (names lowercase; values without CR or LF, which are dropped).
pub fn request(host: &str, path: &str, key: &str, headers: &[(&str, &[u8])], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: ");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend(value.iter().filter(|&&b| b != b'\r' && b != b'\n'));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Checks the server's answer to an upgrade with `key`. `Ok(None)`: the head is not complete yet
/// (read more); `Ok(Some(n))`: upgraded, the head is `n` bytes and frames start at `buf[n..]`.
pub fn check(buf: &[u8], key: &str) -> Result<Option<usize>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let n = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Ok(None),
        _ => return Err(HandshakeError::Malformed),
    };
    let status = resp.code.unwrap_or(0);
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    if status != 101 {
        let retry_after = header("retry-after")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<u32>().ok());
        return Err(HandshakeError::Refused {
            status,
            retry_after,
        });
    }
    let has = |name: &str, token: &str| {
        header(name).is_some_and(|v| {
            v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    let accepted = header("sec-websocket-accept").map(<[u8]>::trim_ascii);
    if !has("upgrade", "websocket")
        || !has("connection", "upgrade")
        || accepted != Some(accept(key).as_bytes())
    {
        return Err(HandshakeError::BadAccept);
    }
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example_key() {
        // RFC 6455 section 1.3.
        assert_eq!(
            accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn answers() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x00";
        assert_eq!(check(ok, key), Ok(Some(ok.len() - 2)));
        assert_eq!(check(&ok[..20], key), Ok(None));
        let bad = b"HTTP/1.1 101 OK\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: nope\r\n\r\n";
        assert_eq!(check(bad, key), Err(HandshakeError::BadAccept));
        let busy = b"HTTP/1.1 503 Busy\r\nretry-after: 7\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            check(busy, key),
            Err(HandshakeError::Refused {
                status: 503,
                retry_after: Some(7)
            })
        );
        let unauthorized = b"HTTP/1.1 401 Unauthorized\r\n\r\n";
        assert_eq!(
            check(unauthorized, key),
            Err(HandshakeError::Refused {
                status: 401,
                retry_after: None
            })
        );
        assert_eq!(
            check(b"SSH-2.0\r\n\r\n", key),
            Err(HandshakeError::Malformed)
        );
        assert_eq!(
            check(&[b'a'; MAX_HEAD], key),
            Err(HandshakeError::Malformed)
        );
    }
}
