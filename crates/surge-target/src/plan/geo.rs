//! The geography of a plan: each region's round-trip time to each data centre, and the failover
//! chain a region's requests follow while its data centre is down.
//!
//! ```toml
//! [regions.americas]
//! sms_rate_per_s = 500
//! sms_burst = 100
//! rtt = { us = "40ms", eu = "120ms" }   # round trip from this region to each data centre
//! rtt_jitter = "4ms"                    # up to this much more per request, drawn uniformly
//!
//! [dcs.us]
//! regions = ["americas"]
//! failover = "eu"                       # while `us` is down (a `down` fault), its regions go here
//! ```
//!
//! The round trip is spent as network time: half before the request reaches its data centre's
//! queue, half after its answer leaves, holding no slot. WebSocket handshakes pay it the same way,
//! and each frame of a held connection one way of it (`ws/link.rs`). A region with an `rtt` table
//! must give the round trip to every data centre of its failover chain. A chain must end (no cycle)
//! and name only data centres of `[dcs]`; both are refused at load with the file and line.

use std::time::Duration;

use super::raw::RawPlan;
use super::validate::Validator;
use super::{DcPlan, RegionPlan, format_duration};
use crate::error::PlanError;

/// Longest round trip (or jitter) a plan may give: anything above is a typo, not a network.
const MAX_RTT: Duration = Duration::from_secs(60);

impl Validator<'_> {
    /// Sets each data centre's `failover` and each region's `rtt` and `rtt_jitter`. Regions and data
    /// centres are in the order of `[regions]` and `[dcs]` (alphabetical), as the validator built them.
    pub(super) fn geo(
        &self,
        raw: &RawPlan,
        regions: &mut [RegionPlan],
        dcs: &mut [DcPlan],
    ) -> Result<(), PlanError> {
        self.failovers(raw, dcs)?;
        for (region, (name, written)) in regions.iter_mut().zip(raw.regions.get_ref()) {
            let field = format!("regions.{}", name.get_ref());
            region.rtt = vec![Duration::ZERO; dcs.len()];
            if let Some(jitter) = &written.rtt_jitter {
                region.rtt_jitter = jitter.get_ref().0;
                if region.rtt_jitter > MAX_RTT {
                    let message = format!("must be at most {}", format_duration(MAX_RTT));
                    return Err(self.error(jitter.span(), format!("{field}.rtt_jitter"), message));
                }
            }
            let Some(rtt) = &written.rtt else { continue };
            for (dc_name, d) in rtt.get_ref() {
                let path = format!("{field}.rtt.{}", dc_name.get_ref());
                let dc = self.dc_index(dcs, dc_name, &path)?;
                if d.get_ref().0 > MAX_RTT {
                    let message = format!("must be at most {}", format_duration(MAX_RTT));
                    return Err(self.error(d.span(), path, message));
                }
                region.rtt[dc] = d.get_ref().0;
            }
            let chain = chain(dcs, region.dc);
            for &dc in &chain {
                if !rtt.get_ref().keys().any(|k| *k.get_ref() == dcs[dc].name) {
                    let names: Vec<&str> = chain.iter().map(|&i| dcs[i].name.as_str()).collect();
                    let message = format!(
                        "no round trip to `{}`, which serves this region (failover chain {})",
                        dcs[dc].name,
                        names.join(" -> ")
                    );
                    return Err(self.error(rtt.span(), format!("{field}.rtt"), message));
                }
            }
        }
        Ok(())
    }

    /// Each data centre's `failover`: a known data centre other than itself, and no cycle.
    fn failovers(&self, raw: &RawPlan, dcs: &mut [DcPlan]) -> Result<(), PlanError> {
        for (me, (name, dc)) in raw.dcs.get_ref().iter().enumerate() {
            let Some(next) = &dc.failover else { continue };
            let field = format!("dcs.{}.failover", name.get_ref());
            let target = self.dc_index(dcs, next, &field)?;
            if target == me {
                let message = "a data centre cannot fail over to itself";
                return Err(self.error(next.span(), &field, message));
            }
            dcs[me].failover = Some(target);
        }
        for start in 0..dcs.len() {
            let mut seen = vec![start];
            let mut at = start;
            while let Some(next) = dcs[at].failover {
                if next == start {
                    seen.push(next);
                    let names: Vec<&str> = seen.iter().map(|&i| dcs[i].name.as_str()).collect();
                    let message = format!(
                        "failover chain {} is a cycle: end it at a data centre without `failover`",
                        names.join(" -> ")
                    );
                    let span = raw
                        .dcs
                        .get_ref()
                        .values()
                        .nth(at)
                        .and_then(|d| d.failover.as_ref())
                        .map_or(0..0, |f| f.span());
                    let field = format!("dcs.{}.failover", dcs[at].name);
                    return Err(self.error(span, field, message));
                }
                if seen.contains(&next) {
                    break; // a cycle that does not pass through `start`: reported from one of its own
                }
                seen.push(next);
                at = next;
            }
        }
        Ok(())
    }
}

/// The data centres that can serve a region whose own is `home`, in failover order. The chains are
/// checked to have no cycle before this is called; the walk stops at a repeat anyway.
pub(crate) fn chain(dcs: &[DcPlan], home: usize) -> Vec<usize> {
    let mut out = vec![home];
    let mut at = home;
    while let Some(next) = dcs[at].failover {
        if out.contains(&next) {
            break;
        }
        out.push(next);
        at = next;
    }
    out
}
