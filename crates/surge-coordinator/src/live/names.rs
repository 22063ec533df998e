//! The names of every series surge exports, in one place: `/metrics` and remote write render them, the
//! Grafana dashboard's test checks its queries against [`ALL`]. Prometheus conventions: `surge_` prefix,
//! base units in the name (`_seconds`, `_ratio`, `_per_second`), counters end in `_total`.

/// Index of the last merged interval (-1 before the first). Gauge.
pub const INTERVAL: &str = "surge_interval";
/// Planned run length (the arrival curves), seconds. Gauge.
pub const PLANNED_SECONDS: &str = "surge_planned_seconds";
/// Merged run time so far (intervals x interval length), seconds. Gauge.
pub const ELAPSED_SECONDS: &str = "surge_elapsed_seconds";
/// Arrivals the plan's curves intended up to the last merged interval, per region. Counter.
pub const ARRIVALS_INTENDED: &str = "surge_arrivals_intended_total";
/// Arrivals that really started (journeys started), per region. Counter.
pub const ARRIVALS_ACHIEVED: &str = "surge_arrivals_achieved_total";
/// Intended arrivals per second in the last interval, per region. Gauge.
pub const ARRIVALS_INTENDED_RATE: &str = "surge_arrivals_intended_per_second";
/// Achieved arrivals per second in the last interval, per region. Gauge.
pub const ARRIVALS_ACHIEVED_RATE: &str = "surge_arrivals_achieved_per_second";
/// Journeys ended, per region and result (`ok`, `failed`, `unfinished`). Counter.
pub const JOURNEYS_ENDED: &str = "surge_journeys_ended_total";
/// People in flight (started, not yet ended), per region. Gauge.
pub const IN_FLIGHT: &str = "surge_in_flight";
/// Steps finished, per region and step. Counter.
pub const STEPS: &str = "surge_steps_total";
/// Steps finished per second in the last interval, per region and step. Gauge.
pub const STEP_RATE: &str = "surge_steps_per_second";
/// Response time from the intended start in the last interval, per region, step and quantile
/// (0.5, 0.99). Gauge.
pub const STEP_RESPONSE: &str = "surge_step_response_seconds";
/// Service time from the last send in the last interval, per region, step and quantile. Gauge.
pub const STEP_SERVICE: &str = "surge_step_service_seconds";
/// Steps that ended in an error, per region, step and class (the `Outcome` names). Counter.
pub const STEP_ERRORS: &str = "surge_step_errors_total";
/// Retried attempts, per region, step and class. Counter.
pub const STEP_RETRIES: &str = "surge_step_retries_total";
/// Share of expected contacts found by discovery so far, per region. Gauge (0..1).
pub const DISCOVERY_COMPLETENESS: &str = "surge_discovery_completeness_ratio";
/// Share of sent messages delivered within the deadline so far, per region. Gauge (0..1).
pub const DELIVERY_COMPLETENESS: &str = "surge_delivery_completeness_ratio";
/// Connected WebSocket sessions open, per region. Gauge.
pub const CONNECTIONS: &str = "surge_connections";
/// Connections re-established, per region. Counter.
pub const RECONNECTS: &str = "surge_reconnects_total";
/// Messages sent in the connected phase, per region. Counter.
pub const MESSAGES_SENT: &str = "surge_messages_sent_total";
/// 1 while the SLO holds on the figures so far, else 0 (failed, or nothing measured yet), per `slo`.
pub const SLO_PASS: &str = "surge_slo_pass";
/// The SLO's observed value so far (the SLO's own unit: ms for percentiles, a ratio, or per second).
pub const SLO_OBSERVED: &str = "surge_slo_observed";
/// The SLO's threshold (same unit as [`SLO_OBSERVED`]).
pub const SLO_THRESHOLD: &str = "surge_slo_threshold";
/// Workers by state (`live`, `done`, `lost`). Gauge.
pub const WORKERS: &str = "surge_workers";
/// Send lag (the generator's own lateness) p99 in the last interval, seconds. Gauge.
pub const SEND_LAG_P99: &str = "surge_generator_send_lag_p99_seconds";
/// 1 when the generator was saturated in the last interval (send lag p99 above 10 ms, or requests
/// that failed on surge's own descriptors or ports), else 0. Gauge.
pub const GENERATOR_SATURATED: &str = "surge_generator_saturated";
/// 1 once the run has ended (every worker done or lost), else 0. Gauge.
pub const RUN_ENDED: &str = "surge_run_ended";

/// Every series name surge exports (the Grafana dashboard may name only these).
pub const ALL: &[&str] = &[
    INTERVAL,
    PLANNED_SECONDS,
    ELAPSED_SECONDS,
    ARRIVALS_INTENDED,
    ARRIVALS_ACHIEVED,
    ARRIVALS_INTENDED_RATE,
    ARRIVALS_ACHIEVED_RATE,
    JOURNEYS_ENDED,
    IN_FLIGHT,
    STEPS,
    STEP_RATE,
    STEP_RESPONSE,
    STEP_SERVICE,
    STEP_ERRORS,
    STEP_RETRIES,
    DISCOVERY_COMPLETENESS,
    DELIVERY_COMPLETENESS,
    CONNECTIONS,
    RECONNECTS,
    MESSAGES_SENT,
    SLO_PASS,
    SLO_OBSERVED,
    SLO_THRESHOLD,
    WORKERS,
    SEND_LAG_P99,
    GENERATOR_SATURATED,
    RUN_ENDED,
];
