//! The five API endpoints' work, done while the request holds its data-centre slot.

use std::fmt::Write as _;

use base64::Engine as _;
use http::{StatusCode, header};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::api::{Reply, empty, error, json};
use crate::backend::{Backend, RegionSlot};
use crate::codes::{
    account_token, check_token, code_value, discovery_hash, is_e164, pack_number, parse_hash_hex,
};
use crate::discovery::Refusal;
use crate::plan::Endpoint;
use crate::sms::pipeline::Sent;
use crate::sms::retry_after_secs;
use crate::state::{RegisterError, TakeError, VerifyOutcome};

#[derive(Deserialize)]
struct CodeRequest<'a> {
    #[serde(borrow)]
    number: &'a str,
}

#[derive(Deserialize)]
struct VerifyRequest<'a> {
    #[serde(borrow)]
    session_id: &'a str,
    #[serde(borrow)]
    code: &'a str,
}

#[derive(Deserialize)]
struct RegisterRequest<'a> {
    #[serde(borrow)]
    session_id: &'a str,
}

#[derive(Deserialize)]
struct KeysRequest<'a> {
    #[serde(borrow)]
    identity_key: &'a str,
    #[serde(default)]
    #[allow(dead_code)]
    prekeys: Vec<IgnoredAny>,
}

#[derive(Deserialize)]
struct DiscoveryRequest<'a> {
    #[serde(borrow)]
    hashes: Vec<&'a str>,
    /// Numbers sent before, with the token of that lookup (free under a discovery quota).
    #[serde(borrow, default)]
    prev: Vec<&'a str>,
    #[serde(borrow, default)]
    token: Option<&'a str>,
}

fn bad_json() -> Reply {
    error(StatusCode::BAD_REQUEST, "malformed json")
}

/// Runs an endpoint's work and builds its reply.
pub(crate) fn handle(
    backend: &Backend,
    region: RegionSlot,
    dc: usize,
    endpoint: Endpoint,
    bearer: Option<&str>,
    body: &[u8],
) -> Reply {
    match endpoint {
        Endpoint::RequestCode => request_code(backend, region, body),
        Endpoint::VerifyCode => verify_code(backend, body),
        Endpoint::Register => register(backend, dc, body),
        Endpoint::Keys => keys(backend, bearer, body),
        Endpoint::Discovery => discovery(backend, bearer, body),
    }
}

fn request_code(backend: &Backend, region: RegionSlot, body: &[u8]) -> Reply {
    let Ok(request) = serde_json::from_slice::<CodeRequest>(body) else {
        return bad_json();
    };
    if !is_e164(request.number) {
        return error(
            StatusCode::BAD_REQUEST,
            "number must be + and 8 to 15 digits",
        );
    }
    let number = pack_number(request.number).unwrap_or(0);
    if let Some(Err(wait)) = backend.code_limits[0]
        .as_ref()
        .map(|l| l.take(number, backend.now_ms()))
    {
        return flood(wait);
    }
    if let Err(wait) = backend.sms.try_send(backend.effective_region(region)) {
        backend.counters.sms_limited(region);
        let mut reply = error(StatusCode::TOO_MANY_REQUESTS, "sms gateway rate limited");
        let seconds = header::HeaderValue::from(retry_after_secs(wait));
        reply.headers_mut().insert(header::RETRY_AFTER, seconds);
        return reply;
    }
    let now = backend.now_ms();
    let region = backend.effective_region(region);
    let sent = backend.pipeline.send(region, now);
    let code = code_value(backend.plan.secret(), request.number);
    let hash = discovery_hash(request.number);
    let id = backend.sessions.create(hash, number, code, now);
    let mut reply = json(
        StatusCode::ACCEPTED,
        format!("{{\"session_id\":\"{id:032x}\"}}"),
    );
    // The simulated phone's side channel: when the code lands (a real phone just receives it).
    let (delay, provider) = match sent {
        None => return reply,
        Some(Sent::Expired) => {
            // Tracked, never landing (unless a later message for the number does).
            backend.deliveries.landed_at(number, u64::MAX);
            (header::HeaderValue::from_static("expired"), None)
        }
        Some(Sent::Delivered { provider, delay_ms }) => {
            backend
                .deliveries
                .landed_at(number, now.saturating_add(delay_ms));
            let name = backend.pipeline.provider_name(region, provider);
            (
                header::HeaderValue::from(delay_ms),
                header::HeaderValue::from_str(name).ok(),
            )
        }
    };
    let headers = reply.headers_mut();
    headers.insert(CODE_DELAY_HEADER, delay);
    if let Some(p) = provider {
        headers.insert(SMS_PROVIDER_HEADER, p);
    }
    reply
}

