//! The command line as the user typed it (clap), before anything is resolved against files or the
//! network.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// surge: rehearse a user-migration signup surge against a messaging backend.
#[derive(Debug, Parser)]
#[command(name = "surge", version, about, long_about = None, propagate_version = true, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a surge: start people on the profile's arrival curves and record their journeys.
    #[command(
        after_help = "Examples:\n  surge run profiles/quickstart.toml\n  surge run profiles/americas-surge.toml --plan profiles/plans/americas-underprovisioned.toml\n  surge run profiles/facebook-outage-2021.toml --scale 0.0001 --duration 5m --target http://127.0.0.1:8080\n  surge run profiles/quickstart.toml --json > summary.json\nExit codes: 0 every SLO held, 1 an SLO failed (or had no data, or a guard aborted), 2 usage, input or runtime error."
    )]
    Run(RunArgs),
    /// Run the reference messaging backend standalone.
    #[command(
        after_help = "Example:\n  surge target --plan profiles/plans/baseline.toml --listen 127.0.0.1:8080"
    )]
    Target(TargetArgs),
    /// Render report.html and report.md from a results folder (also one cut short).
    #[command(after_help = "Example:\n  surge report results/20261123T142501Z-quickstart")]
    Report(ReportArgs),
    /// Compare two runs (or two sets of repeats) per region and step.
    #[command(
        after_help = "Examples:\n  surge compare results/under results/doubled\n  surge compare results/under-repeats results/doubled-repeats --out results/plan-comparison"
    )]
    Compare(CompareArgs),
    /// Measure what one worker sustains for a profile's journey at its SLOs, and how many workers its
    /// peak needs per region.
    #[command(
        after_help = "Example:\n  surge calibrate profiles/quickstart.toml --target http://127.0.0.1:8080"
    )]
    Calibrate(CalibrateArgs),
    /// Search the largest steady arrival rate each region holds with every SLO met (capacity.json).
    #[command(
        after_help = "Examples:\n  surge capacity profiles/americas-surge.toml --plan profiles/plans/americas-underprovisioned.toml --region americas --out results/cap-under\n  surge capacity profiles/americas-surge.toml --target http://staging:8080 --up-to 400 --max-rps 2000\n  surge compare results/cap-under results/cap-doubled\n  SURGE_TOKEN=s3cret surge capacity profiles/americas-surge.toml --target http://staging:8080 --listen 0.0.0.0:7700 --workers 4\nthen on each worker machine (it stays for every probe, and exits 0 when the search is over):\n  surge worker --join http://COORDINATOR:7700 --token s3cret\n--repeat N runs each region's search N times and reports the spread; --workers, --max-rps, --plan,\n--target and the other run flags apply to every probe."
    )]
    Capacity(CapacityArgs),
    /// Inspect a profile without sending anything.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Distributed mode: wait for N workers, start them together, merge their figures, write results.
    #[command(
        after_help = "Examples:\n  surge coordinator profiles/quickstart.toml --workers 3 --token s3cret --target http://127.0.0.1:8080\n  SURGE_TOKEN=s3cret surge coordinator profiles/americas-surge.toml --listen 0.0.0.0:7700 --workers 4 --target http://target:8080\nthen on each worker machine:\n  surge worker --join http://COORDINATOR:7700 --token s3cret\nLive figures for Prometheus: http://COORDINATOR:7700/metrics"
    )]
    Coordinator(CoordinatorArgs),
    /// Distributed mode: join a coordinator and run the share of the surge it assigns.
    #[command(
        after_help = "Example:\n  surge worker --join http://127.0.0.1:7700 --token s3cret --threads 2\nThe worker needs no profile: the coordinator sends it. It stops all load and exits 2 when the\ncoordinator has not answered for 5 s."
    )]
    Worker(WorkerArgs),
    /// Write a new profile whose journey is spelled out and commented, to adapt to your own API.
    #[command(
        after_help = "Examples:\n  surge new my-api.toml\n  surge new --from matrix my-homeserver.toml\nAn existing file is never overwritten (exit 2)."
    )]
    New(NewArgs),
    /// Print a shell completion script on stdout.
    #[command(
        after_help = "Examples:\n  surge completions bash > ~/.local/share/bash-completion/completions/surge\n  surge completions zsh > ~/.zfunc/_surge\n  surge completions fish > ~/.config/fish/completions/surge.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout, or write one page per command into a folder.
    #[command(
        after_help = "Examples:\n  surge man > surge.1 && man -l surge.1\n  surge man --out man/"
    )]
    Man(ManArgs),
}

