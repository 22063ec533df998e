//! Why a profile could not be compiled into a plan.

use surge_profile::ProfileError;

/// A plan could not be compiled. All are permanent input errors (exit code 2 in the CLI).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The profile itself is invalid.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// A command-line override is out of range.
    #[error("invalid --{what} {value}: {rule}")]
    Override {
        /// Which override (`scale`, `duration`, ...).
        what: &'static str,
        /// The value given.
        value: String,
        /// The rule broken.
        rule: String,
    },
    /// An SLO names a step the journey does not have.
    #[error("slo {slo:?}: unknown step `{step}` (steps: {known})")]
    UnknownStep {
        /// The SLO as written.
        slo: String,
        /// The step it names.
        step: String,
        /// The journey's metric steps.
        known: String,
    },
    /// The journey could not be compiled.
    #[error("journey: {0}")]
    Journey(String),
    /// The arrival curve is degenerate.
    #[error("curve: {0}")]
    Curve(String),
}
