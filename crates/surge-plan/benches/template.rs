//! Building requests from compiled templates.
//!
//! `discover_200/build_encoded` is the template cost the issue bounds (< 1 µs): a 200-contact
//! discovery request from contacts already encoded once per address book ([`Discovery::encode`]).
//! `discover_200/build_hashing` adds SHA-256 of every contact on the fly, `discover_200/encode` is that
//! hashing alone, and `request_code/build` a small JSON request.
//!
//! Run: `cargo bench -p surge-plan --bench template`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use surge_plan::journey::{self, Ctx, EncodedBatch, RequestBuf};
use surge_plan::{Contact, Person, Phone};

fn reference() -> journey::Journey {
    let Some(spec) = surge_profile::journey::builtin_journey("reference", false) else {
        panic!("no reference journey");
    };
    let mut steps = Vec::new();
    match journey::compile(&spec, "surge-staging-secret", &mut steps) {
        Ok(j) => j,
        Err(e) => panic!("{e}"),
    }
}

fn bench(c: &mut Criterion) {
    let j = reference();
    let person = Person {
        index: 123_456,
        region: 1,
        phone: Phone(447_700_900_123),
        arrival: Duration::ZERO,
    };
    let batch: Vec<Contact> = (0..200u64)
        .map(|i| Contact {
            phone: Phone(15_550_000_000 + i * 7919),
            user: (i % 3 != 0).then_some(i),
        })
        .collect();
    let values = vec![
        Some("0123456789abcdef0123456789abcdef".to_string()),
        Some("123456.0123456789abcdef".to_string()),
    ];
    let ctx = Ctx {
        plan_secret: "surge-staging-secret",
        person: &person,
        region_name: "europe",
        code: "123456",
        values: &values,
        batch: &batch,
    };
    let Some(discover) = j.steps.iter().find(|s| s.name == "discover") else {
        panic!("no discover step")
    };
    let Some(d) = discover.discovery.as_ref() else {
        panic!("no discovery")
    };
    let mut encoded = EncodedBatch::default();
    d.encode(&batch, &mut encoded);
    let mut out = RequestBuf::default();

    let mut g = c.benchmark_group("discover_200");
    g.bench_function("build_encoded", |b| {
        b.iter(|| {
            discover.build_encoded(0, black_box(&ctx), black_box(&encoded), &mut out);
            black_box(out.body.len())
        })
    });
    g.bench_function("build_hashing", |b| {
        b.iter(|| {
            discover.build(0, black_box(&ctx), &mut out);
            black_box(out.body.len())
        })
    });
    g.bench_function("encode", |b| {
        b.iter(|| {
            d.encode(black_box(&batch), &mut encoded);
            black_box(encoded.len())
        })
    });
    g.finish();
    c.bench_function("request_code/build", |b| {
        b.iter(|| {
            j.steps[0].build(0, black_box(&ctx), &mut out);
            black_box(out.body.len())
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = bench
}
criterion_main!(benches);
