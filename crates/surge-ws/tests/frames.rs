//! The decoder against the encoder: messages survive any fragmentation and any split of the byte
//! stream into reads; arbitrary bytes never panic; limits hold.

use proptest::prelude::*;
use surge_ws::{Decoder, FrameError, Limits, Message, Opcode, Role, frame};

#[derive(Debug, Clone, PartialEq)]
enum Owned {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Close(Option<u16>, String),
}

fn owned(m: Message) -> Owned {
    match m {
        Message::Text(t) => Owned::Text(t.to_string()),
        Message::Binary(b) => Owned::Binary(b.to_vec()),
        Message::Ping(p) => Owned::Ping(p.to_vec()),
        Message::Pong(p) => Owned::Ping(p.to_vec()),
        Message::Close(c, r) => Owned::Close(c, r.to_string()),
    }
}

/// Encodes `m` in `pieces` fragments (data messages only); `mask` on client frames.
fn encode(m: &Owned, pieces: usize, mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    let (op, body): (Opcode, &[u8]) = match m {
        Owned::Text(t) => (Opcode::Text, t.as_bytes()),
        Owned::Binary(b) => (Opcode::Binary, b),
        Owned::Ping(p) => return frame::encode(Opcode::Ping, true, p, mask, out),
        Owned::Close(Some(c), r) => return frame::encode_close(*c, r, mask, out),
        Owned::Close(None, _) => return frame::encode(Opcode::Close, true, &[], mask, out),
    };
    let step = body.len().div_ceil(pieces.max(1)).max(1);
    let chunks: Vec<&[u8]> = if body.is_empty() {
        vec![&[]]
    } else {
        body.chunks(step).collect()
    };
    for (i, c) in chunks.iter().enumerate() {
        let o = if i == 0 { op } else { Opcode::Continuation };
        frame::encode(o, i + 1 == chunks.len(), c, mask, out);
    }
}

/// Feeds `wire` to a decoder in reads of the given sizes, keeping partial frames like the engine does.
fn feed(dec: &mut Decoder, wire: &[u8], reads: &[usize]) -> Result<Vec<Owned>, FrameError> {
    let mut out = Vec::new();
    let mut rem: Vec<u8> = Vec::new();
    let mut pos = 0;
    let mut sizes = reads.iter().copied().cycle();
    while pos < wire.len() {
        let n = sizes.next().unwrap_or(1).clamp(1, wire.len() - pos);
        let mut buf = std::mem::take(&mut rem);
        buf.extend_from_slice(&wire[pos..pos + n]);
        pos += n;
        let mut at = 0;
        loop {
            let (used, msg) = dec.decode(&mut buf[at..])?;
            at += used;
            match msg {
                Some(m) => out.push(owned(m)),
                None => break,
            }
        }
        rem = buf[at..].to_vec();
    }
    assert!(rem.is_empty(), "bytes left over: {rem:?}");
    Ok(out)
}

