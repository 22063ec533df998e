//! The validated profile: every value typed, checked and defaulted.

use std::path::PathBuf;
use std::time::Duration;

use crate::journey::JourneySpec;
use crate::slo::SloSpec;

/// A validated profile, ready to be compiled into a plan.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Profile name (`[A-Za-z0-9._-]`, at most 64 characters).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Population seed.
    pub seed: u64,
    /// Shared secret of verification codes (default `surge-staging-secret`).
    pub secret: String,
    /// File label used in errors.
    pub origin: String,
    /// Folder that relative paths in the profile are resolved against.
    pub base_dir: PathBuf,
    /// Virtual shards (>= 256, default 1024).
    pub shards: u32,
    /// The event being rehearsed.
    pub event: Event,
    /// Regions, in file order (index = region id).
    pub regions: Vec<Region>,
    /// The event's shape.
    pub curve: Curve,
    /// Address-book model.
    pub address_book: AddressBook,
    /// Client behaviour.
    pub client: Client,
    /// Load model.
    pub load: Load,
    /// Default target URL.
    pub target: Option<String>,
    /// Default capacity plan of the embedded backend, resolved against `base_dir`.
    pub plan: Option<PathBuf>,
    /// SLOs.
    pub slos: Vec<SloSpec>,
    /// The journey.
    pub journey: JourneySpec,
    /// Sourced figures of the real event (`[[figures]]`), in file order.
    pub figures: Vec<Figure>,
}

/// A published cumulative figure of the real event, to print against the curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Event time (from the event start).
    pub at: Duration,
    /// Region index (None: all regions).
    pub region: Option<usize>,
    /// People signed up by `at` (for a `share` figure: the share times everyone by `at`, computed by the
    /// plan; see `share`).
    pub people: Option<u64>,
    /// The region's share of everyone signed up by `at`.
    pub share: Option<f64>,
    /// Count only the window before `at` (None: everything since the event start).
    pub window: Option<Duration>,
    /// Where the figure was published.
    pub source: String,
}

/// `[event]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// People who sign up over the whole event (before `--scale`).
    pub population: u64,
    /// Default scale of runs: a run has `population x scale` people (`--scale` replaces it).
    pub scale: f64,
    /// Real length of the event.
    pub duration: Duration,
    /// Default run length: the event is compressed into it.
    pub replay: Duration,
    /// Snapshot interval.
    pub interval: Duration,
    /// Wall-clock start of the event.
    pub onset: Option<Onset>,
}

/// A UTC instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Onset {
    /// Seconds since the Unix epoch.
    pub unix_secs: i64,
    /// As written.
    pub text: String,
}

impl Onset {
    /// UTC hour of day (0..24, fractional) at `offset_secs` after the onset.
    pub fn utc_hour_at(&self, offset_secs: f64) -> f64 {
        let s = (self.unix_secs as f64 + offset_secs).rem_euclid(86_400.0);
        s / 3600.0
    }
}

/// `[[regions]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Name used in metrics and SLOs.
    pub name: String,
    /// Share of the population (shares sum to 1).
    pub share: f64,
    /// UTC offset in seconds.
    pub utc_offset_secs: f64,
    /// Time-of-day activity (None: flat).
    pub diurnal: Option<Diurnal>,
    /// Base URL for this region's people.
    pub base_url: Option<String>,
    /// Several targets for this region's people (empty: `base_url` or the run's target); person `u`
    /// of the region goes to `targets[u mod len]`.
    pub targets: Vec<String>,
    /// E.164 country code.
    pub country_code: u16,
    /// Per-region Bass innovation per second (overrides the curve's).
    pub p: Option<f64>,
    /// Per-region Bass imitation per second (overrides the curve's).
    pub q: Option<f64>,
}

/// Activity by local hour: `floor + (1 - floor) * (1 + cos(2 pi (h - peak_hour) / 24)) / 2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diurnal {
    /// Activity at the quietest hour, relative to the peak (0..=1).
    pub floor: f64,
    /// Local hour of the peak (0..24).
    pub peak_hour: f64,
}

impl Diurnal {
    /// Activity (floor..=1) at local hour `h`.
    pub fn factor(&self, h: f64) -> f64 {
        let c = (std::f64::consts::TAU * (h - self.peak_hour) / 24.0).cos();
        self.floor + (1.0 - self.floor) * 0.5 * (1.0 + c)
    }
}

/// The event's shape, before regions and time of day.
#[derive(Debug, Clone, PartialEq)]
pub enum Curve {
    /// Linear rise, hold, linear fall.
    Ramp(Ramp),
    /// Bass diffusion with a trigger.
    Bass(Bass),
    /// A measured time series.
    Trace(Trace),
}

/// `kind = "ramp"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ramp {
    /// Zero rate before this.
    pub start: Duration,
    /// Rise time.
    pub up: Duration,
    /// Time at the peak.
    pub hold: Duration,
    /// Fall time.
    pub down: Duration,
    /// Share of the population arriving evenly over the event.
    pub baseline: f64,
}

