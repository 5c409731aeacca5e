//! Run time: a script's functions as the engine's iteration body
//! (docs/design/k6-runtime.md §4). One QuickJS runtime and context per
//! worker thread; each VU is one instantiation of the script's module
//! factories (its own top-level bindings); the k6 modules are one object
//! per worker acting on the VU that runs now. A blocking call (a request,
//! `sleep`) returns a promise and queues an op; the VU's own engine task
//! performs it (the engine's HTTP client, on the VU's connections, measured
//! as a TOML step's request is), resolves the promise and runs the script
//! on until it blocks again or the iteration's promise settles.
//!
//! A worker's JavaScript engine lives until the process ends: VUs hold
//! handles into it and may be dropped after the worker (a hard stop), and
//! QuickJS must not be torn down under them.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rquickjs::context::EvalOptions;
use rquickjs::function::Opt;
use rquickjs::{
    Array, ArrayBuffer, CatchResultExt, CaughtError, Context, Ctx, Exception, FromJs, Function, Object, Persistent,
    Promise, Runtime, Value,
};
use stampede_engine::{BodyFactory, IterationBody, IterationFuture, RequestSpec, ResponseData, Vu, Worker};
use stampede_metrics::{ErrorKind, MetricId, NameKind};

use crate::ScriptPlan;
use crate::init::OpenedFile;
use crate::transform::Bundle;

const SHIM: &str = include_str!("runtime_shim.js");

/// Console lines printed per second at most (the rest are counted).
const CONSOLE_PER_SECOND: u64 = 50;
/// Exceptions printed at most per location (all are counted).
const EXCEPTIONS_SHOWN_PER_LOCATION: u64 = 3;

/// What every worker's runtime shares: the script and the run's outcome
/// as far as the script decides it (aborts, errors).
#[derive(Debug)]
pub struct Shared {
    bundle: Arc<Bundle>,
    env: Vec<(String, String)>,
    files: Vec<OpenedFile>,
    /// `setup()`'s result as JSON (`None`: no setup, or it returned nothing).
    setup_json: Option<String>,
    /// Each scenario's function (by scenario index).
    functions: Vec<String>,
    /// Each scenario's `__ENV`: the environment, then its `env`.
    scenario_env: Vec<Vec<(String, String)>>,
    /// Each scenario's tags on every sample: `options.tags`, then its own
    /// (flat: key, value, …).
    scenario_tags: Vec<Vec<String>>,
    /// Stops every worker at once (`exec.test.abort()`), once the run exists.
    pub stopper: std::sync::OnceLock<tokio::sync::watch::Sender<stampede_engine::Signal>>,
    /// `options` as JSON (for `exec.test.options`).
    options_json: String,
    seed: u64,
    discard_bodies: bool,
    /// `batch`: requests of one `http.batch()` in flight at once.
    batch: u32,
    started: Instant,
    /// Why the test was aborted (`exec.test.abort()`), once.
    abort: Mutex<Option<String>>,
    /// A VU's init code threw: the run must stop (k6 exits 107).
    fatal: Mutex<Option<String>>,
    /// Exceptions thrown by iterations, by location.
    exceptions: Mutex<BTreeMap<String, Exceptions>>,
    console_window: AtomicU64,
    console_count: AtomicU64,
    console_dropped: AtomicU64,
}

/// Iteration exceptions at one location.
#[derive(Debug, Clone, Default)]
pub struct Exceptions {
    pub count: u64,
    /// The first one's text.
    pub first: String,
}

/// How a script ended the test as a whole, if it did: a VU's init code
/// threw (k6's 107; it outranks an abort), or `exec.test.abort()` (108).
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptEnd {
    /// The init code's error.
    InitFailed(String),
    /// The abort's reason (maybe empty).
    Aborted(String),
}

impl ScriptEnd {
    /// From an init failure and an abort reason, as agents report them.
    pub fn of(init_failure: Option<String>, aborted: Option<String>) -> Option<ScriptEnd> {
        match (init_failure, aborted) {
            (Some(e), _) => Some(ScriptEnd::InitFailed(e)),
            (None, Some(reason)) => Some(ScriptEnd::Aborted(reason)),
            (None, None) => None,
        }
    }
}

impl Shared {
    /// Whether (and how) the script ended the test.
    pub fn ended(&self) -> Option<ScriptEnd> {
        ScriptEnd::of(self.fatal(), self.aborted())
    }

