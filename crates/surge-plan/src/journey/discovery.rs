//! Contact discovery: encoding a batch and reading which contacts the answer lists as registered.

use std::collections::HashSet;

use surge_profile::journey::{ContactEncoding, DiscoverySpec};

use super::StepFailure;
use crate::Contact;
use crate::template::EncodedBatch;

/// A discovery step's settings.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// Contacts per request.
    pub batch_size: usize,
    /// How contacts are encoded in the request.
    pub encoding: ContactEncoding,
    /// Answers are checked against the registrations the tester has seen.
    pub check: bool,
    answer: String,
    answer_field: Option<String>,
    /// Encoding answer entries are compared in (after normalising Matrix user ids to localparts).
    match_encoding: ContactEncoding,
    strip_matrix_server: bool,
    strict: bool,
    /// Signal-style incremental lookups: numbers seen before go back with the last lookup's token.
    pub incremental: bool,
    token: Option<String>,
}

impl Discovery {
    pub(crate) fn new(d: &DiscoverySpec) -> Discovery {
        let (match_encoding, strip) = match d.answer_encoding {
            ContactEncoding::MatrixUserId => (ContactEncoding::MatrixLocalpart, true),
            other => (other, false),
        };
        Discovery {
            batch_size: d.batch,
            encoding: d.encoding,
            check: d.check,
            answer: d.answer.clone(),
            answer_field: d.answer_field.clone(),
            match_encoding,
            strip_matrix_server: strip,
            strict: d.strict,
            incremental: d.incremental,
            token: d.token.clone(),
        }
    }

    /// Encodes an incremental lookup: `lookup[..prev]` were looked up before (they go back with
    /// `token`), the rest are new.
    pub fn encode_lookup(
        &self,
        lookup: &[Contact],
        prev: usize,
        token: Option<&str>,
        out: &mut EncodedBatch,
    ) {
        out.fill_split(self.encoding, lookup, prev, token);
    }

    /// The token of an answer (incremental lookups with a `token` pointer): `None` when the answer
    /// has none (a backend without quotas), so the next lookup uploads everything as new.
    pub fn token_of(&self, body: &[u8]) -> Option<String> {
        let pointer = self.token.as_deref()?;
        let json: serde_json::Value = serde_json::from_slice(body).ok()?;
        match json.pointer(pointer)? {
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Encodes `batch` as the request wants it (for [`super::Step::build_encoded`] and
    /// [`Discovery::found_encoded`]).
    pub fn encode(&self, batch: &[Contact], out: &mut EncodedBatch) {
        out.fill(self.encoding, batch);
    }

    /// Which contacts of `batch` the answer says are registered: `out[i]` is true if `batch[i]` was
    /// found. A malformed answer (not JSON, no array at the pointer, entries that are not strings, or,
    /// for strict steps, entries that were not asked) is a [`StepFailure::WrongAnswer`].
    pub fn found(
        &self,
        body: &[u8],
        batch: &[Contact],
        out: &mut Vec<bool>,
    ) -> Result<(), StepFailure> {
        let mut enc = EncodedBatch::default();
        enc.fill(self.match_encoding, batch);
        self.found_in(body, &enc, out)
    }

    /// Like [`Discovery::found`], with `encoded` = the batch as [`Discovery::encode`] wrote it.
    pub fn found_encoded(
        &self,
        body: &[u8],
        batch: &[Contact],
        encoded: &EncodedBatch,
        out: &mut Vec<bool>,
    ) -> Result<(), StepFailure> {
        if self.match_encoding == self.encoding && encoded.len() == batch.len() {
            return self.found_in(body, encoded, out);
        }
        self.found(body, batch, out)
    }

    fn found_in(
        &self,
        body: &[u8],
        batch: &EncodedBatch,
        out: &mut Vec<bool>,
    ) -> Result<(), StepFailure> {
        out.clear();
        out.resize(batch.len(), false);
        let wrong = |what: String| StepFailure::WrongAnswer { what };
        let json: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| wrong("discovery answer is not JSON".into()))?;
        let list = json
            .pointer(&self.answer)
            .and_then(|v| v.as_array())
            .ok_or_else(|| {
                wrong(format!(
                    "discovery answer has no array at {:?}",
                    self.answer
                ))
            })?;
        let mut found: HashSet<&[u8]> = HashSet::with_capacity(list.len());
        for entry in list {
            let entry = match &self.answer_field {
                Some(f) => entry.pointer(f),
                None => Some(entry),
            };
            let s = entry
                .and_then(|e| e.as_str())
                .ok_or_else(|| wrong("discovery answer entry is not a string".into()))?;
            found.insert(self.normalise(s).as_bytes());
        }
        let mut hits = 0;
        for (i, enc) in batch.iter().enumerate() {
            if found.contains(enc) {
                out[i] = true;
                hits += 1;
            }
        }
        if self.strict && hits < found.len() {
            let asked: HashSet<&[u8]> = batch.iter().collect();
            if let Some(extra) = found.iter().find(|f| !asked.contains(*f)) {
                let shown = String::from_utf8_lossy(&extra[..extra.len().min(64)]).into_owned();
                return Err(wrong(format!(
                    "discovery answer lists {shown:?}, which was not asked"
                )));
            }
        }
        Ok(())
    }

    /// `@surge12:example.org` -> `surge12` for Matrix answers; other entries unchanged.
    fn normalise<'a>(&self, s: &'a str) -> &'a str {
        if !self.strip_matrix_server {
            return s;
        }
        let s = s.strip_prefix('@').unwrap_or(s);
        s.split_once(':').map(|(l, _)| l).unwrap_or(s)
    }
}