/// The exit codes, in `surge --help` and the man page.
pub const EXIT_CODES: &str = "Exit codes:\n  0  every SLO held\n  1  an SLO failed or had no data, or a guard aborted the run\n  2  usage, input or runtime error (bad profile, unreachable target, ...)\nFor scripts: `surge run PROFILE --json` prints the summary (summary.json) on stdout and nothing else;\n`--quiet` prints nothing but errors and warnings (on stderr).";

/// `surge new`
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The profile file to write (refused if it exists).
    pub file: PathBuf,
    /// The journey to start from.
    #[arg(long, value_enum, default_value = "reference")]
    pub from: Template,
}

/// The journeys `surge new` starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// Phone verification, registration and contact discovery (runs as written against the
    /// embedded reference backend); a WebSocket phase commented out.
    Reference,
    /// A Matrix homeserver: interactive-auth registration, user-directory search.
    Matrix,
    /// One GET looped by 50 people (closed model): raw throughput.
    Get,
}

impl Template {
    /// The name as typed after `--from`.
    pub fn name(self) -> &'static str {
        match self {
            Template::Reference => "reference",
            Template::Matrix => "matrix",
            Template::Get => "get",
        }
    }
}

/// `surge completions`
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// `surge man`
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write surge.1 and one page per command (surge-run.1, ...) into this folder instead.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `--json` and `--quiet`: output for scripts (the exit code is the same either way).
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct OutputArgs {
    /// Print the summary (the same JSON as the results' summary.json) on stdout and nothing else;
    /// progress and notes stay on stderr.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors and warnings (stderr): no table, no progress, no notes.
    #[arg(long)]
    pub quiet: bool,
}

impl OutputArgs {
    /// The table and the paths for people (neither `--json` nor `--quiet`).
    pub fn human(self) -> bool {
        !self.json && !self.quiet
    }
}

/// `surge coordinator`: every `run` flag, plus where to listen and the token.
#[derive(Debug, Args, Clone)]
pub struct CoordinatorArgs {
    /// Address to listen on for workers and `/metrics` (loopback unless told otherwise).
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub listen: std::net::SocketAddr,
    /// Shared token every worker must present (default: the SURGE_TOKEN environment variable).
    #[arg(long)]
    pub token: Option<String>,
    /// Serve workers over HTTPS with this PEM certificate chain (leaf first; needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// `region`: send each region's people only from the workers placed in it (`surge worker
    /// --region NAME` on a host in that region); a region without a worker is refused before anything
    /// is sent. Placement is recorded in run.json.
    #[arg(long, value_enum, default_value = "none")]
    pub placement: Placement,
    /// Profile, target and run flags, as for `run`; `--workers` is the number of workers to wait for.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Where each region's people are sent from in distributed mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Placement {
    /// Every worker sends people of every region.
    None,
    /// Each region's people leave only from the workers placed in it (`surge worker --region`).
    Region,
}

/// `surge worker`
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The coordinator's URL: http://HOST:PORT, or https://HOST:PORT when it has --tls-cert.
    #[arg(long)]
    pub join: String,
    /// Also trust the CA certificates of this PEM file for an https coordinator.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// The run's token (default: the SURGE_TOKEN environment variable).
    #[arg(long)]
    pub token: Option<String>,
    /// Engine threads (default one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// A name for results and logs (default: the host name).
    #[arg(long)]
    pub name: Option<String>,
    /// How long to keep trying to reach the coordinator before the run starts.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub join_timeout: Duration,
    /// The region(s) this worker's host is placed in, when the coordinator places people by region
    /// (`--placement region`); repeat or comma-separate for several.
    #[arg(long = "region", value_name = "NAME", value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Protocol version to announce (tests only).
    #[arg(long, hide = true)]
    pub protocol_version: Option<u32>,
}

/// `surge profile ...`
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Validate a profile and print its per-region arrival curve and peak rate.
    #[command(
        after_help = "Example:\n  surge profile show profiles/facebook-outage-2021.toml --scale 0.001 --duration 10m"
    )]
    Show(ShowArgs),
}

/// `surge profile show`
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The profile (TOML).
    pub profile: PathBuf,
    /// Scale and time-compression overrides, as for `run`.
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Rows in the table.
    #[arg(long, default_value_t = 12)]
    pub rows: usize,
}

impl RunArgs {
    /// The profile's path (empty before a `--resume` is resolved).
    pub fn profile(&self) -> &std::path::Path {
        self.profile.as_deref().unwrap_or(std::path::Path::new(""))
    }
}