    /// Why the script aborted the test, if it did.
    pub fn aborted(&self) -> Option<String> {
        self.abort.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// The error of a VU's init code, if one threw.
    pub fn fatal(&self) -> Option<String> {
        self.fatal.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Exceptions thrown by iterations, by `file:LINE:COL`.
    pub fn exceptions(&self) -> BTreeMap<String, Exceptions> {
        self.exceptions.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Console lines not printed (over the rate limit).
    pub fn console_dropped(&self) -> u64 {
        self.console_dropped.load(Ordering::Relaxed)
    }

    fn note_exception(&self, location: &str, text: &str, vu: u64, iteration: u64) {
        let shown = {
            let Ok(mut map) = self.exceptions.lock() else { return };
            let e = map.entry(location.to_string()).or_default();
            e.count += 1;
            if e.first.is_empty() {
                e.first = text.to_string();
            }
            e.count <= EXCEPTIONS_SHOWN_PER_LOCATION
        };
        if shown {
            eprintln!("error: {location}: {text} (VU {vu}, iteration {iteration}; the VU goes on)");
        }
    }

    fn console(&self, level: &str, text: &str, vu: u64) {
        let second = self.started.elapsed().as_secs() + 1;
        if self.console_window.swap(second, Ordering::Relaxed) != second {
            self.console_count.store(0, Ordering::Relaxed);
        }
        if self.console_count.fetch_add(1, Ordering::Relaxed) >= CONSOLE_PER_SECOND {
            self.console_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        eprintln!("{level}: VU {vu}: {text}");
    }
}

/// The script as the engine's iteration body.
pub struct ScriptBody {
    pub shared: Arc<Shared>,
}

impl ScriptBody {
    /// The body of a run of `sp`, with `setup()`'s result as JSON.
    pub fn new(sp: &ScriptPlan, env: &[(String, String)], seed: u64, setup_json: Option<String>) -> ScriptBody {
        let functions = sp.plan.scenarios.iter().map(|s| s.exec.as_deref().unwrap_or("default").to_string()).collect();
        let extras = |name: &str| sp.options.scenarios.iter().find(|e| &*e.name == name);
        let scenario_env = sp
            .plan
            .scenarios
            .iter()
            .map(|s| {
                let mut all = env.to_vec();
                if let Some(e) = extras(&s.name) {
                    all.extend(e.env.iter().cloned());
                }
                all
            })
            .collect();
        let scenario_tags = sp
            .plan
            .scenarios
            .iter()
            .map(|s| {
                let mut flat = Vec::new();
                for (k, v) in sp.options.tags.iter().chain(extras(&s.name).map_or(&[][..], |e| &e.tags[..])) {
                    flat.push(k.clone());
                    flat.push(v.clone());
                }
                flat
            })
            .collect();
        ScriptBody {
            shared: Arc::new(Shared {
                bundle: sp.bundle.clone(),
                env: env.to_vec(),
                files: sp.files.clone(),
                setup_json,
                functions,
                scenario_env,
                scenario_tags,
                stopper: std::sync::OnceLock::new(),
                options_json: sp.options_json.clone(),
                seed,
                discard_bodies: sp.options.discard_response_bodies,
                batch: match sp.options.batch {
                    0 => crate::options::DEFAULT_BATCH,
                    n => n,
                },
                started: Instant::now(),
                abort: Mutex::new(None),
                fatal: Mutex::new(None),
                exceptions: Mutex::new(BTreeMap::new()),
                console_window: AtomicU64::new(0),
                console_count: AtomicU64::new(0),
                console_dropped: AtomicU64::new(0),
            }),
        }
    }
}

impl BodyFactory for ScriptBody {
    fn on_worker(&self, w: &Rc<Worker>) -> Result<Rc<dyn IterationBody>, String> {
        let js = WorkerJs::new(self.shared.clone(), w.clone(), None)?;
        Ok(Rc::new(js))
    }
}

/// One group open in a VU's iteration.
#[derive(Debug)]
struct OpenGroup {
    id: u32,
    path: String,
    started: Instant,
}

/// The VU that runs now, as the host functions see it. Swapped in before a
/// VU's JavaScript runs and out after.
#[derive(Debug)]
struct Turn {
    vu: u64,
    scenario: u16,
    iteration: u64,
    in_test: Option<u64>,
    groups: Vec<OpenGroup>,
    rng: fastrand::Rng,
    /// The VU's cookie jar as last read (host, name, value), for
    /// `cookiesForURL`: refreshed after a response that sets cookies.
    jar_view: Vec<(String, String, String)>,
}

impl Turn {
    fn idle() -> Turn {
        Turn {
            vu: 0,
            scenario: 0,
            iteration: 0,
            in_test: None,
            groups: Vec::new(),
            rng: fastrand::Rng::with_seed(0),
            jar_view: Vec::new(),
        }
    }

    fn group(&self) -> u32 {
        self.groups.last().map_or(0, |g| g.id)
    }
}

/// How a request's response is handed to the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseType {
    Text,
    Binary,
    None,
}

/// Expected status ranges, inclusive (`expectedStatuses`).
type StatusRanges = Arc<[(u16, u16)]>;

/// A request as a script described it, read and checked.
struct Parts {
    method: http::Method,
    url: String,
    body: Bytes,
    headers: http::HeaderMap,
    /// `tags.name` (else the URL names it).
    name: Option<String>,
    /// Custom tags, flat: key, value, …
    tags: Vec<String>,
    /// Milliseconds; negative: the default.
    timeout: f64,
    /// Negative: the default.
    redirects: f64,
    rtype: ResponseType,
    /// Expected status ranges (`None`: k6's 200–399).
    expected: Option<StatusRanges>,
    /// The script's own jar (> 0), or the VU's.
    jar: i32,
}

#[derive(Debug)]
struct Call {
    spec: RequestSpec,
    rtype: ResponseType,
    /// A jar of the script's own (`new http.CookieJar()`), by index.
    jar: Option<usize>,
}

enum OpKind {
    Sleep(Duration),
    Request(Box<Call>),
    Batch(Vec<Call>),
}

struct Op {
    kind: OpKind,
    resolve: Persistent<Function<'static>>,
}

/// State the host functions share (captured by each of them).
struct Host {
    shared: Arc<Shared>,
    w: Rc<Worker>,
    turn: RefCell<Turn>,
    ops: RefCell<Vec<Op>>,
    /// An empty list with room, swapped with `ops` by the driver.
    spare_ops: RefCell<Vec<Op>>,
    /// Directory of the module whose body runs now (`open()`).
    dir: RefCell<PathBuf>,
    /// Cookie operations on the running VU's jar, applied by the driver
    /// (the jar is the engine VU's, not reachable from JavaScript).
    cookie_ops: RefCell<Vec<CookieOp>>,
    /// Jars of the script's own (`new http.CookieJar()`): (host, name,
    /// value); index 0 is unused (the VU's jar).
    jars: RefCell<Vec<Vec<(String, String, String)>>>,
    boundary: Cell<u64>,
    /// The shim's `settle(resolve, raw)`: resolves a request's promise
    /// with its Response.
    settle: RefCell<Option<Persistent<Function<'static>>>>,
    /// URLs parsed lately (scripts request the same few again and again).
    uris: RefCell<UriCache>,
    /// The statuses `http.setResponseCallback` expects (`None`: k6's default).
    expected: RefCell<Option<StatusRanges>>,
}

/// The last few URLs parsed, reused when a script asks for one again
/// (a `Uri` clone shares its bytes).
#[derive(Default)]
struct UriCache {
    entries: Vec<(String, http::Uri)>,
    next: usize,
}

impl UriCache {
    const SIZE: usize = 16;

    fn get(&self, url: &str) -> Option<http::Uri> {
        self.entries.iter().find(|(u, _)| u == url).map(|(_, uri)| uri.clone())
    }

    fn put(&mut self, url: String, uri: http::Uri) {
        if self.entries.len() < Self::SIZE {
            self.entries.push((url, uri));
        } else {
            self.entries[self.next] = (url, uri);
            self.next = (self.next + 1) % Self::SIZE;
        }
    }
}

enum CookieOp {
    Set { host: String, name: String, value: String },
    Clear { host: String, name: Option<String> },
}

/// A worker's JavaScript engine and the compiled script.
pub(crate) struct WorkerJs {
    host: Rc<Host>,
    ctx: Context,
    factories: Vec<Persistent<Function<'static>>>,
    k6: Persistent<Object<'static>>,
    data: Option<Persistent<Value<'static>>>,
}

/// A VU's instance of the script.
struct JsVu {
    /// Each scenario's function in this VU's module instance.
    func: Persistent<Function<'static>>,
    rng_seed: u64,
}

fn internal(e: impl std::fmt::Display) -> String {
    format!("internal error in the script runtime: {e}")
}

impl WorkerJs {
    /// The engine for worker `w`; `data`: a value to hand every call
    /// instead of the setup's (teardown's own).
    pub(crate) fn new(shared: Arc<Shared>, w: Rc<Worker>, memory: Option<usize>) -> Result<WorkerJs, String> {
        let rt = Runtime::new().map_err(internal)?;
        rt.set_max_stack_size(1 << 20);
        if let Some(m) = memory {
            rt.set_memory_limit(m);
        }
        let ctx = Context::full(&rt).map_err(internal)?;
        // Never torn down (see the module docs).
        std::mem::forget(rt.clone());
        std::mem::forget(ctx.clone());
        let host = Rc::new(Host {
            shared: shared.clone(),
            w,
            turn: RefCell::new(Turn::idle()),
            ops: RefCell::new(Vec::new()),
            spare_ops: RefCell::new(Vec::new()),
            dir: RefCell::new(PathBuf::new()),
            cookie_ops: RefCell::new(Vec::new()),
            jars: RefCell::new(vec![Vec::new()]),
            boundary: Cell::new(0),
            settle: RefCell::new(None),
            uris: RefCell::new(UriCache::default()),
            expected: RefCell::new(None),
        });
        let (k6, factories, data) = ctx.with(|ctx| -> Result<_, String> {
            let k6 = install(&ctx, &host).catch(&ctx).map_err(|e| internal(format!("the shim: {e}")))?;
            let settle: Function = k6.get("settle").map_err(internal)?;
            *host.settle.borrow_mut() = Some(Persistent::save(&ctx, settle));
            let mut factories = Vec::new();
            for module in &shared.bundle.modules {
                let mut opts = EvalOptions::default();
                opts.global = true;
                opts.strict = true;
                opts.filename = Some(module.name.clone());
                let f: Function = ctx
                    .eval_with_options(module.factory.as_str(), opts)
                    .catch(&ctx)
                    .map_err(|e| located_text(&shared.bundle, e).1)?;
                factories.push(Persistent::save(&ctx, f));
            }
            let data = match &shared.setup_json {
                None => None,
                Some(json) => {
                    let v: Value = ctx.json_parse(json.as_str()).catch(&ctx).map_err(|e| internal(e.to_string()))?;
                    deep_freeze(&ctx, &v).map_err(internal)?;
                    Some(Persistent::save(&ctx, v))
                }
            };
            Ok((Persistent::save(&ctx, k6), factories, data))
        })?;
        Ok(WorkerJs { host, ctx, factories, k6, data })
    }

    /// Runs every module's body for a VU (its init code) and returns the
    /// main module's exports.
    fn instantiate<'js>(&self, ctx: &Ctx<'js>) -> Result<Object<'js>, (String, String)> {
        let k6 = self.k6.clone().restore(ctx).map_err(|e| (String::new(), internal(e)))?;
        let mut instances: Vec<Object<'js>> = Vec::with_capacity(self.factories.len());
        for (i, f) in self.factories.iter().enumerate() {
            let factory = f.clone().restore(ctx).map_err(|e| (String::new(), internal(e)))?;
            let module = &self.host.shared.bundle.modules[i];
            *self.host.dir.borrow_mut() = module.path.parent().map(Path::to_path_buf).unwrap_or_default();
            let done = instances.clone();
            let import = Function::new(ctx.clone(), move |i: usize| -> rquickjs::Result<Object<'js>> {
                done.get(i).cloned().ok_or(rquickjs::Error::Unknown)
            })
            .map_err(|e| (String::new(), internal(e)))?;
            let exports: Object =
                factory.call((k6.clone(), import)).catch(ctx).map_err(|e| located_text(&self.host.shared.bundle, e))?;
            instances.push(exports);
        }
        instances.pop().ok_or_else(|| (String::new(), internal("no module")))
    }

