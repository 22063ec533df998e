//! Validation of a raw journey table into a [`JourneySpec`].

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use toml::Spanned;

use super::connect_raw::RawConnectField;
use super::fields::{
    check_header_name, code_wait_spec, discovery_spec, duration, expect_list, extract_source,
    resync_spec, think_spec,
};
use super::holes::{Kind, templ};
use super::template::{self, Part, Var};
use super::{
    BodySpec, DiscoverySpec, ExtractSpec, JourneySpec, Method, RawDiscovery, RawExpect,
    RawJourneyTable, RawRound, RawStep, RoundSpec, StepSpec, ValidateCtx,
};
use crate::error::ProfileError;

/// Most steps in a journey, rounds in a step.
const MAX_STEPS: usize = 64;
const MAX_ROUNDS: usize = 8;

/// Builds errors located in the profile text.
pub(super) struct Ck<'a> {
    pub(super) ctx: &'a ValidateCtx<'a>,
}

impl Ck<'_> {
    pub(super) fn err(
        &self,
        span: Range<usize>,
        field: &str,
        value: &str,
        rule: impl Into<String>,
    ) -> ProfileError {
        let shown = if value.len() > 80 {
            let mut end = 80;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            format!("{:?}...", &value[..end])
        } else {
            format!("{value:?}")
        };
        ProfileError::at(self.ctx.file, self.ctx.text, span, field, shown, rule)
    }

    /// The span of `{name}` inside the string at `span`, or `span` itself.
    pub(super) fn hole_span(&self, span: &Range<usize>, name: &str) -> Range<usize> {
        let hole = format!("{{{name}}}");
        self.ctx
            .text
            .get(span.clone())
            .and_then(|t| t.find(&hole))
            .map(|i| span.start + i..span.start + i + hole.len())
            .unwrap_or_else(|| span.clone())
    }
}

/// A round with the step's defaults filled in.
struct RoundView<'a> {
    field: String,
    span: Range<usize>,
    method: Option<&'a Spanned<String>>,
    path: Option<&'a Spanned<String>>,
    headers: Vec<(String, &'a Spanned<String>, String)>,
    body: Option<&'a Spanned<String>>,
    form: Option<&'a Spanned<String>>,
    expect: Option<&'a Spanned<RawExpect>>,
    extract: Option<&'a BTreeMap<String, Spanned<String>>>,
}

/// Where values are extracted: name -> (first (step, round) that extracts it, slot).
pub(super) type Scope = HashMap<String, ((usize, usize), u16)>;

/// Validates a journey table (declarative steps, or a builtin with options).
pub(super) fn table(
    t: &RawJourneyTable,
    ctx: &ValidateCtx,
    span: Range<usize>,
) -> Result<JourneySpec, ProfileError> {
    let ck = Ck { ctx };
    let mut spec = match (&t.builtin, &t.steps) {
        (Some(b), None) => builtin_table(&ck, t, b, span)?,
        (Some(b), Some(_)) => {
            let rule = "use either `builtin` or `steps`, not both";
            return Err(ck.err(b.span(), "journey.builtin", b.get_ref(), rule));
        }
        (None, None) => {
            let rule = "missing: a journey needs `steps` or `builtin`";
            return Err(ck.err(span, "journey.steps", "", rule));
        }
        (None, Some(steps)) => {
            if t.keys.is_some() {
                let rule = "`keys` only applies to `builtin = \"reference\"`";
                return Err(ck.err(span, "journey.keys", "", rule));
            }
            if t.wait_for_code.is_some() {
                let rule = "`wait_for_code` only applies to `builtin = \"reference\"`: write `code_wait` on the code request step";
                return Err(ck.err(span, "journey.wait_for_code", "", rule));
            }
            if let Some(c) = &t.connect
                && matches!(c.get_ref(), RawConnectField::On(true))
            {
                let rule = "`connect = true` takes a built-in's connected phase: spell out [journey.connect]";
                return Err(ck.err(c.span(), "journey.connect", "true", rule));
            }
            steps_spec(&ck, t, steps, span)?
        }
    };
    if let Some(name) = &t.name {
        spec.name = checked_name(&ck, name, "journey.name")?;
    }
    if let Some(think) = &t.think {
        spec.think = Some(think_spec(&ck, think)?);
    }
    if let Some(resync) = &t.resync {
        if !spec.steps.iter().any(|s| s.discovery.is_some()) {
            let rule = "resync needs a step with `discovery`";
            return Err(ck.err(resync.span(), "journey.resync", "", rule));
        }
        spec.resync = Some(resync_spec(&ck, resync)?);
    }
    match t.connect.as_ref().map(|c| (c, c.get_ref())) {
        None | Some((_, RawConnectField::On(true))) => {}
        Some((_, RawConnectField::On(false))) => spec.connect = None,
        Some((c, RawConnectField::Table(raw))) => {
            let raw = Spanned::new(c.span(), (**raw).clone());
            spec.connect = Some(super::connect::spec(&ck, &raw, &spec.values)?);
        }
    }
    Ok(spec)
}

