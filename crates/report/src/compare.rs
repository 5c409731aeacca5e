//! `stampede compare`: did the run get slower than its baseline, where in
//! the distribution, and how sure is that?
//!
//! Method (`docs/compare.md` has the assumptions and references): for each
//! series both runs recorded, the *shift function* — the difference between
//! the runs at the deciles and at p95, p99 and p99.9 — with a confidence
//! interval per quantile by **sectioning** (batch quantiles): each run is cut
//! into consecutive batches of its time blocks (the summary's `histograms`),
//! long enough to hold the quantile several times over; the spread of the
//! batch quantiles measures the estimate's noise with the time correlation
//! inside the run respected, and the two runs' errors combine by Welch's
//! rule. A quantile is slower (faster) when its interval lies wholly above
//! (below) zero and its estimate is beyond the noise margin; the tested
//! quantiles share the confidence (Bonferroni).
//! Throughput compares the block rates the same way; the error rate by an
//! exact conditional binomial test.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;
use stampede_metrics::hist;
use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, StudentsT};

use crate::blocks::{BlockSeries, Histograms};
use crate::summary::Summary;

/// Quantiles of the shift function, shown for every series.
pub const SHIFT_QUANTILES: [f64; 12] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999];
/// The quantiles a verdict rests on (those with enough data).
pub const TESTED_QUANTILES: [f64; 5] = [0.5, 0.9, 0.95, 0.99, 0.999];
/// Fewest batches a run must have for a quantile to be tested.
pub const MIN_BATCHES: usize = 5;
/// A batch holds at least this many samples beyond its quantile (so p99
/// needs 1,000 samples per batch), and at least [`MIN_BATCH_SAMPLES`].
const TAIL_SAMPLES: f64 = 10.0;
const MIN_BATCH_SAMPLES: u64 = 20;
/// Exit code of a comparison that finds a regression beyond its budget.
pub const REGRESSION_EXIT: i32 = 111;

/// How to compare.
#[derive(Debug, Clone)]
pub struct Options {
    /// Confidence of each series' verdict (0.95).
    pub confidence: f64,
    /// Changes smaller than this fraction are noise, whatever the statistics say (0.05).
    pub noise: f64,
    pub budgets: Vec<Budget>,
}

impl Default for Options {
    fn default() -> Self {
        Options { confidence: 0.95, noise: 0.05, budgets: Vec::new() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Faster,
    Slower,
    NoChange,
    NotEnoughData,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::NoChange => "no change",
            Verdict::NotEnoughData => "not enough data",
        }
    }
}

/// One quantile of the shift function.
#[derive(Debug, Clone, Serialize)]
pub struct Shift {
    /// 0–1.
    pub q: f64,
    /// Values in ms for time series, else in the metric's unit.
    pub base: f64,
    pub run: f64,
    /// `run - base`, and its confidence interval (absent when not tested).
    pub diff: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// `diff / base`.
    pub relative: f64,
    pub verdict: Verdict,
}

/// A rate compared (throughput, requests/s; error rate, 0–1).
#[derive(Debug, Clone, Serialize)]
pub struct RateChange {
    pub base: f64,
    pub run: f64,
    pub relative: f64,
    /// Two-sided p-value (error rate) or `None` (throughput: `low`/`high`).
    pub p_value: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// `faster` = more throughput or fewer errors.
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeriesComparison {
    pub label: String,
    pub metric: String,
    pub tags: BTreeMap<String, String>,
    pub time: bool,
    pub base_count: u64,
    pub run_count: u64,
    pub verdict: Verdict,
    /// Where it changed, in words: `p95–p99.9 slower; median unchanged`.
    pub summary: String,
    pub shifts: Vec<Shift>,
    /// Latency (value) by percentile of each run, `(percentile, value)` at
    /// the summary's percentiles and 100 = max: the curves the HTML page overlays.
    pub curve_base: Vec<(f64, f64)>,
    pub curve_run: Vec<(f64, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput: Option<RateChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<RateChange>,
}

pub use stampede_scenario::budget::{Budget, parse_budget};

/// A budget judged.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetResult {
    /// The series, normalized (`metric{tag:value}`).
    pub selector: String,
    /// The allowance as written (`p(95) +10%`).
    pub allowance: String,
    pub q: f64,
    pub base: f64,
    pub run: f64,
    pub diff: f64,
    pub allowed: f64,
    /// Beyond budget: slower by more than allowed, and the slowdown is real
    /// (its interval lies above zero).
    pub exceeded: bool,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub baseline: String,
    pub run: String,
    pub confidence: f64,
    pub noise: f64,
    pub series: Vec<SeriesComparison>,
    pub only_in_baseline: Vec<String>,
    pub only_in_run: Vec<String>,
    pub budgets: Vec<BudgetResult>,
    /// Whether this comparison fails the build (exit [`REGRESSION_EXIT`]):
    /// a budget exceeded, or without budgets, all requests together slower.
    pub regression: bool,
}

impl Comparison {
    pub fn exit_code(&self) -> i32 {
        if self.regression { REGRESSION_EXIT } else { 0 }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a comparison serializes")
    }
}

/// Why two summaries cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(
        "{0} has no `histograms`: it was written before Stampede recorded them, or not by `--out summary=…` \
         (re-run the test with `--out summary=FILE`)"
    )]
    NoHistograms(String),
    #[error(
        "{baseline} ran {base_scenario} but {run} ran {run_scenario}: these are different tests \
         (pass --allow-different-scenarios to compare them anyway)"
    )]
    DifferentScenarios { baseline: String, run: String, base_scenario: String, run_scenario: String },
    #[error("{baseline} and {run} have no series in common: nothing to compare")]
    NothingInCommon { baseline: String, run: String },
    #[error("{file}: {why}")]
    Corrupt { file: String, why: String },
    #[error("budget `{0}`: no series of that name in both runs (series: {1})")]
    UnknownSelector(String, String),
}