/// Overrides of the profile's size and time.
#[derive(Debug, Args, Clone, Default)]
pub struct ShapeArgs {
    /// Replay length: the event's curve is compressed into this (e.g. 30s, 10m, 24h).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Population factor: 0.001 replays a 70 M event with 70,000 people.
    #[arg(long)]
    pub scale: Option<f64>,
    /// Seed of the population (same seed, same people, numbers and address books).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Snapshot interval.
    #[arg(long, value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Closed model: this many people loop their journey back to back (overrides the profile's model).
    #[arg(long)]
    pub concurrency: Option<u32>,
}

/// `surge run`
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The profile (TOML).
    #[arg(required_unless_present = "resume")]
    pub profile: Option<PathBuf>,
    /// Continue a run that was cut short (killed, host crashed) from its last complete interval, with
    /// the profile, seed and flags read back from its run.json; results append to the same folder.
    #[arg(long, value_name = "DIR", conflicts_with = "profile")]
    pub resume: Option<PathBuf>,
    /// Send the surge to this base URL instead of the embedded reference backend.
    #[arg(long)]
    pub target: Option<String>,
    /// Capacity plan of the embedded reference backend (default: the profile's, else baseline).
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Size and time overrides.
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// The results folder itself (default results/<UTC time>-<profile name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Safety cap on requests per second to the target, whatever the profile says (0 = none).
    #[arg(long, default_value_t = 0)]
    pub max_rps: u32,
    /// Hard cap on people in flight; arrivals beyond it wait (and the wait shows as latency). Default
    /// 50,000, held to what this process's open-file limit allows (said at start).
    #[arg(long)]
    pub max_in_flight: Option<usize>,
    /// Per-request timeout (overrides the profile's client timeout).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Workers: in-process threads for `run` (default one per core); for `coordinator`, how many
    /// remote workers to wait for (default 1).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Stop as soon as an SLO can no longer be met.
    #[arg(long)]
    pub abort_on_fail: bool,
    /// Stop when the error rate over the `--for` window exceeds this ratio (e.g. 0.5).
    #[arg(long)]
    pub abort_on_error_rate: Option<f64>,
    /// Window of `--abort-on-error-rate`.
    #[arg(long = "for", value_parser = parse_duration, default_value = "10s")]
    pub abort_window: Duration,
    /// Path probed before the run; the run does not start unless the target answers it.
    #[arg(long, default_value = "/healthz")]
    pub health_check: String,
    /// Start even if the target does not answer the health check.
    #[arg(long)]
    pub no_health_check: bool,
    /// Also trust the CA certificates of this PEM file for https targets (e.g. a staging CA).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Run the same plan N times (writes OUT/repeat-1 .. OUT/repeat-N) for `surge compare`.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Do not render report.html/report.md at the end.
    #[arg(long)]
    pub no_report: bool,
    /// How long in-flight people may finish after the last arrival.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub drain: Duration,
    /// Open-model pacing: `fine` (timerfd, ~100 µs send lag, more CPU) or `coarse` (tokio's 1 ms timer).
    #[arg(long, default_value = "fine")]
    pub pacing: surge_engine::Pacing,
    /// Client for plain-http HTTP/1.1 steps: `fast` (lean, the default) or `hyper` (hyper-util pool).
    #[arg(long, default_value = "fast")]
    pub http1: surge_engine::Http1Client,
    /// Bind connections to these local addresses in turn: a list and/or IPv4 ranges, e.g.
    /// `127.0.0.2-127.0.0.254` (more loopback addresses, more ephemeral ports). Each must be an address
    /// of this host (checked before anything is sent).
    #[arg(long, value_name = "ADDRS")]
    pub source_addresses: Option<String>,
    /// Serve live figures in Prometheus text format at http://ADDR/metrics while running (the
    /// coordinator always serves them on its own listener).
    #[arg(long)]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `--json`, `--quiet`.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Push the same live figures to this Prometheus remote-write URL every interval (e.g.
    /// http://127.0.0.1:9090/api/v1/write, Prometheus started with --web.enable-remote-write-receiver).
    /// Failed pushes are retried with backoff and counted, never fatal; the counts are printed at the end
    /// and written to events.jsonl. Series carry job="surge" and run="<results folder name>".
    #[arg(long, value_name = "URL")]
    pub prom_remote_write: Option<String>,
    /// Serve the live dashboard at http://ADDR/ while running (port 0: any free port; the URL is
    /// printed). On loopback it needs no token; on any other address every request needs the run's
    /// token, as ?token= or `Authorization: Bearer` (--dashboard-token, else the coordinator's
    /// --token, else a random one printed at start). `coordinator` also serves it on --listen.
    #[arg(long, value_name = "ADDR")]
    pub dashboard: Option<std::net::SocketAddr>,
    /// The token the dashboard requires off loopback.
    #[arg(long, value_name = "TOKEN")]
    pub dashboard_token: Option<String>,
    /// Keep serving the dashboard (and its report.html) this long after the run ends, so the page's
    /// link to the report works. Default: 5m when the page was opened during the run, else 0 (surge
    /// exits at once: nobody is waiting for the link). Ctrl-C or SIGTERM ends it sooner.
    #[arg(long, value_parser = parse_duration, value_name = "D")]
    pub dashboard_linger: Option<Duration>,
}

