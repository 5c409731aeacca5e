//! Duration strings as k6 writes them: `500ms`, `10s`, `1m30s`, `2h`, `1.5s`.

use std::time::Duration;

/// Longest duration accepted anywhere (a year): longer is surely a typo.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// What a valid duration looks like (for `help:` lines).
pub const DURATION_HELP: &str = "a duration is a string of numbers with units: \"500ms\", \"10s\", \"1m30s\", \"2h\", \"1.5s\" (units: ns, us, ms, s, m, h, d)";

/// Parses a duration: one or more `NUMBER UNIT` pairs (`1h30m`, `1.5s`), units
/// `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`, `d`; a bare `0` is zero. Exact
/// (no floating point), never negative, at most a year.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.starts_with('-') {
        return Err(format!("`{text}`: durations cannot be negative"));
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut total: u128 = 0;
    while i < bytes.len() {
        // NUMBER: digits, optionally `.` digits.
        let start = i;
        let mut whole: u128 = 0;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            whole = whole.saturating_mul(10).saturating_add(u128::from(bytes[i] - b'0'));
            i += 1;
        }
        let mut frac: u128 = 0;
        let mut frac_scale: u128 = 1;
        let mut has_frac_digits = false;
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                // Digits beyond nanosecond precision are ignored.
                if frac_scale < 1_000_000_000_000_000_000 {
                    frac = frac * 10 + u128::from(bytes[i] - b'0');
                    frac_scale *= 10;
                }
                has_frac_digits = true;
                i += 1;
            }
        }
        if i == start || (i == start + 1 && bytes[start] == b'.') || (!has_frac_digits && bytes[i - 1] == b'.') {
            return Err(format!("`{text}` is not a duration: expected a number at `{}`", &text[start..]));
        }
        // UNIT
        let unit_start = i;
        while i < text.len() && !text.as_bytes()[i].is_ascii_digit() && text.as_bytes()[i] != b'.' {
            i += 1;
        }
        let unit = text.get(unit_start..i).unwrap_or("");
        let nanos_per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "d" => 86_400 * 1_000_000_000,
            "" => {
                return Err(format!(
                    "`{text}` has a number without a unit; write e.g. \"{}s\" or \"{}ms\"",
                    &text[start..i],
                    &text[start..i]
                ));
            }
            other => return Err(format!("`{text}`: unknown unit `{}`", other.trim())),
        };
        let part =
            whole.saturating_mul(nanos_per_unit).saturating_add(frac.saturating_mul(nanos_per_unit) / frac_scale);
        total = total.saturating_add(part);
    }
    if total > MAX_DURATION.as_nanos() {
        return Err(format!("`{text}` is too long: the longest duration allowed is 365d"));
    }
    let total = u64::try_from(total).map_err(|_| format!("`{text}` is too long"))?;
    Ok(Duration::from_nanos(total))
}

/// Formats a duration the way it is written in scenario files (`1m30s`, `500ms`).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if !nanos.is_multiple_of(1_000_000_000) {
        return if nanos.is_multiple_of(1_000_000) {
            format!("{}ms", nanos / 1_000_000)
        } else if nanos.is_multiple_of(1_000) {
            format!("{}us", nanos / 1_000)
        } else {
            format!("{nanos}ns")
        };
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k6_durations() {
        let ms = |n| Duration::from_millis(n);
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("10s"), Ok(ms(10_000)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("2h"), Ok(ms(7_200_000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1_500)));
        assert_eq!(parse_duration(".5s"), Ok(ms(500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1h2m3s4ms"), Ok(ms(3_723_004)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in [
            "",
            "10",
            "s",
            "-1s",
            "1x",
            "1.s",
            ".s",
            "NaN",
            "1e3s",
            "1 s x",
            "99999999999999999999999h",
            "400d",
            "1..5s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn formats_round_trip() {
        for s in ["0s", "500ms", "10s", "1m30s", "2h", "1h1s", "250us"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
