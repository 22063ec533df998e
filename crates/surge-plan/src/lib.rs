//! surge-plan: the pure, seeded plan of a surge run.
//!
//! [`Plan::compile`] turns a validated [`surge_profile::Profile`] (plus command-line [`Overrides`])
//! into everything the engine needs, with no I/O and no clock:
//! - per-region arrival curves compressed into the run ([`Plan::arrival_offset`],
//!   [`Plan::intended_count`], [`Plan::curve_table`]);
//! - the population: person `u` in `0..population` is a pure function of `(seed, u)`: arrival
//!   offset (index order = arrival order), region, phone number (a bijection of `u`: numbers never
//!   collide, see [`phone`]) and address book ([`Plan::contacts`]);
//! - the compiled journey, client retry policy, SLOs and virtual shards.
//!
//! ```
//! use surge_plan::{Overrides, Plan};
//! let text = r#"
//! name = "tiny"
//! seed = 7
//! [event]
//! population = 1000
//! duration = "30s"
//! [[regions]]
//! name = "americas"
//! share = 0.5
//! [[regions]]
//! name = "europe"
//! share = 0.5
//! [curve]
//! kind = "ramp"
//! up = "10s"
//! hold = "10s"
//! down = "10s"
//! "#;
//! let profile = surge_profile::parse(text, "tiny.toml").unwrap();
//! let plan = Plan::compile(&profile, &Overrides { scale: Some(0.5), ..Overrides::default() }).unwrap();
//! assert_eq!(plan.population, 500);
//! let p = plan.person(42);
//! assert_eq!(p, plan.person(42)); // pure function of (seed, index)
//! assert!(plan.arrival_offset(41) <= plan.arrival_offset(42));
//! let mut book = Vec::new();
//! plan.contacts(42, &mut book);
//! assert!(book.iter().all(|c| c.phone != p.phone));
//! ```
#![warn(missing_docs)]

pub mod arrivals;
mod code;
mod connections;
pub mod error;
mod figures;
pub mod hash;
pub mod journey;
mod overrides;
pub mod phone;
mod population;
pub mod retry;
mod table;
pub mod template;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use code::{discovery_hash_hex, verification_code};
pub use error::PlanError;
pub use figures::FigureCheck;
pub use phone::Phone;
pub use retry::{ClientPolicy, RetryPolicy};

use surge_profile::{AddressBook, Onset, Profile};

/// Command-line overrides of profile values.
#[derive(Default, Clone, Debug)]
pub struct Overrides {
    /// Scale of the population (`--scale`): replaces the profile's `event.scale`.
    pub scale: Option<f64>,
    /// Run length (`--duration`): the event is compressed into it.
    pub duration: Option<Duration>,
    /// Population seed (`--seed`).
    pub seed: Option<u64>,
    /// Snapshot interval.
    pub interval: Option<Duration>,
    /// Closed model with this many people in flight (`--concurrency`).
    pub concurrency: Option<u32>,
}

/// A region of the plan (index = region id in metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct RegionPlan {
    /// Name.
    pub name: String,
    /// Share of the population.
    pub share: f64,
    /// Base URL for this region's people (None: the run's target).
    pub base_url: Option<String>,
    /// Several targets: person `u` of the region goes to `targets[u mod len]` (empty: `base_url`).
    pub targets: Vec<String>,
    /// E.164 country code of this region's people.
    pub country_code: u16,
}

/// How arrivals are driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadModel {
    /// People arrive on the curve, whatever the target does.
    Open,
    /// A fixed number of people loop their journey.
    Closed {
        /// People in flight.
        concurrency: u32,
    },
}

/// One simulated person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person {
    /// Arrival index (`0..population`).
    pub index: u64,
    /// Region id.
    pub region: u16,
    /// Phone number.
    pub phone: Phone,
    /// Intended start, from the run start.
    pub arrival: Duration,
}

/// One address-book entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contact {
    /// The number.
    pub phone: Phone,
    /// `Some(index)` if the number belongs to a person of the population.
    pub user: Option<u64>,
}

/// Precomputed stream keys.
#[derive(Debug, Clone)]
struct Keys {
    region: f64,
    book: u64,
    contact: u64,
    shard: u64,
}