/// Compares `run` with `baseline` (their file names, for messages).
pub fn compare(
    (base_name, base): (&str, &Summary),
    (run_name, run): (&str, &Summary),
    opts: &Options,
    allow_different_scenarios: bool,
) -> Result<Comparison, CompareError> {
    let hb = base.histograms.as_ref().ok_or_else(|| CompareError::NoHistograms(base_name.to_string()))?;
    let hr = run.histograms.as_ref().ok_or_else(|| CompareError::NoHistograms(run_name.to_string()))?;
    let stem = |p: &str| std::path::Path::new(p).file_name().map(|f| f.to_string_lossy().into_owned());
    if !allow_different_scenarios && stem(&base.run.scenario_file) != stem(&run.run.scenario_file) {
        return Err(CompareError::DifferentScenarios {
            baseline: base_name.into(),
            run: run_name.into(),
            base_scenario: base.run.scenario_file.clone(),
            run_scenario: run.run.scenario_file.clone(),
        });
    }
    check_shape(base_name, hb)?;
    check_shape(run_name, hr)?;
    let index = |h: &'_ Histograms| -> BTreeMap<String, usize> {
        h.series.iter().enumerate().map(|(i, s)| (s.label(), i)).collect()
    };
    let (ib, ir) = (index(hb), index(hr));
    let common: Vec<(&String, usize, usize)> = ib.iter().filter_map(|(l, &i)| ir.get(l).map(|&j| (l, i, j))).collect();
    if common.is_empty() {
        return Err(CompareError::NothingInCommon { baseline: base_name.into(), run: run_name.into() });
    }
    let corrupt = |file: &str, s: &BlockSeries, why: String| CompareError::Corrupt {
        file: file.to_string(),
        why: format!("histograms of {}: {why}", s.label()),
    };
    let one = |&(_, i, j): &(&String, usize, usize)| -> Result<SeriesComparison, CompareError> {
        let (sb, sr) = (&hb.series[i], &hr.series[j]);
        let db = Sparse::decode(sb).map_err(|e| corrupt(base_name, sb, e))?;
        let dr = Sparse::decode(sr).map_err(|e| corrupt(run_name, sr, e))?;
        Ok(compare_series(sb, &db, hb, sr, &dr, hr, opts))
    };
    // Series are independent: one share of them per core.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let chunk = common.len().div_ceil(threads).max(1);
    let mut series = Vec::with_capacity(common.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            common.chunks(chunk).map(|part| scope.spawn(move || part.iter().map(one).collect::<Vec<_>>())).collect();
        for h in handles {
            series.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
    });
    let mut series = series.into_iter().collect::<Result<Vec<_>, _>>()?;
    // Every request first (all of them, then by name), then the rest by label.
    series.sort_by_key(|s| (s.metric != "http_req_duration", !s.tags.is_empty(), s.label.clone()));

    let mut budgets = Vec::new();
    for b in &opts.budgets {
        let Some(s) = series.iter().find(|s| s.label == b.selector) else {
            let known: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
            return Err(CompareError::UnknownSelector(b.selector.clone(), known.join(", ")));
        };
        budgets.push(judge_budget(b, s, hb, hr, &common, opts));
    }
    let regression = if opts.budgets.is_empty() {
        series.iter().any(|s| s.label == "http_req_duration" && s.verdict == Verdict::Slower)
    } else {
        budgets.iter().any(|b| b.exceeded)
    };
    Ok(Comparison {
        baseline: base_name.to_string(),
        run: run_name.to_string(),
        confidence: opts.confidence,
        noise: opts.noise,
        series,
        only_in_baseline: ib.keys().filter(|l| !ir.contains_key(*l)).cloned().collect(),
        only_in_run: ir.keys().filter(|l| !ib.contains_key(*l)).cloned().collect(),
        budgets,
        regression,
    })
}

fn check_shape(file: &str, h: &Histograms) -> Result<(), CompareError> {
    let bad = |why: String| Err(CompareError::Corrupt { file: file.to_string(), why });
    if h.ends_s.windows(2).any(|w| w[1] < w[0]) || h.ends_s.iter().any(|e| !e.is_finite() || *e < 0.0) {
        return bad("`histograms.ends_s` is not an increasing list of times".into());
    }
    for s in &h.series {
        if s.hdr.len() != h.ends_s.len() {
            return bad(format!(
                "{} has {} blocks but the run has {} (`histograms.ends_s`)",
                s.label(),
                s.hdr.len(),
                h.ends_s.len()
            ));
        }
        if !s.requests.is_empty() && (s.requests.len() != h.ends_s.len() || s.failed.len() != h.ends_s.len()) {
            return bad(format!("{}: its request counts do not have one entry per block", s.label()));
        }
    }
    Ok(())
}

