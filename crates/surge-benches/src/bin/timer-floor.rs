//! `timer-floor --seconds 10 --rate 20000 [--clock nanosleep|timerfd] [--bare]`: the host's timer
//! floor (see `surge_engine::floor`), as one JSON line on stdout: how late a thread woke from
//! absolute deadlines at that rate, in µs. `--bare` leaves the thread without the fine pacer's
//! scheduler hints. The pacing benchmark (bench/run.sh) runs it in every round.

use std::time::Duration;
use surge_engine::floor::{FloorClock, floor_probe, floor_probe_bare};

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
        Some(Ok(v)) if v.is_finite() && v > 0.0 => v,
        Some(_) => usage(&format!("{name} needs a positive number")),
    };
    let seconds = num("--seconds", 10.0);
    let rate = num("--rate", 20_000.0);
    let clock = match arg("--clock").as_deref() {
        None | Some("nanosleep") => FloorClock::Nanosleep,
        Some("timerfd") => FloorClock::Timerfd,
        Some(other) => usage(&format!("unknown --clock {other:?} (nanosleep or timerfd)")),
    };
    let bare = args.iter().any(|a| a == "--bare");
    let probe = if bare { floor_probe_bare } else { floor_probe };
    match probe(Duration::from_secs_f64(seconds), rate, clock) {
        Ok(f) => println!(
            "{{\"clock\":\"{}\",\"hints\":\"{}\",\"rate\":{rate},\"seconds\":{seconds},\"wakeups\":{},\
             \"missed\":{},\"p50_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\"max_us\":{:.1}}}",
            clock.as_str(),
            f.hints.label(),
            f.wakeups,
            f.missed,
            f.p50_us,
            f.p99_us,
            f.p999_us,
            f.max_us
        ),
        Err(e) => {
            eprintln!("timer-floor: {e}");
            std::process::exit(1);
        }
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("timer-floor: {msg}\nusage: timer-floor --seconds 10 --rate 20000 [--clock nanosleep|timerfd] [--bare]");
    std::process::exit(2);
}
