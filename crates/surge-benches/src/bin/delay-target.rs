//! `delay-target --listen 127.0.0.1:0 --delay-ms 20 [--stall-after-s 10 --stall-s 1]`: the accuracy
//! benchmark's target. Prints `http://ADDR` on stdout once listening.

use std::io::Write;
use std::time::Duration;
use surge_benches::{DelayTarget, Stall};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let num = |name: &str, default: f64| match arg(name).map(|v| v.parse::<f64>()) {
        None => default,
        Some(Ok(v)) if v.is_finite() && v >= 0.0 => v,
        Some(_) => {
            eprintln!("delay-target: {name} needs a non-negative number");
            std::process::exit(2);
        }
    };
    let listen = arg("--listen").unwrap_or_else(|| "127.0.0.1:0".into());
    let delay = Duration::from_secs_f64(num("--delay-ms", 20.0) / 1000.0);
    let stall_s = num("--stall-s", 0.0);
    let stall = (stall_s > 0.0).then(|| Stall {
        after: Duration::from_secs_f64(num("--stall-after-s", 10.0)),
        length: Duration::from_secs_f64(stall_s),
    });
    let listener = match std::net::TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("delay-target: cannot listen on {listen}: {e}");
            std::process::exit(2);
        }
    };
    if let Ok(addr) = listener.local_addr() {
        println!("http://{addr}");
        let _ = std::io::stdout().flush();
    }
    DelayTarget { delay, stall }.serve(listener);
}
