//! `surge target`: the reference backend, standalone, until Ctrl-C.

use crate::args::TargetArgs;

pub async fn target(a: TargetArgs) -> anyhow::Result<i32> {
    let plan = match &a.plan {
        Some(p) => surge_target::CapacityPlan::load(p)
            .map_err(|e| anyhow::anyhow!("invalid capacity plan: {e}"))?,
        None => surge_target::CapacityPlan::baseline(),
    };
    let listening = surge_target::serve(a.listen, plan)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", a.listen))?;
    eprintln!(
        "surge target listening on {} (metrics: {}/metrics); Ctrl-C to stop",
        listening.url(),
        listening.url()
    );
    tokio::signal::ctrl_c().await?;
    listening.shutdown().await;
    Ok(crate::EXIT_OK)
}
