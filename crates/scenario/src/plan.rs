//! The validated, compiled form of a scenario file: what the engine runs.
//!
//! Everything here is resolved at plan time so the per-request path does no
//! parsing, no name lookups and no avoidable allocation: templates are split
//! into parts with variables resolved to slots, JSON paths and regexes are
//! compiled, request names and check names are interned and numbered.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Method};

use crate::template::Template;
use crate::threshold::{CustomMetric, MetricKind, Threshold};

/// A whole scenario file, validated and compiled.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The file the plan came from (for messages and relative paths).
    pub source: PathBuf,
    pub target: Target,
    /// Default pause after each step (a step may override it).
    pub think_time: ThinkTime,
    /// Test data sets, loaded in memory (`{{ data.NAME.COLUMN }}` in templates).
    pub data: Vec<DataSet>,
    pub flows: Vec<Flow>,
    /// `[setup]`: run once per test, before any VU starts (once in total in a
    /// distributed run, by the process that controls it). Its extracted
    /// variables are read-only values for every VU ([`Plan::setup_vars`]).
    pub setup: Option<Flow>,
    /// `[teardown]`: run once per test, after the last VU stopped; it sees the
    /// setup's values.
    pub teardown: Option<Flow>,
    /// `[setup] timeout` and `[teardown] timeout` (k6's `setupTimeout` and
    /// `teardownTimeout`, 60 s by default).
    pub setup_timeout: Duration,
    pub teardown_timeout: Duration,
    /// Slots the setup's extractors fill, in order of first definition: what
    /// is shipped to every VU (no flow may extract into them).
    pub setup_vars: Vec<usize>,
    pub scenarios: Vec<Scenario>,
    pub thresholds: Vec<Threshold>,
    /// `[compare]`: regression budgets against a baseline run.
    pub budgets: Vec<crate::budget::Budget>,
    /// `[outputs] out`: `(KIND, PATH or URL)`, as `--out KIND=PATH` (the
    /// flags add to these).
    pub outputs: Vec<(String, String)>,
    /// Custom metrics (`[metrics.NAME]`), in file order; `MetricFeed::metric`
    /// indexes this. Every process of a run compiles the same file, so the
    /// indexes agree (the wire names metrics anyway).
    pub metrics: Vec<Arc<CustomMetric>>,
    /// Interned request names; `Step::name_id` indexes this.
    pub request_names: Vec<Arc<str>>,
    /// Interned check names; `Check::id` indexes this.
    pub check_names: Vec<Arc<str>>,
    /// Group paths in k6's format (`::checkout`, `::checkout::payment`);
    /// `Step::group` indexes this, and 0 is the root group `""`.
    pub group_names: Vec<Arc<str>>,
    /// The enclosing group of each group, by index (the root's is 0 itself).
    pub group_parents: Vec<u32>,
    /// Interned custom tag sets (target, flow and step `tags` merged);
    /// `Step::tags` indexes this, and 0 is the empty set.
    pub tag_sets: Vec<TagSet>,
    /// Number of per-VU variable slots (`{{ NAME }}` set by extractors).
    pub var_slots: usize,
    /// Slot names, indexed by slot (for messages).
    pub var_names: Vec<Arc<str>>,
    /// Things that are valid but probably not meant, located like errors
    /// (e.g. a threshold on a request name no step has, which would pass
    /// vacuously). Callers print them before any load.
    pub warnings: Vec<crate::ScenarioError>,
    /// Files uploaded by `multipart` steps, by the path written (agents
    /// receive them like data files).
    pub upload_files: Vec<UploadFile>,
}

impl Plan {
    /// Connections one VU of `scenario` may hold at once: among the flows the
    /// scenario runs, the most distinct origins (scheme, host, port), since a
    /// VU keeps one connection per origin it has talked to, and a batch's
    /// `batch_per_host` for each origin a batch reaches (its connections stay
    /// open for the next batch, as a browser's do). A step URL whose origin is
    /// a template counts as one more origin. At least 1.
    pub fn connections_per_vu(&self, scenario: &Scenario) -> u64 {
        scenario
            .flows
            .iter()
            .filter_map(|w| self.flows.get(w.flow))
            .map(|flow| {
                // Each request with the connections it may need at once.
                let uses = flow.items.iter().flat_map(|item| -> Vec<(usize, u64)> {
                    match &item.kind {
                        ItemKind::Request(i) => vec![(*i, 1)],
                        ItemKind::Batch(batch) => batch.requests().map(|i| (i, u64::from(batch.per_host))).collect(),
                    }
                });
                // Each origin with the most connections a use of it needs.
                let mut origins: Vec<(&str, u64)> = Vec::new();
                let mut templated = 0u64;
                for (step, conns) in uses.filter_map(|(i, n)| Some((flow.steps.get(i)?, n))) {
                    match literal_origin(step.url.leading_literal(), step.url.as_static().is_some()) {
                        Some(origin) => match origins.iter_mut().find(|(o, _)| *o == origin) {
                            Some((_, n)) => *n = (*n).max(conns),
                            None => origins.push((origin, conns)),
                        },
                        None => templated += conns,
                    }
                }
                origins.iter().map(|(_, n)| n).sum::<u64>() + templated
            })
            .max()
            .unwrap_or(1)
            .max(1)
    }

