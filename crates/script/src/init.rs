//! Plan time: the script's init code run once in a throw-away QuickJS
//! instance (VU 0, as k6 reads options), to read `options`, the exports, and
//! what the init code declares: custom metrics, `open()`ed files,
//! SharedArrays. Requests, `sleep`, `check` and `group` throw there (k6
//! allows them only in VU code), so running the init code never sends load.
//!
//! The shim here is plan time's own: every module object exists with k6's
//! members, but only what init code may use does anything.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rquickjs::context::EvalOptions;
use rquickjs::function::Opt;
use rquickjs::{
    ArrayBuffer, CatchResultExt, CaughtError, Context, Ctx, Exception, FromJs, Function, Object, Runtime, Value,
};
use stampede_scenario::ScenarioError;
use stampede_scenario::threshold::{CustomMetric, K6_OTHER_BUILTINS, Metric, MetricKind};

use crate::ScriptError;
use crate::transform::Bundle;

/// Bounds on the plan-time run of the init code.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest the init code may run (an endless loop is refused, not hung on).
    pub init_time: Duration,
    /// Most memory the JS heap may take.
    pub memory: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { init_time: Duration::from_secs(30), memory: 1 << 30 }
    }
}

/// A file the init code read with `open()`: what agents must receive.
#[derive(Debug, Clone)]
pub struct OpenedFile {
    /// The path as the script wrote it.
    pub written: String,
    /// Resolved against the directory of the module being initialised.
    pub path: PathBuf,
    pub bytes: Arc<[u8]>,
}

/// A `SharedArray` built by the init code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedArrayInfo {
    pub name: String,
    pub len: usize,
}

/// An export of the main module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub name: String,
    pub is_function: bool,
}

/// What the plan-time run of the init code found.
#[derive(Debug, Clone)]
pub(crate) struct InitOutput {
    /// `options` through a JSON round trip (`Null` when not exported).
    pub options: serde_json::Value,
    pub exports: Vec<Export>,
    pub metrics: Vec<Arc<CustomMetric>>,
    pub files: Vec<OpenedFile>,
    pub shared_arrays: Vec<SharedArrayInfo>,
    /// What the init code printed with `console.*` (`level: text`).
    pub console: Vec<String>,
}

/// Most console lines kept from the init code.
const MAX_CONSOLE_LINES: usize = 1000;

#[derive(Default)]
struct State {
    /// Directory of the module whose body runs now (`open()` is relative to it).
    dir: PathBuf,
    metrics: Vec<Arc<CustomMetric>>,
    files: Vec<OpenedFile>,
    shared: Vec<SharedArrayInfo>,
    console: Vec<String>,
}

const SHIM: &str = include_str!("init_shim.js");

