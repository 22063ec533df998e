//! How many connections a run with a connected phase holds at once, from the plan alone: every
//! arrival stays connected for its dwell (cut at the run's end), so the number open at time `t` is
//! `sum over earlier arrivals of P(dwell > t - arrival)` (Little's law over the arrival curve). surge
//! checks it against the process's descriptors before sending.

use std::time::Duration;

use crate::Plan;

/// Time cells the estimate walks (over the run).
const CELLS: usize = 400;

impl Plan {
    /// Expected most connections open at once over the run, and when; `None` without a connected
    /// phase. The journey's HTTP steps before connecting are not counted (they shift the curve a
    /// little later, which never raises its peak).
    pub fn peak_connections(&self) -> Option<(f64, Duration)> {
        let c = self.journey.connect.as_ref()?;
        let run = self.run_duration.as_secs_f64();
        if run <= 0.0 {
            return Some((0.0, Duration::ZERO));
        }
        let w = run / CELLS as f64;
        let at = |k: usize| Duration::from_secs_f64(k as f64 * w);
        let arrivals: Vec<f64> = (0..CELLS)
            .map(|k| self.intended_total(at(k), at(k + 1)))
            .collect();
        // Survival by age in cells (the same for every arrival cell).
        let survival: Vec<f64> = (0..CELLS)
            .map(|age| c.dwell.survival((age as f64 + 0.5) * w))
            .collect();
        let mut best = (0.0, 0usize);
        for j in 0..CELLS {
            let open: f64 = (0..=j).map(|k| arrivals[k] * survival[j - k]).sum();
            if open > best.0 {
                best = (open, j + 1);
            }
        }
        Some((best.0, at(best.1)))
    }
}