/// Block lengths, seconds.
fn lengths(h: &Histograms) -> Vec<f64> {
    let mut prev = 0.0;
    h.ends_s
        .iter()
        .map(|&e| {
            let l = e - prev;
            prev = e;
            l
        })
        .collect()
}

/// A block's histogram as its non-zero buckets, `(index, count)` in value
/// order (see `hist::buckets`): what a comparison reads, without building
/// histograms.
#[derive(Default)]
struct Sparse {
    buckets: Vec<(u32, u64)>,
    total: u64,
}

impl Sparse {
    /// Every block of a series.
    fn decode(s: &BlockSeries) -> Result<Vec<Sparse>, String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut bytes = Vec::new();
        s.hdr
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let mut block = Sparse::default();
                if text.is_empty() {
                    return Ok(block);
                }
                bytes.clear();
                b64.decode_vec(text, &mut bytes).map_err(|e| format!("block {i}: not base64: {e}"))?;
                hist::buckets(&bytes, &mut block.buckets)
                    .map_err(|e| format!("block {i}: not an HDR histogram: {e}"))?;
                block.total = block.buckets.iter().map(|b| b.1).sum();
                Ok(block)
            })
            .collect()
    }
}

/// Several quantiles (ascending `qs`) of buckets in value order with
/// `total` samples, in one pass: the value at which the cumulative count
/// first reaches `q × total` (rounded up, at least 1), as recorded (µs or
/// thousandths; a bucket's highest value, as HdrHistogram reports).
fn quantiles(buckets: impl Iterator<Item = (u32, u64)>, total: u64, qs: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; qs.len()];
    if total == 0 {
        return out;
    }
    let targets: Vec<u64> = qs.iter().map(|q| ((q * total as f64).ceil() as u64).clamp(1, total)).collect();
    let (mut seen, mut next) = (0u64, 0usize);
    for (index, count) in buckets {
        seen += count;
        while next < targets.len() && seen >= targets[next] {
            out[next] = hist::bucket_value(index) as f64;
            next += 1;
        }
        if next == targets.len() {
            break;
        }
    }
    out
}

/// Blocks added bucket by bucket (into `dense`, reused): their quantiles.
fn merged_quantiles(blocks: &[Sparse], qs: &[f64], dense: &mut Vec<u64>) -> Vec<f64> {
    dense.clear();
    let mut total = 0;
    for b in blocks {
        for &(i, c) in &b.buckets {
            let i = i as usize;
            if i >= dense.len() {
                dense.resize(i + 1, 0);
            }
            dense[i] += c;
        }
        total += b.total;
    }
    let nonzero = dense.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, &c)| (i as u32, c));
    quantiles(nonzero, total, qs)
}

/// The run's estimate of each quantile and, per quantile with enough data,
/// the estimate's variance by sectioning (batches of consecutive blocks).
struct Estimates {
    values: Vec<f64>,
    /// Per quantile: `(variance of the estimate, batches)`; `None`: too few batches.
    variance: Vec<Option<(f64, usize)>>,
}

/// `qs` ascending.
fn estimate(blocks: &[Sparse], qs: &[f64]) -> Estimates {
    let mut dense = Vec::new();
    let values = merged_quantiles(blocks, qs, &mut dense);
    let counts: Vec<u64> = blocks.iter().map(|b| b.total).collect();
    // Batches depend on how many samples a quantile needs; quantiles whose
    // batches come out the same are read off them together.
    let mut groupings: Vec<(Vec<std::ops::Range<usize>>, Vec<usize>)> = Vec::new();
    for (i, &q) in qs.iter().enumerate() {
        let need = ((TAIL_SAMPLES / (1.0 - q)).ceil() as u64).max(MIN_BATCH_SAMPLES);
        let ranges = batch(&counts, need);
        match groupings.iter_mut().find(|(r, _)| *r == ranges) {
            Some((_, members)) => members.push(i),
            None => groupings.push((ranges, vec![i])),
        }
    }
    let mut variance = vec![None; qs.len()];
    for (ranges, members) in groupings {
        let m = ranges.len();
        if m < MIN_BATCHES {
            continue;
        }
        let member_qs: Vec<f64> = members.iter().map(|&i| qs[i]).collect();
        let mut ss = vec![0.0; members.len()];
        for r in ranges {
            let per_batch = if r.len() == 1 {
                let b = &blocks[r.start];
                quantiles(b.buckets.iter().copied(), b.total, &member_qs)
            } else {
                merged_quantiles(&blocks[r], &member_qs, &mut dense)
            };
            for (k, &i) in members.iter().enumerate() {
                ss[k] += (per_batch[k] - values[i]).powi(2);
            }
        }
        for (k, &i) in members.iter().enumerate() {
            variance[i] = Some((ss[k] / (m as f64 - 1.0) / m as f64, m));
        }
    }
    Estimates { values, variance }
}

