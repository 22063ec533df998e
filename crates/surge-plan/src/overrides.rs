//! Command-line overrides resolved against the profile, each checked.

use std::time::Duration;

use surge_profile::{Load, Profile};

use crate::{LoadModel, Overrides, PlanError};

/// Profile values after overrides.
pub(crate) struct Resolved {
    pub scale: f64,
    pub population: u64,
    pub run_duration: Duration,
    pub interval: Duration,
    pub model: LoadModel,
    pub seed: u64,
}

fn bad(what: &'static str, value: impl ToString, rule: impl Into<String>) -> PlanError {
    PlanError::Override {
        what,
        value: value.to_string(),
        rule: rule.into(),
    }
}

/// Applies and checks the overrides.
pub(crate) fn resolve(profile: &Profile, ov: &Overrides) -> Result<Resolved, PlanError> {
    let scale = ov.scale.unwrap_or(profile.event.scale);
    if !scale.is_finite() || scale <= 0.0 {
        return Err(bad(
            "scale",
            scale,
            "must be a finite number greater than zero",
        ));
    }
    let n = (profile.event.population as f64 * scale).round();
    let max = surge_profile::validate::MAX_POPULATION as f64;
    if !(1.0..=max).contains(&n) {
        let rule = format!("population x scale = {n} must be between 1 and {max}");
        return Err(bad("scale", scale, rule));
    }
    let run_duration = ov.duration.unwrap_or(profile.event.replay);
    if run_duration < Duration::from_millis(100)
        || run_duration.as_secs_f64() > surge_profile::duration::MAX_SECS
    {
        return Err(bad(
            "duration",
            format!("{run_duration:?}"),
            "must be between 100ms and 10 years",
        ));
    }
    let interval = ov.interval.unwrap_or(profile.event.interval);
    if interval.is_zero() {
        return Err(bad("interval", "0", "must be longer than zero"));
    }
    let model = match (ov.concurrency, profile.load) {
        (Some(0), _) => return Err(bad("concurrency", 0, "must be at least 1")),
        (Some(c), _) => LoadModel::Closed { concurrency: c },
        (None, Load::Closed { concurrency }) => LoadModel::Closed { concurrency },
        (None, Load::Open) => LoadModel::Open,
    };
    let seed = ov.seed.unwrap_or(profile.seed);
    Ok(Resolved {
        scale,
        population: n as u64,
        run_duration,
        interval,
        model,
        seed,
    })
}

/// Every SLO that names a step names one of the journey's metric steps.
pub(crate) fn check_slo_steps(profile: &Profile, steps: &[String]) -> Result<(), PlanError> {
    for slo in &profile.slos {
        if let Some(step) = &slo.step
            && !steps.contains(step)
        {
            return Err(PlanError::UnknownStep {
                slo: slo.text.clone(),
                step: step.clone(),
                known: steps.join(", "),
            });
        }
    }
    Ok(())
}
