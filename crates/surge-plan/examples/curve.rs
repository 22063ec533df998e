//! Prints a profile's arrival table: `cargo run -p surge-plan --example curve -- profiles/quickstart.toml [rows]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: curve PROFILE [ROWS]");
        std::process::exit(2);
    };
    let rows = args.next().and_then(|r| r.parse().ok()).unwrap_or(12);
    let plan = surge_profile::load(std::path::Path::new(&path))
        .map_err(|e| e.to_string())
        .and_then(|p| {
            surge_plan::Plan::compile(&p, &surge_plan::Overrides::default())
                .map_err(|e| e.to_string())
        });
    match plan {
        Ok(plan) => print!("{}", plan.curve_table(rows)),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
