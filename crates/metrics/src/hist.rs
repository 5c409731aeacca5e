//! The one histogram type: HDR, microseconds, 3 significant digits.

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer, V2Serializer};

/// Latency histogram in microseconds with 3 significant digits.
///
/// It starts small and grows (HDR auto-resize) only as far as the largest
/// value recorded, so a series that only ever sees millisecond latencies costs
/// tens of kilobytes, while values up to hours remain representable.
pub type Histogram = hdrhistogram::Histogram<u64>;

pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A new, empty, auto-resizing histogram.
pub fn new_histogram() -> Histogram {
    let mut h = Histogram::new_with_bounds(1, 2048, SIGNIFICANT_DIGITS).expect("static histogram bounds are valid");
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
    V2DeflateSerializer::new().serialize(h, &mut out).expect("serializing into a Vec cannot fail");
    out
}

/// Encodes with HdrHistogram's V2 format without DEFLATE, for the wire
/// between agents and coordinator: the coordinator decodes every series of
/// every agent every interval, and inflating each small histogram (a new
/// Huffman table each) cost more than adding its buckets. Readers take both
/// forms ([`decode`], [`decode_into`]), so peers of either kind interoperate.
pub fn encode_plain(h: &Histogram) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    V2Serializer::new().serialize(h, &mut out).expect("serializing into a Vec cannot fail");
    out
}

/// Decodes V2 or V2 + DEFLATE bytes.
///
/// The payload is inflated and its counts checked here before hdrhistogram's
/// deserializer sees them: that one negates a zero run of 2^63 buckets,
/// which overflows (a panic in debug builds) on bytes a peer can send.
pub fn decode(bytes: &[u8]) -> Result<Histogram, DecodeError> {
    match be_u32(bytes, 0)? {
        V2_COOKIE => deserialize_v2(bytes),
        V2_COMPRESSED_COOKIE => {
            let len = be_u32(bytes, 4)? as usize;
            let deflated = bytes.get(8..8 + len).ok_or_else(|| DecodeError("truncated payload".into()))?;
            // Not the thread-local buffer: `add_v2` calls here while holding it.
            let mut z = flate2::Decompress::new(true);
            let mut buf = Vec::with_capacity(4096);
            inflate(&mut z, deflated, &mut buf)?;
            if be_u32(&buf, 0)? != V2_COOKIE {
                return Err(DecodeError("inner payload is not V2".into()));
            }
            deserialize_v2(&buf)
        }
        other => Err(DecodeError(format!("unknown cookie {other:#x}"))),
    }
}

/// Uncompressed V2 through hdrhistogram, once its counts are known safe.
fn deserialize_v2(b: &[u8]) -> Result<Histogram, DecodeError> {
    let payload_len = be_u32(b, 4)? as usize;
    let counts = b.get(V2_HEADER..V2_HEADER + payload_len).ok_or_else(|| DecodeError("truncated counts".into()))?;
    let mut pos = 0usize;
    while pos < counts.len() {
        let (raw, used) = varint(&counts[pos..])?;
        if raw == u64::MAX {
            return Err(DecodeError("a zero run of 2^63 buckets".into()));
        }
        pos += used;
    }
    let mut h: Histogram = Deserializer::new().deserialize(&mut &b[..]).map_err(|e| DecodeError(format!("{e:?}")))?;
    h.auto(true);
    Ok(h)
}

const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9304 | 0x10;
const V2_HEADER: usize = 40;

fn be_u32(b: &[u8], at: usize) -> Result<u32, DecodeError> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| DecodeError("truncated header".into()))
}

fn be_u64(b: &[u8], at: usize) -> Result<u64, DecodeError> {
    let s = b.get(at..at + 8).ok_or_else(|| DecodeError("truncated header".into()))?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_be_bytes(a))
}

thread_local! {
    /// Inflater and buffer reused across decodes of one thread: setting up a
    /// zlib stream costs more than inflating a typical interval histogram.
    static INFLATER: std::cell::RefCell<(flate2::Decompress, Vec<u8>)> =
        std::cell::RefCell::new((flate2::Decompress::new(true), Vec::with_capacity(4096)));
}

fn inflate(z: &mut flate2::Decompress, input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    z.reset(true);
    out.clear();
    loop {
        if out.capacity() - out.len() < 1024 {
            if out.capacity() > 64 << 20 {
                return Err(DecodeError("inflated payload too large".into()));
            }
            out.reserve(out.capacity().max(4096));
        }
        let consumed = z.total_in() as usize;
        let status = z
            .decompress_vec(&input[consumed.min(input.len())..], out, flate2::FlushDecompress::None)
            .map_err(|e| DecodeError(format!("inflate: {e}")))?;
        match status {
            flate2::Status::StreamEnd => return Ok(()),
            flate2::Status::Ok | flate2::Status::BufError => {
                if z.total_in() as usize >= input.len() && out.capacity() > out.len() {
                    return Err(DecodeError("truncated deflate stream".into()));
                }
            }
        }
    }
}

