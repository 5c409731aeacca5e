//! Reading the spanned TOML tree (`toml::de::DeTable`) field by field, so that
//! every mistake is reported at its value with its dotted field path.
//!
//! The tree is walked by hand rather than through `serde` derive: each table
//! lists the fields it allows (an unknown one is an error with a suggestion),
//! and the executor-specific options of a scenario can be told apart from
//! plain typos.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeArray, DeString, DeTable, DeValue};

use crate::duration::{DURATION_HELP, parse_duration};
use crate::error::ScenarioError;
use crate::suggest::did_you_mean;

pub(crate) type Span = Range<usize>;
pub(crate) type Val<'i> = Spanned<DeValue<'i>>;
pub(crate) type Result<T, E = ScenarioError> = std::result::Result<T, E>;

/// The file being compiled: what every error needs.
#[derive(Clone, Copy)]
pub(crate) struct Cx<'s> {
    pub src: &'s str,
    pub file: &'s Path,
}

impl<'s> Cx<'s> {
    pub fn err(
        &self,
        span: Option<Span>,
        field: &str,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError::new(self.file, self.src, span, field, message, help)
    }

    /// Narrows `value_span` (a string value) to `range` of its content when the
    /// string has no escapes, so a caret can point inside it.
    pub fn inner_span(&self, value_span: &Span, content: &str, range: &Span) -> Span {
        let Some(raw) = self.src.get(value_span.clone()) else { return value_span.clone() };
        for quote in ["\"\"\"", "'''", "\"", "'"] {
            let q = quote.len();
            if raw.len() >= 2 * q
                && raw.starts_with(quote)
                && raw.ends_with(quote)
                && raw.get(q..raw.len() - q) == Some(content)
            {
                let start = value_span.start + q;
                return (start + range.start)..(start + range.end.max(range.start));
            }
        }
        value_span.clone()
    }

    /// Explains a value of the wrong type.
    pub fn type_err(&self, v: &Val<'_>, field: &str, expected: &str, help: impl Into<String>) -> ScenarioError {
        self.err(Some(v.span()), field, format!("expected {expected}, found {}", describe(v.get_ref())), help)
    }

    pub fn str_of<'a>(&self, v: &'a Val<'_>, field: &str, help: &str) -> Result<&'a str> {
        match v.get_ref() {
            DeValue::String(s) => Ok(s),
            _ => Err(self.type_err(v, field, "a string", help)),
        }
    }

    pub fn bool_of(&self, v: &Val<'_>, field: &str) -> Result<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.type_err(v, field, "a boolean", "write true or false (without quotes)")),
        }
    }

    /// A whole number in `min..=max`.
    pub fn u64_of(&self, v: &Val<'_>, field: &str, min: u64, max: u64) -> Result<u64> {
        let help = format!("a whole number from {min} to {max}, without quotes");
        let DeValue::Integer(int) = v.get_ref() else {
            return Err(self.type_err(v, field, "a whole number", help));
        };
        let parsed = i128::from_str_radix(int.as_str(), int.radix()).ok();
        match parsed {
            Some(n) if n < 0 && min == 0 => Err(self.err(Some(v.span()), field, format!("{n} is negative"), help)),
            Some(n) if n < i128::from(min) => {
                Err(self.err(Some(v.span()), field, format!("{n} is too small: the minimum is {min}"), help))
            }
            Some(n) if n <= i128::from(max) => Ok(n as u64),
            _ => Err(self.err(Some(v.span()), field, format!("{int} is too large: the maximum is {max}"), help)),
        }
    }

    /// A size in bytes, written `"10MiB"`, `"512KB"`, `"1GB"` or as a whole
    /// number of bytes, in `1..=max`.
    pub fn size_of(&self, v: &Val<'_>, field: &str, max: u64) -> Result<u64> {
        let help = "a size with a unit, e.g. \"10MiB\", \"512KiB\" or \"1GB\" (KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024)";
        let n = match v.get_ref() {
            DeValue::Integer(_) => self.u64_of(v, field, 1, max)?,
            DeValue::String(s) => parse_size(s).map_err(|e| self.err(Some(v.span()), field, e, help))?,
            _ => return Err(self.type_err(v, field, "a size", help)),
        };
        if n == 0 || n > max {
            return Err(self.err(
                Some(v.span()),
                field,
                format!("{n} bytes is out of range: from 1 byte to {max}"),
                help,
            ));
        }
        Ok(n)
    }

    pub fn duration_of(&self, v: &Val<'_>, field: &str) -> Result<Duration> {
        match v.get_ref() {
            DeValue::String(s) => parse_duration(s).map_err(|e| self.err(Some(v.span()), field, e, DURATION_HELP)),
            DeValue::Integer(i) => Err(self.type_err(
                v,
                field,
                "a duration string",
                format!("durations are quoted strings with a unit: write \"{i}s\" or \"{i}ms\""),
            )),
            _ => Err(self.type_err(v, field, "a duration string", DURATION_HELP)),
        }
    }

    /// A duration that must be above zero.
    pub fn positive_duration_of(&self, v: &Val<'_>, field: &str) -> Result<Duration> {
        let d = self.duration_of(v, field)?;
        if d.is_zero() {
            return Err(self.err(Some(v.span()), field, "must be longer than 0s", DURATION_HELP));
        }
        Ok(d)
    }

    pub fn table_of<'a, 'i>(&self, v: &'a Val<'i>, field: &str, at: Span, help: &str) -> Result<Node<'a, 'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Ok(Node { path: field.to_string(), table: t, at }),
            _ => Err(self.type_err(v, field, "a table", help)),
        }
    }

    pub fn array_of<'a, 'i>(&self, v: &'a Val<'i>, field: &str, help: &str) -> Result<&'a DeArray<'i>> {
        match v.get_ref() {
            DeValue::Array(a) => Ok(a),
            _ => Err(self.type_err(v, field, "an array", help)),
        }
    }
}