/// Runs every module's body once, in bundle order, as VU 0.
pub(crate) fn run(bundle: &Bundle, env: &[(String, String)], limits: &Limits) -> Result<InitOutput, ScriptError> {
    let main = bundle.main();
    let fail =
        |message: String, help: &str| ScriptError::one(ScenarioError::new(&main.path, "", None, "", message, help));
    let rt = Runtime::new().map_err(|e| fail(format!("cannot start the JavaScript engine: {e}"), ""))?;
    rt.set_memory_limit(limits.memory);
    rt.set_max_stack_size(1 << 20);
    let interrupted = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + limits.init_time;
    let flag = interrupted.clone();
    rt.set_interrupt_handler(Some(Box::new(move || {
        let late = Instant::now() > deadline;
        if late {
            flag.store(true, Ordering::Relaxed);
        }
        late
    })));
    let ctx = Context::full(&rt).map_err(|e| fail(format!("cannot start the JavaScript engine: {e}"), ""))?;
    let state = Rc::new(RefCell::new(State::default()));
    let result = ctx.with(|ctx| -> Result<InitOutput, ScriptError> {
        let located_in = |caught: CaughtError<'_>, stage: Stage| {
            if interrupted.load(Ordering::Relaxed) {
                return ScriptError::one(ScenarioError::new(
                    &main.path,
                    "",
                    None,
                    "",
                    format!("the init code ran longer than {:?} (an endless loop?)", limits.init_time),
                    "init code (the top level of each module) runs once at plan time and once per VU; keep it short",
                ));
            }
            exception_error(bundle, caught, stage)
        };
        let located = |caught: CaughtError<'_>| located_in(caught, Stage::Init);
        let k6 =
            install(&ctx, &state, env).catch(&ctx).map_err(|e| fail(format!("internal error: the shim: {e}"), ""))?;
        let mut instances: Vec<Object<'_>> = Vec::with_capacity(bundle.modules.len());
        for module in &bundle.modules {
            let mut opts = EvalOptions::default();
            opts.global = true;
            opts.strict = true;
            opts.filename = Some(module.name.clone());
            let factory: Function = ctx
                .eval_with_options(module.factory.as_str(), opts)
                .catch(&ctx)
                .map_err(|e| located_in(e, Stage::Compile))?;
            state.borrow_mut().dir = module.path.parent().map(Path::to_path_buf).unwrap_or_default();
            let done: Vec<Object<'_>> = instances.clone();
            let import = Function::new(ctx.clone(), move |i: usize| -> rquickjs::Result<Object<'_>> {
                done.get(i).cloned().ok_or(rquickjs::Error::Unknown)
            })
            .catch(&ctx)
            .map_err(|e| fail(format!("internal error: {e}"), ""))?;
            let exports: Object = factory.call((k6.clone(), import)).catch(&ctx).map_err(located)?;
            instances.push(exports);
        }
        let exports = instances.pop().expect("the main module");
        let mut listed = Vec::new();
        for prop in exports.props::<String, Value>() {
            let (name, value) = prop.catch(&ctx).map_err(located)?;
            listed.push(Export { is_function: value.is_function(), name });
        }
        let options_value: Value = exports.get("options").catch(&ctx).map_err(located)?;
        let json = ctx.json_stringify(options_value).catch(&ctx).map_err(|e| {
            let e = located(e);
            ScriptError::one(ScenarioError::new(
                &main.path,
                "",
                None,
                "options",
                format!("`options` cannot be turned into JSON (k6 reads it so): {}", e.first().message()),
                "options hold plain values: numbers, strings, booleans, arrays and objects",
            ))
        })?;
        let text = match json {
            Some(s) => s.to_string().catch(&ctx).map_err(located)?,
            None => "null".to_string(),
        };
        let options =
            serde_json::from_str(&text).map_err(|e| fail(format!("internal error: options JSON: {e}"), ""))?;
        let mut s = state.borrow_mut();
        Ok(InitOutput {
            options,
            exports: listed,
            metrics: std::mem::take(&mut s.metrics),
            files: std::mem::take(&mut s.files),
            shared_arrays: std::mem::take(&mut s.shared),
            console: std::mem::take(&mut s.console),
        })
    });
    drop(ctx);
    drop(rt);
    result
}

/// Where the engine failed: compiling a module, or running its init code.
#[derive(Clone, Copy)]
enum Stage {
    Compile,
    Init,
}

/// An exception from the init code, located at the innermost frame in one
/// of the script's modules (frames in the shim are skipped: an init-only
/// call is reported where the script made it).
fn exception_error(bundle: &Bundle, caught: CaughtError<'_>, stage: Stage) -> ScriptError {
    let (text, stack) = match &caught {
        CaughtError::Exception(e) => {
            let name: Option<String> = e.get::<_, Option<String>>("name").ok().flatten();
            let message = e.message().unwrap_or_default();
            let text = match name {
                Some(n) if !n.is_empty() && n != "Error" => format!("{n}: {message}"),
                _ => message,
            };
            (text, e.stack().unwrap_or_default())
        }
        CaughtError::Value(v) => (describe_value(v), String::new()),
        CaughtError::Error(e) => (e.to_string(), String::new()),
    };
    let main = bundle.main();
    let frame = innermost_frame(bundle, &stack);
    let (message, help) = match stage {
        Stage::Init => (
            format!("exception in the init code: {text}"),
            "the init code (each module's top level) runs once at plan time, as VU 0, before any load",
        ),
        Stage::Compile => (
            format!("the JavaScript engine cannot compile this module: {text}"),
            "the script parses, but QuickJS refuses it (too deeply nested, or a construct it does not support)",
        ),
    };
    match frame {
        Some((module, line, col)) => {
            let offset = module.map.line_col_offset(line, col) as usize;
            ScriptError::one(ScenarioError::new(&module.path, &module.source, Some(offset..offset), "", message, help))
        }
        None => ScriptError::one(ScenarioError::new(&main.path, "", None, "", message, help)),
    }
}