/// Consecutive blocks (by their sample counts) grouped until each group
/// holds `need` samples; empty blocks are skipped and a short remainder
/// joins the last group.
fn batch(counts: &[u64], need: u64) -> Vec<std::ops::Range<usize>> {
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    let (mut start, mut sum) = (None::<usize>, 0u64);
    for (i, &c) in counts.iter().enumerate() {
        if c == 0 && start.is_none() {
            continue;
        }
        let s = *start.get_or_insert(i);
        sum += c;
        if sum >= need {
            out.push(s..i + 1);
            (start, sum) = (None, 0);
        }
    }
    if let Some(s) = start {
        match out.last_mut() {
            Some(last) => last.end = counts.len(),
            None => out.push(s..counts.len()),
        }
    }
    out
}

/// Whether a difference is a real move, up (`true`) or down (`false`): its
/// interval `(low, high)` excludes zero on that side (real) and the
/// estimate is beyond the noise `margin` (material); `None` otherwise.
fn moved(diff: f64, (low, high): (f64, f64), margin: f64) -> Option<bool> {
    if low > 0.0 && diff > margin {
        Some(true)
    } else if high < 0.0 && diff < -margin {
        Some(false)
    } else {
        None
    }
}

/// Welch's interval for `a - b` given each estimate's variance and batches.
fn welch(diff: f64, (va, ma): (f64, usize), (vb, mb): (f64, usize), confidence: f64) -> (f64, f64) {
    let se2 = va + vb;
    if se2 <= 0.0 {
        return (diff, diff);
    }
    let df = se2.powi(2) / (va.powi(2) / (ma as f64 - 1.0) + vb.powi(2) / (mb as f64 - 1.0)).max(f64::MIN_POSITIVE);
    let df = df.clamp(1.0, 1e6);
    let t = StudentsT::new(0.0, 1.0, df).map(|d| d.inverse_cdf(1.0 - (1.0 - confidence) / 2.0)).unwrap_or(f64::NAN);
    let half = t * se2.sqrt();
    (diff - half, diff + half)
}

fn compare_series(
    sb: &BlockSeries,
    db: &[Sparse],
    hb: &Histograms,
    sr: &BlockSeries,
    dr: &[Sparse],
    hr: &Histograms,
    opts: &Options,
) -> SeriesComparison {
    // µs to ms for times, thousandths to units otherwise.
    let scale = 1.0 / 1000.0;
    let eb = estimate(db, &SHIFT_QUANTILES);
    let er = estimate(dr, &SHIFT_QUANTILES);
    let tested: Vec<usize> = SHIFT_QUANTILES
        .iter()
        .enumerate()
        .filter(|(i, q)| TESTED_QUANTILES.contains(q) && eb.variance[*i].is_some() && er.variance[*i].is_some())
        .map(|(i, _)| i)
        .collect();
    // The tested quantiles share the confidence (Bonferroni).
    let per_test = 1.0 - (1.0 - opts.confidence) / tested.len().max(1) as f64;
    let shifts: Vec<Shift> = SHIFT_QUANTILES
        .iter()
        .enumerate()
        .map(|(i, &q)| {
            let (base, run) = (eb.values[i], er.values[i]);
            let diff = run - base;
            let relative = if base > 0.0 { diff / base } else { 0.0 };
            let (mut low, mut high, mut verdict) = (None, None, Verdict::NotEnoughData);
            if tested.contains(&i) {
                let (l, h) = welch(diff, er.variance[i].unwrap(), eb.variance[i].unwrap(), per_test);
                verdict = match moved(diff, (l, h), opts.noise * base) {
                    Some(true) => Verdict::Slower,
                    Some(false) => Verdict::Faster,
                    None => Verdict::NoChange,
                };
                (low, high) = (Some(l * scale), Some(h * scale));
            }
            Shift { q, base: base * scale, run: run * scale, diff: diff * scale, low, high, relative, verdict }
        })
        .collect();
    let verdicts: Vec<&Shift> = shifts.iter().filter(|s| s.verdict != Verdict::NotEnoughData).collect();
    let verdict = if verdicts.is_empty() {
        Verdict::NotEnoughData
    } else if verdicts.iter().any(|s| s.verdict == Verdict::Slower) {
        Verdict::Slower
    } else if verdicts.iter().any(|s| s.verdict == Verdict::Faster) {
        Verdict::Faster
    } else {
        Verdict::NoChange
    };
    let count = |d: &[Sparse]| d.iter().map(|b| b.total).sum::<u64>();
    let (throughput, error_rate) = if sb.requests.is_empty() || sr.requests.is_empty() {
        (None, None)
    } else {
        (Some(throughput(sb, hb, sr, hr, opts)), Some(error_rate(sb, sr, opts)))
    };
    let curve = |d: &[Sparse]| -> Vec<(f64, f64)> {
        let mut qs: Vec<f64> = crate::summary::PERCENTILES.iter().map(|p| p / 100.0).collect();
        qs.push(1.0);
        let values = merged_quantiles(d, &qs, &mut Vec::new());
        if d.iter().all(|b| b.total == 0) {
            return Vec::new();
        }
        qs.iter().zip(values).map(|(q, v)| (q * 100.0, v * scale)).collect()
    };
    SeriesComparison {
        curve_base: curve(db),
        curve_run: curve(dr),
        label: sb.label(),
        metric: sb.metric.clone(),
        tags: sb.tags.clone(),
        time: sb.time,
        base_count: count(db),
        run_count: count(dr),
        verdict,
        summary: describe(&shifts, verdict),
        shifts,
        throughput,
        error_rate,
    }
}

