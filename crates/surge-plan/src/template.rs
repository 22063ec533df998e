//! Compiled templates: literal byte runs and variable holes, rendered into reused buffers.
//!
//! A template is parsed and checked once by `surge_profile::journey`; here it becomes a list of
//! [`Seg`]ments, each hole already knowing how its value must be written (JSON-escaped inside a JSON
//! string, as a JSON value, percent-encoded in a path or form, raw in a header). Rendering appends to a
//! `Vec<u8>`: no parsing, no allocation beyond the buffer's growth.

use base64::Engine;
use sha2::{Digest, Sha256};
use surge_profile::journey::{ContactEncoding, Part, Var};

use crate::journey::Ctx;
use crate::{Contact, Phone};

/// How a hole's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Header value: raw bytes, with CR, LF and NUL dropped (no header injection).
    Header,
    /// Path, query or form value: percent-encoded except RFC 3986 unreserved characters.
    Url,
    /// Inside a JSON string: JSON-escaped.
    JsonStr,
    /// A JSON value: numbers as numbers, strings quoted, `{contacts}` as an array.
    JsonVal,
}

/// What a template is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Path and query.
    Path,
    /// Header value.
    Header,
    /// JSON body.
    Json,
    /// Form body.
    Form,
}

/// One compiled piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// Literal bytes.
    Lit(Box<[u8]>),
    /// A hole.
    Var(Var, Mode),
}

/// A compiled template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Template {
    segs: Box<[Seg]>,
}

/// Contacts already encoded for one discovery request (reused between requests).
///
/// Hashing contacts (SHA-256) costs far more than building the request; a client computes them once
/// per address book, so the engine can encode a batch once with [`crate::journey::Discovery::encode`]
/// and use it for both building the request and reading the answer.
#[derive(Debug, Clone, Default)]
pub struct EncodedBatch {
    bytes: Vec<u8>,
    ends: Vec<u32>,
    /// The new contacts as a JSON array of strings, rendered once: `{contacts}` in a JSON body is one
    /// copy.
    json: Vec<u8>,
    /// The first `prev` contacts were looked up before (`{prev_contacts}`); the rest are new.
    prev: usize,
    /// `{prev_contacts}` as a JSON array.
    prev_json: Vec<u8>,
    /// `{discovery_token}`.
    token: Vec<u8>,
}

impl EncodedBatch {
    /// Clears and encodes `batch` with `enc` (every contact new, no token).
    pub fn fill(&mut self, enc: ContactEncoding, batch: &[Contact]) {
        self.fill_split(enc, batch, 0, None);
    }

    /// Clears and encodes an incremental lookup: `lookup[..prev]` were looked up before and go back
    /// with `token`, the rest are new.
    pub fn fill_split(
        &mut self,
        enc: ContactEncoding,
        lookup: &[Contact],
        prev: usize,
        token: Option<&str>,
    ) {
        self.bytes.clear();
        self.ends.clear();
        self.json.clear();
        self.prev_json.clear();
        self.token.clear();
        self.token.extend_from_slice(token.unwrap_or("").as_bytes());
        self.prev = prev.min(lookup.len());
        self.prev_json.push(b'[');
        self.json.push(b'[');
        let mut buf = [0u8; CONTACT_MAX];
        for (i, c) in lookup.iter().enumerate() {
            let n = encode_contact(enc, c, &mut buf);
            self.bytes.extend_from_slice(&buf[..n]);
            let end = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
            self.ends.push(end);
            let (json, first) = if i < self.prev {
                (&mut self.prev_json, i == 0)
            } else {
                (&mut self.json, i == self.prev)
            };
            if !first {
                json.push(b',');
            }
            write_str(Mode::JsonVal, &buf[..n], json);
        }
        self.prev_json.push(b']');
        self.json.push(b']');
    }

    /// How many of the contacts were looked up before (sent as `{prev_contacts}`).
    pub fn prev_len(&self) -> usize {
        self.prev
    }

    /// Number of contacts.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The `i`-th encoded contact.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.bytes.get(start..end)
    }

    /// Iterates over the encoded contacts.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

