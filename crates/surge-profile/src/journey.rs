//! Journeys: the HTTP steps each simulated person runs, as declared in the profile.
//!
//! The profile's `journey` field is either a built-in name or a table of steps:
//!
//! ```toml
//! journey = "reference"            # or "matrix", or "get"
//!
//! [journey]                        # ... or a built-in with options
//! builtin = "reference"
//! keys = true                      # reference only: add the `upload_keys` step
//!
//! [journey]                        # ... or spelled out
//! name = "my-signup"
//! headers = { "x-surge-region" = "{region}" }      # sent by every step
//! think = { kind = "log-normal", median = "2s", sigma = 0.5, max = "10s" }
//! resync = { every = "30s", times = 2 }            # repeat the discovery step(s)
//!
//! [[journey.steps]]
//! name = "request_code"
//! method = "POST"
//! path = "/v1/verification/code"
//! body = '{"number":"{phone}"}'
//! expect = 202
//! extract = { session_id = "/session_id" }         # JSON pointer, or "header:<name>"
//!
//! [[journey.steps]]
//! name = "discover"
//! method = "POST"
//! path = "/v1/discovery"
//! headers = { authorization = "Bearer {token}" }
//! body = '{"hashes":{contacts}}'
//! discovery = { batch = 2048, encoding = "sha256-hex16", answer = "/found" }
//! ```
//!
//! # Step fields
//! | field | meaning |
//! |---|---|
//! | `name` | unique step name (`[A-Za-z0-9_.-]`, 1-64 chars) |
//! | `metric` | metric step name used in results and SLOs (default: `name`; several steps may share one) |
//! | `method` | `GET` (default), `POST`, `PUT`, `PATCH`, `DELETE` |
//! | `path` | path and query template, starts with `/`; values are percent-encoded |
//! | `headers` | name = value template; values are written raw (CR, LF, NUL dropped); `host`, `content-length`, `transfer-encoding`, `connection` are the client's |
//! | `body` | JSON body template (`content-type: application/json` unless a header sets it); checked as JSON at load |
//! | `form` | form body template `a={x}&b={y}` (`application/x-www-form-urlencoded`); values percent-encoded |
//! | `expect` | status or list of statuses (default: any 2xx); another status fails the step |
//! | `extract` | value name = JSON pointer into the answer (`"/token"`, `""` for all) or `"header:<name>"`; strings are stored unquoted, other JSON as text; missing or null fails the step |
//! | `timeout` | per-step timeout (`"2s"`); default: the profile's `[client] timeout` |
//! | `http` | `"1.1"` (default) or `"2"` |
//! | `base` | base URL for this step, or a region name (that region's `base_url`); default: the person's region's |
//! | `discovery` | makes a contact-discovery step (below) |
//! | `rounds` | list of tables with `method`, `path`, `headers`, `body`, `form`, `expect`, `extract`: the step is sent once per round (interactive auth); a round inherits the step's request fields, and sets its own `expect`/`extract` |
//!
//! # Templates
//! A hole is `{name}`; any other `{` is text (so JSON needs no escaping) and `{{` writes `{`. Variables:
//! `{phone}` (E.164, `+15550001234`), `{phone_digits}`, `{region}`, `{user_id}` (population index),
//! `{password}` (16 hex chars of sha256(`secret:pw:user_id`)), `{key}` (base64 of
//! sha256(`secret:key:user_id`)), `{code}` (the verification code), `{contacts}` and `{contact}` and
//! `{batch_len}` (discovery steps), and any value extracted by an EARLIER step or round. In a JSON body a
//! hole inside quotes is JSON-escaped; outside quotes it is a JSON value: numbers (`{user_id}`,
//! `{batch_len}`, extracted numbers) bare, text quoted, `{contacts}` an array of strings.
//! Elsewhere `{contacts}` is a comma list. Templates are compiled once; see [`Var`].
//!
//! # Discovery
//! `discovery = { batch, encoding, answer, answer_field, answer_encoding, check, strict }`: contacts are
//! sent `batch` at a time (default 2048) in `encoding` (`e164`, `digits`, `sha256-hex16` (default),
//! `sha256-hex`, `sha256-b64`, `matrix-localpart`); `answer` is the JSON pointer to the array of found
//! contacts (default `/found`), `answer_field` a pointer inside each entry when entries are objects,
//! `answer_encoding` their encoding (default: `encoding`; `matrix-user-id` compares `@local:server` by
//! localpart). `check` (default true) compares answers with the registrations the tester saw; `strict`
//! (default true) makes an entry that was not asked a wrong answer.
//!
//! # Think time and re-sync
//! `think` between steps: `{ kind = "fixed", time }`, `{ kind = "uniform", min, max }`,
//! `{ kind = "log-normal", median, sigma, max }`. `resync = { every, times }` repeats the discovery
//! step(s) `times` more times, `every` apart.
//!
//! # Connected phase
//! `[journey.connect]` keeps the person connected over a WebSocket after the last step: dwell,
//! heartbeats, Poisson messages to connected contacts, ack and delivery recognition, reconnects. Its
//! fields are in [`connect`]. `[journey] builtin = "reference"` takes `connect = true` for the
//! reference backend's phase; `journey = "reference"` alone stays without it (a run's length is then
//! what it was: the phase holds people for minutes).
//!
//! Validation ([`validate`]) resolves every template variable at load, so an unknown variable, a value
//! used before the step that extracts it, a malformed JSON body, an invalid header or a bad pointer is
//! refused with file:line:column and the step's name.