    fn enter(&self, turn: &mut Turn) {
        std::mem::swap(&mut *self.host.turn.borrow_mut(), turn);
    }

    /// Runs JavaScript as the VU of `turn`: `f`, then every job it queued.
    fn resume<R>(&self, turn: &mut Turn, f: impl for<'js> FnOnce(&Ctx<'js>) -> R) -> R {
        self.enter(turn);
        let r = self.ctx.with(|ctx| {
            let r = f(&ctx);
            while ctx.execute_pending_job() {}
            r
        });
        self.enter(turn);
        r
    }

    /// Applies the cookie operations the script asked for, and refreshes
    /// the view `cookiesForURL` reads.
    fn sync_cookies(&self, vu: &mut Vu) {
        for op in self.host.cookie_ops.borrow_mut().drain(..) {
            match op {
                CookieOp::Set { host, name, value } => vu.set_cookie(&host, &name, &value),
                CookieOp::Clear { host, name } => vu.remove_cookies(&host, name.as_deref()),
            }
        }
    }

    /// Keeps the cookies a response sets in the script's own jar, if the
    /// request used one.
    fn store_own_jar(&self, call: &Call, data: &ResponseData) {
        let Some(j) = call.jar else { return };
        let host_name = call_host(&call.spec);
        let mut jars = self.host.jars.borrow_mut();
        let Some(jar) = jars.get_mut(j) else { return };
        for v in data.headers.get_all(http::header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let pair = v.split(';').next().unwrap_or("");
            let Some((n, val)) = pair.split_once('=') else { continue };
            let (n, val) = (n.trim().to_string(), val.trim().to_string());
            jar.retain(|(h, name, _)| *h != host_name || *name != n);
            jar.push((host_name.clone(), n, val));
        }
    }

    fn refresh_jar_view(turn: &mut Turn, vu: &Vu, hosts: &[String]) {
        let view = &mut turn.jar_view;
        view.clear();
        for h in hosts {
            for (n, v) in vu.cookies_for(h) {
                view.push((h.clone(), n, v));
            }
        }
    }

    /// Performs one op on the VU's connections and settles its promise.
    async fn perform(&self, w: &Worker, vu: &mut Vu, turn: &mut Turn, op: Op) {
        let Op { kind, resolve } = op;
        match kind {
            OpKind::Sleep(d) => {
                tokio::time::sleep(d).await;
                self.resume(turn, |ctx| {
                    if let Ok(f) = resolve.restore(ctx) {
                        let _ = f.call::<_, ()>(());
                    }
                });
            }
            OpKind::Request(call) => {
                let mut body = Vec::new();
                // Boxed: a VU waiting in sleep() holds none of a request's state.
                let data = Box::pin(vu.request(w, &call.spec, &mut body)).await;
                self.store_own_jar(&call, &data);
                if data.headers.contains_key(http::header::SET_COOKIE) {
                    Self::refresh_jar_view(turn, vu, &[call_host(&call.spec)]);
                }
                let settle = self.host.settle.borrow().clone();
                self.resume(turn, |ctx| {
                    // One call into JavaScript: the Response, then the resolve.
                    if let (Some(Ok(settle)), Ok(raw), Ok(resolve)) =
                        (settle.map(|f| f.restore(ctx)), response_object(ctx, &call, &data, body), resolve.restore(ctx))
                    {
                        let _ = settle.call::<_, ()>((resolve, raw));
                    }
                });
            }
            OpKind::Batch(calls) => {
                // Together, at most `batchPerHost` at once per origin (k6's
                // default 6) and `batch` in all (k6's 20), over the VU's
                // batch lanes.
                let specs: Vec<RequestSpec> = calls.iter().map(|c| c.spec.clone()).collect();
                let per_host = w.plan.target.batch_per_host;
                let results = Box::pin(vu.request_batch(w, &specs, per_host, self.host.shared.batch)).await;
                for (call, (data, _)) in calls.iter().zip(&results) {
                    self.store_own_jar(call, data);
                }
                let hosts: Vec<String> = calls.iter().map(|c| call_host(&c.spec)).collect();
                Self::refresh_jar_view(turn, vu, &hosts);
                self.resume(turn, |ctx| {
                    let Ok(arr) = Array::new(ctx.clone()) else { return };
                    for (i, (call, (data, body))) in calls.iter().zip(results).enumerate() {
                        if let Ok(raw) = response_object(ctx, call, &data, body) {
                            let _ = arr.set(i, raw);
                        }
                    }
                    if let Ok(f) = resolve.restore(ctx) {
                        let _ = f.call::<_, ()>((arr,));
                    }
                });
            }
        }
    }

    /// Drives the promise of a call until it settles (or nothing more can
    /// happen); returns the exception if it was rejected.
    async fn drive(
        &self,
        w: &Worker,
        vu: &mut Vu,
        turn: &mut Turn,
        result: Result<Persistent<Value<'static>>, (String, String)>,
    ) -> Result<Option<Persistent<Value<'static>>>, (String, String)> {
        let promise = result?;
        let mut ops = std::mem::take(&mut *self.host.spare_ops.borrow_mut());
        loop {
            self.sync_cookies(vu);
            // Swapped, not taken: neither list allocates again once grown.
            std::mem::swap(&mut ops, &mut *self.host.ops.borrow_mut());
            if ops.is_empty() {
                break;
            }
            for op in ops.drain(..) {
                self.perform(w, vu, turn, op).await;
            }
        }
        *self.host.spare_ops.borrow_mut() = ops;
        self.sync_cookies(vu);
        let bundle = &self.host.shared.bundle;
        self.ctx.with(|ctx| {
            let v = promise.restore(&ctx).map_err(|e| (String::new(), internal(e)))?;
            let Some(p) = v.as_promise() else { return Ok(Some(Persistent::save(&ctx, v))) };
            match p.state() {
                rquickjs::promise::PromiseState::Resolved => {
                    let r: Value =
                        p.result::<Value>().and_then(|r| r.ok()).unwrap_or_else(|| Value::new_undefined(ctx.clone()));
                    Ok(Some(Persistent::save(&ctx, r)))
                }
                rquickjs::promise::PromiseState::Rejected => {
                    let err = match p.result::<Value>() {
                        Some(Err(e)) => e,
                        _ => rquickjs::Error::Unknown,
                    };
                    Err(located_text(bundle, CaughtError::from_error(&ctx, err)))
                }
                rquickjs::promise::PromiseState::Pending => Err((
                    String::new(),
                    "the function awaited something that never settles (a promise no request or sleep resolves)"
                        .to_string(),
                )),
            }
        })
    }

    /// Calls an exported function of a VU (or of a hook's instance) with
    /// `args` and drives it to its end.
    async fn call_export(
        &self,
        w: &Worker,
        vu: &mut Vu,
        turn: &mut Turn,
        func: &Persistent<Function<'static>>,
        data: Option<&Persistent<Value<'static>>>,
    ) -> Result<Option<Persistent<Value<'static>>>, (String, String)> {
        let bundle = &self.host.shared.bundle;
        let started = self.resume(turn, |ctx| {
            let f = func.clone().restore(ctx).map_err(|e| (String::new(), internal(e)))?;
            let r: Value = match data {
                Some(d) => {
                    let d = d.clone().restore(ctx).map_err(|e| (String::new(), internal(e)))?;
                    f.call((d,))
                }
                None => f.call(()),
            }
            .catch(ctx)
            .map_err(|e| located_text(bundle, e))?;
            Ok(Persistent::save(ctx, r))
        });
        self.drive(w, vu, turn, started).await
    }
}