/// Adds an encoded (V2 or V2 + DEFLATE) histogram into `dst` without
/// materialising it: only its non-zero buckets are touched, so merging many
/// sparse per-interval histograms costs what they hold, not their range.
/// Payloads of another layout (not 1 µs / 3 digits) take the slow path.
pub fn decode_into(dst: &mut Histogram, bytes: &[u8]) -> Result<(), DecodeError> {
    if bytes.is_empty() {
        return Ok(());
    }
    with_v2(bytes, |b| add_v2(dst, b))
}

/// Checks that an encoded histogram decodes (what [`decode_into`] would
/// reject), without adding it anywhere: a peer's payload is checked when it
/// arrives and merged later.
pub fn validate(bytes: &[u8]) -> Result<(), DecodeError> {
    if bytes.is_empty() {
        return Ok(());
    }
    with_v2(bytes, |b| if visit_v2(b, |_, _| {})? { Ok(()) } else { decode(b).map(drop) })
}

/// Calls `f` with the uncompressed V2 bytes of an encoded histogram (V2, or
/// V2 + DEFLATE inflated into this thread's buffer).
fn with_v2<R>(bytes: &[u8], f: impl FnOnce(&[u8]) -> Result<R, DecodeError>) -> Result<R, DecodeError> {
    match be_u32(bytes, 0)? {
        V2_COOKIE => f(bytes),
        V2_COMPRESSED_COOKIE => {
            let len = be_u32(bytes, 4)? as usize;
            let deflated = bytes.get(8..8 + len).ok_or_else(|| DecodeError("truncated payload".into()))?;
            INFLATER.with(|cell| {
                let mut guard = cell.borrow_mut();
                let (z, buf) = &mut *guard;
                inflate(z, deflated, buf)?;
                f(buf)
            })
        }
        other => Err(DecodeError(format!("unknown cookie {other:#x}"))),
    }
}

fn add_v2(dst: &mut Histogram, b: &[u8]) -> Result<(), DecodeError> {
    // The highest bucket first: `dst` grows to its range once, not once per
    // power of two as buckets arrive in value order (each growth copies and
    // zeroes the counts).
    let mut highest = None;
    if !visit_v2(b, |index, count| highest = Some((index, count)))? {
        merge(dst, &decode(b)?);
        return Ok(());
    }
    let Some((top, top_count)) = highest else { return Ok(()) };
    add_bucket(dst, top, top_count);
    visit_v2(b, |index, count| {
        if index != top {
            add_bucket(dst, index, count);
        }
    })?;
    Ok(())
}

/// Adds `count` to the bucket `index` of the standard layout (saturating
/// where `dst` cannot grow).
fn add_bucket(dst: &mut Histogram, index: u32, count: u64) {
    let v = lowest_value(index);
    if dst.record_n(v, count).is_err() {
        dst.saturating_record_n(v, count);
    }
}

/// Adds encoded histograms bucket by bucket into a flat array of counts
/// (one per bucket index of the standard layout, kept across uses), then
/// into a histogram once: merging many payloads of one series costs a
/// memory add per bucket that arrives, and one histogram update per
/// distinct bucket.
pub struct Accumulator {
    counts: Vec<u64>,
    /// The touched range of `counts`, `lo > hi` when none.
    lo: usize,
    hi: usize,
    /// Payloads of another layout, merged the slow way.
    other: Option<Histogram>,
}

impl Default for Accumulator {
    fn default() -> Self {
        Accumulator { counts: Vec::new(), lo: usize::MAX, hi: 0, other: None }
    }
}

impl Accumulator {
    /// Adds an encoded (V2 or V2 + DEFLATE) histogram.
    pub fn add(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.counts.is_empty() {
            self.counts = vec![0; MAX_BUCKET_INDEX as usize];
        }
        let Accumulator { counts, lo, hi, other } = self;
        with_v2(bytes, |b| {
            let mut first = usize::MAX;
            let mut last = 0;
            let standard = visit_v2(b, |index, count| {
                let i = index as usize;
                first = first.min(i);
                last = i;
                counts[i] = counts[i].saturating_add(count);
            })?;
            if standard {
                if first != usize::MAX {
                    *lo = (*lo).min(first);
                    *hi = (*hi).max(last);
                }
            } else {
                merge(other.get_or_insert_with(new_histogram), &decode(b)?);
            }
            Ok(())
        })
    }

