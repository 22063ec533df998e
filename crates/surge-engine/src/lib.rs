//! # surge-engine
//!
//! The worker. Given a compiled [`surge_plan::Plan`], it starts each person of its shards at the
//! intended start computed from the region's arrival curve (open model; or loops a fixed number of people
//! in the closed model), runs their journey over pooled hyper connections, and records every step's
//! response time *from its intended start* (coordinated-omission free), its service time from the
//! actual send, and the send lag between the two, into one lock-free thread-local recorder. At each
//! interval boundary the recorder's [`surge_metrics::Snapshot`] goes to the coordinator, in its sparse
//! form ([`surge_metrics::SparseSnapshot`]).
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn demo(plan: Arc<surge_plan::Plan>) -> std::io::Result<()> {
//! use surge_engine::{Registry, ShardSet, Targets, WorkerSpec, spawn_worker};
//! let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
//! let spec = WorkerSpec {
//!     index: 0,
//!     shards: Arc::new(ShardSet::all(plan.shards)),
//!     registry: Arc::new(Registry::new(plan.population)),
//!     targets: Arc::new(Targets::new("http://127.0.0.1:8080", &plan)),
//!     start: std::time::SystemTime::now(),
//!     max_in_flight: 10_000,
//!     concurrency: 1,
//!     limiter: None,
//!     report_registrations: false,
//!     drain: std::time::Duration::from_secs(10),
//!     engine: surge_engine::Engine::new(surge_engine::EngineConfig::default()).expect("system roots"),
//!     first_interval: 0,
//!     by_region: false,
//!     plan,
//! };
//! let worker = spawn_worker(spec, tx)?;
//! worker.join();
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod config;
pub mod floor;
pub mod h1;
pub mod http;
mod inflight;
pub mod limits;
pub mod memory;
mod pacer;
pub mod pacing;
pub mod person;
pub mod registry;
pub mod sched;
pub mod session;
pub mod worker;

pub use config::{ConfigError, Engine, EngineConfig};
pub use pacing::{Http1Client, Pacing};
pub use registry::Registry;
pub use worker::{REGISTRATION_FLUSH, WorkerEvent, WorkerHandle, WorkerSpec, spawn_worker};

use std::sync::atomic::{AtomicBool, Ordering};

/// The safety cap on requests per second: a governor limiter (never the pacer: see DESIGN.md).
pub type Limiter = governor::DefaultDirectRateLimiter;

/// Builds the `--max-rps` safety cap, allowing bursts of ~20 ms worth of requests.
pub fn safety_cap(max_rps: u32) -> Option<Limiter> {
    let rate = std::num::NonZeroU32::new(max_rps)?;
    let burst = std::num::NonZeroU32::new((max_rps / 50).max(1))?;
    Some(governor::RateLimiter::direct(
        governor::Quota::per_second(rate).allow_burst(burst),
    ))
}

/// Which virtual shards a worker runs. Shards can be added while running (a lost worker's shards move
/// to the survivors from that moment on).
#[derive(Debug)]
pub struct ShardSet {
    owned: Box<[AtomicBool]>,
}

impl ShardSet {
    /// No shards of `total`.
    pub fn none(total: u32) -> ShardSet {
        ShardSet {
            owned: (0..total).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// Every shard of `total`.
    pub fn all(total: u32) -> ShardSet {
        let s = ShardSet::none(total);
        for i in 0..total {
            s.add(i);
        }
        s
    }

    /// Shards `i` with `i % of == which`: worker `which` of `of`.
    pub fn stripe(total: u32, which: u32, of: u32) -> ShardSet {
        let s = ShardSet::none(total);
        for i in (0..total).filter(|i| i % of.max(1) == which) {
            s.add(i);
        }
        s
    }

    /// Starts running shard `i`.
    pub fn add(&self, i: u32) {
        if let Some(b) = self.owned.get(i as usize) {
            b.store(true, Ordering::Relaxed);
        }
    }

    /// Whether shard `i` is run here.
    pub fn owns(&self, i: u32) -> bool {
        self.owned
            .get(i as usize)
            .is_some_and(|b| b.load(Ordering::Relaxed))
    }

    /// The shards run here.
    pub fn list(&self) -> Vec<u32> {
        (0..self.owned.len() as u32)
            .filter(|&i| self.owns(i))
            .collect()
    }
}

/// Where each region's requests go: a default base URL, optionally overridden per region by the plan
/// (one `base_url`, or several `targets` that the region's people are spread over).
#[derive(Debug, Clone)]
pub struct Targets {
    default: String,
    per_region: Vec<Vec<String>>,
    names: Vec<String>,
}

impl Targets {
    /// `default` for every region except those whose plan names its own base URL or targets.
    pub fn new(default: &str, plan: &surge_plan::Plan) -> Targets {
        Targets {
            default: default.trim_end_matches('/').to_string(),
            per_region: plan
                .regions
                .iter()
                .map(|r| {
                    if r.targets.is_empty() {
                        r.base_url.iter().cloned().collect()
                    } else {
                        r.targets.clone()
                    }
                })
                .collect(),
            names: plan.regions.iter().map(|r| r.name.clone()).collect(),
        }
    }

    /// The base URL for person `index` of `region`, or a step's own override.
    /// A step's `base` is either a URL or a region's name, which sends the step to that region's data
    /// centre (its `base_url`, the person's share of its `targets`, or the run's target).
    pub fn base_for<'a>(&'a self, region: u16, index: u64, step_base: Option<&'a str>) -> &'a str {
        if let Some(b) = step_base {
            if b.contains("://") {
                return b;
            }
            if let Some(r) = self.names.iter().position(|n| n == b) {
                return self.region_base(r as u16, index);
            }
        }
        self.region_base(region, index)
    }

    fn region_base(&self, region: u16, index: u64) -> &str {
        match self.per_region.get(region as usize) {
            Some(list) if !list.is_empty() => &list[(index % list.len() as u64) as usize],
            _ => &self.default,
        }
    }
}

#[cfg(test)]
mod targets_tests {
    use super::Targets;

    #[test]
    fn a_step_base_is_a_url_or_a_region_name() {
        let t = Targets {
            default: "http://default".into(),
            per_region: vec![vec!["http://us".into()], vec![]],
            names: vec!["americas".into(), "europe".into()],
        };
        assert_eq!(t.base_for(0, 7, None), "http://us");
        assert_eq!(t.base_for(1, 7, None), "http://default");
        assert_eq!(t.base_for(1, 7, Some("americas")), "http://us");
        assert_eq!(t.base_for(0, 7, Some("europe")), "http://default");
        assert_eq!(
            t.base_for(0, 7, Some("https://other:8443")),
            "https://other:8443"
        );
    }

    #[test]
    fn a_region_with_several_targets_spreads_its_people_over_them() {
        let t = Targets {
            default: "http://default".into(),
            per_region: vec![vec![
                "http://a".into(),
                "http://b".into(),
                "http://c".into(),
            ]],
            names: vec!["fedi".into()],
        };
        let mut seen = std::collections::BTreeMap::new();
        for u in 0..300u64 {
            *seen.entry(t.base_for(0, u, None)).or_insert(0) += 1;
            assert_eq!(t.base_for(0, u, None), t.base_for(0, u, None));
        }
        assert_eq!(seen.len(), 3);
        assert!(seen.values().all(|&n| n == 100), "{seen:?}");
        assert_eq!(t.base_for(0, 4, Some("fedi")), "http://b");
    }
}
