//! Measures what registered accounts cost in memory: inserts N accounts (default 10 million) into
//! the same sharded table the server uses and reports resident memory per account.
//!
//! ```text
//! cargo run --release -p surge-target --example accounts_memory -- 10000000
//! ```
// Measures real elapsed time: std's clock is meant.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use surge_target::Accounts;

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn main() {
    let n: u64 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 10_000_000,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("usage: accounts_memory [ACCOUNTS]");
            std::process::exit(2);
        }
    };
    let before = rss_bytes().unwrap_or(0);
    let started = Instant::now();
    let accounts = Accounts::new();
    for i in 0..n {
        // The hashes of distinct E.164 numbers, as the server computes them.
        let hash = surge_target::discovery_hash(&format!("+1{:010}", 2_000_000_000 + i));
        if accounts.register(hash, 0).is_err() {
            eprintln!("64-bit hash collision at {i} (expected about never)");
        }
    }
    let elapsed = started.elapsed();
    let after = rss_bytes().unwrap_or(0);
    let rss_per = after.saturating_sub(before) as f64 / n.max(1) as f64;
    let table_per = accounts.heap_bytes() as f64 / n.max(1) as f64;
    println!("accounts:           {}", accounts.len());
    println!(
        "insert time:        {:.2} s ({:.0} ns/account)",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / n.max(1) as f64
    );
    println!(
        "RSS growth:         {:.1} MiB",
        after.saturating_sub(before) as f64 / 1048576.0
    );
    println!("RSS per account:    {rss_per:.1} bytes");
    println!("table per account:  {table_per:.1} bytes (estimate from capacity)");
    println!("10 M accounts need: ~{:.0} MiB", rss_per * 1e7 / 1048576.0);
}
