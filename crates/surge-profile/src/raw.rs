//! The profile as written: serde types with spans, `deny_unknown_fields` everywhere.
//!
//! Nothing here is checked beyond TOML types; [`crate::validate`] turns these into a [`crate::Profile`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::journey::RawJourney;

/// A spanned string.
pub type S = Spanned<String>;
/// A spanned float.
pub type F = Spanned<f64>;
/// A spanned integer.
pub type I = Spanned<i64>;

/// The whole profile file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    /// Profile name.
    pub name: S,
    /// Free text.
    pub description: Option<S>,
    /// Population seed.
    pub seed: Option<I>,
    /// Shared secret for verification codes.
    pub secret: Option<S>,
    /// Virtual shards.
    pub shards: Option<I>,
    /// Default target URL.
    pub target: Option<S>,
    /// Default capacity plan for the embedded backend, relative to the profile.
    pub plan: Option<S>,
    /// SLOs in text form.
    pub slos: Option<Vec<S>>,
    /// The journey (JOURNEYS engineer's type).
    pub journey: Option<RawJourney>,
    /// The event.
    pub event: Spanned<RawEvent>,
    /// Regions.
    pub regions: Spanned<Vec<Spanned<RawRegion>>>,
    /// Arrival curve.
    pub curve: Spanned<RawCurve>,
    /// Address books.
    pub address_book: Option<Spanned<RawAddressBook>>,
    /// Client behaviour.
    pub client: Option<Spanned<RawClient>>,
    /// Load model.
    pub load: Option<Spanned<RawLoad>>,
    /// Sourced figures of the real event, printed against the curve by `surge profile show`.
    pub figures: Option<Vec<Spanned<RawFigure>>>,
}

/// `[[figures]]`: a published cumulative figure of the real event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFigure {
    /// Event time of the figure (from the event start).
    pub at: S,
    /// People signed up by then (all regions, or `region`'s).
    pub people: Option<I>,
    /// Or: `region`'s share of the people signed up by then.
    pub share: Option<F>,
    /// Count only the people who signed up in the `window` before `at` (e.g. a day's figure).
    pub window: Option<S>,
    /// The region the figure is about (default: all).
    pub region: Option<S>,
    /// Where the figure was published.
    pub source: S,
}

/// `[event]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEvent {
    /// People who sign up over the event (optional for trace curves).
    pub population: Option<I>,
    /// Default scale of runs (`--scale` replaces it).
    pub scale: Option<F>,
    /// Real length of the event.
    pub duration: S,
    /// Default run length (time compression).
    pub replay: Option<S>,
    /// Snapshot interval.
    pub interval: Option<S>,
    /// Wall-clock start of the event (UTC), for diurnal curves.
    pub onset: Option<Spanned<toml::value::Datetime>>,
}

/// `[[regions]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegion {
    /// Region name.
    pub name: S,
    /// Share of the population.
    pub share: Option<F>,
    /// UTC offset, e.g. `"-5h"`.
    pub utc_offset: Option<S>,
    /// Time-of-day activity.
    pub diurnal: Option<Spanned<RawDiurnal>>,
    /// Region base URL.
    pub base_url: Option<S>,
    /// Several targets: the region's people are spread over them.
    pub targets: Option<Spanned<Vec<S>>>,
    /// E.164 country code.
    pub country_code: Option<I>,
    /// Per-region Bass innovation.
    pub p: Option<F>,
    /// Per-region Bass imitation.
    pub q: Option<F>,
}

/// `diurnal = { floor, peak_hour }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiurnal {
    /// Lowest activity relative to the peak.
    pub floor: F,
    /// Local hour of the peak.
    pub peak_hour: F,
}

/// `[curve]`: one flat table, the fields that apply depend on `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCurve {
    /// `ramp`, `bass` or `trace`.
    pub kind: S,
    /// ramp: delay before the rise.
    pub start: Option<S>,
    /// ramp: rise time.
    pub up: Option<S>,
    /// ramp: time at the peak.
    pub hold: Option<S>,
    /// ramp: fall time.
    pub down: Option<S>,
    /// bass: innovation per `unit`.
    pub p: Option<F>,
    /// bass: imitation per `unit`.
    pub q: Option<F>,
    /// bass: time unit of p and q.
    pub unit: Option<S>,
    /// bass/ramp: when the trigger ends.
    pub trigger_end: Option<S>,
    /// bass/ramp: decay time constant after the trigger.
    pub decay: Option<S>,
    /// bass/ramp: share of momentum lost when the trigger ends.
    pub returning: Option<F>,
    /// bass/ramp: share of the population arriving evenly over the event.
    pub baseline: Option<F>,
    /// trace: CSV file, relative to the profile.
    pub file: Option<S>,
    /// trace: time step of the rows.
    pub step: Option<S>,
    /// trace: region name -> column name.
    pub columns: Option<Spanned<BTreeMap<String, S>>>,
    /// trace: multiplier on the values.
    pub scale: Option<F>,
    /// trace: time shift.
    pub shift: Option<S>,
    /// trace: `linear` or `step`.
    pub interpolation: Option<S>,
}

/// `[address_book]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAddressBook {
    /// Median size.
    pub median: Option<F>,
    /// Log-normal sigma.
    pub sigma: Option<F>,
    /// Cap.
    pub max: Option<I>,
    /// Share of population contacts in the same region.
    pub same_region: Option<F>,
    /// Share of numbers that never join.
    pub never_join: Option<F>,
    /// Share of population contacts who join after the owner.
    pub later: Option<F>,
}

/// `[client]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    /// Per-request timeout.
    pub timeout: Option<S>,
    /// Retry policy name.
    pub retry: Option<S>,
    /// Attempts including the first.
    pub max_attempts: Option<I>,
    /// Backoff base.
    pub backoff_base: Option<S>,
    /// Backoff cap.
    pub backoff_cap: Option<S>,
    /// Backoff jitter.
    pub jitter: Option<Spanned<bool>>,
    /// Retry-After fallback.
    pub retry_after_fallback: Option<S>,
    /// Retry-After cap.
    pub retry_after_cap: Option<S>,
}

/// `[load]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    /// `open` or `closed`.
    pub model: Option<S>,
    /// Closed-model concurrency.
    pub concurrency: Option<I>,
}