/// `[journey] builtin = "reference"` (with `keys`, `wait_for_code`, `name`, `think`, `resync` options).
fn builtin_table(
    ck: &Ck,
    t: &RawJourneyTable,
    b: &Spanned<String>,
    span: Range<usize>,
) -> Result<JourneySpec, ProfileError> {
    if !t.headers.is_empty() {
        return Err(ck.err(span, "journey.headers", "", "not allowed with `builtin`"));
    }
    let connect = t
        .connect
        .as_ref()
        .is_some_and(|c| matches!(c.get_ref(), RawConnectField::On(true)));
    let (keys, wait) = (t.keys.unwrap_or(false), t.wait_for_code.unwrap_or(false));
    super::builtin::spec(b.get_ref(), keys, connect, wait).ok_or_else(|| {
        let known = super::builtin::NAMES.join(", ");
        let rule = format!("unknown built-in journey (known: {known})");
        ck.err(b.span(), "journey.builtin", b.get_ref(), rule)
    })
}

fn steps_spec(
    ck: &Ck,
    t: &RawJourneyTable,
    steps: &[Spanned<RawStep>],
    span: Range<usize>,
) -> Result<JourneySpec, ProfileError> {
    if steps.is_empty() || steps.len() > MAX_STEPS {
        let rule = format!(
            "a journey needs 1 to {MAX_STEPS} steps (got {})",
            steps.len()
        );
        return Err(ck.err(span, "journey.steps", "", rule));
    }
    let mut names: Vec<String> = Vec::with_capacity(steps.len());
    let mut views = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let field = format!("journey.steps[{i}]");
        let name = checked_name(ck, &step.get_ref().name, &format!("{field}.name"))?;
        if names.contains(&name) {
            let n = &step.get_ref().name;
            return Err(ck.err(
                n.span(),
                &format!("{field}.name"),
                &name,
                "duplicate step name",
            ));
        }
        let field = format!("{field}({name})");
        views.push(round_views(ck, t, step, &field)?);
        names.push(name);
    }
    let (scope, values) = collect_values(ck, &views)?;
    let mut out = Vec::with_capacity(steps.len());
    for (i, (step, rounds)) in steps.iter().zip(&views).enumerate() {
        let field = format!("journey.steps[{i}]({})", names[i]);
        out.push(step_spec(
            ck,
            step.get_ref(),
            &names[i],
            &field,
            i,
            rounds,
            &scope,
        )?);
    }
    let name = String::from("custom");
    Ok(JourneySpec {
        name,
        steps: out,
        values,
        think: None,
        resync: None,
        connect: None,
    })
}

fn checked_name(ck: &Ck, s: &Spanned<String>, field: &str) -> Result<String, ProfileError> {
    let v = s.get_ref();
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if !ok {
        return Err(ck.err(
            s.span(),
            field,
            v,
            "names are 1-64 chars of a-z, 0-9, _, - or .",
        ));
    }
    Ok(v.clone())
}

