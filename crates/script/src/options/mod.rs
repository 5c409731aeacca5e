//! A script's `options` (as JSON, k6's own rule) onto the same [`Plan`] as a
//! scenario file: shortcuts (`vus`, `duration`, `iterations`, `stages`) and
//! `scenarios` with k6's names, precedence and defaults, thresholds through
//! `stampede_scenario`'s parser, target options; the command line's
//! overrides applied as k6 applies its flags. Every error names the option
//! and points at it in the script when `options` is an object literal.
//!
//! Not here: running the init code (`init`), anything at run time.

mod spans;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use serde_json::{Map, Value};
use stampede_scenario::suggest::did_you_mean;
use stampede_scenario::template::Template;
use stampede_scenario::threshold::{CustomMetric, Threshold, parse_threshold};
use stampede_scenario::{
    DEFAULT_BATCH_PER_HOST, DEFAULT_HOOK_TIMEOUT, DEFAULT_MAX_BODY_SIZE, DEFAULT_MAX_REDIRECTS, Executor, HttpVersion,
    MAX_BATCH_PER_HOST, MAX_DURATION, MAX_ITERATIONS, MAX_RATE, MAX_RATE_PER_SECOND, MAX_REDIRECTS, MAX_VUS, Overrides,
    Plan, Scenario, ScenarioError, Stage, Target, ThinkTime, format_duration, parse_duration,
};

pub(crate) use spans::{OptionSpans, Seg};

use crate::init::Export;

/// The scenario name k6 gives the shortcut options' scenario.
pub const DEFAULT_SCENARIO: &str = "default";

/// k6's default `batch`: requests of one `http.batch()` in flight at once.
pub const DEFAULT_BATCH: u32 = 20;
/// The largest `batch` accepted (a VU's connections are file descriptors).
const MAX_BATCH: u64 = 1000;

/// The percentiles `summaryTrendStats` may name (those every summary has).
const SUMMARY_PERCENTILES: &[f64] = &[50.0, 90.0, 95.0, 99.0, 99.9, 100.0];

/// k6's default `summaryTrendStats`.
pub const DEFAULT_TREND_STATS: &[&str] = &["avg", "min", "med", "max", "p(90)", "p(95)"];

/// Options a script may set that the [`Plan`] has no place for yet; the
/// runtime reads them from here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptOptions {
    /// `tags`: added to every sample of the run.
    pub tags: Vec<(String, String)>,
    /// `summaryTrendStats` (k6's default when not set).
    pub summary_trend_stats: Vec<String>,
    /// `noConnectionReuse`: a new connection for every request.
    pub no_connection_reuse: bool,
    /// `discardResponseBodies`: requests default to `responseType: 'none'`.
    pub discard_response_bodies: bool,
    /// `batch`: requests of one `http.batch()` in flight at once, over all
    /// origins (k6's default 20; `batchPerHost` caps each origin).
    pub batch: u32,
    /// What each scenario adds: its `env` and `tags`, by scenario name (in
    /// the plan's scenario order).
    pub scenarios: Vec<ScenarioExtras>,
}

/// A scenario's `env` and `tags` (k6 options the engine's scenarios lack).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScenarioExtras {
    pub name: Arc<str>,
    pub env: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
}

/// The options decoded.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub plan: Plan,
    pub options: ScriptOptions,
}

/// Options Stampede honours (the Plan or [`ScriptOptions`] carries them).
const HONOURED: &[&str] = &[
    "vus",
    "duration",
    "iterations",
    "stages",
    "scenarios",
    "thresholds",
    "maxRedirects",
    "hosts",
    "insecureSkipTLSVerify",
    "userAgent",
    "tags",
    "summaryTrendStats",
    "noConnectionReuse",
    "setupTimeout",
    "teardownTimeout",
    "localIPs",
    "batchPerHost",
    "batch",
    "discardResponseBodies",
];

/// k6 options accepted with a warning: they do not change which requests a
/// run sends (or only how the results are shown), and are not honoured yet.
const WARNED: &[&str] = &[
    "noVUConnectionReuse",
    "noCookiesReset",
    "summaryTimeUnit",
    "systemTags",
    "httpDebug",
    "ext",
    "cloud",
    "noUsageReport",
    "dns",
    "consoleOutput",
    "logOutput",
    "noColor",
    "quiet",
    "linger",
    "includeSystemEnvVars",
    "compatibilityMode",
    "tlsVersion",
    "tlsCipherSuites",
    "noSummary",
    "noThresholds",
    "webDashboard",
];

/// k6 options refused: they change what a run does and are not supported.
const REFUSED: &[(&str, &str)] = &[
    ("rps", "a global request-rate limit; use an arrival-rate executor"),
    ("minIterationDuration", "padding iterations to a minimum duration; sleep() at the end of the iteration"),
    ("throw", "failed requests throwing exceptions"),
    ("tlsAuth", "TLS client certificates"),
    ("blockHostnames", "blocking hostnames"),
    ("blacklistIPs", "blocking IP ranges"),
    ("executionSegment", "execution segments: stampede coordinator splits the load itself"),
    ("executionSegmentSequence", "execution segments: stampede coordinator splits the load itself"),
    ("paused", "starting paused"),
    ("noSetup", "skipping setup()"),
    ("noTeardown", "skipping teardown()"),
];

const COMMON_SCENARIO_FIELDS: &[&str] = &["executor", "startTime", "gracefulStop", "exec", "env", "tags"];

