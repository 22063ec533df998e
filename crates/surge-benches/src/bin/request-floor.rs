//! `request-floor --target 127.0.0.1:PORT --rate 20000 --seconds 30 [--grid-us 100] [--conns 1024]
//! [--threads 1]`: the host's floor for *paced requests*, as one JSON line on stdout.
//!
//! The timer floor (`timer-floor`) says how late a bare thread wakes; a pacer also sends and
//! receives, and on a VM those system calls and the cross-core wake-ups of the target they cause
//! cost more than the timer does. This is the least any paced HTTP/1.1 client can do on this host
//! against this target: a single thread with no runtime, no tasks, no recording beyond one number per
//! arrival, a periodic `timerfd` on the grid (`--grid-us`: 100 is `--pacing fine`'s grid, 1000 is as
//! often as tokio's timer, `--pacing coarse`), `epoll` over the timer and keep-alive connections, one
//! `write` per request and one `read` per readable connection. Arrivals are evenly spaced at `--rate`
//! (as `profiles/bench-open.toml` spaces them); each one is sent at the first wake-up at or after its
//! intended time on an idle connection (or as soon as one frees up), and its send lag is the time
//! from the intended start to the `write`, as surge records it.
//!
//! It prints send lag percentiles (µs), the threads' CPU per arrival over the schedule (user and
//! system, µs), and how many arrivals were sent before the schedule's end (`in_schedule`; the rest
//! went out late, after it). The pacing benchmark (bench/pacing.sh) runs it in every round next to surge, fine
//! and coarse: surge's CPU per arrival minus this is what surge itself costs; this one's fine minus
//! coarse is the least the finer grid costs on this host.
//!
//! `--threads N` splits the arrivals over N such threads (arrival i to thread i mod N), each with its
//! own connections: the floor at rates one core cannot carry.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use surge_benches::flags::Flags;

/// The request, as surge's fast client writes bench-open's `GET /` (host header, no body).
fn request(target: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nhost: {target}\r\n\r\n").into_bytes()
}

struct Args {
    target: String,
    rate: f64,
    seconds: f64,
    grid_ns: u64,
    conns: usize,
    threads: usize,
}

const USAGE: &str = "request-floor --target 127.0.0.1:PORT [--rate 20000] [--seconds 10] \
                     [--grid-us 100] [--conns 1024] [--threads 1]";

fn parse_args() -> Args {
    let f = Flags::from_env("request-floor", USAGE);
    let Some(target) = f.value("--target") else {
        f.fail("--target HOST:PORT is required")
    };
    let rate = f.number("--rate", 20_000.0, false);
    if rate > 2_000_000.0 {
        f.fail("--rate is at most 2,000,000 a second");
    }
    Args {
        target,
        rate,
        seconds: f.number("--seconds", 10.0, false),
        grid_ns: (f.number("--grid-us", 100.0, false) * 1e3) as u64,
        conns: f.number("--conns", 1024.0, false) as usize,
        threads: f.number("--threads", 1.0, false) as usize,
    }
}

/// What one thread measured.
#[derive(Default)]
struct Figures {
    /// Send lag of every arrival sent, ns.
    lags: Vec<u64>,
    arrivals: u64,
    /// Arrivals sent before the schedule's end (the rest were sent late, after it).
    in_schedule: u64,
    completed: u64,
    wakeups: u64,
    /// The thread's user and system CPU over the schedule (connecting excluded), ns.
    cpu: (u64, u64),
    error: Option<String>,
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn cpu_ns() -> (u64, u64) {
    // SAFETY: getrusage fills the struct; zeroed is a valid rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above, on the calling thread.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    (ns(ru.ru_utime), ns(ru.ru_stime))
}

fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// One connection: its socket and the bytes of the answer read so far.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    filled: usize,
}

/// Length of the complete answer at the start of `b`, if it is all there (head and `content-length` body).
fn answer_len(b: &[u8]) -> Option<usize> {
    let head = b.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = std::str::from_utf8(&b[..head]).ok()?;
    let body = text
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    (b.len() >= head + body).then_some(head + body)
}