/// `surge target`
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Capacity plan (default: profiles/plans/baseline.toml, embedded).
    #[arg(long)]
    pub plan: Option<PathBuf>,
}

/// `surge report`
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A results folder.
    pub dir: PathBuf,
    /// `--json` (the summary, also of a folder cut short), `--quiet`.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `surge compare`
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Plan A: a results folder, or a folder of repeats.
    pub a: PathBuf,
    /// Plan B: a results folder, or a folder of repeats.
    pub b: PathBuf,
    /// Where to write compare.md and compare.html (default: B's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Compare even when A and B share no region and step (otherwise refused with exit 2).
    #[arg(long)]
    pub force: bool,
}

/// Parses "30s", "10m", "24h", "250ms".
pub fn parse_duration(s: &str) -> Result<Duration, surge_profile::duration::DurationError> {
    surge_profile::duration::parse(s)
}

/// `surge calibrate`
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The profile, target and overrides, as for `run`.
    #[command(flatten)]
    pub run: RunArgs,
    /// Length of each calibration step.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub step: Duration,
    /// Highest closed-model concurrency tried (doubling from 1).
    #[arg(long, default_value_t = 1024)]
    pub max_concurrency: u32,
}

/// `surge capacity`
#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// The profile, target and run flags, as for `run` (`--out` is the capacity folder, `--repeat`
    /// the searches per region).
    #[command(flatten)]
    pub run: RunArgs,
    /// Search this region (repeatable; default every region an SLO applies to).
    #[arg(long = "region", value_name = "R")]
    pub regions: Vec<String>,
    /// Length of each probe's steady arrivals.
    #[arg(long, value_parser = parse_duration, default_value = "15s")]
    pub probe: Duration,
    /// Stop when [last pass, first fail] is this narrow, relative to the last pass (`5%` or 0.05).
    #[arg(long, value_parser = parse_ratio, default_value = "5%")]
    pub precision: f64,
    /// Hard ceiling on the searched region's rate, journeys/s: never probed above.
    #[arg(long, value_name = "RATE")]
    pub up_to: Option<f64>,
    /// First probe's rate, journeys/s (default a quarter of the region's peak in the profile).
    #[arg(long, value_name = "RATE")]
    pub start: Option<f64>,
    /// What one worker sustains, journeys/s, as `surge calibrate` printed: probes beyond --workers of
    /// it are not sent, and the search says how many workers they need.
    #[arg(long, value_name = "RATE")]
    pub per_worker: Option<f64>,
    /// Through the coordinator: remote worker processes send every probe.
    #[command(flatten)]
    pub remote: CapacityRemoteArgs,
}

/// `surge capacity --listen`: the probes run through the coordinator, as `surge coordinator` runs.
#[derive(Debug, Args, Clone)]
pub struct CapacityRemoteArgs {
    /// Run every probe through the coordinator listening here: `--workers N` remote workers (`surge
    /// worker --join URL --token T`) send the probes; they join again after each probe and exit 0
    /// when the search is over. Port 0 picks a free port, printed, then kept for every probe.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// With --listen: the token every worker must present (default: the SURGE_TOKEN environment
    /// variable).
    #[arg(long, requires = "listen")]
    pub token: Option<String>,
    /// With --listen: serve workers over HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "listen"])]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// With --listen: `region` sends each region's people only from the workers placed in it (`surge
    /// worker --region NAME`), as for `coordinator`.
    #[arg(long, value_enum, default_value = "none")]
    pub placement: Placement,
}

/// Parses "5%" or "0.05".
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("`{s}` is not a ratio (e.g. 5% or 0.05)"))?;
    if v.is_finite() && v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!("`{s}` must be between 0 and 100%"))
    }
}