impl Template {
    /// Compiles parsed parts for use as `kind`.
    pub(crate) fn compile(parts: &[Part], kind: Kind) -> Template {
        let mut segs: Vec<Seg> = Vec::with_capacity(parts.len());
        let mut lit: Vec<u8> = Vec::new();
        for part in parts {
            match part {
                Part::Lit(text) => lit.extend_from_slice(text.as_bytes()),
                Part::Var { var, in_string } => {
                    if !lit.is_empty() {
                        segs.push(Seg::Lit(std::mem::take(&mut lit).into_boxed_slice()));
                    }
                    let mode = match kind {
                        Kind::Path | Kind::Form => Mode::Url,
                        Kind::Header => Mode::Header,
                        Kind::Json if *in_string => Mode::JsonStr,
                        Kind::Json => Mode::JsonVal,
                    };
                    segs.push(Seg::Var(*var, mode));
                }
            }
        }
        if !lit.is_empty() {
            segs.push(Seg::Lit(lit.into_boxed_slice()));
        }
        Template {
            segs: segs.into_boxed_slice(),
        }
    }

    /// Whether the template renders extracted value `slot`.
    pub(crate) fn uses_value(&self, slot: usize) -> bool {
        self.segs
            .iter()
            .any(|s| matches!(s, Seg::Var(Var::Value(v), _) if usize::from(*v) == slot))
    }

    /// Whether the template renders the verification code (`{code}`).
    pub(crate) fn uses_code(&self) -> bool {
        self.segs
            .iter()
            .any(|s| matches!(s, Seg::Var(Var::Code, _)))
    }

    /// The segments (for tests and inspection).
    #[cfg(test)]
    pub(crate) fn segs(&self) -> &[Seg] {
        &self.segs
    }

    /// Appends the rendered template to `out`. `batch` is the encoded discovery batch, if any.
    pub(crate) fn render(&self, ctx: &Ctx, batch: Batch, out: &mut Vec<u8>) {
        for seg in self.segs.iter() {
            match seg {
                Seg::Lit(b) => out.extend_from_slice(b),
                Seg::Var(var, mode) => write_var(*var, *mode, ctx, batch, out),
            }
        }
    }
}

/// The discovery batch as rendering sees it: pre-encoded, or encoded on the fly.
#[derive(Clone, Copy)]
pub(crate) enum Batch<'a> {
    /// Encoded by the caller.
    Encoded(&'a EncodedBatch),
    /// Encode `Ctx::batch` with this encoding while rendering.
    Raw(ContactEncoding),
}

/// Longest encoded contact (sha256-hex: 64; matrix localpart: "surgen" + 20 digits).
pub(crate) const CONTACT_MAX: usize = 96;

fn write_var(var: Var, mode: Mode, ctx: &Ctx, batch: Batch, out: &mut Vec<u8>) {
    let mut num = [0u8; 24];
    match var {
        Var::Phone => write_str(mode, e164(ctx.person.phone, &mut num), out),
        Var::PhoneDigits => write_str(mode, digits(ctx.person.phone.0, &mut num), out),
        Var::Region => write_str(mode, ctx.region_name.as_bytes(), out),
        Var::Code => write_str(mode, ctx.code.as_bytes(), out),
        Var::UserId => write_num(mode, digits(ctx.person.index, &mut num), out),
        Var::BatchLen => {
            let n = match batch {
                Batch::Encoded(e) => e.len() - e.prev,
                Batch::Raw(_) => ctx.batch.len(),
            };
            write_num(mode, digits(n as u64, &mut num), out)
        }
        Var::DiscoveryToken => match batch {
            Batch::Encoded(e) => write_str(mode, &e.token, out),
            Batch::Raw(_) => write_str(mode, b"", out),
        },
        Var::PrevContacts => write_contacts(mode, ctx, batch, true, out),
        Var::Password => {
            let d = derived(ctx.plan_secret, b":pw:", ctx.person.index);
            let mut hex = [0u8; 16];
            hex_into(&d[..8], &mut hex);
            write_str(mode, &hex, out)
        }
        Var::Key => {
            let d = derived(ctx.plan_secret, b":key:", ctx.person.index);
            let mut b64 = [0u8; 44];
            let n = base64::engine::general_purpose::STANDARD
                .encode_slice(d, &mut b64)
                .unwrap_or(0);
            write_str(mode, &b64[..n], out)
        }
        Var::Value(slot) => {
            let v = ctx
                .values
                .get(usize::from(slot))
                .and_then(|v| v.as_deref())
                .unwrap_or("");
            if mode == Mode::JsonVal && is_json_number(v) {
                out.extend_from_slice(v.as_bytes());
            } else {
                write_str(mode, v.as_bytes(), out)
            }
        }
        Var::Contacts => write_contacts(mode, ctx, batch, false, out),
        // Message variables exist only in `[journey.connect] messages.frame`, which
        // `journey::connect::MessageFrame` renders itself; validation keeps them out of steps.
        Var::To | Var::ToUser | Var::MsgId | Var::SentAt | Var::Room => {}
        Var::Contact => {
            let mut buf = [0u8; CONTACT_MAX];
            match batch {
                Batch::Encoded(e) => write_str(mode, e.get(e.prev).unwrap_or(b""), out),
                Batch::Raw(enc) => {
                    let n = ctx
                        .batch
                        .first()
                        .map_or(0, |c| encode_contact(enc, c, &mut buf));
                    write_str(mode, &buf[..n], out)
                }
            }
        }
    }
}

