//! Phone numbers: a keyed permutation of person indexes onto national numbers.
//!
//! # Why numbers never collide
//! A person's national number is `feistel(u)`, a permutation of `[0, 10^10)`. The permutation is a
//! balanced Feistel network on the pair `(L, R) = (x / 10^5, x % 10^5)`, both in `Z_{10^5}`; each
//! round maps `(L, R) -> (R, (L + F_k(R)) mod 10^5)`. Whatever the round function `F_k` is, a round
//! is invertible (`L = (R' - F_k(L')) mod 10^5` with `(L', R')` its output: see [`Feistel::invert`]),
//! so the composition is a bijection of `Z_{10^5} x Z_{10^5}`, which is exactly `[0, 10^10)`. Because
//! the domain is a product of two equal rings, no cycle walking is needed: every output is already in
//! range. Hence distinct indexes give distinct national numbers; people (indexes `< N`) and
//! never-joining contacts (indexes `>= N`, see [`crate::Plan::contacts`]) never share a number, even
//! across regions with the same country code. The E.164 number is `country_code * 10^10 + national`.

use std::fmt;

use crate::hash;

/// Size of each Feistel half.
const HALF: u64 = 100_000;
/// Size of the national-number space.
pub const SPACE: u64 = HALF * HALF;
/// Rounds (4 suffice for a pseudo-random permutation; 6 for margin).
const ROUNDS: usize = 6;

/// An E.164 number as an integer, e.g. `15550001234` for `+15550001234`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(pub u64);

impl Phone {
    /// Builds a number from a country code and a national number (< 10^10).
    pub fn new(country_code: u16, national: u64) -> Phone {
        Phone(u64::from(country_code) * SPACE + national % SPACE)
    }

    /// Writes `+<digits>` into `out` without allocating (beyond `out`'s growth).
    pub fn write_e164(&self, out: &mut Vec<u8>) {
        let mut digits = [0u8; 20];
        let mut n = self.0;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.push(b'+');
        out.extend_from_slice(&digits[i..]);
    }

    /// The national part (last 10 digits).
    pub fn national(&self) -> u64 {
        self.0 % SPACE
    }

    /// The country code.
    pub fn country_code(&self) -> u64 {
        self.0 / SPACE
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

/// The keyed permutation of `[0, 10^10)`.
#[derive(Clone, Debug)]
pub struct Feistel {
    keys: [u64; ROUNDS],
}

impl Feistel {
    /// A permutation keyed by the seed.
    pub fn new(seed: u64) -> Feistel {
        let mut keys = [0; ROUNDS];
        for (i, k) in keys.iter_mut().enumerate() {
            *k = hash::key(seed, 0xfe15_7e10 + i as u64);
        }
        Feistel { keys }
    }

    #[inline]
    fn f(&self, round: usize, r: u64) -> u64 {
        hash::below(hash::mix(self.keys[round] ^ r), HALF)
    }

    /// The image of `x` (`x < 10^10`; larger inputs are reduced mod 10^10).
    #[inline]
    pub fn permute(&self, x: u64) -> u64 {
        let x = x % SPACE;
        let (mut l, mut r) = (x / HALF, x % HALF);
        for round in 0..ROUNDS {
            let next = (l + self.f(round, r)) % HALF;
            l = r;
            r = next;
        }
        l * HALF + r
    }

    /// The inverse permutation: `invert(permute(x)) == x`.
    pub fn invert(&self, y: u64) -> u64 {
        let y = y % SPACE;
        let (mut l, mut r) = (y / HALF, y % HALF);
        for round in (0..ROUNDS).rev() {
            let prev_l = (r + HALF - self.f(round, l)) % HALF;
            r = l;
            l = prev_l;
        }
        l * HALF + r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_text() {
        let p = Phone(15_550_001_234);
        let mut v = Vec::new();
        p.write_e164(&mut v);
        assert_eq!(v, b"+15550001234");
        assert_eq!(p.to_string(), "+15550001234");
        assert_eq!(Phone::new(44, 7_700_900_123).to_string(), "+447700900123");
        assert_eq!(Phone::new(1, 42).to_string(), "+10000000042");
    }

    #[test]
    fn invert_undoes_permute() {
        let f = Feistel::new(7);
        for x in [0, 1, 99_999, 100_000, SPACE - 1, 1_234_567_890] {
            assert_eq!(f.invert(f.permute(x)), x);
            assert!(f.permute(x) < SPACE);
        }
    }
}