/// k6's executors and their options (camelCase, as in k6).
const EXECUTORS: &[(&str, &[&str])] = &[
    ("shared-iterations", &["vus", "iterations", "maxDuration"]),
    ("per-vu-iterations", &["vus", "iterations", "maxDuration"]),
    ("constant-vus", &["vus", "duration"]),
    ("ramping-vus", &["startVUs", "stages", "gracefulRampDown"]),
    ("constant-arrival-rate", &["rate", "timeUnit", "duration", "preAllocatedVUs", "maxVUs"]),
    ("ramping-arrival-rate", &["startRate", "timeUnit", "stages", "preAllocatedVUs", "maxVUs"]),
];

const DEFAULT_GRACEFUL_STOP: Duration = Duration::from_secs(30);
const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(600);

/// Where errors are reported: the main module and the spans of `options`.
pub(crate) struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    pub spans: Option<&'a OptionSpans>,
}

struct Decoder<'a> {
    src: Source<'a>,
    errors: Vec<ScenarioError>,
    warnings: Vec<ScenarioError>,
}

fn field(path: &[Seg]) -> String {
    let mut out = String::from("options");
    for s in path {
        match s {
            Seg::Key(k) if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Key(k) => out.push_str(&format!("[{}]", serde_json::to_string(k).unwrap_or_default())),
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn key(path: &[Seg], k: &str) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(Seg::Key(k.to_string()));
    p
}

fn index(path: &[Seg], i: usize) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(Seg::Index(i));
    p
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {}", serde_json::to_string(s).unwrap_or_default()),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

impl Decoder<'_> {
    fn error_at(
        &self,
        path: &[Seg],
        on_key: bool,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> ScenarioError {
        let span = self.src.spans.map(|s| if on_key { s.key_span(path) } else { s.value_span(path) });
        let range = span.map(|s| s.start as usize..s.end as usize);
        let text = if range.is_some() { self.src.text } else { "" };
        ScenarioError::new(self.src.path, text, range, field(path), message, help)
    }

    fn error(&mut self, path: &[Seg], message: impl Into<String>, help: impl Into<String>) {
        let e = self.error_at(path, false, message, help);
        self.errors.push(e);
    }

    fn warn(&mut self, path: &[Seg], message: impl Into<String>, help: impl Into<String>) {
        let e = self.error_at(path, true, message, help).into_warning();
        self.warnings.push(e);
    }

    fn unknown(&mut self, path: &[Seg], name: &str, known: &[&str], help: impl Into<String>) {
        let hint =
            did_you_mean(name, known.iter().copied()).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
        let e = self.error_at(path, true, format!("unknown option `{name}`{hint}"), help);
        self.errors.push(e);
    }

    fn object<'v>(&mut self, v: &'v Value, path: &[Seg], example: &str) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(o) => Some(o),
            other => {
                self.error(path, format!("expected an object, found {}", describe(other)), format!("e.g. {example}"));
                None
            }
        }
    }

    fn array<'v>(&mut self, v: &'v Value, path: &[Seg], example: &str) -> Option<&'v Vec<Value>> {
        match v {
            Value::Array(a) => Some(a),
            other => {
                self.error(path, format!("expected an array, found {}", describe(other)), format!("e.g. {example}"));
                None
            }
        }
    }

    fn string<'v>(&mut self, v: &'v Value, path: &[Seg], example: &str) -> Option<&'v str> {
        match v {
            Value::String(s) => Some(s),
            other => {
                self.error(path, format!("expected a string, found {}", describe(other)), format!("e.g. {example}"));
                None
            }
        }
    }

    fn bool(&mut self, v: &Value, path: &[Seg]) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            other => {
                self.error(path, format!("expected true or false, found {}", describe(other)), "e.g. true");
                None
            }
        }
    }

    /// A whole number in `min..=max` (k6 decodes these as integers: `1.5`
    /// and `"10"` are errors there too).
    fn uint(&mut self, v: &Value, path: &[Seg], min: u64, max: u64) -> Option<u64> {
        let n = match v {
            Value::Number(n) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.9e19).map(|f| f as u64)),
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                self.error(path, format!("{n} is out of range"), format!("a whole number from {min} to {max}"));
                None
            }
            None => {
                self.error(
                    path,
                    format!("expected a whole number, found {}", describe(v)),
                    format!("a whole number from {min} to {max}"),
                );
                None
            }
        }
    }

    /// k6's durations: a string (`"1m30s"`) or a number of milliseconds.
    fn duration(&mut self, v: &Value, path: &[Seg]) -> Option<Duration> {
        let help = "a duration: a string such as \"30s\", \"1m30s\", \"500ms\", or a number of milliseconds";
        let d = match v {
            Value::String(s) => match parse_duration(s) {
                Ok(d) => d,
                Err(e) => {
                    self.error(path, e, help);
                    return None;
                }
            },
            Value::Number(n) => match n.as_f64() {
                Some(ms) if ms >= 0.0 && ms.is_finite() && ms <= MAX_DURATION.as_millis() as f64 => {
                    Duration::from_secs_f64(ms / 1000.0)
                }
                _ => {
                    self.error(path, format!("{n} milliseconds is not a duration here"), help);
                    return None;
                }
            },
            other => {
                self.error(path, format!("expected a duration, found {}", describe(other)), help);
                return None;
            }
        };
        if d > MAX_DURATION {
            self.error(path, format!("{} is longer than 365 days", format_duration(d)), help);
            return None;
        }
        Some(d)
    }

    fn positive_duration(&mut self, v: &Value, path: &[Seg]) -> Option<Duration> {
        let d = self.duration(v, path)?;
        if d.is_zero() {
            self.error(path, "the duration must be more than 0", "e.g. \"30s\"");
            return None;
        }
        Some(d)
    }

    fn string_map(&mut self, v: &Value, path: &[Seg], example: &str) -> Vec<(String, String)> {
        let Some(o) = self.object(v, path, example) else { return Vec::new() };
        let mut out = Vec::new();
        for (k, v) in o {
            let p = key(path, k);
            match v {
                Value::String(s) => out.push((k.clone(), s.clone())),
                other => {
                    self.error(&p, format!("expected a string, found {}", describe(other)), format!("e.g. {example}"))
                }
            }
        }
        out
    }

    fn stages(&mut self, v: &Value, path: &[Seg], max_target: u64) -> Option<Vec<Stage>> {
        let example = "[{ duration: '30s', target: 100 }, { duration: '1m', target: 0 }]";
        let items = self.array(v, path, example)?;
        let mut stages = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let p = index(path, i);
            let Some(o) = self.object(item, &p, "{ duration: '30s', target: 100 }") else {
                ok = false;
                continue;
            };
            for k in o.keys() {
                if k != "duration" && k != "target" {
                    self.unknown(
                        &key(&p, k),
                        k,
                        &["duration", "target"],
                        "a stage is { duration: '30s', target: 100 }",
                    );
                    ok = false;
                }
            }
            let duration = match o.get("duration") {
                Some(d) => self.duration(d, &key(&p, "duration")),
                None => {
                    self.error(&p, "the stage has no `duration`", "a stage is { duration: '30s', target: 100 }");
                    None
                }
            };
            let target = match o.get("target") {
                Some(t) => self.uint(t, &key(&p, "target"), 0, max_target),
                None => {
                    self.error(&p, "the stage has no `target`", "a stage is { duration: '30s', target: 100 }");
                    None
                }
            };
            match (duration, target) {
                (Some(duration), Some(target)) => stages.push(Stage { duration, target }),
                _ => ok = false,
            }
        }
        if !ok {
            return None;
        }
        if stages.is_empty() {
            self.error(path, "`stages` is empty", format!("e.g. {example}"));
            return None;
        }
        let total: Duration = stages.iter().map(|s| s.duration).sum();
        if total.is_zero() {
            self.error(path, "the stages last 0s in total", format!("e.g. {example}"));
            return None;
        }
        if total > MAX_DURATION {
            self.error(path, "the stages last more than 365 days in total", format!("e.g. {example}"));
            return None;
        }
        Some(stages)
    }
}

