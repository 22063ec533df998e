//! Helpers shared by the surge-metrics integration tests.

use hdrhistogram::Histogram;

/// Every bucket of `h` as (lowest equivalent value, count): what two histograms must share to be equal
/// bucket for bucket.
pub fn buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| {
            (
                h.lowest_equivalent(v.value_iterated_to()),
                v.count_at_value(),
            )
        })
        .collect()
}