    /// Connections the whole plan may hold at once: for each scenario, its
    /// peak VUs × [`Plan::connections_per_vu`] (scenarios are assumed to overlap).
    /// Most VUs the whole plan can have at once, summed over scenarios.
    pub fn peak_vus(&self) -> u64 {
        self.scenarios.iter().map(|s| s.executor.peak_vus()).sum()
    }

    /// The planned length of the whole test: the latest scenario end,
    /// graceful stops excluded.
    pub fn planned_duration(&self) -> Duration {
        self.scenarios.iter().map(|s| s.start_time + s.executor.planned_duration()).max().unwrap_or_default()
    }

    pub fn peak_connections(&self) -> u64 {
        self.scenarios.iter().map(|s| s.executor.peak_vus().saturating_mul(self.connections_per_vu(s))).sum()
    }
}

/// `scheme://authority` of a URL's leading literal, when the literal holds all
/// of it (the authority ends at `/`, `?` or `#` inside the literal, or the
/// literal is the whole URL).
fn literal_origin(lead: &str, whole: bool) -> Option<&str> {
    let after_scheme = lead.find("://")? + 3;
    let end = match lead[after_scheme..].find(['/', '?', '#']) {
        Some(i) => after_scheme + i,
        None if whole => lead.len(),
        None => return None,
    };
    Some(&lead[..end])
}

/// Custom tags of a request, sorted by key, one value per key.
pub type TagSet = Arc<[(Arc<str>, Arc<str>)]>;

#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL that relative step URLs are joined to. `None` only when every
    /// step URL is absolute.
    pub base_url: Option<String>,
    /// The bundled shop to start and target (`[target] shop`); `None` when the
    /// scenario targets `base_url`, or `--target` overrides it.
    pub shop: Option<ShopSpec>,
    /// Headers sent with every request (steps may override by name).
    pub headers: Vec<(HeaderName, Template)>,
    /// Whole-request timeout (k6's default is 60 s).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub http_version: HttpVersion,
    /// Skip TLS certificate verification (test targets only).
    pub insecure_skip_tls_verify: bool,
    /// Most bytes of a response body kept for the checks and extractors that
    /// read it; a longer one fails its request as `body_too_large`.
    pub max_body_size: u64,
    /// Redirects followed by default (`[target] max_redirects`, k6's
    /// `maxRedirects`); flows and steps may override it (see `Step::max_redirects`).
    pub max_redirects: u32,
    /// Host name → address mappings (`[target] hosts` and `--hosts`, k6's
    /// `hosts`), exact names first, then `*.` wildcards. Empty: DNS as usual.
    pub hosts: Vec<crate::net::HostMapping>,
    /// Source addresses new connections bind to, round-robin (`[target]
    /// local_ips` and `--local-ips`, k6's `--local-ips`). Empty: the system picks.
    pub local_ips: Vec<std::net::IpAddr>,
    /// PEM certificates trusted besides the public roots (`[target] tls_ca`).
    pub tls_ca: Option<Arc<[u8]>>,
    /// Connections a batch may use at once per origin (`[target]
    /// batch_per_host`, k6's `batchPerHost`); flows and batches may override
    /// it (see [`Batch::per_host`]).
    pub batch_per_host: u32,
}

impl Target {
    /// The address `host` is mapped to by `hosts`, if any: an exact name wins
    /// over wildcards, and the longest wildcard wins among them.
    pub fn map_host(&self, host: &str) -> Option<&crate::net::HostMapping> {
        crate::net::map_host(&self.hosts, host)
    }
}