fn message() -> impl Strategy<Value = Owned> {
    prop_oneof![
        "\\PC{0,300}".prop_map(Owned::Text),
        proptest::collection::vec(any::<u8>(), 0..70_000).prop_map(Owned::Binary),
        proptest::collection::vec(any::<u8>(), 0..125).prop_map(Owned::Ping),
        (
            prop_oneof![Just(1000u16), Just(1001), Just(1013), 3000u16..5000],
            "[a-z ]{0,40}"
        )
            .prop_map(|(c, r)| Owned::Close(Some(c), r)),
        Just(Owned::Close(None, String::new())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn roundtrip_any_fragmentation_any_reads(
        msgs in proptest::collection::vec((message(), 1usize..5), 1..6),
        reads in proptest::collection::vec(1usize..5000, 1..8),
        key in any::<[u8; 4]>(),
        client_sends in any::<bool>(),
    ) {
        let big = Limits { max_frame: 1 << 20, max_message: 1 << 20 };
        let (mask, role) = if client_sends { (Some(key), Role::Server) } else { (None, Role::Client) };
        let mut wire = Vec::new();
        for (m, pieces) in &msgs {
            encode(m, *pieces, mask, &mut wire);
        }
        let mut dec = Decoder::new(role, big);
        let got = feed(&mut dec, &wire, &reads).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let want: Vec<Owned> = msgs.into_iter().map(|(m, _)| m).collect();
        prop_assert_eq!(got, want);
        // Nothing held once the last message was handed out and the next call cleared it.
        let _ = dec.decode(&mut []);
        prop_assert!(dec.is_idle());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), server in any::<bool>()) {
        let role = if server { Role::Server } else { Role::Client };
        let mut dec = Decoder::new(role, Limits { max_frame: 512, max_message: 1024 });
        let mut buf = bytes.clone();
        let mut at = 0;
        while let Ok((used, Some(_))) = dec.decode(&mut buf[at..]) {
            prop_assert!(used > 0);
            at += used;
            prop_assert!(at <= bytes.len());
        }
    }
}

#[test]
fn limits_refuse_before_buffering() {
    let limits = Limits {
        max_frame: 100,
        max_message: 150,
    };
    let mut wire = Vec::new();
    frame::encode(Opcode::Text, true, &[b'a'; 101], None, &mut wire);
    let mut dec = Decoder::new(Role::Client, limits);
    // The header alone is enough to refuse.
    assert_eq!(dec.decode(&mut wire[..4]), Err(FrameError::TooBig(101)));
    assert_eq!(FrameError::TooBig(1).close_code(), 1009);

    let mut wire = Vec::new();
    frame::encode(Opcode::Text, false, &[b'a'; 100], None, &mut wire);
    frame::encode(Opcode::Continuation, true, &[b'a'; 51], None, &mut wire);
    let mut dec = Decoder::new(Role::Client, limits);
    assert_eq!(dec.decode(&mut wire), Err(FrameError::TooBig(151)));
}

#[test]
fn protocol_errors_are_classified() {
    let cases: &[(&[u8], FrameError)] = &[
        (&[0xC1, 0x00], FrameError::Reserved),
        (&[0x83, 0x00], FrameError::Opcode(3)),
        (&[0x09, 0x00], FrameError::Control),
        (&[0x89, 126, 0, 126], FrameError::Control),
        (&[0x80, 0x00], FrameError::Continuation),
        (&[0x81, 0x80, 0, 0, 0, 0], FrameError::Mask),
        (&[0x81, 0x02, 0xC3, 0x28], FrameError::Utf8),
        (&[0x88, 0x01, 0x03], FrameError::Close),
        (&[0x88, 0x02, 0x03, 0xEC], FrameError::Close), // 1004 is reserved
        (
            &[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0],
            FrameError::TooBig(1 << 63),
        ),
    ];
    for (bytes, want) in cases {
        let mut dec = Decoder::new(Role::Client, Limits::default());
        let mut b = bytes.to_vec();
        assert_eq!(dec.decode(&mut b), Err(*want), "{bytes:?}");
    }
    // A new data frame inside a fragmented message.
    let mut dec = Decoder::new(Role::Client, Limits::default());
    let mut b = vec![0x01, 0x01, b'a', 0x81, 0x01, b'b'];
    assert_eq!(dec.decode(&mut b), Err(FrameError::Continuation));
}

#[test]
fn control_frames_interleave_with_fragments() {
    let mut wire = Vec::new();
    frame::encode(Opcode::Text, false, b"hel", None, &mut wire);
    frame::encode(Opcode::Ping, true, b"p", None, &mut wire);
    frame::encode(Opcode::Continuation, true, b"lo", None, &mut wire);
    let mut dec = Decoder::new(Role::Client, Limits::default());
    let got = feed(&mut dec, &wire, &[wire.len()]).unwrap_or_default();
    assert_eq!(
        got,
        [Owned::Ping(b"p".to_vec()), Owned::Text("hello".into())]
    );
}
