//! `--out KIND=PATH` outputs. Each output is an [`Output`] that sees every
//! interval as it is merged (so streaming formats can append and flush) and
//! the summary at the end.
//!
//! Streaming kinds (`json`, `hlog`, `csv`) write each interval as it comes and keep
//! nothing of past intervals; end-of-run kinds (`summary`, `html`, `junit`)
//! write their file in [`Output::finish`], and keep meanwhile only the small
//! per-interval [`Point`]s, in a temporary file rather than in memory. Formats: `docs/outputs.md`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use stampede_metrics::Snapshot;
use stampede_metrics::live::{AgentInfo, Point, charted};

use crate::summary::{AgentSummary, Summary};

/// What an output knows about the run before it starts.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub scenario_file: String,
    /// Unix time of the start in milliseconds.
    pub started_at_ms: u64,
    /// Interval length.
    pub interval: Duration,
    /// Where `run --baseline`'s comparison lands when the outputs finish.
    pub baseline: Option<crate::compare::BaselineSlot>,
}

/// One `--out` destination.
pub trait Output: Send {
    /// Called once per merged interval, in order. `start`/`end` are from the
    /// run start.
    fn interval(&mut self, start: Duration, end: Duration, snapshot: &Snapshot) -> std::io::Result<()>;
    /// The load generators of the run, as last seen; call it before
    /// [`Output::finish`] (the reports that list agents keep the latest call).
    fn agents(&mut self, _agents: &[AgentInfo]) {}
    /// Outputs that send to a receiver (`prometheus-rw`) deliver what they
    /// still hold here, before any [`Output::finish`], and say what they
    /// delivered: it goes into the summary the documents write.
    fn deliver(&mut self) -> Option<crate::summary::Delivery> {
        None
    }
    /// Called once at the end, with the summary of everything measured.
    fn finish(&mut self, summary: &Summary) -> std::io::Result<()>;
}

/// Output kinds and the help line `--out` shows.
pub const KINDS: &[(&str, &str)] = &[
    ("summary", "Stampede's full JSON summary plus per-interval time series (docs/json-summary.md)"),
    ("json", "k6's NDJSON stream: Metric and Point lines, one Point per interval and series (jq-friendly)"),
    ("hlog", "HdrHistogram interval log: latency histograms per request name, every interval"),
    ("csv", "one row per interval and series, for spreadsheets, appended every interval"),
    ("html", "a self-contained HTML report with charts"),
    ("junit", "JUnit XML: one test case per threshold and per check"),
    (
        REMOTE_WRITE,
        "Prometheus remote write to URL (e.g. http://127.0.0.1:9090/api/v1/write): native histograms, every interval",
    ),
];

/// The kind whose target is a URL, not a file (`prometheus-rw=URL`).
pub const REMOTE_WRITE: &str = "prometheus-rw";

/// Parses `KIND=PATH` (`prometheus-rw=URL`: the URL is checked, and kept as the path).
pub fn parse_spec(spec: &str) -> Result<(String, PathBuf), String> {
    let (kind, path) =
        spec.split_once('=').ok_or_else(|| format!("expected KIND=PATH (e.g. summary=run.json), got `{spec}`"))?;
    if path.is_empty() {
        return Err(format!("`{kind}=` needs a path"));
    }
    if kind == REMOTE_WRITE {
        crate::remote_write::parse_url(path).map_err(|e| format!("{REMOTE_WRITE}={e}"))?;
    }
    if !KINDS.iter().any(|(k, _)| *k == kind) {
        let known: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        return Err(format!("unknown output kind `{kind}`; available: {}", known.join(", ")));
    }
    Ok((kind.to_string(), path.into()))
}