/// Decodes `options` (already through JSON) into a plan.
pub(crate) fn decode(
    options: &Value,
    src: Source<'_>,
    exports: &[Export],
    metrics: &[Arc<CustomMetric>],
    overrides: &Overrides,
) -> Result<Decoded, Vec<ScenarioError>> {
    let mut d = Decoder { src, errors: Vec::new(), warnings: Vec::new() };
    let empty = Map::new();
    let top = match options {
        Value::Null => &empty,
        Value::Object(o) => o,
        other => {
            d.error(
                &[],
                format!("`options` must be an object, found {}", describe(other)),
                "export const options = { vus: 10, duration: '30s' };",
            );
            return Err(d.errors);
        }
    };
    let known: Vec<&str> = HONOURED.iter().chain(WARNED).copied().chain(REFUSED.iter().map(|(n, _)| *n)).collect();
    for (name, value) in top {
        let path = [Seg::Key(name.clone())];
        if value.is_null() || HONOURED.contains(&name.as_str()) {
            continue;
        }
        if WARNED.contains(&name.as_str()) {
            d.warn(
                &path,
                format!("option `{name}` is not honoured by Stampede yet; the run goes on without it"),
                "see docs/k6-compatibility.md",
            );
        } else if let Some((_, why)) = REFUSED.iter().find(|(n, _)| n == name) {
            let e = d.error_at(
                &path,
                true,
                format!("option `{name}` is not supported ({why})"),
                format!("options Stampede honours: {}", HONOURED.join(", ")),
            );
            d.errors.push(e);
        } else {
            d.unknown(&path, name, &known, format!("options Stampede honours: {}", HONOURED.join(", ")));
        }
    }
    let get = |k: &str| top.get(k).filter(|v| !v.is_null());

    // === execution ===
    let mut vus = get("vus").and_then(|v| d.uint(v, &[Seg::Key("vus".into())], 1, MAX_VUS));
    let mut duration = get("duration").and_then(|v| d.duration(v, &[Seg::Key("duration".into())]));
    let mut iterations = get("iterations").and_then(|v| d.uint(v, &[Seg::Key("iterations".into())], 1, MAX_ITERATIONS));
    let stages_value = get("stages");
    let mut scenarios_value = get("scenarios");
    if let Some(v) = overrides.vus {
        if !(1..=MAX_VUS).contains(&v) {
            d.errors.push(ScenarioError::new(
                d.src.path,
                "",
                None,
                "--vus",
                format!("{v} VUs is out of range"),
                format!("pass a number from 1 to {MAX_VUS}"),
            ));
        }
        vus = Some(v);
    }
    let mut stages_value = stages_value;
    if let Some(cli) = overrides.duration {
        // k6: a tier that sets duration, iterations, stages or scenarios
        // replaces all four of the tiers below it.
        if scenarios_value.is_some() {
            d.warnings.push(
                ScenarioError::new(
                    d.src.path,
                    "",
                    None,
                    "--duration",
                    "--duration replaces the script's scenarios entirely (as in k6)",
                    "",
                )
                .into_warning(),
            );
        }
        scenarios_value = None;
        stages_value = None;
        iterations = None;
        duration = Some(cli);
    } else if overrides.vus.is_some() && scenarios_value.is_some() {
        d.warnings.push(
            ScenarioError::new(
                d.src.path,
                "",
                None,
                "--vus",
                "--vus does not change a script's `scenarios` (as in k6): each scenario keeps its own VUs",
                "",
            )
            .into_warning(),
        );
    }
    let stages = match stages_value {
        Some(Value::Array(a)) if a.is_empty() => {
            d.warn(
                &[Seg::Key("stages".into())],
                "`stages` is empty: the script runs 1 iteration in 1 VU (as in k6)",
                "",
            );
            None
        }
        Some(v) => d.stages(v, &[Seg::Key("stages".into())], MAX_VUS),
        None => None,
    };
    let scenarios_obj = match scenarios_value {
        Some(Value::Object(o)) if o.is_empty() => {
            d.warn(
                &[Seg::Key("scenarios".into())],
                "`scenarios` is empty: the script runs 1 iteration in 1 VU (as in k6)",
                "",
            );
            None
        }
        Some(v) => d.object(
            v,
            &[Seg::Key("scenarios".into())],
            "scenarios: { browse: { executor: 'constant-vus', vus: 10, duration: '30s' } }",
        ),
        None => None,
    };
    let conflict = |a: &str, b: &str| {
        (
            format!("using `{a}` and `{b}` options simultaneously is not allowed (as in k6)"),
            "use one of them: the shortcuts (vus, duration, iterations, stages) make one scenario named `default`",
        )
    };
    let shortcut_conflict = match (
        iterations.is_some(),
        duration.is_some(),
        stages.is_some() || stages_value.is_some_and(|v| !v.as_array().is_some_and(Vec::is_empty)),
        scenarios_value.is_some_and(|v| !v.as_object().is_some_and(Map::is_empty)),
    ) {
        (true, _, true, _) => Some(("iterations", "stages")),
        (true, _, _, true) => Some(("iterations", "scenarios")),
        (false, true, true, _) => Some(("duration", "stages")),
        (false, true, _, true) => Some(("duration", "scenarios")),
        (false, false, true, true) => Some(("stages", "scenarios")),
        _ => None,
    };
    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut extras: Vec<ScenarioExtras> = Vec::new();
    if let Some((a, b)) = shortcut_conflict {
        let (message, help) = conflict(a, b);
        d.error(&[Seg::Key(b.into())], message, help);
    } else if let Some(n) = iterations {
        let v = vus.unwrap_or(1);
        let executor = Executor::SharedIterations {
            vus: v.min(n),
            iterations: n,
            max_duration: duration.unwrap_or(DEFAULT_MAX_DURATION),
        };
        scenarios.push(shortcut(executor));
    } else if let Some(dur) = duration {
        if dur.is_zero() {
            d.error(&[Seg::Key("duration".into())], "`duration` must be more than 0", "e.g. duration: '30s'");
        }
        scenarios.push(shortcut(Executor::ConstantVus { vus: vus.unwrap_or(1), duration: dur }));
    } else if let Some(stages) = stages {
        scenarios.push(shortcut(Executor::RampingVus {
            start_vus: vus.unwrap_or(1),
            stages,
            graceful_ramp_down: DEFAULT_GRACEFUL_STOP,
        }));
    } else if let (Some(v), None) = (vus, scenarios_obj) {
        scenarios.push(shortcut(Executor::SharedIterations {
            vus: v,
            iterations: v,
            max_duration: DEFAULT_MAX_DURATION,
        }));
    } else if let Some(obj) = scenarios_obj {
        for (name, value) in obj {
            if let Some((s, e)) = scenario(&mut d, name, value) {
                scenarios.push(s);
                extras.push(e);
            }
        }
    } else {
        scenarios.push(shortcut(Executor::PerVuIterations {
            vus: 1,
            iterations: 1,
            max_duration: DEFAULT_MAX_DURATION,
        }));
    }
    if extras.len() != scenarios.len() {
        extras = scenarios.iter().map(|s| ScenarioExtras { name: s.name.clone(), ..Default::default() }).collect();
    }

    // Every scenario's function must be exported.
    let functions: Vec<&str> = exports.iter().filter(|e| e.is_function).map(|e| e.name.as_str()).collect();
    for s in &scenarios {
        let exec = s.exec.as_deref().unwrap_or(DEFAULT_SCENARIO);
        if functions.contains(&exec) {
            continue;
        }
        let hint =
            did_you_mean(exec, functions.iter().copied()).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
        let listed = if functions.is_empty() {
            "the script exports no function".to_string()
        } else {
            format!("exported functions: {}", functions.join(", "))
        };
        let path = if scenarios_obj.is_some() {
            vec![Seg::Key("scenarios".into()), Seg::Key(s.name.to_string()), Seg::Key("exec".into())]
        } else {
            Vec::new()
        };
        let message = if exec == DEFAULT_SCENARIO
            && !path.is_empty()
            && scenarios_obj.is_some_and(|o| o.get(&*s.name).and_then(|v| v.get("exec")).is_none())
        {
            format!("scenario `{}` runs the default function, but the script exports none{hint}", s.name)
        } else {
            format!("scenario `{}` runs function `{exec}`, which the script does not export{hint}", s.name)
        };
        d.error(
            &path,
            message,
            format!("{listed}; export it (export default function () {{ … }}) or set the scenario's `exec`"),
        );
    }
    for e in exports {
        if matches!(e.name.as_str(), "setup" | "teardown" | "handleSummary") && !e.is_function {
            d.errors.push(ScenarioError::new(
                d.src.path,
                "",
                None,
                "",
                format!("the exported `{}` is not a function", e.name),
                "k6 calls it: export function setup() { … }",
            ));
        }
    }

    // === thresholds ===
    let mut thresholds = Vec::new();
    if let Some(v) = get("thresholds") {
        let path = [Seg::Key("thresholds".into())];
        if let Some(obj) = d.object(v, &path, "thresholds: { http_req_duration: ['p(95)<500'] }") {
            for (selector, list) in obj {
                thresholds_of(&mut d, &path, selector, list, metrics, &mut thresholds);
            }
        }
    }

    // === target ===
    let max_redirects = get("maxRedirects")
        .and_then(|v| d.uint(v, &[Seg::Key("maxRedirects".into())], 0, MAX_REDIRECTS))
        .map_or(DEFAULT_MAX_REDIRECTS, |n| n as u32);
    let batch_per_host = get("batchPerHost")
        .and_then(|v| d.uint(v, &[Seg::Key("batchPerHost".into())], 1, MAX_BATCH_PER_HOST))
        .map_or(DEFAULT_BATCH_PER_HOST, |n| n as u32);
    let insecure = get("insecureSkipTLSVerify")
        .and_then(|v| d.bool(v, &[Seg::Key("insecureSkipTLSVerify".into())]))
        .unwrap_or(false);
    let mut headers = Vec::new();
    if let Some(v) = get("userAgent")
        && let Some(ua) = d.string(v, &[Seg::Key("userAgent".into())], "userAgent: 'MyK6UserAgentString/1.0'")
    {
        if http::HeaderValue::from_str(ua).is_err() {
            d.error(
                &[Seg::Key("userAgent".into())],
                "the user agent has characters a header cannot hold",
                "printable ASCII",
            );
        } else {
            headers.push((HeaderName::from_static("user-agent"), Template::literal(ua)));
        }
    }
    let mut hosts = Vec::new();
    if let Some(v) = get("hosts") {
        let path = [Seg::Key("hosts".into())];
        if let Some(obj) = d.object(v, &path, "hosts: { 'test.k6.io': '1.2.3.4' }") {
            for (name, addr) in obj {
                let p = key(&path, name);
                hosts_entry(&mut d, &p, name, addr, &mut hosts);
            }
        }
    }
    for flag in &overrides.hosts {
        match stampede_scenario::net::parse_host_flag(flag) {
            Ok(m) => {
                hosts.retain(|h: &stampede_scenario::net::HostMapping| h.name != m.name);
                hosts.push(m);
            }
            Err(e) => d.errors.push(ScenarioError::new(
                d.src.path,
                "",
                None,
                "--hosts",
                e,
                "e.g. --hosts shop.example.com=127.0.0.1:8080",
            )),
        }
    }
    let mut local_ips = Vec::new();
    if let Some(v) = get("localIPs")
        && let Some(text) = d.string(v, &[Seg::Key("localIPs".into())], "localIPs: '192.168.20.12-192.168.20.15'")
    {
        match stampede_scenario::net::parse_local_ips_flag(text) {
            Ok(ips) => local_ips = ips,
            Err(e) => {
                d.error(&[Seg::Key("localIPs".into())], e, "addresses, ranges (A-B) and CIDR blocks, comma-separated")
            }
        }
    }
    if let Some(text) = &overrides.local_ips {
        match stampede_scenario::net::parse_local_ips_flag(text) {
            Ok(ips) => local_ips = ips,
            Err(e) => d.errors.push(ScenarioError::new(
                d.src.path,
                "",
                None,
                "--local-ips",
                e,
                "addresses, ranges (A-B) and CIDR blocks, comma-separated",
            )),
        }
    }
    if overrides.target.is_some() {
        d.errors.push(ScenarioError::new(
            d.src.path,
            "",
            None,
            "--target",
            "--target does not apply to a script: its URLs are written in it",
            "pass the address as an environment value instead: -e BASE=http://127.0.0.1:8080 and read __ENV.BASE",
        ));
    }
    let setup_timeout = get("setupTimeout")
        .and_then(|v| d.positive_duration(v, &[Seg::Key("setupTimeout".into())]))
        .unwrap_or(DEFAULT_HOOK_TIMEOUT);
    let teardown_timeout = get("teardownTimeout")
        .and_then(|v| d.positive_duration(v, &[Seg::Key("teardownTimeout".into())]))
        .unwrap_or(DEFAULT_HOOK_TIMEOUT);

    // === what the plan cannot carry ===
    let tags = match get("tags") {
        Some(v) => d.string_map(v, &[Seg::Key("tags".into())], "tags: { team: 'checkout' }"),
        None => Vec::new(),
    };
    let summary_trend_stats = match get("summaryTrendStats") {
        Some(v) => trend_stats(&mut d, v),
        None => DEFAULT_TREND_STATS.iter().map(|s| s.to_string()).collect(),
    };
    let no_connection_reuse =
        get("noConnectionReuse").and_then(|v| d.bool(v, &[Seg::Key("noConnectionReuse".into())])).unwrap_or(false);
    let discard_response_bodies = get("discardResponseBodies")
        .and_then(|v| d.bool(v, &[Seg::Key("discardResponseBodies".into())]))
        .unwrap_or(false);
    let batch = get("batch")
        .and_then(|v| d.uint(v, &[Seg::Key("batch".into())], 1, MAX_BATCH))
        .map_or(DEFAULT_BATCH, |n| n as u32);

    if !d.errors.is_empty() {
        return Err(d.errors);
    }
    let plan = Plan {
        source: d.src.path.to_path_buf(),
        metrics: metrics.to_vec(),
        target: Target {
            base_url: None,
            shop: None,
            headers,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            http_version: HttpVersion::Auto,
            insecure_skip_tls_verify: insecure,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            max_redirects,
            batch_per_host,
            hosts,
            local_ips,
            tls_ca: None,
        },
        think_time: ThinkTime::None,
        data: Vec::new(),
        flows: Vec::new(),
        setup: None,
        teardown: None,
        setup_timeout,
        teardown_timeout,
        setup_vars: Vec::new(),
        scenarios,
        thresholds,
        // k6 has no regression budgets: `--budget` gives them.
        budgets: Vec::new(),
        // k6 scripts name outputs on the command line (`--out`).
        outputs: Vec::new(),
        request_names: Vec::new(),
        check_names: Vec::new(),
        group_names: vec![Arc::from("")],
        group_parents: vec![0],
        tag_sets: vec![Arc::from([])],
        var_slots: 0,
        var_names: Vec::new(),
        warnings: d.warnings,
        upload_files: Vec::new(),
    };
    Ok(Decoded {
        plan,
        options: ScriptOptions {
            tags,
            summary_trend_stats,
            no_connection_reuse,
            discard_response_bodies,
            batch,
            scenarios: extras,
        },
    })
}

