//! The pre-flight check: a run never starts against a target that does not answer.

use std::time::Duration;

/// GETs `base + path` (http or https, trusting the run's `--tls-ca` when given) and returns the status,
/// or an error naming the peer and the cause.
pub async fn check(
    base: &str,
    path: &str,
    timeout: Duration,
    engine: &surge_engine::Engine,
) -> anyhow::Result<u16> {
    let url = format!("{}{}", base.trim_end_matches('/'), path);
    let client = surge_engine::http::HttpClients::for_engine(1, engine);
    match tokio::time::timeout(timeout, client.probe(&url)).await {
        Err(_) => anyhow::bail!("{url}: no answer within {timeout:?}"),
        Ok(r) => Ok(r?),
    }
}
