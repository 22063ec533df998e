//! The population is a pure function of (seed, index); phone numbers never collide.

use std::collections::HashSet;
use std::time::Duration;

use proptest::prelude::*;
use surge_plan::phone::{Feistel, SPACE};
use surge_plan::{Overrides, Plan};

const PROFILE: &str = r#"
name = "pop"
seed = 11
[event]
population = 10_000_000
duration = "10m"
[[regions]]
name = "americas"
share = 0.5
[[regions]]
name = "europe"
share = 0.3
[[regions]]
name = "also-one"
share = 0.2
country_code = 1
[curve]
kind = "ramp"
up = "2m"
hold = "5m"
down = "3m"
[address_book]
median = 50
sigma = 1.0
max = 500
same_region = 0.8
never_join = 0.3
later = 0.1
"#;

fn plan(ov: &Overrides) -> Plan {
    let profile = surge_profile::parse(PROFILE, "pop.toml").unwrap_or_else(|e| panic!("{e}"));
    Plan::compile(&profile, ov).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn same_seed_same_people_and_address_books() {
    let (a, b) = (plan(&Overrides::default()), plan(&Overrides::default()));
    let (mut ba, mut bb) = (Vec::new(), Vec::new());
    for u in (0..a.population).step_by(99_991) {
        assert_eq!(a.person(u), b.person(u));
        assert_eq!(a.shard_of(u), b.shard_of(u));
        a.contacts(u, &mut ba);
        b.contacts(u, &mut bb);
        assert_eq!(ba, bb);
    }
    // order of calls does not matter: person(u) is not a stream
    let later = a.person(5_000_000);
    let _ = a.person(1);
    assert_eq!(a.person(5_000_000), later);
}

#[test]
fn another_seed_gives_other_numbers_and_books() {
    let a = plan(&Overrides::default());
    let b = plan(&Overrides {
        seed: Some(12),
        ..Overrides::default()
    });
    let same = (0..1000u64)
        .filter(|&u| a.person(u).phone == b.person(u).phone)
        .count();
    assert!(same < 5, "{same} equal numbers across seeds");
    let (mut ba, mut bb) = (Vec::new(), Vec::new());
    a.contacts(777, &mut ba);
    b.contacts(777, &mut bb);
    assert_ne!(ba, bb);
}

#[test]
fn numbers_never_collide_over_a_million_indexes() {
    let p = plan(&Overrides::default());
    let mut seen = HashSet::with_capacity(1_000_000);
    for u in 0..1_000_000u64 {
        assert!(
            seen.insert(p.person(u).phone.national()),
            "collision at {u}"
        );
    }
    // and across country codes: two regions share +1, still no collision of full numbers
    let mut full = HashSet::with_capacity(200_000);
    for u in 0..200_000u64 {
        assert!(full.insert(p.person(u).phone));
    }
}

#[test]
fn the_last_of_ten_million_indexes_is_still_distinct_and_invertible() {
    let p = plan(&Overrides::default());
    for u in [0, 1, 9_999_998, 9_999_999] {
        let person = p.person(u);
        assert_eq!(p.person_of_phone(person.phone), Some(u));
    }
}

#[test]
fn contacts_point_at_the_right_people_and_never_at_strangers_numbers() {
    let p = plan(&Overrides::default());
    let mut book = Vec::new();
    for u in (1..p.population).step_by(500_009) {
        p.contacts(u, &mut book);
        for c in &book {
            match c.user {
                Some(v) => {
                    assert_ne!(v, u);
                    assert_eq!(p.person(v).phone, c.phone, "contact {v} of {u}");
                }
                None => assert_eq!(
                    p.person_of_phone(c.phone),
                    None,
                    "never-joining number {} is a person's",
                    c.phone
                ),
            }
        }
    }
}

#[test]
fn address_books_follow_the_profile() {
    let p = plan(&Overrides::default());
    let (mut sizes, mut book) = (Vec::new(), Vec::new());
    let (mut never, mut later, mut same, mut people) = (0usize, 0usize, 0usize, 0usize);
    for u in (1_000_000..p.population).step_by(4_001) {
        p.contacts(u, &mut book);
        sizes.push(book.len());
        assert!(book.len() <= 500);
        let own = p.person(u).region;
        for c in &book {
            match c.user {
                None => never += 1,
                Some(v) => {
                    people += 1;
                    later += usize::from(v > u);
                    same += usize::from(p.person(v).region == own);
                }
            }
        }
    }
    sizes.sort_unstable();
    let median = sizes[sizes.len() / 2];
    assert!((45..=55).contains(&median), "median {median}");
    let total = never + people;
    let share = |x: usize, of: usize| x as f64 / of as f64;
    assert!(
        (share(never, total) - 0.3).abs() < 0.02,
        "never {}",
        share(never, total)
    );
    assert!(
        (share(later, people) - 0.1).abs() < 0.02,
        "later {}",
        share(later, people)
    );
    assert!(
        share(same, people) > 0.75,
        "same region {}",
        share(same, people)
    );
}

#[test]
fn shards_are_spread_evenly() {
    let p = plan(&Overrides::default());
    assert!(p.shards >= 256);
    let mut counts = vec![0u32; p.shards as usize];
    for u in 0..200_000u64 {
        counts[p.shard_of(u) as usize] += 1;
    }
    let mean = 200_000.0 / p.shards as f64;
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    let min = counts.iter().copied().min().unwrap_or(0) as f64;
    assert!(
        max < mean * 1.4 && min > mean * 0.6,
        "min {min} max {max} mean {mean}"
    );
}

#[test]
fn arrivals_are_in_index_order_and_inside_the_run() {
    let p = plan(&Overrides {
        scale: Some(0.01),
        duration: Some(Duration::from_secs(60)),
        ..Overrides::default()
    });
    assert_eq!(p.population, 100_000);
    let mut last = Duration::ZERO;
    for u in 0..p.population {
        let t = p.arrival_offset(u);
        assert!(t >= last && t < p.run_duration, "{u}: {t:?}");
        assert_eq!(p.person(u).arrival, t);
        last = t;
    }
}

/// Two plans compiled separately from the same profile (built once for all cases).
fn two_plans() -> &'static (Plan, Plan) {
    static PLANS: std::sync::OnceLock<(Plan, Plan)> = std::sync::OnceLock::new();
    PLANS.get_or_init(|| (plan(&Overrides::default()), plan(&Overrides::default())))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The permutation is a bijection of [0, 10^10): it has an inverse, so no two inputs share an output.
    #[test]
    fn feistel_is_invertible(seed in any::<u64>(), x in 0..SPACE) {
        let f = Feistel::new(seed);
        let y = f.permute(x);
        prop_assert!(y < SPACE);
        prop_assert_eq!(f.invert(y), x);
    }

    #[test]
    fn distinct_indexes_have_distinct_numbers(seed in any::<u64>(), a in 0..SPACE, b in 0..SPACE) {
        prop_assume!(a != b);
        let f = Feistel::new(seed);
        prop_assert_ne!(f.permute(a), f.permute(b));
    }

    #[test]
    fn person_is_a_pure_function(u in 0u64..10_000_000) {
        let (p, q) = two_plans();
        prop_assert_eq!(p.person(u), q.person(u));
        prop_assert_eq!(p.person_of_phone(p.person(u).phone), Some(u));
    }
}