/// Runs arrivals `first, first + step, ...` of an even schedule at `rate` from `start_ns`.
fn run_thread(a: &Args, first: u64, step: u64, start_ns: u64, total: u64) -> Figures {
    let mut f = Figures::default();
    let mut cpu0 = (0, 0);
    if let Err(e) = paced(a, first, step, start_ns, total, &mut f, &mut cpu0) {
        f.error = Some(e);
    }
    let cpu1 = cpu_ns();
    f.cpu = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1);
    f
}

fn paced(
    a: &Args,
    first: u64,
    step: u64,
    start_ns: u64,
    total: u64,
    f: &mut Figures,
    cpu0: &mut (u64, u64),
) -> Result<(), String> {
    let req = request(&a.target);
    let mut conns = Vec::with_capacity(a.conns);
    for _ in 0..a.conns {
        let s = TcpStream::connect(&a.target).map_err(|e| format!("connect {}: {e}", a.target))?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        conns.push(Conn {
            stream: s,
            buf: vec![0; 4096],
            filled: 0,
        });
    }
    // SAFETY: plain system calls on descriptors this function owns.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(os_err("epoll_create1"));
    }
    // SAFETY: as above.
    let tfd = unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_CLOEXEC | libc::TFD_NONBLOCK,
        )
    };
    if tfd < 0 {
        return Err(os_err("timerfd_create"));
    }
    let add = |fd: i32, key: u64| {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: key,
        };
        // SAFETY: registers a descriptor this function owns.
        (unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) } == 0)
            .then_some(())
            .ok_or_else(|| os_err("epoll_ctl"))
    };
    const TIMER: u64 = u64::MAX;
    add(tfd, TIMER)?;
    for (i, c) in conns.iter().enumerate() {
        add(c.stream.as_raw_fd(), i as u64)?;
    }
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: (a.grid_ns / 1_000_000_000) as i64,
            tv_nsec: (a.grid_ns % 1_000_000_000) as i64,
        },
        it_value: libc::timespec {
            tv_sec: (start_ns / 1_000_000_000) as i64,
            tv_nsec: (start_ns % 1_000_000_000) as i64,
        },
    };
    // SAFETY: arms the timer this function owns.
    if unsafe { libc::timerfd_settime(tfd, libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut()) }
        != 0
    {
        return Err(os_err("timerfd_settime"));
    }
    let period = 1e9 / a.rate;
    let intended = |i: u64| start_ns + (i as f64 * period) as u64;
    let mut idle: Vec<usize> = (0..conns.len()).rev().collect();
    let mut waiting: std::collections::VecDeque<u64> = std::collections::VecDeque::new();
    let mut next = first;
    let mut in_flight = 0u64;
    f.lags.reserve(((total - first) / step + 1) as usize);
    let end_ns = intended(total) + 2_000_000_000;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    *cpu0 = cpu_ns();
    let schedule_end = intended(total);
    let send = |c: &mut Conn, i: u64, f: &mut Figures| -> Result<(), String> {
        let now = monotonic_ns();
        f.lags.push(now.saturating_sub(intended(i)));
        f.in_schedule += u64::from(now <= schedule_end);
        match c.stream.write(&req) {
            Ok(n) if n == req.len() => Ok(()),
            Ok(n) => Err(format!("short write ({n} of {} bytes)", req.len())),
            Err(e) => Err(format!("write: {e}")),
        }
    };
    while (next < total || in_flight > 0 || !waiting.is_empty()) && monotonic_ns() < end_ns {
        // SAFETY: waits on this function's epoll into a buffer of the length given.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 100) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("epoll_wait: {e}"));
        }
        for ev in &events[..n as usize] {
            if ev.u64 == TIMER {
                let mut ticks = [0u8; 8];
                // SAFETY: reads the 8-byte expiration count of this function's timerfd.
                unsafe { libc::read(tfd, ticks.as_mut_ptr().cast(), 8) };
                f.wakeups += 1;
                let now = monotonic_ns();
                while next < total && intended(next) <= now {
                    f.arrivals += 1;
                    match idle.pop() {
                        Some(ci) => {
                            send(&mut conns[ci], next, f)?;
                            in_flight += 1;
                        }
                        None => waiting.push_back(next),
                    }
                    next += step;
                }
                continue;
            }
            let ci = ev.u64 as usize;
            let c = &mut conns[ci];
            loop {
                if c.filled == c.buf.len() {
                    return Err("an answer over 4 KiB".into());
                }
                match c.stream.read(&mut c.buf[c.filled..]) {
                    Ok(0) => return Err("the target closed a connection".into()),
                    Ok(k) => {
                        c.filled += k;
                        if c.filled < c.buf.len() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("read: {e}")),
                }
            }
            if let Some(len) = answer_len(&c.buf[..c.filled]) {
                if len != c.filled {
                    return Err("bytes after an answer (the target pipelined?)".into());
                }
                c.filled = 0;
                f.completed += 1;
                in_flight -= 1;
                match waiting.pop_front() {
                    Some(i) => {
                        send(c, i, f)?;
                        in_flight += 1;
                    }
                    None => idle.push(ci),
                }
            }
        }
    }
    // SAFETY: closes descriptors this function opened.
    unsafe {
        libc::close(tfd);
        libc::close(ep);
    }
    Ok(())
}

