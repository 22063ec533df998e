//! Prometheus remote write 1.0's protobuf, encoded by hand: three small messages.
//!
//! ```text
//! message WriteRequest { repeated TimeSeries timeseries = 1; }
//! message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//! message Label        { string name = 1; string value = 2; }
//! message Sample       { double value = 1; int64 timestamp = 2; }   // timestamp in ms
//! ```
//!
//! Labels go in name order with `__name__` among them, as the receiver expects.

use crate::live::families::Family;

/// Wire type 2 (length-delimited) tag of field `n`.
const fn delimited(n: u8) -> u8 {
    (n << 3) | 2
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_bytes(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    out.push(delimited(field));
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn label(out: &mut Vec<u8>, name: &str, value: &str) {
    let mut l = Vec::with_capacity(name.len() + value.len() + 4);
    field_bytes(&mut l, 1, name.as_bytes());
    field_bytes(&mut l, 2, value.as_bytes());
    field_bytes(out, 1, &l);
}

fn sample(out: &mut Vec<u8>, value: f64, timestamp_ms: i64) {
    let mut s = Vec::with_capacity(20);
    s.push((1 << 3) | 1); // field 1, wire type 1 (64-bit)
    s.extend_from_slice(&value.to_le_bytes());
    s.push(2 << 3); // field 2, wire type 0 (varint); int64 is its two's complement
    varint(&mut s, timestamp_ms as u64);
    field_bytes(out, 2, &s);
}

/// One time series: `labels` (sorted here, `__name__` included by the caller) and one sample.
pub fn time_series(out: &mut Vec<u8>, labels: &[(&str, &str)], value: f64, timestamp_ms: i64) {
    let mut sorted: Vec<&(&str, &str)> = labels.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut ts = Vec::with_capacity(128);
    for (name, v) in sorted {
        label(&mut ts, name, v);
    }
    sample(&mut ts, value, timestamp_ms);
    field_bytes(out, 1, &ts);
}

/// A `WriteRequest` (uncompressed) of every series of `families`, each with `extra` labels and one
/// sample at `timestamp_ms`; and how many series it holds.
pub fn write_request(
    families: &[Family],
    extra: &[(String, String)],
    timestamp_ms: i64,
) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(16 * 1024);
    let mut n = 0;
    for f in families {
        for s in &f.samples {
            let mut labels: Vec<(&str, &str)> =
                Vec::with_capacity(s.labels.len() + extra.len() + 1);
            labels.push(("__name__", f.name));
            for (k, v) in &s.labels {
                labels.push((k, v));
            }
            for (k, v) in extra {
                // The series' own labels win over the extra ones of the same name.
                if !s.labels.iter().any(|(own, _)| own == k) {
                    labels.push((k, v));
                }
            }
            time_series(&mut out, &labels, s.value, timestamp_ms);
            n += 1;
        }
    }
    (out, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_protobuf() {
        for (v, want) in [
            (0u64, vec![0u8]),
            (1, vec![1]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
            (
                u64::MAX,
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out, want, "{v}");
        }
    }

    /// The bytes `protoc --encode=prometheus.WriteRequest` gives for
    /// `timeseries { labels { name: "__name__" value: "up" } labels { name: "job" value: "s" }
    /// samples { value: 1.5 timestamp: 1000 } }`, written out field by field.
    #[test]
    fn one_series_encodes_as_protoc_would() {
        let mut out = Vec::new();
        time_series(&mut out, &[("job", "s"), ("__name__", "up")], 1.5, 1000);
        let mut want = vec![0x0a, 40]; // WriteRequest.timeseries, 40 bytes
        want.extend([0x0a, 14, 0x0a, 8]); // TimeSeries.labels (14), Label.name (8)
        want.extend(b"__name__");
        want.extend([0x12, 2]);
        want.extend(b"up");
        want.extend([0x0a, 8, 0x0a, 3]);
        want.extend(b"job");
        want.extend([0x12, 1]);
        want.extend(b"s");
        want.extend([0x12, 12, 0x09]); // TimeSeries.samples (12), Sample.value (double)
        want.extend(1.5f64.to_le_bytes());
        want.extend([0x10, 0xe8, 0x07]); // Sample.timestamp = 1000
        assert_eq!(out, want);
    }
}
