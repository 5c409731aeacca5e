//! From a scenario file to a `Plan`: the entry points (`load`, `parse_str`),
//! the section-by-section compiler and the command-line overrides.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use toml::de::{DeTable, DeValue};

use crate::data;
use crate::duration::{DURATION_HELP, MAX_DURATION, format_duration};
use crate::error::ScenarioError;
use crate::input::{MAX_PEM_BYTES, MAX_SCENARIO_BYTES, ReadError, format_bytes, read_bounded};
use crate::plan::*;
use crate::suggest::did_you_mean;
use crate::tagging;
use crate::template::{Escape, Part, RESERVED_NAMES, Scope, Template, TemplateError};
use crate::threshold::{
    CustomMetric, K6_OTHER_BUILTINS, Metric, MetricKind, Threshold, parse_expression, parse_selector,
};
use crate::walk::{Cx, Node, Result, Span, Val, describe, join, unknown_field};

/// Most VUs a scenario may ask for (per scenario and in total per option).
pub const MAX_VUS: u64 = 1_000_000;
/// Most iterations an iterations-based executor may ask for.
pub const MAX_ITERATIONS: u64 = 1_000_000_000_000;
/// Highest arrival rate (iterations per `time_unit`).
pub const MAX_RATE: u64 = 10_000_000;
/// Highest arrival rate once `time_unit` is taken into account (iterations per second).
pub const MAX_RATE_PER_SECOND: u64 = 10_000_000;
/// Highest flow weight.
pub const MAX_WEIGHT: u64 = 1_000_000;
/// Largest scenario file accepted (see [`crate::input`]).
pub const MAX_FILE_BYTES: usize = crate::input::MAX_SCENARIO_BYTES as usize;

/// Command-line settings that take precedence over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--target URL`: replaces `[target] base_url`.
    pub target: Option<String>,
    /// `--vus N`: with `duration`, turns every scenario into constant-vus (as k6's CLI does).
    pub vus: Option<u64>,
    /// `--duration D`: see `vus`.
    pub duration: Option<Duration>,
    /// `-e KEY=VALUE`: values for `{{ env.KEY }}`, looked up before the process
    /// environment (the last one wins when a key repeats).
    pub env: Vec<(String, String)>,
    /// Contents of data files by the path written in `[data.NAME] file`, used
    /// instead of reading the disk (agents receive the files over the wire).
    pub data_files: Vec<(String, Vec<u8>)>,
    /// `--hosts NAME=ADDR` (repeatable): added to `[target] hosts`, replacing
    /// an entry of the same name.
    pub hosts: Vec<String>,
    /// `--local-ips LIST`: replaces `[target] local_ips`.
    pub local_ips: Option<String>,
}

/// Reads and compiles a scenario file; data files are read relative to it.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Plan> {
    let bytes = read_bounded(path, MAX_SCENARIO_BYTES, "scenario file").map_err(|e| {
        let (message, help) = match e {
            ReadError::TooLarge { limit, .. } => (
                format!("the file is larger than {} (reading stopped there)", format_bytes(limit)),
                "is this the right file? Scenario files are at most that size (docs/scenarios.md#limits); \
                 move test data into [data.NAME] files",
            ),
            ReadError::Io { source, .. } => {
                (format!("cannot read the scenario file: {source}"), "check the path and its permissions")
            }
        };
        ScenarioError::new(path, "", None, "", message, help)
    })?;
    parse_bytes(&bytes, path, overrides)
}

/// Compiles a scenario file given as bytes (rejecting non-UTF-8 with a located error).
pub fn parse_bytes(bytes: &[u8], path: &Path, overrides: &Overrides) -> Result<Plan> {
    match std::str::from_utf8(bytes) {
        Ok(source) => parse_str(source, path, overrides),
        Err(e) => {
            let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            let bad = bytes.get(e.valid_up_to()).copied().unwrap_or(0);
            Err(ScenarioError::new(
                path,
                valid,
                Some(valid.len()..valid.len()),
                "",
                format!("the file is not UTF-8 text (byte 0x{bad:02x} at offset {})", e.valid_up_to()),
                "a scenario file is UTF-8 TOML; is this the right file?",
            ))
        }
    }
}

/// Compiles scenario text; `path` names it in errors and anchors relative data files.
pub fn parse_str(source: &str, path: &Path, overrides: &Overrides) -> Result<Plan> {
    let cx = Cx { src: source, file: path };
    if source.len() > MAX_FILE_BYTES {
        return Err(cx.err(
            None,
            "",
            format!("the file is larger than {} MiB", MAX_FILE_BYTES >> 20),
            "is this the right file?",
        ));
    }
    let doc = DeTable::parse(source).map_err(|e| toml_error(&cx, &e))?;
    let root = Node { path: String::new(), table: doc.get_ref(), at: 0..0 };
    Compiler::new(cx, overrides).compile(&root)
}

fn toml_error(cx: &Cx<'_>, e: &toml::de::Error) -> ScenarioError {
    let message = e.message().trim();
    let help = if message.contains("duplicate key") {
        "each key may appear once per table; remove or rename the repeated one"
    } else {
        "the file is TOML (https://toml.io); strings are quoted, tables are [name], arrays of tables [[name]]"
    };
    cx.err(e.span(), "", format!("invalid TOML: {message}"), help)
}

const EXAMPLE: &str = "[scenarios.smoke] executor = \"constant-vus\", vus = 1, duration = \"10s\", flow = \"browse\" (see docs/scenarios.md)";
const TOP_LEVEL: &[&str] =
    &["target", "data", "metrics", "setup", "teardown", "flows", "scenarios", "thresholds", "compare", "outputs"];
const HOOK_FIELDS: &[&str] = &["steps", "timeout"];
/// k6's default `setupTimeout` and `teardownTimeout`.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(60);
const TARGET_FIELDS: &[&str] = &[
    "base_url",
    "shop",
    "headers",
    "timeout",
    "connect_timeout",
    "http_version",
    "insecure_skip_tls_verify",
    "think_time",
    "max_body_size",
    "max_redirects",
    "hosts",
    "local_ips",
    "tls_ca",
    "tags",
    "batch_per_host",
];
/// Redirects followed when no `max_redirects` is set (k6's default).
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;
/// The largest `max_redirects` accepted.
pub const MAX_REDIRECTS: u64 = 1000;
/// Connections a batch uses at once per origin when no `batch_per_host` is
/// set (k6's `batchPerHost` default, a browser's per-host limit).
pub const DEFAULT_BATCH_PER_HOST: u32 = 6;
/// The largest `batch_per_host` accepted.
pub const MAX_BATCH_PER_HOST: u64 = 100;
/// Elements of a list a `for_each` uses when no `for_each_max` is set.
pub const DEFAULT_FOR_EACH_MAX: u32 = 100;
/// The largest `for_each_max` accepted.
pub const MAX_FOR_EACH: u64 = 10_000;
/// Largest file a `multipart` part may upload.
pub const MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024;
const SHOP_FIELDS: &[&str] = &["flags", "products", "origin"];
/// Default `[target] max_body_size`: most bytes of one response body kept
/// for the checks and extractors that read it.
pub const DEFAULT_MAX_BODY_SIZE: u64 = 10 << 20;
/// The largest `max_body_size` accepted (one body per VU can be held at once).
pub const MAX_BODY_SIZE: u64 = 1 << 30;
/// Switches of the bundled shop a scenario may set (`stampede shop --help`).
pub const SHOP_FLAGS: &[&str] = &["no-indexes", "cdn-misconfigured", "cache-inventory"];
/// What relative URLs are joined to while the bundled shop is not started yet
/// (`validate`); `run` replaces it with the shop's edge. `.invalid` never resolves.
pub const SHOP_PLACEHOLDER: &str = "http://bundled-shop.invalid";
const DATA_FIELDS: &[&str] = &["file", "order"];
const FLOW_FIELDS: &[&str] = &["think_time", "steps", "max_redirects", "group", "tags", "batch_per_host"];
/// An entry of a flow's `steps` that is a batch.
const BATCH_FIELDS: &[&str] =
    &["batch", "think_time", "only_if", "for_each", "for_each_max", "batch_per_host", "max_redirects", "group", "tags"];
/// A request inside a batch: a step without its own think time or group
/// (the batch's apply).
const BATCH_STEP_FIELDS: &[&str] = &[
    "name",
    "method",
    "url",
    "headers",
    "body",
    "json",
    "form",
    "multipart",
    "max_redirects",
    "extract",
    "checks",
    "tags",
    "only_if",
    "metrics",
    "for_each",
    "for_each_max",
];
/// What a step has besides a batch request's fields.
const OWN_STEP_FIELDS: &[&str] = &["think_time", "group"];
const BATCH_HELP: &str = "batch = [{ url = \"/img/1.png\" }, { url = \"/app.js\" }]";
const FOR_EACH_HELP: &str = "for_each = \"{{ product_ids }}\" (a variable set by an extractor with all = true), with {{ item }} in the step's templates";
const MULTIPART_FIELDS: &[&str] = &["name", "value", "file", "filename", "content_type"];
const ONLY_IF_HELP: &str =
    "only_if = \"cart_id\" (the variable is set) or only_if = { var = \"cart_id\", equals = \"x\" }";
const EXTRACT_FIELDS: &[&str] = &["var", "json", "regex", "header", "cookie", "url", "all"];
const METRIC_FIELDS: &[&str] = &["kind", "time"];
const METRIC_KINDS: &[&str] = &["counter", "gauge", "rate", "trend"];
const METRIC_HELP: &str =
    "[metrics.orders] kind = \"counter\" (counter, gauge, rate or trend; a trend of durations in ms adds time = true)";
/// Most custom metrics a scenario may declare.
pub const MAX_METRICS: usize = 1000;
const FEED_FIELDS: &[&str] = &["name", "add", "value", "json", "regex", "header", "cookie", "if_status"];
/// What a metric sample can be read from, in the order messages list them.
const FEED_SOURCES: &[&str] = &["add", "value", "json", "regex", "header", "cookie"];
const FEED_HELP: &str = "metrics = [{ name = \"orders\", add = 1, if_status = 201 }, { name = \"server_time\", header = \"X-Server-Time\" }, { name = \"total\", json = \"$.total\" }, { name = \"qty\", value = \"{{ qty }}\" }]";
const CHECK_FIELDS: &[&str] =
    &["name", "status", "body_contains", "json_path", "equals", "header", "duration_below", "url_contains"];
const SCENARIO_FIELDS: &[&str] = &["executor", "flow", "flows", "start_time", "graceful_stop"];
const THRESHOLD_FIELDS: &[&str] = &["threshold", "abort_on_fail", "delay_abort_eval"];
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
const HEADER_NAME_HELP: &str = "header names are letters, digits and !#$%&'*+-.^_`|~ (no spaces, colons or quotes)";
const JSONPATH_HELP: &str = "JSONPath as in RFC 9535, e.g. \"$.token\", \"$.items[0].id\", \"$..price\"";

/// The six executors and their options (k6's names in snake_case).
const EXECUTORS: &[(&str, &[&str])] = &[
    ("shared-iterations", &["vus", "iterations", "max_duration"]),
    ("per-vu-iterations", &["vus", "iterations", "max_duration"]),
    ("constant-vus", &["vus", "duration"]),
    ("ramping-vus", &["start_vus", "stages", "graceful_ramp_down"]),
    ("constant-arrival-rate", &["rate", "time_unit", "duration", "pre_allocated_vus", "max_vus"]),
    ("ramping-arrival-rate", &["start_rate", "time_unit", "stages", "pre_allocated_vus", "max_vus"]),
];

struct Compiler<'s> {
    cx: Cx<'s>,
    overrides: &'s Overrides,
    data: Vec<DataSet>,
    vars: Vec<Arc<str>>,
    /// By slot: the variable is a list (its extractors have `all = true`).
    list_vars: Vec<bool>,
    /// `{{ item }}` is defined for the templates being compiled (a step or
    /// batch with `for_each`).
    item_scope: bool,
    /// Variables `[setup]` extracts (read-only everywhere else).
    setup_vars: Vec<Arc<str>>,
    flows: Vec<Flow>,
    request_names: Vec<Arc<str>>,
    request_ids: HashMap<Arc<str>, u32>,
    check_names: Vec<Arc<str>>,
    check_ids: HashMap<Arc<str>, u32>,
    /// Group paths and custom tag sets.
    tagging: tagging::Interner,
    /// `[target] tags`, the base every flow's and step's tags merge over.
    target_tags: Vec<(Arc<str>, Arc<str>)>,
    warnings: Vec<ScenarioError>,
    /// `[target] max_redirects` (steps inherit it).
    max_redirects: u32,
    /// `[target] batch_per_host` (batches inherit it).
    batch_per_host: u32,
    upload_files: Vec<UploadFile>,
    /// `[metrics.NAME]`, in file order.
    metrics: Vec<Arc<CustomMetric>>,
    /// Whether a step feeds each metric (one that none feeds is a warning).
    fed: Vec<bool>,
}

/// What a step inherits from the flow, or the batch, around it.
struct Enclosing<'b> {
    think_time: Option<ThinkTime>,
    max_redirects: u32,
    batch_per_host: u32,
    group: u32,
    tags: Vec<(Arc<str>, Arc<str>)>,
    base_url: Option<&'b str>,
}

impl<'s> Compiler<'s> {
    fn new(cx: Cx<'s>, overrides: &'s Overrides) -> Self {
        Compiler {
            cx,
            overrides,
            data: Vec::new(),
            vars: Vec::new(),
            list_vars: Vec::new(),
            item_scope: false,
            setup_vars: Vec::new(),
            flows: Vec::new(),
            request_names: Vec::new(),
            request_ids: HashMap::new(),
            check_names: Vec::new(),
            check_ids: HashMap::new(),
            tagging: tagging::Interner::default(),
            target_tags: Vec::new(),
            warnings: Vec::new(),
            max_redirects: DEFAULT_MAX_REDIRECTS,
            batch_per_host: DEFAULT_BATCH_PER_HOST,
            upload_files: Vec::new(),
            metrics: Vec::new(),
            fed: Vec::new(),
        }
    }

