//! Cost of the population functions on the hot path: `person`, `arrival_offset`, `contacts`.
//!
//! `cargo bench -p surge-plan --bench population` (goal: `person` under 1 us).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use surge_plan::{Overrides, Plan};

fn plan() -> Option<Plan> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles/facebook-outage-2021.toml");
    let profile = surge_profile::load(&path).ok()?;
    Plan::compile(
        &profile,
        &Overrides {
            scale: Some(0.1),
            ..Overrides::default()
        },
    )
    .ok()
}

fn bench(c: &mut Criterion) {
    let Some(plan) = plan() else { return };
    let n = plan.population;
    let mut u = 0u64;
    c.bench_function("person (7M population, 5 regions)", |b| {
        b.iter(|| {
            u = (u + 7_919) % n;
            black_box(plan.person(black_box(u)))
        })
    });
    c.bench_function("arrival_offset", |b| {
        b.iter(|| {
            u = (u + 7_919) % n;
            black_box(plan.arrival_offset(black_box(u)))
        })
    });
    let mut book = Vec::new();
    c.bench_function("contacts (median 150)", |b| {
        b.iter(|| {
            u = (u + 7_919) % n;
            plan.contacts(black_box(u), &mut book);
            black_box(book.len())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
