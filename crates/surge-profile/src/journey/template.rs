//! Template syntax: literal text with `{name}` holes, parsed once at load.
//!
//! A hole is `{` + identifier (`[A-Za-z_][A-Za-z0-9_]*`) + `}`. Any other `{` is literal text (so JSON
//! bodies need no escaping: `{"number":"{phone}"}`); `{{` writes one literal `{`.

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Lit(String),
    /// A variable hole. `in_string` is set in JSON bodies when the hole sits inside a JSON string
    /// (the value is JSON-escaped); otherwise the value is written as a JSON value.
    Var {
        /// Which value.
        var: Var,
        /// Inside a JSON string literal (JSON bodies only).
        in_string: bool,
    },
}

/// A template variable, resolved at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Var {
    /// `{phone}`: E.164 with `+`.
    Phone,
    /// `{phone_digits}`: E.164 without `+`.
    PhoneDigits,
    /// `{region}`: the person's region name.
    Region,
    /// `{user_id}`: the person's index in the population.
    UserId,
    /// `{password}`: 16 lowercase hex chars of sha256("{secret}:pw:{user_id}").
    Password,
    /// `{key}`: standard base64 of sha256("{secret}:key:{user_id}") (a stable public-key stand-in).
    Key,
    /// `{code}`: the verification code for the person's number.
    Code,
    /// `{contacts}`: the discovery batch, encoded (JSON array in JSON bodies, comma list elsewhere).
    Contacts,
    /// `{contact}`: the first contact of the batch, encoded (for one-contact-per-request APIs).
    Contact,
    /// `{batch_len}`: number of contacts in the batch.
    BatchLen,
    /// `{prev_contacts}` (incremental discovery only): the contacts looked up before, sent back with
    /// the token of that lookup (an empty list on a first upload or without a token).
    PrevContacts,
    /// `{discovery_token}` (incremental discovery only): the token of the person's last lookup, as the
    /// answer gave it (empty before the first one, or when the answer had none).
    DiscoveryToken,
    /// `{<name>}`: a value extracted by an earlier step or round; the slot index.
    Value(u16),
    /// `{to}` (`[journey.connect] messages.frame` only): the E.164 of a connected contact.
    To,
    /// `{to_user}` (`messages` only): the contact's index in the population (as `{user_id}` is the
    /// person's).
    ToUser,
    /// `{room}` (a long poll's `messages.path` and `frame` only): the id of the conversation with the
    /// contact, from `messages.room`'s answer.
    Room,
    /// `{msg_id}` (`messages.frame` only): the message's id, unique in the run.
    MsgId,
    /// `{sent_at}` (`messages.frame` only): µs since the run's common start, a number.
    SentAt,
}

/// Names of the built-in variables, for error messages and lookup.
pub const BUILTIN_VARS: &[(&str, Var)] = &[
    ("phone", Var::Phone),
    ("phone_digits", Var::PhoneDigits),
    ("region", Var::Region),
    ("user_id", Var::UserId),
    ("password", Var::Password),
    ("key", Var::Key),
    ("code", Var::Code),
    ("contacts", Var::Contacts),
    ("contact", Var::Contact),
    ("batch_len", Var::BatchLen),
    ("prev_contacts", Var::PrevContacts),
    ("discovery_token", Var::DiscoveryToken),
];

/// The built-in variable called `name`, if any.
pub fn builtin_var(name: &str) -> Option<Var> {
    BUILTIN_VARS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
}

/// A piece before names are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawPart {
    Lit(String),
    /// Name and byte offset of its `{` in the template string.
    Name(String, usize),
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Splits `s` into literal text and `{name}` holes.
pub(crate) fn split(s: &str) -> Vec<RawPart> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    let mut lit_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'{' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'{') {
            lit.push_str(&s[lit_start..=i]);
            i += 2;
            lit_start = i;
            continue;
        }
        let name_len = match bytes.get(i + 1) {
            Some(&b) if is_ident_start(b) => {
                bytes[i + 1..].iter().take_while(|&&b| is_ident(b)).count()
            }
            _ => 0,
        };
        if name_len > 0 && bytes.get(i + 1 + name_len) == Some(&b'}') {
            lit.push_str(&s[lit_start..i]);
            if !lit.is_empty() {
                parts.push(RawPart::Lit(std::mem::take(&mut lit)));
            }
            parts.push(RawPart::Name(s[i + 1..i + 1 + name_len].to_string(), i));
            i += name_len + 2;
            lit_start = i;
        } else {
            i += 1;
        }
    }
    lit.push_str(&s[lit_start..]);
    if !lit.is_empty() {
        parts.push(RawPart::Lit(lit));
    }
    parts
}

/// Marks, in a JSON body template, which holes sit inside a JSON string literal.
pub(crate) fn mark_json_strings(parts: &mut [Part]) {
    let mut in_string = false;
    let mut escaped = false;
    for part in parts {
        match part {
            Part::Lit(text) => {
                for b in text.bytes() {
                    if escaped {
                        escaped = false;
                    } else if in_string && b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = !in_string;
                    }
                }
            }
            Part::Var { in_string: s, .. } => {
                *s = in_string;
                escaped = false;
            }
        }
    }
}

/// The JSON text of a body template with each hole replaced by a placeholder of its kind, for
/// validating the body's JSON syntax at load.
pub(crate) fn json_placeholder(parts: &[Part]) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Lit(text) => out.push_str(text),
            Part::Var {
                in_string: true, ..
            } => out.push('x'),
            Part::Var {
                var,
                in_string: false,
            } => out.push_str(match var {
                Var::UserId | Var::BatchLen | Var::SentAt | Var::ToUser => "0",
                Var::Contacts | Var::PrevContacts => "[]",
                _ => "\"\"",
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_holes_and_keeps_json_braces() {
        let parts = split(r#"{"number":"{phone}","n":{batch_len}}"#);
        assert_eq!(
            parts,
            vec![
                RawPart::Lit(r#"{"number":""#.into()),
                RawPart::Name("phone".into(), 11),
                RawPart::Lit(r#"","n":"#.into()),
                RawPart::Name("batch_len".into(), 24),
                RawPart::Lit("}".into()),
            ]
        );
    }

    #[test]
    fn double_brace_is_a_literal_brace() {
        assert_eq!(split("a{{phone}b"), vec![RawPart::Lit("a{phone}b".into())]);
        assert_eq!(split("{}{ x}{9}"), vec![RawPart::Lit("{}{ x}{9}".into())]);
    }

    #[test]
    fn json_string_state_tracks_escapes() {
        let mut parts = vec![
            Part::Lit(r#"{"a":"q\"\\"#.into()),
            Part::Var {
                var: Var::Phone,
                in_string: false,
            },
            Part::Lit(r#"","b":"#.into()),
            Part::Var {
                var: Var::Contacts,
                in_string: true,
            },
            Part::Lit("}".into()),
        ];
        mark_json_strings(&mut parts);
        assert_eq!(
            parts[1],
            Part::Var {
                var: Var::Phone,
                in_string: true
            }
        );
        assert_eq!(
            parts[3],
            Part::Var {
                var: Var::Contacts,
                in_string: false
            }
        );
        assert_eq!(json_placeholder(&parts), r#"{"a":"q\"\\x","b":[]}"#);
    }
}