fn shortcut(executor: Executor) -> Scenario {
    Scenario {
        name: DEFAULT_SCENARIO.into(),
        executor,
        start_time: Duration::ZERO,
        graceful_stop: DEFAULT_GRACEFUL_STOP,
        flows: Vec::new(),
        total_weight: 0,
        exec: Some(DEFAULT_SCENARIO.into()),
    }
}

fn scenario(d: &mut Decoder<'_>, name: &str, value: &Value) -> Option<(Scenario, ScenarioExtras)> {
    let path = vec![Seg::Key("scenarios".into()), Seg::Key(name.to_string())];
    let example = "{ executor: 'constant-vus', vus: 10, duration: '30s' }";
    let o = d.object(value, &path, example)?;
    let names: Vec<&str> = EXECUTORS.iter().map(|(n, _)| *n).collect();
    let executors_help = format!("executors: {}", names.join(", "));
    let executor_name = match o.get("executor") {
        Some(v) => d.string(v, &key(&path, "executor"), "executor: 'constant-vus'")?,
        None => {
            let e = d.error_at(&path, true, format!("scenario `{name}` has no `executor`"), executors_help);
            d.errors.push(e);
            return None;
        }
    };
    if crate::api::REFUSED_EXECUTORS.contains(&executor_name) {
        d.error(&key(&path, "executor"), format!("executor `{executor_name}` is not supported"), executors_help);
        return None;
    }
    let Some((_, fields)) = EXECUTORS.iter().find(|(n, _)| *n == executor_name) else {
        let hint = did_you_mean(executor_name, names.iter().copied())
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        d.error(&key(&path, "executor"), format!("unknown executor `{executor_name}`{hint}"), executors_help);
        return None;
    };
    let mut ok = true;
    let allowed: Vec<&str> = COMMON_SCENARIO_FIELDS.iter().chain(fields.iter()).copied().collect();
    for k in o.keys() {
        if allowed.contains(&k.as_str()) {
            continue;
        }
        ok = false;
        let owners: Vec<&str> = EXECUTORS.iter().filter(|(_, f)| f.contains(&k.as_str())).map(|(n, _)| *n).collect();
        let help = format!(
            "options of {executor_name}: {}; every scenario also takes {}",
            fields.join(", "),
            COMMON_SCENARIO_FIELDS.join(", ")
        );
        if owners.is_empty() {
            let p = key(&path, k);
            let hint =
                did_you_mean(k, allowed.iter().copied()).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
            let e = d.error_at(&p, true, format!("unknown option `{k}` in scenario `{name}`{hint}"), help);
            d.errors.push(e);
        } else {
            let e = d.error_at(
                &key(&path, k),
                true,
                format!("`{k}` is not an option of the {executor_name} executor (it belongs to {})", owners.join(", ")),
                help,
            );
            d.errors.push(e);
        }
    }
    let field_of = |k: &str| o.get(k).filter(|v| !v.is_null());
    let start_time =
        field_of("startTime").and_then(|v| d.duration(v, &key(&path, "startTime"))).unwrap_or(Duration::ZERO);
    let graceful_stop = field_of("gracefulStop")
        .and_then(|v| d.duration(v, &key(&path, "gracefulStop")))
        .unwrap_or(DEFAULT_GRACEFUL_STOP);
    let exec: Arc<str> = match field_of("exec") {
        Some(v) => {
            let s = d.string(v, &key(&path, "exec"), "exec: 'browse'")?;
            if s.is_empty() {
                d.error(
                    &key(&path, "exec"),
                    "`exec` is empty",
                    "the name of an exported function, e.g. exec: 'browse'",
                );
                return None;
            }
            s.into()
        }
        None => DEFAULT_SCENARIO.into(),
    };
    let env = field_of("env").map(|v| d.string_map(v, &key(&path, "env"), "env: { MY_VAR: 'x' }")).unwrap_or_default();
    let tags = field_of("tags")
        .map(|v| d.string_map(v, &key(&path, "tags"), "tags: { team: 'checkout' }"))
        .unwrap_or_default();
    let executor = executor(d, &path, executor_name, o);
    let executor = executor?;
    if !ok {
        return None;
    }
    let s = Scenario {
        name: name.into(),
        executor,
        start_time,
        graceful_stop,
        flows: Vec::new(),
        total_weight: 0,
        exec: Some(exec),
    };
    Some((s, ScenarioExtras { name: name.into(), env, tags }))
}