/// `{contacts}` (the new contacts) or, with `prev`, `{prev_contacts}` (those looked up before; none
/// when the batch is encoded while rendering).
fn write_contacts(mode: Mode, ctx: &Ctx, batch: Batch, prev: bool, out: &mut Vec<u8>) {
    if let (Batch::Encoded(e), Mode::JsonVal) = (batch, mode) {
        out.extend_from_slice(if prev { &e.prev_json } else { &e.json });
        return;
    }
    let (open, sep, close, each): (&[u8], &[u8], &[u8], Mode) = match mode {
        Mode::JsonVal => (b"[", b",", b"]", Mode::JsonVal),
        Mode::Url => (b"", b"%2C", b"", Mode::Url),
        other => (b"", b",", b"", other),
    };
    out.extend_from_slice(open);
    let mut buf = [0u8; CONTACT_MAX];
    let mut first = true;
    let mut put = |bytes: &[u8], out: &mut Vec<u8>| {
        if !first {
            out.extend_from_slice(sep);
        }
        first = false;
        write_str(each, bytes, out);
    };
    match batch {
        Batch::Encoded(e) => {
            let range = if prev { 0..e.prev } else { e.prev..e.len() };
            range.filter_map(|i| e.get(i)).for_each(|b| put(b, out));
        }
        Batch::Raw(_) if prev => {}
        Batch::Raw(enc) => {
            for c in ctx.batch {
                let n = encode_contact(enc, c, &mut buf);
                put(&buf[..n], out);
            }
        }
    }
    out.extend_from_slice(close);
}

/// Writes a number (already decimal digits).
pub(crate) fn write_num(mode: Mode, digits: &[u8], out: &mut Vec<u8>) {
    match mode {
        Mode::JsonVal | Mode::JsonStr | Mode::Url | Mode::Header => out.extend_from_slice(digits),
    }
}

/// Writes a string value in `mode`.
pub(crate) fn write_str(mode: Mode, s: &[u8], out: &mut Vec<u8>) {
    match mode {
        Mode::Header => out.extend(
            s.iter()
                .copied()
                .filter(|&b| b != b'\r' && b != b'\n' && b != 0),
        ),
        Mode::Url => percent_encode(s, out),
        Mode::JsonStr => json_escape(s, out),
        Mode::JsonVal => {
            out.push(b'"');
            json_escape(s, out);
            out.push(b'"');
        }
    }
}

/// JSON string escaping (RFC 8259): `"`, `\` and control characters; other bytes pass through.
pub(crate) fn json_escape(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

/// Percent-encodes all but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
pub(crate) fn percent_encode(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

fn is_json_number(v: &str) -> bool {
    let b = v.as_bytes();
    let body = b.strip_prefix(b"-").unwrap_or(b);
    !body.is_empty()
        && body[0].is_ascii_digit()
        && (body[0] != b'0' || body.len() == 1 || !body[1].is_ascii_digit())
        && body
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        && serde_json::from_str::<serde::de::IgnoredAny>(v).is_ok()
}

/// sha256("{secret}{tag}{index}"), without allocating.
fn derived(secret: &str, tag: &[u8], index: u64) -> [u8; 32] {
    let mut num = [0u8; 24];
    let mut h = Sha256::new();
    h.update(secret.as_bytes());
    h.update(tag);
    h.update(digits(index, &mut num));
    h.finalize().into()
}

/// Decimal digits of `n`, written at the end of `buf`.
pub(crate) fn digits(mut n: u64, buf: &mut [u8; 24]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// `+` and the digits of `phone`.
pub(crate) fn e164(phone: Phone, buf: &mut [u8; 24]) -> &[u8] {
    let n = digits(phone.0, buf).len();
    let start = buf.len() - n - 1;
    buf[start] = b'+';
    &buf[start..]
}

fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        if let Some(pair) = out.get_mut(2 * i..2 * i + 2) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 15)];
        }
    }
}

