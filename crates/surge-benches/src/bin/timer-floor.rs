//! `timer-floor --seconds 10 --rate 20000 [--clock nanosleep|timerfd] [--bare] [--cpu-seconds 1]`:
//! the host's timer floor (see `surge_engine::floor`), as one JSON line on stdout: how late a thread
//! woke from absolute deadlines at that rate, in µs, and the probe thread's CPU per wake-up, then the share of the core a busy thread got
//! over `--cpu-seconds` (0 skips it). `--bare` leaves the thread without the fine pacer's scheduler
//! hints. The pacing benchmark (bench/run.sh) runs it in every round.

use std::time::Duration;
use surge_benches::flags::Flags;
use surge_engine::floor::{FloorClock, cpu_share_probe, floor_probe, floor_probe_bare};

const USAGE: &str =
    "timer-floor --seconds 10 --rate 20000 [--clock nanosleep|timerfd] [--bare] [--cpu-seconds 1]";

fn main() {
    let f = Flags::from_env("timer-floor", USAGE);
    let seconds = f.number("--seconds", 10.0, false);
    let rate = f.number("--rate", 20_000.0, false);
    let clock = match f.value("--clock").as_deref() {
        None | Some("nanosleep") => FloorClock::Nanosleep,
        Some("timerfd") => FloorClock::Timerfd,
        Some(other) => f.fail(&format!("unknown --clock {other:?} (nanosleep or timerfd)")),
    };
    let bare = f.has("--bare");
    let cpu_seconds = f.number("--cpu-seconds", 1.0, true);
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
