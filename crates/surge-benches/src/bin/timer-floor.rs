//! `timer-floor --seconds 10 --rate 20000 [--clock nanosleep|timerfd] [--bare] [--cpu-seconds 1]`:
//! the host's timer floor (see `surge_engine::floor`), as one JSON line on stdout: how late a thread
//! woke from absolute deadlines at that rate, in µs, and the probe thread's CPU per wake-up, then the share of the core a busy thread got
//! over `--cpu-seconds` (0 skips it). `--bare` leaves the thread without the fine pacer's scheduler
//! hints. The pacing benchmark (bench/run.sh) runs it in every round.

use std::time::Duration;
use surge_engine::floor::{FloorClock, cpu_share_probe, floor_probe, floor_probe_bare};

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
    let cpu_seconds = match arg("--cpu-seconds").map(|v| v.parse::<f64>()) {
        None => 1.0,
        Some(Ok(v)) if v.is_finite() && v >= 0.0 => v,
        Some(_) => usage("--cpu-seconds needs a non-negative number"),
    };
    let probe = if bare { floor_probe_bare } else { floor_probe };
    let share = match cpu_seconds > 0.0 {
        true => cpu_share_probe(Duration::from_secs_f64(cpu_seconds)).unwrap_or(f64::NAN),
        false => f64::NAN,
    };
    // JSON has no NaN: a share not measured is null.
    let share = if share.is_finite() {
        format!("{share:.3}")
    } else {
        "null".into()
    };
    match probe(Duration::from_secs_f64(seconds), rate, clock) {
        Ok(f) => println!(
            "{{\"clock\":\"{}\",\"hints\":\"{}\",\"rate\":{rate},\"seconds\":{seconds},\"wakeups\":{},\
             \"missed\":{},\"p50_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\"max_us\":{:.1},\
             \"cpu_us_per_wakeup\":{:.2},\"cpu_share\":{share}}}",
            clock.as_str(),
            f.hints.label(),
            f.wakeups,
            f.missed,
            f.p50_us,
            f.p99_us,
            f.p999_us,
            f.max_us,
            f.cpu_us_per_wakeup
        ),
        Err(e) => {
            eprintln!("timer-floor: {e}");
            std::process::exit(1);
        }
    }
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "timer-floor: {msg}\nusage: timer-floor --seconds 10 --rate 20000 [--clock nanosleep|timerfd] [--bare] [--cpu-seconds 1]"
    );
    std::process::exit(2);
}