    fn compile(mut self, root: &Node<'_, '_>) -> Result<Plan> {
        let cx = self.cx;
        root.deny_unknown(&cx, TOP_LEVEL)?;
        let Some(scenarios_node) = root.table(&cx, "scenarios", "write scenarios as tables: [scenarios.NAME]")? else {
            let what = if root.table.is_empty() { "the file is empty: no scenarios" } else { "no scenarios" };
            return Err(cx.err(
                None,
                "scenarios",
                format!("{what}: add a [scenarios.NAME] table"),
                format!("for example: {EXAMPLE}"),
            ));
        };
        if scenarios_node.table.is_empty() {
            return Err(cx.err(
                Some(scenarios_node.at.clone()),
                "scenarios",
                "no scenarios: add a [scenarios.NAME] table",
                format!("for example: {EXAMPLE}"),
            ));
        }

        if let Some(node) =
            root.table(&cx, "data", "write data sets as tables: [data.NAME] file = \"data/users.csv\"")?
        {
            self.data_sets(&node)?;
        }
        if let Some(node) = root.table(&cx, "metrics", METRIC_HELP)? {
            self.custom_metrics(&node)?;
        }
        let setup_node = root.table(&cx, "setup", "write the setup as a table: [setup] with [[setup.steps]]")?;
        let teardown_node =
            root.table(&cx, "teardown", "write the teardown as a table: [teardown] with [[teardown.steps]]")?;
        // Setup variables first: they are read-only for flows and teardown.
        if let Some(node) = &setup_node {
            self.collect_hook_vars(node, true)?;
        }
        let flows_node = root.table(&cx, "flows", "write flows as tables: [flows.NAME] with [[flows.NAME.steps]]")?;
        if let Some(node) = &flows_node {
            self.collect_vars(node)?;
        }
        if let Some(node) = &teardown_node {
            self.collect_hook_vars(node, false)?;
        }
        let (target, think_time) = self.target(root)?;
        self.max_redirects = target.max_redirects;
        self.batch_per_host = target.batch_per_host;
        if let Some(node) = root.table(&cx, "target", "[target] base_url = \"http://127.0.0.1:8080\"")? {
            self.target_tags = tagging::tags(&cx, &node, &[])?;
        }
        let (setup, setup_timeout) = match &setup_node {
            Some(node) => self.hook(node, "setup", target.base_url.as_deref())?,
            None => (None, DEFAULT_HOOK_TIMEOUT),
        };
        let (teardown, teardown_timeout) = match &teardown_node {
            Some(node) => self.hook(node, "teardown", target.base_url.as_deref())?,
            None => (None, DEFAULT_HOOK_TIMEOUT),
        };
        let setup_vars = self.setup_vars.iter().filter_map(|name| self.vars.iter().position(|v| v == name)).collect();
        match &flows_node {
            Some(node) if !node.table.is_empty() => self.flows(node, target.base_url.as_deref())?,
            _ => {
                return Err(cx.err(
                    flows_node.map(|n| n.at),
                    "flows",
                    "no flows: a scenario runs a flow of steps",
                    "add [flows.browse] and [[flows.browse.steps]] with url = \"/\"",
                ));
            }
        }
        self.warn_unfed_metrics(root);
        let mut scenarios = Vec::new();
        for (key, value) in scenarios_node.entries() {
            scenarios.push(self.scenario(key.get_ref(), key.span(), value, &scenarios_node)?);
        }
        let thresholds = match root.table(
            &cx,
            "thresholds",
            "write thresholds as a table: [thresholds] http_req_duration = [\"p(95)<500\"]",
        )? {
            Some(node) => self.thresholds(&node, &scenarios)?,
            None => Vec::new(),
        };
        let budgets = match root.table(
            &cx,
            "compare",
            "write budgets as a table: [compare] \"http_req_duration{name:checkout}\" = [\"p(95) +10%\"]",
        )? {
            Some(node) => self.budgets(&node, &scenarios)?,
            None => Vec::new(),
        };
        let outputs = match root.table(
            &cx,
            "outputs",
            "write outputs as a table: [outputs] out = [\"summary=run.json\", \"prometheus-rw=http://127.0.0.1:9090/api/v1/write\"]",
        )? {
            Some(node) => self.outputs(&node)?,
            None => Vec::new(),
        };
        self.apply_overrides(&mut scenarios)?;

        Ok(Plan {
            source: cx.file.to_path_buf(),
            target,
            think_time,
            data: self.data,
            flows: self.flows,
            setup,
            teardown,
            setup_timeout,
            teardown_timeout,
            setup_vars,
            scenarios,
            thresholds,
            budgets,
            outputs,
            metrics: self.metrics,
            request_names: self.request_names,
            check_names: self.check_names,
            group_names: self.tagging.group_names,
            group_parents: self.tagging.group_parents,
            tag_sets: self.tagging.tag_sets,
            var_slots: self.vars.len(),
            var_names: self.vars,
            warnings: self.warnings,
            upload_files: self.upload_files,
        })
    }

    // === data ===

    fn data_sets(&mut self, node: &Node<'_, '_>) -> Result<()> {
        let cx = self.cx;
        let base_dir = cx.file.parent().map(Path::to_path_buf).unwrap_or_default();
        for (key, value) in node.entries() {
            let name: &str = key.get_ref();
            let field = node.field(name);
            if !is_identifier(name) {
                return Err(cx.err(
                    Some(key.span()),
                    &field,
                    format!("data set name `{name}` is not usable in templates"),
                    "use letters, digits and `_`, e.g. [data.users]",
                ));
            }
            let set = cx.table_of(value, &field, key.span(), "[data.users] file = \"data/users.csv\"")?;
            set.deny_unknown(&cx, DATA_FIELDS)?;
            let (file, file_span) =
                set.str(&cx, "file", "the data file's path, relative to the scenario file")?.ok_or_else(|| {
                    set.missing(
                        &cx,
                        "file",
                        "add file = \"data/users.csv\" (a .csv with a header row, or a .json array of objects)",
                    )
                })?;
            let order = match set.str(&cx, "order", "sequential, random or unique")? {
                None | Some(("sequential", _)) => DataOrder::Sequential,
                Some(("random", _)) => DataOrder::Random,
                Some(("unique", _)) => DataOrder::UniquePerVu,
                Some((other, span)) => {
                    return Err(unknown_choice(
                        &cx,
                        span,
                        &set.field("order"),
                        "order",
                        other,
                        &["sequential", "random", "unique"],
                    ));
                }
            };
            let path: PathBuf = if Path::new(file).is_absolute() { file.into() } else { base_dir.join(file) };
            let supplied = self.overrides.data_files.iter().find(|(f, _)| f == file).map(|(_, b)| b.as_slice());
            let table = match supplied {
                Some(bytes) => data::parse(&path, bytes),
                None => data::read(&path),
            }
            .map_err(|message| {
                cx.err(Some(file_span.clone()), &set.field("file"), message, "data files are .csv (first line names the columns) or .json (an array of flat objects), relative to the scenario file")
            })?;
            self.data.push(DataSet {
                name: name.into(),
                order,
                columns: table.columns,
                rows: Arc::new(table.rows),
                file: file.to_string(),
                path,
            });
        }
        Ok(())
    }

    // === variables ===

    /// Numbers extractor variables in order of first definition (flows in file
    /// order), so templates anywhere can refer to them.
    fn collect_vars(&mut self, flows: &Node<'_, '_>) -> Result<()> {
        for (flow_key, flow) in flows.entries() {
            let path = join(&flows.path, flow_key.get_ref());
            self.collect_step_vars(flow.get_ref().as_table(), &path, "flows")?;
        }
        Ok(())
    }

    /// The variables of `[setup]` (`setup`: they become read-only values)
    /// or `[teardown]`.
    fn collect_hook_vars(&mut self, node: &Node<'_, '_>, setup: bool) -> Result<()> {
        let path = node.path.clone();
        let before = self.vars.len();
        self.collect_step_vars(Some(node.table), &path, if setup { "setup" } else { "teardown" })?;
        if setup {
            self.setup_vars.extend(self.vars[before..].iter().cloned());
        }
        Ok(())
    }