/// Opens an output; fails early (before any load) when the path cannot be written.
pub fn open(kind: &str, path: &Path, ctx: &RunContext) -> std::io::Result<Box<dyn Output>> {
    match kind {
        "summary" => Ok(Box::new(DocumentOutput::create(path, ctx, Summary::to_json, true)?)),
        "json" => Ok(Box::new(crate::k6json::K6JsonOutput::create(path, ctx)?)),
        "hlog" => Ok(Box::new(crate::hlog::HlogOutput::create(path, ctx)?)),
        "csv" => Ok(Box::new(crate::csvlog::CsvOutput::create(path, ctx)?)),
        "html" => {
            let mut out = DocumentOutput::create(path, ctx, crate::html::render, false)?;
            out.baseline = ctx.baseline.clone();
            Ok(Box::new(out))
        }
        "junit" => Ok(Box::new(crate::junit::JunitOutput::create(path, ctx)?)),
        REMOTE_WRITE => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "prometheus-rw needs its settings: open it with remote_write::RemoteWriteOutput::start",
        )),
        other => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("unknown output kind `{other}`"))),
    }
}

/// Checks early that `path` can be written (creating it empty if absent).
pub(crate) fn touch(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new().create(true).append(true).open(path).map(drop)
}

/// What the end-of-run documents keep while a run goes on: one [`Point`] per
/// interval, spilled to an unlinked temporary file (88 bytes each) so their
/// memory does not grow with the run, and the latest agent list.
struct Collected {
    points: PointSpill,
    /// The run's block histograms, for the documents that carry them (JSON).
    blocks: Option<crate::blocks::BlockRecorder>,
    /// Nominal interval length (see [`charted`]).
    interval: Duration,
    charted: usize,
    pub agents: Vec<AgentSummary>,
}

impl Collected {
    pub fn new(ctx: &RunContext, blocks: bool) -> std::io::Result<Collected> {
        Ok(Collected {
            points: PointSpill::new()?,
            blocks: blocks.then(|| crate::blocks::BlockRecorder::new(ctx.interval)),
            interval: ctx.interval,
            charted: 0,
            agents: Vec::new(),
        })
    }

    pub fn interval(&mut self, start: Duration, end: Duration, snapshot: &Snapshot) -> std::io::Result<()> {
        if let Some(b) = &mut self.blocks {
            b.interval(start, end, snapshot);
        }
        let secs = (end - start).as_secs_f64();
        if !charted(secs, self.interval, self.charted == 0) {
            return Ok(());
        }
        self.charted += 1;
        self.points.push(&Point::of(end, snapshot, secs))
    }

    pub fn agents(&mut self, agents: &[AgentInfo]) {
        self.agents = agents.iter().map(AgentSummary::from).collect();
    }

    pub fn report(&mut self, summary: &Summary) -> std::io::Result<Summary> {
        Ok(summary.with_timeline(
            &self.points.read_all()?,
            &self.agents,
            self.blocks.as_ref().map(crate::blocks::BlockRecorder::finish),
        ))
    }
}

/// Chart points in a temporary file: appended as fixed-size records, read
/// back once at the end. The file is unlinked as soon as it is created
/// (Unix), so nothing is left behind, even by a killed run.
pub(crate) struct PointSpill {
    file: std::io::BufWriter<std::fs::File>,
    len: usize,
}

const POINT_FIELDS: usize = 11;