/// Headers of a round: the journey's, then the step's, then the round's (later names win).
fn merged_headers<'a>(
    t: &'a RawJourneyTable,
    s: &'a RawStep,
    round: Option<&'a RawRound>,
    field: &str,
    own_field: &str,
) -> Vec<(String, &'a Spanned<String>, String)> {
    let mut headers: Vec<(String, &'a Spanned<String>, String)> = Vec::new();
    for (k, v) in &t.headers {
        let f = format!("journey.headers.{k} (in {field})");
        headers.push((k.to_ascii_lowercase(), v, f));
    }
    let layers = [
        (s.headers.as_ref(), field),
        (round.and_then(|r| r.headers.as_ref()), own_field),
    ];
    for (map, f) in layers {
        for (k, v) in map.into_iter().flatten() {
            let lk = k.to_ascii_lowercase();
            headers.retain(|(n, _, _)| *n != lk);
            headers.push((lk, v, format!("{f}.headers.{k}")));
        }
    }
    headers
}

/// One round (`r`: the round and its index, or None for a single-round step) with defaults.
fn view<'a>(
    t: &'a RawJourneyTable,
    step: &'a Spanned<RawStep>,
    field: &str,
    r: Option<(&'a Spanned<RawRound>, usize)>,
) -> RoundView<'a> {
    let s = step.get_ref();
    let rr = r.map(|(r, _)| r.get_ref());
    let own_field = match r {
        Some((_, j)) => format!("{field}.rounds[{j}]"),
        None => field.to_string(),
    };
    let pick = |own: Option<&'a Spanned<String>>, dflt: Option<&'a Spanned<String>>| own.or(dflt);
    RoundView {
        headers: merged_headers(t, s, rr, field, &own_field),
        field: own_field,
        span: r.map(|(r, _)| r.span()).unwrap_or_else(|| step.span()),
        method: pick(rr.and_then(|r| r.method.as_ref()), s.method.as_ref()),
        path: pick(rr.and_then(|r| r.path.as_ref()), s.path.as_ref()),
        body: pick(rr.and_then(|r| r.body.as_ref()), s.body.as_ref()),
        form: pick(rr.and_then(|r| r.form.as_ref()), s.form.as_ref()),
        expect: rr.map_or(s.expect.as_ref(), |r| r.expect.as_ref()),
        extract: rr.map_or(s.extract.as_ref(), |r| r.extract.as_ref()),
    }
}

/// The rounds of a step, each with the step's (and the journey's) defaults filled in.
fn round_views<'a>(
    ck: &Ck,
    t: &'a RawJourneyTable,
    step: &'a Spanned<RawStep>,
    field: &str,
) -> Result<Vec<RoundView<'a>>, ProfileError> {
    let s = step.get_ref();
    let Some(rounds) = &s.rounds else {
        return Ok(vec![view(t, step, field, None)]);
    };
    if rounds.is_empty() || rounds.len() > MAX_ROUNDS {
        let rule = format!(
            "`rounds` needs 1 to {MAX_ROUNDS} entries (got {})",
            rounds.len()
        );
        return Err(ck.err(step.span(), &format!("{field}.rounds"), "", rule));
    }
    if let Some(e) = &s.expect {
        return Err(ck.err(
            e.span(),
            &format!("{field}.expect"),
            "",
            "with `rounds`, set `expect` in each round",
        ));
    }
    if let Some(e) = s.extract.as_ref().and_then(|m| m.values().next()) {
        return Err(ck.err(
            e.span(),
            &format!("{field}.extract"),
            "",
            "with `rounds`, set `extract` in each round",
        ));
    }
    Ok(rounds
        .iter()
        .enumerate()
        .map(|(j, r)| view(t, step, field, Some((r, j))))
        .collect())
}