    /// Numbers the extractor variables of one table holding `steps` (those
    /// of batches included). `section`: what the table is (`flows`, `setup`,
    /// `teardown`), for the read-only rule on setup variables.
    fn collect_step_vars(&mut self, flow: Option<&DeTable<'_>>, path: &str, section: &str) -> Result<()> {
        let Some(DeValue::Array(steps)) = flow.and_then(|t| entry(t, "steps")).map(|v| v.get_ref()) else {
            return Ok(());
        };
        for (i, step) in steps.iter().enumerate() {
            let Some(step) = step.get_ref().as_table() else { continue };
            let step_path = format!("{path}.steps[{i}]");
            self.collect_extract_vars(step, &step_path, section)?;
            if let Some(DeValue::Array(batch)) = entry(step, "batch").map(|v| v.get_ref()) {
                for (j, request) in batch.iter().enumerate() {
                    if let Some(request) = request.get_ref().as_table() {
                        self.collect_extract_vars(request, &format!("{step_path}.batch[{j}]"), section)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Numbers the variables of one step's extractors, noting which are lists.
    fn collect_extract_vars(&mut self, step: &DeTable<'_>, path: &str, section: &str) -> Result<()> {
        let cx = self.cx;
        let Some(DeValue::Array(extract)) = entry(step, "extract").map(|v| v.get_ref()) else {
            return Ok(());
        };
        for (j, extractor) in extract.iter().enumerate() {
            let Some(table) = extractor.get_ref().as_table() else { continue };
            let Some(var) = entry(table, "var") else { continue };
            let field = format!("{path}.extract[{j}].var");
            let name = cx.str_of(var, &field, "a variable name, e.g. var = \"token\"")?;
            if !is_identifier(name) {
                return Err(cx.err(
                    Some(var.span()),
                    &field,
                    format!("`{name}` is not a valid variable name"),
                    "use letters, digits and `_`, not starting with a digit",
                ));
            }
            if RESERVED_NAMES.contains(&name) {
                return Err(cx.err(
                    Some(var.span()),
                    &field,
                    format!("`{name}` is a builtin name"),
                    format!("choose another name; reserved: {}", RESERVED_NAMES.join(", ")),
                ));
            }
            if section != "setup" && self.setup_vars.iter().any(|v| &**v == name) {
                return Err(cx.err(
                    Some(var.span()),
                    &field,
                    format!("`{name}` is set by [setup], and is read-only in {section}"),
                    format!(
                        "setup values are shared by every VU: read it as {{{{ {name} }}}}, or extract into another name"
                    ),
                ));
            }
            // A mistyped `all` is reported with the extractor; here only `true` counts.
            let all = matches!(entry(table, "all").map(|v| v.get_ref()), Some(DeValue::Boolean(true)));
            match self.vars.iter().position(|v| &**v == name) {
                None => {
                    self.vars.push(name.into());
                    self.list_vars.push(all);
                }
                Some(slot) if self.list_vars[slot] != all => {
                    let (here, there) =
                        if all { ("a list (all = true)", "one value") } else { ("one value", "a list (all = true)") };
                    return Err(cx.err(
                        Some(var.span()),
                        &field,
                        format!("`{name}` is extracted as {here} here, and as {there} by another extractor"),
                        format!("a variable holds a list or one value: give every extractor of `{name}` the same `all`, or extract into another name"),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn template(&self, text: &str, span: &Span, field: &str, escape: Escape) -> Result<Template> {
        let overrides = self.overrides;
        let env = |key: &str| {
            overrides
                .env
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var(key).ok())
        };
        let scope = Scope { vars: &self.vars, data: &self.data, env: &env, item: self.item_scope };
        Template::compile(text, escape, &scope).map_err(|e| self.template_error(text, span, field, e))
    }

    fn template_error(&self, text: &str, span: &Span, field: &str, e: TemplateError) -> ScenarioError {
        let at = self.cx.inner_span(span, text, &e.range);
        self.cx.err(Some(at), field, e.message, e.help)
    }

    // === target ===

    fn target(&mut self, root: &Node<'_, '_>) -> Result<(Target, ThinkTime)> {
        let cx = self.cx;
        let node = root.table(&cx, "target", "[target] base_url = \"http://127.0.0.1:8080\"")?;
        let empty = DeTable::new();
        let node = node.unwrap_or(Node { path: "target".into(), table: &empty, at: 0..0 });
        node.deny_unknown(&cx, TARGET_FIELDS)?;

        let shop = self.shop(&node)?;
        let written_base = node.str(&cx, "base_url", "e.g. base_url = \"http://127.0.0.1:8080\"")?;
        if let (Some(_), Some((_, span))) = (&shop, &written_base) {
            return Err(cx.err(
                Some(span.clone()),
                &node.field("base_url"),
                "`base_url` and `shop` both say where the load goes",
                "keep `shop` to rehearse against the bundled shop (started for you), or `base_url` for your own target; --target URL overrides both",
            ));
        }
        let written_base = match (&shop, written_base) {
            (Some(_), None) => Some((SHOP_PLACEHOLDER, 0..0)),
            (_, w) => w,
        };
        let base_url = match (&self.overrides.target, written_base) {
            (Some(url), _) => Some(
                base_url(url).map_err(|message| cx.err(None, "--target", message, "pass an http:// or https:// URL with a host, e.g. --target http://127.0.0.1:8080"))?,
            ),
            (None, Some((url, span))) => Some(base_url(url).map_err(|message| {
                cx.err(Some(span), &node.field("base_url"), message, "an http:// or https:// URL with a host, e.g. \"http://127.0.0.1:8080\" or \"https://shop.example/api\"")
            })?),
            (None, None) => None,
        };
        let headers = match node.table(&cx, "headers", "headers = { \"User-Agent\" = \"stampede\" }")? {
            Some(h) => self.headers(&h)?,
            None => Vec::new(),
        };
        let timeout = node.positive_duration(&cx, "timeout")?.unwrap_or(Duration::from_secs(60));
        let connect_timeout = node.positive_duration(&cx, "connect_timeout")?.unwrap_or(Duration::from_secs(10));
        let http_version = match node.str(&cx, "http_version", "auto, http1 or http2")? {
            None | Some(("auto", _)) => HttpVersion::Auto,
            Some(("http1", _)) => HttpVersion::Http1,
            Some(("http2", _)) => HttpVersion::Http2,
            Some((other, span)) => {
                return Err(unknown_choice(
                    &cx,
                    span,
                    &node.field("http_version"),
                    "HTTP version",
                    other,
                    &["auto", "http1", "http2"],
                ));
            }
        };
        let insecure_skip_tls_verify = node.bool(&cx, "insecure_skip_tls_verify")?.unwrap_or(false);
        let max_body_size = node.size(&cx, "max_body_size", MAX_BODY_SIZE)?.unwrap_or(DEFAULT_MAX_BODY_SIZE);
        let think_time = match node.get("think_time") {
            Some(v) => self.think_time(v, &node.field("think_time"))?,
            None => ThinkTime::None,
        };
        let shop = if self.overrides.target.is_some() { None } else { shop };
        let max_redirects =
            node.u64(&cx, "max_redirects", 0, MAX_REDIRECTS)?.map_or(DEFAULT_MAX_REDIRECTS, |n| n as u32);
        let hosts = self.hosts(&node)?;
        let local_ips = self.local_ips(&node)?;
        let batch_per_host =
            node.u64(&cx, "batch_per_host", 1, MAX_BATCH_PER_HOST)?.map_or(DEFAULT_BATCH_PER_HOST, |n| n as u32);
        let tls_ca = match node.str(&cx, "tls_ca", "a PEM file of CA certificates, relative to the scenario file")? {
            None => None,
            Some((file, span)) => {
                let field = node.field("tls_ca");
                let help = "a PEM file (-----BEGIN CERTIFICATE-----) of the CA that signed the target's certificate, relative to the scenario file";
                let bytes = self
                    .user_file(file, MAX_PEM_BYTES, "tls_ca file")
                    .map_err(|m| cx.err(Some(span.clone()), &field, m, help))?;
                if memchr_find(&bytes, b"-----BEGIN CERTIFICATE-----").is_none() {
                    return Err(cx.err(Some(span), &field, format!("`{file}` holds no PEM certificate"), help));
                }
                Some(bytes)
            }
        };
        Ok((
            Target {
                base_url,
                shop,
                headers,
                timeout,
                connect_timeout,
                http_version,
                insecure_skip_tls_verify,
                max_body_size,
                max_redirects,
                hosts,
                local_ips,
                tls_ca,
                batch_per_host,
            },
            think_time,
        ))
    }

    /// `hosts = { "shop.example.com" = "127.0.0.1:8080", "*.example.com" = "127.0.0.1" }`
    /// with `--hosts NAME=ADDR` on top.
    fn hosts(&self, node: &Node<'_, '_>) -> Result<Vec<crate::net::HostMapping>> {
        let cx = self.cx;
        let help = "hosts = { \"shop.example.com\" = \"127.0.0.1:8080\", \"*.example.com\" = \"127.0.0.1\" }";
        let mut hosts: Vec<crate::net::HostMapping> = Vec::new();
        if let Some(table) = node.table(&cx, "hosts", help)? {
            for (key, value) in table.entries() {
                let name_text: &str = key.get_ref();
                let field = table.field(name_text);
                let name =
                    crate::net::parse_host_name(name_text).map_err(|m| cx.err(Some(key.span()), &field, m, help))?;
                let addr_text =
                    cx.str_of(value, &field, "an IP address with an optional port, e.g. \"127.0.0.1:8080\"")?;
                let (ip, port) = crate::net::parse_host_addr(addr_text).map_err(|m| {
                    cx.err(
                        Some(value.span()),
                        &field,
                        m,
                        "e.g. \"127.0.0.1\" (the URL's port is kept) or \"127.0.0.1:8080\"",
                    )
                })?;
                hosts.push(crate::net::HostMapping { name, ip, port });
            }
        }
        for flag in &self.overrides.hosts {
            let m = crate::net::parse_host_flag(flag)
                .map_err(|m| cx.err(None, "--hosts", m, "e.g. --hosts shop.example.com=127.0.0.1:8080 (repeatable)"))?;
            hosts.retain(|h| h.name != m.name);
            hosts.push(m);
        }
        Ok(hosts)
    }

    /// `local_ips = ["127.0.0.2", "127.0.0.3-127.0.0.5", "127.0.1.0/30"]`, or `--local-ips`;
    /// every address must be bindable here.
    fn local_ips(&self, node: &Node<'_, '_>) -> Result<Vec<std::net::IpAddr>> {
        let cx = self.cx;
        let help = "local_ips = [\"127.0.0.2\", \"127.0.0.3-127.0.0.5\", \"10.0.1.0/30\"] (addresses of this machine)";
        let mut ips = Vec::new();
        if let Some(flag) = &self.overrides.local_ips {
            ips = crate::net::parse_local_ips_flag(flag).map_err(|m| cx.err(None, "--local-ips", m, help))?;
            for ip in &ips {
                crate::net::check_local_ip(*ip).map_err(|m| cx.err(None, "--local-ips", m, help))?;
            }
            return Ok(ips);
        }
        let Some(v) = node.get("local_ips") else { return Ok(ips) };
        let field = node.field("local_ips");
        let items = cx.array_of(v, &field, help)?;
        if items.is_empty() {
            return Err(cx.err(Some(v.span()), &field, "`local_ips` is empty", format!("{help}, or leave it out")));
        }
        for (i, item) in items.iter().enumerate() {
            let item_field = format!("{field}[{i}]");
            let text = cx.str_of(item, &item_field, help)?;
            let start = ips.len();
            crate::net::expand_local_ips(text, &mut ips)
                .map_err(|m| cx.err(Some(item.span()), &item_field, m, help))?;
            for ip in &ips[start..] {
                crate::net::check_local_ip(*ip).map_err(|m| cx.err(Some(item.span()), &item_field, m, help))?;
            }
        }
        Ok(ips)
    }

    /// `shop = true` or `shop = { flags = [...], products = N, origin = true }`.
    fn shop(&self, node: &Node<'_, '_>) -> Result<Option<ShopSpec>> {
        let cx = self.cx;
        let Some(v) = node.get("shop") else { return Ok(None) };
        let field = node.field("shop");
        if let toml::de::DeValue::Boolean(b) = v.get_ref() {
            return Ok(b.then(ShopSpec::default));
        }
        let t = cx.table_of(v, &field, v.span(), "shop = true, or shop = { flags = [\"cdn-misconfigured\"] }")?;
        t.deny_unknown(&cx, SHOP_FIELDS)?;
        let mut spec = ShopSpec {
            products: t.u64(&cx, "products", 100, 10_000_000)?,
            origin: t.bool(&cx, "origin")?.unwrap_or(false),
            ..Default::default()
        };
        if let Some(flags) = t.get("flags") {
            let ffield = t.field("flags");
            for f in cx.array_of(flags, &ffield, "flags = [\"no-indexes\"]")?.iter() {
                let name = cx.str_of(f, &ffield, "a shop switch, e.g. \"no-indexes\"")?;
                if !SHOP_FLAGS.contains(&name) {
                    return Err(unknown_choice(&cx, f.span(), &ffield, "shop switch", name, SHOP_FLAGS));
                }
                spec.flags.push(name.to_string());
            }
        }
        Ok(Some(spec))
    }

    fn think_time(&self, v: &Val<'_>, field: &str) -> Result<ThinkTime> {
        let cx = self.cx;
        let help = "a duration (\"1s\") or a range ({ min = \"1s\", max = \"3s\" })";
        match v.get_ref() {
            DeValue::String(_) => {
                let d = cx.duration_of(v, field)?;
                Ok(if d.is_zero() { ThinkTime::None } else { ThinkTime::Fixed(d) })
            }
            DeValue::Table(_) => {
                let node = cx.table_of(v, field, v.span(), help)?;
                node.deny_unknown(&cx, &["min", "max"])?;
                let min = node.duration(&cx, "min")?.ok_or_else(|| node.missing(&cx, "min", help))?;
                let max = node.duration(&cx, "max")?.ok_or_else(|| node.missing(&cx, "max", help))?;
                if min > max {
                    return Err(cx.err(
                        Some(v.span()),
                        field,
                        format!("min ({}) is longer than max ({})", format_duration(min), format_duration(max)),
                        help,
                    ));
                }
                Ok(match (min == max, min.is_zero()) {
                    (true, true) => ThinkTime::None,
                    (true, false) => ThinkTime::Fixed(min),
                    _ => ThinkTime::Uniform { min, max },
                })
            }
            _ => Err(cx.type_err(v, field, "a duration or a { min, max } table", help)),
        }
    }

    fn headers(&self, node: &Node<'_, '_>) -> Result<Vec<(HeaderName, Template)>> {
        let cx = self.cx;
        let mut headers: Vec<(HeaderName, Template)> = Vec::new();
        for (key, value) in node.entries() {
            let field = node.field(key.get_ref());
            let name = header_name(&cx, key.get_ref(), key.span(), &field)?;
            if headers.iter().any(|(n, _)| *n == name) {
                return Err(cx.err(
                    Some(key.span()),
                    &field,
                    format!("header `{name}` is set twice (header names ignore case)"),
                    "keep one of them",
                ));
            }
            let text = cx.str_of(value, &field, "header values are strings (templates allowed)")?;
            let template = self.template(text, &value.span(), &field, Escape::None)?;
            if HeaderValue::from_str(&template.render_sample("x")).is_err() {
                return Err(cx.err(Some(value.span()), &field, "the header value has characters not allowed in HTTP headers (newlines or other control characters)", "header values are printable text on one line"));
            }
            headers.push((name, template));
        }
        Ok(headers)
    }

    // === flows ===

    fn flows(&mut self, node: &Node<'_, '_>, base_url: Option<&str>) -> Result<()> {
        let cx = self.cx;
        for (key, value) in node.entries() {
            let name: &str = key.get_ref();
            let field = node.field(name);
            let flow = cx.table_of(value, &field, key.span(), "[flows.NAME] with [[flows.NAME.steps]]")?;
            flow.deny_unknown(&cx, FLOW_FIELDS)?;
            let think_time =
                flow.get("think_time").map(|v| self.think_time(v, &flow.field("think_time"))).transpose()?;
            let max_redirects =
                flow.u64(&cx, "max_redirects", 0, MAX_REDIRECTS)?.map_or(self.max_redirects, |n| n as u32);
            let batch_per_host =
                flow.u64(&cx, "batch_per_host", 1, MAX_BATCH_PER_HOST)?.map_or(self.batch_per_host, |n| n as u32);
            let steps_help = format!("add [[flows.{name}.steps]] with url = \"/\"");
            let Some(steps_value) = flow.get("steps") else {
                return Err(cx.err(
                    Some(key.span()),
                    &flow.field("steps"),
                    format!("flow `{name}` has no steps"),
                    steps_help,
                ));
            };
            let steps_array = cx.array_of(steps_value, &flow.field("steps"), &steps_help)?;
            if steps_array.is_empty() {
                return Err(cx.err(
                    Some(steps_value.span()),
                    &flow.field("steps"),
                    format!("flow `{name}` has no steps"),
                    steps_help,
                ));
            }
            let group = match tagging::group_name(&cx, &flow)? {
                Some(g) => self.tagging.group(0, g),
                None => 0,
            };
            let tags = tagging::tags(&cx, &flow, &self.target_tags)?;
            let around = Enclosing { think_time, max_redirects, batch_per_host, group, tags, base_url };
            let mut steps = Vec::with_capacity(steps_array.len());
            let mut items = Vec::with_capacity(steps_array.len());
            for (i, step) in steps_array.iter().enumerate() {
                let step_field = format!("{}[{i}]", flow.field("steps"));
                let step_node = cx.table_of(step, &step_field, step.span(), "a step is a table: { url = \"/\" }")?;
                items.push(if step_node.get("batch").is_some() {
                    self.batch(&step_node, &around, &mut steps)?
                } else {
                    self.flow_step(&step_node, &around, &step_fields(), &mut steps)?
                });
            }
            self.flows.push(Flow { name: name.into(), steps, items });
        }
        Ok(())
    }

    /// A request step of a flow or of a batch (`allowed`: its fields): its
    /// item, its compiled step appended to `steps`.
    fn flow_step(
        &mut self,
        node: &Node<'_, '_>,
        around: &Enclosing<'_>,
        allowed: &[&str],
        steps: &mut Vec<Step>,
    ) -> Result<Item> {
        let cx = self.cx;
        let only_if = self.only_if(node)?;
        let for_each = self.for_each(node)?;
        let outer_item = self.item_scope;
        self.item_scope |= for_each.is_some();
        let mut step = self.step(node, allowed, around.think_time, around.max_redirects, around.base_url)?;
        self.item_scope = outer_item;
        step.group = match tagging::group_name(&cx, node)? {
            Some(g) => self.tagging.group(around.group, g),
            None => around.group,
        };
        step.tags = self.tagging.tags(tagging::tags(&cx, node, &around.tags)?);
        steps.push(step);
        Ok(Item { kind: ItemKind::Request(steps.len() - 1), only_if, for_each })
    }

    /// An entry of `steps` with `batch = [ … ]`: requests sent together,
    /// appended to `steps`.
    fn batch(&mut self, node: &Node<'_, '_>, around: &Enclosing<'_>, steps: &mut Vec<Step>) -> Result<Item> {
        let cx = self.cx;
        if node.get("url").is_some() {
            return Err(cx.err(
                Some(node.key_span("url")),
                &node.field("url"),
                "an entry of `steps` is a request (`url`) or a batch (`batch = [ … ]`), not both",
                format!("move the request into the batch: {BATCH_HELP}"),
            ));
        }
        node.deny_unknown(&cx, BATCH_FIELDS)?;
        let only_if = self.only_if(node)?;
        let for_each = self.for_each(node)?;
        let think_time = match node.get("think_time") {
            Some(v) => Some(self.think_time(v, &node.field("think_time"))?),
            None => around.think_time,
        };
        let max_redirects =
            node.u64(&cx, "max_redirects", 0, MAX_REDIRECTS)?.map_or(around.max_redirects, |n| n as u32);
        let per_host =
            node.u64(&cx, "batch_per_host", 1, MAX_BATCH_PER_HOST)?.map_or(around.batch_per_host, |n| n as u32);
        let group = match tagging::group_name(&cx, node)? {
            Some(g) => self.tagging.group(around.group, g),
            None => around.group,
        };
        let tags = tagging::tags(&cx, node, &around.tags)?;
        let field = node.field("batch");
        let v = node.get("batch").expect("the caller saw `batch`");
        let requests = cx.array_of(v, &field, BATCH_HELP)?;
        if requests.is_empty() {
            return Err(cx.err(Some(v.span()), &field, "the batch has no requests", BATCH_HELP));
        }
        let inside = Enclosing {
            think_time: None,
            max_redirects,
            batch_per_host: per_host,
            group,
            tags,
            base_url: around.base_url,
        };
        self.item_scope = for_each.is_some();
        let mut items = Vec::with_capacity(requests.len());
        for (i, request) in requests.iter().enumerate() {
            let request_field = format!("{field}[{i}]");
            let request = cx.table_of(
                request,
                &request_field,
                request.span(),
                "a batch's request is a table: { url = \"/img/1.png\" }",
            )?;
            for (key, message, help) in [
                ("batch", "batches do not nest", "list every request in one batch"),
                ("think_time", "the requests of a batch share its think time", "set think_time on the batch"),
                ("group", "a batch runs in one group", "set group on the batch"),
            ] {
                if request.get(key).is_some() {
                    return Err(cx.err(Some(request.key_span(key)), &request.field(key), message, help));
                }
            }
            if for_each.is_some() && request.get("for_each").is_some() {
                return Err(cx.err(
                    Some(request.key_span("for_each")),
                    &request.field("for_each"),
                    "the batch already repeats for each element of its for_each; its requests cannot repeat too",
                    "keep one for_each: on the batch (all its requests, once per element) or on this request",
                ));
            }
            items.push(self.flow_step(&request, &inside, BATCH_STEP_FIELDS, steps)?);
        }
        self.item_scope = false;
        Ok(Item { kind: ItemKind::Batch(Box::new(Batch { items, per_host, think_time, group })), only_if, for_each })
    }

    /// `only_if = "var"` or `only_if = { var = "var", equals = "value" }`.
    fn only_if(&self, node: &Node<'_, '_>) -> Result<Option<Condition>> {
        let cx = self.cx;
        let Some(v) = node.get("only_if") else { return Ok(None) };
        let field = node.field("only_if");
        let (var, var_span, var_field, equals) = match v.get_ref() {
            DeValue::String(s) => (&**s, v.span(), field.clone(), None),
            DeValue::Table(_) => {
                let t = cx.table_of(v, &field, v.span(), ONLY_IF_HELP)?;
                t.deny_unknown(&cx, &["var", "equals"])?;
                let (var, span) =
                    t.str(&cx, "var", ONLY_IF_HELP)?.ok_or_else(|| t.missing(&cx, "var", ONLY_IF_HELP))?;
                let (value, _) = t.str(&cx, "equals", "the value to compare with, as a string")?.ok_or_else(|| {
                    t.missing(&cx, "equals", format!("to test that `{var}` is set, write only_if = \"{var}\""))
                })?;
                (var, span, t.field("var"), Some(value))
            }
            _ => return Err(cx.type_err(v, &field, "a variable name or a { var, equals } table", ONLY_IF_HELP)),
        };
        let name = bare_name(var);
        let slot = self.var_slot(
            name,
            var_span,
            &var_field,
            &format!("only_if names a variable set by an extractor (`extract = [{{ var = \"{name}\", … }}]`)"),
        )?;
        Ok(Some(match equals {
            None => Condition::Set(slot),
            Some(value) => Condition::Equals(slot, value.into()),
        }))
    }

    /// `for_each = "{{ list }}"` and `for_each_max = N`.
    fn for_each(&self, node: &Node<'_, '_>) -> Result<Option<ForEach>> {
        let cx = self.cx;
        let Some(v) = node.get("for_each") else {
            if node.get("for_each_max").is_some() {
                return Err(cx.err(
                    Some(node.key_span("for_each_max")),
                    &node.field("for_each_max"),
                    "`for_each_max` without `for_each`",
                    format!("for_each_max caps the elements a for_each uses: add {FOR_EACH_HELP}, or remove it"),
                ));
            }
            return Ok(None);
        };
        let field = node.field("for_each");
        let name = bare_name(cx.str_of(v, &field, FOR_EACH_HELP)?);
        let example = format!("extract = [{{ var = \"{name}\", json = \"$.items[*].id\", all = true }}]");
        let slot = self.var_slot(
            name,
            v.span(),
            &field,
            &format!("for_each names a list: a variable set by an extractor with all = true ({example})"),
        )?;
        if !self.list_vars[slot] {
            return Err(cx.err(
                Some(v.span()),
                &field,
                format!("`{name}` holds one value: for_each needs a list"),
                format!("extract it with all = true to collect every match: {example}"),
            ));
        }
        let max = node.u64(&cx, "for_each_max", 1, MAX_FOR_EACH)?.map_or(DEFAULT_FOR_EACH_MAX, |n| n as u32);
        Ok(Some(ForEach { slot, max }))
    }

    /// The slot of a variable some extractor sets, named in `field` (at
    /// `span`); `usage` leads the help of the error when none does.
    fn var_slot(&self, name: &str, span: Span, field: &str, usage: &str) -> Result<usize> {
        if let Some(slot) = self.vars.iter().position(|v| **v == *name) {
            return Ok(slot);
        }
        let hint = did_you_mean(name, self.vars.iter().map(|v| &**v))
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        let known = if self.vars.is_empty() {
            "no extractor sets a variable in this file".to_string()
        } else {
            format!(
                "variables set by extractors: {}",
                self.vars.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
            )
        };
        Err(self.cx.err(
            Some(span),
            field,
            format!("no extractor sets a variable `{name}`{hint}"),
            format!("{usage}; {known}"),
        ))
    }

    /// `[setup]` or `[teardown]`: a flow of steps (no think time) and a timeout.
    fn hook(&mut self, node: &Node<'_, '_>, name: &str, base_url: Option<&str>) -> Result<(Option<Flow>, Duration)> {
        let cx = self.cx;
        node.deny_unknown(&cx, HOOK_FIELDS)?;
        let timeout = node.positive_duration(&cx, "timeout")?.unwrap_or(DEFAULT_HOOK_TIMEOUT);
        let steps_help = format!("add [[{name}.steps]] with url = \"/login\"");
        let Some(steps_value) = node.get("steps") else {
            return Err(cx.err(
                Some(node.at.clone()),
                &node.field("steps"),
                format!("[{name}] has no steps"),
                steps_help,
            ));
        };
        let steps_array = cx.array_of(steps_value, &node.field("steps"), &steps_help)?;
        if steps_array.is_empty() {
            return Err(cx.err(
                Some(steps_value.span()),
                &node.field("steps"),
                format!("[{name}] has no steps"),
                steps_help,
            ));
        }
        let mut steps = Vec::with_capacity(steps_array.len());
        for (i, step) in steps_array.iter().enumerate() {
            let step_field = format!("{}[{i}]", node.field("steps"));
            let step_node = cx.table_of(step, &step_field, step.span(), "a step is a table: { url = \"/\" }")?;
            if step_node.get("metrics").is_some() {
                return Err(cx.err(
                    Some(step_node.key_span("metrics")),
                    &step_node.field("metrics"),
                    format!("[{name}] steps feed no metrics: what [{name}] measures is not part of the run's results"),
                    "feed custom metrics from the steps of a flow",
                ));
            }
            // The hook runs its steps once each, in order.
            for key in ["batch", "only_if", "for_each", "for_each_max"] {
                if step_node.get(key).is_some() {
                    return Err(cx.err(
                        Some(step_node.key_span(key)),
                        &step_node.field(key),
                        format!("`{key}` is for flows: [{name}] runs each of its steps once, in order"),
                        "remove it here; the steps of a flow can branch, repeat and batch",
                    ));
                }
            }
            steps.push(self.step(&step_node, &step_fields(), None, self.max_redirects, base_url)?);
        }
        let items = (0..steps.len()).map(Item::request).collect();
        Ok((Some(Flow { name: name.into(), steps, items }), timeout))
    }

    /// A request step; `allowed`: the fields it may have where it is.
    fn step(
        &mut self,
        node: &Node<'_, '_>,
        allowed: &[&str],
        flow_think_time: Option<ThinkTime>,
        flow_max_redirects: u32,
        base_url: Option<&str>,
    ) -> Result<Step> {
        let cx = self.cx;
        node.deny_unknown(&cx, allowed)?;

        let method = match node.str(&cx, "method", "an HTTP method such as \"GET\"")? {
            None => Method::GET,
            Some((text, span)) => {
                if !METHODS.contains(&text) {
                    let upper = text.to_ascii_uppercase();
                    let hint = if METHODS.contains(&upper.as_str()) {
                        format!("; did you mean `{upper}`?")
                    } else {
                        did_you_mean(&upper, METHODS.iter().copied())
                            .map(|s| format!("; did you mean `{s}`?"))
                            .unwrap_or_default()
                    };
                    return Err(cx.err(
                        Some(span),
                        &node.field("method"),
                        format!("unknown method `{text}`{hint}"),
                        format!("methods: {}", METHODS.join(", ")),
                    ));
                }
                Method::from_bytes(text.as_bytes()).unwrap_or(Method::GET)
            }
        };

        let (url_text, url_span) = node.str(&cx, "url", "a URL string, e.g. \"/api/products\"")?.ok_or_else(|| {
            node.missing(
                &cx,
                "url",
                "every step needs a url, e.g. url = \"/api/products\" (joined to [target] base_url)",
            )
        })?;
        let url = self.url(url_text, &url_span, &node.field("url"), base_url)?;

        let name: Arc<str> = match node.str(&cx, "name", "the request name, e.g. \"home\"")? {
            Some((text, span)) if text.trim().is_empty() => {
                return Err(cx.err(
                    Some(span),
                    &node.field("name"),
                    "the request name is empty",
                    "name the request, e.g. name = \"home\", or leave `name` out",
                ));
            }
            Some((text, _)) => text.into(),
            None => format!("{method} {url_text}").into(),
        };
        let name_id = intern(&mut self.request_names, &mut self.request_ids, &name);

        let headers = match node.table(&cx, "headers", "headers = { \"X-Token\" = \"{{ token }}\" }")? {
            Some(h) => self.headers(&h)?,
            None => Vec::new(),
        };

        let given: Vec<&str> =
            ["body", "json", "form", "multipart"].into_iter().filter(|k| node.get(k).is_some()).collect();
        if let [first, second, ..] = given[..] {
            return Err(cx.err(
                Some(node.key_span(second)),
                &node.field(second),
                format!("a step has one body: `{first}` and `{second}` are both set"),
                "keep one of body = \"raw text\", json = { key = \"value\" }, form = { key = \"value\" } or multipart = [{ name = \"k\", value = \"v\" }]",
            ));
        }
        let max_redirects = node.u64(&cx, "max_redirects", 0, MAX_REDIRECTS)?.map_or(flow_max_redirects, |n| n as u32);
        let body = match (node.get("body"), node.get("json")) {
            (None, None) if node.get("form").is_some() => Some(self.form(node)?),
            (None, None) if node.get("multipart").is_some() => Some(self.multipart(node)?),
            (Some(_), Some(_)) => unreachable!("rejected above"),
            (Some(v), None) => {
                let field = node.field("body");
                let text = cx.str_of(
                    v,
                    &field,
                    "the raw request body as a string (templates allowed); for JSON use `json = { ... }`",
                )?;
                Some(Body::Raw(self.template(text, &v.span(), &field, Escape::None)?))
            }
            (None, Some(v)) => {
                let field = node.field("json");
                if !matches!(v.get_ref(), DeValue::Table(_) | DeValue::Array(_)) {
                    // A scalar would be sent as a bare JSON value; `json = '{"a": 1}'`
                    // would even send a JSON *string*. Both are almost always mistakes.
                    return Err(cx.type_err(
                        v,
                        &field,
                        "a table or an array",
                        "write the JSON document as TOML, e.g. json = { qty = 1 } or json = [1, 2]; \
                         for any other body (a bare number, JSON text you wrote yourself) use body = '…'",
                    ));
                }
                Some(Body::Json(self.json_template(v, &field)?))
            }
            (None, None) => None,
        };

        let think_time = match node.get("think_time") {
            Some(v) => Some(self.think_time(v, &node.field("think_time"))?),
            None => flow_think_time,
        };

        let mut extract = Vec::new();
        if let Some(v) = node.get("extract") {
            let help = "extract = [{ var = \"token\", json = \"$.token\" }]";
            for (i, item) in cx.array_of(v, &node.field("extract"), help)?.iter().enumerate() {
                let field = format!("{}[{i}]", node.field("extract"));
                let item_node = cx.table_of(item, &field, item.span(), help)?;
                extract.push(self.extractor(&item_node)?);
            }
        }

        let mut checks = Vec::new();
        if let Some(v) = node.get("checks") {
            let help = "checks = [{ status = 200 }, { body_contains = \"Welcome\" }]";
            for (i, item) in cx.array_of(v, &node.field("checks"), help)?.iter().enumerate() {
                let field = format!("{}[{i}]", node.field("checks"));
                let item_node = cx.table_of(item, &field, item.span(), help)?;
                checks.push(self.check(&item_node, &name)?);
            }
        }

        let mut metrics = Vec::new();
        if let Some(v) = node.get("metrics") {
            for (i, item) in cx.array_of(v, &node.field("metrics"), FEED_HELP)?.iter().enumerate() {
                let field = format!("{}[{i}]", node.field("metrics"));
                let item_node = cx.table_of(item, &field, item.span(), FEED_HELP)?;
                metrics.push(self.metric_feed(&item_node)?);
            }
        }

        let sources = || {
            let fed = metrics.iter().filter_map(|m| match &m.value {
                FeedValue::Response(source) => Some(source),
                _ => None,
            });
            extract.iter().map(|e| &e.source).chain(fed)
        };
        let needs_json = sources().any(|s| matches!(s, ExtractSource::Json(_)))
            || checks.iter().any(|c| matches!(c.kind, CheckKind::JsonPathEquals { .. }));
        let needs_body = needs_json
            || sources().any(|s| matches!(s, ExtractSource::Regex(_)))
            || checks.iter().any(|c| matches!(c.kind, CheckKind::BodyContains(_)));
        let needs_url = extract.iter().any(|e| matches!(e.source, ExtractSource::Url | ExtractSource::UrlRegex(_)))
            || checks.iter().any(|c| matches!(c.kind, CheckKind::UrlContains(_)));

        Ok(Step {
            name,
            name_id,
            method,
            url,
            headers,
            body,
            max_redirects,
            think_time,
            extract,
            checks,
            metrics,
            needs_body,
            needs_json,
            needs_url,
            group: 0,
            tags: 0,
        })
    }

    /// A file the plan carries to agents (uploads, `tls_ca`): from the
    /// overrides when supplied (agents), else read from disk, bounded.
    fn user_file(&mut self, file: &str, limit: u64, what: &'static str) -> std::result::Result<Arc<[u8]>, String> {
        if let Some(f) = self.upload_files.iter().find(|f| f.file == file) {
            return Ok(f.bytes.clone());
        }
        let bytes: Arc<[u8]> = match self.overrides.data_files.iter().find(|(f, _)| f == file) {
            Some((_, b)) => b.as_slice().into(),
            None => {
                let base_dir = self.cx.file.parent().map(Path::to_path_buf).unwrap_or_default();
                let path: PathBuf = if Path::new(file).is_absolute() { file.into() } else { base_dir.join(file) };
                read_bounded(&path, limit, what).map_err(|e| e.to_string())?.into()
            }
        };
        self.upload_files.push(UploadFile { file: file.to_owned(), bytes: bytes.clone() });
        Ok(bytes)
    }

    /// `form = { user = "{{ data.users.name }}", password = "..." }`.
    fn form(&self, node: &Node<'_, '_>) -> Result<Body> {
        let cx = self.cx;
        let help = "form = { user = \"{{ data.users.name }}\", password = \"secret\" }";
        let table = node.table(&cx, "form", help)?.expect("present");
        let mut fields = Vec::new();
        for (key, value) in table.entries() {
            let name: &str = key.get_ref();
            let field = table.field(name);
            let text = match value.get_ref() {
                DeValue::String(s) => s,
                _ => {
                    return Err(cx.type_err(
                        value,
                        &field,
                        "a string",
                        format!("form values are strings (templates allowed): {name} = \"…\""),
                    ));
                }
            };
            let encoded: String = form_urlencoded_byte_serialize(name.as_bytes());
            fields.push((Arc::from(encoded), self.template(text, &value.span(), &field, Escape::None)?));
        }
        Ok(Body::Form(fields))
    }

    /// `multipart = [{ name = "note", value = "..." }, { name = "file", file = "photo.jpg", filename = "p.jpg", content_type = "image/jpeg" }]`.
    fn multipart(&mut self, node: &Node<'_, '_>) -> Result<Body> {
        let cx = self.cx;
        let help = "multipart = [{ name = \"note\", value = \"hi\" }, { name = \"file\", file = \"data/photo.jpg\", content_type = \"image/jpeg\" }]";
        let v = node.get("multipart").expect("present");
        let field = node.field("multipart");
        let items = cx.array_of(v, &field, help)?;
        if items.is_empty() {
            return Err(cx.err(Some(v.span()), &field, "`multipart` has no parts", help));
        }
        let mut parts = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let pf = format!("{field}[{i}]");
            let part = cx.table_of(item, &pf, item.span(), help)?;
            part.deny_unknown(&cx, MULTIPART_FIELDS)?;
            let (name, _) = part
                .str(&cx, "name", "the form field's name")?
                .ok_or_else(|| part.missing(&cx, "name", "every part has a name, e.g. name = \"file\""))?;
            let quoted = |text: &str, span: Span, f: &str| -> Result<String> {
                if text.contains(['"', '\r', '\n']) {
                    return Err(cx.err(
                        Some(span),
                        f,
                        format!("`{text}` holds a quote or a line break"),
                        "names and file names are sent in a quoted header: leave those characters out",
                    ));
                }
                Ok(text.to_owned())
            };
            let name = quoted(name, part.key_span("name"), &part.field("name"))?;
            let value = part.str(&cx, "value", "the part's text (templates allowed)")?;
            let file = part.str(&cx, "file", "the file to upload, relative to the scenario file")?;
            let content_type = match part.str(&cx, "content_type", "a media type, e.g. \"image/jpeg\"")? {
                Some((t, span)) => {
                    if t.parse::<HeaderValue>().is_err() || !t.contains('/') || t.contains(['\r', '\n']) {
                        return Err(cx.err(
                            Some(span),
                            &part.field("content_type"),
                            format!("`{t}` is not a media type"),
                            "e.g. content_type = \"image/jpeg\"",
                        ));
                    }
                    Some(t.to_owned())
                }
                None => None,
            };
            let filename = match part.str(&cx, "filename", "the file name the server sees")? {
                Some((t, span)) => Some(quoted(t, span, &part.field("filename"))?),
                None => None,
            };
            let mut head = format!("Content-Disposition: form-data; name=\"{name}\"");
            let content = match (value, file) {
                (Some(_), Some(_)) => {
                    return Err(cx.err(
                        Some(part.key_span("file")),
                        &part.field("file"),
                        "a part has `value` or `file`, not both",
                        help,
                    ));
                }
                (None, None) => {
                    return Err(part.missing(&cx, "value", "give the part a value = \"text\" or a file = \"path\""));
                }
                (Some((text, span)), None) => {
                    if filename.is_some() {
                        head.push_str(&format!("; filename=\"{}\"", filename.as_deref().unwrap_or_default()));
                    }
                    PartContent::Value(self.template(text, &span, &part.field("value"), Escape::None)?)
                }
                (None, Some((file, span))) => {
                    let bytes = self.user_file(file, MAX_UPLOAD_BYTES, "upload file").map_err(|m| {
                        cx.err(
                            Some(span.clone()),
                            &part.field("file"),
                            m,
                            "the path is relative to the scenario file; uploads are at most 64 MiB",
                        )
                    })?;
                    let shown = filename.clone().unwrap_or_else(|| {
                        Path::new(file)
                            .file_name()
                            .map_or_else(|| file.to_owned(), |n| n.to_string_lossy().replace(['"', '\r', '\n'], "_"))
                    });
                    head.push_str(&format!("; filename=\"{shown}\""));
                    head.push_str(&format!(
                        "\r\nContent-Type: {}",
                        content_type.as_deref().unwrap_or("application/octet-stream")
                    ));
                    PartContent::File(bytes)
                }
            };
            if let (Some(ct), PartContent::Value(_)) = (&content_type, &content) {
                head.push_str(&format!("\r\nContent-Type: {ct}"));
            }
            head.push_str("\r\n\r\n");
            parts.push(MultipartPart { head: head.into(), content });
        }
        let mut rng = fastrand::Rng::new();
        let boundary: String = (0..30).map(|_| char::from(b"0123456789abcdef"[rng.usize(0..16)])).collect();
        let content_type = HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}")).expect("ASCII");
        Ok(Body::Multipart(Multipart { boundary: boundary.into(), content_type, parts }))
    }

    fn url(&self, text: &str, span: &Span, field: &str, base_url: Option<&str>) -> Result<Template> {
        let cx = self.cx;
        if let Some(host) = non_ascii_host(text) {
            let at = text.find(host).map_or(0..text.len(), |i| i..i + host.len());
            return Err(cx.err(
                Some(cx.inner_span(span, text, &at)),
                field,
                format!("the host `{host}` is not ASCII"),
                "write an international domain name in its ASCII (punycode) form, e.g. xn--bcher-kva.example for bücher.example",
            ));
        }
        let mut url = self.template(text, span, field, Escape::Url)?;
        let lead = url.leading_literal().to_string();
        if lead.starts_with('/') {
            let Some(base) = base_url else {
                return Err(cx.err(
                    Some(span.clone()),
                    field,
                    format!("relative URL `{text}` but no base URL is set"),
                    "set [target] base_url = \"http://host:port\", or pass --target URL",
                ));
            };
            url.prefix_literal(base);
        } else if lead.is_empty() && !text.trim_start().starts_with("{{") {
            return Err(cx.err(
                Some(span.clone()),
                field,
                "the URL is empty",
                "write a path such as \"/\" or a full http:// URL",
            ));
        } else if !lead.is_empty() && !lead.starts_with("http://") && !lead.starts_with("https://") {
            return Err(cx.err(
                Some(span.clone()),
                field,
                format!("URL `{text}` must start with `/` (joined to the base URL) or be an absolute http:// or https:// URL"),
                "e.g. url = \"/api/products\" or url = \"https://other.example/x\"",
            ));
        }
        if !lead.is_empty() {
            let sample = url.render_sample("1");
            if let Err(e) = check_absolute_url(&sample) {
                return Err(cx.err(
                    Some(span.clone()),
                    field,
                    format!("`{text}` is not a valid URL: {e}"),
                    "URLs may not contain spaces or quotes; percent-encode them (%20)",
                ));
            }
        }
        Ok(url)
    }

    /// `json = { ... }`: a JSON document whose string values may hold placeholders.
    fn json_template(&self, v: &Val<'_>, field: &str) -> Result<Template> {
        let mut parts = Vec::new();
        self.json_parts(v, field, &mut parts)?;
        let source = self.cx.src.get(v.span()).unwrap_or_default();
        Ok(Template::from_parts(parts, Escape::JsonString, source.into()))
    }

    fn json_parts(&self, v: &Val<'_>, field: &str, parts: &mut Vec<Part>) -> Result<()> {
        let lit = |parts: &mut Vec<Part>, s: &str| parts.push(Part::Lit(s.into()));
        match v.get_ref() {
            DeValue::String(s) => {
                lit(parts, "\"");
                let t = self.template(s, &v.span(), field, Escape::JsonString)?;
                parts.extend(t.parts.iter().cloned());
                lit(parts, "\"");
            }
            DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) | DeValue::Datetime(_) => {
                let json = self.scalar_json(v, field)?;
                lit(parts, &json.to_string());
            }
            DeValue::Array(items) => {
                lit(parts, "[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        lit(parts, ",");
                    }
                    self.json_parts(item, &format!("{field}[{i}]"), parts)?;
                }
                lit(parts, "]");
            }
            DeValue::Table(table) => {
                let node = Node { path: field.to_string(), table, at: v.span() };
                lit(parts, "{");
                for (i, (key, value)) in node.entries().into_iter().enumerate() {
                    if i > 0 {
                        lit(parts, ",");
                    }
                    let mut key_json = String::from("\"");
                    crate::template::push_json_escaped(&mut key_json, key.get_ref());
                    key_json.push_str("\":");
                    lit(parts, &key_json);
                    self.json_parts(value, &node.field(key.get_ref()), parts)?;
                }
                lit(parts, "}");
            }
        }
        Ok(())
    }

    /// A TOML value as JSON (for `equals = …` and non-string `json` values).
    fn scalar_json(&self, v: &Val<'_>, field: &str) -> Result<serde_json::Value> {
        let cx = self.cx;
        Ok(match v.get_ref() {
            DeValue::String(s) => serde_json::Value::String(s.to_string()),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => n.into(),
                Err(_) => {
                    return Err(cx.err(
                        Some(v.span()),
                        field,
                        format!("{i} does not fit in a 64-bit integer"),
                        "use a smaller number",
                    ));
                }
            },
            DeValue::Float(f) => {
                let x: f64 = f.as_str().parse().unwrap_or(f64::NAN);
                match serde_json::Number::from_f64(x) {
                    Some(n) => n.into(),
                    None => {
                        return Err(cx.err(
                            Some(v.span()),
                            field,
                            format!("{f} is not a number JSON can carry"),
                            "use a finite number (JSON has no nan or inf)",
                        ));
                    }
                }
            }
            DeValue::Boolean(b) => (*b).into(),
            DeValue::Datetime(d) => d.to_string().into(),
            DeValue::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.scalar_json(item, &format!("{field}[{i}]"))?);
                }
                serde_json::Value::Array(out)
            }
            DeValue::Table(t) => {
                let mut out = serde_json::Map::new();
                for (key, value) in t.iter() {
                    out.insert(key.get_ref().to_string(), self.scalar_json(value, &join(field, key.get_ref()))?);
                }
                serde_json::Value::Object(out)
            }
        })
    }

    fn extractor(&mut self, node: &Node<'_, '_>) -> Result<Extractor> {
        let cx = self.cx;
        node.deny_unknown(&cx, EXTRACT_FIELDS)?;
        let help = "an extractor is { var = \"NAME\" } plus one of json = \"$.path\", regex = '...', header = \"Name\", cookie = \"name\", url = true, with all = true to collect every match";
        let (var, _) = node.str(&cx, "var", help)?.ok_or_else(|| node.missing(&cx, "var", help))?;
        let slot = self.vars.iter().position(|v| &**v == var).unwrap_or(0);
        let sources = ["json", "regex", "header", "cookie", "url"];
        let key = match one_of(&cx, node, &sources, "an extractor has one source", help)? {
            Some(key) => key,
            None => return Err(node.missing(&cx, "json", format!("say where `{var}` comes from: {help}"))),
        };
        let source = self.response_source(node, key, help)?;
        let all = node.bool(&cx, "all")?.unwrap_or(false);
        if all && matches!(source, ExtractSource::Cookie(_) | ExtractSource::Url | ExtractSource::UrlRegex(_)) {
            return Err(cx.err(
                Some(node.key_span("all")),
                &node.field("all"),
                format!("all = true collects every match of json, regex or header; `{key}` gives one value"),
                "leave `all` out here",
            ));
        }
        Ok(Extractor { slot, source, all })
    }

    /// The response part an extractor or a metric reads: `key` is `json`,
    /// `regex`, `header`, `cookie` or `url`, and the table sets it.
    fn response_source(&self, node: &Node<'_, '_>, key: &str, help: &str) -> Result<ExtractSource> {
        let cx = self.cx;
        let field = node.field(key);
        if key == "url" {
            let url_help = "url = true (the final URL, after redirects) or url = '/orders/(\\d+)' (a regex over it)";
            let v = node.get("url").expect("the caller found it");
            return Ok(match v.get_ref() {
                DeValue::Boolean(true) => ExtractSource::Url,
                DeValue::Boolean(false) => {
                    return Err(cx.err(Some(v.span()), &field, "url = false extracts nothing", url_help));
                }
                DeValue::String(text) => ExtractSource::UrlRegex(Arc::new(self.regex(text, v.span(), &field)?)),
                _ => return Err(cx.type_err(v, &field, "true or a regex string", url_help)),
            });
        }
        let (text, span) = node.str(&cx, key, help)?.unwrap_or_default();
        Ok(match key {
            "json" => ExtractSource::Json(Arc::new(json_path(&cx, text, &span, &field)?)),
            "regex" => ExtractSource::Regex(Arc::new(self.regex(text, span, &field)?)),
            "header" => ExtractSource::Header(header_name(&cx, text, span, &field)?),
            _ => {
                if text.is_empty()
                    || !text.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
                {
                    return Err(cx.err(
                        Some(span),
                        &field,
                        format!("`{text}` is not a valid cookie name"),
                        "cookie names are letters, digits and !#$%&'*+-.^_`|~",
                    ));
                }
                ExtractSource::Cookie(text.into())
            }
        })
    }

    /// A regex of an extractor, bounded in size.
    fn regex(&self, text: &str, span: Span, field: &str) -> Result<regex::Regex> {
        regex::RegexBuilder::new(text).size_limit(1 << 21).build().map_err(|e| {
            let detail = e.to_string();
            let last = detail
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid")
                .trim()
                .trim_start_matches("error: ");
            self.cx.err(
                Some(span),
                field,
                format!("invalid regex: {last}"),
                "Rust regex syntax (https://docs.rs/regex); capture group 1 is extracted when the regex has groups",
            )
        })
    }

    fn check(&mut self, node: &Node<'_, '_>, step: &str) -> Result<Check> {
        let cx = self.cx;
        node.deny_unknown(&cx, CHECK_FIELDS)?;
        let help = "a check is one of { status = 200 }, { status = [200, 201] }, { body_contains = \"text\" }, { json_path = \"$.ok\", equals = true }, { header = \"Content-Type\" }, { duration_below = \"500ms\" }, { url_contains = \"/orders/\" }, with an optional name";
        let kinds = ["status", "body_contains", "json_path", "header", "duration_below", "url_contains"];
        let key = match one_of(&cx, node, &kinds, "a check tests one thing", "split it into two checks")? {
            Some(key) => key,
            None if node.get("equals").is_some() => {
                return Err(cx.err(
                    Some(node.key_span("equals")),
                    &node.field("equals"),
                    "`equals` needs a `json_path` to compare",
                    "write { json_path = \"$.ok\", equals = true }",
                ));
            }
            None => return Err(node.missing(&cx, "status", format!("say what to check: {help}"))),
        };
        if key != "json_path" && node.get("equals").is_some() {
            return Err(cx.err(
                Some(node.key_span("equals")),
                &node.field("equals"),
                format!("`equals` goes with `json_path`, not `{key}`"),
                help,
            ));
        }
        let value = node.get(key).unwrap_or_else(|| unreachable!("key was found above"));
        let field = node.field(key);
        let (kind, default_name) = match key {
            "status" => {
                let codes = status_codes(&cx, value, &field, "status = 200 or status = [200, 201]")?;
                let text = codes.iter().map(u16::to_string).collect::<Vec<_>>().join(" or ");
                (CheckKind::Status(codes), format!("status is {text}"))
            }
            "body_contains" | "url_contains" => {
                let (what, example) = match key {
                    "body_contains" => ("body", "body_contains = \"Welcome\""),
                    _ => (
                        "URL",
                        "url_contains = \"/orders/\" (the URL of the response the step ends with, after redirects)",
                    ),
                };
                let text = cx.str_of(value, &field, "the text to look for")?;
                if text.is_empty() {
                    return Err(cx.err(
                        Some(value.span()),
                        &field,
                        format!("empty text: every {what} contains it"),
                        example,
                    ));
                }
                let name = format!("{} contains {text:?}", what.to_ascii_lowercase());
                let kind = match key {
                    "body_contains" => CheckKind::BodyContains(text.into()),
                    _ => CheckKind::UrlContains(text.into()),
                };
                (kind, name)
            }
            "json_path" => {
                let text = cx.str_of(value, &field, JSONPATH_HELP)?;
                let path = json_path(&cx, text, &value.span(), &field)?;
                let Some(expected) = node.get("equals") else {
                    return Err(node.missing(
                        &cx,
                        "equals",
                        format!("say what `{text}` must equal, e.g. equals = true"),
                    ));
                };
                let expected = self.scalar_json(expected, &node.field("equals"))?;
                let name = format!("{text} == {expected}");
                (CheckKind::JsonPathEquals { path: Arc::new(path), value: expected }, name)
            }
            "header" => {
                let text = cx.str_of(value, &field, "a header name")?;
                (
                    CheckKind::HeaderPresent(header_name(&cx, text, value.span(), &field)?),
                    format!("header {text} is present"),
                )
            }
            _ => {
                let d = cx.positive_duration_of(value, &field)?;
                (CheckKind::DurationBelow(d), format!("duration < {}", format_duration(d)))
            }
        };
        let name: Arc<str> = match node.str(&cx, "name", "the check's name")? {
            Some((text, span)) if text.trim().is_empty() => {
                return Err(cx.err(
                    Some(span),
                    &node.field("name"),
                    "the check name is empty",
                    "leave `name` out for a default name",
                ));
            }
            Some((text, _)) => text.into(),
            None => format!("{step}: {default_name}").into(),
        };
        let id = intern(&mut self.check_names, &mut self.check_ids, &name);
        Ok(Check { id, kind })
    }

    // === custom metrics ===

    /// `[metrics.NAME] kind = "counter"` (counter, gauge, rate or trend; a
    /// trend of durations adds `time = true`), k6's `new Counter('NAME')`.
    fn custom_metrics(&mut self, node: &Node<'_, '_>) -> Result<()> {
        let cx = self.cx;
        for (key, value) in node.entries() {
            let name: &str = key.get_ref();
            let field = node.field(name);
            if !is_metric_name(name) {
                return Err(cx.err(
                    Some(key.span()),
                    &field,
                    format!("`{name}` is not a valid metric name"),
                    "k6's rule: letters, digits and `_`, not starting with a digit, at most 128 characters, e.g. [metrics.orders]",
                ));
            }
            if Metric::from_name(name).is_some() || K6_OTHER_BUILTINS.contains(&name) {
                return Err(cx.err(
                    Some(key.span()),
                    &field,
                    format!("`{name}` is the name of a built-in k6 metric"),
                    "built-in metrics keep k6's meaning: give the custom metric a name of its own, e.g. [metrics.orders]",
                ));
            }
            if self.metrics.len() == MAX_METRICS {
                return Err(cx.err(
                    Some(key.span()),
                    &field,
                    format!("more than {MAX_METRICS} custom metrics"),
                    "tell samples apart with tags on fewer metrics",
                ));
            }
            let t = cx.table_of(value, &field, key.span(), METRIC_HELP)?;
            t.deny_unknown(&cx, METRIC_FIELDS)?;
            let (kind_text, kind_span) = t
                .str(&cx, "kind", "counter, gauge, rate or trend")?
                .ok_or_else(|| t.missing(&cx, "kind", METRIC_HELP))?;
            let kind = match kind_text {
                "counter" => MetricKind::Counter,
                "gauge" => MetricKind::Gauge,
                "rate" => MetricKind::Rate,
                "trend" => MetricKind::Trend,
                other => {
                    return Err(unknown_choice(&cx, kind_span, &t.field("kind"), "metric kind", other, METRIC_KINDS));
                }
            };
            let time = t.bool(&cx, "time")?.unwrap_or(false);
            if time && kind != MetricKind::Trend {
                return Err(cx.err(
                    Some(t.key_span("time")),
                    &t.field("time"),
                    format!("`time` is for trends; `{name}` is a {kind_text}"),
                    "a trend of durations in milliseconds is kind = \"trend\", time = true",
                ));
            }
            self.metrics.push(Arc::new(CustomMetric { name: name.into(), kind, time }));
            self.fed.push(false);
        }
        Ok(())
    }

    /// One entry of a step's `metrics`: the metric, where its value comes
    /// from (a counter adds 1 when nothing is said) and `if_status`.
    fn metric_feed(&mut self, node: &Node<'_, '_>) -> Result<MetricFeed> {
        let cx = self.cx;
        node.deny_unknown(&cx, FEED_FIELDS)?;
        let (name, name_span) = node
            .str(&cx, "name", "the name of a [metrics.NAME]")?
            .ok_or_else(|| node.missing(&cx, "name", FEED_HELP))?;
        let Some(id) = self.metrics.iter().position(|m| *m.name == *name) else {
            let hint = did_you_mean(name, self.metrics.iter().map(|m| &*m.name))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            let declared = if self.metrics.is_empty() {
                "none is declared yet".to_string()
            } else {
                format!(
                    "declared: {}",
                    self.metrics.iter().map(|m| format!("`{}`", m.name)).collect::<Vec<_>>().join(", ")
                )
            };
            let (message, help) = if Metric::from_name(name).is_some() {
                (
                    format!("`{name}` is a built-in metric: Stampede measures it, steps cannot feed it"),
                    format!("feed a custom metric of your own ([metrics.NAME] kind = \"counter\"); {declared}"),
                )
            } else {
                (
                    format!("no metric `{name}` is declared{hint}"),
                    format!("declare it first, e.g. [metrics.{name}] kind = \"counter\"; {declared}"),
                )
            };
            return Err(cx.err(Some(name_span), &node.field("name"), message, help));
        };
        let metric = self.metrics[id].clone();
        let kind_name = metric.kind.name();
        let value = match one_of(&cx, node, FEED_SOURCES, "a metric sample has one value", FEED_HELP)? {
            None if metric.kind == MetricKind::Counter => FeedValue::Const(1.0),
            None => {
                return Err(node.missing(
                    &cx,
                    "value",
                    format!(
                        "say what `{name}` records: value = 12.5 or value = \"{{{{ var }}}}\", or one of json = \"$.path\", header = \"Name\", regex = '…', cookie = \"name\""
                    ),
                ));
            }
            Some("add") if metric.kind != MetricKind::Counter => {
                return Err(cx.err(
                    Some(node.key_span("add")),
                    &node.field("add"),
                    format!("`add` feeds a counter; `{name}` is a {kind_name}"),
                    format!("write value = … for a {kind_name}"),
                ));
            }
            Some("value") if metric.kind == MetricKind::Counter => {
                return Err(cx.err(
                    Some(node.key_span("value")),
                    &node.field("value"),
                    format!("`{name}` is a counter: it is fed with `add` (k6's Counter.add)"),
                    "write add = 1, or add = \"{{ qty }}\" (without add, a counter adds 1)",
                ));
            }
            Some(key @ ("add" | "value")) => {
                let v = node.get(key).expect("present");
                self.feed_value(v, &node.field(key), &metric)?
            }
            Some(key) => FeedValue::Response(self.response_source(node, key, FEED_HELP)?),
        };
        let if_status = match node.get("if_status") {
            Some(v) => status_codes(&cx, v, &node.field("if_status"), "if_status = 201 or if_status = [200, 201]")?,
            None => Vec::new(),
        };
        self.fed[id] = true;
        Ok(MetricFeed { metric: id as u16, kind: metric.kind, value, if_status })
    }

    /// `add` or `value` written as a number, a boolean (rates) or a string
    /// (a template; without a placeholder, the text must read as a value).
    fn feed_value(&self, v: &Val<'_>, field: &str, metric: &CustomMetric) -> Result<FeedValue> {
        let cx = self.cx;
        let (name, kind) = (&*metric.name, metric.kind);
        let number = match v.get_ref() {
            DeValue::Integer(_) | DeValue::Float(_) => self.scalar_json(v, field)?.as_f64(),
            DeValue::Boolean(b) if kind == MetricKind::Rate => Some(f64::from(u8::from(*b))),
            DeValue::String(text) => {
                let template = self.template(text, &v.span(), field, Escape::None)?;
                let Some(literal) = template.as_static() else { return Ok(FeedValue::Template(template)) };
                let Some(n) = crate::plan::read_sample(kind, literal) else {
                    return Err(cx.err(
                        Some(v.span()),
                        field,
                        format!("`{literal}` is not a number"),
                        "write a number (value = 12.5), or a template read as one after the step's extractors ran (value = \"{{ total }}\")",
                    ));
                };
                Some(n)
            }
            _ => {
                let expected = if kind == MetricKind::Rate {
                    "a number, a boolean or a template"
                } else {
                    "a number or a template"
                };
                return Err(cx.type_err(v, field, expected, FEED_HELP));
            }
        };
        match number {
            Some(n) if kind.accepts(n) => Ok(FeedValue::Const(n)),
            _ => Err(cx.err(
                Some(v.span()),
                field,
                format!("`{name}` ({}) cannot record {}", kind.name(), cx.src.get(v.span()).unwrap_or("this value")),
                match kind {
                    MetricKind::Counter => "a counter adds amounts from 0 to 10^12 (it only grows)",
                    MetricKind::Trend => "a trend records values from 0 to 10^12",
                    _ => "a gauge holds values from -10^12 to 10^12",
                },
            )),
        }
    }

    /// A declared metric no step feeds has no sample: thresholds on it see
    /// nothing (a typo, usually).
    fn warn_unfed_metrics(&mut self, root: &Node<'_, '_>) {
        let Some(DeValue::Table(table)) = root.get("metrics").map(|v| v.get_ref()) else { return };
        let node = Node { path: "metrics".into(), table, at: root.key_span("metrics") };
        for (metric, fed) in self.metrics.iter().zip(&self.fed) {
            if !fed {
                self.warnings.push(
                    self.cx
                        .err(
                            Some(node.key_span(&metric.name)),
                            &node.field(&metric.name),
                            format!("no step feeds the metric `{}`: it will have no sample", metric.name),
                            format!("add metrics = [{{ name = \"{}\", … }}] to a step, or remove it", metric.name),
                        )
                        .into_warning(),
                );
            }
        }
    }

    // === scenarios ===

    fn scenario(&self, name: &str, key_span: Span, value: &Val<'_>, parent: &Node<'_, '_>) -> Result<Scenario> {
        let cx = self.cx;
        let field = parent.field(name);
        let node = cx.table_of(value, &field, key_span, EXAMPLE)?;
        let executors: Vec<&str> = EXECUTORS.iter().map(|(n, _)| *n).collect();
        let executors_help = format!("executors: {}", executors.join(", "));
        let (executor_name, executor_span) = node.str(&cx, "executor", &executors_help)?.ok_or_else(|| {
            node.missing(
                &cx,
                "executor",
                format!("add executor = \"constant-vus\" (or another: {})", executors.join(", ")),
            )
        })?;
        let Some((_, options)) = EXECUTORS.iter().find(|(n, _)| *n == executor_name) else {
            let hint = did_you_mean(executor_name, executors.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(cx.err(
                Some(executor_span),
                &node.field("executor"),
                format!("unknown executor `{executor_name}`{hint}"),
                executors_help,
            ));
        };

        // Executor options: an option of another executor gets its own message.
        let allowed: Vec<&str> = SCENARIO_FIELDS.iter().chain(options.iter()).copied().collect();
        for (key, _) in node.entries() {
            let k: &str = key.get_ref();
            if allowed.contains(&k) {
                continue;
            }
            let owners: Vec<&str> = EXECUTORS.iter().filter(|(_, opts)| opts.contains(&k)).map(|(n, _)| *n).collect();
            if owners.is_empty() {
                return Err(unknown_field(&cx, &node.path, key, &allowed));
            }
            return Err(cx.err(
                Some(key.span()),
                &node.field(k),
                format!("`{k}` is not an option of the {executor_name} executor (it belongs to {})", owners.join(", ")),
                format!(
                    "options of {executor_name}: {}; every scenario also takes {}",
                    options.join(", "),
                    SCENARIO_FIELDS.join(", ")
                ),
            ));
        }

        let (flows, total_weight) = self.scenario_flows(&node, name)?;
        let start_time = node.duration(&cx, "start_time")?.unwrap_or(Duration::ZERO);
        let graceful_stop = node.duration(&cx, "graceful_stop")?.unwrap_or(Duration::from_secs(30));
        let executor = self.executor(&node, executor_name)?;
        Ok(Scenario { name: name.into(), executor, start_time, graceful_stop, flows, total_weight, exec: None })
    }

    fn scenario_flows(&self, node: &Node<'_, '_>, scenario: &str) -> Result<(Vec<WeightedFlow>, u32)> {
        let cx = self.cx;
        let defined = || self.flows.iter().map(|f| format!("`{}`", f.name)).collect::<Vec<_>>().join(", ");
        let lookup = |name: &str, span: Span, field: &str| {
            self.flows.iter().position(|f| &*f.name == name).ok_or_else(|| {
                let hint = did_you_mean(name, self.flows.iter().map(|f| &*f.name))
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                cx.err(
                    Some(span),
                    field,
                    format!("unknown flow `{name}`{hint}"),
                    format!("flows defined in this file: {}", defined()),
                )
            })
        };
        match (node.get("flow"), node.get("flows")) {
            (Some(_), Some(_)) => Err(cx.err(
                Some(node.key_span("flows")),
                &node.field("flows"),
                "a scenario has either `flow` or `flows`, not both",
                "flow = \"browse\" runs one flow; flows = { browse = 70, buy = 30 } picks one by weight each iteration",
            )),
            (None, None) => Err(node.missing(&cx, "flow", format!("scenario `{scenario}` has no flow: add flow = \"NAME\" or flows = {{ NAME = WEIGHT, … }}; flows defined: {}", defined()))),
            (Some(v), None) => {
                let field = node.field("flow");
                let name = cx.str_of(v, &field, "the name of a flow, e.g. flow = \"browse\"")?;
                Ok((vec![WeightedFlow { flow: lookup(name, v.span(), &field)?, cumulative_weight: 1 }], 1))
            }
            (None, Some(v)) => {
                let field = node.field("flows");
                let help = "flows = { browse = 70, buy = 30 } (positive whole-number weights)";
                let weights = cx.table_of(v, &field, node.key_span("flows"), help)?;
                if weights.table.is_empty() {
                    return Err(cx.err(Some(v.span()), &field, "no flows listed", help));
                }
                let mut flows = Vec::new();
                let mut total: u32 = 0;
                for (key, weight) in weights.entries() {
                    let weight_field = weights.field(key.get_ref());
                    let flow = lookup(key.get_ref(), key.span(), &weight_field)?;
                    if flows.iter().any(|f: &WeightedFlow| f.flow == flow) {
                        return Err(cx.err(Some(key.span()), &weight_field, "flow listed twice", help));
                    }
                    let w = cx.u64_of(weight, &weight_field, 1, MAX_WEIGHT)? as u32;
                    total = total.checked_add(w).ok_or_else(|| cx.err(Some(weight.span()), &weight_field, "the weights add up to more than 4294967295", "use smaller weights"))?;
                    flows.push(WeightedFlow { flow, cumulative_weight: total });
                }
                Ok((flows, total))
            }
        }
    }

    fn executor(&self, node: &Node<'_, '_>, name: &str) -> Result<Executor> {
        let cx = self.cx;
        let required_duration = |key: &str, example: &str| -> Result<Duration> {
            node.positive_duration(&cx, key)?
                .ok_or_else(|| node.missing(&cx, key, format!("{name} needs {key}, e.g. {key} = \"{example}\"")))
        };
        let required_u64 = |key: &str, min: u64, max: u64, example: u64| -> Result<u64> {
            node.u64(&cx, key, min, max)?
                .ok_or_else(|| node.missing(&cx, key, format!("{name} needs {key}, e.g. {key} = {example}")))
        };
        let time_unit =
            || -> Result<Duration> { Ok(node.positive_duration(&cx, "time_unit")?.unwrap_or(Duration::from_secs(1))) };
        let vus_pair = || -> Result<(u64, u64)> {
            let pre = required_u64("pre_allocated_vus", 1, MAX_VUS, 10)?;
            let max = node.u64(&cx, "max_vus", 1, MAX_VUS)?.unwrap_or(pre);
            if max < pre {
                return Err(cx.err(
                    Some(node.get("max_vus").map_or(node.at.clone(), |v| v.span())),
                    &node.field("max_vus"),
                    format!("max_vus ({max}) is less than pre_allocated_vus ({pre})"),
                    "max_vus is at least pre_allocated_vus (it defaults to it)",
                ));
            }
            Ok((pre, max))
        };
        Ok(match name {
            "shared-iterations" | "per-vu-iterations" => {
                let vus = node.u64(&cx, "vus", 1, MAX_VUS)?.unwrap_or(1);
                let iterations = node.u64(&cx, "iterations", 1, MAX_ITERATIONS)?.unwrap_or(1);
                let max_duration = node.positive_duration(&cx, "max_duration")?.unwrap_or(Duration::from_secs(600));
                if name == "shared-iterations" {
                    // k6 never starts more VUs than there are iterations to share.
                    Executor::SharedIterations { vus: vus.min(iterations), iterations, max_duration }
                } else {
                    Executor::PerVuIterations { vus, iterations, max_duration }
                }
            }
            "constant-vus" => Executor::ConstantVus {
                vus: node.u64(&cx, "vus", 1, MAX_VUS)?.unwrap_or(1),
                duration: required_duration("duration", "30s")?,
            },
            "ramping-vus" => {
                let start_vus = node.u64(&cx, "start_vus", 0, MAX_VUS)?.unwrap_or(1);
                let stages = self.stages(node, name, MAX_VUS)?;
                if start_vus == 0 && stages.iter().all(|s| s.target == 0) {
                    return Err(cx.err(
                        node.get("stages").map(|v| v.span()),
                        &node.field("stages"),
                        "start_vus and every stage target are 0: no VU would ever start",
                        "give a stage a target above 0, e.g. stages = [{ duration = \"1m\", target = 10 }]",
                    ));
                }
                let graceful_ramp_down = node.duration(&cx, "graceful_ramp_down")?.unwrap_or(Duration::from_secs(30));
                Executor::RampingVus { start_vus, stages, graceful_ramp_down }
            }
            "constant-arrival-rate" => {
                let rate = required_u64("rate", 1, MAX_RATE, 50)?;
                let time_unit = time_unit()?;
                self.check_rate_per_second(node, "rate", rate, time_unit)?;
                let duration = required_duration("duration", "1m")?;
                let (pre_allocated_vus, max_vus) = vus_pair()?;
                Executor::ConstantArrivalRate { rate, time_unit, duration, pre_allocated_vus, max_vus }
            }
            _ => {
                let start_rate = node.u64(&cx, "start_rate", 0, MAX_RATE)?.unwrap_or(0);
                let time_unit = time_unit()?;
                let stages = self.stages(node, name, MAX_RATE)?;
                let peak = stages.iter().map(|s| s.target).fold(start_rate, u64::max);
                if peak == 0 {
                    return Err(cx.err(
                        node.get("stages").map(|v| v.span()),
                        &node.field("stages"),
                        "start_rate and every stage target are 0: no iteration would ever start",
                        "give a stage a target above 0, e.g. stages = [{ duration = \"1m\", target = 50 }]",
                    ));
                }
                let peak_key = if start_rate == peak { "start_rate" } else { "stages" };
                self.check_rate_per_second(node, peak_key, peak, time_unit)?;
                let (pre_allocated_vus, max_vus) = vus_pair()?;
                Executor::RampingArrivalRate { start_rate, time_unit, stages, pre_allocated_vus, max_vus }
            }
        })
    }

    /// Refuses rates no load generator could approach (`rate = 10000000` per
    /// `time_unit = "1ns"` is 10^16 iterations per second): the per-`time_unit`
    /// bound alone lets a tiny `time_unit` multiply it without limit.
    fn check_rate_per_second(&self, node: &Node<'_, '_>, key: &str, rate: u64, time_unit: Duration) -> Result<()> {
        let per_second = rate as f64 / time_unit.as_secs_f64();
        if per_second <= MAX_RATE_PER_SECOND as f64 {
            return Ok(());
        }
        let (at, field) = match node.get("time_unit") {
            Some(v) => (v.span(), node.field("time_unit")),
            None => (node.get(key).map_or(node.at.clone(), |v| v.span()), node.field(key)),
        };
        Err(self.cx.err(
            Some(at),
            &field,
            format!(
                "{rate} iterations per {} is {per_second:.3e} per second; the most is {MAX_RATE_PER_SECOND} per second",
                format_duration(time_unit)
            ),
            "use a longer time_unit or a lower rate (the bound is for the whole test, over all agents)",
        ))
    }

    fn stages(&self, node: &Node<'_, '_>, executor: &str, max_target: u64) -> Result<Vec<Stage>> {
        let cx = self.cx;
        let help = "stages = [{ duration = \"30s\", target = 100 }, { duration = \"1m\", target = 0 }]";
        let Some(v) = node.get("stages") else {
            return Err(node.missing(&cx, "stages", format!("{executor} needs stages: {help}")));
        };
        let field = node.field("stages");
        let items = cx.array_of(v, &field, help)?;
        if items.is_empty() {
            return Err(cx.err(Some(v.span()), &field, "stages is empty", help));
        }
        let mut stages = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let stage_field = format!("{field}[{i}]");
            let stage = cx.table_of(item, &stage_field, item.span(), help)?;
            stage.deny_unknown(&cx, &["duration", "target"])?;
            let duration = stage.duration(&cx, "duration")?.ok_or_else(|| stage.missing(&cx, "duration", help))?;
            let target = stage.u64(&cx, "target", 0, max_target)?.ok_or_else(|| stage.missing(&cx, "target", help))?;
            stages.push(Stage { duration, target });
        }
        let total: Duration = stages.iter().map(|s| s.duration).sum();
        if total.is_zero() {
            return Err(cx.err(Some(v.span()), &field, "the stages last 0s in total", help));
        }
        if total > MAX_DURATION {
            return Err(cx.err(Some(v.span()), &field, "the stages last more than 365 days in total", DURATION_HELP));
        }
        Ok(stages)
    }

    // === thresholds ===

    fn thresholds(&mut self, node: &Node<'_, '_>, scenarios: &[Scenario]) -> Result<Vec<Threshold>> {
        let cx = self.cx;
        let mut thresholds = Vec::new();
        for (key, value) in node.entries() {
            let selector: &str = key.get_ref();
            let field = node.field(selector);
            let custom_keys = self.tagging.tag_keys();
            let custom_keys: Vec<&str> = custom_keys.iter().map(|k| &**k).collect();
            let (metric, tags) = parse_selector(selector, &custom_keys, &self.metrics)
                .map_err(|e| cx.err(Some(key.span()), &field, e.message, e.help))?;
            self.warn_unknown_tag_values(&tags, key.span(), &field, scenarios);
            let list_help = format!("{selector} = [\"{}\"] (a list of expressions)", example_expression(&metric));
            let items = cx.array_of(value, &field, &list_help)?;
            if items.is_empty() {
                return Err(cx.err(Some(value.span()), &field, "no threshold expressions listed", list_help));
            }
            for (i, item) in items.iter().enumerate() {
                let item_field = format!("{field}[{i}]");
                let (expr, expr_span, expr_field, abort_on_fail, delay_abort_eval) = match item.get_ref() {
                    DeValue::String(s) => (&**s, item.span(), item_field.clone(), false, Duration::ZERO),
                    DeValue::Table(_) => {
                        let help = "{ threshold = \"rate<0.01\", abort_on_fail = true, delay_abort_eval = \"10s\" }";
                        let t = cx.table_of(item, &item_field, item.span(), help)?;
                        t.deny_unknown(&cx, THRESHOLD_FIELDS)?;
                        let (expr, span) =
                            t.str(&cx, "threshold", help)?.ok_or_else(|| t.missing(&cx, "threshold", help))?;
                        let abort = t.bool(&cx, "abort_on_fail")?.unwrap_or(false);
                        let delay = t.duration(&cx, "delay_abort_eval")?.unwrap_or(Duration::ZERO);
                        (expr, span, t.field("threshold"), abort, delay)
                    }
                    other => {
                        return Err(cx.err(
                            Some(item.span()),
                            &item_field,
                            format!("expected a threshold expression, found {}", describe(other)),
                            list_help,
                        ));
                    }
                };
                let (aggregation, comparison, value) = parse_expression(expr, &metric)
                    .map_err(|e| cx.err(Some(expr_span), &expr_field, e.message, e.help))?;
                thresholds.push(Threshold {
                    selector: selector.into(),
                    metric: metric.clone(),
                    tags: tags.clone(),
                    source: expr.into(),
                    aggregation,
                    comparison,
                    value,
                    abort_on_fail,
                    delay_abort_eval,
                });
            }
        }
        Ok(thresholds)
    }

    // === outputs ===

    /// `[outputs] out = ["KIND=PATH", …]`: what `--out` gives, kept with the
    /// test (paths are relative to the working directory, as the flag's).
    fn outputs(&mut self, node: &Node<'_, '_>) -> Result<Vec<(String, String)>> {
        let cx = self.cx;
        node.deny_unknown(&cx, &["out"])?;
        let Some(v) = node.get("out") else { return Ok(Vec::new()) };
        let field = node.field("out");
        let help = format!(
            "a list of KIND=PATH as --out takes, e.g. out = [\"summary=run.json\"]; kinds: {}",
            crate::OUTPUT_KINDS.join(", ")
        );
        let mut out = Vec::new();
        for item in cx.array_of(v, &field, &help)?.iter() {
            let spec = cx.str_of(item, &field, &help)?;
            let at = Some(item.span());
            let Some((kind, target)) = spec.split_once('=').filter(|(k, t)| !k.is_empty() && !t.is_empty()) else {
                return Err(cx.err(at, &field, format!("`{spec}` is not KIND=PATH"), help));
            };
            if !crate::OUTPUT_KINDS.contains(&kind) {
                return Err(cx.err(at, &field, format!("unknown output kind `{kind}`"), help));
            }
            if kind == "prometheus-rw" && !(target.starts_with("http://") || target.starts_with("https://")) {
                return Err(cx.err(
                    at,
                    &field,
                    format!("`{target}` is not an http:// or https:// URL"),
                    "prometheus-rw takes the receiver's URL, e.g. prometheus-rw=http://127.0.0.1:9090/api/v1/write",
                ));
            }
            out.push((kind.to_string(), target.to_string()));
        }
        Ok(out)
    }

    // === regression budgets ===

    /// `[compare]`: per series, how much slower it may get than a baseline
    /// (`run --baseline`, `stampede compare`). Series are those a comparison
    /// has: `http_req_duration` (all, or `{name:…}`), `iteration_duration`
    /// and `intended_latency` per `{scenario:…}`, and custom trends.
    fn budgets(&mut self, node: &Node<'_, '_>, scenarios: &[Scenario]) -> Result<Vec<crate::budget::Budget>> {
        let cx = self.cx;
        let mut budgets = Vec::new();
        let trends: Vec<&str> = self.metrics.iter().filter(|m| m.kind == MetricKind::Trend).map(|m| &*m.name).collect();
        for (key, value) in node.entries() {
            let selector: &str = key.get_ref();
            let field = node.field(selector);
            let series_help = format!(
                "a series compared: http_req_duration, http_req_duration{{name:NAME}}, iteration_duration{{scenario:NAME}}, \
                 intended_latency{{scenario:NAME}}{}",
                if trends.is_empty() { String::new() } else { format!(", or a custom trend ({})", trends.join(", ")) }
            );
            let normalized = crate::budget::normalize_selector(selector)
                .map_err(|e| cx.err(Some(key.span()), &field, e, series_help.clone()))?;
            let (metric, tags) = match normalized.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (normalized.as_str(), ""),
            };
            let tag_ok = match metric {
                "http_req_duration" => {
                    tags.is_empty()
                        || tags.strip_prefix("name:").is_some_and(|n| self.request_names.iter().any(|r| &**r == n))
                }
                "iteration_duration" | "intended_latency" => {
                    tags.strip_prefix("scenario:").is_some_and(|n| scenarios.iter().any(|s| &*s.name == n))
                }
                m => trends.contains(&m) && tags.is_empty(),
            };
            if !tag_ok {
                return Err(cx.err(
                    Some(key.span()),
                    &field,
                    format!("`{selector}` is not a series this test's comparison has"),
                    series_help,
                ));
            }
            let list_help = format!("\"{selector}\" = [\"p(95) +10%\"] (a list of allowances)");
            let items = cx.array_of(value, &field, &list_help)?;
            if items.is_empty() {
                return Err(cx.err(Some(value.span()), &field, "no allowances listed", list_help));
            }
            for (i, item) in items.iter().enumerate() {
                let item_field = format!("{field}[{i}]");
                let DeValue::String(text) = item.get_ref() else {
                    return Err(cx.err(
                        Some(item.span()),
                        &item_field,
                        format!("expected an allowance, found {}", describe(item.get_ref())),
                        list_help,
                    ));
                };
                let budget = crate::budget::parse_budget(selector, text)
                    .map_err(|e| cx.err(Some(item.span()), &item_field, e.message, e.help))?;
                budgets.push(budget);
            }
        }
        Ok(budgets)
    }

    /// A sub-metric on a request, check or scenario name that does not exist
    /// selects no sample and passes vacuously (as in k6): valid, but almost
    /// always a typo, so it is a warning that lists the known names.
    fn warn_unknown_tag_values(
        &mut self,
        tags: &[(Arc<str>, Arc<str>)],
        key_span: Span,
        field: &str,
        scenarios: &[Scenario],
    ) {
        for (tag, value) in tags {
            let custom_values;
            let (what, known): (String, Vec<&str>) = match &**tag {
                "name" => ("request name".into(), self.request_names.iter().map(|n| &**n).collect()),
                "check" => ("check name".into(), self.check_names.iter().map(|n| &**n).collect()),
                "scenario" => ("scenario".into(), scenarios.iter().map(|s| &*s.name).collect()),
                "group" => ("group".into(), self.tagging.group_names.iter().map(|n| &**n).collect()),
                "method" | "status" => continue,
                custom => {
                    custom_values = self.tagging.tag_values(custom);
                    (format!("`{custom}` tag value"), custom_values.iter().map(|n| &**n).collect())
                }
            };
            if known.contains(&&**value) {
                continue;
            }
            let hint = did_you_mean(value, known.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            let at = key_span.clone();
            let listed: Vec<String> = known.iter().map(|n| format!("`{n}`")).collect();
            self.warnings.push(
                self.cx
                    .err(
                        Some(at),
                        field,
                        format!(
                            "no {what} is `{value}`{hint}: this threshold selects nothing and passes without a sample"
                        ),
                        format!("{what}s in this file: {}", listed.join(", ")),
                    )
                    .into_warning(),
            );
        }
    }

    // === overrides ===

    /// `--vus` / `--duration`: like k6's CLI, they replace every scenario's
    /// executor with constant-vus, filling the missing one from the scenario.
    fn apply_overrides(&self, scenarios: &mut [Scenario]) -> Result<()> {
        let cx = self.cx;
        let ov = self.overrides;
        if ov.vus.is_none() && ov.duration.is_none() {
            return Ok(());
        }
        if let Some(vus) = ov.vus
            && !(1..=MAX_VUS).contains(&vus)
        {
            return Err(cx.err(
                None,
                "--vus",
                format!("{vus} VUs is out of range"),
                format!("pass a number from 1 to {MAX_VUS}"),
            ));
        }
        if let Some(d) = ov.duration
            && (d.is_zero() || d > MAX_DURATION)
        {
            return Err(cx.err(
                None,
                "--duration",
                format!("{} is out of range", format_duration(d)),
                "pass a duration above 0s and at most 365d, e.g. --duration 30s",
            ));
        }
        for scenario in scenarios {
            let vus = ov.vus.unwrap_or_else(|| scenario.executor.peak_vus().max(1));
            let duration = ov.duration.unwrap_or_else(|| scenario.executor.planned_duration());
            scenario.executor = Executor::ConstantVus { vus, duration };
        }
        Ok(())
    }
}

// === helpers ===

fn example_expression(metric: &Metric) -> &'static str {
    match metric.kind() {
        MetricKind::Trend => "p(95)<500",
        MetricKind::Rate => "rate<0.01",
        MetricKind::Counter => "count>0",
        MetricKind::Gauge => "value<100",
    }
}

/// Which of `keys` the table sets: none, or exactly one (two are an error
/// at the second: "`what`, found json and regex").
fn one_of(
    cx: &Cx<'_>,
    node: &Node<'_, '_>,
    keys: &[&'static str],
    what: &str,
    help: &str,
) -> Result<Option<&'static str>> {
    let found: Vec<&'static str> = keys.iter().copied().filter(|k| node.get(k).is_some()).collect();
    match found.as_slice() {
        [] => Ok(None),
        [key] => Ok(Some(key)),
        [_, second, ..] => Err(cx.err(
            Some(node.key_span(second)),
            &node.field(second),
            format!("{what}, found {}", found.join(" and ")),
            help,
        )),
    }
}

/// `200` or `[200, 201]`: status codes 100..=599, at least one.
fn status_codes(cx: &Cx<'_>, value: &Val<'_>, field: &str, help: &str) -> Result<Vec<u16>> {
    let one = |v: &Val<'_>, field: &str| cx.u64_of(v, field, 100, 599).map(|n| n as u16);
    match value.get_ref() {
        DeValue::Array(items) if items.is_empty() => {
            Err(cx.err(Some(value.span()), field, "empty list of status codes", help))
        }
        DeValue::Array(items) => items.iter().enumerate().map(|(i, v)| one(v, &format!("{field}[{i}]"))).collect(),
        _ => Ok(vec![one(value, field)?]),
    }
}

/// k6's rule for metric names: `[A-Za-z_][A-Za-z0-9_]{0,127}`.
fn is_metric_name(s: &str) -> bool {
    s.len() <= 128 && is_identifier(s)
}

fn intern(names: &mut Vec<Arc<str>>, ids: &mut HashMap<Arc<str>, u32>, name: &Arc<str>) -> u32 {
    *ids.entry(name.clone()).or_insert_with(|| {
        names.push(name.clone());
        (names.len() - 1) as u32
    })
}

/// `application/x-www-form-urlencoded` encoding of one name or value (space as `+`).
pub fn form_urlencoded_byte_serialize(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    crate::net::form_encode(bytes, &mut out);
    out
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The fields of a step (of a flow or a hook).
fn step_fields() -> Vec<&'static str> {
    [BATCH_STEP_FIELDS, OWN_STEP_FIELDS].concat()
}

/// The entry `key` of a raw table.
fn entry<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a Val<'i>> {
    table.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
}

