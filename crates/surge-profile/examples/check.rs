//! Validates profiles and prints the error of each: `cargo run -p surge-profile --example check -- FILE...`.

fn main() {
    let mut bad = false;
    for path in std::env::args().skip(1) {
        match surge_profile::load(std::path::Path::new(&path)) {
            Ok(p) => println!(
                "{path}: ok ({} people, {} regions)",
                p.event.population,
                p.regions.len()
            ),
            Err(e) => {
                bad = true;
                println!("{e}");
            }
        }
    }
    std::process::exit(i32::from(bad));
}