mod builtin;
pub mod connect;
mod connect_raw;
pub mod dwell;
mod fields;
mod holes;
mod raw;
mod template;
mod validate;

use std::time::Duration;

pub use connect::{
    AckSpec, ConnectSpec, DeliverSpec, FrameMatch, HeartbeatSpec, LongPollSpec, MessagesSpec,
    ReconnectSpec, RoomSpec,
};
pub use connect_raw::{
    RawAck, RawConnect, RawConnectField, RawDeliver, RawDwell, RawHeartbeat, RawJoin, RawMatch,
    RawMessages, RawPoll, RawReconnect, RawRoom,
};
pub use dwell::{DwellSpec, DwellTrace};
pub use raw::{
    RawCodeWait, RawDiscovery, RawExpect, RawJourney, RawJourneyKind, RawJourneyTable, RawResync,
    RawRound, RawStep, RawThink,
};
pub use template::{BUILTIN_VARS, Part, Var, builtin_var};

use crate::error::ProfileError;

/// What [`validate`] needs besides the raw journey: the file it came from and the profile's regions.
#[derive(Debug, Clone, Copy)]
pub struct ValidateCtx<'a> {
    /// File label used in errors.
    pub file: &'a str,
    /// The whole profile text (spans index into it).
    pub text: &'a str,
    /// Region names of the profile (for `base` overrides naming a region).
    pub region_names: &'a [String],
    /// The profile's folder, for files a journey names (a dwell trace); `None` when the journey
    /// is not read from a file.
    pub base_dir: Option<&'a std::path::Path>,
}

/// HTTP method of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Method {
    /// GET
    #[default]
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl Method {
    /// The method as sent on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Parses a method name (case-insensitive).
    pub fn parse(s: &str) -> Option<Method> {
        [
            Method::Get,
            Method::Post,
            Method::Put,
            Method::Patch,
            Method::Delete,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }
}

/// How a contact (a phone number) is written in a discovery request or answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactEncoding {
    /// `"e164"`: `+15550001234`.
    E164,
    /// `"digits"`: `15550001234`.
    Digits,
    /// `"sha256-hex16"`: first 8 bytes of SHA-256 of the E.164 string, 16 lowercase hex chars.
    Sha256Hex16,
    /// `"sha256-hex"`: the whole SHA-256 of the E.164 string, 64 lowercase hex chars.
    Sha256Hex,
    /// `"sha256-b64"`: the whole SHA-256 of the E.164 string, standard base64 with padding.
    Sha256B64,
    /// `"matrix-localpart"`: the Matrix username the `matrix` journey registers for that person
    /// (`surge{user_id}`), or `surgen{digits}` for a number that never joins (never registered).
    MatrixLocalpart,
    /// `"matrix-user-id"` (answers only): `@localpart:server`, compared by localpart.
    MatrixUserId,
}