/// A variable named bare (`cart_id`) or as a placeholder (`{{ cart_id }}`).
fn bare_name(text: &str) -> &str {
    text.trim().trim_start_matches("{{").trim_end_matches("}}").trim()
}

fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn unknown_choice(cx: &Cx<'_>, span: Span, field: &str, what: &str, value: &str, choices: &[&str]) -> ScenarioError {
    let hint =
        did_you_mean(value, choices.iter().copied()).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
    cx.err(Some(span), field, format!("unknown {what} `{value}`{hint}"), format!("one of: {}", choices.join(", ")))
}

fn header_name(cx: &Cx<'_>, text: &str, span: Span, field: &str) -> Result<HeaderName> {
    HeaderName::from_bytes(text.as_bytes())
        .map_err(|_| cx.err(Some(span), field, format!("invalid header name `{text}`"), HEADER_NAME_HELP))
}

fn json_path(cx: &Cx<'_>, text: &str, span: &Span, field: &str) -> Result<serde_json_path::JsonPath> {
    serde_json_path::JsonPath::parse(text).map_err(|e| {
        let detail = e.to_string();
        let detail = detail.lines().next().unwrap_or("invalid");
        cx.err(Some(span.clone()), field, format!("invalid JSONPath `{text}`: {detail}"), JSONPATH_HELP)
    })
}

