//! The `surge` binary: parse, set up tracing, run, exit with the command's code.

use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = surge_cli::args::Cli::parse();
    std::process::exit(surge_cli::execute(cli));
}
