//! Output for scripts: `--json` (the summary on stdout, nothing else there) and `--quiet` (nothing but
//! errors and warnings). Human output (the table, the paths) is printed only without either.

use anyhow::Context as _;
use std::io::Write as _;

/// Prints a note on stderr unless `--quiet`: `note!(a.output, "surge: ...", args)`.
macro_rules! note {
    ($out:expr, $($arg:tt)*) => {
        if !$out.quiet {
            eprintln!($($arg)*);
        }
    };
}
pub(crate) use note;

/// Writes bytes to stdout; a closed pipe is an error (exit 2), never a panic.
pub(crate) fn stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

/// Prints the run's summary as JSON: `summary.json` as written (byte for byte), or for a folder cut
/// short (no summary.json) the summary rebuilt from its files, in the same form.
pub(crate) fn print_summary_json(data: &surge_results::RunData) -> anyhow::Result<()> {
    let path = data.dir.join(surge_results::files::SUMMARY);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut text = serde_json::to_string_pretty(&data.summary)
                .context("cannot serialise the summary")?;
            text.push('\n');
            text
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    stdout(text.as_bytes())
}
