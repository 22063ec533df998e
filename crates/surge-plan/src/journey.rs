//! Compiled journeys: what the engine calls for every request.
//!
//! [`compile`] turns a validated [`JourneySpec`] into a [`Journey`] whose steps hold compiled
//! templates. Per request the engine calls [`Step::build`] (render into a reused [`RequestBuf`]) and
//! [`Step::accept`] (status check and extractions into the person's value slots); discovery steps
//! also use [`Discovery::found`] to read which contacts the answer says are registered.
//!
//! ```ignore
//! let mut req = RequestBuf::default();
//! let mut values = vec![None; journey.value_slots];
//! for step in &journey.steps {
//!     for round in 0..step.rounds() {
//!         let ctx = Ctx { plan_secret, person: &person, region_name, code: &code, values: &values, batch: &[] };
//!         step.build(round, &ctx, &mut req);
//!         let (status, headers, body) = send(&req);
//!         step.accept(round, status, &|h| headers.get(h), &body, &mut values)?;
//!     }
//! }
//! ```

pub mod connect;
mod discovery;
pub mod dwell;
mod think;

use std::time::Duration;

use surge_profile::journey::{BodySpec, ExtractSource, JourneySpec, RoundSpec, StepSpec};

use crate::template::{Batch, Kind, Template};
use crate::{Contact, Person, PlanError};

pub use crate::template::EncodedBatch;
pub use discovery::Discovery;
pub use surge_profile::journey::{ContactEncoding, Method};
pub use think::{Resync, ThinkTime};

/// A compiled journey.
#[derive(Debug, Clone)]
pub struct Journey {
    /// Journey name.
    pub name: String,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Number of extracted-value slots a person needs (`values` in [`Ctx`]).
    pub value_slots: usize,
    /// Think time between steps.
    pub think: Option<ThinkTime>,
    /// Periodic repeat of the discovery step(s).
    pub resync: Option<Resync>,
    /// The connected phase after the steps.
    pub connect: Option<connect::Connect>,
    /// Whether any step renders `{code}`: the verification code (a SHA-256 per person) is derived
    /// only for journeys that send it.
    pub uses_code: bool,
}

/// One compiled step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Step name (unique in the journey).
    pub name: String,
    /// Metric step: index into `Plan::steps`.
    pub metric: u16,
    /// Per-step timeout (None: the client policy's).
    pub timeout: Option<Duration>,
    /// Send over HTTP/2.
    pub http2: bool,
    /// Discovery settings, on contact-discovery steps.
    pub discovery: Option<Discovery>,
    /// The wait for the code to land, on code-request steps that have one.
    pub code_wait: Option<CodeWait>,
    /// Base URL override: a URL, or a region name whose `RegionPlan::base_url` applies.
    pub base: Option<String>,
    rounds: Vec<Round>,
}

#[derive(Debug, Clone)]
struct Round {
    method: Method,
    path: Template,
    headers: Vec<(String, Template)>,
    content_type: Option<&'static [u8]>,
    body: Template,
    expect: Box<[u16]>,
    extract: Box<[Extract]>,
}

#[derive(Debug, Clone)]
struct Extract {
    name: String,
    slot: u16,
    source: ExtractSource,
}

/// A request being built; reused from one request to the next ([`Step::build`] overwrites it).
#[derive(Debug, Clone, Default)]
pub struct RequestBuf {
    /// Method.
    pub method: Method,
    /// Path and query, e.g. `/v1/accounts`.
    pub path: Vec<u8>,
    /// Headers (lowercase names).
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body (empty: none).
    pub body: Vec<u8>,
    /// The step's base override (see [`Step::base`]).
    pub base_url: Option<String>,
}

/// What a request is rendered from.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The profile's secret (derives `{password}` and `{key}`).
    pub plan_secret: &'a str,
    /// The simulated person.
    pub person: &'a Person,
    /// The person's region name (`{region}`).
    pub region_name: &'a str,
    /// The verification code (`{code}`).
    pub code: &'a str,
    /// Extracted values, by slot.
    pub values: &'a [Option<String>],
    /// The discovery batch (discovery steps).
    pub batch: &'a [Contact],
}

/// Why a step's answer is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepFailure {
    /// The status is not one the step expects.
    #[error("unexpected status {0}")]
    UnexpectedStatus(u16),
    /// A value the journey needs could not be taken from the answer.
    #[error("extraction failed: {what}")]
    Extraction {
        /// What was missing.
        what: String,
    },
    /// The answer is malformed or lists something that was not asked.
    #[error("wrong answer: {what}")]
    WrongAnswer {
        /// What was wrong.
        what: String,
    },
}