/// Assigns a slot to every extracted value name, remembering where it is first extracted.
fn collect_values(ck: &Ck, views: &[Vec<RoundView>]) -> Result<(Scope, Vec<String>), ProfileError> {
    let mut scope = Scope::new();
    let mut names = Vec::new();
    for (i, rounds) in views.iter().enumerate() {
        for (r, view) in rounds.iter().enumerate() {
            for (name, src) in view.extract.into_iter().flatten() {
                let field = format!("{}.extract.{name}", view.field);
                let ident = name
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !ident || name.len() > 64 {
                    return Err(ck.err(
                        src.span(),
                        &field,
                        name,
                        "value names are identifiers: [A-Za-z_][A-Za-z0-9_]*",
                    ));
                }
                if template::builtin_var(name).is_some() {
                    return Err(ck.err(
                        src.span(),
                        &field,
                        name,
                        "this name is a built-in template variable",
                    ));
                }
                if !scope.contains_key(name.as_str()) {
                    let slot = u16::try_from(names.len()).unwrap_or(u16::MAX);
                    scope.insert(name.clone(), ((i, r), slot));
                    names.push(name.clone());
                }
            }
        }
    }
    Ok((scope, names))
}

#[allow(clippy::too_many_arguments)]
fn step_spec(
    ck: &Ck,
    s: &RawStep,
    name: &str,
    field: &str,
    index: usize,
    views: &[RoundView],
    scope: &Scope,
) -> Result<StepSpec, ProfileError> {
    let metric = match &s.metric {
        Some(m) => checked_name(ck, m, &format!("{field}.metric"))?,
        None => name.to_string(),
    };
    let timeout = match &s.timeout {
        Some(t) => Some(duration(ck, t, &format!("{field}.timeout"))?),
        None => None,
    };
    let http2 = match s.http.as_ref().map(|h| (h, h.get_ref().as_str())) {
        None | Some((_, "1.1" | "1")) => false,
        Some((_, "2")) => true,
        Some((h, v)) => {
            return Err(ck.err(
                h.span(),
                &format!("{field}.http"),
                v,
                "expected \"1.1\" or \"2\"",
            ));
        }
    };
    let base = match &s.base {
        Some(b) => Some(base_url(ck, b, &format!("{field}.base"))?),
        None => None,
    };
    let discovery = match &s.discovery {
        Some(d) => Some(discovery_spec(ck, d, &format!("{field}.discovery"))?),
        None => None,
    };
    let mut rounds = Vec::with_capacity(views.len());
    for (r, view) in views.iter().enumerate() {
        let at = Pos {
            step: index,
            round: r,
            discovery: discovery.as_ref(),
            message_vars: false,
        };
        rounds.push(round_spec(ck, view, &at, scope)?);
    }
    if let Some(d) = &s.discovery {
        check_batch_use(ck, d, &rounds, field)?;
    }
    let code_wait = match (&s.code_wait, &discovery) {
        (Some(w), Some(_)) => {
            let rule = "a discovery step requests no code: put `code_wait` on the code request";
            return Err(ck.err(w.span(), &format!("{field}.code_wait"), "", rule));
        }
        (Some(w), None) => {
            let spec = code_wait_spec(ck, w, &format!("{field}.code_wait"))?;
            if let Some(m) = &w.get_ref().metric {
                checked_name(ck, m, &format!("{field}.code_wait.metric"))?;
            }
            Some(spec)
        }
        (None, _) => None,
    };
    Ok(StepSpec {
        code_wait,
        name: name.to_string(),
        metric,
        timeout,
        http2,
        base,
        rounds,
        discovery,
    })
}

/// A discovery step must send its batch; `{contact}` sends one contact, so it needs `batch = 1`.
fn check_batch_use(
    ck: &Ck,
    d: &Spanned<RawDiscovery>,
    rounds: &[RoundSpec],
    field: &str,
) -> Result<(), ProfileError> {
    let uses = |v: Var| {
        rounds.iter().any(|r| {
            let body = match &r.body {
                BodySpec::Json(p) | BodySpec::Form(p) => p.as_slice(),
                BodySpec::Empty => &[],
            };
            let hs = r.headers.iter().flat_map(|(_, p)| p.iter());
            body.iter()
                .chain(r.path.iter())
                .chain(hs)
                .any(|p| matches!(p, Part::Var { var, .. } if *var == v))
        })
    };
    let (batch, span) = match &d.get_ref().batch {
        Some(b) => (*b.get_ref(), b.span()),
        None => (2048, d.span()),
    };
    if uses(Var::Contact) && batch != 1 {
        return Err(ck.err(
            span,
            &format!("{field}.discovery.batch"),
            &batch.to_string(),
            "`{contact}` sends one contact per request: set batch = 1",
        ));
    }
    let incremental = d.get_ref().incremental.unwrap_or(false);
    if incremental && !uses(Var::PrevContacts) {
        return Err(ck.err(
            d.span(),
            &format!("{field}.discovery.incremental"),
            "true",
            "an incremental lookup sends the numbers seen before: use `{prev_contacts}` (and `{discovery_token}`)",
        ));
    }
    if !uses(Var::Contact) && !uses(Var::Contacts) {
        return Err(ck.err(
            d.span(),
            &format!("{field}.discovery"),
            "",
            "a discovery step must send its batch: use `{contacts}` or `{contact}`",
        ));
    }
    Ok(())
}