    /// Adds everything added since the last call into `dst`, and starts over.
    pub fn drain_into(&mut self, dst: &mut Histogram) {
        if let Some(o) = self.other.take() {
            merge(dst, &o);
        }
        if self.lo > self.hi {
            return;
        }
        let (lo, hi) = (self.lo, self.hi);
        self.lo = usize::MAX;
        self.hi = 0;
        // An empty `dst` is made at the size it needs (growing copies the
        // counts); into one that holds counts, the highest bucket first:
        // it grows once.
        if dst.is_empty()
            && bucket_value(hi as u32) > dst.high()
            && let Ok(mut h) = Histogram::new_with_bounds(1, bucket_value(hi as u32).max(2), SIGNIFICANT_DIGITS)
        {
            h.auto(true);
            *dst = h;
        }
        let top = std::mem::take(&mut self.counts[hi]);
        add_bucket(dst, hi as u32, top);
        for (i, c) in self.counts[lo..hi].iter_mut().enumerate() {
            if *c != 0 {
                add_bucket(dst, (lo + i) as u32, std::mem::take(c));
            }
        }
    }
}

/// Bucket layout of 1 µs / 3 significant digits: 2048 sub-buckets, the
/// lower half of each bucket shared with the one below.
const HALF_MAGNITUDE: u32 = 10;
const HALF_COUNT: u64 = 1 << HALF_MAGNITUDE;
/// Sub-buckets hold 11 bits: past bucket 53 a value leaves u64.
const MAX_BUCKET_INDEX: u32 = 55 << HALF_MAGNITUDE;

/// `(bucket, sub-bucket)` of a bucket index of the standard layout.
fn bucket_of(index: u32) -> (u32, u64) {
    let bucket = (index >> HALF_MAGNITUDE) as i64 - 1;
    let sub = (index as u64 & (HALF_COUNT - 1)) + HALF_COUNT;
    if bucket < 0 { (0, sub - HALF_COUNT) } else { (bucket as u32, sub) }
}

/// The lowest value a bucket index of the standard layout holds.
fn lowest_value(index: u32) -> u64 {
    let (bucket, sub) = bucket_of(index);
    sub << bucket
}

/// The highest value a bucket index of the standard layout holds (what
/// `value_at_quantile` reports for it).
pub fn bucket_value(index: u32) -> u64 {
    let (bucket, sub) = bucket_of(index);
    (sub << bucket).saturating_add((1u64 << bucket) - 1)
}

/// Calls `f(index, count)` for each non-zero bucket of an uncompressed V2
/// payload of the standard layout, in index (value) order; `Ok(false)`
/// without calling it when the payload has another layout.
fn visit_v2(b: &[u8], mut f: impl FnMut(u32, u64)) -> Result<bool, DecodeError> {
    if be_u32(b, 0)? != V2_COOKIE {
        return Err(DecodeError("inner payload is not V2".into()));
    }
    let payload_len = be_u32(b, 4)? as usize;
    let normalizing_offset = be_u32(b, 8)?;
    let sigfigs = be_u32(b, 12)?;
    let lowest = be_u64(b, 16)?;
    let counts = b.get(V2_HEADER..V2_HEADER + payload_len).ok_or_else(|| DecodeError("truncated counts".into()))?;
    if sigfigs != SIGNIFICANT_DIGITS as u32 || lowest != 1 || normalizing_offset != 0 {
        return Ok(false);
    }
    let mut index = 0u64;
    let mut pos = 0usize;
    while let Some(&byte) = counts.get(pos) {
        // Most counts and zero runs of an interval take one byte.
        let (raw, used) = if byte < 0x80 { (byte as u64, 1) } else { varint(&counts[pos..])? };
        pos += used;
        let count = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
        if count < 0 {
            index = index.saturating_add(count.unsigned_abs());
        } else {
            if count > 0 {
                if index >= MAX_BUCKET_INDEX as u64 {
                    return Err(DecodeError(format!("count at bucket index {index}, beyond any u64 value")));
                }
                f(index as u32, count as u64);
            }
            index = index.saturating_add(1);
        }
    }
    Ok(true)
}

/// The non-zero buckets of an encoded histogram (V2 or V2 + DEFLATE) of the
/// standard layout, as `(bucket index, count)` in value order, appended to
/// `out`: a histogram read without building one (see [`bucket_value`]).
pub fn buckets(bytes: &[u8], out: &mut Vec<(u32, u64)>) -> Result<(), DecodeError> {
    let standard = with_v2(bytes, |b| visit_v2(b, |i, c| out.push((i, c))))?;
    if standard {
        Ok(())
    } else {
        Err(DecodeError("not the layout Stampede writes (1 µs, 3 significant digits)".into()))
    }
}

