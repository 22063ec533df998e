//! `--resume DIR`: the flags of the run being resumed, read back from its run.json (the command line it
//! was started with, relative paths resolved against the folder it ran in), and the point it continues
//! from. A changed profile, another surge version or a folder that is not cut short is refused.

use crate::args::{Cli, Command, RunArgs};
use anyhow::Context as _;
use clap::Parser as _;
use std::path::{Path, PathBuf};
use surge_results::{ResumePoint, RunInfo};

/// `a` itself when it does not resume; else the resumed run's flags (writing into DIR) and its point.
pub(crate) fn resolve(a: RunArgs) -> anyhow::Result<(RunArgs, Option<ResumePoint>)> {
    let Some(dir) = a.resume.clone() else {
        return Ok((a, None));
    };
    let info_path = dir.join(surge_results::files::RUN);
    let text = std::fs::read_to_string(&info_path)
        .with_context(|| format!("--resume: cannot read {}", info_path.display()))?;
    let info: RunInfo = serde_json::from_str(&text)
        .with_context(|| format!("--resume: {} is not a run.json", info_path.display()))?;
    let mut then = original_args(&info)
        .with_context(|| format!("--resume: the command line in {}", info_path.display()))?;
    let cwd = PathBuf::from(&info.cwd);
    let at = |p: &Path| {
        if p.is_relative() {
            cwd.join(p)
        } else {
            p.to_path_buf()
        }
    };
    then.profile = then.profile.as_deref().map(at);
    then.plan = then.plan.as_deref().map(at);
    then.tls_ca = then.tls_ca.as_deref().map(at);
    then.out = Some(dir.clone());
    // How to print is this command's choice, not the resumed run's.
    then.output = a.output;
    then.resume = Some(dir.clone());
    anyhow::ensure!(
        then.repeat == 1,
        "--resume: a run of --repeat cannot be resumed; resume each repeat folder"
    );
    let profile_text = std::fs::read_to_string(then.profile()).with_context(|| {
        format!(
            "--resume: cannot read the profile {}",
            then.profile().display()
        )
    })?;
    let point = surge_results::check_resumable(&dir, &profile_text, env!("CARGO_PKG_VERSION"))?;
    Ok((then, Some(point)))
}

/// The run or coordinator flags the run was started with.
fn original_args(info: &RunInfo) -> anyhow::Result<RunArgs> {
    let cli = Cli::try_parse_from(&info.args).map_err(|e| anyhow::anyhow!("{e}"))?;
    match cli.command {
        Command::Run(a) => Ok(a),
        Command::Coordinator(c) => Ok(c.run),
        _ => anyhow::bail!("not the command line of `surge run` or `surge coordinator`"),
    }
}
