//! The connected part of a plan: each data centre's WebSocket connection capacity and delivery
//! slots, the per-account mailbox, and the fault schedule.
//!
//! ```toml
//! mailbox_limit = 1000          # messages kept per offline account; more are dropped and counted
//!
//! [service]
//! connect = { median = "2ms", p99 = "6ms" }   # handshake cost, held on one of the DC's slots
//! deliver = { median = "1ms", p99 = "3ms" }   # held on one of the DC's delivery slots
//!
//! [dcs.us]
//! max_connections = 20000       # connections held at once; handshakes over it get 503
//! accept_rate_per_s = 2000      # handshakes accepted per second (GCRA), burst accept_burst
//! accept_burst = 500
//! delivery_slots = 64           # messages in delivery at once; the rest wait in the fan-out queue
//! delivery_queue_limit = 100000 # messages allowed to wait; over it the sender is closed with 1013
//!
//! [[faults]]
//! at = "20s"                    # counted from when the server started serving
//! dc = "us"
//! action = "drop-connections"   # close every connection of the DC with 1001
//!
//! [[faults]]
//! at = "40s"
//! dc = "eu"
//! action = "restart"            # close every connection with 1001, then refuse handshakes with
//! for = "10s"                   # 503 + Retry-After for this long
//!
//! [[faults]]
//! at = "60s"
//! dc = "us"
//! action = "down"               # the whole DC is down: its connections close with 1001 and its
//! for = "30s"                   # regions go to its `failover` DC for this long (see `geo`)
//! ```

use std::time::Duration;

use toml::Spanned;

use super::raw::{RawDc, RawDist, RawFaultAction, RawPlan};
use super::validate::Validator;
use super::{DcPlan, ServiceTime, format_duration};
use crate::error::PlanError;

/// Messages kept per offline account unless the plan says `mailbox_limit`.
pub const DEFAULT_MAILBOX_LIMIT: usize = 1000;
const DEFAULT_MAX_CONNECTIONS: u32 = 100_000;
const DEFAULT_ACCEPT_RATE: f64 = 10_000.0;
const DEFAULT_ACCEPT_BURST: u32 = 1_000;
const DEFAULT_DELIVERY_SLOTS: u32 = 64;
const DEFAULT_DELIVERY_QUEUE_LIMIT: u32 = 100_000;
/// `connect` and `deliver` when `[service]` leaves them out: 1 ms median, 3 ms p99.
const DEFAULT_WS_SERVICE: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_millis(3));

/// One data centre's connection capacity and delivery slots.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WsPlan {
    pub max_connections: u32,
    pub accept_rate_per_s: f64,
    pub accept_burst: u32,
    pub handshake: ServiceTime,
    pub delivery_slots: u32,
    pub delivery_queue_limit: usize,
    pub deliver: ServiceTime,
}

impl WsPlan {
    /// The defaults, for the built-in one-region plan.
    pub fn fallback() -> WsPlan {
        let service = default_service();
        WsPlan {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            accept_rate_per_s: DEFAULT_ACCEPT_RATE,
            accept_burst: DEFAULT_ACCEPT_BURST,
            handshake: service,
            delivery_slots: DEFAULT_DELIVERY_SLOTS,
            delivery_queue_limit: DEFAULT_DELIVERY_QUEUE_LIMIT as usize,
            deliver: service,
        }
    }
}

fn default_service() -> ServiceTime {
    let (median, p99) = DEFAULT_WS_SERVICE;
    ServiceTime::new(median, p99).unwrap_or(ServiceTime {
        median: Duration::ZERO,
        p99: Duration::ZERO,
        sigma: 0.0,
    })
}

/// What a scheduled fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Close every WebSocket connection of the data centre with 1001 (going away).
    DropConnections,
    /// Close every connection with 1001, then refuse handshakes with 503 for `down_for`.
    Restart {
        /// How long the data centre refuses handshakes.
        down_for: Duration,
    },
    /// The whole data centre is down for `down_for`: its connections close with 1001 and its
    /// regions' requests and handshakes go to the next data centre of its failover chain (503 when
    /// the chain has none up).
    Down {
        /// How long the data centre is down.
        down_for: Duration,
    },
}

impl FaultAction {
    /// How long the data centre is out (refusing handshakes, or down), `None` for a drop.
    pub fn outage(self) -> Option<Duration> {
        match self {
            FaultAction::DropConnections => None,
            FaultAction::Restart { down_for } | FaultAction::Down { down_for } => Some(down_for),
        }
    }

    /// The action's name as written in a plan.
    pub fn name(self) -> &'static str {
        match self {
            FaultAction::DropConnections => "drop-connections",
            FaultAction::Restart { .. } => "restart",
            FaultAction::Down { .. } => "down",
        }
    }
}

/// One entry of the plan's `[[faults]]` schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// When it happens, counted from when the server started serving.
    pub at: Duration,
    /// The data centre it hits.
    pub dc: String,
    /// What happens.
    pub action: FaultAction,
    pub(crate) dc_index: usize,
}