/// Validates a base URL and returns it without a trailing `/`.
fn base_url(text: &str) -> std::result::Result<String, String> {
    let trimmed = text.trim();
    if trimmed != text {
        return Err(format!("`{text}` has leading or trailing spaces"));
    }
    if !text.contains("://") {
        return Err(format!("`{text}` has no scheme; write `http://{text}`"));
    }
    if let Some(host) = non_ascii_host(text) {
        return Err(format!(
            "the host `{host}` is not ASCII: write an international domain name in its ASCII (punycode) form, e.g. xn--bcher-kva.example"
        ));
    }
    // A non-ASCII path prefix is percent-encoded, as for step URLs.
    let text = &crate::template::encode_non_ascii(text);
    check_absolute_url(text).map_err(|e| format!("`{text}` is not a valid base URL: {e}"))?;
    if text.contains('?') || text.contains('#') {
        return Err(format!("`{text}`: a base URL cannot have a query or fragment"));
    }
    Ok(text.trim_end_matches('/').to_string())
}

/// The host of an absolute URL (up to a placeholder) when it has non-ASCII
/// characters: percent-encoding would not make it resolvable, punycode would.
fn non_ascii_host(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("http://").or_else(|| text.strip_prefix("https://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let end = rest[..end].find("{{").unwrap_or(end);
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_ascii()).then_some(host)
}

/// Checks an absolute http(s) URL with a host.
fn check_absolute_url(text: &str) -> std::result::Result<(), String> {
    let uri: http::Uri = text.parse().map_err(|e: http::uri::InvalidUri| e.to_string())?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(format!("scheme `{other}` is not supported (use http or https)")),
        None => return Err("no scheme (use http:// or https://)".into()),
    }
    match uri.host() {
        Some(host) if !host.is_empty() => {}
        _ => return Err("no host".into()),
    }
    // `http::Uri` accepts any digits as a port (and then reports none): 99999
    // would only fail when connecting, mid-run.
    let authority = uri.authority().map_or("", |a| a.as_str());
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let after_host = host_port.rfind(']').map_or(host_port, |i| &host_port[i + 1..]);
    if let Some((_, port)) = after_host.rsplit_once(':')
        && !port.is_empty()
        && !matches!(port.parse::<u32>(), Ok(1..=65535))
    {
        return Err(format!("port {port} is out of range (1 to 65535)"));
    }
    Ok(())
}
