//! Stateless hashing: every random choice of the plan is a pure function of (seed, stream, index).

/// The splitmix64 finaliser: a bijective 64-bit mixer with good avalanche.
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Key of one random stream under a seed (precomputed once per plan).
#[inline]
pub fn key(seed: u64, stream: u64) -> u64 {
    mix(mix(seed ^ 0x5eed_5eed_5eed_5eed).wrapping_add(stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
}

/// Hash of (stream key, index, sub-index).
#[inline]
pub fn h(key: u64, u: u64, i: u64) -> u64 {
    mix(key ^ mix(u.wrapping_add(0x9e37_79b9_7f4a_7c15)) ^ i.wrapping_mul(0xd6e8_feb8_6659_fd93))
}

/// Uniform in [0, 1) from 53 bits of a hash.
#[inline]
pub fn unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform in `0..n` (n > 0), by 128-bit multiply (no modulo bias worth mentioning for n << 2^64).
#[inline]
pub fn below(x: u64, n: u64) -> u64 {
    ((u128::from(x) * u128::from(n)) >> 64) as u64
}

/// A standard normal deviate from a hash (Box-Muller on two 32-bit halves).
pub fn normal(x: u64) -> f64 {
    let a = ((x >> 32) as f64 + 0.5) / 4_294_967_296.0;
    let b = ((x & 0xffff_ffff) as f64) / 4_294_967_296.0;
    (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_and_below_stay_in_range() {
        for i in 0..10_000u64 {
            let x = h(key(1, 2), i, 3);
            assert!((0.0..1.0).contains(&unit(x)));
            assert!(below(x, 7) < 7);
            assert!(normal(x).is_finite());
        }
        assert!(unit(u64::MAX) < 1.0);
    }

    #[test]
    fn normal_has_unit_variance() {
        let n = 20_000u64;
        let xs: Vec<f64> = (0..n).map(|i| normal(h(key(9, 1), i, 0))).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
    }
}