/// The innermost frame of a QuickJS stack that is in one of the script's
/// modules: the module and its factory's line and column. Frames read
/// `    at f (NAME:LINE:COL)` or `    at NAME:LINE:COL` and are found by the
/// module names themselves (a path may hold spaces or parentheses), longest
/// names first (`lib/xa.js:` also holds `a.js:`).
pub(crate) fn innermost_frame<'b>(bundle: &'b Bundle, stack: &str) -> Option<(&'b crate::Module, u32, u32)> {
    let mut by_length: Vec<&crate::Module> = bundle.modules.iter().filter(|m| !m.name.is_empty()).collect();
    by_length.sort_by_key(|m| std::cmp::Reverse(m.name.len()));
    stack.lines().find_map(|line| {
        by_length.iter().copied().find_map(|module| {
            let at = line.find(&format!("{}:", module.name))? + module.name.len() + 1;
            let mut numbers = line[at..].split(|c: char| !c.is_ascii_digit());
            let line_no: u32 = numbers.next()?.parse().ok()?;
            let col: u32 = numbers.next()?.parse().ok()?;
            Some((module, line_no, col))
        })
    })
}

pub(crate) fn describe_value(v: &Value<'_>) -> String {
    if let Some(s) = v.as_string() {
        return s.to_string().unwrap_or_default();
    }
    v.ctx()
        .json_stringify(v.clone())
        .ok()
        .flatten()
        .and_then(|s| s.to_string().ok())
        .unwrap_or_else(|| format!("a thrown {}", v.type_name()))
}

/// Defines the globals (`open`, `console`, `__ENV`, `__VU`, `__ITER`) and
/// returns the `__k6` object the factories receive.
fn install<'js>(ctx: &Ctx<'js>, state: &Rc<RefCell<State>>, env: &[(String, String)]) -> rquickjs::Result<Object<'js>> {
    let host = Object::new(ctx.clone())?;
    let env_obj = Object::new(ctx.clone())?;
    for (k, v) in env {
        env_obj.set(k.as_str(), v.as_str())?;
    }
    host.set("env", env_obj)?;

    let s = state.clone();
    host.set(
        "open",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, path: String, mode: String| -> rquickjs::Result<Value<'js>> {
            open(&ctx, &s, &path, &mode)
        })?,
    )?;

    let s = state.clone();
    host.set(
        "metric",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, kind: String, name: String, is_time: bool| {
            declare_metric(&ctx, &s, &kind, &name, is_time)
        })?,
    )?;

    let s = state.clone();
    host.set(
        "shared",
        Function::new(ctx.clone(), move |name: String, len: usize| {
            s.borrow_mut().shared.push(SharedArrayInfo { name, len });
        })?,
    )?;

    let s = state.clone();
    host.set(
        "console",
        Function::new(ctx.clone(), move |level: String, text: String| {
            let mut s = s.borrow_mut();
            if s.console.len() < MAX_CONSOLE_LINES {
                s.console.push(format!("{level}: {text}"));
            }
        })?,
    )?;

    install_encoding(ctx, &host)?;
    crate::html::install(ctx, &host)?;

    let setup: Function = ctx.eval(SHIM)?;
    setup.call((host,))
}

/// `b64encode` and `b64decode` (k6/encoding) on the host object `h`.
pub(crate) fn install_encoding<'js>(ctx: &Ctx<'js>, h: &Object<'js>) -> rquickjs::Result<()> {
    h.set(
        "b64encode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, input: Value<'js>, encoding: Opt<String>| -> rquickjs::Result<String> {
                let bytes = bytes_of(&ctx, input)?;
                Ok(b64_engine(&ctx, encoding.0.as_deref())?.encode(bytes))
            },
        )?,
    )?;
    h.set(
        "b64decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             input: String,
             encoding: Opt<String>,
             format: Opt<String>|
             -> rquickjs::Result<Value<'js>> {
                let engine = b64_engine(&ctx, encoding.0.as_deref())?;
                let bytes = engine
                    .decode(input.trim_end_matches('\n'))
                    .map_err(|e| Exception::throw_message(&ctx, &format!("b64decode: {e}")))?;
                if format.0.as_deref() == Some("s") {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    return Ok(rquickjs::String::from_str(ctx.clone(), &text)?.into_value());
                }
                Ok(ArrayBuffer::new(ctx.clone(), bytes)?.into_value())
            },
        )?,
    )?;

    Ok(())
}