fn executor(d: &mut Decoder<'_>, path: &[Seg], name: &str, o: &Map<String, Value>) -> Option<Executor> {
    let field_of = |k: &str| o.get(k).filter(|v| !v.is_null());
    let missing = |d: &mut Decoder<'_>, k: &str, example: &str| {
        let e = d.error_at(path, true, format!("the {name} executor needs `{k}`"), format!("e.g. {k}: {example}"));
        d.errors.push(e);
    };
    let uint =
        |d: &mut Decoder<'_>, k: &str, min: u64, max: u64| field_of(k).and_then(|v| d.uint(v, &key(path, k), min, max));
    let time_unit = |d: &mut Decoder<'_>| -> Option<Duration> {
        match field_of("timeUnit") {
            Some(v) => d.positive_duration(v, &key(path, "timeUnit")),
            None => Some(Duration::from_secs(1)),
        }
    };
    let vus_pair = |d: &mut Decoder<'_>| -> Option<(u64, u64)> {
        let Some(pre) = uint(d, "preAllocatedVUs", 1, MAX_VUS) else {
            if field_of("preAllocatedVUs").is_none() {
                missing(d, "preAllocatedVUs", "10");
            }
            return None;
        };
        let max = match field_of("maxVUs") {
            Some(v) => d.uint(v, &key(path, "maxVUs"), 1, MAX_VUS)?,
            None => pre,
        };
        if max < pre {
            d.error(
                &key(path, "maxVUs"),
                format!("maxVUs ({max}) is less than preAllocatedVUs ({pre})"),
                "maxVUs is at least preAllocatedVUs (it defaults to it)",
            );
            return None;
        }
        Some((pre, max))
    };
    let rate_bound = |d: &mut Decoder<'_>, k: &str, rate: u64, time_unit: Duration| -> bool {
        let per_second = rate as f64 / time_unit.as_secs_f64();
        if per_second <= MAX_RATE_PER_SECOND as f64 {
            return true;
        }
        d.error(
            &key(path, k),
            format!(
                "{rate} iterations per {} is {per_second:.3e} per second; the most is {MAX_RATE_PER_SECOND} per second",
                format_duration(time_unit)
            ),
            "use a longer timeUnit or a lower rate",
        );
        false
    };
    let required_duration = |d: &mut Decoder<'_>, k: &str| -> Option<Duration> {
        match field_of(k) {
            Some(v) => d.positive_duration(v, &key(path, k)),
            None => {
                missing(d, k, "'30s'");
                None
            }
        }
    };
    Some(match name {
        "shared-iterations" | "per-vu-iterations" => {
            let vus = match field_of("vus") {
                Some(v) => d.uint(v, &key(path, "vus"), 1, MAX_VUS)?,
                None => 1,
            };
            let iterations = match field_of("iterations") {
                Some(v) => d.uint(v, &key(path, "iterations"), 1, MAX_ITERATIONS)?,
                None => 1,
            };
            let max_duration = match field_of("maxDuration") {
                Some(v) => d.positive_duration(v, &key(path, "maxDuration"))?,
                None => DEFAULT_MAX_DURATION,
            };
            if name == "shared-iterations" {
                // k6 never starts more VUs than there are iterations to share.
                Executor::SharedIterations { vus: vus.min(iterations), iterations, max_duration }
            } else {
                Executor::PerVuIterations { vus, iterations, max_duration }
            }
        }
        "constant-vus" => {
            let vus = match field_of("vus") {
                Some(v) => d.uint(v, &key(path, "vus"), 1, MAX_VUS)?,
                None => 1,
            };
            Executor::ConstantVus { vus, duration: required_duration(d, "duration")? }
        }
        "ramping-vus" => {
            let start_vus = match field_of("startVUs") {
                Some(v) => d.uint(v, &key(path, "startVUs"), 0, MAX_VUS)?,
                None => 1,
            };
            let Some(stages_v) = field_of("stages") else {
                missing(d, "stages", "[{ duration: '30s', target: 10 }]");
                return None;
            };
            let stages = d.stages(stages_v, &key(path, "stages"), MAX_VUS)?;
            if start_vus == 0 && stages.iter().all(|s| s.target == 0) {
                d.error(
                    &key(path, "stages"),
                    "startVUs and every stage target are 0: no VU would ever start",
                    "give a stage a target above 0",
                );
                return None;
            }
            let graceful_ramp_down = match field_of("gracefulRampDown") {
                Some(v) => d.duration(v, &key(path, "gracefulRampDown"))?,
                None => DEFAULT_GRACEFUL_STOP,
            };
            Executor::RampingVus { start_vus, stages, graceful_ramp_down }
        }
        "constant-arrival-rate" => {
            let rate = match field_of("rate") {
                Some(v) => d.uint(v, &key(path, "rate"), 1, MAX_RATE)?,
                None => {
                    missing(d, "rate", "10");
                    return None;
                }
            };
            let time_unit = time_unit(d)?;
            let duration = required_duration(d, "duration")?;
            if !rate_bound(d, "rate", rate, time_unit) {
                return None;
            }
            let (pre_allocated_vus, max_vus) = vus_pair(d)?;
            Executor::ConstantArrivalRate { rate, time_unit, duration, pre_allocated_vus, max_vus }
        }
        "ramping-arrival-rate" => {
            let start_rate = match field_of("startRate") {
                Some(v) => d.uint(v, &key(path, "startRate"), 0, MAX_RATE)?,
                None => 0,
            };
            let time_unit = time_unit(d)?;
            let Some(stages_v) = field_of("stages") else {
                missing(d, "stages", "[{ duration: '30s', target: 50 }]");
                return None;
            };
            let stages = d.stages(stages_v, &key(path, "stages"), MAX_RATE)?;
            let peak = stages.iter().map(|s| s.target).fold(start_rate, u64::max);
            if peak == 0 {
                d.error(
                    &key(path, "stages"),
                    "startRate and every stage target are 0: no iteration would ever start",
                    "give a stage a target above 0",
                );
                return None;
            }
            if !rate_bound(d, "stages", peak, time_unit) {
                return None;
            }
            let (pre_allocated_vus, max_vus) = vus_pair(d)?;
            Executor::RampingArrivalRate { start_rate, time_unit, stages, pre_allocated_vus, max_vus }
        }
        _ => return None,
    })
}

