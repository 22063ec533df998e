//! Validation of templates: literal text, variable scoping (no value before the step that extracts
//! it) and JSON bodies.

use toml::Spanned;

use super::connect::MESSAGE_VARS;
use super::template::{self, Part, RawPart, Var};
use super::validate::{Ck, Pos, Scope};
use crate::error::ProfileError;

/// Longest accepted template, in bytes.
const MAX_TEMPLATE: usize = 64 * 1024;
/// What a template is used for: decides which literal bytes are legal and how holes render.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Path,
    Header,
    Json,
    Form,
}

pub(super) fn templ(
    ck: &Ck,
    s: &Spanned<String>,
    field: &str,
    kind: Kind,
    at: &Pos,
    scope: &Scope,
) -> Result<Vec<Part>, ProfileError> {
    let text = s.get_ref();
    if text.len() > MAX_TEMPLATE {
        return Err(ck.err(
            s.span(),
            field,
            text,
            format!("templates are at most {MAX_TEMPLATE} bytes"),
        ));
    }
    let mut parts = Vec::new();
    for raw in template::split(text) {
        match raw {
            RawPart::Lit(l) => {
                check_literal(ck, s, field, kind, &l, parts.is_empty())?;
                parts.push(Part::Lit(l));
            }
            RawPart::Name(name, _) => {
                let var = resolve(ck, s, field, &name, at, scope)?;
                if kind == Kind::Path && parts.is_empty() {
                    return Err(ck.err(s.span(), field, text, "a path starts with `/`"));
                }
                parts.push(Part::Var {
                    var,
                    in_string: false,
                });
            }
        }
    }
    if kind == Kind::Path && parts.is_empty() {
        return Err(ck.err(s.span(), field, text, "a path starts with `/`"));
    }
    if kind == Kind::Json {
        check_json(ck, s, field, &mut parts)?;
    }
    Ok(parts)
}

fn check_literal(
    ck: &Ck,
    s: &Spanned<String>,
    field: &str,
    kind: Kind,
    lit: &str,
    first: bool,
) -> Result<(), ProfileError> {
    let bad = match kind {
        Kind::Path => {
            if first && !lit.starts_with('/') {
                return Err(ck.err(s.span(), field, s.get_ref(), "a path starts with `/`"));
            }
            lit.bytes().position(|b| !b.is_ascii_graphic() || b == b'#')
        }
        Kind::Header => lit
            .bytes()
            .position(|b| (b < 0x20 && b != b'\t') || b == 0x7f),
        Kind::Form => lit.bytes().position(|b| !b.is_ascii_graphic()),
        Kind::Json => None,
    };
    match bad {
        Some(i) => {
            let c = lit[i..].chars().next().unwrap_or(' ');
            let what = match kind {
                Kind::Path => "paths take visible ASCII without `#` (write %XX escapes)",
                Kind::Header => "invalid header value (control characters are not allowed)",
                _ => "forms take visible ASCII (write %XX escapes)",
            };
            Err(ck.err(s.span(), field, s.get_ref(), format!("{what}; found {c:?}")))
        }
        None => Ok(()),
    }
}

fn resolve(
    ck: &Ck,
    s: &Spanned<String>,
    field: &str,
    name: &str,
    at: &Pos,
    scope: &Scope,
) -> Result<Var, ProfileError> {
    let span = ck.hole_span(&s.span(), name);
    let hole = format!("{{{name}}}");
    if let Some((_, v)) = MESSAGE_VARS.iter().find(|(n, _)| *n == name) {
        if at.message_vars {
            return Ok(*v);
        }
        let rule = "only `[journey.connect] messages` knows `{to}`, `{to_user}`, `{msg_id}`, `{sent_at}` and `{room}`";
        return Err(ck.err(span, field, &hole, rule));
    }
    if let Some(v) = template::builtin_var(name) {
        if matches!(v, Var::Contacts | Var::Contact | Var::BatchLen) && at.discovery.is_none() {
            return Err(ck.err(
                span,
                field,
                &hole,
                "only a step with `discovery` has a contact batch",
            ));
        }
        let incremental = at.discovery.is_some_and(|d| d.incremental);
        if matches!(v, Var::PrevContacts | Var::DiscoveryToken) && !incremental {
            return Err(ck.err(
                span,
                field,
                &hole,
                "only a step with `discovery = { incremental = true, .. }` sends numbers seen before and a token",
            ));
        }
        return Ok(v);
    }
    match scope.get(name) {
        Some(&((step, round), slot)) if (step, round) < (at.step, at.round) => Ok(Var::Value(slot)),
        Some(&((step, round), _)) => {
            let when = if step == at.step && round == at.round {
                "by this same request".to_string()
            } else if step == at.step {
                format!("only by a later round (rounds[{round}])")
            } else {
                format!("only by a later step (steps[{step}])")
            };
            Err(ck.err(
                span,
                field,
                &hole,
                format!("value `{name}` is extracted {when}"),
            ))
        }
        None => {
            let mut known: Vec<&str> = template::BUILTIN_VARS.iter().map(|(n, _)| *n).collect();
            let mut vals: Vec<&str> = scope
                .iter()
                .filter(|(_, (p, _))| *p < (at.step, at.round))
                .map(|(n, _)| n.as_str())
                .collect();
            vals.sort_unstable();
            known.extend(vals);
            Err(ck.err(
                span,
                field,
                &hole,
                format!(
                    "unknown template variable `{name}` (known here: {})",
                    known.join(", ")
                ),
            ))
        }
    }
}

fn check_json(
    ck: &Ck,
    s: &Spanned<String>,
    field: &str,
    parts: &mut [Part],
) -> Result<(), ProfileError> {
    template::mark_json_strings(parts);
    if parts.iter().any(|p| {
        matches!(
            p,
            Part::Var {
                var: Var::Contacts,
                in_string: true
            }
        )
    }) {
        let span = ck.hole_span(&s.span(), "contacts");
        return Err(ck.err(
            span,
            field,
            "{contacts}",
            "`{contacts}` is a JSON array: put it outside quotes",
        ));
    }
    let text = template::json_placeholder(parts);
    match serde_json::from_str::<serde::de::IgnoredAny>(&text) {
        Ok(_) => Ok(()),
        Err(e) => {
            let rule = format!("malformed JSON body ({e}, holes replaced by placeholders)");
            Err(ck.err(s.span(), field, s.get_ref(), rule))
        }
    }
}