fn call_host(spec: &RequestSpec) -> String {
    spec.uri.host().unwrap_or("").to_string()
}

impl IterationBody for WorkerJs {
    fn new_vu(&self, _w: &Worker, vu: &mut Vu) -> Result<(), String> {
        let mut turn = Turn {
            vu: vu.id,
            scenario: vu.scenario,
            iteration: 0,
            in_test: None,
            groups: Vec::new(),
            rng: fastrand::Rng::with_seed(self.host.shared.seed ^ vu.id.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            jar_view: Vec::new(),
        };
        let name = self.host.shared.functions.get(vu.scenario as usize).cloned().unwrap_or_else(|| "default".into());
        let made = self.resume(&mut turn, |ctx| {
            let exports = self.instantiate(ctx)?;
            let f: Value = exports.get(name.as_str()).map_err(|e| (String::new(), internal(e)))?;
            let Some(f) = f.into_function() else {
                return Err((String::new(), format!("the script exports no function named '{name}'")));
            };
            Ok(Persistent::save(ctx, f))
        });
        match made {
            Ok(func) => {
                vu.set_ext(Box::new(JsVu { func, rng_seed: turn.rng.get_seed() }));
                // Init code's ops (none are allowed) are dropped.
                self.host.ops.borrow_mut().clear();
                Ok(())
            }
            Err((location, text)) => {
                let msg = if location.is_empty() {
                    format!("VU {}: init code: {text}", vu.id)
                } else {
                    format!("{location}: VU {}: exception in the init code: {text}", vu.id)
                };
                if let Ok(mut f) = self.host.shared.fatal.lock()
                    && f.is_none()
                {
                    eprintln!("error: {msg}");
                    *f = Some(msg.clone());
                }
                Err(msg)
            }
        }
    }

    fn iteration<'a>(&'a self, w: &'a Worker, vu: &'a mut Vu, in_test: Option<u64>) -> IterationFuture<'a> {
        Box::pin(async move {
            let (id, scenario, iteration) = (vu.id, vu.scenario, vu.iteration);
            let in_test = Some(in_test.unwrap_or_else(|| w.next_iteration_in_test(scenario)));
            let Some(st) = vu.ext::<JsVu>() else { return };
            let func = st.func.clone();
            let mut turn = Turn {
                vu: id,
                scenario,
                iteration,
                in_test,
                groups: Vec::new(),
                rng: fastrand::Rng::with_seed(st.rng_seed),
                jar_view: Vec::new(),
            };
            // As k6: each iteration starts with an empty cookie jar.
            vu.clear_cookies();
            let outcome = self.call_export(w, vu, &mut turn, &func, self.data.as_ref()).await;
            // Groups left open by an exception end with it.
            close_groups(w, &mut turn);
            // `exec.test.abort()` ends its iteration with an exception that
            // is not the script's error.
            if let Err((location, text)) = outcome.filter_abort(&self.host.shared) {
                self.host.shared.note_exception(
                    if location.is_empty() { "script" } else { &location },
                    &text,
                    vu.id,
                    vu.iteration,
                );
            }
            if let Some(st) = vu.ext::<JsVu>() {
                st.rng_seed = turn.rng.get_seed();
            }
            vu.iteration += 1;
            // An iteration that never blocked (no request, no sleep) gives
            // the worker's other tasks their turn now and then: the stop
            // timers and signals run on this thread too.
            tokio::task::consume_budget().await;
        })
    }
}

trait FilterAbort {
    fn filter_abort(self, shared: &Shared) -> Self;
}

impl<T: Default> FilterAbort for Result<T, (String, String)> {
    fn filter_abort(self, shared: &Shared) -> Self {
        match self {
            Err(_) if shared.aborted().is_some() => Ok(T::default()),
            other => other,
        }
    }
}

fn close_groups(w: &Worker, turn: &mut Turn) {
    while let Some(g) = turn.groups.pop() {
        w.record_group(turn.scenario, g.id, g.started.elapsed().as_micros() as u64);
    }
}

/// `file:LINE:COL` and text of an exception, located at its innermost frame
/// in one of the script's modules.
fn located_text(bundle: &Bundle, caught: CaughtError<'_>) -> (String, String) {
    let (text, stack) = match &caught {
        CaughtError::Exception(e) => {
            let name: Option<String> = e.get::<_, Option<String>>("name").ok().flatten();
            let message = e.message().unwrap_or_default();
            let text = match name {
                Some(n) if !n.is_empty() => format!("{n}: {message}"),
                _ => message,
            };
            (text, e.stack().unwrap_or_default())
        }
        CaughtError::Value(v) => (crate::init::describe_value(v), String::new()),
        CaughtError::Error(e) => (e.to_string(), String::new()),
    };
    let frame = crate::init::innermost_frame(bundle, &stack);
    match frame {
        Some((module, line, col)) => {
            let (l, c) = module.locate(line, col);
            (format!("{}:{l}:{c}", module.path.display()), text)
        }
        None => (String::new(), text),
    }
}

fn deep_freeze<'js>(ctx: &Ctx<'js>, v: &Value<'js>) -> rquickjs::Result<()> {
    let freeze: Function = ctx.eval(
        "(function f(v) { if (v !== null && typeof v === 'object') { Object.freeze(v); for (const k of Object.keys(v)) f(v[k]); } return v; })",
    )?;
    freeze.call::<_, Value>((v.clone(),))?;
    Ok(())
}

