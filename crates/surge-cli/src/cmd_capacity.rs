//! `surge capacity`: validate everything (regions, SLOs, `--up-to` against the first probe), start
//! (or find) the target, then search each region's largest steady arrival rate with every SLO met
//! (the search lives in `surge_coordinator::capacity`), writing `capacity.json`, `capacity.html`,
//! `capacity.md` and one results folder per probe into the output folder.

use crate::args::CapacityArgs;
use crate::prepare;
use anyhow::Context as _;
use std::path::Path;
use surge_coordinator::Guards;
use surge_coordinator::capacity::{
    self as cap, Capacity, Event, Header, LocalProber, RemoteProbes, SearchInput,
};
use surge_results::capacity::{CapacityResult, CapacityStatus, SearchEnd};
use surge_wire::ProfileSource;

pub async fn capacity(a: CapacityArgs) -> anyhow::Result<i32> {
    // Phase 1: everything the user gave us is validated before any socket opens.
    let run = &a.run;
    anyhow::ensure!(
        run.resume.is_none(),
        "--resume does not apply to capacity (start a new search)"
    );
    anyhow::ensure!(
        run.shape.concurrency.is_none(),
        "--concurrency does not apply to capacity: every probe is an open-model run"
    );
    prepare::refuse_live_outlets(
        "capacity",
        run,
        "each probe is its own short run, kept as a results folder under --out; watch or export \
         a `surge run` at the rate the search found",
    )?;
    let profile = surge_profile::load(run.profile()).context("invalid profile")?;
    // Through the coordinator the workers hold the people: their descriptor budgets apply.
    let remote_args = &a.remote;
    let through = remote_args.listen;
    if through.is_none() {
        anyhow::ensure!(
            remote_args.placement == crate::args::Placement::None,
            "--placement needs --listen (the probes run through the coordinator)"
        );
    }
    let prep = prepare::prepare(run, through.is_none())?;
    let plan = &prep.plan;
    let input = SearchInput {
        regions: a.regions.clone(),
        start: a.start,
        up_to: a.up_to,
        precision: a.precision,
    };
    let searches = cap::resolve(plan, &input)
        .with_context(|| format!("cannot search {}", run.profile().display()))?;
    if let Some(p) = a.per_worker {
        anyhow::ensure!(
            p.is_finite() && p > 0.0,
            "--per-worker must be a positive rate, got {p}"
        );
    }
    let out = run.out.clone().unwrap_or_else(|| {
        surge_results::default_run_dir(Path::new("results"), &format!("{}-capacity", plan.name))
    });
    anyhow::ensure!(
        !out.exists() || std::fs::read_dir(&out).is_ok_and(|mut d| d.next().is_none()),
        "{} already exists and is not empty: choose another --out",
        out.display()
    );
    let workers = match through {
        // As `surge coordinator`: how many remote workers to wait for.
        Some(_) => run.workers.unwrap_or(1),
        None => run
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    };
    anyhow::ensure!(workers >= 1, "--workers must be at least 1");
    let remote = match through {
        Some(listen) => Some(remote_probes(&a, listen)?),
        None => None,
    };

    // Phase 2: the target.
    let target = prepare::start_target(run, &prep).await?;
    if target.embedded.is_some() && through.is_some_and(|l| !l.ip().is_loopback()) {
        eprintln!(
            "surge: warning: the embedded target listens on {} only; remote workers need --target",
            target.url
        );
    }
    if let Err(e) = prepare::health_check(run, &target, &prep.engine, None).await {
        target.shutdown().await;
        return Err(e);
    }
    let names: Vec<&str> = searches
        .iter()
        .map(|s| plan.regions[usize::from(s.region)].name.as_str())
        .collect();
    eprintln!(
        "surge capacity: {} against {}, region(s) {}, {} probes, precision {:.0}%, {} search(es) each, {} {}{}; results in {}",
        plan.name,
        target.label,
        names.join(", "),
        surge_profile::duration::format(a.probe),
        a.precision * 100.0,
        run.repeat,
        workers,
        if through.is_some() {
            "remote worker(s) through the coordinator"
        } else {
            "worker(s)"
        },
        a.up_to.map_or(String::new(), |u| format!(", up to {u}/s")),
        out.display()
    );

    // Phase 3: search; Ctrl-C stops the probe under way at once and keeps what was found.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal = tokio::spawn(async move {
        crate::cmd_coordinator::shutdown_signal().await;
        eprintln!("surge: interrupted: stopping the probe under way, keeping the probes so far");
        let _ = stop_tx.send(true);
    });
    let header = cap::header(
        plan,
        Header {
            target: target.label.clone(),
            capacity_plan: target.plan.clone(),
            probe: a.probe,
            precision: a.precision,
            repeat: run.repeat,
            up_to: a.up_to,
            workers,
        },
    );
    let mut prober = LocalProber {
        profile: &profile,
        overrides: crate::overrides(&run.shape),
        timeout: run.timeout,
        length: a.probe,
        target: target.url.clone(),
        context: prepare::context(run, &target),
        workers,
        max_rps: run.max_rps,
        max_in_flight: prep.max_in_flight,
        drain: run.drain,
        guards: Guards {
            abort_on_error_rate: run.abort_on_error_rate.map(|r| (r, run.abort_window)),
            abort_on_fail: run.abort_on_fail,
        },
        engine: prep.engine.clone(),
        out: out.clone(),
        seed: plan.seed,
        stop: stop_rx,
        count: 0,
        remote,
    };
    let c = Capacity {
        base: plan,
        searches,
        repeat: run.repeat,
        header,
        out: out.clone(),
        workers,
        per_worker: a.per_worker,
    };
    let result = cap::run_search(c, &mut prober, &mut print_event).await;
    signal.abort();
    if let Some(remote) = &prober.remote {
        // The workers join again after every probe: tell them the search is over (they exit 0).
        match remote.release(workers, "the capacity search is over").await {
            Ok(told) if told < workers => eprintln!(
                "surge: warning: {told} of {workers} worker(s) heard that the search is over; the others stop by themselves once their --join-timeout passes"
            ),
            Ok(_) => {}
            Err(e) => eprintln!("surge: warning: cannot tell the workers the search is over: {e}"),
        }
    }
    target.shutdown().await;
    let result = result?;
    finish(&out, &result, run.no_report)
}