fn pct(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1e3
}

fn main() {
    let a = parse_args();
    let total = (a.rate * a.seconds) as u64;
    let threads = a.threads.max(1);
    // Every thread connects first; the schedule starts after they all should be ready.
    let start_ns =
        monotonic_ns() + 300_000_000 + 2_000_000 * a.conns as u64 * threads as u64 / 1024;
    let a = std::sync::Arc::new(a);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let a = a.clone();
            std::thread::spawn(move || run_thread(&a, t as u64, threads as u64, start_ns, total))
        })
        .collect();
    let mut all = Figures::default();
    for h in handles {
        match h.join() {
            Ok(f) => {
                all.lags.extend(f.lags);
                all.arrivals += f.arrivals;
                all.in_schedule += f.in_schedule;
                all.completed += f.completed;
                all.wakeups += f.wakeups;
                all.cpu = (all.cpu.0 + f.cpu.0, all.cpu.1 + f.cpu.1);
                all.error = all.error.or(f.error);
            }
            Err(_) => all.error = Some("a thread panicked".into()),
        }
    }
    let wall = (monotonic_ns().saturating_sub(start_ns)) as f64 / 1e9;
    if let Some(e) = &all.error {
        eprintln!("request-floor: {e}");
        std::process::exit(1);
    }
    all.lags.sort_unstable();
    let per = |ns: u64| ns as f64 / 1e3 / all.arrivals.max(1) as f64;
    println!(
        "{{\"grid_us\":{},\"rate\":{},\"seconds\":{},\"threads\":{threads},\"conns\":{},\"arrivals\":{},\
         \"in_schedule\":{},\"completed\":{},\"wakeups\":{},\"p50_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\"max_us\":{:.1},\
         \"cpu_us_per_arrival\":{:.2},\"user_us_per_arrival\":{:.2},\"sys_us_per_arrival\":{:.2},\"wall_s\":{:.2}}}",
        a.grid_ns / 1000,
        a.rate,
        a.seconds,
        a.conns,
        all.arrivals,
        all.in_schedule,
        all.completed,
        all.wakeups,
        pct(&all.lags, 0.50),
        pct(&all.lags, 0.99),
        pct(&all.lags, 0.999),
        all.lags.last().map_or(f64::NAN, |&v| v as f64 / 1e3),
        per(all.cpu.0 + all.cpu.1),
        per(all.cpu.0),
        per(all.cpu.1),
        wall,
    );
}
