//! The WebSocket frame decoder (`surge_ws::Decoder`) on hostile bytes, in both roles and with small
//! limits, fed in two reads split where the first byte says; and the upgrade answer check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use surge_ws::{Decoder, Limits, Role, handshake};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let role = if first & 1 == 0 { Role::Client } else { Role::Server };
    let limits = Limits { max_frame: 1024, max_message: 4096 };
    let mut dec = Decoder::new(role, limits);
    let split = (usize::from(first) * rest.len()) / 256;
    let mut rem: Vec<u8> = Vec::new();
    for part in [&rest[..split], &rest[split..]] {
        let mut buf = std::mem::take(&mut rem);
        buf.extend_from_slice(part);
        let mut at = 0;
        loop {
            match dec.decode(&mut buf[at..]) {
                Ok((used, Some(_))) => at += used,
                Ok((used, None)) => {
                    at += used;
                    break;
                }
                Err(e) => {
                    let _ = e.close_code();
                    return;
                }
            }
        }
        assert!(at <= buf.len());
        rem = buf[at..].to_vec();
    }
    let _ = handshake::check(data, "dGhlIHNhbXBsZSBub25jZQ==");
});
