//! Engine settings are one typed value per run, not process-global: two runs with different pacing and
//! HTTP/1.1 clients run at the same time in one process, and each records its own settings.

use std::sync::Arc;
use std::time::Duration;
use surge_coordinator::{Guards, RunConfig, RunContext, run_info, run_local};
use surge_engine::{Engine, EngineConfig, Http1Client, Pacing};
use surge_testkit::{Fault, FaultServer, repo_root};

fn config(url: &str, out: std::path::PathBuf, engine: EngineConfig) -> RunConfig {
    let shape = surge_cli::args::ShapeArgs {
        scale: Some(0.001),
        duration: Some(Duration::from_secs(2)),
        ..Default::default()
    };
    let plan = Arc::new(
        surge_cli::load_plan(&repo_root().join("profiles/bench-open.toml"), &shape).unwrap(),
    );
    let mut settings = std::collections::BTreeMap::new();
    settings.insert("pacing".into(), engine.pacing.as_str().into());
    settings.insert("http1".into(), engine.http1.as_str().into());
    let ctx = RunContext {
        settings,
        ..RunContext::default()
    };
    RunConfig {
        info: run_info(&plan, &ctx, 1),
        plan,
        target: url.to_string(),
        workers: 1,
        out_dir: out,
        slos: Vec::new(),
        guards: Guards::default(),
        max_rps: 0,
        max_in_flight: 1_000,
        drain: Duration::from_secs(2),
        live: None,
        engine: Engine::new(engine).unwrap(),
        resume: None,
    }
}

#[test]
fn two_runs_with_different_engine_settings_share_one_process() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let server = FaultServer::start(Fault::Fixed(200, "{}")).await;
        let fine_fast = config(&server.url(), tmp.path().join("a"), EngineConfig::default());
        let coarse_hyper = config(
            &server.url(),
            tmp.path().join("b"),
            EngineConfig {
                pacing: Pacing::Coarse,
                http1: Http1Client::Hyper,
                ..EngineConfig::default()
            },
        );
        let (mut pa, mut pb) = (
            |_: &surge_coordinator::Progress| {},
            |_: &surge_coordinator::Progress| {},
        );
        let (a, b) = tokio::join!(
            run_local(fine_fast, &mut pa, std::future::pending()),
            run_local(coarse_hyper, &mut pb, std::future::pending()),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        for (o, pacing, http1) in [(&a, "fine", "fast"), (&b, "coarse", "hyper")] {
            let s = &o.summary;
            assert!(s.totals.count > 0 && s.totals.errors == 0, "{s:?}");
            let info = surge_results::RunData::read(&o.dir).unwrap().info;
            assert_eq!(info.settings["pacing"], pacing);
            assert_eq!(info.settings["http1"], http1);
        }
        // Both ran at the same time against one server: it saw both runs' requests.
        assert_eq!(
            server.requests(),
            a.summary.totals.count + b.summary.totals.count
        );
    });
}
