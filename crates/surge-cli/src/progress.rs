//! The live progress line (stderr, hidden when stderr is not a terminal) and colour policy.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use surge_coordinator::Progress;

/// Colour only on a terminal and without NO_COLOR.
pub fn color_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// A progress bar over the planned arrival time.
pub fn bar(total_secs: u64) -> ProgressBar {
    let pb = ProgressBar::new(total_secs.max(1));
    let style = ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len}s {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    pb
}

/// A progress bar over `total` and the callback that moves it, the same for `run` and `coordinator`;
/// hidden unless `visible` (`--quiet` hides it).
pub fn reporter(
    total: std::time::Duration,
    visible: bool,
) -> (ProgressBar, impl FnMut(&Progress) + Send + 'static) {
    let bar = if visible {
        bar(total.as_secs())
    } else {
        ProgressBar::hidden()
    };
    let moved = bar.clone();
    let on_progress = move |p: &Progress| {
        moved.set_position(p.elapsed.as_secs().min(p.total.as_secs()));
        moved.set_message(message(p));
    };
    (bar, on_progress)
}

/// Formats the figures shown on the line.
pub fn message(p: &Progress) -> String {
    format!(
        "started {} finished {} in flight {} rate {:.0}/s errors {}",
        thousands(p.started),
        thousands(p.finished),
        thousands(p.in_flight),
        p.rate,
        thousands(p.errors)
    )
}

pub use surge_report::thousands;
