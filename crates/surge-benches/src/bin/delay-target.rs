//! `delay-target --listen 127.0.0.1:0 --delay-ms 20 [--stall-after-s 10 --stall-s 1]`: the accuracy
//! benchmark's target. Prints `http://ADDR` on stdout once listening.

use std::io::Write;
use std::time::Duration;
use surge_benches::flags::Flags;
use surge_benches::{DelayTarget, Stall};

fn main() {
    let f = Flags::from_env(
        "delay-target",
        "delay-target --listen 127.0.0.1:0 --delay-ms 20 [--stall-after-s 10 --stall-s 1]",
    );
    let num = |name: &str, default: f64| f.number(name, default, true);
    let listen = f.value("--listen").unwrap_or_else(|| "127.0.0.1:0".into());
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
