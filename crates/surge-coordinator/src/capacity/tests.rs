//! The whole search against a synthetic target (p99 as a function of the offered rate), through the
//! same [`Prober`] interface the real probes use.

use super::*;
use surge_plan::Overrides;
use surge_results::capacity::ProbeSlo;

const PROFILE: &str = r#"
name = "two"
seed = 3
journey = "reference"
slos = ["p99 of register in americas < 800ms", "p99 of register in europe < 800ms"]
[event]
population = 6000
duration = "60s"
[[regions]]
name = "americas"
share = 0.75
[[regions]]
name = "europe"
share = 0.25
[curve]
kind = "ramp"
up = "20s"
hold = "20s"
down = "20s"
"#;

fn base() -> Plan {
    let profile = surge_profile::parse(PROFILE, "two.toml").unwrap();
    Plan::compile(&profile, &Overrides::default()).unwrap()
}

/// A target whose regions are served separately: region r's p99 is `60 / (1 - rate / cap[r])` ms.
struct Synthetic {
    caps: Vec<f64>,
    /// Rates above this (all regions summed) make the generator fall behind.
    generator: f64,
    /// Stop after this many probes (Ctrl-C).
    stop_after: Option<usize>,
    probes: usize,
    noise: f64,
}

impl Synthetic {
    fn new(caps: &[f64]) -> Synthetic {
        Synthetic {
            caps: caps.to_vec(),
            generator: f64::INFINITY,
            stop_after: None,
            probes: 0,
            noise: 0.0,
        }
    }
}

impl Prober for Synthetic {
    async fn probe(
        &mut self,
        repeat: u32,
        search: &RegionSearch,
        rates: &[f64],
        name: &str,
    ) -> Result<Option<Probe>, RunError> {
        self.probes += 1;
        let names = ["americas", "europe"];
        let slos: Vec<ProbeSlo> = rates
            .iter()
            .zip(&self.caps)
            .enumerate()
            .map(|(i, (&r, &cap))| {
                // Repeats see the knee move a little (noise of a real target).
                let cap = cap * (1.0 + self.noise * (f64::from(repeat) - 2.0));
                let p99 = if r >= cap {
                    5000.0
                } else {
                    (60.0 / (1.0 - r / cap)).min(5000.0)
                };
                ProbeSlo {
                    slo: format!("p99 of register in {} < 800ms", names[i]),
                    observed: Some(p99),
                    threshold: 800.0,
                    pass: p99 < 800.0,
                    applies: search.applies[i],
                }
            })
            .collect();
        let total: f64 = rates.iter().sum();
        Ok(Some(Probe {
            repeat,
            rate_per_s: 0.0,
            rates: names
                .iter()
                .zip(rates)
                .map(|(n, &r)| (n.to_string(), r))
                .collect(),
            pass: slos.iter().all(|s| s.pass || !s.applies),
            flagged: (total > self.generator).then(|| "send lag p99 50.0 ms above 10 ms".into()),
            slos,
            error_rate: 0.0,
            started_per_s: total,
            send_lag_p99_ms: 0.1,
            completed_ratio: Some(1.0),
            dir: name.to_string(),
        }))
    }

    fn stopped(&self) -> bool {
        self.stop_after.is_some_and(|n| self.probes >= n)
    }
}

fn capacity<'a>(
    base: &'a Plan,
    out: &std::path::Path,
    input: SearchInput,
    repeat: u32,
) -> Capacity<'a> {
    let searches = resolve(base, &input).unwrap();
    Capacity {
        base,
        header: header(
            base,
            Header {
                target: "synthetic".into(),
                capacity_plan: None,
                probe: Duration::from_secs(3),
                precision: input.precision,
                repeat,
                up_to: input.up_to,
                workers: 2,
            },
        ),
        searches,
        repeat,
        out: out.to_path_buf(),
        workers: 2,
        per_worker: None,
    }
}

