//! The journey as written in the profile: serde types with spans, nothing validated yet.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;

/// The profile's `journey` field: a built-in name (`"reference"`, `"matrix"`, `"get"`) or a table.
///
/// The span covers the whole value as written, for errors about the journey as a whole.
#[derive(Debug, Clone)]
pub struct RawJourney(pub Spanned<RawJourneyKind>);

/// The two shapes of the `journey` field.
#[derive(Debug, Clone)]
pub enum RawJourneyKind {
    /// `journey = "reference"`.
    Builtin(String),
    /// `[journey]` table (declarative steps, or `builtin = "reference"` with options).
    Table(Box<RawJourneyTable>),
}

impl<'de> Deserialize<'de> for RawJourney {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Spanned::<RawJourneyKind>::deserialize(d).map(RawJourney)
    }
}

impl<'de> Deserialize<'de> for RawJourneyKind {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = RawJourneyKind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a built-in journey name (\"reference\", \"matrix\", \"get\") or a journey table",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(RawJourneyKind::Builtin(v.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let table = RawJourneyTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(RawJourneyKind::Table(Box::new(table)))
    }
}

/// `[journey]` as a table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJourneyTable {
    /// Journey name (defaults to the builtin's name or `"custom"`).
    pub name: Option<Spanned<String>>,
    /// Use a built-in journey with options instead of spelling out steps.
    pub builtin: Option<Spanned<String>>,
    /// Reference builtin only: also run the `upload_keys` step.
    pub keys: Option<bool>,
    /// Reference builtin only: wait for the code to land (`code_wait` on `request_code`).
    pub wait_for_code: Option<bool>,
    /// Headers sent by every step (a step's own header of the same name wins).
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// The steps, in order.
    pub steps: Option<Vec<Spanned<RawStep>>>,
    /// Think time between steps.
    pub think: Option<Spanned<RawThink>>,
    /// Periodic repeat of the discovery step(s).
    pub resync: Option<Spanned<RawResync>>,
    /// The connected phase after the steps (`[journey.connect]`, or `connect = true` with a built-in).
    pub connect: Option<Spanned<super::connect_raw::RawConnectField>>,
}

/// One `[[journey.steps]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Step name (unique in the journey).
    pub name: Spanned<String>,
    /// Metric step name (defaults to `name`).
    pub metric: Option<Spanned<String>>,
    /// Per-step timeout, e.g. `"2s"`.
    pub timeout: Option<Spanned<String>>,
    /// `"1.1"` (default) or `"2"`.
    pub http: Option<Spanned<String>>,
    /// Optional base URL override for this step.
    pub base: Option<Spanned<String>>,
    /// Discovery settings: makes this a contact-discovery step.
    pub discovery: Option<Spanned<RawDiscovery>>,
    /// A code-request step: the person waits for the code to land, and asks again when it is late.
    pub code_wait: Option<Spanned<RawCodeWait>>,
    /// HTTP method (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`); default for every round.
    pub method: Option<Spanned<String>>,
    /// Path template; default for every round.
    pub path: Option<Spanned<String>>,
    /// Header templates; default for every round.
    pub headers: Option<BTreeMap<String, Spanned<String>>>,
    /// JSON body template; default for every round.
    pub body: Option<Spanned<String>>,
    /// Form body template; default for every round.
    pub form: Option<Spanned<String>>,
    /// Expected statuses; default for every round.
    pub expect: Option<Spanned<RawExpect>>,
    /// Extractions (single-round steps only, or the last round's default).
    pub extract: Option<BTreeMap<String, Spanned<String>>>,
    /// Multi-round steps: each entry overrides the step's round fields.
    pub rounds: Option<Vec<Spanned<RawRound>>>,
}

/// The request and response part of a step (or of one round of it).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRound {
    /// HTTP method (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`).
    pub method: Option<Spanned<String>>,
    /// Path template, e.g. `"/v1/accounts/{user_id}"`.
    pub path: Option<Spanned<String>>,
    /// Header templates.
    pub headers: Option<BTreeMap<String, Spanned<String>>>,
    /// JSON body template.
    pub body: Option<Spanned<String>>,
    /// Form body template (`a={x}&b={y}`).
    pub form: Option<Spanned<String>>,
    /// Expected statuses: one number or a list (default: any 2xx).
    pub expect: Option<Spanned<RawExpect>>,
    /// Extractions: value name -> JSON pointer (`"/token"`) or `"header:<name>"`.
    pub extract: Option<BTreeMap<String, Spanned<String>>>,
}

/// `expect = 200` or `expect = [200, 201]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawExpect {
    /// One status.
    One(i64),
    /// Several statuses.
    Many(Vec<i64>),
}

/// `discovery = { batch = 2048, encoding = "sha256-hex16", answer = "/found" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiscovery {
    /// Contacts per request.
    pub batch: Option<Spanned<i64>>,
    /// How contacts are encoded in the request.
    pub encoding: Option<Spanned<String>>,
    /// JSON pointer to the array of found contacts in the answer.
    pub answer: Option<Spanned<String>>,
    /// JSON pointer inside each answer element (when elements are objects).
    pub answer_field: Option<Spanned<String>>,
    /// Encoding of the answer entries (defaults to `encoding`).
    pub answer_encoding: Option<Spanned<String>>,
    /// Check the answer against the contacts known to be registered (default true).
    pub check: Option<bool>,
    /// Answer entries that are not in the batch are a wrong answer (default true).
    pub strict: Option<bool>,
    /// Signal-style incremental lookups: numbers seen before go in `{prev_contacts}` with the last
    /// lookup's `{discovery_token}`, only new ones in `{contacts}` (default false).
    pub incremental: Option<bool>,
    /// JSON pointer to the token in the answer (incremental lookups).
    pub token: Option<Spanned<String>>,
}

/// `code_wait = { delay = "header:x-surge-code-delay-ms", patience = { .. }, resends = 2 }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCodeWait {
    /// Where the answer says when the code lands: `"header:<name>"` or a JSON pointer; the value is
    /// milliseconds, or anything else (`"expired"`) for a code that never lands.
    pub delay: Spanned<String>,
    /// How long a person waits for a late code before asking again (a think-time distribution).
    pub patience: Spanned<RawThink>,
    /// How many times a person asks again before giving up (default 2).
    pub resends: Option<Spanned<i64>>,
    /// Metric step of the delay, from the first request to the code usable (default `code_delay`).
    pub metric: Option<Spanned<String>>,
}

/// `think = { kind = "uniform", min = "1s", max = "3s" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThink {
    /// `"fixed"`, `"uniform"` or `"log-normal"`.
    pub kind: Spanned<String>,
    /// Fixed time.
    pub time: Option<Spanned<String>>,
    /// Uniform lower bound.
    pub min: Option<Spanned<String>>,
    /// Uniform upper bound; cap for log-normal.
    pub max: Option<Spanned<String>>,
    /// Log-normal median.
    pub median: Option<Spanned<String>>,
    /// Log-normal sigma.
    pub sigma: Option<Spanned<f64>>,
}

/// `resync = { every = "30s", times = 3 }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResync {
    /// Period of the repeat.
    pub every: Spanned<String>,
    /// How many repeats.
    pub times: Spanned<i64>,
    /// Contacts the address book gains before each re-sync (default 0: an unchanged book).
    pub added: Option<Spanned<i64>>,
}
