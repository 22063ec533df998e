//! The plan's fault schedule, applied on tokio's clock: each fault's `at` counts from when the
//! server started serving (the backend's epoch, set just before it listens).

use std::sync::Arc;

use crate::backend::Backend;
use crate::plan::FaultAction;

/// Sleeps until each fault in turn and applies it; ends after the last.
pub(crate) async fn run(backend: Arc<Backend>) {
    for fault in backend.plan.faults() {
        tokio::time::sleep_until(backend.epoch() + fault.at).await;
        let dc = &backend.ws[fault.dc_index];
        tracing::info!(
            dc = fault.dc,
            action = ?fault.action,
            connections = dc.connections(),
            "fault"
        );
        let now = backend.now_ms();
        if let FaultAction::Down { down_for } = fault.action {
            // Down first, so that the connections closed below reconnect along the failover chain.
            backend.dcs[fault.dc_index].set_down(now, down_for);
        }
        dc.fault(now, fault.action.outage());
    }
}