/// Writes `c` encoded with `enc` into `buf`; returns the length.
pub(crate) fn encode_contact(
    enc: ContactEncoding,
    c: &Contact,
    buf: &mut [u8; CONTACT_MAX],
) -> usize {
    let mut num = [0u8; 24];
    let put = |src: &[u8], buf: &mut [u8; CONTACT_MAX]| {
        let n = src.len().min(CONTACT_MAX);
        buf[..n].copy_from_slice(&src[..n]);
        n
    };
    match enc {
        ContactEncoding::E164 => put(e164(c.phone, &mut num), buf),
        ContactEncoding::Digits => put(digits(c.phone.0, &mut num), buf),
        ContactEncoding::Sha256Hex16 | ContactEncoding::Sha256Hex | ContactEncoding::Sha256B64 => {
            let d: [u8; 32] = Sha256::digest(e164(c.phone, &mut num)).into();
            match enc {
                ContactEncoding::Sha256Hex16 => {
                    hex_into(&d[..8], &mut buf[..16]);
                    16
                }
                ContactEncoding::Sha256Hex => {
                    hex_into(&d, &mut buf[..64]);
                    64
                }
                _ => base64::engine::general_purpose::STANDARD
                    .encode_slice(d, &mut buf[..])
                    .unwrap_or(0),
            }
        }
        ContactEncoding::MatrixLocalpart | ContactEncoding::MatrixUserId => {
            let (prefix, n): (&[u8], u64) = match c.user {
                Some(u) => (b"surge", u),
                None => (b"surgen", c.phone.0),
            };
            let p = put(prefix, buf);
            let d = digits(n, &mut num);
            buf[p..p + d.len()].copy_from_slice(d);
            p + d.len()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_merges_literals_and_picks_modes() {
        let parts = vec![
            Part::Lit("{\"a\":".into()),
            Part::Lit("\"".into()),
            Part::Var {
                var: Var::Phone,
                in_string: true,
            },
            Part::Lit("\",\"b\":".into()),
            Part::Var {
                var: Var::Contacts,
                in_string: false,
            },
            Part::Lit("}".into()),
        ];
        let t = Template::compile(&parts, Kind::Json);
        let want = [
            Seg::Lit(b"{\"a\":\"".to_vec().into_boxed_slice()),
            Seg::Var(Var::Phone, Mode::JsonStr),
            Seg::Lit(b"\",\"b\":".to_vec().into_boxed_slice()),
            Seg::Var(Var::Contacts, Mode::JsonVal),
            Seg::Lit(b"}".to_vec().into_boxed_slice()),
        ];
        assert_eq!(t.segs(), want);
        let path = Template::compile(
            &[Part::Var {
                var: Var::Region,
                in_string: false,
            }],
            Kind::Path,
        );
        assert_eq!(path.segs(), [Seg::Var(Var::Region, Mode::Url)]);
        let hdr = Template::compile(
            &[Part::Var {
                var: Var::Region,
                in_string: false,
            }],
            Kind::Header,
        );
        assert_eq!(hdr.segs(), [Seg::Var(Var::Region, Mode::Header)]);
    }

    #[test]
    fn escapes_and_numbers() {
        let mut out = Vec::new();
        json_escape(b"a\"b\\c\x08\x1f\xc3\xa9", &mut out);
        assert_eq!(out, b"a\\\"b\\\\c\\u0008\\u001f\xc3\xa9");
        out.clear();
        percent_encode(b"Az09-._~ +/%\xff", &mut out);
        assert_eq!(out, b"Az09-._~%20%2B%2F%25%FF");
        let mut buf = [0u8; 24];
        assert_eq!(digits(0, &mut buf), b"0");
        assert_eq!(digits(u64::MAX, &mut buf), b"18446744073709551615");
        assert_eq!(e164(Phone(15550001234), &mut buf), b"+15550001234");
        for (v, num) in [
            ("12", true),
            ("-0.5e-3", true),
            ("01", false),
            ("1e", false),
            ("", false),
            ("1.2.3", false),
            ("NaN", false),
        ] {
            assert_eq!(is_json_number(v), num, "{v}");
        }
    }
}
