//! The `surge` binary: parse, set up tracing, run, exit with the command's code.

use clap::Parser;

fn main() {
    // Before any thread starts: fewer malloc arenas keep less freed memory per thread (see
    // surge_engine::memory).
    surge_engine::memory::limit_arenas();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal: logs in files, containers and CI stay plain text.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
    let cli = surge_cli::args::Cli::parse();
    std::process::exit(surge_cli::execute(cli));
}
