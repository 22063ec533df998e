//! HdrHistogram's bucket layout as arithmetic: which counter a value is counted in and which values a
//! counter holds. The decoder needs it for histograms of any layout (to turn a counts index into its
//! value); the sparse merge needs it for surge's own (to add a bucket's count without going through
//! `Histogram::record_n`'s bookkeeping). Tested against `hdrhistogram` itself, below.

use crate::MetricsError;
use crate::snapshot::new_histogram;
use std::sync::LazyLock;

/// The layout of a histogram of given bounds and precision.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    unit_magnitude: u32,
    half_count_magnitude: u32,
}

impl Layout {
    /// The layout `hdrhistogram` gives `Histogram::new_with_bounds(low, high, digits)`, or an error when
    /// those bounds are not a valid histogram (or would overflow 64-bit values).
    pub(crate) fn new(low: u64, high: u64, digits: u32) -> Result<Layout, MetricsError> {
        if low == 0 || digits > 5 || high < low.saturating_mul(2) {
            return Err(bad(format!(
                "bounds {low}..{high} at {digits} digits are not a valid histogram"
            )));
        }
        let unit_magnitude = 63 - low.leading_zeros();
        // Smallest power of two holding 2 x 10^digits distinct values per bucket.
        let single_unit = 2 * 10u64.pow(digits);
        let count_magnitude = 64 - (single_unit - 1).leading_zeros();
        let half_count_magnitude = count_magnitude.max(1) - 1;
        if unit_magnitude + half_count_magnitude > 61 {
            return Err(bad(format!(
                "lowest value {low} at {digits} digits overflows"
            )));
        }
        Ok(Layout {
            unit_magnitude,
            half_count_magnitude,
        })
    }

    /// The lowest value counted at `index` (what `hdrhistogram` records there).
    pub(crate) fn value_at(&self, index: usize) -> Result<u64, MetricsError> {
        let half_count = 1u64 << self.half_count_magnitude;
        let index = index as u64;
        let bucket = (index >> self.half_count_magnitude) as u32;
        let mut sub = (index & (half_count - 1)) + half_count;
        let mut bucket = bucket.checked_sub(1);
        if bucket.is_none() {
            sub -= half_count;
            bucket = Some(0);
        }
        let shift = bucket.unwrap_or(0) + self.unit_magnitude;
        if shift >= 64 || sub.leading_zeros() < shift {
            return Err(bad(format!("bucket {index} is beyond any 64-bit value")));
        }
        Ok(sub << shift)
    }

    /// The index of the counter `value` is counted in (`hdrhistogram`'s `index_for`), whether or not the
    /// counts array reaches that far.
    #[inline]
    pub(crate) fn index_of(&self, value: u64) -> usize {
        let count_magnitude = self.half_count_magnitude + 1;
        let sub_bucket_mask = ((1u64 << count_magnitude) - 1) << self.unit_magnitude;
        let zeros_base = 64 - self.unit_magnitude - count_magnitude;
        // At most `zeros_base`: the mask keeps the leading zeros at or under it.
        let bucket = zeros_base - (value | sub_bucket_mask).leading_zeros();
        let sub = value >> (bucket + self.unit_magnitude);
        // `sub` is at least half a bucket's count except in bucket 0, which starts half a count lower.
        ((u64::from(bucket) + 1) << self.half_count_magnitude) as usize + sub as usize
            - (1usize << self.half_count_magnitude)
    }
}

/// Surge's own layout (1 µs to 60 s at 3 digits) with the extent of its counts array, taken from a
/// histogram of those bounds so that the two cannot disagree.
#[derive(Debug)]
pub(crate) struct SurgeLayout {
    layout: Layout,
    /// Counters in a surge histogram.
    pub(crate) len: usize,
    /// Highest value the counts array holds: recording above it saturates to `high`.
    top: u64,
    /// The highest trackable value, where saturated values are counted.
    high: u64,
}