fn input(regions: &[&str]) -> SearchInput {
    SearchInput {
        regions: regions.iter().map(|s| s.to_string()).collect(),
        start: None,
        up_to: None,
        precision: 0.05,
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn each_region_is_searched_with_the_others_at_their_peak() {
    let base = base();
    let dir = tempfile::tempdir().unwrap();
    // americas holds up to 100/s; europe 400/s.
    let mut target = Synthetic::new(&[100.0, 400.0]);
    let c = capacity(&base, dir.path(), input(&[]), 1);
    let mut seen = Vec::new();
    let r = block_on(run_search(c, &mut target, &mut |e| {
        if let Event::Region(name, rc) = e {
            seen.push((name.to_string(), rc.max_rate_per_s));
        }
    }))
    .unwrap();
    assert_eq!(r.status, CapacityStatus::Complete);
    let am = &r.regions["americas"];
    let knee = 100.0 * (1.0 - 60.0 / 800.0);
    let [Some(lo), Some(hi)] = am.bracket else {
        panic!("{am:?}")
    };
    assert!(lo < knee && hi >= knee && hi - lo <= 0.05 * lo, "{am:?}");
    assert_eq!(am.max_rate_per_s, Some(lo));
    assert_eq!(am.end, SearchEnd::Found);
    assert!((am.others_per_s["europe"] - 37.5).abs() < 0.5);
    // europe's probes hold the americas at its peak, 112.5/s, above the americas' knee: its SLO fails
    // in every europe probe, recorded but not held against europe.
    let eu = &r.regions["europe"];
    assert_eq!(eu.end, SearchEnd::Found, "{eu:?}");
    let eu_knee = 400.0 * (1.0 - 60.0 / 800.0);
    assert!(eu.bracket[0].unwrap() < eu_knee && eu.bracket[1].unwrap() >= eu_knee);
    assert!(
        eu.probes
            .iter()
            .all(|p| (p.rates["americas"] - 112.5).abs() < 0.5)
    );
    assert!(
        eu.probes
            .iter()
            .all(|p| !p.slos[0].pass && !p.slos[0].applies)
    );
    assert_eq!(seen.len(), 2);
    // capacity.json on disk is what was returned.
    let back = CapacityResult::read(dir.path()).unwrap();
    assert_eq!(back.regions.len(), 2);
    assert_eq!(back.regions["americas"].bracket, am.bracket);
    assert_eq!(back.regions["europe"].probes.len(), eu.probes.len());
}

#[test]
fn repeats_report_their_spread_and_the_median_answer() {
    let base = base();
    let dir = tempfile::tempdir().unwrap();
    let mut target = Synthetic::new(&[100.0, 4000.0]);
    target.noise = 0.05;
    let r = block_on(run_search(
        capacity(&base, dir.path(), input(&["americas"]), 3),
        &mut target,
        &mut |_| {},
    ))
    .unwrap();
    let am = &r.regions["americas"];
    let rep = am.repeats.as_ref().expect("repeat statistics");
    assert_eq!(rep.answers.len(), 3);
    assert!(rep.min < rep.max && rep.cv > 0.0 && rep.cv < 0.2, "{rep:?}");
    let mut sorted = rep.answers.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(am.max_rate_per_s, Some(sorted[1]));
    assert!(am.probes.iter().any(|p| p.repeat == 3));
    assert_eq!(r.regions.len(), 1);
}

#[test]
fn a_stop_keeps_the_probes_so_far_and_marks_the_result_interrupted() {
    let base = base();
    let dir = tempfile::tempdir().unwrap();
    let mut target = Synthetic::new(&[100.0, 4000.0]);
    target.stop_after = Some(3);
    let r = block_on(run_search(
        capacity(&base, dir.path(), input(&["americas", "europe"]), 1),
        &mut target,
        &mut |_| {},
    ))
    .unwrap();
    assert_eq!(r.status, CapacityStatus::Interrupted);
    let am = &r.regions["americas"];
    assert_eq!(am.end, SearchEnd::Interrupted);
    assert_eq!(am.probes.len(), 3);
    // 28.1 and 56.2 passed, 112.4 failed.
    assert_eq!(am.bracket, [Some(56.2), Some(112.4)]);
    assert!(!r.regions.contains_key("europe"));
    let back = CapacityResult::read(dir.path()).unwrap();
    assert_eq!(back.status, CapacityStatus::Interrupted);
}

#[test]
fn a_generator_that_falls_behind_stops_everything_and_says_how_many_workers() {
    let base = base();
    let dir = tempfile::tempdir().unwrap();
    let mut target = Synthetic::new(&[1000.0, 4000.0]);
    target.generator = 200.0;
    let r = block_on(run_search(
        capacity(&base, dir.path(), input(&["americas", "europe"]), 1),
        &mut target,
        &mut |_| {},
    ))
    .unwrap();
    assert_eq!(r.status, CapacityStatus::GeneratorBehind);
    let reason = r.reason.clone().unwrap();
    assert!(
        reason.contains("not to blame") && reason.contains("--workers"),
        "{reason}"
    );
    let am = &r.regions["americas"];
    assert_eq!(am.end, SearchEnd::GeneratorBehind);
    assert!(am.probes.last().unwrap().flagged.is_some());
    assert!(!r.regions.contains_key("europe"));

    // With a calibrated per-worker figure, the probe is never sent.
    let mut target = Synthetic::new(&[1000.0, 4000.0]);
    let mut c = capacity(&base, dir.path(), input(&["americas"]), 1);
    c.per_worker = Some(50.0);
    let r = block_on(run_search(c, &mut target, &mut |_| {})).unwrap();
    assert_eq!(r.status, CapacityStatus::GeneratorBehind);
    assert!(r.reason.unwrap().contains("use --workers"));
    // 28.1 + 37.5 and 56.2 + 37.5 fit in 2 x 50/s; 112.4 + 37.5 does not.
    assert_eq!(target.probes, 2);
}

#[test]
fn bad_input_is_refused_before_any_probe() {
    let base = base();
    let err = resolve(&base, &input(&["mars"])).unwrap_err();
    assert!(err.to_string().contains("unknown region `mars`"), "{err}");
    assert!(err.to_string().contains("americas, europe"));
    // The generator may be late by a tenth of the tightest latency SLO before a probe is flagged.
    let ok = resolve(&base, &input(&["americas"])).unwrap();
    assert_eq!(ok[0].lag_limit_ms, 80.0);
    assert_eq!(ok[0].applies, vec![true, false]);
    let low = SearchInput {
        up_to: Some(10.0),
        ..input(&["americas"])
    };
    let err = resolve(&base, &low).unwrap_err();
    assert!(matches!(err, CapacityInputError::UpToBelowStart { start, .. } if start == 28.1));
    let profile = surge_profile::parse(
        &PROFILE.replace(
            r#"slos = ["p99 of register in americas < 800ms", "p99 of register in europe < 800ms"]"#,
            "",
        ),
        "two.toml",
    )
    .unwrap();
    let none = Plan::compile(&profile, &Overrides::default()).unwrap();
    assert_eq!(resolve(&none, &input(&[])), Err(CapacityInputError::NoSlos));
    let zero = SearchInput {
        precision: 0.0,
        ..input(&[])
    };
    assert!(matches!(
        resolve(&base, &zero),
        Err(CapacityInputError::NotPositive {
            what: "--precision",
            ..
        })
    ));
}

#[test]
fn a_probe_late_below_a_rate_kept_before_blames_the_host_not_the_worker_count() {
    let probe = |total: f64, flagged: bool| Probe {
        repeat: 1,
        rate_per_s: total,
        rates: [("americas".to_string(), total)].into_iter().collect(),
        pass: !flagged,
        flagged: flagged.then(|| "send lag p99 140.9 ms above 80 ms".into()),
        slos: Vec::new(),
        error_rate: 0.0,
        started_per_s: total,
        send_lag_p99_ms: 0.1,
        completed_ratio: Some(1.0),
        dir: String::new(),
    };
    // 360/s went out on time, then 228.8/s did not: more workers would not help.
    let said = workers_advice(2, None, &[probe(360.0, false), probe(228.8, true)], 228.8);
    assert!(
        said.contains("kept up with 360.0 journeys/s earlier") && said.contains("the host"),
        "{said}"
    );
    assert!(!said.contains("--workers"), "{said}");
    // Late above anything kept: the worker count is the advice.
    let said = workers_advice(2, None, &[probe(100.0, false), probe(228.8, true)], 228.8);
    assert!(said.contains("needs about --workers 5"), "{said}");
}