/// Header of a code request's answer: milliseconds until the code lands on the phone, or `expired`
/// (only for regions with an SMS pipeline).
pub const CODE_DELAY_HEADER: &str = "x-surge-code-delay-ms";
/// Header of a code request's answer: the provider that sends the code (`voice` for the fallback).
pub const SMS_PROVIDER_HEADER: &str = "x-surge-sms-provider";

/// 429 `PHONE_NUMBER_FLOOD` with `Retry-After`: a per-number (or per-session) limit.
fn flood(wait: std::time::Duration) -> Reply {
    let mut reply = error(StatusCode::TOO_MANY_REQUESTS, crate::sms::per_number::FLOOD);
    let seconds = header::HeaderValue::from(retry_after_secs(wait));
    reply.headers_mut().insert(header::RETRY_AFTER, seconds);
    reply
}

fn parse_session(text: &str) -> Option<u128> {
    if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(text, 16).ok()
}

fn verify_code(backend: &Backend, body: &[u8]) -> Reply {
    let Ok(request) = serde_json::from_slice::<VerifyRequest>(body) else {
        return bad_json();
    };
    let Some(id) = parse_session(request.session_id) else {
        return error(StatusCode::NOT_FOUND, "unknown session");
    };
    if let Some(Err(wait)) = backend.code_limits[1]
        .as_ref()
        .map(|l| l.take(id as u64, backend.now_ms()))
    {
        return flood(wait);
    }
    let code = (request.code.len() == 6 && request.code.bytes().all(|b| b.is_ascii_digit()))
        .then(|| request.code.parse::<u32>().ok())
        .flatten();
    let now = backend.now_ms();
    // In a region with an SMS pipeline the person cannot know the code before it lands.
    let early = backend
        .sessions
        .number(id)
        .is_some_and(|number| backend.deliveries.pending(number, now));
    if early {
        return error(StatusCode::FORBIDDEN, "code not delivered yet");
    }
    match backend.sessions.verify(id, code, now) {
        VerifyOutcome::Verified => json(StatusCode::OK, "{\"verified\":true}".to_owned()),
        VerifyOutcome::WrongCode => error(StatusCode::FORBIDDEN, "wrong code"),
        VerifyOutcome::Unknown => error(StatusCode::NOT_FOUND, "unknown session"),
    }
}

fn register(backend: &Backend, dc: usize, body: &[u8]) -> Reply {
    let Ok(request) = serde_json::from_slice::<RegisterRequest>(body) else {
        return bad_json();
    };
    let Some(id) = parse_session(request.session_id) else {
        return error(StatusCode::NOT_FOUND, "unknown session");
    };
    let now = backend.now_ms();
    let (hash, number) = match backend.sessions.take_verified(id, now) {
        Ok(taken) => taken,
        Err(TakeError::NotVerified) => return error(StatusCode::FORBIDDEN, "session not verified"),
        Err(TakeError::Unknown) => return error(StatusCode::NOT_FOUND, "unknown session"),
    };
    let lag = u64::try_from(backend.dcs[dc].index_lag().as_millis()).unwrap_or(u64::MAX);
    match backend.accounts.register(hash, now.saturating_add(lag)) {
        Ok(account) => {
            backend.numbers.set(account, number);
            let token = account_token(backend.plan.secret(), account);
            let body = format!("{{\"account_id\":{account},\"token\":\"{token}\"}}");
            json(StatusCode::CREATED, body)
        }
        Err(RegisterError::Duplicate) => error(StatusCode::CONFLICT, "number already registered"),
        Err(RegisterError::Exhausted) => {
            error(StatusCode::SERVICE_UNAVAILABLE, "account ids exhausted")
        }
    }
}