/// `kind = "bass"`: adoption density `f(t) = dF/dt` of the Bass model, times the trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct Bass {
    /// Innovation coefficient per second.
    pub p: f64,
    /// Imitation coefficient per second.
    pub q: f64,
    /// When the trigger (outage) ends, from the event start; None: active throughout.
    pub trigger_end: Option<Duration>,
    /// Decay time constant after the trigger ends.
    pub decay: Duration,
    /// Share of the momentum lost at once when the trigger ends (people go back).
    pub returning: f64,
    /// Share of the population arriving evenly over the event (the normal daily signups).
    pub baseline: f64,
}

/// How a trace is interpolated between rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    /// Straight lines between rows.
    Linear,
    /// Each row's value holds until the next row.
    Step,
}

/// `kind = "trace"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// CSV file (resolved).
    pub file: PathBuf,
    /// Unit of the CSV's time column, and the period its values count signups over.
    pub step: Duration,
    /// Time shift in seconds (positive: later).
    pub shift_secs: f64,
    /// Multiplier on the values.
    pub scale: f64,
    /// Interpolation.
    pub interpolation: Interpolation,
    /// Row times in seconds from the event start (before shift).
    pub times: Vec<f64>,
    /// Per region (profile order), signups per step at each row, already multiplied by `scale`.
    pub values: Vec<Vec<f64>>,
}

impl Trace {
    /// Signups per second of region `r` at event time `t` (seconds).
    pub fn rate(&self, r: usize, t: f64) -> f64 {
        let Some(vals) = self.values.get(r) else {
            return 0.0;
        };
        let t = t - self.shift_secs;
        let n = self.times.len();
        if n == 0 || t < self.times[0] {
            return 0.0;
        }
        let step = self.step.as_secs_f64();
        let i = self.times.partition_point(|&x| x <= t);
        let per_step = if i >= n {
            if t < self.times[n - 1] + step {
                vals[n - 1]
            } else {
                0.0
            }
        } else {
            let (t0, t1) = (self.times[i - 1], self.times[i]);
            match self.interpolation {
                Interpolation::Step => vals[i - 1],
                Interpolation::Linear => {
                    let w = if t1 > t0 { (t - t0) / (t1 - t0) } else { 0.0 };
                    vals[i - 1] + (vals[i] - vals[i - 1]) * w
                }
            }
        };
        per_step / step
    }

    /// Signups of region `r` between event times `from` and `to` (seconds), by midpoint sampling
    /// (at least 16 samples per row).
    pub fn integral(&self, r: usize, from: f64, to: f64) -> f64 {
        if to <= from {
            return 0.0;
        }
        let n = (self.times.len() * 16).max(4096);
        let w = (to - from) / n as f64;
        (0..n)
            .map(|i| self.rate(r, from + (i as f64 + 0.5) * w))
            .sum::<f64>()
            * w
    }
}

/// `[address_book]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AddressBook {
    /// Median number of contacts (log-normal).
    pub median: f64,
    /// Log-normal sigma.
    pub sigma: f64,
    /// Cap on the size.
    pub max: u32,
    /// Share of population contacts drawn from the owner's region.
    pub same_region: f64,
    /// Share of contacts that are numbers never in the population.
    pub never_join: f64,
    /// Share of population contacts who arrive after the owner.
    pub later: f64,
}

impl Default for AddressBook {
    fn default() -> Self {
        AddressBook {
            median: 20.0,
            sigma: 1.0,
            max: 200,
            same_region: 0.8,
            never_join: 0.3,
            later: 0.1,
        }
    }
}

/// `[client]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retry behaviour.
    pub retry: Retry,
    /// Attempts per request, including the first (>= 1).
    pub max_attempts: u32,
}

/// Retry behaviour on errors.
#[derive(Debug, Clone, PartialEq)]
pub enum Retry {
    /// Fail the journey at the first error.
    GiveUp,
    /// Retry at once (the naive client that makes retry storms).
    Immediate,
    /// Exponential backoff.
    Backoff {
        /// First delay.
        base: Duration,
        /// Largest delay.
        cap: Duration,
        /// Full jitter.
        jitter: bool,
    },
    /// Honour Retry-After.
    RetryAfter {
        /// Delay when the answer has no Retry-After.
        fallback: Duration,
        /// Largest delay.
        cap: Duration,
    },
}

impl Retry {
    /// Delay before the next attempt after `attempt` failed attempts (1 after the first failure);
    /// `retry_after` is the answer's Retry-After, `rand01` a uniform draw in [0, 1). `None` means give
    /// up. This does not count attempts (a plan's `ClientPolicy::retry_delay` does). Backoff is
    /// `base * 2^(attempt-1)` capped at `cap`; with `jitter`, a uniform draw in `[0, that]` ("full
    /// jitter").
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rand01: f64,
    ) -> Option<Duration> {
        match self {
            Retry::GiveUp => None,
            Retry::Immediate => Some(Duration::ZERO),
            Retry::Backoff { base, cap, jitter } => {
                let exp = attempt.saturating_sub(1).min(30);
                let d = base.saturating_mul(1u32 << exp).min(*cap);
                if *jitter {
                    Some(d.mul_f64(rand01.clamp(0.0, 1.0)))
                } else {
                    Some(d)
                }
            }
            Retry::RetryAfter { fallback, cap } => Some(retry_after.unwrap_or(*fallback).min(*cap)),
        }
    }
}

/// `[load]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Arrivals follow the curve.
    Open,
    /// A fixed number of people loop their journey.
    Closed {
        /// People in flight.
        concurrency: u32,
    },
}
