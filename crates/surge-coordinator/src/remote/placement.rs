//! Placement by region: a region's people are sent from the workers placed in it.
//!
//! When workers sit on hosts in different regions (`surge worker --region americas` on a host in the
//! Americas), the Americas' people must leave from there, or the run measures the wrong distance to
//! the target. With `surge coordinator --placement region` the unit of work is the pair (region,
//! virtual shard), numbered `region x shards + shard` ([`surge_plan::Plan::unit_of`]): region `r`'s
//! `shards` units are striped over the workers that declared `r`, and a lost worker's units move to
//! another worker of the same region when one survives (else to any survivor, said in the loss event:
//! those people then leave from elsewhere).
//!
//! Without placement the units are the virtual shards, striped over every worker, as before.

use surge_plan::Plan;

/// Why a placement cannot be made. Found after the workers joined and before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// A region of the profile has no worker placed in it.
    #[error(
        "no worker is placed in region `{region}` (workers: {workers}); start one with `surge worker --region {region}`"
    )]
    NoWorker {
        /// The region without a worker.
        region: String,
        /// Each worker and the regions it declared.
        workers: String,
    },
}

/// Why a worker's join is refused under (or without) placement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinRegionError {
    /// The run places people by region, and the worker declared none.
    #[error(
        "this run places people by region (coordinator --placement region): start the worker with --region NAME (the profile's regions: {known})"
    )]
    Missing {
        /// The profile's regions.
        known: String,
    },
    /// The worker declared regions, and the run does not place people by region.
    #[error(
        "this worker was started with --region {given}, but the coordinator does not place people by region: add --placement region to the coordinator, or drop --region"
    )]
    Unplaced {
        /// What the worker declared.
        given: String,
    },
    /// A declared region is not in the profile.
    #[error("unknown region `{name}` in --region: the profile's regions are {known}")]
    Unknown {
        /// The unknown name.
        name: String,
        /// The profile's regions.
        known: String,
    },
}