pub(crate) fn bytes_of<'js>(ctx: &Ctx<'js>, input: Value<'js>) -> rquickjs::Result<Vec<u8>> {
    if let Some(s) = input.as_string() {
        return Ok(s.to_string()?.into_bytes());
    }
    // The shim passes an ArrayBuffer's bytes as an array of numbers.
    Vec::<u8>::from_js(ctx, input)
}

fn b64_engine(ctx: &Ctx<'_>, encoding: Option<&str>) -> rquickjs::Result<base64::engine::GeneralPurpose> {
    use base64::engine::general_purpose as gp;
    Ok(match encoding.unwrap_or("std") {
        "" | "std" => gp::STANDARD,
        "rawstd" => gp::STANDARD_NO_PAD,
        "url" => gp::URL_SAFE,
        "rawurl" => gp::URL_SAFE_NO_PAD,
        other => {
            return Err(Exception::throw_type(
                ctx,
                &format!("unknown base64 encoding '{other}' (k6's: std, rawstd, url, rawurl)"),
            ));
        }
    })
}

fn open<'js>(ctx: &Ctx<'js>, state: &Rc<RefCell<State>>, written: &str, mode: &str) -> rquickjs::Result<Value<'js>> {
    if !matches!(mode, "" | "b") {
        return Err(Exception::throw_type(
            ctx,
            &format!("open(): mode '{mode}' is not supported (use 'b' for binary)"),
        ));
    }
    let path = {
        let s = state.borrow();
        let p = Path::new(written);
        crate::transform::normalize(&if p.is_absolute() { p.to_path_buf() } else { s.dir.join(p) })
    };
    let known = state.borrow().files.iter().find(|f| f.path == path).map(|f| f.bytes.clone());
    let bytes = match known {
        Some(b) => b,
        None => {
            let read = stampede_scenario::input::read_bounded(
                &path,
                stampede_scenario::input::MAX_DATA_BYTES,
                "file given to open()",
            );
            let bytes: Arc<[u8]> = match read {
                Ok(b) => b.into(),
                Err(e) => return Err(Exception::throw_message(ctx, &format!("open({written:?}): {e}"))),
            };
            state.borrow_mut().files.push(OpenedFile { written: written.to_string(), path, bytes: bytes.clone() });
            bytes
        }
    };
    if mode == "b" {
        return Ok(ArrayBuffer::new_copy(ctx.clone(), &bytes[..])?.into_value());
    }
    let text = String::from_utf8_lossy(&bytes);
    Ok(rquickjs::String::from_str(ctx.clone(), &text)?.into_value())
}

/// k6's rules for metric names (`metrics/registry.go`).
fn valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && name.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn declare_metric(
    ctx: &Ctx<'_>,
    state: &Rc<RefCell<State>>,
    kind: &str,
    name: &str,
    is_time: bool,
) -> rquickjs::Result<()> {
    let kind = match kind {
        "Counter" => MetricKind::Counter,
        "Gauge" => MetricKind::Gauge,
        "Rate" => MetricKind::Rate,
        _ => MetricKind::Trend,
    };
    let is_time = is_time && kind == MetricKind::Trend;
    if !valid_metric_name(name) {
        return Err(Exception::throw_message(
            ctx,
            &format!(
                "invalid metric name '{name}': up to 128 ASCII letters, digits or underscores, starting with a letter or an underscore"
            ),
        ));
    }
    if Metric::from_name(name).is_some() || K6_OTHER_BUILTINS.contains(&name) {
        return Err(Exception::throw_message(
            ctx,
            &format!("'{name}' is a built-in metric: give the custom metric another name"),
        ));
    }
    let mut s = state.borrow_mut();
    match s.metrics.iter().find(|m| &*m.name == name) {
        Some(m) if m.kind == kind && m.time == is_time => Ok(()),
        Some(m) => Err(Exception::throw_message(
            ctx,
            &format!(
                "metric '{name}' already exists as a {}{}; it cannot also be a {}{}",
                m.kind.name(),
                if m.time { " of times" } else { "" },
                kind.name(),
                if is_time { " of times" } else { "" }
            ),
        )),
        None => {
            s.metrics.push(Arc::new(CustomMetric { name: name.into(), kind, time: is_time }));
            Ok(())
        }
    }
}