fn base_url(ck: &Ck, b: &Spanned<String>, field: &str) -> Result<String, ProfileError> {
    let v = b.get_ref();
    let is_url = (v.starts_with("http://") || v.starts_with("https://"))
        && v.len() <= 2048
        && v.bytes().all(|c| c.is_ascii_graphic());
    if is_url || ck.ctx.region_names.iter().any(|r| r == v) {
        Ok(v.clone())
    } else {
        Err(ck.err(
            b.span(),
            field,
            v,
            "expected an http:// or https:// URL or a region name",
        ))
    }
}

/// Where a template sits: which step and round, and the step's discovery setting.
pub(super) struct Pos<'a> {
    pub(super) step: usize,
    pub(super) round: usize,
    pub(super) discovery: Option<&'a DiscoverySpec>,
    /// `{to}`, `{msg_id}` and `{sent_at}` are known (`[journey.connect] messages.frame`).
    pub(super) message_vars: bool,
}

fn body_spec(ck: &Ck, v: &RoundView, at: &Pos, scope: &Scope) -> Result<BodySpec, ProfileError> {
    let f = &v.field;
    Ok(match (v.body, v.form) {
        (Some(b), None) => {
            BodySpec::Json(templ(ck, b, &format!("{f}.body"), Kind::Json, at, scope)?)
        }
        (None, Some(b)) => {
            BodySpec::Form(templ(ck, b, &format!("{f}.form"), Kind::Form, at, scope)?)
        }
        (None, None) => BodySpec::Empty,
        (Some(_), Some(b)) => {
            let rule = "use either `body` or `form`, not both";
            return Err(ck.err(b.span(), &format!("{f}.form"), "", rule));
        }
    })
}

fn round_spec(ck: &Ck, v: &RoundView, at: &Pos, scope: &Scope) -> Result<RoundSpec, ProfileError> {
    let f = &v.field;
    let method = match v.method {
        Some(m) => Method::parse(m.get_ref()).ok_or_else(|| {
            ck.err(
                m.span(),
                &format!("{f}.method"),
                m.get_ref(),
                "expected GET, POST, PUT, PATCH or DELETE",
            )
        })?,
        None => Method::Get,
    };
    let Some(path) = v.path else {
        return Err(ck.err(
            v.span.clone(),
            &format!("{f}.path"),
            "",
            "missing field `path`",
        ));
    };
    let path = templ(ck, path, &format!("{f}.path"), Kind::Path, at, scope)?;
    let mut headers = Vec::with_capacity(v.headers.len());
    for (name, value, hf) in &v.headers {
        check_header_name(ck, name, value, hf)?;
        headers.push((name.clone(), templ(ck, value, hf, Kind::Header, at, scope)?));
    }
    let body = body_spec(ck, v, at, scope)?;
    let expect = expect_list(ck, v.expect, &format!("{f}.expect"))?;
    let mut extract = Vec::new();
    for (name, src) in v.extract.into_iter().flatten() {
        let slot = scope.get(name.as_str()).map(|(_, s)| *s).unwrap_or(0);
        let source = extract_source(ck, src, &format!("{f}.extract.{name}"))?;
        extract.push(ExtractSpec {
            name: name.clone(),
            slot,
            source,
        });
    }
    Ok(RoundSpec {
        method,
        path,
        headers,
        body,
        expect,
        extract,
    })
}