/// How to start the bundled shop for a scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopSpec {
    /// Peak-day switches, e.g. `cdn-misconfigured` (see `SHOP_FLAGS`).
    pub flags: Vec<String>,
    /// Catalog size (`None`: the shop's default).
    pub products: Option<u64>,
    /// Aim at the shop's origin instead of its CDN edge (`origin = true`): every request reaches
    /// the app and its database, as a rehearsal of the database's findings needs.
    pub origin: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    /// HTTP/1.1 on `http://`; ALPN (h2, then http/1.1) on `https://`.
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only: ALPN h2 on `https://`, prior knowledge (h2c) on `http://`.
    Http2,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThinkTime {
    None,
    Fixed(Duration),
    /// Uniformly random in `[min, max]`.
    Uniform {
        min: Duration,
        max: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct DataSet {
    pub name: Arc<str>,
    pub order: DataOrder,
    pub columns: Vec<Arc<str>>,
    /// `rows[r][c]` is column `c` of row `r`. Never empty.
    pub rows: Arc<Vec<Vec<Arc<str>>>>,
    /// The file as written in the scenario (`[data.NAME] file`).
    pub file: String,
    /// The file resolved against the scenario's directory.
    pub path: std::path::PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataOrder {
    /// Row `n` for the `n`-th iteration of the whole test (shared counter), wrapping.
    Sequential,
    /// A random row each iteration.
    Random,
    /// Each VU keeps its own row for the whole test (row = VU id − 1, wrapping).
    UniquePerVu,
}

#[derive(Debug, Clone)]
pub struct Flow {
    pub name: Arc<str>,
    /// Every request step of the flow, flat (code that walks all requests
    /// reads this).
    pub steps: Vec<Step>,
    /// What a VU executes, in order.
    pub items: Vec<Item>,
}

/// One thing a VU does in a flow: a request step or a batch, run only when
/// its condition holds, once or once per element of a list.
#[derive(Debug, Clone)]
pub struct Item {
    pub kind: ItemKind,
    /// `only_if`: skip the item (no request, no think time) unless this holds.
    /// Tested once, before any repetition of `for_each`.
    pub only_if: Option<Condition>,
    /// `for_each`: the item once per element of a list variable (`{{ item }}`
    /// in its templates). A request step repeats in order, each repetition
    /// followed by its think time; a batch sends every repetition of its
    /// requests together.
    pub for_each: Option<ForEach>,
}

impl Item {
    /// A request step run every time.
    pub fn request(step: usize) -> Item {
        Item { kind: ItemKind::Request(step), only_if: None, for_each: None }
    }
}

#[derive(Debug, Clone)]
pub enum ItemKind {
    /// One request: an index into `Flow::steps`.
    Request(usize),
    /// `batch = [ … ]`: requests sent together.
    Batch(Box<Batch>),
}

/// Requests a VU sends together (k6's `http.batch`), each measured as its
/// own request; the batch ends when the last one is done.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The batch's requests in order: `ItemKind::Request` items, each with
    /// its own `only_if` and `for_each`.
    pub items: Vec<Item>,
    /// Connections used at once per origin (`batch_per_host`: the batch's,
    /// else its flow's, else the target's).
    pub per_host: u32,
    /// Pause after the whole batch; `None` uses the plan's default.
    pub think_time: Option<ThinkTime>,
    /// Index into `Plan::group_names` of the batch's group (its requests'
    /// group too).
    pub group: u32,
}

impl Batch {
    /// The `Flow::steps` indices of the batch's requests.
    pub fn requests(&self) -> impl Iterator<Item = usize> + '_ {
        self.items.iter().filter_map(|i| match i.kind {
            ItemKind::Request(s) => Some(s),
            ItemKind::Batch(_) => None,
        })
    }
}

/// `for_each = "{{ list }}"`: the variable to iterate and the most elements used.
#[derive(Debug, Clone, PartialEq)]
pub struct ForEach {
    /// Slot of a list variable (set by an extractor with `all = true`).
    pub slot: usize,
    /// `for_each_max`: elements past this many are left out.
    pub max: u32,
}

impl ForEach {
    /// The elements of the list variable, at most `max` (see [`list_items`]).
    pub fn items(&self, vars: &[Option<String>]) -> Vec<String> {
        match vars.get(self.slot) {
            Some(Some(value)) => list_items(value, self.max as usize),
            _ => Vec::new(),
        }
    }
}

/// The value of a list variable: the matches of an `all = true` extractor as
/// a JSON array (JSON path matches as they are, regex and header matches as
/// strings), which is also how `{{ list }}` renders.
pub fn list_value(matches: Vec<serde_json::Value>) -> String {
    serde_json::Value::Array(matches).to_string()
}

/// The first `max` elements of a list variable's value: strings unquoted,
/// other values as their JSON text (as a single extraction stores them). A
/// value that is not a JSON array is one element.
pub fn list_items(value: &str, max: usize) -> Vec<String> {
    match serde_json::from_str::<Vec<serde_json::Value>>(value) {
        Ok(list) => list
            .into_iter()
            .take(max)
            .map(|v| match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        Err(_) => std::iter::once(value.to_owned()).take(max).collect(),
    }
}

/// `only_if = "var"` or `only_if = { var = "var", equals = "value" }`.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The variable (slot) holds a value (its last extraction matched).
    Set(usize),
    /// The variable holds exactly this value.
    Equals(usize, Arc<str>),
}

impl Condition {
    /// Whether the condition holds for a VU's variables.
    pub fn holds(&self, vars: &[Option<String>]) -> bool {
        match self {
            Condition::Set(slot) => matches!(vars.get(*slot), Some(Some(_))),
            Condition::Equals(slot, value) => matches!(vars.get(*slot), Some(Some(v)) if **v == **value),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    /// The request name (k6's `name` tag); defaults to `METHOD url-template`.
    pub name: Arc<str>,
    /// Index into `Plan::request_names`.
    pub name_id: u32,
    pub method: Method,
    /// Absolute after joining with the base URL at plan time when the URL
    /// template starts with `/` (the join is done on the template's first literal).
    pub url: Template,
    pub headers: Vec<(HeaderName, Template)>,
    pub body: Option<Body>,
    /// Redirects this step follows (the step's, else its flow's, else the
    /// target's `max_redirects`; 0: none).
    pub max_redirects: u32,
    /// Pause after this step; `None` uses the plan's default.
    pub think_time: Option<ThinkTime>,
    pub extract: Vec<Extractor>,
    pub checks: Vec<Check>,
    /// Custom metric samples taken from each response, after the
    /// extractors and checks (empty for most steps: nothing to do).
    pub metrics: Vec<MetricFeed>,
    /// True when an extractor, check or metric needs the response body;
    /// otherwise the engine discards the body while counting its bytes.
    pub needs_body: bool,
    /// True when an extractor, check or metric needs the body parsed as JSON.
    pub needs_json: bool,
    /// True when an extractor or check reads the final URL (of the response
    /// the step ends with, after redirects).
    pub needs_url: bool,
    /// Index into `Plan::group_names` (0: the root group, no group).
    pub group: u32,
    /// Index into `Plan::tag_sets` (0: no custom tags).
    pub tags: u32,
}

#[derive(Debug, Clone)]
pub enum Body {
    /// Raw text (`body = "..."`), sent as-is after rendering.
    Raw(Template),
    /// `json = {...}`: rendered JSON; `Content-Type: application/json` is added
    /// unless the step sets one. Template parts only appear inside string values.
    Json(Template),
    /// `form = { k = "v" }`: `application/x-www-form-urlencoded`; names are
    /// encoded at plan time, values rendered and encoded per request.
    Form(Vec<(Arc<str>, Template)>),
    /// `multipart = [...]`: `multipart/form-data` with this boundary.
    Multipart(Multipart),
}

#[derive(Debug, Clone)]
pub struct Multipart {
    /// The boundary (without the leading `--`), random per step.
    pub boundary: Arc<str>,
    /// `multipart/form-data; boundary=…`.
    pub content_type: http::HeaderValue,
    pub parts: Vec<MultipartPart>,
}

#[derive(Debug, Clone)]
pub struct MultipartPart {
    /// The part's headers, already written: `Content-Disposition` (and
    /// `Content-Type` for files), each line ending in CRLF, then CRLF.
    pub head: Arc<str>,
    pub content: PartContent,
}

#[derive(Debug, Clone)]
pub enum PartContent {
    /// `value = "..."` (templates allowed).
    Value(Template),
    /// `file = "..."`, read at plan time.
    File(Arc<[u8]>),
}

/// A file a step uploads (`multipart` `file = ...`), read at plan time and
/// shipped to agents beside the data files.
#[derive(Debug, Clone)]
pub struct UploadFile {
    /// The file as written in the scenario.
    pub file: String,
    pub bytes: Arc<[u8]>,
}

#[derive(Debug, Clone)]
pub struct Extractor {
    /// Variable slot the value is stored in.
    pub slot: usize,
    pub source: ExtractSource,
    /// `all = true`: every match, stored as a list (see [`list_value`]);
    /// only for `Json`, `Regex` and `Header`.
    pub all: bool,
}

#[derive(Debug, Clone)]
pub enum ExtractSource {
    /// First match of a JSONPath (RFC 9535); strings are stored unquoted, other
    /// values as their JSON text.
    Json(Arc<serde_json_path::JsonPath>),
    /// First match; capture group 1 if the regex has groups, else the whole match.
    Regex(Arc<regex::Regex>),
    Header(HeaderName),
    /// A cookie set by this response (`Set-Cookie`) with this name.
    Cookie(Arc<str>),
    /// `url = true`: the final URL (after redirects).
    Url,
    /// `url = 'REGEX'`: first match in the final URL; capture group 1 if the
    /// regex has groups, else the whole match.
    UrlRegex(Arc<regex::Regex>),
}

/// What a regex extractor takes from a match: capture group 1 when the
/// regex has groups, else the whole match.
pub fn regex_match<'h>(re: &regex::Regex, haystack: &'h str) -> Option<&'h str> {
    re.captures(haystack).and_then(|c| c.get(1).or_else(|| c.get(0))).map(|m| m.as_str())
}

/// [`regex_match`] of every match (for `all = true`).
pub fn regex_matches<'r, 'h>(re: &'r regex::Regex, haystack: &'h str) -> impl Iterator<Item = &'h str> + 'r
where
    'h: 'r,
{
    re.captures_iter(haystack).filter_map(|c| c.get(1).or_else(|| c.get(0))).map(|m| m.as_str())
}

/// `metrics = [{ name = "orders", add = 1, if_status = 201 }]` on a step:
/// one sample of a declared metric per response of the step.
#[derive(Debug, Clone)]
pub struct MetricFeed {
    /// Index into `Plan::metrics`.
    pub metric: u16,
    /// The metric's kind (a copy: how the engine reads a value depends on it).
    pub kind: MetricKind,
    pub value: FeedValue,
    /// Only responses with one of these statuses feed the metric (empty: any).
    pub if_status: Vec<u16>,
}

/// Where a metric sample's value comes from.
#[derive(Debug, Clone)]
pub enum FeedValue {
    /// `add = 1`, `value = 2.5`, `value = true` (1).
    Const(f64),
    /// `add = "{{ qty }}"`, `value = "{{ total }}"`: rendered after the step's
    /// extractors ran, then read as a number.
    Template(Template),
    /// `json`, `regex`, `header` or `cookie`, read from the response as an
    /// extractor reads it.
    Response(ExtractSource),
}

/// How text (a header, a regex match, a rendered template) reads as a sample
/// of a metric of `kind`: a decimal number (`12.5`, `-3`, `1e3`), or `true`
/// and `false` (1 and 0); for a rate, any other non-empty text is true and
/// empty text false (k6 applies JavaScript's truthiness); otherwise the first
/// `dur=` of a `Server-Timing` value (`app;dur=12.5`). `None`: not a value
/// (the sample is skipped and counted).
pub fn read_sample(kind: MetricKind, text: &str) -> Option<f64> {
    let text = text.trim();
    if let Ok(n) = text.parse::<f64>() {
        return Some(n);
    }
    match text {
        "true" => Some(1.0),
        "false" => Some(0.0),
        _ if kind == MetricKind::Rate => Some(f64::from(u8::from(!text.is_empty()))),
        _ => text.split([';', ',']).find_map(|p| p.trim().strip_prefix("dur="))?.trim().parse().ok(),
    }
}

/// How a JSON value (the first match of a `json` path) reads as a sample of
/// a metric of `kind`: a number; `true`/`false` (1/0); a string as
/// [`read_sample`] reads text. For a rate, `null`, `[]` and `{}` are false
/// and other arrays and objects true. `None`: not a value.
pub fn read_json_sample(kind: MetricKind, v: &serde_json::Value) -> Option<f64> {
    use serde_json::Value as J;
    let truth = |b: bool| Some(f64::from(u8::from(b)));
    match v {
        J::Number(n) => n.as_f64(),
        J::Bool(b) => truth(*b),
        J::String(s) => read_sample(kind, s),
        _ if kind != MetricKind::Rate => None,
        J::Null => truth(false),
        J::Array(items) => truth(!items.is_empty()),
        J::Object(fields) => truth(!fields.is_empty()),
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    /// Index into `Plan::check_names`.
    pub id: u32,
    pub kind: CheckKind,
}

#[derive(Debug, Clone)]
pub enum CheckKind {
    /// Status is one of these.
    Status(Vec<u16>),
    BodyContains(Arc<str>),
    JsonPathEquals {
        path: Arc<serde_json_path::JsonPath>,
        value: serde_json::Value,
    },
    HeaderPresent(HeaderName),
    DurationBelow(Duration),
    /// The final URL (after redirects) contains this text.
    UrlContains(Arc<str>),
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: Arc<str>,
    pub executor: Executor,
    /// Delay from the test start before this scenario starts.
    pub start_time: Duration,
    /// Time given to in-flight iterations to finish once the scenario's time is up.
    pub graceful_stop: Duration,
    /// Flows to pick from each iteration, with cumulative weights: pick `r` in
    /// `0..total_weight` and take the first entry whose cumulative weight is `> r`.
    pub flows: Vec<WeightedFlow>,
    pub total_weight: u32,
    /// A k6 script's scenario runs this exported function each iteration
    /// (k6's `exec`, `default` unless set) instead of `flows`, which is then
    /// empty. `None` for scenario files.
    pub exec: Option<Arc<str>>,
}

#[derive(Debug, Clone, Copy)]
pub struct WeightedFlow {
    /// Index into `Plan::flows`.
    pub flow: usize,
    pub cumulative_weight: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    /// VUs (ramping-vus) or iterations per `time_unit` (ramping-arrival-rate).
    pub target: u64,
}

/// k6's executors, option names in snake_case.
#[derive(Debug, Clone, PartialEq)]
pub enum Executor {
    SharedIterations {
        vus: u64,
        iterations: u64,
        max_duration: Duration,
    },
    PerVuIterations {
        vus: u64,
        iterations: u64,
        max_duration: Duration,
    },
    ConstantVus {
        vus: u64,
        duration: Duration,
    },
    RampingVus {
        start_vus: u64,
        stages: Vec<Stage>,
        graceful_ramp_down: Duration,
    },
    ConstantArrivalRate {
        rate: u64,
        time_unit: Duration,
        duration: Duration,
        pre_allocated_vus: u64,
        max_vus: u64,
    },
    RampingArrivalRate {
        start_rate: u64,
        time_unit: Duration,
        stages: Vec<Stage>,
        pre_allocated_vus: u64,
        max_vus: u64,
    },
}

impl Executor {
    /// The executor's name as written in scenario files (`constant-vus`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Executor::SharedIterations { .. } => "shared-iterations",
            Executor::PerVuIterations { .. } => "per-vu-iterations",
            Executor::ConstantVus { .. } => "constant-vus",
            Executor::RampingVus { .. } => "ramping-vus",
            Executor::ConstantArrivalRate { .. } => "constant-arrival-rate",
            Executor::RampingArrivalRate { .. } => "ramping-arrival-rate",
        }
    }

    /// Most VUs the executor may have at once: `max_vus` for arrival-rate
    /// executors, and for shared-iterations no more VUs than iterations (the
    /// engine starts only those). The one definition the engine, the
    /// coordinator's split and the descriptor checks all use.
    pub fn peak_vus(&self) -> u64 {
        match self {
            Executor::SharedIterations { vus, iterations, .. } => (*vus).min(*iterations),
            Executor::PerVuIterations { vus, .. } | Executor::ConstantVus { vus, .. } => *vus,
            Executor::RampingVus { start_vus, stages, .. } => {
                stages.iter().map(|s| s.target).fold(*start_vus, u64::max)
            }
            Executor::ConstantArrivalRate { max_vus, .. } | Executor::RampingArrivalRate { max_vus, .. } => *max_vus,
        }
    }

    /// How long the executor is planned to run, without graceful stop or ramp-down
    /// (`max_duration` for iterations-based executors, the sum of stages for ramping ones).
    pub fn planned_duration(&self) -> Duration {
        match self {
            Executor::SharedIterations { max_duration, .. } | Executor::PerVuIterations { max_duration, .. } => {
                *max_duration
            }
            Executor::ConstantVus { duration, .. } | Executor::ConstantArrivalRate { duration, .. } => *duration,
            Executor::RampingVus { stages, .. } | Executor::RampingArrivalRate { stages, .. } => {
                stages.iter().map(|s| s.duration).sum()
            }
        }
    }
}
