//! The population: person `u` as a pure function of `(seed, u)`.
//!
//! - Arrival: the inverse of the tabulated cumulative curve at `u + 0.5` (index order = arrival order).
//! - Region: drawn with probability `lambda_r(t_u) / lambda(t_u)` of `u`'s cell. The uniform draw is a
//!   seeded 64-bit Weyl sequence `frac(key + u * 0.618...)` rather than a plain hash: it is still a
//!   pure function of `(seed, u)`, but consecutive arrivals spread evenly over the regions, so the
//!   per-region counts in any window follow the curve far more tightly than independent draws would.
//! - Phone: `country_code(region) * 10^10 + feistel(u)`; see [`crate::phone`] for why it is a bijection.
//! - Address book: see [`Plan::contacts`].

use std::time::Duration;

use crate::hash::{below, h, mix, normal, unit};
use crate::phone::{Phone, SPACE};
use crate::{Contact, Person, Plan};

/// Tries when looking for a same-region contact near a random index.
const SAME_REGION_TRIES: u64 = 32;

impl Plan {
    /// Person `u` (`u < population`): a pure function of `(seed, u)`, no allocation.
    pub fn person(&self, u: u64) -> Person {
        let (secs, k) = self.table.offset_secs(u);
        let region = self.region_in(u, k);
        Person {
            index: u,
            region: region as u16,
            phone: self.phone_of(u, region),
            arrival: Duration::from_nanos((secs * 1e9) as u64),
        }
    }

    /// Intended start of person `u`, from the run start: non-decreasing in `u`, `< run_duration`.
    pub fn arrival_offset(&self, u: u64) -> Duration {
        let (secs, _) = self.table.offset_secs(u);
        Duration::from_nanos((secs * 1e9) as u64)
    }

    /// Virtual shard of person `u`: `hash(seed, u) % shards`.
    pub fn shard_of(&self, u: u64) -> u32 {
        below(h(self.keys.shard, u, 0), u64::from(self.shards)) as u32
    }

    /// The unit of work person `u` belongs to: its virtual shard, or with placement by region
    /// (`by_region`) the pair (region, shard) numbered `region x shards + shard`, so a region's people
    /// can be handed to the workers placed in it and moved between them like shards.
    pub fn unit_of(&self, u: u64, by_region: bool) -> u32 {
        if by_region {
            u32::from(self.region_of(u)) * self.shards + self.shard_of(u)
        } else {
            self.shard_of(u)
        }
    }

    /// How many units [`Plan::unit_of`] numbers: the shards, or regions x shards by region.
    pub fn units(&self, by_region: bool) -> u32 {
        if by_region {
            self.shards * self.regions.len().max(1) as u32
        } else {
            self.shards
        }
    }

    /// The units of region `region` under placement by region.
    pub fn region_units(&self, region: u16) -> std::ops::Range<u32> {
        let first = u32::from(region) * self.shards;
        first..first + self.shards
    }

    /// Region id of person `u`.
    pub fn region_of(&self, u: u64) -> u16 {
        self.region_in(u, self.table.cell_of(u)) as u16
    }

    /// The person a number belongs to, if any (inverse of the phone permutation).
    pub fn person_of_phone(&self, phone: Phone) -> Option<u64> {
        let u = self.feistel.invert(phone.national());
        if u >= self.population {
            return None;
        }
        let r = self.region_of(u);
        (u64::from(self.regions[usize::from(r)].country_code) == phone.country_code()).then_some(u)
    }

    #[inline]
    fn region_in(&self, u: u64, cell: usize) -> usize {
        let x = unit(
            u.wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .wrapping_add(self.keys.region.to_bits()),
        );
        self.table.region_in_cell(cell, x)
    }

    #[inline]
    fn phone_of(&self, u: u64, region: usize) -> Phone {
        let cc = self.regions.get(region).map_or(1, |r| r.country_code);
        Phone::new(cc, self.feistel.permute(u))
    }

    /// Address-book size of person `u`: log-normal (median, sigma), rounded, capped at `max`.
    pub fn book_size(&self, u: u64) -> usize {
        let b = &self.book;
        let z = normal(h(self.keys.book, u, 0));
        let size = (b.median * (b.sigma * z).exp()).round();
        if size.is_finite() {
            (size.max(0.0) as usize).min(b.max as usize)
        } else {
            0
        }
    }

    /// Fills `out` (cleared first) with person `u`'s address book, deterministically.
    ///
    /// Each contact is, with probability `never_join`, a number that is never in the population
    /// (the permutation of an index `>= population`, so it cannot collide with anyone's number);
    /// otherwise a person `v != u`: with probability `later` one who arrives after `u` (not yet
    /// registered when `u` uploads), else one who arrived before; and with probability
    /// `same_region` one of `u`'s own region (searched near a random index, a few tries).
    pub fn contacts(&self, u: u64, out: &mut Vec<Contact>) {
        out.clear();
        let size = self.book_size(u);
        out.reserve(size);
        for i in 0..size as u64 {
            out.push(self.book_entry(u, i));
        }
    }

    /// Appends the `n` contacts person `u`'s address book gains before its `k`-th re-sync (k from
    /// 1): entries `size + (k-1)n .. size + kn` of the same deterministic sequence as the book.
    pub fn contacts_added(&self, u: u64, k: u32, n: u32, out: &mut Vec<Contact>) {
        let from = self.book_size(u) as u64 + u64::from(k.saturating_sub(1)) * u64::from(n);
        out.reserve(n as usize);
        for i in from..from + u64::from(n) {
            out.push(self.book_entry(u, i));
        }
    }

    /// Entry `i` of person `u`'s address book (see [`Plan::contacts`]).
    fn book_entry(&self, u: u64, i: u64) -> Contact {
        let n = self.population;
        let own = self.region_of(u);
        let x = h(self.keys.contact, u, i);
        let (a, b, c) = (unit(x), unit(mix(x ^ 1)), unit(mix(x ^ 2)));
        let pick = mix(x ^ 3);
        let earlier_ok = u > 0 && u < n;
        let later_ok = u + 1 < n;
        let later = (b < self.book.later && later_ok) || !earlier_ok;
        if a < self.book.never_join || !(earlier_ok || later_ok) {
            return self.never_joining(own, pick);
        }
        let (lo, len) = if later {
            (u + 1, n - u - 1)
        } else {
            (0, u.min(n))
        };
        let start = below(pick, len);
        let v = lo + start;
        let mut found = (v, self.region_of(v));
        if c < self.book.same_region && found.1 != own {
            for d in 1..SAME_REGION_TRIES.min(len) {
                let w = lo + (start + d) % len;
                let r = self.region_of(w);
                if r == own {
                    found = (w, r);
                    break;
                }
            }
        }
        let (v, r) = found;
        Contact {
            phone: self.phone_of(v, usize::from(r)),
            user: Some(v),
        }
    }

    fn never_joining(&self, region: u16, x: u64) -> Contact {
        let n = self.population;
        let j = n + below(x, SPACE - n);
        Contact {
            phone: self.phone_of(j, usize::from(region)),
            user: None,
        }
    }
}
