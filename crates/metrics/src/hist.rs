//! The one histogram type: HDR, microseconds, 3 significant digits.

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// Latency histogram in microseconds with 3 significant digits.
///
/// It starts small and grows (HDR auto-resize) only as far as the largest
/// value recorded, so a series that only ever sees millisecond latencies costs
/// tens of kilobytes, while values up to hours remain representable.
pub type Histogram = hdrhistogram::Histogram<u64>;

pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A new, empty, auto-resizing histogram.
pub fn new_histogram() -> Histogram {
    let mut h = Histogram::new_with_bounds(1, 2048, SIGNIFICANT_DIGITS)
        .expect("static histogram bounds are valid");
    h.auto(true);
    h
}

/// Records a value in microseconds; never fails (auto-resize covers any u64
/// the histogram can represent; beyond that the value saturates).
#[inline]
pub fn record(h: &mut Histogram, micros: u64) {
    if h.record(micros).is_err() {
        h.saturating_record(micros);
    }
}

/// Encodes with HdrHistogram's V2 + DEFLATE format (interoperable with the
/// Java, Python and Go implementations).
pub fn encode(h: &Histogram) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    V2DeflateSerializer::new()
        .serialize(h, &mut out)
        .expect("serializing into a Vec cannot fail");
    out
}

/// Decodes V2 or V2 + DEFLATE bytes.
pub fn decode(bytes: &[u8]) -> Result<Histogram, DecodeError> {
    let mut h: Histogram = Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| DecodeError(format!("{e:?}")))?;
    h.auto(true);
    Ok(h)
}

/// A histogram payload that could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("invalid HDR histogram payload: {0}")]
pub struct DecodeError(String);

/// Adds `src` into `dst` exactly (bucket by bucket).
pub fn merge(dst: &mut Histogram, src: &Histogram) {
    if dst.add(src).is_err() {
        // Only possible when `dst` cannot grow; fall back to value-by-value.
        for v in src.iter_recorded() {
            dst.saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }
}

/// Microseconds to milliseconds, the unit k6 reports trends in.
#[inline]
pub fn us_to_ms(us: f64) -> f64 {
    us / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_one_microsecond_to_one_hour_with_three_digits() {
        let mut h = new_histogram();
        record(&mut h, 1);
        record(&mut h, 3_600_000_000);
        assert_eq!(h.min(), 1);
        let max = h.max() as f64;
        assert!((max - 3.6e9).abs() / 3.6e9 < 0.001, "max {max}");
    }

    #[test]
    fn round_trips_through_v2_deflate() {
        let mut h = new_histogram();
        for v in [5, 50, 500, 5_000, 50_000, 500_000] {
            record(&mut h, v);
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back.len(), h.len());
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
        assert_eq!(back.max(), h.max());
    }

    #[test]
    fn merge_equals_single_histogram() {
        let mut all = new_histogram();
        let mut a = new_histogram();
        let mut b = new_histogram();
        for v in 1..10_000u64 {
            let v = v * 37 % 100_000 + 1;
            record(&mut all, v);
            if v % 3 == 0 { record(&mut a, v) } else { record(&mut b, v) }
        }
        let mut m = new_histogram();
        merge(&mut m, &a);
        merge(&mut m, &b);
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(m.value_at_quantile(q), all.value_at_quantile(q));
        }
    }
}
