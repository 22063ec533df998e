//! # surge-cli
//!
//! The `surge` command: parse (clap structs in [`args`]), validate the whole input before any socket
//! opens, call the library crates, print, and map the result to an exit code: 0 when every SLO held,
//! 1 when one failed (or a guard aborted the run), 2 for usage, input or runtime errors.
//! The clap structs live here so tests run commands in-process:
//!
//! ```no_run
//! use clap::Parser;
//! let cli = surge_cli::args::Cli::parse_from(["surge", "profile", "show", "profiles/quickstart.toml"]);
//! let code = surge_cli::execute(cli);
//! assert_eq!(code, 0);
//! ```
#![warn(missing_docs)]

pub mod args;
mod cmd_calibrate;
mod cmd_capacity;
mod cmd_completions;
mod cmd_coordinator;
mod cmd_new;
mod cmd_run;
mod cmd_target;
mod cmd_worker;
mod dashboard;
mod health;
mod output;
mod prepare;
mod progress;
mod push;
mod resume;

use anyhow::Context as _;
use args::{Cli, Command, ProfileCommand};
use std::path::Path;

/// Exit code: every SLO held.
pub const EXIT_OK: i32 = 0;
/// Exit code: an SLO failed, or a guard aborted the run.
pub const EXIT_SLO_FAILED: i32 = 1;
/// Exit code: usage, input or runtime error.
pub const EXIT_ERROR: i32 = 2;

/// Runs one command to completion and returns the process exit code. Errors are printed to stderr.
pub fn execute(cli: Cli) -> i32 {
    let result = match cli.command {
        Command::Run(a) => runtime().and_then(|rt| rt.block_on(cmd_run::run(a))),
        Command::Target(a) => runtime().and_then(|rt| rt.block_on(cmd_target::target(a))),
        Command::Report(a) => report(&a),
        Command::Compare(a) => compare(&a),
        Command::Profile(ProfileCommand::Show(a)) => show(&a),
        Command::Coordinator(a) => {
            runtime().and_then(|rt| rt.block_on(cmd_coordinator::coordinator(a)))
        }
        Command::Calibrate(a) => runtime().and_then(|rt| rt.block_on(cmd_calibrate::calibrate(a))),
        Command::Capacity(a) => runtime().and_then(|rt| rt.block_on(cmd_capacity::capacity(a))),
        Command::Worker(a) => runtime().and_then(|rt| rt.block_on(cmd_worker::worker(a))),
        Command::New(a) => cmd_new::new(&a),
        Command::Completions(a) => cmd_completions::completions(&a),
        Command::Man(a) => cmd_completions::man(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_ERROR
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Loads and compiles a profile with overrides; errors carry file, line, column and field.
pub fn load_plan(path: &Path, shape: &args::ShapeArgs) -> anyhow::Result<surge_plan::Plan> {
    let profile = surge_profile::load(path).context("invalid profile")?;
    surge_plan::Plan::compile(&profile, &overrides(shape))
        .map_err(|e| anyhow::anyhow!("invalid profile {}: {e}", path.display()))
}

/// The plan overrides of the size and time flags.
pub(crate) fn overrides(shape: &args::ShapeArgs) -> surge_plan::Overrides {
    surge_plan::Overrides {
        scale: shape.scale,
        duration: shape.duration,
        seed: shape.seed,
        interval: shape.interval,
        concurrency: shape.concurrency,
    }
}

fn show(a: &args::ShowArgs) -> anyhow::Result<i32> {
    let plan = load_plan(&a.profile, &a.shape)?;
    println!("{}", plan.curve_table(a.rows.max(2)));
    Ok(EXIT_OK)
}

fn report(a: &args::ReportArgs) -> anyhow::Result<i32> {
    let data = surge_results::RunData::read(&a.dir)?;
    for problem in data.tally_problems() {
        eprintln!("surge: warning: tally does not hold: {problem}");
    }
    let (html, md) = surge_report::write_reports(&data)?;
    if a.output.json {
        output::print_summary_json(&data)?;
    } else if !a.output.quiet {
        let table = surge_report::terminal_table(&data, progress::color_wanted());
        println!("{table}");
        println!("report: {}\n        {}", html.display(), md.display());
    }
    Ok(EXIT_OK)
}

/// Reads one run, or every run in a folder of repeats.
fn read_runs(dir: &Path) -> anyhow::Result<Vec<surge_results::RunData>> {
    Ok(surge_results::RunData::read_runs(dir)?)
}

/// The host name (container id in docker, pod name in Kubernetes), else "worker".
pub(crate) fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "worker".into())
}

/// Crate -> version of this build (surge's and its main dependencies', from Cargo.lock), for run.json.
pub(crate) fn versions() -> std::collections::BTreeMap<String, String> {
    let mut versions = std::collections::BTreeMap::new();
    versions.insert("surge".to_string(), env!("CARGO_PKG_VERSION").to_string());
    for kv in env!("SURGE_DEP_VERSIONS")
        .split(';')
        .filter(|s| !s.is_empty())
    {
        if let Some((k, v)) = kv.split_once('=') {
            versions.insert(k.to_string(), v.to_string());
        }
    }
    versions
}

fn compare(a: &args::CompareArgs) -> anyhow::Result<i32> {
    use surge_results::CapacityResult;
    match (
        CapacityResult::is_capacity_dir(&a.a),
        CapacityResult::is_capacity_dir(&a.b),
    ) {
        (true, true) => {
            let (ca, cb) = (CapacityResult::read(&a.a)?, CapacityResult::read(&a.b)?);
            print!("{}", surge_report::capacity::compare_capacity(&ca, &cb));
            return Ok(EXIT_OK);
        }
        (false, false) => {}
        _ => anyhow::bail!(
            "cannot compare a capacity search with a run: give two `surge capacity` folders or two runs"
        ),
    }
    let (ra, rb) = (read_runs(&a.a)?, read_runs(&a.b)?);
    let cmp = surge_report::compare(&ra, &rb);
    if let Some(why) = cmp.unrelated() {
        if !a.force {
            eprintln!(
                "surge: refusing to compare {} with {}: {why}; pass --force to compare anyway",
                a.a.display(),
                a.b.display()
            );
            return Ok(EXIT_ERROR);
        }
        eprintln!("surge: warning: {why} (compared anyway: --force)");
    }
    println!("{}", cmp.to_terminal());
    let out = a.out.clone().unwrap_or_else(|| a.b.clone());
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("compare.md"), cmp.to_markdown())?;
    std::fs::write(out.join("compare.html"), cmp.to_html())?;
    println!(
        "comparison: {}\n            {}",
        out.join("compare.html").display(),
        out.join("compare.md").display()
    );
    Ok(EXIT_OK)
}