impl ContactEncoding {
    /// Every encoding with its profile name.
    pub const ALL: &'static [(&'static str, ContactEncoding)] = &[
        ("e164", ContactEncoding::E164),
        ("digits", ContactEncoding::Digits),
        ("sha256-hex16", ContactEncoding::Sha256Hex16),
        ("sha256-hex", ContactEncoding::Sha256Hex),
        ("sha256-b64", ContactEncoding::Sha256B64),
        ("matrix-localpart", ContactEncoding::MatrixLocalpart),
        ("matrix-user-id", ContactEncoding::MatrixUserId),
    ];

    /// Parses a profile name, e.g. `"sha256-hex16"`.
    pub fn parse(s: &str) -> Option<ContactEncoding> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, e)| *e)
    }
}

/// A validated journey.
#[derive(Debug, Clone, PartialEq)]
pub struct JourneySpec {
    /// Journey name.
    pub name: String,
    /// Steps in order.
    pub steps: Vec<StepSpec>,
    /// Names of the extracted values; index = value slot.
    pub values: Vec<String>,
    /// Think time between steps.
    pub think: Option<ThinkSpec>,
    /// Periodic repeat of the discovery step(s).
    pub resync: Option<ResyncSpec>,
    /// The connected phase after the steps (see [`connect`]).
    pub connect: Option<ConnectSpec>,
}

/// A validated step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSpec {
    /// Step name (unique).
    pub name: String,
    /// Metric step name.
    pub metric: String,
    /// Per-step timeout (None: the client policy's).
    pub timeout: Option<Duration>,
    /// Use HTTP/2.
    pub http2: bool,
    /// Base URL override (a URL, or a region name whose base URL the engine uses).
    pub base: Option<String>,
    /// One round normally; two or more for interactive-auth steps.
    pub rounds: Vec<RoundSpec>,
    /// Present on contact-discovery steps.
    pub discovery: Option<DiscoverySpec>,
    /// Present on code-request steps whose person waits for the code to land.
    pub code_wait: Option<CodeWaitSpec>,
}

/// A code-request step's wait for the code (`code_wait`): the person reads when the code lands from
/// the answer, waits at most their patience, asks again (the whole step) when it is late, and gives
/// up after `resends` more requests.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeWaitSpec {
    /// Where the answer says when the code lands (milliseconds; any other value: never).
    pub delay: ExtractSource,
    /// How long a person waits before asking again.
    pub patience: ThinkSpec,
    /// Requests after the first before giving up.
    pub resends: u32,
    /// Metric step of the delay from the first request to the code usable.
    pub metric: String,
}

/// One request/response exchange of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundSpec {
    /// HTTP method.
    pub method: Method,
    /// Path (and query) template.
    pub path: Vec<Part>,
    /// Header names (lowercase) and value templates.
    pub headers: Vec<(String, Vec<Part>)>,
    /// Body.
    pub body: BodySpec,
    /// Accepted statuses; empty = any 2xx.
    pub expect: Vec<u16>,
    /// Values taken from the answer.
    pub extract: Vec<ExtractSpec>,
}

/// A request body template.
#[derive(Debug, Clone, PartialEq)]
pub enum BodySpec {
    /// No body.
    Empty,
    /// JSON (`content-type: application/json`), holes marked in/out of strings.
    Json(Vec<Part>),
    /// `application/x-www-form-urlencoded`; values are percent-encoded.
    Form(Vec<Part>),
}

