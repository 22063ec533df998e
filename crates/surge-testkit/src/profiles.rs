//! Tiny profiles for tests: one region, a flat arrival rate, a one-step journey.

use std::path::{Path, PathBuf};

/// A one-step open-model profile: `people` arrive evenly over `seconds` in one region (`lab`), each
/// sending `GET /` (step and metric `get`) with the extra step fields `step` (TOML lines such as
/// `expect = 200` or `extract = { id = "/id" }`). SLO: error rate < 1%. Written to `dir/NAME.toml`.
///
/// # Panics
/// When the file cannot be written (a broken test machine).
pub fn one_step(dir: &Path, name: &str, people: u64, seconds: u64, step: &str) -> PathBuf {
    let text = one_step_text(name, people, seconds, step);
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// The text of [`one_step`]'s profile, for tests that parse it without a file.
pub fn one_step_text(name: &str, people: u64, seconds: u64, step: &str) -> String {
    format!(
        r#"name = "{name}"
seed = 1
slos = ["error rate < 1%"]

[event]
population = {people}
duration = "{seconds}s"
replay = "{seconds}s"
interval = "1s"

[[regions]]
name = "lab"
share = 1.0

[curve]
kind = "ramp"
up = "0s"
hold = "{seconds}s"
down = "0s"

[client]
timeout = "2s"
retry = "give-up"

[journey]
name = "one-step"

[[journey.steps]]
name = "get"
method = "GET"
path = "/"
{step}
"#
    )
}

/// [`one_step`] expecting `200`.
pub fn get(dir: &Path, name: &str, people: u64, seconds: u64) -> PathBuf {
    one_step(dir, name, people, seconds, "expect = 200")
}