/// The compiled, immutable plan of a run. Cheap to clone; share it with `Arc`.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Profile name.
    pub name: String,
    /// Population seed.
    pub seed: u64,
    /// People in this run: profile population x scale, rounded.
    pub population: u64,
    /// Arrivals happen in `[0, run_duration)`.
    pub run_duration: Duration,
    /// Snapshot interval.
    pub interval: Duration,
    /// Virtual shards (>= 256).
    pub shards: u32,
    /// Regions; index = region id.
    pub regions: Vec<RegionPlan>,
    /// Metric step names in journey order; index = step id.
    pub steps: Vec<String>,
    /// The compiled journey.
    pub journey: journey::Journey,
    /// Client behaviour.
    pub client: ClientPolicy,
    /// SLOs.
    pub slos: Vec<surge_profile::SloSpec>,
    /// Load model.
    pub model: LoadModel,
    /// Default target URL (None: the embedded reference backend).
    pub target: Option<String>,
    /// Default capacity plan for the embedded backend (resolved against the profile's folder).
    pub target_plan: Option<PathBuf>,
    /// Shared secret of verification codes.
    pub secret: String,
    /// Scale applied to the profile's population (override or `event.scale`).
    pub scale: f64,
    /// Real length of the event that the run compresses.
    pub event_duration: Duration,
    /// Wall-clock start of the event, if the profile gives one.
    pub onset: Option<Onset>,
    /// The profile's sourced figures (see [`Plan::figure_checks`]).
    pub figures: Vec<surge_profile::Figure>,
    table: Arc<arrivals::Table>,
    feistel: phone::Feistel,
    keys: Keys,
    book: AddressBook,
}

impl Plan {
    /// Compiles a profile with overrides.
    pub fn compile(profile: &Profile, ov: &Overrides) -> Result<Plan, PlanError> {
        let overrides::Resolved {
            scale,
            population,
            run_duration,
            interval,
            model,
            seed,
        } = overrides::resolve(profile, ov)?;
        let mut steps = Vec::new();
        let journey = journey::compile(&profile.journey, &profile.secret, &mut steps)?;
        overrides::check_slo_steps(profile, &steps)?;
        let table = arrivals::Table::build(profile, population, run_duration)?;
        let keys = Keys {
            region: hash::unit(hash::key(seed, 1)),
            book: hash::key(seed, 2),
            contact: hash::key(seed, 3),
            shard: hash::key(seed, 4),
        };
        Ok(Plan {
            name: profile.name.clone(),
            seed,
            population,
            run_duration,
            interval,
            shards: profile.shards.max(256),
            regions: profile
                .regions
                .iter()
                .map(|r| RegionPlan {
                    name: r.name.clone(),
                    share: r.share,
                    base_url: r.base_url.clone(),
                    targets: r.targets.clone(),
                    country_code: r.country_code,
                })
                .collect(),
            steps,
            journey,
            client: ClientPolicy::from(&profile.client),
            slos: profile.slos.clone(),
            model,
            target: profile.target.clone(),
            target_plan: profile.plan.clone(),
            secret: profile.secret.clone(),
            scale,
            event_duration: profile.event.duration,
            onset: profile.event.onset.clone(),
            figures: profile.figures.clone(),
            table: Arc::new(table),
            feistel: phone::Feistel::new(seed),
            keys,
            book: profile.address_book.clone(),
        })
    }

    /// Region id of a name.
    pub fn region_index(&self, name: &str) -> Option<u16> {
        self.regions
            .iter()
            .position(|r| r.name == name)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// Step id of a metric step name.
    pub fn step_index(&self, name: &str) -> Option<u16> {
        self.steps
            .iter()
            .position(|s| s == name)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// Expected arrivals of `region` in the run-time window `[from, to)`.
    pub fn intended_count(&self, region: u16, from: Duration, to: Duration) -> f64 {
        let r = usize::from(region);
        if r >= self.regions.len() || to <= from {
            return 0.0;
        }
        self.table.cumulative(Some(r), to.as_secs_f64())
            - self.table.cumulative(Some(r), from.as_secs_f64())
    }

    /// Expected arrivals of all regions in `[from, to)`.
    pub fn intended_total(&self, from: Duration, to: Duration) -> f64 {
        if to <= from {
            return 0.0;
        }
        self.table.cumulative(None, to.as_secs_f64())
            - self.table.cumulative(None, from.as_secs_f64())
    }

    /// Event time (from the event start) at run time `t`.
    pub fn event_time(&self, t: Duration) -> Duration {
        t.mul_f64(self.event_duration.as_secs_f64() / self.run_duration.as_secs_f64())
    }

    /// The verification code the reference target expects for `phone` (see [`verification_code`]).
    pub fn verification_code(&self, phone: Phone) -> String {
        verification_code(&self.secret, phone)
    }
}