/// Where the distribution moved, in words.
fn describe(shifts: &[Shift], verdict: Verdict) -> String {
    if verdict == Verdict::NotEnoughData {
        return "too few samples or blocks to test any quantile".into();
    }
    let name = |q: f64| if q == 0.5 { "median".to_string() } else { format!("p{}", fmt_q(q)) };
    let tested: Vec<&Shift> = shifts.iter().filter(|s| s.verdict != Verdict::NotEnoughData).collect();
    let of = |v: Verdict| -> Vec<String> { tested.iter().filter(|s| s.verdict == v).map(|s| name(s.q)).collect() };
    let (slower, faster) = (of(Verdict::Slower), of(Verdict::Faster));
    let median = tested.iter().find(|s| s.q == 0.5).map(|s| s.verdict);
    let mut parts = Vec::new();
    let span = |v: &[String]| if v.len() == 1 { v[0].clone() } else { format!("{}–{}", v[0], v[v.len() - 1]) };
    if !slower.is_empty() {
        parts.push(format!("{} slower", span(&slower)));
    }
    if !faster.is_empty() {
        parts.push(format!("{} faster", span(&faster)));
    }
    if parts.is_empty() {
        let names: Vec<String> = tested.iter().map(|s| name(s.q)).collect();
        return format!("no change at {}", names.join(", "));
    }
    if median == Some(Verdict::NoChange) {
        parts.push("median unchanged (a tail change)".into());
    }
    parts.join("; ")
}

/// `95`, `99.9`, `50`.
pub fn fmt_q(q: f64) -> String {
    let p = (q * 1000.0).round() / 10.0;
    if p.fract() == 0.0 { format!("{}", p as u64) } else { format!("{p}") }
}

fn throughput(sb: &BlockSeries, hb: &Histograms, sr: &BlockSeries, hr: &Histograms, opts: &Options) -> RateChange {
    let stats = |s: &BlockSeries, h: &Histograms| -> (f64, Option<(f64, usize)>) {
        let lens = lengths(h);
        let total: f64 = lens.iter().sum();
        let n: u64 = s.requests.iter().sum();
        let mean = if total > 0.0 { n as f64 / total } else { 0.0 };
        let rates: Vec<f64> =
            s.requests.iter().zip(&lens).filter(|(_, l)| **l > 0.0).map(|(&c, &l)| c as f64 / l).collect();
        let m = rates.len();
        if m < MIN_BATCHES {
            return (mean, None);
        }
        let ss: f64 = rates.iter().map(|r| (r - mean).powi(2)).sum();
        (mean, Some((ss / (m as f64 - 1.0) / m as f64, m)))
    };
    let (base, vb) = stats(sb, hb);
    let (run, vr) = stats(sr, hr);
    let diff = run - base;
    let relative = if base > 0.0 { diff / base } else { 0.0 };
    let (mut low, mut high, mut verdict) = (None, None, Verdict::NotEnoughData);
    if let (Some(vb), Some(vr)) = (vb, vr) {
        let (l, h) = welch(diff, vr, vb, opts.confidence);
        verdict = match moved(diff, (l, h), opts.noise * base) {
            Some(true) => Verdict::Faster,
            Some(false) => Verdict::Slower,
            None => Verdict::NoChange,
        };
        (low, high) = (Some(l), Some(h));
    }
    RateChange { base, run, relative, p_value: None, low, high, verdict }
}

/// Failed / requests, by an exact conditional test: given all the failures
/// of both runs, how the run's share of them compares with its share of
/// the requests (binomial).
fn error_rate(sb: &BlockSeries, sr: &BlockSeries, opts: &Options) -> RateChange {
    let (nb, fb) = (sb.requests.iter().sum::<u64>(), sb.failed.iter().sum::<u64>());
    let (nr, fr) = (sr.requests.iter().sum::<u64>(), sr.failed.iter().sum::<u64>());
    let rate = |f: u64, n: u64| if n > 0 { f as f64 / n as f64 } else { 0.0 };
    let (base, run) = (rate(fb, nb), rate(fr, nr));
    let relative = if base > 0.0 {
        (run - base) / base
    } else if run > 0.0 {
        f64::INFINITY
    } else {
        0.0
    };
    if nb == 0 || nr == 0 {
        return RateChange {
            base,
            run,
            relative,
            p_value: None,
            low: None,
            high: None,
            verdict: Verdict::NotEnoughData,
        };
    }
    let k = fb + fr;
    let p_value = if k == 0 {
        1.0
    } else {
        let share = nr as f64 / (nb + nr) as f64;
        match Binomial::new(share, k) {
            Ok(d) => {
                let lower = d.cdf(fr);
                let upper = if fr == 0 { 1.0 } else { d.sf(fr - 1) };
                (2.0 * lower.min(upper)).min(1.0)
            }
            Err(_) => 1.0,
        }
    };
    let significant = p_value < 1.0 - opts.confidence;
    // Beyond noise: a relative change past the margin and at least one
    // failure in a thousand requests of difference.
    let material = (run - base).abs() > (opts.noise * base).max(0.001);
    let verdict = match (significant && material, run > base) {
        (true, true) => Verdict::Slower,
        (true, false) => Verdict::Faster,
        (false, _) => Verdict::NoChange,
    };
    RateChange { base, run, relative, p_value: Some(p_value), low: None, high: None, verdict }
}