/// k6's `error_code` and `error` text of a failed request.
fn k6_error(kind: ErrorKind, status: u16) -> (u32, &'static str) {
    match kind {
        ErrorKind::Status4xx | ErrorKind::Status5xx => (1000 + status as u32, ""),
        ErrorKind::Timeout => (1050, "request timeout"),
        ErrorKind::Dns => (1100, "lookup failed"),
        ErrorKind::Refused => (1212, "connect: connection refused"),
        ErrorKind::Reset => (1220, "connection reset by peer"),
        ErrorKind::Tls => (1300, "tls error"),
        ErrorKind::TooManyRedirects => (1000, "stopped after too many redirects"),
        ErrorKind::Protocol => (1000, "protocol error"),
        ErrorKind::BodyTooLarge => (1000, "response body too large"),
        ErrorKind::NotAllowed => (1000, "destination not allowed"),
        ErrorKind::OpenFiles => (1000, "too many open files"),
        ErrorKind::Other => (1000, "request failed"),
    }
}

fn status_text(status: u16) -> String {
    let reason = http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    if status == 0 { String::new() } else { format!("{status} {reason}").trim_end().to_string() }
}

/// The raw response the shim wraps into a `Response` (see the shim for
/// the positions): an array, whose index sets are cheap, with headers as
/// one string, so a response costs few JavaScript values until the script
/// looks at its headers or timings.
fn response_object<'js>(
    ctx: &Ctx<'js>,
    call: &Call,
    data: &ResponseData,
    body: Vec<u8>,
) -> rquickjs::Result<Array<'js>> {
    let o = Array::new(ctx.clone())?;
    o.set(0, data.status)?;
    o.set(1, call.spec.method.as_str())?;
    o.set(2, data.url.as_str())?;
    o.set(3, data.proto)?;
    match call.rtype {
        ResponseType::None => o.set(4, Value::new_null(ctx.clone()))?,
        ResponseType::Text => {
            let text = String::from_utf8(body).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            o.set(4, text)?
        }
        ResponseType::Binary => o.set(4, ArrayBuffer::new(ctx.clone(), body)?)?,
    }
    let size: usize = data.headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 2).sum();
    let mut packed = String::with_capacity(size);
    for (name, value) in &data.headers {
        if !packed.is_empty() {
            packed.push('\0');
        }
        packed.push_str(name.as_str());
        packed.push('\0');
        match value.to_str() {
            Ok(v) => packed.push_str(v),
            Err(_) => packed.push_str(&String::from_utf8_lossy(value.as_bytes())),
        }
    }
    o.set(5, packed)?;
    match data.error {
        Some(kind) => {
            let (code, text) = k6_error(kind, data.status);
            o.set(6, text)?;
            o.set(7, code)?;
        }
        None => {
            o.set(6, "")?;
            o.set(7, 0)?;
        }
    }
    let tm = &data.timings;
    let ms = |us: u64| us as f64 / 1000.0;
    for (i, v) in [tm.duration(), tm.blocked, tm.connecting, tm.tls_handshaking, tm.sending, tm.waiting, tm.receiving]
        .into_iter()
        .enumerate()
    {
        o.set(8 + i, ms(v))?;
    }
    Ok(o)
}

fn throw(ctx: &Ctx<'_>, msg: impl AsRef<str>) -> rquickjs::Error {
    Exception::throw_message(ctx, msg.as_ref())
}

fn tag_set(base: &[String], flat: &[String]) -> stampede_scenario::TagSet {
    let mut pairs: Vec<(Arc<str>, Arc<str>)> = Vec::with_capacity((base.len() + flat.len()) / 2);
    for kv in base.chunks_exact(2).chain(flat.chunks_exact(2)) {
        let (k, v) = (Arc::from(kv[0].as_str()), Arc::from(kv[1].as_str()));
        match pairs.iter_mut().find(|(pk, _)| *pk == k) {
            Some(p) => p.1 = v,
            None => pairs.push((k, v)),
        }
    }
    pairs.sort();
    Arc::from(pairs)
}

impl Host {
    /// The id of the tag set of a sample: the scenario's tags, then `flat`.
    fn tags_id(&self, flat: &[String]) -> u32 {
        let scenario = self.turn.borrow().scenario as usize;
        let base = self.shared.scenario_tags.get(scenario).map_or(&[][..], |t| &t[..]);
        if base.is_empty() && flat.is_empty() {
            return 0;
        }
        self.w.intern_tags(&tag_set(base, flat))
    }

    /// An absolute URL, parsed (or as parsed lately).
    fn uri_of(&self, ctx: &Ctx<'_>, url: &str) -> rquickjs::Result<http::Uri> {
        if let Some(uri) = self.uris.borrow().get(url) {
            return Ok(uri);
        }
        let uri: http::Uri = url.parse().map_err(|e| throw(ctx, format!("invalid URL '{url}': {e}")))?;
        if uri.scheme().is_none() || uri.host().is_none() {
            return Err(throw(ctx, format!("invalid URL '{url}': k6 needs an absolute URL (http://host/path)")));
        }
        self.uris.borrow_mut().put(url.to_string(), uri.clone());
        Ok(uri)
    }