/// Compiles `spec`; pushes each step's metric name into `steps_out` (deduplicated, journey order).
/// Template values derived from the secret are computed per request from [`Ctx::plan_secret`].
pub fn compile(
    spec: &JourneySpec,
    _secret: &str,
    steps_out: &mut Vec<String>,
) -> Result<Journey, PlanError> {
    let mut metric_of = |name: &str| {
        let i = match steps_out.iter().position(|m| m == name) {
            Some(i) => i,
            None => {
                steps_out.push(name.to_owned());
                steps_out.len() - 1
            }
        };
        u16::try_from(i).unwrap_or(u16::MAX)
    };
    let steps: Vec<Step> = spec
        .steps
        .iter()
        .map(|s| {
            let metric = metric_of(&s.metric);
            let mut step = compile_step(s, metric);
            step.code_wait = s.code_wait.as_ref().map(|w| CodeWait {
                delay: w.delay.clone(),
                patience: ThinkTime::new(w.patience),
                resends: w.resends,
                metric: metric_of(&w.metric),
            });
            step
        })
        .collect();
    let connect = spec
        .connect
        .as_ref()
        .map(|c| connect::Connect::compile(c, steps_out));
    let uses_code = steps.iter().any(Step::uses_code);
    Ok(Journey {
        name: spec.name.clone(),
        uses_code,
        steps,
        value_slots: spec.values.len(),
        think: spec.think.map(ThinkTime::new),
        resync: spec.resync.map(|r| Resync {
            every: r.every,
            times: r.times,
            added: r.added,
        }),
        connect,
    })
}

fn compile_step(s: &StepSpec, metric: u16) -> Step {
    Step {
        name: s.name.clone(),
        metric,
        timeout: s.timeout,
        http2: s.http2,
        discovery: s.discovery.as_ref().map(Discovery::new),
        code_wait: None,
        base: s.base.clone(),
        rounds: s.rounds.iter().map(compile_round).collect(),
    }
}

fn compile_round(r: &RoundSpec) -> Round {
    let (body, ct): (Template, Option<&'static [u8]>) = match &r.body {
        BodySpec::Empty => (Template::default(), None),
        BodySpec::Json(p) => (Template::compile(p, Kind::Json), Some(b"application/json")),
        BodySpec::Form(p) => (
            Template::compile(p, Kind::Form),
            Some(b"application/x-www-form-urlencoded"),
        ),
    };
    let has_ct = r.headers.iter().any(|(n, _)| n == "content-type");
    Round {
        method: r.method,
        path: Template::compile(&r.path, Kind::Path),
        headers: r
            .headers
            .iter()
            .map(|(n, p)| (n.clone(), Template::compile(p, Kind::Header)))
            .collect(),
        content_type: if has_ct { None } else { ct },
        body,
        expect: r.expect.clone().into_boxed_slice(),
        extract: r
            .extract
            .iter()
            .map(|e| Extract {
                name: e.name.clone(),
                slot: e.slot,
                source: e.source.clone(),
            })
            .collect(),
    }
}

impl Step {
    /// Number of rounds: 1 normally, 2 (or more) for interactive-auth steps.
    pub fn rounds(&self) -> usize {
        self.rounds.len()
    }

    fn round(&self, round: usize) -> Option<&Round> {
        self.rounds.get(round).or(self.rounds.last())
    }

    /// Whether any round renders `{code}` (in its path, a header or its body).
    pub fn uses_code(&self) -> bool {
        self.rounds.iter().any(|r| {
            r.path.uses_code() || r.body.uses_code() || r.headers.iter().any(|(_, t)| t.uses_code())
        })
    }

    /// Renders round `round` into `out` (buffers cleared and reused). Discovery contacts are encoded
    /// from `ctx.batch` while rendering; see [`Step::build_encoded`] to encode them once beforehand.
    pub fn build(&self, round: usize, ctx: &Ctx, out: &mut RequestBuf) {
        let enc = self
            .discovery
            .as_ref()
            .map(|d| d.encoding)
            .unwrap_or(ContactEncoding::E164);
        self.build_with(round, ctx, Batch::Raw(enc), out);
    }

    /// Like [`Step::build`], with the batch already encoded by [`Discovery::encode`] (`ctx.batch` is
    /// then not read).
    pub fn build_encoded(
        &self,
        round: usize,
        ctx: &Ctx,
        batch: &EncodedBatch,
        out: &mut RequestBuf,
    ) {
        self.build_with(round, ctx, Batch::Encoded(batch), out);
    }