fn print_event(e: Event<'_>) {
    match e {
        Event::Probe(region, p) => {
            let slos: Vec<String> = p
                .slos
                .iter()
                .filter(|s| s.applies)
                .map(|s| {
                    format!(
                        "{}: {}",
                        s.slo,
                        s.observed.map_or("no data".to_string(), |v| {
                            surge_report::slo_value_for(&s.slo, v)
                        })
                    )
                })
                .collect();
            eprintln!(
                "  {region:<10} {:>8.1}/s  {:<4}  {}  finished {}  errors {:.2}%{}",
                p.rate_per_s,
                if p.flagged.is_some() {
                    "SURGE FELL BEHIND"
                } else if p.pass {
                    "pass"
                } else {
                    "FAIL"
                },
                slos.join(", "),
                p.completed_ratio
                    .map_or("-".to_string(), |c| format!("{:.0}%", c * 100.0)),
                p.error_rate * 100.0,
                match (&p.flagged, p.completed_ratio) {
                    (Some(f), _) => format!(" ({f})"),
                    (None, Some(c)) if c < cap::probe::KEPT_UP => format!(
                        " (the target fell behind: backlog grew, under {:.0}% finished)",
                        cap::probe::KEPT_UP * 100.0
                    ),
                    _ => String::new(),
                }
            );
        }
        Event::Region(region, r) => eprintln!("  {region}: {}", r.note),
    }
}

/// Prints the table, writes the reports; the exit code: 0 when every region's search found its
/// answer (or held at the ceiling), 1 otherwise (interrupted, surge fell behind, nothing passed).
fn finish(out: &Path, result: &CapacityResult, no_report: bool) -> anyhow::Result<i32> {
    print!("{}", surge_report::capacity::capacity_table(result));
    if !no_report {
        let (html, md) = surge_report::capacity::write_capacity_reports(out, result)?;
        println!("report: {}\n        {}", html.display(), md.display());
    }
    println!(
        "capacity: {}",
        out.join(surge_results::capacity::CAPACITY).display()
    );
    let answered = result.status == CapacityStatus::Complete
        && result
            .regions
            .values()
            .all(|r| matches!(r.end, SearchEnd::Found | SearchEnd::Ceiling));
    Ok(if answered {
        crate::EXIT_OK
    } else {
        crate::EXIT_SLO_FAILED
    })
}

/// `--listen` (and its token, TLS, placement): the probes run through the coordinator.
fn remote_probes(a: &CapacityArgs, listen: std::net::SocketAddr) -> anyhow::Result<RemoteProbes> {
    let r = &a.remote;
    let token = crate::cmd_coordinator::token(r.token.clone())?;
    let text = std::fs::read_to_string(a.run.profile())
        .with_context(|| format!("invalid profile: cannot read {}", a.run.profile().display()))?;
    let mut p = RemoteProbes::new(
        listen,
        token,
        ProfileSource {
            text,
            origin: a.run.profile().display().to_string(),
        },
    );
    p.tls = match (&r.tls_cert, &r.tls_key) {
        (Some(cert), Some(key)) => Some(surge_coordinator::remote::server_tls(cert, key)?),
        _ => None,
    };
    p.by_region = r.placement == crate::args::Placement::Region;
    p.on_listen = Box::new(|url| {
        let ca = if url.starts_with("https") {
            " --tls-ca CA.pem"
        } else {
            ""
        };
        eprintln!(
            "surge capacity: coordinator listening on {url}; every probe waits for the workers: surge worker --join {url}{ca} --token ... (they stay for every probe)"
        );
    });
    // Joins are news for the first probe; after it the same workers come back for each probe.
    let mut first = true;
    p.on_join = Box::new(move |name, n, of| {
        if first {
            eprintln!("surge: worker {n}/{of} joined: {name}");
            first = n < of;
        }
    });
    Ok(p)
}
