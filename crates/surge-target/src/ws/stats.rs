//! The connection side's metrics: the [`ConnStats`] snapshot and the Prometheus text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::dc::{Handshake, Outcome};
use crate::backend::Backend;

/// One data centre's connections in a [`crate::TargetStats`] snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// WebSocket connections held now (handshakes in progress included).
    pub connections: usize,
    /// The most connections held at once.
    pub peak_connections: usize,
    /// The plan's `max_connections`.
    pub max_connections: usize,
    /// Handshakes by result: `accepted`, `bad_request`, `unauthorized`, `down`, `rate_limited`,
    /// `over_capacity`, `overloaded`.
    pub handshakes: BTreeMap<String, u64>,
    /// Messages by outcome: `routed` (sent and acknowledged, counted where the sender is
    /// connected), `delivered`, `queued` (to a mailbox), `dropped`, `unknown_recipient`.
    pub messages: BTreeMap<String, u64>,
    /// Messages waiting for a delivery slot now.
    pub delivery_queue_depth: usize,
    /// Faults applied so far.
    pub faults: u64,
}

impl ConnStats {
    /// Handshakes with this result (0 for an unknown label).
    pub fn handshakes(&self, result: &str) -> u64 {
        self.handshakes.get(result).copied().unwrap_or(0)
    }

    /// Messages with this outcome (0 for an unknown label).
    pub fn messages(&self, outcome: &str) -> u64 {
        self.messages.get(outcome).copied().unwrap_or(0)
    }
}

impl Backend {
    /// The connection snapshot of every data centre.
    pub(crate) fn conn_stats(&self) -> BTreeMap<String, ConnStats> {
        let mut out = BTreeMap::new();
        for (dc, ws) in self.dcs.iter().zip(&self.ws) {
            let stats = ConnStats {
                connections: ws.connections(),
                peak_connections: ws.peak_connections(),
                max_connections: ws.max_connections(),
                handshakes: Handshake::ALL
                    .iter()
                    .map(|h| (h.label().to_owned(), ws.handshakes(*h)))
                    .collect(),
                messages: Outcome::ALL
                    .iter()
                    .map(|o| (o.label().to_owned(), ws.messages(*o)))
                    .collect(),
                delivery_queue_depth: ws.delivery_queue_depth(),
                faults: ws.faults(),
            };
            out.insert(dc.name.clone(), stats);
        }
        out
    }

    /// Appends the `surge_target_ws_*` metrics.
    pub(crate) fn render_ws(&self, out: &mut String) {
        type Gauge = fn(&super::WsDc) -> usize;
        let gauges: [(&str, &str, Gauge); 3] = [
            (
                "surge_target_ws_connections",
                "WebSocket connections held now.",
                |w| w.connections(),
            ),
            (
                "surge_target_ws_max_connections",
                "The plan's max_connections.",
                |w| w.max_connections(),
            ),
            (
                "surge_target_ws_delivery_queue_depth",
                "Messages waiting for a delivery slot.",
                |w| w.delivery_queue_depth(),
            ),
        ];
        for (name, help, value) in gauges {
            header(out, name, "gauge", help);
            for (dc, ws) in self.dcs.iter().zip(&self.ws) {
                let _ = writeln!(out, "{name}{{dc=\"{}\"}} {}", dc.name, value(ws));
            }
        }
        let name = "surge_target_ws_handshakes_total";
        header(out, name, "counter", "WebSocket handshakes by result.");
        for (dc, ws) in self.dcs.iter().zip(&self.ws) {
            for h in Handshake::ALL {
                let (label, n) = (h.label(), ws.handshakes(h));
                let _ = writeln!(out, "{name}{{dc=\"{}\",result=\"{label}\"}} {n}", dc.name);
            }
        }
        let name = "surge_target_ws_messages_total";
        header(
            out,
            name,
            "counter",
            "Messages routed, delivered, queued for offline recipients, dropped, or to unknown numbers.",
        );
        for (dc, ws) in self.dcs.iter().zip(&self.ws) {
            for o in Outcome::ALL {
                let (label, n) = (o.label(), ws.messages(o));
                let _ = writeln!(out, "{name}{{dc=\"{}\",outcome=\"{label}\"}} {n}", dc.name);
            }
        }
        let name = "surge_target_ws_faults_total";
        header(
            out,
            name,
            "counter",
            "Faults of the plan's schedule applied.",
        );
        for (dc, ws) in self.dcs.iter().zip(&self.ws) {
            let _ = writeln!(out, "{name}{{dc=\"{}\"}} {}", dc.name, ws.faults());
        }
        let name = "surge_target_ws_mailboxed";
        header(out, name, "gauge", "Messages waiting in offline mailboxes.");
        let _ = writeln!(out, "{name} {}", self.hub.mailboxed());
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}