/// A value taken from an answer into a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractSpec {
    /// Value name.
    pub name: String,
    /// Slot index (see [`JourneySpec::values`]).
    pub slot: u16,
    /// Where it comes from.
    pub source: ExtractSource,
}

/// Where an extracted value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtractSource {
    /// JSON pointer into the body (RFC 6901).
    Pointer(String),
    /// A response header (lowercase name).
    Header(String),
}

/// A validated discovery setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverySpec {
    /// Contacts per request (>= 1).
    pub batch: usize,
    /// Request encoding.
    pub encoding: ContactEncoding,
    /// JSON pointer to the answer's array of found contacts.
    pub answer: String,
    /// Pointer inside each element, when elements are objects.
    pub answer_field: Option<String>,
    /// Encoding of the answer's entries.
    pub answer_encoding: ContactEncoding,
    /// Check answers against known registrations.
    pub check: bool,
    /// Entries that are not in the batch make a wrong answer.
    pub strict: bool,
    /// Signal-style incremental lookups (`{prev_contacts}` with `{discovery_token}`, new numbers in
    /// `{contacts}`).
    pub incremental: bool,
    /// JSON pointer to the answer's token (incremental lookups).
    pub token: Option<String>,
}

/// Think time between steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThinkSpec {
    /// Always the same.
    Fixed(Duration),
    /// Uniform in `[min, max]`.
    Uniform {
        /// Lower bound.
        min: Duration,
        /// Upper bound.
        max: Duration,
    },
    /// Log-normal with this median and sigma, capped at `max`.
    LogNormal {
        /// Median.
        median: Duration,
        /// Sigma of the underlying normal.
        sigma: f64,
        /// Cap.
        max: Option<Duration>,
    },
}

/// Periodic repeat of the discovery step(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResyncSpec {
    /// Period.
    pub every: Duration,
    /// Number of repeats.
    pub times: u32,
    /// Contacts the address book gains before each re-sync.
    pub added: u32,
}

/// Validates the raw journey into a [`JourneySpec`].
pub fn validate(raw: &RawJourney, ctx: &ValidateCtx) -> Result<JourneySpec, ProfileError> {
    let span = raw.0.span();
    match raw.0.get_ref() {
        RawJourneyKind::Builtin(name) => {
            builtin::spec(name, false, false, false).ok_or_else(|| {
                ProfileError::at(
                    ctx.file,
                    ctx.text,
                    span,
                    "journey",
                    format!("{name:?}"),
                    format!(
                        "unknown built-in journey (known: {})",
                        builtin::NAMES.join(", ")
                    ),
                )
            })
        }
        RawJourneyKind::Table(table) => validate::table(table, ctx, span),
    }
}

/// The built-in journey `name` (`reference`, `matrix`, `get`), validated; `keys` adds the reference
/// journey's `upload_keys` step. This is also the default journey when a profile names none
/// (`builtin_journey("reference", false)`).
pub fn builtin_journey(name: &str, keys: bool) -> Option<JourneySpec> {
    builtin::spec(name, keys, false, false)
}

/// The declarative TOML text of a built-in journey (what `journey = "<name>"` stands for).
pub fn builtin_text(name: &str) -> Option<&'static str> {
    builtin::text(name)
}

/// Parses and validates the `journey` of a TOML document on its own (a profile fragment holding
/// only `journey = ...` or a `[journey]` table), e.g. to check a journey file or in tests.
/// Errors name `origin`, line and column like a profile's.
pub fn parse_journey(
    text: &str,
    origin: &str,
    region_names: &[String],
) -> Result<JourneySpec, ProfileError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        journey: RawJourney,
    }
    let doc: Doc = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        ProfileError::at(
            origin,
            text,
            span,
            "journey",
            "",
            e.message().to_lowercase(),
        )
    })?;
    let ctx = ValidateCtx {
        file: origin,
        text,
        region_names,
        base_dir: None,
    };
    validate(&doc.journey, &ctx)
}