fn judge_budget(
    b: &Budget,
    s: &SeriesComparison,
    hb: &Histograms,
    hr: &Histograms,
    common: &[(&String, usize, usize)],
    opts: &Options,
) -> BudgetResult {
    // The budget's quantile, estimated and tested on its own.
    let (_, i, j) = common.iter().find(|(l, _, _)| **l == s.label).copied().expect("a compared series");
    let scale = 1.0 / 1000.0;
    // Decoded once already: these cannot fail now.
    let (db, dr) =
        (Sparse::decode(&hb.series[i]).unwrap_or_default(), Sparse::decode(&hr.series[j]).unwrap_or_default());
    let (eb, er) = (estimate(&db, &[b.q]), estimate(&dr, &[b.q]));
    let (base, run) = (eb.values[0] * scale, er.values[0] * scale);
    let diff = run - base;
    let allowed = b.percent.map_or(0.0, |p| base * p / 100.0) + b.absolute.unwrap_or(0.0);
    let (exceeded, note) = match (eb.variance[0], er.variance[0]) {
        (Some(vb), Some(vr)) => {
            let (low, high) = welch(diff / scale, vr, vb, opts.confidence);
            let (low, high) = (low * scale, high * scale);
            let real = low > 0.0;
            let note = format!("change {:+.3} (interval {low:+.3} … {high:+.3}), allowed +{allowed:.3}", diff);
            (real && diff > allowed, note)
        }
        _ => (false, "not enough data to test this quantile: not judged".to_string()),
    };
    BudgetResult {
        selector: b.selector.clone(),
        allowance: b.text.clone(),
        q: b.q,
        base,
        run,
        diff,
        allowed,
        exceeded,
        note,
    }
}

// === renderings ===

/// A text "sparkline" of the shift function: one character per quantile
/// (p10 … p99.9), `▄` for no change, higher for slower, lower for faster
/// (full scale ±20 %); `·` where not measured.
pub fn sparkline(shifts: &[Shift]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    shifts
        .iter()
        .map(|s| {
            if s.base <= 0.0 && s.run <= 0.0 {
                return '·';
            }
            let r = s.relative.clamp(-0.2, 0.2);
            let level = if r.abs() < 0.02 { 3 } else { (3.5 + r / 0.2 * 4.0).floor().clamp(0.0, 7.0) as usize };
            BARS[level]
        })
        .collect()
}

fn unit(s: &SeriesComparison) -> &'static str {
    if s.time { "ms" } else { "" }
}

fn quantile_at(s: &SeriesComparison, q: f64) -> Option<&Shift> {
    s.shifts.iter().find(|x| x.q == q)
}

/// `3.50 → 3.56 ms (+1.5%)` at quantile `q`, or `–` (Markdown and HTML tables).
fn change_cell(s: &SeriesComparison, q: f64) -> String {
    match quantile_at(s, q) {
        Some(x) => format!("{:.2} → {:.2} {} ({:+.1}%)", x.base, x.run, unit(s), x.relative * 100.0),
        None => "–".into(),
    }
}