    fn build_with(&self, round: usize, ctx: &Ctx, batch: Batch, out: &mut RequestBuf) {
        out.path.clear();
        out.body.clear();
        let Some(r) = self.round(round) else {
            out.headers.clear();
            return;
        };
        out.method = r.method;
        r.path.render(ctx, batch, &mut out.path);
        let n = r.headers.len() + usize::from(r.content_type.is_some());
        out.headers.truncate(n);
        out.headers.resize_with(n, Default::default);
        for ((name, t), (on, ov)) in r.headers.iter().zip(out.headers.iter_mut()) {
            if on != name {
                on.clear();
                on.push_str(name);
            }
            ov.clear();
            t.render(ctx, batch, ov);
        }
        if let (Some(ct), Some((on, ov))) = (r.content_type, out.headers.last_mut()) {
            if on != "content-type" {
                on.clear();
                on.push_str("content-type");
            }
            ov.clear();
            ov.extend_from_slice(ct);
        }
        r.body.render(ctx, batch, &mut out.body);
        if out.base_url != self.base {
            out.base_url.clone_from(&self.base);
        }
    }

    /// Checks the answer to round `round`: the status, then the extractions into `values`.
    /// `header` looks a response header up by lowercase name.
    pub fn accept(
        &self,
        round: usize,
        status: u16,
        header: &dyn Fn(&str) -> Option<Vec<u8>>,
        body: &[u8],
        values: &mut [Option<String>],
    ) -> Result<(), StepFailure> {
        let Some(r) = self.round(round) else {
            return Ok(());
        };
        let ok = if r.expect.is_empty() {
            (200..300).contains(&status)
        } else {
            r.expect.contains(&status)
        };
        if !ok {
            return Err(StepFailure::UnexpectedStatus(status));
        }
        let mut json: Option<serde_json::Value> = None;
        for e in r.extract.iter() {
            let fail = |why: &str| StepFailure::Extraction {
                what: format!("`{}`: {why}", e.name),
            };
            let slot = values
                .get_mut(usize::from(e.slot))
                .ok_or_else(|| fail("no value slot"))?;
            match &e.source {
                ExtractSource::Header(h) => {
                    let v = header(h).ok_or_else(|| fail(&format!("no header {h}")))?;
                    let v = String::from_utf8(v)
                        .map_err(|_| fail(&format!("header {h} is not UTF-8")))?;
                    *slot = Some(v);
                }
                ExtractSource::Pointer(p) => {
                    if json.is_none() {
                        let v =
                            serde_json::from_slice(body).map_err(|_| fail("answer is not JSON"))?;
                        json = Some(v);
                    }
                    let v = json
                        .as_ref()
                        .and_then(|j| j.pointer(p))
                        .ok_or_else(|| fail(&format!("nothing at {p}")))?;
                    set_value(slot, v).ok_or_else(|| fail(&format!("null at {p}")))?;
                }
            }
        }
        Ok(())
    }
}

/// A code-request step's wait for the code to land (see `surge_profile::journey::CodeWaitSpec`).
#[derive(Debug, Clone)]
pub struct CodeWait {
    delay: ExtractSource,
    /// How long a person waits for a late code before asking again.
    pub patience: ThinkTime,
    /// Requests after the first before giving up.
    pub resends: u32,
    /// Metric step of the delay (index into `Plan::steps`).
    pub metric: u16,
}

/// When a requested code lands, as the answer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeDelay {
    /// The answer does not say (a backend without an SMS pipeline): the code is usable at once and
    /// nothing is measured.
    Unknown,
    /// The code lands this long after the answer.
    After(Duration),
    /// The code never lands (the message expired).
    Never,
}

impl CodeWait {
    /// Reads when the code lands from an answer: milliseconds, or any other value for never.
    pub fn delay(&self, header: &dyn Fn(&str) -> Option<Vec<u8>>, body: &[u8]) -> CodeDelay {
        let text = match &self.delay {
            ExtractSource::Header(h) => header(h).map(|v| String::from_utf8_lossy(&v).into_owned()),
            ExtractSource::Pointer(p) => serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|j| j.pointer(p).cloned())
                .map(|v| match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                }),
        };
        let Some(text) = text else {
            return CodeDelay::Unknown;
        };
        match text.trim().parse::<f64>() {
            Ok(ms) if ms.is_finite() && ms >= 0.0 => {
                CodeDelay::After(Duration::from_secs_f64(ms.min(1e12) / 1000.0))
            }
            _ => CodeDelay::Never,
        }
    }
}

/// Stores a JSON value's text in `slot` (strings unquoted), reusing its allocation.
fn set_value(slot: &mut Option<String>, v: &serde_json::Value) -> Option<()> {
    use std::fmt::Write;
    let s = slot.get_or_insert_with(String::new);
    s.clear();
    match v {
        serde_json::Value::Null => {
            *slot = None;
            return None;
        }
        serde_json::Value::String(t) => s.push_str(t),
        other => {
            let _ = write!(s, "{other}");
        }
    }
    Some(())
}
