//! Validation of step fields other than templates: headers, statuses, pointers, discovery, think time.

use std::time::Duration;

use toml::Spanned;

use super::validate::Ck;
use super::{
    CodeWaitSpec, ContactEncoding, DiscoverySpec, ExtractSource, RawCodeWait, RawDiscovery,
    RawExpect, RawResync, RawThink, ResyncSpec, ThinkSpec,
};
use crate::error::ProfileError;

/// Largest discovery batch.
const MAX_BATCH: i64 = 100_000;
pub(super) fn check_header_name(
    ck: &Ck,
    name: &str,
    value: &Spanned<String>,
    field: &str,
) -> Result<(), ProfileError> {
    const SPECIAL: &[u8] = b"!#$%&'*+-.^_`|~";
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || SPECIAL.contains(&b));
    if !ok {
        return Err(ck.err(
            value.span(),
            field,
            name,
            "invalid header name (expected an HTTP token)",
        ));
    }
    if matches!(
        name,
        "host" | "content-length" | "transfer-encoding" | "connection"
    ) {
        return Err(ck.err(
            value.span(),
            field,
            name,
            "this header is set by the client, not the profile",
        ));
    }
    Ok(())
}

pub(super) fn expect_list(
    ck: &Ck,
    e: Option<&Spanned<RawExpect>>,
    field: &str,
) -> Result<Vec<u16>, ProfileError> {
    let Some(e) = e else { return Ok(Vec::new()) };
    let list = match e.get_ref() {
        RawExpect::One(s) => vec![*s],
        RawExpect::Many(v) => v.clone(),
    };
    if list.is_empty() || list.len() > 32 {
        return Err(ck.err(e.span(), field, "", "expect 1 to 32 statuses"));
    }
    list.iter()
        .map(|s| match u16::try_from(*s) {
            Ok(v) if (100..=599).contains(&v) => Ok(v),
            _ => Err(ck.err(
                e.span(),
                field,
                &s.to_string(),
                "an HTTP status is 100..=599",
            )),
        })
        .collect()
}

pub(super) fn extract_source(
    ck: &Ck,
    src: &Spanned<String>,
    field: &str,
) -> Result<ExtractSource, ProfileError> {
    let v = src.get_ref();
    if let Some(h) = v.strip_prefix("header:") {
        let ok = !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !ok {
            return Err(ck.err(src.span(), field, v, "invalid header name after `header:`"));
        }
        return Ok(ExtractSource::Header(h.to_ascii_lowercase()));
    }
    check_pointer(ck, src, field)?;
    Ok(ExtractSource::Pointer(v.clone()))
}

/// An RFC 6901 JSON pointer: empty, or `/`-separated tokens where `~` is followed by 0 or 1.
pub(super) fn check_pointer(ck: &Ck, p: &Spanned<String>, field: &str) -> Result<(), ProfileError> {
    let v = p.get_ref();
    let bad_tilde = v
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b'~' && w[1] != b'0' && w[1] != b'1')
        || v.ends_with('~');
    if (!v.is_empty() && !v.starts_with('/')) || bad_tilde || v.len() > 1024 {
        let rule = "invalid JSON pointer (expected \"/a/b\", `~0` for ~ and `~1` for /, or \"header:<name>\")";
        return Err(ck.err(p.span(), field, v, rule));
    }
    Ok(())
}

/// A contact encoding by name; `matrix-user-id` only describes answers.
fn encoding(
    ck: &Ck,
    e: &Spanned<String>,
    field: &str,
    answer: bool,
) -> Result<ContactEncoding, ProfileError> {
    match ContactEncoding::parse(e.get_ref()) {
        Some(ContactEncoding::MatrixUserId) if !answer => {
            let rule = "matrix-user-id only describes answers";
            Err(ck.err(e.span(), field, e.get_ref(), rule))
        }
        Some(x) => Ok(x),
        None => {
            let known: Vec<&str> = ContactEncoding::ALL.iter().map(|(n, _)| *n).collect();
            let rule = format!("unknown encoding (known: {})", known.join(", "));
            Err(ck.err(e.span(), field, e.get_ref(), rule))
        }
    }
}

pub(super) fn discovery_spec(
    ck: &Ck,
    d: &Spanned<RawDiscovery>,
    field: &str,
) -> Result<DiscoverySpec, ProfileError> {
    let r = d.get_ref();
    let batch = match &r.batch {
        Some(b) if !(1..=MAX_BATCH).contains(b.get_ref()) => {
            return Err(ck.err(
                b.span(),
                &format!("{field}.batch"),
                &b.get_ref().to_string(),
                format!("batch is 1..={MAX_BATCH}"),
            ));
        }
        Some(b) => usize::try_from(*b.get_ref()).unwrap_or(1),
        None => 2048,
    };
    let enc = |e: &Option<Spanned<String>>, f: &str, answer: bool| match e {
        Some(e) => encoding(ck, e, &format!("{field}.{f}"), answer).map(Some),
        None => Ok(None),
    };
    let encoding = enc(&r.encoding, "encoding", false)?.unwrap_or(ContactEncoding::Sha256Hex16);
    let answer_encoding = enc(&r.answer_encoding, "answer_encoding", true)?.unwrap_or(encoding);
    let answer = match &r.answer {
        Some(a) => {
            check_pointer(ck, a, &format!("{field}.answer"))?;
            a.get_ref().clone()
        }
        None => "/found".to_string(),
    };
    let answer_field = match &r.answer_field {
        Some(a) => {
            check_pointer(ck, a, &format!("{field}.answer_field"))?;
            Some(a.get_ref().clone())
        }
        None => None,
    };
    let (check, strict) = (r.check.unwrap_or(true), r.strict.unwrap_or(true));
    let incremental = r.incremental.unwrap_or(false);
    let token = match &r.token {
        Some(t) if !incremental => {
            let rule = "a token is kept only by incremental lookups: add `incremental = true`";
            return Err(ck.err(t.span(), &format!("{field}.token"), t.get_ref(), rule));
        }
        Some(t) => {
            check_pointer(ck, t, &format!("{field}.token"))?;
            Some(t.get_ref().clone())
        }
        None => None,
    };
    Ok(DiscoverySpec {
        incremental,
        token,
        batch,
        encoding,
        answer,
        answer_field,
        answer_encoding,
        check,
        strict,
    })
}