    /// A request's spec from the shim's prepared arguments.
    fn call_of<'js>(&self, ctx: &Ctx<'js>, args: &Array<'js>) -> rquickjs::Result<Call> {
        let method: String = args.get(0)?;
        let url: String = args.get(1)?;
        let body: Value = args.get(2)?;
        let headers: Vec<String> = args.get(3)?;
        let name: Option<String> = args.get(4)?;
        let tags: Vec<String> = args.get(5)?;
        let timeout: f64 = args.get(6)?;
        let redirects: f64 = args.get(7)?;
        let rtype: i32 = args.get(8)?;
        let expected: Option<Vec<u16>> = args.get(9)?;
        let jar: i32 = args.get::<Option<i32>>(10)?.unwrap_or(-1);
        let method = http::Method::from_bytes(method.as_bytes())
            .map_err(|_| throw(ctx, format!("invalid HTTP method '{method}'")))?;
        let mut map = http::HeaderMap::new();
        for kv in headers.chunks_exact(2) {
            let n = http::HeaderName::from_bytes(kv[0].as_bytes())
                .map_err(|_| throw(ctx, format!("invalid header name '{}'", kv[0])))?;
            let v = http::HeaderValue::from_str(&kv[1])
                .map_err(|_| throw(ctx, format!("invalid value of header '{}'", kv[0])))?;
            map.append(n, v);
        }
        let body = if body.is_null() || body.is_undefined() {
            Bytes::new()
        } else if let Some(s) = body.as_string() {
            Bytes::from(s.to_string()?)
        } else if let Some(b) = ArrayBuffer::from_value(body.clone()) {
            Bytes::from(buffer_bytes(&b))
        } else {
            Bytes::from(String::from_js(ctx, body)?)
        };
        let rtype = match rtype {
            1 => ResponseType::Binary,
            2 => ResponseType::None,
            _ => ResponseType::Text,
        };
        let expected = expected.map(|v| v.chunks_exact(2).map(|p| (p[0], p[1])).collect::<Arc<[_]>>());
        let parts = Parts { method, url, body, headers: map, name, tags, timeout, redirects, rtype, expected, jar };
        self.call_from(ctx, parts)
    }

    /// `http.get(url)` without params: k6's defaults, the run's response
    /// type and the script's response callback (no arguments to read).
    fn plain_get(&self, ctx: &Ctx<'_>, url: String) -> rquickjs::Result<Call> {
        let parts = Parts {
            method: http::Method::GET,
            url,
            body: Bytes::new(),
            headers: http::HeaderMap::new(),
            name: None,
            tags: Vec::new(),
            timeout: -1.0,
            redirects: -1.0,
            rtype: if self.shared.discard_bodies { ResponseType::None } else { ResponseType::Text },
            expected: self.expected.borrow().clone(),
            jar: -1,
        };
        self.call_from(ctx, parts)
    }

    fn call_from(&self, ctx: &Ctx<'_>, r: Parts) -> rquickjs::Result<Call> {
        let Parts { method, url, body, headers, name, tags, timeout, redirects, rtype, expected, jar } = r;
        let uri = self.uri_of(ctx, &url)?;
        let w = &self.w;
        let name_id = w.intern(NameKind::Request, name.as_deref().unwrap_or(&url));
        let tags_id = self.tags_id(&tags);
        let spec = RequestSpec {
            method,
            uri,
            headers,
            body,
            name: name_id,
            group: self.turn.borrow().group(),
            tags: tags_id,
            max_redirects: if redirects < 0.0 { w.plan.target.max_redirects } else { redirects as u32 },
            timeout: (timeout >= 0.0).then(|| Duration::from_secs_f64(timeout / 1000.0)),
            keep_body: rtype != ResponseType::None,
            name_by_url: name.is_none(),
            expected,
            own_jar: jar > 0,
        };
        let mut call = Call { spec, rtype, jar: (jar > 0).then_some(jar as usize) };
        if let Some(j) = call.jar {
            // A jar of its own: its cookies for this host, none of the VU's.
            let host_name = call.spec.uri.host().unwrap_or("").to_string();
            let jars = self.jars.borrow();
            let pairs: Vec<String> = jars
                .get(j)
                .map(|c| c.iter().filter(|(h, _, _)| *h == host_name).map(|(_, n, v)| format!("{n}={v}")).collect())
                .unwrap_or_default();
            if !pairs.is_empty()
                && let Ok(v) = http::HeaderValue::from_str(&pairs.join("; "))
            {
                call.spec.headers.insert(http::header::COOKIE, v);
            }
        }
        Ok(call)
    }

    fn queue<'js>(&self, ctx: &Ctx<'js>, kind: OpKind) -> rquickjs::Result<Promise<'js>> {
        let (promise, resolve, _reject) = ctx.promise()?;
        self.ops.borrow_mut().push(Op { kind, resolve: Persistent::save(ctx, resolve) });
        Ok(promise)
    }
}