impl SurgeLayout {
    /// The layout, computed once.
    pub(crate) fn get() -> &'static SurgeLayout {
        static LAYOUT: LazyLock<SurgeLayout> = LazyLock::new(|| {
            let h = new_histogram();
            let layout = Layout::new(h.low(), h.high(), u32::from(h.sigfig()))
                .unwrap_or_else(|_| unreachable!("surge's own bounds are a valid layout"));
            let len = h.distinct_values();
            let last = layout.value_at(len - 1).unwrap_or(h.high());
            SurgeLayout {
                layout,
                len,
                top: h.highest_equivalent(last),
                high: h.high(),
            }
        });
        &LAYOUT
    }

    /// The counter that `saturating_record_n(value, _)` on a surge histogram adds to: always below
    /// [`len`](Self::len).
    #[inline]
    pub(crate) fn index_of(&self, value: u64) -> usize {
        let value = if value > self.top { self.high } else { value };
        self.layout.index_of(value)
    }

    /// The lowest value counted at `index` (below [`len`](Self::len)).
    #[inline]
    pub(crate) fn value_at(&self, index: usize) -> u64 {
        // Every index of the counts array is a value: the layout was checked not to overflow.
        self.layout.value_at(index).unwrap_or(self.high)
    }

    /// The lowest value of the bucket that recording `value` counts it in.
    pub(crate) fn lowest_equivalent(&self, value: u64) -> u64 {
        self.value_at(self.index_of(value))
    }
}

fn bad(msg: String) -> MetricsError {
    MetricsError::Decode(format!("histogram: {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;
    use proptest::prelude::*;

    /// Values spread over every magnitude, the edges of surge's range among them.
    fn value() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..70_000_000,
            (0u32..64).prop_flat_map(|bits| 0..=(u64::MAX >> bits)),
            Just(60_000_000),
            Just(SurgeLayout::get().top),
            Just(SurgeLayout::get().top + 1),
            Just(u64::MAX),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Surge's layout counts a value where recording it does, and names that bucket's lowest value.
        #[test]
        fn surge_layout_matches_hdrhistogram(v in value()) {
            let surge = SurgeLayout::get();
            let mut h = new_histogram();
            h.saturating_record(v);
            let i = surge.index_of(v);
            prop_assert!(i < surge.len);
            let at = surge.value_at(i);
            let recorded: Vec<u64> = h.iter_recorded().map(|r| h.lowest_equivalent(r.value_iterated_to())).collect();
            prop_assert_eq!(recorded, vec![at]);
            if v <= surge.top {
                prop_assert_eq!(at, h.lowest_equivalent(v));
            } else {
                prop_assert_eq!(i, surge.index_of(surge.high));
            }
        }

        /// Any valid layout: `index_of` inverts `value_at`, and agrees with `lowest_equivalent`.
        #[test]
        fn layouts_invert(low in 1u64..1_000_000, digits in 0u32..=5, v in 0u64..u64::MAX / 4) {
            let high = low.saturating_mul(1 << 20);
            let layout = Layout::new(low, high, digits).unwrap();
            let h = Histogram::<u64>::new_with_bounds(low, high, digits as u8).unwrap();
            let i = layout.index_of(v);
            prop_assert_eq!(layout.value_at(i).unwrap(), h.lowest_equivalent(v));
            prop_assert_eq!(layout.index_of(layout.value_at(i).unwrap()), i);
        }
    }

    #[test]
    fn surge_extent() {
        let surge = SurgeLayout::get();
        // `Buckets` packs a bucket's index in 16 bits.
        assert!(surge.len <= 1 << 16, "{} buckets", surge.len);
        assert_eq!(surge.len, new_histogram().distinct_values());
        assert!(surge.top >= crate::HIGHEST_US && surge.top < u64::from(u32::MAX));
        assert_eq!(surge.index_of(surge.top), surge.len - 1);
        assert_eq!(surge.index_of(u64::MAX), surge.index_of(crate::HIGHEST_US));
    }
}
