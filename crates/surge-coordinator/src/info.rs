//! What a run was, for `run.json`: built here once for `surge run`, `surge coordinator`, `surge
//! calibrate` and `surge capacity`, from the compiled plan and what the caller knows of the target.

use std::collections::BTreeMap;
use surge_plan::{LoadModel, Plan};
use surge_results::RunInfo;

/// What the caller knows of a run beyond its plan.
#[derive(Debug, Clone, Default)]
pub struct RunContext {
    /// The profile file as given.
    pub profile_path: String,
    /// The command line (redacted here: no token reaches run.json).
    pub args: Vec<String>,
    /// The target, as shown to people ("embedded reference backend (...)" or its URL).
    pub target_label: String,
    /// The embedded target's capacity plan, if any.
    pub capacity_plan: Option<String>,
    /// Crate -> version (surge's own and its main dependencies').
    pub versions: BTreeMap<String, String>,
    /// SHA-256 of the profile's text.
    pub profile_sha256: String,
    /// The working directory.
    pub cwd: String,
    /// The engine settings, by name.
    pub settings: BTreeMap<String, String>,
    /// This host's name.
    pub host: String,
}

/// `run.json`'s content for `plan` run by `workers` workers (named `local-0..`; remote runs rename
/// them as they join).
pub fn run_info(plan: &Plan, ctx: &RunContext, workers: usize) -> RunInfo {
    RunInfo {
        name: plan.name.clone(),
        profile_path: ctx.profile_path.clone(),
        started_at: String::new(),
        args: surge_results::redact_args(ctx.args.iter().cloned()),
        seed: plan.seed,
        scale: plan.scale,
        population: plan.population,
        run_duration_s: plan.run_duration.as_secs_f64(),
        interval_s: plan.interval.as_secs_f64(),
        target: ctx.target_label.clone(),
        plan: ctx.capacity_plan.clone(),
        workers: (0..workers).map(|i| format!("local-{i}")).collect(),
        regions: plan.regions.iter().map(|r| r.name.clone()).collect(),
        steps: plan.steps.clone(),
        slos: plan.slos.iter().map(|s| s.text.clone()).collect(),
        versions: ctx.versions.clone(),
        model: model_tag(plan),
        profile_sha256: ctx.profile_sha256.clone(),
        cwd: ctx.cwd.clone(),
        settings: ctx.settings.clone(),
        parts: vec![surge_results::RunPart {
            started_at: surge_results::rfc3339_utc(std::time::SystemTime::now()),
            first_interval: 0,
            host: ctx.host.clone(),
            surge_version: ctx.versions.get("surge").cloned().unwrap_or_default(),
        }],
        ..RunInfo::default()
    }
}

/// "open" or "closed(N)", as run.json says it.
pub fn model_tag(plan: &Plan) -> String {
    match plan.model {
        LoadModel::Open => "open".into(),
        LoadModel::Closed { concurrency } => format!("closed({concurrency})"),
    }
}

/// "open model" or "closed model, N concurrent", as people read it.
pub fn model_name(plan: &Plan) -> String {
    match plan.model {
        LoadModel::Open => "open model".into(),
        LoadModel::Closed { concurrency } => format!("closed model, {concurrency} concurrent"),
    }
}