/// Defines the host functions and runs the shim; returns `__k6`.
fn install<'js>(ctx: &Ctx<'js>, host: &Rc<Host>) -> rquickjs::Result<Object<'js>> {
    let h = Object::new(ctx.clone())?;
    let env_of = |pairs: &[(String, String)]| -> rquickjs::Result<Object<'js>> {
        let o = Object::new(ctx.clone())?;
        for (k, v) in pairs {
            o.set(k.as_str(), v.as_str())?;
        }
        Ok(o)
    };
    h.set("env", env_of(&host.shared.env)?)?;
    let envs = Array::new(ctx.clone())?;
    for (i, pairs) in host.shared.scenario_env.iter().enumerate() {
        envs.set(i, env_of(pairs)?)?;
    }
    h.set("envs", envs)?;
    let hs = host.clone();
    h.set("scenarioIndex", Function::new(ctx.clone(), move || hs.turn.borrow().scenario)?)?;

    let hs = host.clone();
    h.set(
        "request",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, args: Array<'js>| -> rquickjs::Result<Promise<'js>> {
            let call = hs.call_of(&ctx, &args)?;
            hs.queue(&ctx, OpKind::Request(Box::new(call)))
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "get",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, url: String| -> rquickjs::Result<Promise<'js>> {
            let call = hs.plain_get(&ctx, url)?;
            hs.queue(&ctx, OpKind::Request(Box::new(call)))
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "setExpected",
        Function::new(ctx.clone(), move |flat: Option<Vec<u16>>| {
            *hs.expected.borrow_mut() = flat.map(|v| v.chunks_exact(2).map(|p| (p[0], p[1])).collect::<Arc<[_]>>());
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "batch",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, list: Array<'js>| -> rquickjs::Result<Promise<'js>> {
            let mut calls = Vec::with_capacity(list.len());
            for item in list.iter::<Array>() {
                calls.push(hs.call_of(&ctx, &item?)?);
            }
            hs.queue(&ctx, OpKind::Batch(calls))
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "sleep",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, secs: f64| -> rquickjs::Result<Promise<'js>> {
            let d = if secs.is_finite() && secs > 0.0 { Duration::from_secs_f64(secs) } else { Duration::ZERO };
            hs.queue(&ctx, OpKind::Sleep(d))
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "check",
        Function::new(ctx.clone(), move |name: String, pass: bool, tags: Vec<String>| {
            let id = hs.w.intern(NameKind::Check, &name);
            let (scenario, group) = {
                let turn = hs.turn.borrow();
                (turn.scenario, turn.group())
            };
            hs.w.record_check_tagged(scenario, id, group, hs.tags_id(&tags), pass);
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "groupEnter",
        Function::new(ctx.clone(), move |name: String| {
            let mut turn = hs.turn.borrow_mut();
            let path = format!("{}::{name}", turn.groups.last().map_or("", |g| g.path.as_str()));
            let id = hs.w.intern(NameKind::Group, &path);
            turn.groups.push(OpenGroup { id, path, started: Instant::now() });
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "groupExit",
        Function::new(ctx.clone(), move || {
            let mut turn = hs.turn.borrow_mut();
            if let Some(g) = turn.groups.pop() {
                hs.w.record_group(turn.scenario, g.id, g.started.elapsed().as_micros() as u64);
            }
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "metricId",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, kind: String, name: String, _time: bool| -> rquickjs::Result<u32> {
                match hs.w.plan.metrics.iter().position(|m| *m.name == *name) {
                    Some(i) if hs.w.plan.metrics[i].kind.name().eq_ignore_ascii_case(&kind) => Ok(i as u32),
                    Some(i) => Err(throw(
                        &ctx,
                        format!("metric '{name}' already exists as a {}", hs.w.plan.metrics[i].kind.name()),
                    )),
                    None => Err(throw(
                        &ctx,
                        format!(
                            "metric '{name}' was not declared when the script was loaded: declare custom metrics unconditionally at the top level of a module"
                        ),
                    )),
                }
            },
        )?,
    )?;
    let hs = host.clone();
    h.set(
        "metricAdd",
        Function::new(ctx.clone(), move |id: u32, value: f64, tags: Vec<String>| {
            let tags_id = hs.tags_id(&tags);
            let turn = hs.turn.borrow();
            let mid = MetricId {
                metric: id as u16,
                scenario: turn.scenario,
                name: MetricId::NO_NAME,
                group: turn.group(),
                tags: tags_id,
            };
            hs.w.record_metric(mid, Some(value), hs.w.since_start_us());
        })?,
    )?;
    let hs = host.clone();
    h.set("vuId", Function::new(ctx.clone(), move || hs.turn.borrow().vu)?)?;
    let hs = host.clone();
    h.set("iter", Function::new(ctx.clone(), move || hs.turn.borrow().iteration)?)?;
    let hs = host.clone();
    h.set(
        "iterationInTest",
        Function::new(ctx.clone(), move || {
            let t = hs.turn.borrow();
            t.in_test.unwrap_or(t.iteration)
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "scenarioName",
        Function::new(ctx.clone(), move || {
            let t = hs.turn.borrow();
            hs.w.plan.scenarios.get(t.scenario as usize).map(|s| s.name.to_string()).unwrap_or_default()
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "executor",
        Function::new(ctx.clone(), move || {
            let t = hs.turn.borrow();
            hs.w.plan.scenarios.get(t.scenario as usize).map(|s| s.executor.name().to_string()).unwrap_or_default()
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "scenarioStart",
        Function::new(ctx.clone(), move || {
            let t = hs.turn.borrow();
            let start = hs.w.plan.scenarios.get(t.scenario as usize).map(|s| s.start_time).unwrap_or_default();
            let now = std::time::SystemTime::now();
            let began = now - Duration::from_micros(hs.w.since_start_us()) + start;
            began.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as f64
        })?,
    )?;
    let hs = host.clone();
    h.set("vusActive", Function::new(ctx.clone(), move || hs.w.plan.peak_vus())?)?;
    let hs = host.clone();
    h.set("testDuration", Function::new(ctx.clone(), move || hs.w.since_start_us() as f64 / 1000.0)?)?;
    let hs = host.clone();
    h.set(
        "options",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>| -> rquickjs::Result<Value<'js>> {
            ctx.json_parse(hs.shared.options_json.as_str())
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "abort",
        Function::new(ctx.clone(), move |reason: String| {
            if let Ok(mut a) = hs.shared.abort.lock()
                && a.is_none()
            {
                *a = Some(reason);
            }
            hs.w.halt();
            if let Some(s) = hs.shared.stopper.get() {
                let _ = s.send(stampede_engine::Signal::Abort);
            }
        })?,
    )?;
    let hs = host.clone();
    h.set("random", Function::new(ctx.clone(), move || hs.turn.borrow_mut().rng.f64())?)?;
    let hs = host.clone();
    h.set(
        "randomSeed",
        Function::new(ctx.clone(), move |seed: f64| {
            hs.turn.borrow_mut().rng = fastrand::Rng::with_seed(seed as u64);
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "log",
        Function::new(ctx.clone(), move |level: String, text: String| {
            let vu = hs.turn.borrow().vu;
            hs.shared.console(&level, &text, vu);
        })?,
    )?;
    h.set("statusText", Function::new(ctx.clone(), status_text)?)?;
    let hs = host.clone();
    h.set(
        "defaultResponseType",
        Function::new(ctx.clone(), move || if hs.shared.discard_bodies { "none" } else { "text" })?,
    )?;
    let hs = host.clone();
    h.set(
        "open",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, path: String, mode: String| -> rquickjs::Result<Value<'js>> {
            let full = {
                let p = Path::new(&path);
                crate::transform::normalize(&if p.is_absolute() { p.to_path_buf() } else { hs.dir.borrow().join(p) })
            };
            let Some(file) = hs.shared.files.iter().find(|f| f.path == full || f.written == path) else {
                return Err(throw(
                    &ctx,
                    format!(
                        "open({path:?}): only files opened by the init code when the script was loaded can be read"
                    ),
                ));
            };
            if mode == "b" {
                return Ok(ArrayBuffer::new_copy(ctx.clone(), &file.bytes[..])?.into_value());
            }
            let text = String::from_utf8_lossy(&file.bytes);
            Ok(rquickjs::String::from_str(ctx.clone(), &text)?.into_value())
        })?,
    )?;
    h.set(
        "utf8",
        Function::new(ctx.clone(), |b: ArrayBuffer<'js>| String::from_utf8_lossy(&buffer_bytes(&b)).into_owned())?,
    )?;
    let hs = host.clone();
    h.set(
        "boundary",
        Function::new(ctx.clone(), move || {
            let n = hs.boundary.get().wrapping_add(1);
            hs.boundary.set(n);
            format!("{:016x}", hs.shared.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        })?,
    )?;
    h.set(
        "multipart",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, parts: Array<'js>, end: String| -> rquickjs::Result<ArrayBuffer<'js>> {
                let mut out = Vec::new();
                for p in parts.iter::<Object>() {
                    let p = p?;
                    let head: String = p.get("head")?;
                    out.extend_from_slice(head.as_bytes());
                    let data: Value = p.get("data")?;
                    if let Some(s) = data.as_string() {
                        out.extend_from_slice(s.to_string()?.as_bytes());
                    } else if let Some(b) = ArrayBuffer::from_value(data.clone()) {
                        out.extend_from_slice(&buffer_bytes(&b));
                    } else if let Ok(bytes) = Vec::<u8>::from_js(&ctx, data) {
                        out.extend_from_slice(&bytes);
                    }
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(end.as_bytes());
                ArrayBuffer::new(ctx.clone(), out)
            },
        )?,
    )?;
    let hs = host.clone();
    h.set(
        "responseCookies",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, set_cookie: String, _url: String| {
            let _ = &hs;
            response_cookies(&ctx, &set_cookie)
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "jarCookies",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, jar: u32, url: String| -> rquickjs::Result<Object<'js>> {
            let host_name =
                url.parse::<http::Uri>().ok().and_then(|u| u.host().map(str::to_string)).unwrap_or_default();
            let o = Object::new(ctx.clone())?;
            let own = hs.jars.borrow();
            let turn = hs.turn.borrow();
            let cookies = if jar == 0 { &turn.jar_view[..] } else { own.get(jar as usize).map_or(&[][..], |j| &j[..]) };
            for (h, n, v) in cookies.iter() {
                if *h == host_name {
                    let arr = Array::new(ctx.clone())?;
                    arr.set(0, v.as_str())?;
                    o.set(n.as_str(), arr)?;
                }
            }
            Ok(o)
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "jarSet",
        Function::new(
            ctx.clone(),
            move |jar: u32, url: String, name: String, value: String, _opts: Opt<Value<'js>>| {
                let host_name =
                    url.parse::<http::Uri>().ok().and_then(|u| u.host().map(str::to_string)).unwrap_or_default();
                if jar > 0 {
                    if let Some(j) = hs.jars.borrow_mut().get_mut(jar as usize) {
                        j.retain(|(h, n, _)| *h != host_name || *n != name);
                        j.push((host_name, name, value));
                    }
                    return;
                }
                let mut turn = hs.turn.borrow_mut();
                let view = &mut turn.jar_view;
                match view.iter_mut().find(|(h, n, _)| *h == host_name && *n == name) {
                    Some(e) => e.2 = value.clone(),
                    None => view.push((host_name.clone(), name.clone(), value.clone())),
                }
                hs.cookie_ops.borrow_mut().push(CookieOp::Set { host: host_name, name, value });
            },
        )?,
    )?;
    let hs = host.clone();
    h.set(
        "jarClear",
        Function::new(ctx.clone(), move |_jar: u32, url: String| {
            let host_name =
                url.parse::<http::Uri>().ok().and_then(|u| u.host().map(str::to_string)).unwrap_or_default();
            hs.turn.borrow_mut().jar_view.retain(|(h, _, _)| *h != host_name);
            hs.cookie_ops.borrow_mut().push(CookieOp::Clear { host: host_name, name: None });
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "jarDelete",
        Function::new(ctx.clone(), move |_jar: u32, url: String, name: String| {
            let host_name =
                url.parse::<http::Uri>().ok().and_then(|u| u.host().map(str::to_string)).unwrap_or_default();
            hs.turn.borrow_mut().jar_view.retain(|(h, n, _)| *h != host_name || *n != name);
            hs.cookie_ops.borrow_mut().push(CookieOp::Clear { host: host_name, name: Some(name) });
        })?,
    )?;
    let hs = host.clone();
    h.set(
        "newJar",
        Function::new(ctx.clone(), move || {
            let mut jars = hs.jars.borrow_mut();
            jars.push(Vec::new());
            (jars.len() - 1) as u32
        })?,
    )?;
    crate::init::install_encoding(ctx, &h)?;
    crate::crypto::install(ctx, &h)?;
    crate::html::install(ctx, &h)?;

    let setup: Function = ctx.eval(SHIM)?;
    setup.call((h,))
}

/// `res.cookies`: name → [{ name, value, domain, path, http_only, secure,
/// max_age, expires }] from the response's `Set-Cookie` values.
fn response_cookies<'js>(ctx: &Ctx<'js>, set_cookie: &str) -> rquickjs::Result<Object<'js>> {
    let o = Object::new(ctx.clone())?;
    // Joined with ", " by the headers object; an `Expires` date holds ", " too.
    let mut values: Vec<String> = Vec::new();
    for piece in set_cookie.split(", ") {
        let starts_cookie = piece.split(';').next().is_some_and(|p| p.contains('='))
            && !piece.chars().next().is_some_and(|c| c.is_ascii_digit());
        match values.last_mut() {
            Some(last) if !starts_cookie => {
                last.push_str(", ");
                last.push_str(piece);
            }
            _ => values.push(piece.to_string()),
        }
    }
    for v in values {
        let mut attrs = v.split(';');
        let Some((name, value)) = attrs.next().and_then(|p| p.split_once('=')) else { continue };
        let c = Object::new(ctx.clone())?;
        c.set("name", name.trim())?;
        c.set("value", value.trim())?;
        c.set("domain", "")?;
        c.set("path", "")?;
        c.set("http_only", false)?;
        c.set("secure", false)?;
        c.set("max_age", 0)?;
        c.set("expires", 0)?;
        for a in attrs {
            let (k, val) = a.split_once('=').unwrap_or((a, ""));
            match k.trim().to_ascii_lowercase().as_str() {
                "domain" => c.set("domain", val.trim())?,
                "path" => c.set("path", val.trim())?,
                "httponly" => c.set("http_only", true)?,
                "secure" => c.set("secure", true)?,
                "max-age" => c.set("max_age", val.trim().parse::<i64>().unwrap_or(0))?,
                _ => {}
            }
        }
        let list: Array = match o.get::<_, Option<Array>>(name.trim())? {
            Some(a) => a,
            None => {
                let a = Array::new(ctx.clone())?;
                o.set(name.trim(), a.clone())?;
                a
            }
        };
        list.set(list.len(), c)?;
    }
    Ok(o)
}

/// A copy of an ArrayBuffer's bytes (empty when detached).
#[allow(unsafe_code)]
fn buffer_bytes(b: &ArrayBuffer<'_>) -> Vec<u8> {
    // SAFETY: the slice is copied at once, while no JavaScript runs that
    // could detach or resize the buffer (this thread holds the runtime).
    unsafe { b.as_bytes() }.map(<[u8]>::to_vec).unwrap_or_default()
}

/// Why `setup()` or `teardown()` did not complete.
#[derive(Debug, Clone)]
pub enum HookError {
    /// It threw (`file:LINE:COL: text`).
    Exception(String),
    /// It ran longer than its timeout.
    Timeout(Duration),
    /// The runtime could not run it.
    Internal(String),
}

impl std::fmt::Display for HookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookError::Exception(e) | HookError::Internal(e) => f.write_str(e),
            HookError::Timeout(d) => write!(f, "it ran longer than its timeout ({d:?})"),
        }
    }
}

/// Runs the exported function `function` (`setup` or `teardown`) once, on
/// a thread of its own, as k6 does: a fresh instance of the script (VU 0),
/// `data` (JSON) as its argument. Returns its result as JSON (`None` for
/// `undefined`) and what its requests measured.
pub async fn run_hook(
    sp: &ScriptPlan,
    body: &ScriptBody,
    function: &'static str,
    data: Option<String>,
    timeout: Duration,
) -> Result<(Option<String>, stampede_metrics::Snapshot), HookError> {
    let shared = body.shared.clone();
    let run = Box::new(
        move |w: Rc<Worker>, mut vu: Box<Vu>| -> stampede_engine::LocalFuture<Result<Option<String>, HookError>> {
            Box::pin(async move {
                let js = WorkerJs::new(shared, w.clone(), None).map_err(HookError::Internal)?;
                let work = js.hook(&w, &mut vu, function, data);
                match tokio::time::timeout(timeout, work).await {
                    Ok(r) => r,
                    Err(_) => Err(HookError::Timeout(timeout)),
                }
            })
        },
    );
    let (result, measured) = stampede_engine::run_apart(sp.plan.clone(), body.shared.seed, function, run)
        .await
        .map_err(|e| HookError::Internal(e.to_string()))?;
    result.map(|r| (r, measured))
}

impl WorkerJs {
    /// `function(data)` of a fresh instance, driven to its end; its result
    /// as JSON.
    async fn hook(
        &self,
        w: &Worker,
        vu: &mut Vu,
        function: &str,
        data: Option<String>,
    ) -> Result<Option<String>, HookError> {
        let mut turn = Turn::idle();
        turn.rng = fastrand::Rng::with_seed(self.host.shared.seed);
        let located = |(location, text): (String, String)| {
            HookError::Exception(if location.is_empty() { text } else { format!("{location}: {text}") })
        };
        let made = self.resume(&mut turn, |ctx| {
            let exports = self.instantiate(ctx)?;
            let f: Value = exports.get(function).map_err(|e| (String::new(), internal(e)))?;
            let f = f.into_function().ok_or_else(|| (String::new(), format!("no exported function '{function}'")))?;
            let data = match &data {
                None => None,
                Some(json) => {
                    let v: Value = ctx.json_parse(json.as_str()).map_err(|e| (String::new(), internal(e)))?;
                    Some(Persistent::save(ctx, v))
                }
            };
            Ok((Persistent::save(ctx, f), data))
        });
        let (func, data) = made.map_err(located)?;
        self.host.ops.borrow_mut().clear();
        let result = self.call_export(w, vu, &mut turn, &func, data.as_ref()).await;
        close_groups(w, &mut turn);
        let result = result.map_err(located)?;
        let Some(value) = result else { return Ok(None) };
        self.ctx.with(|ctx| {
            let v = value.restore(&ctx).map_err(|e| HookError::Internal(internal(e)))?;
            if v.is_undefined() {
                return Ok(None);
            }
            let json = ctx.json_stringify(v).catch(&ctx).map_err(|e| {
                HookError::Exception(format!("{function}() returned a value that cannot be turned into JSON: {e}"))
            })?;
            match json {
                None => Ok(None),
                Some(s) => Ok(Some(s.to_string().map_err(|e| HookError::Internal(internal(e)))?)),
            }
        })
    }
}