/// Describes a value for "expected …, found …".
pub(crate) fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => {
            let mut shown: String = s.chars().take(40).collect();
            if shown.len() < s.len() {
                shown.push('…');
            }
            format!("string {shown:?}")
        }
        DeValue::Integer(i) => format!("integer {i}"),
        DeValue::Float(f) => format!("float {f}"),
        DeValue::Boolean(b) => format!("boolean {b}"),
        DeValue::Datetime(d) => format!("datetime {d}"),
        DeValue::Array(_) => "an array".into(),
        DeValue::Table(_) => "a table".into(),
    }
}

/// Appends `key` to a dotted field path, quoting keys that are not bare.
pub(crate) fn join(path: &str, key: &str) -> String {
    let bare = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare { key.to_string() } else { format!("{key:?}") };
    if path.is_empty() { key } else { format!("{path}.{key}") }
}

/// A table being read, with its field path and where to point when a field is missing.
pub(crate) struct Node<'a, 'i> {
    pub path: String,
    pub table: &'a DeTable<'i>,
    /// The table's key (or header) in the file.
    pub at: Span,
}

impl<'a, 'i> Node<'a, 'i> {
    /// Entries in file order.
    pub fn entries(&self) -> Vec<(&'a Spanned<DeString<'i>>, &'a Val<'i>)> {
        let mut entries: Vec<_> = self.table.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        entries
    }

    pub fn get(&self, key: &str) -> Option<&'a Val<'i>> {
        self.table.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
    }

    pub fn key_span(&self, key: &str) -> Span {
        self.table.iter().find(|(k, _)| k.get_ref() == key).map_or(self.at.clone(), |(k, _)| k.span())
    }

    pub fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Fails on the first key (in file order) that is not in `allowed`.
    pub fn deny_unknown(&self, cx: &Cx<'_>, allowed: &[&str]) -> Result<()> {
        for (key, _) in self.entries() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                return Err(unknown_field(cx, &self.path, key, allowed));
            }
        }
        Ok(())
    }

    pub fn missing(&self, cx: &Cx<'_>, key: &str, help: impl Into<String>) -> ScenarioError {
        let what = if self.path.is_empty() { "the file".to_string() } else { format!("`{}`", self.path) };
        cx.err(Some(self.at.clone()), &self.field(key), format!("missing field `{key}` in {what}"), help)
    }

    pub fn str(&self, cx: &Cx<'_>, key: &str, help: &str) -> Result<Option<(&'a str, Span)>> {
        self.get(key).map(|v| Ok((cx.str_of(v, &self.field(key), help)?, v.span()))).transpose()
    }

    pub fn u64(&self, cx: &Cx<'_>, key: &str, min: u64, max: u64) -> Result<Option<u64>> {
        self.get(key).map(|v| cx.u64_of(v, &self.field(key), min, max)).transpose()
    }

    pub fn bool(&self, cx: &Cx<'_>, key: &str) -> Result<Option<bool>> {
        self.get(key).map(|v| cx.bool_of(v, &self.field(key))).transpose()
    }

    pub fn duration(&self, cx: &Cx<'_>, key: &str) -> Result<Option<Duration>> {
        self.get(key).map(|v| cx.duration_of(v, &self.field(key))).transpose()
    }

    pub fn size(&self, cx: &Cx<'_>, key: &str, max: u64) -> Result<Option<u64>> {
        self.get(key).map(|v| cx.size_of(v, &self.field(key), max)).transpose()
    }

    pub fn positive_duration(&self, cx: &Cx<'_>, key: &str) -> Result<Option<Duration>> {
        self.get(key).map(|v| cx.positive_duration_of(v, &self.field(key))).transpose()
    }

    pub fn table(&self, cx: &Cx<'_>, key: &str, help: &str) -> Result<Option<Node<'a, 'i>>> {
        self.get(key).map(|v| cx.table_of(v, &self.field(key), self.key_span(key), help)).transpose()
    }
}

/// "unknown field `vuss`; did you mean `vus`?" with the allowed list.
pub(crate) fn unknown_field(cx: &Cx<'_>, path: &str, key: &Spanned<DeString<'_>>, allowed: &[&str]) -> ScenarioError {
    let name: &str = key.get_ref();
    let hint =
        did_you_mean(name, allowed.iter().copied()).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
    cx.err(
        Some(key.span()),
        &join(path, name),
        format!("unknown field `{name}`{hint}"),
        format!("allowed here: {}", allowed.join(", ")),
    )
}

/// `"10MiB"` → 10 485 760. Units: B, KB, MB, GB (10³ⁿ), KiB, MiB, GiB (2¹⁰ⁿ).
pub(crate) fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("`{s}` is not a size: it must start with a whole number"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => return Err(format!("unknown size unit `{other}`")),
    };
    n.checked_mul(scale).ok_or_else(|| format!("`{s}` is too large"))
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn sizes_parse_with_decimal_and_binary_units() {
        use super::parse_size;
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("512 KB"), Ok(512_000));
        assert_eq!(parse_size("7"), Ok(7));
        assert!(parse_size("10 parsecs").unwrap_err().contains("unknown size unit"));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999GiB").unwrap_err().contains("too large"));
    }
}
