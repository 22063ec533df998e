//! `surge target`: the reference backend, standalone, until Ctrl-C.

use crate::args::TargetArgs;
use anyhow::Context as _;

pub async fn target(a: TargetArgs) -> anyhow::Result<i32> {
    let plan = match &a.plan {
        Some(p) => surge_target::CapacityPlan::load(p).context("invalid capacity plan")?,
        None => surge_target::CapacityPlan::baseline(),
    };
    let listening = surge_target::serve(a.listen, plan).await?;
    eprintln!(
        "surge target listening on {} (metrics: {}/metrics); Ctrl-C to stop",
        listening.url(),
        listening.url()
    );
    tokio::signal::ctrl_c().await?;
    listening.shutdown().await;
    Ok(crate::EXIT_OK)
}