/// The regions a joining worker declared, as region indexes of `plan`.
pub fn resolve(
    plan: &Plan,
    by_region: bool,
    declared: &[String],
) -> Result<Vec<u16>, JoinRegionError> {
    let known = || {
        plan.regions
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (by_region, declared.is_empty()) {
        (false, true) => return Ok(Vec::new()),
        (false, false) => {
            return Err(JoinRegionError::Unplaced {
                given: declared.join(","),
            });
        }
        (true, true) => return Err(JoinRegionError::Missing { known: known() }),
        (true, false) => {}
    }
    let mut out = Vec::new();
    for name in declared {
        let Some(i) = plan.region_index(name) else {
            return Err(JoinRegionError::Unknown {
                name: name.clone(),
                known: known(),
            });
        };
        if !out.contains(&i) {
            out.push(i);
        }
    }
    Ok(out)
}

/// The units of each worker at the start: the virtual shards striped over every worker, or by region
/// each region's units striped over the workers placed in it (`regions[w]`: worker `w`'s regions).
pub fn assign(
    plan: &Plan,
    by_region: bool,
    names: &[String],
    regions: &[Vec<u16>],
) -> Result<Vec<Vec<u32>>, PlacementError> {
    let n = regions.len().max(1);
    if !by_region {
        return Ok(crate::pool::stripes(plan.shards, n));
    }
    let mut out = vec![Vec::new(); n];
    for (r, region) in plan.regions.iter().enumerate() {
        let group: Vec<usize> = (0..regions.len())
            .filter(|&w| regions[w].contains(&(r as u16)))
            .collect();
        if group.is_empty() {
            return Err(PlacementError::NoWorker {
                region: region.name.clone(),
                workers: describe(plan, names, regions),
            });
        }
        for (i, unit) in plan.region_units(r as u16).enumerate() {
            out[group[i % group.len()]].push(unit);
        }
    }
    out.iter_mut().for_each(|u| u.sort_unstable());
    Ok(out)
}

/// Where a lost worker's units go: each region's units round-robin over the survivors placed in that
/// region; a region with no surviving worker goes to every survivor, and is returned in the second
/// list (its people now leave from hosts outside the region).
pub fn redistribute(
    plan: &Plan,
    units: &[u32],
    survivors: &[usize],
    regions: &[Vec<u16>],
) -> (Vec<(usize, Vec<u32>)>, Vec<String>) {
    let shards = plan.shards.max(1);
    let mut moved: Vec<(usize, Vec<u32>)> = survivors.iter().map(|&w| (w, Vec::new())).collect();
    let mut orphaned = Vec::new();
    let mut by_region: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
    for &u in units {
        by_region.entry(u / shards).or_default().push(u);
    }
    for (r, list) in by_region {
        let placed: Vec<usize> = (0..moved.len())
            .filter(|&i| {
                regions
                    .get(moved[i].0)
                    .is_some_and(|rs| rs.contains(&(r as u16)))
            })
            .collect();
        let targets: Vec<usize> = if placed.is_empty() {
            if let Some(region) = plan.regions.get(r as usize) {
                orphaned.push(region.name.clone());
            }
            (0..moved.len()).collect()
        } else {
            placed
        };
        if targets.is_empty() {
            continue;
        }
        for (i, u) in list.into_iter().enumerate() {
            moved[targets[i % targets.len()]].1.push(u);
        }
    }
    moved.retain(|(_, l)| !l.is_empty());
    (moved, orphaned)
}

/// `name: region, region; ...` for errors.
fn describe(plan: &Plan, names: &[String], regions: &[Vec<u16>]) -> String {
    names
        .iter()
        .zip(regions)
        .map(|(n, rs)| {
            let rs: Vec<&str> = rs
                .iter()
                .filter_map(|&r| plan.regions.get(r as usize).map(|x| x.name.as_str()))
                .collect();
            format!("{n}: {}", rs.join(","))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Region -> the workers placed in it, for run.json.
pub fn table(
    plan: &Plan,
    names: &[String],
    regions: &[Vec<u16>],
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out = std::collections::BTreeMap::new();
    for (r, region) in plan.regions.iter().enumerate() {
        let placed: Vec<String> = names
            .iter()
            .zip(regions)
            .filter(|(_, rs)| rs.contains(&(r as u16)))
            .map(|(n, _)| n.clone())
            .collect();
        out.insert(region.name.clone(), placed);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"name = "three"
seed = 3
journey = "reference"

[event]
population = 3000
duration = "4s"
interval = "1s"

[[regions]]
name = "americas"
share = 0.5

[[regions]]
name = "europe"
share = 0.3

[[regions]]
name = "asia"
share = 0.2

[curve]
kind = "ramp"
up = "0s"
hold = "4s"
down = "0s"
"#;

    fn plan() -> Plan {
        let profile = surge_profile::parse(PROFILE, "<three>").unwrap();
        Plan::compile(&profile, &surge_plan::Overrides::default()).unwrap()
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("w{i}")).collect()
    }

    #[test]
    fn each_region_s_people_go_only_to_the_workers_placed_in_it() {
        let plan = plan();
        // w0 americas, w1 americas, w2 europe + asia.
        let regions = vec![vec![0], vec![0], vec![1, 2]];
        let units = assign(&plan, true, &names(3), &regions).unwrap();
        let mut all: Vec<u32> = units.concat();
        all.sort_unstable();
        assert_eq!(all, (0..plan.units(true)).collect::<Vec<_>>());
        for u in 0..plan.population {
            let unit = plan.unit_of(u, true);
            let owner = units.iter().position(|l| l.contains(&unit)).unwrap();
            let region = plan.region_of(u);
            assert!(
                regions[owner].contains(&region),
                "person {u} of region {region} went to worker {owner}"
            );
        }
        // Both americas workers get a half.
        assert_eq!(units[0].len(), units[1].len());
    }

    #[test]
    fn a_region_without_a_worker_is_refused_naming_it() {
        let plan = plan();
        let e = assign(&plan, true, &names(2), &[vec![0], vec![1]]).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("`asia`"), "{text}");
        assert!(text.contains("w0: americas; w1: europe"), "{text}");
    }

    #[test]
    fn joins_are_checked_against_the_profile_s_regions() {
        let plan = plan();
        assert_eq!(
            resolve(&plan, true, &["asia".into(), "americas".into()]),
            Ok(vec![2, 0])
        );
        assert_eq!(resolve(&plan, false, &[]), Ok(vec![]));
        assert!(matches!(
            resolve(&plan, true, &[]),
            Err(JoinRegionError::Missing { .. })
        ));
        assert!(matches!(
            resolve(&plan, false, &["asia".into()]),
            Err(JoinRegionError::Unplaced { .. })
        ));
        let e = resolve(&plan, true, &["mars".into()]).unwrap_err();
        assert!(
            e.to_string()
                .contains("`mars` in --region: the profile's regions are americas, europe, asia"),
            "{e}"
        );
    }

    #[test]
    fn a_lost_worker_s_units_stay_in_its_region_when_a_worker_there_survives() {
        let plan = plan();
        let regions = vec![vec![0], vec![0], vec![1, 2]];
        let units = assign(&plan, true, &names(3), &regions).unwrap();
        let (moved, orphaned) = redistribute(&plan, &units[0], &[1, 2], &regions);
        assert_eq!(moved, vec![(1, units[0].clone())]);
        assert!(orphaned.is_empty());
        // The only europe + asia worker lost: its units go to the americas workers, said so.
        let (moved, orphaned) = redistribute(&plan, &units[2], &[0, 1], &regions);
        assert_eq!(
            moved.iter().map(|(_, l)| l.len()).sum::<usize>(),
            units[2].len()
        );
        assert_eq!(orphaned, vec!["europe".to_string(), "asia".to_string()]);
    }

    #[test]
    fn without_placement_the_shards_are_striped_over_every_worker() {
        let plan = plan();
        let units = assign(&plan, false, &names(3), &[vec![], vec![], vec![]]).unwrap();
        assert_eq!(units, crate::pool::stripes(plan.shards, 3));
    }
}
