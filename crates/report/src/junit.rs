//! `junit=PATH`: JUnit XML for CI systems. One test suite `thresholds` with
//! a test case per threshold, one test suite `checks` with a test case per
//! check (per scenario). A failed threshold, or a check with any failing
//! run, is a `<failure>` whose message carries the observed value.
//!
//! The format follows the common Ant/Surefire schema (`testsuites` →
//! `testsuite` → `testcase` → `failure`/`system-out`) that GitLab, Jenkins,
//! GitHub reporters and Buildkite read.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use stampede_metrics::Snapshot;

use crate::markup::xml_escape;
use crate::outputs::{Output, RunContext, touch};
use crate::summary::Summary;
use crate::text::{fmt_observed, iso8601_utc};

/// Renders the JUnit document of a report.
pub fn render(r: &Summary) -> String {
    let threshold_failures = r.thresholds.iter().filter(|t| !t.passed).count();
    let check_failures = r.checks.iter().filter(|c| c.fails > 0).count();
    let tests = r.thresholds.len() + r.checks.len();
    let time = format!("{:.3}", r.run.duration_s);
    let stamp = iso8601_utc(r.run.started_at_ms);
    let e = xml_escape;
    let mut x = String::new();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        x,
        r#"<testsuites name="stampede {}" tests="{tests}" failures="{}" errors="0" time="{time}" timestamp="{stamp}">"#,
        e(&r.run.scenario_file),
        threshold_failures + check_failures
    );

    let _ = writeln!(
        x,
        r#"  <testsuite name="thresholds" tests="{}" failures="{threshold_failures}" errors="0" skipped="0" time="{time}" timestamp="{stamp}">"#,
        r.thresholds.len()
    );
    let _ = writeln!(x, "    <properties>");
    for (k, v) in [
        ("scenario_file", r.run.scenario_file.clone()),
        ("outcome", r.run.outcome.clone()),
        ("exit_code", r.run.exit_code.to_string()),
        ("schema", r.schema.clone()),
    ] {
        let _ = writeln!(x, r#"      <property name="{k}" value="{}"/>"#, e(&v));
    }
    let _ = writeln!(x, "    </properties>");
    for t in &r.thresholds {
        let observed = fmt_observed(t);
        let open =
            format!(r#"    <testcase classname="thresholds.{}" name="{}" time="0">"#, e(&t.metric), e(&t.threshold));
        if t.passed {
            let _ = writeln!(x, "{open}");
            let _ = writeln!(x, "      <system-out>{}: {}</system-out>", e(&t.threshold), e(&observed));
        } else {
            let abort = if t.abort_on_fail { " (abort_on_fail)" } else { "" };
            let msg = format!("{} '{}' failed: observed {observed}{abort}", t.metric, t.threshold);
            let _ = writeln!(x, "{open}");
            let _ = writeln!(x, r#"      <failure type="threshold" message="{}">{}</failure>"#, e(&msg), e(&msg));
        }
        let _ = writeln!(x, "    </testcase>");
    }
    let _ = writeln!(x, "  </testsuite>");

    let _ = writeln!(
        x,
        r#"  <testsuite name="checks" tests="{}" failures="{check_failures}" errors="0" skipped="0" time="{time}" timestamp="{stamp}">"#,
        r.checks.len()
    );
    for c in &r.checks {
        let total = c.passes + c.fails;
        let summary = format!("{} of {total} passed ({:.2}%), {} failed", c.passes, c.rate * 100.0, c.fails);
        let _ = writeln!(x, r#"    <testcase classname="checks.{}" name="{}" time="0">"#, e(&c.scenario), e(&c.name));
        if c.fails > 0 {
            let msg =
                format!("check '{}' failed {} of {total} times (pass rate {:.2}%)", c.name, c.fails, c.rate * 100.0);
            let _ = writeln!(x, r#"      <failure type="check" message="{}">{}</failure>"#, e(&msg), e(&summary));
        } else {
            let _ = writeln!(x, "      <system-out>{}</system-out>", e(&summary));
        }
        let _ = writeln!(x, "    </testcase>");
    }
    let _ = writeln!(x, "  </testsuite>");
    let _ = writeln!(x, "</testsuites>");
    x
}

/// The writer behind `junit=PATH` (written at the end).
pub struct JunitOutput {
    path: PathBuf,
}

impl JunitOutput {
    pub fn create(path: &Path, _ctx: &RunContext) -> std::io::Result<JunitOutput> {
        touch(path)?;
        Ok(JunitOutput { path: path.to_path_buf() })
    }
}

impl Output for JunitOutput {
    fn interval(&mut self, _start: Duration, _end: Duration, _snapshot: &Snapshot) -> std::io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> std::io::Result<()> {
        std::fs::write(&self.path, render(summary))
    }
}
