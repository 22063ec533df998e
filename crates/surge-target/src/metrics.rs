//! Counters on the request path (plain atomics in fixed arrays, no locks), the Prometheus text
//! exposition served at `/metrics`, and the [`TargetStats`] snapshot for tests and the CLI.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::backend::{Backend, RegionSlot};
use crate::plan::Endpoint;

/// Statuses the backend answers with; anything else is counted as 500.
const STATUSES: [u16; 14] = [
    200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 413, 429, 500, 503,
];
/// The five API endpoints plus `other` (unknown paths and wrong methods).
const ENDPOINTS: usize = 6;
const OTHER: usize = 5;

fn status_index(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|s| *s == status)
        .unwrap_or(STATUSES.len() - 2)
}

fn endpoint_label(index: usize) -> &'static str {
    Endpoint::ALL.get(index).map_or("other", |e| e.name())
}

/// Request counters indexed by region slot (plan regions, then "unknown"), endpoint and status.
pub(crate) struct Counters {
    slots: usize,
    requests: Box<[AtomicU64]>,
    shed: Box<[AtomicU64]>,
    sms_limited: Box<[AtomicU64]>,
    discovery_over_quota: AtomicU64,
    discovery_charged: AtomicU64,
}

fn zeros(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

impl Counters {
    pub fn new(regions: usize) -> Counters {
        let slots = regions + 1;
        Counters {
            slots,
            requests: zeros(slots * ENDPOINTS * STATUSES.len()),
            shed: zeros(slots * ENDPOINTS),
            sms_limited: zeros(slots),
            discovery_over_quota: AtomicU64::new(0),
            discovery_charged: AtomicU64::new(0),
        }
    }

    fn request_index(region: RegionSlot, endpoint: usize, status: usize) -> usize {
        (region * ENDPOINTS + endpoint) * STATUSES.len() + status
    }

    /// Counts one answered request; `endpoint` is `None` for unknown paths and wrong methods.
    pub fn request(&self, region: RegionSlot, endpoint: Option<Endpoint>, status: u16) {
        let region = region.min(self.slots - 1);
        let endpoint = endpoint.map_or(OTHER, Endpoint::index);
        let index = Counters::request_index(region, endpoint, status_index(status));
        self.requests[index].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request shed (429) or rejected (503) because its data centre's queue was full.
    pub fn shed(&self, region: RegionSlot, endpoint: Endpoint) {
        let region = region.min(self.slots - 1);
        self.shed[region * ENDPOINTS + endpoint.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one code request refused by the region's SMS gateway.
    pub fn sms_limited(&self, region: RegionSlot) {
        self.sms_limited[region.min(self.slots - 1)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one discovery lookup refused for lack of quota (`[discovery_quota]`).
    pub fn discovery_over_quota(&self) {
        self.discovery_over_quota.fetch_add(1, Ordering::Relaxed);
    }

    /// Permits a discovery lookup was charged (its new numbers).
    pub fn discovery_charged(&self, permits: u64) {
        self.discovery_charged.fetch_add(permits, Ordering::Relaxed);
    }

    fn get(cells: &[AtomicU64], index: usize) -> u64 {
        cells.get(index).map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// One data centre in a [`TargetStats`] snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcStats {
    /// Configured slots.
    pub slots: usize,
    /// Requests waiting for a slot.
    pub queue_depth: usize,
    /// Requests holding a slot.
    pub in_service: usize,
    /// The most requests that ever waited at once.
    pub peak_queue_depth: usize,
    /// Current discovery-index lag.
    pub index_lag: Duration,
}

/// A snapshot of the backend's counters and gauges. Region keys are plan region names, plus
/// `"unknown"` for requests without a known `x-surge-region` header; endpoint keys are
/// [`Endpoint::name`] values plus `"other"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetStats {
    /// Registered accounts.
    pub accounts: u64,
    /// Live verification sessions.
    pub sessions: u64,
    /// Answered requests per endpoint.
    pub requests: BTreeMap<String, u64>,
    /// Answered requests per (region, endpoint, status); zero entries are left out.
    pub responses: BTreeMap<(String, String, u16), u64>,
    /// Requests shed (429) or rejected (503) by a full queue, per region.
    pub shed: BTreeMap<String, u64>,
    /// Code requests refused by the SMS gateway, per region.
    pub sms_limited: BTreeMap<String, u64>,
    /// Code messages sent per (region, provider) by the SMS pipelines.
    pub sms_sent: BTreeMap<(String, String), u64>,
    /// Code messages that expired in a region's delivery queue.
    pub sms_expired: BTreeMap<String, u64>,
    /// Gauges per data centre.
    pub data_centres: BTreeMap<String, DcStats>,
    /// WebSocket connections, handshakes and messages per data centre.
    pub connections: BTreeMap<String, crate::ws::ConnStats>,
    /// Messages waiting in offline mailboxes.
    pub mailboxed: u64,
    /// Discovery lookups refused with 429 for lack of quota.
    pub discovery_over_quota: u64,
    /// Permits charged to discovery quotas: new numbers looked up (numbers sent back with a valid
    /// token are free).
    pub discovery_charged: u64,
}

impl TargetStats {
    /// Answered requests of one region, endpoint and status.
    pub fn count(&self, region: &str, endpoint: &str, status: u16) -> u64 {
        let key = (region.to_owned(), endpoint.to_owned(), status);
        self.responses.get(&key).copied().unwrap_or(0)
    }

    /// Answered requests with this status, over all regions and endpoints.
    pub fn with_status(&self, status: u16) -> u64 {
        self.responses
            .iter()
            .filter(|((_, _, s), _)| *s == status)
            .map(|(_, n)| n)
            .sum()
    }
}

impl Backend {
    /// Takes a snapshot of the counters and gauges.
    pub fn stats(&self) -> TargetStats {
        let c = &self.counters;
        let mut stats = TargetStats {
            accounts: self.accounts.len(),
            sessions: self.sessions.len(),
            ..TargetStats::default()
        };
        for region in 0..c.slots {
            let label = self.region_label(region).to_owned();
            for endpoint in 0..ENDPOINTS {
                for (s, status) in STATUSES.iter().enumerate() {
                    let n =
                        Counters::get(&c.requests, Counters::request_index(region, endpoint, s));
                    if n > 0 {
                        let e = endpoint_label(endpoint).to_owned();
                        *stats.requests.entry(e.clone()).or_default() += n;
                        stats.responses.insert((label.clone(), e, *status), n);
                    }
                }
            }
            let shed = (0..ENDPOINTS)
                .map(|e| Counters::get(&c.shed, region * ENDPOINTS + e))
                .sum();
            stats.shed.insert(label.clone(), shed);
            if let Some(expired) = self.pipeline.expired(region) {
                stats.sms_expired.insert(label.clone(), expired);
                for (provider, n) in self.pipeline.sent(region) {
                    stats
                        .sms_sent
                        .insert((label.clone(), provider.to_owned()), n);
                }
            }
            stats
                .sms_limited
                .insert(label, Counters::get(&c.sms_limited, region));
        }
        for dc in &self.dcs {
            let gauges = DcStats {
                slots: dc.slots(),
                queue_depth: dc.waiting(),
                in_service: dc.in_service(),
                peak_queue_depth: dc.peak_waiting(),
                index_lag: dc.index_lag(),
            };
            stats.data_centres.insert(dc.name.clone(), gauges);
        }
        stats.connections = self.conn_stats();
        stats.mailboxed = self.hub.mailboxed();
        stats.discovery_over_quota = c.discovery_over_quota.load(Ordering::Relaxed);
        stats.discovery_charged = c.discovery_charged.load(Ordering::Relaxed);
        stats
    }

    /// Renders the Prometheus text exposition.
    pub fn render_metrics(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.render_requests(&mut out);
        self.render_refusals(&mut out);
        self.render_gauges(&mut out);
        self.render_ws(&mut out);
        out
    }

    /// `dc` and `region` labels of a region slot.
    fn labels(&self, region: RegionSlot) -> (&str, &str) {
        let dc = &self.dcs[self.dc_index(region)].name;
        (dc, self.region_label(region))
    }

    fn render_requests(&self, out: &mut String) {
        let c = &self.counters;
        let help = "Requests answered, by data centre, region, endpoint and status.";
        header(out, "surge_target_requests_total", "counter", help);
        for region in 0..c.slots {
            let (dc, label) = self.labels(region);
            for endpoint in 0..ENDPOINTS {
                let e = endpoint_label(endpoint);
                for (s, status) in STATUSES.iter().enumerate() {
                    let n =
                        Counters::get(&c.requests, Counters::request_index(region, endpoint, s));
                    if n > 0 {
                        let labels = format!("dc=\"{dc}\",region=\"{label}\",endpoint=\"{e}\"");
                        let _ = writeln!(
                            out,
                            "surge_target_requests_total{{{labels},status=\"{status}\"}} {n}"
                        );
                    }
                }
            }
        }
    }

    /// Sheds and SMS refusals: every plan region is listed (zeros too), "unknown" only when non-zero.
    fn render_refusals(&self, out: &mut String) {
        let c = &self.counters;
        let help =
            "Requests shed (429) or rejected (503) because the data centre's queue was full.";
        header(out, "surge_target_shed_total", "counter", help);
        for region in 0..c.slots {
            let (dc, label) = self.labels(region);
            for endpoint in Endpoint::ALL {
                let n = Counters::get(&c.shed, region * ENDPOINTS + endpoint.index());
                if n > 0 || region < c.slots - 1 {
                    let e = endpoint.name();
                    let labels = format!("dc=\"{dc}\",region=\"{label}\",endpoint=\"{e}\"");
                    let _ = writeln!(out, "surge_target_shed_total{{{labels}}} {n}");
                }
            }
        }
        let help = "Code requests refused by the region's SMS gateway.";
        header(out, "surge_target_sms_limited_total", "counter", help);
        for region in 0..c.slots {
            let n = Counters::get(&c.sms_limited, region);
            if n > 0 || region < c.slots - 1 {
                let label = self.region_label(region);
                let _ = writeln!(
                    out,
                    "surge_target_sms_limited_total{{region=\"{label}\"}} {n}"
                );
            }
        }
        self.render_pipeline(out);
    }

    fn render_pipeline(&self, out: &mut String) {
        let regions = self.plan.regions.len();
        if (0..regions).all(|r| self.pipeline.expired(r).is_none()) {
            return;
        }
        let help = "Code messages sent by each provider of the region's SMS pipeline.";
        header(out, "surge_target_sms_sent_total", "counter", help);
        for region in 0..regions {
            let label = self.region_label(region);
            for (provider, n) in self.pipeline.sent(region) {
                let labels = format!("region=\"{label}\",provider=\"{provider}\"");
                let _ = writeln!(out, "surge_target_sms_sent_total{{{labels}}} {n}");
            }
        }
        let help = "Code messages that expired in the region's delivery queue.";
        header(out, "surge_target_sms_expired_total", "counter", help);
        for region in 0..regions {
            if let Some(n) = self.pipeline.expired(region) {
                let label = self.region_label(region);
                let _ = writeln!(
                    out,
                    "surge_target_sms_expired_total{{region=\"{label}\"}} {n}"
                );
            }
        }
    }

    fn render_gauges(&self, out: &mut String) {
        type Gauge = fn(&crate::capacity::DataCentre) -> String;
        let gauges: [(&str, &str, Gauge); 4] = [
            (
                "surge_target_queue_depth",
                "Requests waiting for a slot.",
                |d| d.waiting().to_string(),
            ),
            ("surge_target_in_service", "Requests holding a slot.", |d| {
                d.in_service().to_string()
            }),
            ("surge_target_slots", "Configured slots.", |d| {
                d.slots().to_string()
            }),
            (
                "surge_target_index_lag_seconds",
                "Current discovery-index lag.",
                |d| d.index_lag().as_secs_f64().to_string(),
            ),
        ];
        for (name, help, value) in gauges {
            header(out, name, "gauge", help);
            for dc in &self.dcs {
                let _ = writeln!(out, "{name}{{dc=\"{}\"}} {}", dc.name, value(dc));
            }
        }
        let help = "1 while the data centre is down (a `down` fault): its regions fail over.";
        header(out, "surge_target_dc_down", "gauge", help);
        let now = self.now_ms();
        for dc in &self.dcs {
            let down = u8::from(dc.is_down(now));
            let _ = writeln!(out, "surge_target_dc_down{{dc=\"{}\"}} {down}", dc.name);
        }
        header(
            out,
            "surge_target_accounts",
            "gauge",
            "Registered accounts.",
        );
        let _ = writeln!(out, "surge_target_accounts {}", self.accounts.len());
        header(
            out,
            "surge_target_sessions",
            "gauge",
            "Live verification sessions.",
        );
        let _ = writeln!(out, "surge_target_sessions {}", self.sessions.len());
        header(
            out,
            "surge_target_discovery_over_quota_total",
            "counter",
            "Discovery lookups refused for lack of quota.",
        );
        let n = self.counters.discovery_over_quota.load(Ordering::Relaxed);
        let _ = writeln!(out, "surge_target_discovery_over_quota_total {n}");
        header(
            out,
            "surge_target_discovery_charged_total",
            "counter",
            "Discovery permits charged: new numbers looked up (numbers sent back with a token are free).",
        );
        let n = self.counters.discovery_charged.load(Ordering::Relaxed);
        let _ = writeln!(out, "surge_target_discovery_charged_total {n}");
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}