/// The terminal table.
pub fn render_text(c: &Comparison) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "  stampede compare: {} (baseline) → {}\n  {}% confidence per series; changes under {}% are noise\n\n",
        c.baseline,
        c.run,
        c.confidence * 100.0,
        c.noise * 100.0
    ));
    let width = c.series.iter().map(|s| s.label.chars().count()).max().unwrap_or(6).max(6);
    out.push_str(&format!(
        "  {:<width$}  {:>16}  {:>10}  {:>19}  {:>10}  {:<12}  {:<15}\n",
        "series", "p50 base → run", "p50", "p99 base → run", "p99", "shift p10…99.9", "verdict"
    ));
    for s in &c.series {
        let cell = |q: f64| match quantile_at(s, q) {
            Some(x) => (format!("{:.2} → {:.2}", x.base, x.run), format!("{:+.1}%", x.relative * 100.0)),
            None => ("-".into(), "-".into()),
        };
        let (p50, d50) = cell(0.5);
        let (p99, d99) = cell(0.99);
        out.push_str(&format!(
            "  {:<width$}  {:>16}  {:>10}  {:>19}  {:>10}  {:<14}  {}\n",
            s.label,
            p50,
            d50,
            p99,
            d99,
            sparkline(&s.shifts),
            s.verdict.as_str().to_uppercase()
        ));
        if s.verdict != Verdict::NoChange {
            out.push_str(&format!("  {:<width$}    {}\n", "", s.summary));
        }
        if let Some(t) = &s.throughput
            && t.verdict != Verdict::NoChange
            && t.verdict != Verdict::NotEnoughData
        {
            let what = if t.verdict == Verdict::Faster { "more" } else { "less" };
            out.push_str(&format!(
                "  {:<width$}    throughput {:.1} → {:.1}/s ({:+.1}%): {what}\n",
                "",
                t.base,
                t.run,
                t.relative * 100.0
            ));
        }
        if let Some(e) = &s.error_rate
            && (e.verdict == Verdict::Slower || e.verdict == Verdict::Faster)
        {
            let what = if e.verdict == Verdict::Slower { "more errors" } else { "fewer errors" };
            out.push_str(&format!(
                "  {:<width$}    error rate {:.2}% → {:.2}% (p = {:.2e}): {what}\n",
                "",
                e.base * 100.0,
                e.run * 100.0,
                e.p_value.unwrap_or(1.0)
            ));
        }
    }
    if !c.only_in_baseline.is_empty() {
        out.push_str(&format!("\n  only in the baseline: {}\n", c.only_in_baseline.join(", ")));
    }
    if !c.only_in_run.is_empty() {
        out.push_str(&format!("\n  only in this run: {}\n", c.only_in_run.join(", ")));
    }
    if !c.budgets.is_empty() {
        out.push_str("\n  BUDGETS\n");
        for b in &c.budgets {
            out.push_str(&format!(
                "  {} {} {}: p{} {:.3} → {:.3}; {}\n",
                if b.exceeded { "✗" } else { "✓" },
                b.selector,
                b.allowance,
                fmt_q(b.q),
                b.base,
                b.run,
                b.note
            ));
        }
    }
    out.push_str(&format!(
        "\n  {}\n",
        if c.regression {
            format!("REGRESSION: exit {REGRESSION_EXIT}")
        } else {
            "no regression beyond budget: exit 0".to_string()
        }
    ));
    out
}

/// Markdown for a pull-request comment.
pub fn render_markdown(c: &Comparison) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "### Stampede: `{}` compared with baseline `{}`\n\n{}\n\n",
        c.run,
        c.baseline,
        if c.regression { "**Regression beyond budget.**" } else { "No regression beyond budget." }
    ));
    out.push_str("| series | p50 | p95 | p99 | shift p10…p99.9 | verdict |\n|---|---:|---:|---:|---|---|\n");
    for s in &c.series {
        let cell = |q: f64| change_cell(s, q);
        let verdict = match s.verdict {
            Verdict::Slower => format!("🔴 slower: {}", s.summary),
            Verdict::Faster => format!("🟢 faster: {}", s.summary),
            Verdict::NoChange => "no change".into(),
            Verdict::NotEnoughData => "not enough data".into(),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | `{}` | {} |\n",
            s.label.replace('|', "\\|"),
            cell(0.5),
            cell(0.95),
            cell(0.99),
            sparkline(&s.shifts),
            verdict
        ));
    }
    if !c.budgets.is_empty() {
        out.push_str("\n| budget | result |\n|---|---|\n");
        for b in &c.budgets {
            out.push_str(&format!(
                "| `{} {}` | {} {} |\n",
                b.selector,
                b.allowance,
                if b.exceeded { "❌ exceeded:" } else { "✅" },
                b.note
            ));
        }
    }
    out.push_str(&format!(
        "\n<sub>{}% confidence per series, changes under {}% treated as noise; method: docs/compare.md</sub>\n",
        c.confidence * 100.0,
        c.noise * 100.0
    ));
    out
}

/// JUnit XML: one test case per budget (or, without budgets, one for all
/// requests together).
pub fn render_junit(c: &Comparison) -> String {
    use crate::markup::xml_escape as escape;
    let mut cases = String::new();
    let mut failures = 0;
    if c.budgets.is_empty() {
        let s = c.series.iter().find(|s| s.label == "http_req_duration");
        let failed = s.is_some_and(|s| s.verdict == Verdict::Slower);
        failures += failed as usize;
        let detail = s.map_or("no requests in both runs".to_string(), |s| s.summary.clone());
        cases.push_str(&format!(
            "    <testcase classname=\"stampede.compare\" name=\"http_req_duration not slower\">{}</testcase>\n",
            if failed { format!("<failure message=\"{}\"/>", escape(&detail)) } else { String::new() }
        ));
    }
    for b in &c.budgets {
        failures += b.exceeded as usize;
        cases.push_str(&format!(
            "    <testcase classname=\"stampede.compare\" name=\"{}\">{}</testcase>\n",
            escape(&format!("{} {}", b.selector, b.allowance)),
            if b.exceeded { format!("<failure message=\"{}\"/>", escape(&b.note)) } else { String::new() }
        ));
    }
    let tests = if c.budgets.is_empty() { 1 } else { c.budgets.len() };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"stampede compare\" tests=\"{tests}\" failures=\"{failures}\">\n{cases}  </testsuite>\n</testsuites>\n"
    )
}

// === `run --baseline` ===

/// What a run compared with its baseline found: the comparison, or why it
/// could not be made. Filled when the run's outputs finish.
pub type BaselineSlot = std::sync::Arc<std::sync::Mutex<Option<Result<Comparison, String>>>>;

