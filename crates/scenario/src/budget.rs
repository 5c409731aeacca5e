//! Regression budgets: how much slower a series may get than its baseline
//! before `stampede compare` (or `run --baseline`) fails the build. Written
//! in a scenario's `[compare]` table or with `--budget`:
//!
//! ```toml
//! [compare]
//! "http_req_duration{name:checkout}" = ["p(95) +10%", "p(99) +50ms"]
//! http_req_duration = ["median +5%"]
//! ```

use std::collections::BTreeMap;

/// One allowance on one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// The series, normalized: `metric` or `metric{tag:value,…}` (tags sorted).
    pub selector: String,
    /// The quantile, 0–1.
    pub q: f64,
    /// How much slower it may get: percent of the baseline's value, and/or
    /// an amount (ms for times, else the metric's unit).
    pub percent: Option<f64>,
    pub absolute: Option<f64>,
    /// The allowance as written.
    pub text: String,
}

/// Why a budget does not parse: what, and how to write it.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetError {
    pub message: String,
    pub help: String,
}

impl std::fmt::Display for BudgetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.help)
    }
}

const HELP: &str =
    "write it as \"p(95) +10%\" or \"p(99) +50ms\": a percentile (or median), then how much slower it may get";

/// Parses an allowance (`p(95) +10%`, `p(99)+50ms`, `median +5%`, `p(99.9) +1s`) for `selector`.
pub fn parse_budget(selector: &str, text: &str) -> Result<Budget, BudgetError> {
    let err = |message: String| BudgetError { message, help: HELP.into() };
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let (q, rest) = if let Some(r) = t.strip_prefix("median") {
        (0.5, r)
    } else if let Some(r) = t.strip_prefix("p(") {
        let (p, r) = r.split_once(')').ok_or_else(|| err(format!("budget `{text}`: no `)` after `p(`")))?;
        let p: f64 = p.parse().map_err(|_| err(format!("budget `{text}`: `{p}` is not a percentile")))?;
        if !(p > 0.0 && p < 100.0) {
            return Err(err(format!("budget `{text}`: the percentile must be between 0 and 100 (exclusive)")));
        }
        (p / 100.0, r)
    } else {
        return Err(err(format!("budget `{text}` does not start with a percentile")));
    };
    let amount = rest.strip_prefix('+').ok_or_else(|| err(format!("budget `{text}`: the allowance needs a `+`")))?;
    let number = |s: &str| {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| err(format!("budget `{text}`: `{s}` is not a number")))
    };
    let (percent, absolute) = if let Some(n) = amount.strip_suffix('%') {
        (Some(number(n)?), None)
    } else if let Some(n) = amount.strip_suffix("ms") {
        (None, Some(number(n)?))
    } else if let Some(n) = amount.strip_suffix("us").or_else(|| amount.strip_suffix("µs")) {
        (None, Some(number(n)? / 1000.0))
    } else if let Some(n) = amount.strip_suffix('s') {
        (None, Some(number(n)? * 1000.0))
    } else {
        (None, Some(number(amount)?))
    };
    Ok(Budget { selector: normalize_selector(selector).map_err(err)?, q, percent, absolute, text: text.trim().into() })
}

/// `metric{k:v,…}` with its tags sorted and spaces removed.
pub fn normalize_selector(s: &str) -> Result<String, String> {
    let s = s.trim();
    let Some((metric, rest)) = s.split_once('{') else { return Ok(s.to_string()) };
    let inner = rest
        .strip_suffix('}')
        .ok_or_else(|| format!("selector `{s}`: no closing `}}` (write `metric{{name:checkout}}`)"))?;
    let mut tags = BTreeMap::new();
    for pair in inner.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair.split_once(':').ok_or_else(|| format!("selector `{s}`: `{pair}` is not `tag:value`"))?;
        tags.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
    }
    Ok(label(metric.trim(), &tags))
}

/// `metric{k:v,…}` (no braces without tags): how series are named.
pub fn label(metric: &str, tags: &BTreeMap<String, String>) -> String {
    if tags.is_empty() {
        return metric.to_string();
    }
    let inner: Vec<String> = tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("{metric}{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowances_parse_and_selectors_normalize() {
        let b = parse_budget(" http_req_duration{ name : checkout, scenario:buy } ", "p(95) +10%").unwrap();
        assert_eq!(b.selector, "http_req_duration{name:checkout,scenario:buy}");
        assert_eq!((b.q, b.percent, b.absolute), (0.95, Some(10.0), None));
        assert_eq!(parse_budget("x", "p(99)+50ms").unwrap().absolute, Some(50.0));
        assert_eq!(parse_budget("x", "median +1s").unwrap().absolute, Some(1000.0));
        assert_eq!(parse_budget("x", "p(99.9) +250us").unwrap().absolute, Some(0.25));
        for bad in ["p(95)", "p95 +10%", "p(100) +1%", "p(95) -10%", "p(95) +fast"] {
            assert!(parse_budget("x", bad).is_err(), "{bad}");
        }
    }
}