/// HdrHistogram's LEB128 variant: up to 9 bytes, the 9th carrying 8 bits.
fn varint(b: &[u8]) -> Result<(u64, usize), DecodeError> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(9) {
        if i == 8 {
            v |= (byte as u64) << 56;
            return Ok((v, 9));
        }
        v |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    Err(DecodeError("truncated varint".into()))
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

/// The value at quantile `q` (0–1) of a µs histogram, in milliseconds; 0
/// for an empty one.
pub fn quantile_ms(h: &Histogram, q: f64) -> f64 {
    if h.is_empty() { 0.0 } else { us_to_ms(h.value_at_quantile(q) as f64) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_read_back_what_was_recorded() {
        let mut h = new_histogram();
        for (v, n) in [(1u64, 3u64), (999, 1), (2047, 2), (2048, 5), (123_456, 7), (3_600_000_000, 1)] {
            h.record_n(v, n).unwrap();
        }
        let mut out = Vec::new();
        buckets(&encode(&h), &mut out).unwrap();
        let read: Vec<(u64, u64)> = out.iter().map(|&(i, c)| (bucket_value(i), c)).collect();
        let expected: Vec<(u64, u64)> =
            h.iter_recorded().map(|v| (h.highest_equivalent(v.value_iterated_to()), v.count_at_value())).collect();
        assert_eq!(read, expected);
    }

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
    fn decode_into_adds_exactly_what_decode_and_merge_add() {
        let mut a = new_histogram();
        let mut b = new_histogram();
        let mut x = 88172645463325252u64;
        for i in 0..50_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = 1 + x % [10, 1_000, 100_000, 10_000_000, 3_600_000_000][(i % 5) as usize];
            if i % 2 == 0 { record(&mut a, v) } else { record(&mut b, v) }
        }
        // Into a filled histogram and into an empty one (which grows to the
        // payload's range at its first bucket), from both wire forms.
        for into in [a.clone(), new_histogram()] {
            for bytes in [encode(&b), encode_plain(&b)] {
                let mut slow = into.clone();
                merge(&mut slow, &decode(&bytes).unwrap());
                let mut fast = into.clone();
                decode_into(&mut fast, &bytes).unwrap();
                assert_eq!(fast.len(), slow.len());
                assert_eq!(fast.max(), slow.max());
                assert_eq!(fast.min(), slow.min());
                for (p, q) in fast.iter_recorded().zip(slow.iter_recorded()) {
                    assert_eq!(
                        (p.value_iterated_to(), p.count_at_value()),
                        (q.value_iterated_to(), q.count_at_value())
                    );
                }
            }
        }
        let mut fast = a.clone();
        assert!(decode_into(&mut fast, b"garbage!").is_err());
        assert!(decode_into(&mut fast, &[0x1c, 0x84, 0x93, 0x14, 0, 0, 0, 200, 1]).is_err());
    }

    /// Uncompressed V2 (cookie, counts length, offset, digits, lowest,
    /// highest, ratio), as a peer can send it.
    fn raw_v2(digits: u32, counts: &[u8]) -> Vec<u8> {
        let mut b = V2_COOKIE.to_be_bytes().to_vec();
        b.extend_from_slice(&(counts.len() as u32).to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&digits.to_be_bytes());
        b.extend_from_slice(&1u64.to_be_bytes());
        b.extend_from_slice(&2048u64.to_be_bytes());
        b.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        b.extend_from_slice(counts);
        b
    }

    #[test]
    fn hostile_counts_are_errors_not_panics() {
        // A zero run of 2^45 buckets, then a count: beyond any u64 value
        // (was a shift overflow).
        let mut far = Vec::new();
        let mut v = (1u64 << 46) - 1; // zig-zag of -(2^45)
        while v >= 0x80 {
            far.push((v as u8) | 0x80);
            v >>= 7;
        }
        far.extend_from_slice(&[v as u8, 2]);
        for digits in [3, 2] {
            let mut h = new_histogram();
            assert!(decode_into(&mut h, &raw_v2(digits, &far)).is_err(), "digits {digits}");
        }
        // A zero run of 2^63 buckets (zig-zag of u64::MAX), which
        // hdrhistogram's deserializer negates (was an overflow panic).
        let min = [0xff; 9];
        assert!(decode(&raw_v2(2, &min)).is_err());
        assert!(decode_into(&mut new_histogram(), &raw_v2(2, &min)).is_err());
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