/// The output behind `run --baseline FILE`: keeps the run's blocks as it
/// goes, and at the end compares the run with the baseline into its slot.
pub struct BaselineOutput {
    name: String,
    baseline: Summary,
    opts: Options,
    blocks: crate::blocks::BlockRecorder,
    slot: BaselineSlot,
}

impl BaselineOutput {
    /// Reads the baseline now (before any load): a file that cannot be
    /// compared with is an error here, not after the run.
    pub fn open(
        path: &std::path::Path,
        opts: Options,
        ctx: &crate::outputs::RunContext,
    ) -> Result<(BaselineOutput, BaselineSlot), String> {
        let baseline = Summary::load(path).map_err(|e| e.to_string())?;
        if baseline.histograms.is_none() {
            return Err(CompareError::NoHistograms(path.display().to_string()).to_string());
        }
        let slot = BaselineSlot::default();
        let out = BaselineOutput {
            name: path.display().to_string(),
            baseline,
            opts,
            blocks: crate::blocks::BlockRecorder::new(ctx.interval),
            slot: slot.clone(),
        };
        Ok((out, slot))
    }
}

impl crate::outputs::Output for BaselineOutput {
    fn interval(
        &mut self,
        start: std::time::Duration,
        end: std::time::Duration,
        snapshot: &stampede_metrics::Snapshot,
    ) -> std::io::Result<()> {
        self.blocks.interval(start, end, snapshot);
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> std::io::Result<()> {
        let run = Summary { histograms: Some(self.blocks.finish()), ..summary.clone() };
        let result =
            compare((&self.name, &self.baseline), ("this run", &run), &self.opts, false).map_err(|e| e.to_string());
        *self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(result);
        Ok(())
    }
}

/// A self-contained HTML page: the verdicts, and per series both runs'
/// latency-by-percentile curves overlaid.
pub fn render_html(c: &Comparison) -> String {
    use crate::markup::xml_escape as esc;
    use std::fmt::Write as _;
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"generator\" content=\"stampede\"><title>{}</title><style>{}</style></head><body>",
        esc(&format!("Stampede comparison — {} vs {}", c.run, c.baseline)),
        crate::html::STYLE
    );
    let (class, label) = if c.regression { ("bad", "regression") } else { ("ok", "no regression beyond budget") };
    let _ = write!(
        o,
        r#"<header><h1>Stampede comparison<span class="badge {class}">{label}</span></h1><div class="sub">{} (baseline) → {} · {}% confidence per series · changes under {}% are noise</div></header><main>"#,
        esc(&c.baseline),
        esc(&c.run),
        c.confidence * 100.0,
        c.noise * 100.0
    );
    o.push_str(&html_sections(c));
    o.push_str("<footer>Generated by stampede compare. Method: docs/compare.md (shift function, sectioning confidence intervals).</footer></main></body></html>\n");
    o
}

/// The comparison's sections of an HTML page (also added to the run's
/// HTML report under `run --baseline`): the series, the budgets, and per
/// series both runs' curves overlaid.
pub fn html_sections(c: &Comparison) -> String {
    use crate::markup::xml_escape as esc;
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = write!(
        o,
        "<h2>Compared with {}</h2><p>{}</p>",
        esc(&c.baseline),
        if c.regression { "A regression beyond budget." } else { "No regression beyond budget." }
    );
    o.push_str("<h3>Series</h3><table><thead><tr><th>series</th><th>p50</th><th>p95</th><th>p99</th><th>shift p10…p99.9</th><th>verdict</th></tr></thead><tbody>");
    for s in &c.series {
        let cell = |q: f64| change_cell(s, q);
        let class = match s.verdict {
            Verdict::Slower => "bad",
            Verdict::Faster => "ok",
            _ => "",
        };
        let _ = write!(
            o,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td class="{class}">{}: {}</td></tr>"#,
            esc(&s.label),
            esc(&cell(0.5)),
            esc(&cell(0.95)),
            esc(&cell(0.99)),
            sparkline(&s.shifts),
            s.verdict.as_str(),
            esc(&s.summary)
        );
    }
    o.push_str("</tbody></table>");
    if !c.budgets.is_empty() {
        o.push_str("<h3>Budgets</h3><table><thead><tr><th>budget</th><th>result</th></tr></thead><tbody>");
        for b in &c.budgets {
            let _ = write!(
                o,
                r#"<tr><td>{} {}</td><td class="{}">{}: {}</td></tr>"#,
                esc(&b.selector),
                esc(&b.allowance),
                if b.exceeded { "bad" } else { "ok" },
                if b.exceeded { "exceeded" } else { "within" },
                esc(&b.note)
            );
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("<h3>Distributions: baseline and run overlaid</h3><div class=\"charts\">");
    for s in c.series.iter().filter(|s| !s.curve_base.is_empty() || !s.curve_run.is_empty()) {
        let title =
            format!("{}: {} by percentile ({})", s.label, if s.time { "latency" } else { "value" }, s.verdict.as_str());
        let svg = crate::svg::percentile_chart_of(
            &title,
            &[("baseline", &s.curve_base, "#8a8f98"), ("run", &s.curve_run, "#d9480f")],
        );
        let _ = write!(o, "<figure><figcaption>{}</figcaption>{svg}</figure>", esc(&title));
    }
    o.push_str("</div>");
    o
}