fn thresholds_of(
    d: &mut Decoder<'_>,
    path: &[Seg],
    selector: &str,
    list: &Value,
    metrics: &[Arc<CustomMetric>],
    out: &mut Vec<Threshold>,
) {
    let p = key(path, selector);
    let Some(items) = d.array(list, &p, "['p(95)<500', { threshold: 'rate<0.01', abortOnFail: true }]") else { return };
    for (i, item) in items.iter().enumerate() {
        let ip = index(&p, i);
        let (expr, abort, delay, expr_path) = match item {
            Value::String(s) => (s.as_str(), false, Duration::ZERO, ip.clone()),
            Value::Object(o) => {
                let mut good = true;
                for k in o.keys() {
                    if !["threshold", "abortOnFail", "delayAbortEval"].contains(&k.as_str()) {
                        d.unknown(
                            &key(&ip, k),
                            k,
                            &["threshold", "abortOnFail", "delayAbortEval"],
                            "{ threshold: 'p(95)<500', abortOnFail: true, delayAbortEval: '10s' }",
                        );
                        good = false;
                    }
                }
                let expr = match o.get("threshold") {
                    Some(v) => d.string(v, &key(&ip, "threshold"), "threshold: 'p(95)<500'"),
                    None => {
                        d.error(
                            &ip,
                            "the threshold object has no `threshold`",
                            "{ threshold: 'p(95)<500', abortOnFail: true }",
                        );
                        None
                    }
                };
                let abort = o
                    .get("abortOnFail")
                    .filter(|v| !v.is_null())
                    .map_or(Some(false), |v| d.bool(v, &key(&ip, "abortOnFail")));
                let delay = o
                    .get("delayAbortEval")
                    .filter(|v| !v.is_null())
                    .map_or(Some(Duration::ZERO), |v| d.duration(v, &key(&ip, "delayAbortEval")));
                match (expr, abort, delay, good) {
                    (Some(e), Some(a), Some(dl), true) => (e, a, dl, key(&ip, "threshold")),
                    _ => continue,
                }
            }
            other => {
                d.error(
                    &ip,
                    format!("expected a threshold expression, found {}", describe(other)),
                    "e.g. 'p(95)<500' or { threshold: 'rate<0.01', abortOnFail: true }",
                );
                continue;
            }
        };
        if let Err(mut e) = parse_threshold(selector, expr, abort, delay, metrics).map(|t| out.push(t)) {
            // The scenario file's way of declaring a metric is not a script's.
            e.help = e.help.replace(
                "none is declared (add [metrics.NAME] kind = \"counter\")",
                "none is declared (new Counter('name') in the init code declares one)",
            );
            let at = if e.in_selector {
                d.error_at(&p, true, e.message, e.help)
            } else {
                d.error_at(&expr_path, false, e.message, e.help)
            };
            d.errors.push(at);
        }
    }
}

