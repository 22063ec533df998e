//! Counts as people read them. The one digit-grouping function of the workspace: the plan's curve
//! table, the CLI's progress lines and every report use it (surge-report adds floats and units).

/// `1234567` -> `1,234,567`.
///
/// ```
/// assert_eq!(surge_metrics::thousands(1_234_567), "1,234,567");
/// assert_eq!(surge_metrics::thousands(999), "999");
/// ```
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn groups_by_three_from_the_right() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(100), "100");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_345), "12,345");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }
}