impl Validator<'_> {
    /// `[service] connect` and `deliver`, or their defaults.
    pub(super) fn default_ws_service(&self, raw: &RawPlan) -> Result<[ServiceTime; 2], PlanError> {
        let connect = raw.service.connect.as_ref();
        let deliver = raw.service.deliver.as_ref();
        Ok([
            self.optional_dist("service.connect", connect, default_service())?,
            self.optional_dist("service.deliver", deliver, default_service())?,
        ])
    }

    fn optional_dist(
        &self,
        field: &str,
        dist: Option<&Spanned<RawDist>>,
        default: ServiceTime,
    ) -> Result<ServiceTime, PlanError> {
        dist.map_or(Ok(default), |d| self.dist(field, d))
    }

    /// A data centre's connection capacity and delivery slots.
    pub(super) fn ws_plan(
        &self,
        field: &str,
        dc: &RawDc,
        defaults: [ServiceTime; 2],
    ) -> Result<WsPlan, PlanError> {
        let over = dc.service.as_ref();
        let handshake = self.optional_dist(
            &format!("{field}.service.connect"),
            over.and_then(|o| o.connect.as_ref()),
            defaults[0],
        )?;
        let deliver = self.optional_dist(
            &format!("{field}.service.deliver"),
            over.and_then(|o| o.deliver.as_ref()),
            defaults[1],
        )?;
        let path = |name: &str| format!("{field}.{name}");
        let max_connections = self.at_least_one(&path("max_connections"), &dc.max_connections)?;
        let accept_burst = self.at_least_one(&path("accept_burst"), &dc.accept_burst)?;
        let delivery_slots = self.at_least_one(&path("delivery_slots"), &dc.delivery_slots)?;
        let queue = self.at_least_one(&path("delivery_queue_limit"), &dc.delivery_queue_limit)?;
        let accept_rate_per_s = match &dc.accept_rate_per_s {
            Some(rate) if !(rate.get_ref().is_finite() && *rate.get_ref() > 0.0) => {
                let path = format!("{field}.accept_rate_per_s");
                return Err(self.error(rate.span(), path, "must be a positive rate"));
            }
            Some(rate) => *rate.get_ref(),
            None => DEFAULT_ACCEPT_RATE,
        };
        Ok(WsPlan {
            max_connections: max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
            accept_rate_per_s,
            accept_burst: accept_burst.unwrap_or(DEFAULT_ACCEPT_BURST),
            handshake,
            delivery_slots: delivery_slots.unwrap_or(DEFAULT_DELIVERY_SLOTS),
            delivery_queue_limit: queue.unwrap_or(DEFAULT_DELIVERY_QUEUE_LIMIT) as usize,
            deliver,
        })
    }

    fn at_least_one(
        &self,
        path: &str,
        value: &Option<Spanned<u32>>,
    ) -> Result<Option<u32>, PlanError> {
        match value {
            Some(v) if *v.get_ref() == 0 => Err(self.error(v.span(), path, "must be at least 1")),
            Some(v) => Ok(Some(*v.get_ref())),
            None => Ok(None),
        }
    }

    /// The top-level `mailbox_limit`.
    pub(super) fn mailbox_limit(&self, raw: &RawPlan) -> Result<usize, PlanError> {
        Ok(self
            .at_least_one("mailbox_limit", &raw.mailbox_limit)?
            .map_or(DEFAULT_MAILBOX_LIMIT, |n| n as usize))
    }

    /// The `[[faults]]` schedule: known data centres, `for` exactly on restarts and downs, and no
    /// two outages (restart or down) of one data centre overlapping. Sorted by `at`.
    pub(super) fn faults(&self, raw: &RawPlan, dcs: &[DcPlan]) -> Result<Vec<Fault>, PlanError> {
        let mut out: Vec<(Fault, usize)> = Vec::new();
        for (i, spanned) in raw.faults.iter().enumerate() {
            let fault = spanned.get_ref();
            let field = format!("faults[{i}]");
            let dc_index = self.dc_index(dcs, &fault.dc, &format!("{field}.dc"))?;
            let action = match (*fault.action.get_ref(), &fault.down_for) {
                (RawFaultAction::DropConnections, None) => FaultAction::DropConnections,
                (RawFaultAction::DropConnections, Some(d)) => {
                    let message = "only `restart` and `down` take `for`";
                    return Err(self.error(d.span(), format!("{field}.for"), message));
                }
                (RawFaultAction::Restart | RawFaultAction::Down, None) => {
                    let message = "`restart` and `down` need `for`, e.g. for = \"10s\"";
                    return Err(self.error(fault.action.span(), format!("{field}.for"), message));
                }
                (_, Some(d)) if d.get_ref().0.is_zero() => {
                    return Err(self.error(d.span(), format!("{field}.for"), "must be positive"));
                }
                (RawFaultAction::Restart, Some(d)) => FaultAction::Restart {
                    down_for: d.get_ref().0,
                },
                (RawFaultAction::Down, Some(d)) => FaultAction::Down {
                    down_for: d.get_ref().0,
                },
            };
            let at = fault.at.get_ref().0;
            let dc = fault.dc.get_ref().clone();
            out.push((
                Fault {
                    at,
                    dc,
                    action,
                    dc_index,
                },
                spanned.span().start,
            ));
        }
        out.sort_by_key(|(f, _)| f.at);
        self.no_overlapping_outages(&out)?;
        Ok(out.into_iter().map(|(f, _)| f).collect())
    }

    fn no_overlapping_outages(&self, faults: &[(Fault, usize)]) -> Result<(), PlanError> {
        for (i, (later, start)) in faults.iter().enumerate() {
            if later.action.outage().is_none() {
                continue;
            }
            let earlier = faults[..i]
                .iter()
                .find_map(|(f, _)| match f.action.outage() {
                    Some(down_for)
                        if f.dc_index == later.dc_index && f.at + down_for > later.at =>
                    {
                        Some((f, down_for))
                    }
                    _ => None,
                });
            if let Some((f, down_for)) = earlier {
                let message = format!(
                    "{} of `{}` at {} overlaps the {} at {} that lasts {}",
                    later.action.name(),
                    later.dc,
                    format_duration(later.at),
                    f.action.name(),
                    format_duration(f.at),
                    format_duration(down_for)
                );
                return Err(self.error(*start..*start, "faults", message));
            }
        }
        Ok(())
    }
}