fn hosts_entry(
    d: &mut Decoder<'_>,
    p: &[Seg],
    name: &str,
    addr: &Value,
    out: &mut Vec<stampede_scenario::net::HostMapping>,
) {
    let help = "hosts: { 'test.k6.io': '1.2.3.4', '*.example.com': '127.0.0.1:8080' }";
    if name.contains(':') && !name.starts_with('[') {
        let e = d.error_at(
            p,
            true,
            format!("`{name}`: a port in a hosts name is not supported"),
            format!("map the name alone: {help}"),
        );
        d.errors.push(e);
        return;
    }
    let host = match stampede_scenario::net::parse_host_name(name) {
        Ok(h) => h,
        Err(e) => {
            let e = d.error_at(p, true, e, help);
            d.errors.push(e);
            return;
        }
    };
    let Some(text) = d.string(addr, p, "'127.0.0.1:8080'") else { return };
    match stampede_scenario::net::parse_host_addr(text) {
        Ok((ip, port)) => {
            out.retain(|h| h.name != host);
            out.push(stampede_scenario::net::HostMapping { name: host, ip, port });
        }
        Err(e) => d.error(p, e, help),
    }
}

/// `summaryTrendStats`: `avg min med max count p(N)` (k6's columns).
fn trend_stats(d: &mut Decoder<'_>, v: &Value) -> Vec<String> {
    let path = [Seg::Key("summaryTrendStats".into())];
    let Some(items) = d.array(v, &path, "['avg', 'p(95)', 'p(99.9)']") else { return Vec::new() };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = index(&path, i);
        let Some(s) = d.string(item, &p, "'p(99)'") else { continue };
        // The percentiles every summary computes; any other would need the
        // histograms again, so it is refused rather than given another's value.
        let ok = matches!(s, "avg" | "min" | "med" | "max" | "count")
            || s.strip_prefix("p(")
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|n| n.trim().parse::<f64>().ok())
                .is_some_and(|n| SUMMARY_PERCENTILES.contains(&n));
        if ok {
            out.push(s.to_string());
        } else {
            d.error(
                &p,
                format!("`{s}` is not a trend statistic the summary computes"),
                "avg, min, med, max, count, p(50), p(90), p(95), p(99), p(99.9) or p(100)",
            );
        }
    }
    out
}