impl PointSpill {
    pub fn new() -> std::io::Result<PointSpill> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "stampede-points-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
        // Unix keeps an unlinked file while it is open; elsewhere this fails
        // and the file stays in the temp folder.
        let _ = std::fs::remove_file(&path);
        Ok(PointSpill { file: std::io::BufWriter::new(file), len: 0 })
    }

    pub fn push(&mut self, p: &Point) -> std::io::Result<()> {
        use std::io::Write;
        let fields: [f64; POINT_FIELDS] = [
            p.t.as_secs_f64(),
            p.rps,
            p.error_rate,
            p.p50_ms,
            p.p95_ms,
            p.p99_ms,
            p.vus as f64,
            p.cdn_hit_ratio.unwrap_or(f64::NAN),
            p.data_in_per_s,
            p.data_out_per_s,
            p.iterations_per_s,
        ];
        for f in fields {
            self.file.write_all(&f.to_le_bytes())?;
        }
        self.len += 1;
        Ok(())
    }

    pub fn read_all(&mut self) -> std::io::Result<Vec<Point>> {
        use std::io::{Read, Seek, SeekFrom, Write};
        self.file.flush()?;
        let f = self.file.get_mut();
        f.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::with_capacity(self.len * POINT_FIELDS * 8);
        f.read_to_end(&mut bytes)?;
        f.seek(SeekFrom::End(0))?;
        let points = bytes
            .chunks_exact(POINT_FIELDS * 8)
            .map(|rec| {
                let v = |i: usize| f64::from_le_bytes(rec[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
                Point {
                    t: Duration::from_secs_f64(v(0).max(0.0)),
                    rps: v(1),
                    error_rate: v(2),
                    p50_ms: v(3),
                    p95_ms: v(4),
                    p99_ms: v(5),
                    vus: v(6) as u64,
                    cdn_hit_ratio: Some(v(7)).filter(|c| !c.is_nan()),
                    data_in_per_s: v(8),
                    data_out_per_s: v(9),
                    iterations_per_s: v(10),
                }
            })
            .collect();
        Ok(points)
    }
}

/// An end-of-run document (`summary=PATH`, `html=PATH`): the summary with the
/// run's time line and load generators, rendered and written at the end.
pub struct DocumentOutput {
    path: PathBuf,
    collected: Collected,
    render: fn(&Summary) -> String,
    /// HTML only: `run --baseline`'s comparison, added to the report as its
    /// own section (filled before this output finishes).
    baseline: Option<crate::compare::BaselineSlot>,
}

impl DocumentOutput {
    /// `blocks`: keep the run's block histograms (`histograms`, which the
    /// JSON summary carries and the HTML report does not show).
    pub fn create(
        path: &Path,
        ctx: &RunContext,
        render: fn(&Summary) -> String,
        blocks: bool,
    ) -> std::io::Result<DocumentOutput> {
        touch(path)?;
        Ok(DocumentOutput { path: path.to_path_buf(), collected: Collected::new(ctx, blocks)?, render, baseline: None })
    }
}

impl Output for DocumentOutput {
    fn interval(&mut self, start: Duration, end: Duration, snapshot: &Snapshot) -> std::io::Result<()> {
        self.collected.interval(start, end, snapshot)
    }

    fn agents(&mut self, agents: &[AgentInfo]) {
        self.collected.agents(agents);
    }

    fn finish(&mut self, summary: &Summary) -> std::io::Result<()> {
        let mut text = (self.render)(&self.collected.report(summary)?);
        let slot = self.baseline.as_ref().map(|s| s.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        if let Some(Some(Ok(c))) = slot.as_deref()
            && let Some(at) = text.rfind("<footer>")
        {
            text.insert_str(at, &crate::compare::html_sections(c));
        }
        std::fs::write(&self.path, text)
    }
}

/// Re-renders reports from a JSON summary saved by `--out summary=PATH`
/// (`stampede report RUN.json --html OUT.html --junit OUT.xml`).
pub fn rerender(json_path: &Path, html: Option<&Path>, junit: Option<&Path>) -> std::io::Result<()> {
    let report = Summary::load(json_path)?;
    let write = |path: &Path, text: String| {
        std::fs::write(path, text)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
    };
    if let Some(path) = html {
        write(path, crate::html::render(&report))?;
    }
    if let Some(path) = junit {
        write(path, crate::junit::render(&report))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scenario_knows_every_output_kind() {
        let kinds: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, stampede_scenario::OUTPUT_KINDS, "[outputs] out accepts what --out does");
    }

    #[test]
    fn spilled_points_read_back_exactly() {
        let mut spill = PointSpill::new().unwrap();
        let a = Point {
            t: Duration::from_millis(1500),
            rps: 999.5,
            error_rate: 0.01,
            p50_ms: 1.234,
            p95_ms: 5.0,
            p99_ms: 12.7,
            vus: 42,
            cdn_hit_ratio: Some(0.8),
            data_in_per_s: 1e6,
            data_out_per_s: 2e5,
            iterations_per_s: 500.0,
        };
        let b = Point { t: Duration::from_secs(3), cdn_hit_ratio: None, ..a };
        spill.push(&a).unwrap();
        assert_eq!(spill.read_all().unwrap(), vec![a]);
        spill.push(&b).unwrap();
        assert_eq!(spill.read_all().unwrap(), vec![a, b], "reading does not lose the append position");
    }
}