fn authorized(backend: &Backend, bearer: Option<&str>) -> bool {
    bearer
        .is_some_and(|t| check_token(backend.plan.secret(), t, backend.accounts.max_id()).is_some())
}

fn keys(backend: &Backend, bearer: Option<&str>, body: &[u8]) -> Reply {
    if !authorized(backend, bearer) {
        return error(StatusCode::UNAUTHORIZED, "bad token");
    }
    let Ok(request) = serde_json::from_slice::<KeysRequest>(body) else {
        return bad_json();
    };
    let key = request.identity_key;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(key)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(key));
    match decoded {
        Ok(bytes) if !bytes.is_empty() => empty(StatusCode::NO_CONTENT),
        _ => error(StatusCode::BAD_REQUEST, "identity_key must be base64"),
    }
}

fn discovery(backend: &Backend, bearer: Option<&str>, body: &[u8]) -> Reply {
    let account =
        bearer.and_then(|t| check_token(backend.plan.secret(), t, backend.accounts.max_id()));
    let Some(account) = account else {
        return error(StatusCode::UNAUTHORIZED, "bad token");
    };
    let Ok(request) = serde_json::from_slice::<DiscoveryRequest>(body) else {
        return bad_json();
    };
    if request.hashes.len() + request.prev.len() > backend.plan.discovery_batch_limit() {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "too many hashes");
    }
    let parse = |list: &[&str]| -> Option<Vec<u64>> {
        let mut v: Vec<u64> = list
            .iter()
            .map(|t| parse_hash_hex(t))
            .collect::<Option<_>>()?;
        v.sort_unstable();
        v.dedup();
        Some(v)
    };
    let (Some(new), Some(prev)) = (parse(&request.hashes), parse(&request.prev)) else {
        return error(StatusCode::BAD_REQUEST, "hashes must be 16 hex digits");
    };
    let now = backend.now_ms();
    let mut token = None;
    if let Some(q) = &backend.quotas {
        let charged = new
            .iter()
            .filter(|h| prev.binary_search(h).is_err())
            .count();
        match q.charge(account, request.token, &prev, charged as u64, now) {
            Ok(()) => backend.counters.discovery_charged(charged as u64),
            Err(Refusal::BadToken) => {
                return error(StatusCode::BAD_REQUEST, "token does not match prev");
            }
            Err(Refusal::OverQuota(wait)) => {
                backend.counters.discovery_over_quota();
                let mut reply = error(StatusCode::TOO_MANY_REQUESTS, "discovery quota exhausted");
                let seconds = header::HeaderValue::from(retry_after_secs(wait));
                reply.headers_mut().insert(header::RETRY_AFTER, seconds);
                return reply;
            }
        }
        let mut all = prev.clone();
        all.extend_from_slice(&new);
        all.sort_unstable();
        all.dedup();
        token = Some(q.token(account, all.into_iter()));
    }
    let mut out = String::with_capacity(48 + (request.hashes.len() + request.prev.len()) * 8);
    out.push_str("{\"found\":[");
    let mut first = true;
    for text in request.prev.iter().chain(&request.hashes) {
        let hash = parse_hash_hex(text).unwrap_or(0);
        if backend.accounts.visible(hash, now) && !backend.omitted(hash) {
            let comma = if first { "" } else { "," };
            let _ = write!(out, "{comma}\"{text}\"");
            first = false;
        }
    }
    out.push(']');
    if let Some(t) = token {
        let _ = write!(out, ",\"token\":\"{t}\"");
    }
    out.push('}');
    json(StatusCode::OK, out)
}
