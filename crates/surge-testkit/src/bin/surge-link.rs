//! `surge-link`: the user-space link emulator as a process, for the namespaced-hosts benchmark
//! (`bench/hosts-test.sh`). Test tooling, not part of the product.
//!
//! ```text
//! surge-link LISTEN UPSTREAM [--delay 20ms] [--jitter 2ms] [--seed N]
//! ```
//!
//! Relays every TCP connection accepted on LISTEN to UPSTREAM, holding each chunk for `delay` (+-
//! `jitter`) in each direction. Runs until killed; killing it cuts the link.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;
use surge_testkit::link::{Link, LinkSpec, parse_duration};

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "surge-link: {problem}\nusage: surge-link LISTEN UPSTREAM [--delay 20ms] [--jitter 2ms] [--seed N]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut positional = Vec::new();
    let mut spec = LinkSpec {
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        seed: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let parsed = match arg.as_str() {
            "--delay" => value("--delay").and_then(|v| parse_duration(&v).map(|d| spec.delay = d)),
            "--jitter" => {
                value("--jitter").and_then(|v| parse_duration(&v).map(|d| spec.jitter = d))
            }
            "--seed" => value("--seed").and_then(|v| {
                v.parse()
                    .map(|s| spec.seed = s)
                    .map_err(|_| format!("--seed `{v}` is not a whole number"))
            }),
            "-h" | "--help" => return usage("relays TCP with a delay"),
            _ if arg.starts_with("--") => Err(format!("unknown option {arg}")),
            _ => {
                positional.push(arg);
                Ok(())
            }
        };
        if let Err(problem) = parsed {
            return usage(&problem);
        }
    }
    let [listen, upstream] = positional.as_slice() else {
        return usage("needs LISTEN and UPSTREAM addresses");
    };
    let (listen, upstream): (SocketAddr, SocketAddr) = match (listen.parse(), upstream.parse()) {
        (Ok(l), Ok(u)) => (l, u),
        _ => {
            return usage(&format!(
                "`{listen}` and `{upstream}` must be IP:PORT addresses"
            ));
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("surge-link: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match Link::start(listen, upstream, spec).await {
            Ok(link) => {
                eprintln!(
                    "surge-link: {} -> {upstream}, delay {:?} +- {:?} each way",
                    link.addr(),
                    spec.delay,
                    spec.jitter
                );
                std::future::pending::<()>().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("surge-link: cannot listen on {listen}: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