pub(super) fn duration(
    ck: &Ck,
    s: &Spanned<String>,
    field: &str,
) -> Result<Duration, ProfileError> {
    crate::duration::parse(s.get_ref())
        .map_err(|why| ck.err(s.span(), field, s.get_ref(), why.to_string()))
}

pub(super) fn think_spec(ck: &Ck, t: &Spanned<RawThink>) -> Result<ThinkSpec, ProfileError> {
    think_spec_at(ck, t, "journey.think")
}

/// A think-time distribution at `field` (the journey's think time, a person's patience).
pub(super) fn think_spec_at(
    ck: &Ck,
    t: &Spanned<RawThink>,
    field: &str,
) -> Result<ThinkSpec, ProfileError> {
    let r = t.get_ref();
    let need = |v: &Option<Spanned<String>>, name: &str| -> Result<Duration, ProfileError> {
        match v {
            Some(v) => duration(ck, v, &format!("{field}.{name}")),
            None => Err(ck.err(
                t.span(),
                &format!("{field}.{name}"),
                "",
                format!("missing field `{name}` for this kind"),
            )),
        }
    };
    match r.kind.get_ref().as_str() {
        "fixed" => Ok(ThinkSpec::Fixed(need(&r.time, "time")?)),
        "uniform" => {
            let (min, max) = (need(&r.min, "min")?, need(&r.max, "max")?);
            if min > max {
                return Err(ck.err(
                    t.span(),
                    &format!("{field}.min"),
                    "",
                    "min must not exceed max",
                ));
            }
            Ok(ThinkSpec::Uniform { min, max })
        }
        "log-normal" => {
            let median = need(&r.median, "median")?;
            let sigma = match &r.sigma {
                Some(s) if s.get_ref().is_finite() && (0.0..=5.0).contains(s.get_ref()) => {
                    *s.get_ref()
                }
                Some(s) => {
                    return Err(ck.err(
                        s.span(),
                        &format!("{field}.sigma"),
                        &s.get_ref().to_string(),
                        "sigma is 0..=5",
                    ));
                }
                None => {
                    return Err(ck.err(
                        t.span(),
                        &format!("{field}.sigma"),
                        "",
                        "missing field `sigma` for this kind",
                    ));
                }
            };
            let max = match &r.max {
                Some(m) => Some(duration(ck, m, &format!("{field}.max"))?),
                None => None,
            };
            Ok(ThinkSpec::LogNormal { median, sigma, max })
        }
        other => Err(ck.err(
            r.kind.span(),
            &format!("{field}.kind"),
            other,
            "expected \"fixed\", \"uniform\" or \"log-normal\"",
        )),
    }
}

pub(super) fn resync_spec(ck: &Ck, r: &Spanned<RawResync>) -> Result<ResyncSpec, ProfileError> {
    let raw = r.get_ref();
    let every = duration(ck, &raw.every, "journey.resync.every")?;
    if every.is_zero() {
        return Err(ck.err(
            raw.every.span(),
            "journey.resync.every",
            raw.every.get_ref(),
            "must be > 0",
        ));
    }
    let times = match u32::try_from(*raw.times.get_ref()) {
        Ok(t) if (1..=10_000).contains(&t) => t,
        _ => {
            return Err(ck.err(
                raw.times.span(),
                "journey.resync.times",
                &raw.times.get_ref().to_string(),
                "times is 1..=10000",
            ));
        }
    };
    let added = match &raw.added {
        None => 0,
        Some(a) => match u32::try_from(*a.get_ref()) {
            Ok(n) if n <= 100_000 => n,
            _ => {
                return Err(ck.err(
                    a.span(),
                    "journey.resync.added",
                    &a.get_ref().to_string(),
                    "added is 0..=100000",
                ));
            }
        },
    };
    Ok(ResyncSpec {
        every,
        times,
        added,
    })
}

/// `code_wait = { delay, patience, resends, metric }` of step `field`.
pub(super) fn code_wait_spec(
    ck: &Ck,
    w: &Spanned<RawCodeWait>,
    field: &str,
) -> Result<CodeWaitSpec, ProfileError> {
    let raw = w.get_ref();
    let delay = extract_source(ck, &raw.delay, &format!("{field}.delay"))?;
    let patience = think_spec_at(ck, &raw.patience, &format!("{field}.patience"))?;
    let resends = match &raw.resends {
        None => 2,
        Some(r) => match u32::try_from(*r.get_ref()) {
            Ok(n) if n <= 20 => n,
            _ => {
                return Err(ck.err(
                    r.span(),
                    &format!("{field}.resends"),
                    &r.get_ref().to_string(),
                    "resends is 0..=20",
                ));
            }
        },
    };
    let metric = match &raw.metric {
        Some(m) => m.get_ref().clone(),
        None => "code_delay".to_owned(),
    };
    Ok(CodeWaitSpec {
        delay,
        patience,
        resends,
        metric,
    })
}
