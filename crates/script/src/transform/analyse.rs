//! The blocking analysis over every module of a script at once, the
//! refusals it finds, and the edits that make blocking code asynchronous.
//!
//! Two levels:
//! - **certain**: a call blocks when it is a blocking k6 call, or calls a
//!   resolved user function (across modules) that certainly blocks, or is
//!   `group`/`check`/an array method whose resolved callback certainly
//!   blocks. Only certain blocking is refused (init code, getters, sort
//!   callbacks, …): a refusal is never a guess.
//! - **maybe** (a superset): also name-based method calls (`api.get()` when
//!   some blocking function is reachable as a property `get`), and calls
//!   through unknown callees (a parameter, `obj[k]()`) when a blocking
//!   function value escapes where the analysis cannot follow it, or is
//!   reachable as a property. Maybe-blocking calls are awaited where the
//!   enclosing function can become async (an `await` on a value that is
//!   not a promise only costs time), and left alone, with a warning, where
//!   it cannot.

use std::collections::{HashMap, HashSet};

use stampede_scenario::ScenarioError;

use super::collect::{Callee, Edit, ExportTarget, FnKind, FnRef, Import, LocalName, ModuleInfo, located};
use crate::api;

/// What a call may reach.
#[derive(Debug, Default)]
struct Target {
    primitive: bool,
    /// User functions (global indexes).
    fns: Vec<usize>,
    /// Something the analysis cannot resolve.
    unknown: bool,
    /// Name-based: `x.name()`.
    member: Option<String>,
}

/// What an imported or exported name resolves to.
enum Resolution {
    Fns(Vec<usize>),
    K6(&'static api::K6Module, Option<String>),
    Unknown,
    Missing,
}

struct Graph<'m> {
    mods: &'m [ModuleInfo],
    /// First global function index of each module.
    base: Vec<usize>,
}

impl Graph<'_> {
    fn global(&self, m: usize, i: usize) -> usize {
        self.base[m] + i
    }

    fn fn_at(&self, m: usize, start: u32) -> Option<usize> {
        self.mods[m].fn_by_start.get(&start).map(|&i| self.global(m, i))
    }

    fn resolve_sym(&self, m: usize, sym: oxc_semantic::SymbolId, depth: u32) -> Resolution {
        let module = &self.mods[m];
        if let Some(starts) = module.sym_fns.get(&sym) {
            let fns: Vec<usize> = starts.iter().filter_map(|s| self.fn_at(m, *s)).collect();
            if !fns.is_empty() {
                return Resolution::Fns(fns);
            }
        }
        match module.imports.get(&sym) {
            Some(Import::Local(target, name)) => self.resolve_export(*target, name, depth + 1),
            Some(Import::K6Member(k, member)) => Resolution::K6(k, Some(member.clone())),
            Some(Import::K6Module(k)) => Resolution::K6(k, None),
            None => Resolution::Unknown,
        }
    }

    fn resolve_export(&self, m: usize, name: &LocalName, depth: u32) -> Resolution {
        if depth > 64 || m >= self.mods.len() {
            return Resolution::Unknown;
        }
        let wanted = match name {
            LocalName::Namespace => return Resolution::Unknown,
            LocalName::Default => "default",
            LocalName::Named(n) => n.as_str(),
        };
        let module = &self.mods[m];
        if let Some((_, target)) = module.exports.iter().find(|(n, _)| n == wanted) {
            return match target {
                ExportTarget::Sym(sym, _) => self.resolve_sym(m, *sym, depth),
                ExportTarget::DefaultFn(start) => {
                    self.fn_at(m, *start).map_or(Resolution::Unknown, |f| Resolution::Fns(vec![f]))
                }
                ExportTarget::DefaultValue => Resolution::Unknown,
                ExportTarget::ReExport(t, n) => self.resolve_export(*t, n, depth + 1),
                ExportTarget::K6(k, member) => Resolution::K6(k, member.clone()),
            };
        }
        if wanted != "default" {
            for &star in &module.star_exports {
                match self.resolve_export(star, name, depth + 1) {
                    Resolution::Missing => continue,
                    found => return found,
                }
            }
        }
        Resolution::Missing
    }

    fn target_of_resolution(&self, r: Resolution, t: &mut Target) {
        match r {
            Resolution::Fns(f) => t.fns.extend(f),
            Resolution::K6(k, Some(member)) if k.blocks(&member) => t.primitive = true,
            Resolution::K6(..) => {}
            Resolution::Unknown | Resolution::Missing => t.unknown = true,
        }
    }

    fn fn_ref(&self, m: usize, r: &FnRef, t: &mut Target) {
        match r {
            FnRef::Literal(start) => match self.fn_at(m, *start) {
                Some(f) => t.fns.push(f),
                None => t.unknown = true,
            },
            FnRef::Sym(sym) => self.target_of_resolution(self.resolve_sym(m, *sym, 0), t),
            FnRef::Opaque => t.unknown = true,
        }
    }

    fn target(&self, m: usize, callee: &Callee) -> Target {
        let mut t = Target::default();
        match callee {
            Callee::Primitive => t.primitive = true,
            Callee::Group { cb: Some(r) } => self.fn_ref(m, r, &mut t),
            Callee::Group { cb: None } => {}
            Callee::Check { cbs, opaque } => {
                for r in cbs {
                    self.fn_ref(m, r, &mut t);
                }
                // Checks held in a variable: functions reachable as properties.
                if *opaque {
                    t.unknown = true;
                }
            }
            Callee::ArrayHof { cb, .. } => self.fn_ref(m, cb, &mut t),
            Callee::Direct(sym) => self.target_of_resolution(self.resolve_sym(m, *sym, 0), &mut t),
            Callee::Literal(start) => self.fn_ref(m, &FnRef::Literal(*start), &mut t),
            Callee::NamespaceMember(target, name) => {
                self.target_of_resolution(self.resolve_export(*target, &LocalName::Named(name.clone()), 1), &mut t)
            }
            Callee::Member(name) => t.member = Some(name.clone()),
            Callee::Computed => t.unknown = true,
            Callee::NotBlocking => {}
        }
        t
    }
}

/// Flat view of one function across modules.
struct FnView {
    module: usize,
    index: usize,
    can_async: bool,
    is_async: bool,
    escapes: bool,
    prop_names: Vec<String>,
    sync_consumer: Option<String>,
}

/// Blocking functions and calls at one level, with the functions to visit.
struct Level {
    fns: Vec<bool>,
    calls: Vec<bool>,
    queue: Vec<usize>,
}

impl Level {
    fn new(fns: usize, calls: usize) -> Level {
        Level { fns: vec![false; fns], calls: vec![false; calls], queue: Vec::new() }
    }

    /// Call `i` blocks, and so does its function when it `can` (a function
    /// that cannot become async is left as it is at the maybe level).
    fn mark(&mut self, i: usize, in_fns: &[Option<usize>], can: impl Fn(usize) -> bool) {
        if self.calls[i] {
            return;
        }
        self.calls[i] = true;
        if let Some(f) = in_fns[i]
            && !self.fns[f]
            && can(f)
        {
            self.fns[f] = true;
            self.queue.push(f);
        }
    }
}

/// Runs the analysis; on success the modules' `edits` are complete and the
/// warnings are returned. Errors are every refusal found, in module order.
pub(crate) fn analyse(
    mods: &mut [ModuleInfo],
    shown: &dyn Fn(&std::path::Path) -> String,
) -> Result<(Vec<ScenarioError>, Vec<super::Stats>), Vec<ScenarioError>> {
    let mut base = Vec::with_capacity(mods.len());
    let mut total = 0;
    for m in mods.iter() {
        base.push(total);
        total += m.fns.len();
    }
    let graph = Graph { mods: &*mods, base };
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    // Imports of names a local module does not export fail at link time in k6.
    for m in graph.mods {
        for b in &m.bindings {
            if let Import::Local(target, name @ (LocalName::Named(_) | LocalName::Default)) = &b.source
                && matches!(graph.resolve_export(*target, name, 0), Resolution::Missing)
            {
                let wanted = match name {
                    LocalName::Named(n) => n.as_str(),
                    _ => "default",
                };
                let target_mod = &graph.mods[*target];
                let exported: Vec<&str> = target_mod.exports.iter().map(|(n, _)| n.as_str()).collect();
                errors.push(located(
                    &m.path,
                    &m.src,
                    b.span,
                    "",
                    format!("{} has no export named '{wanted}'", shown(&target_mod.path)),
                    if exported.is_empty() {
                        "it exports nothing".to_string()
                    } else {
                        format!("it exports: {}", exported.join(", "))
                    },
                ));
            }
        }
    }

    // Functions, flat.
    let mut fns: Vec<FnView> = Vec::with_capacity(total);
    for (mi, m) in graph.mods.iter().enumerate() {
        for (i, f) in m.fns.iter().enumerate() {
            fns.push(FnView {
                module: mi,
                index: i,
                can_async: f.kind == FnKind::Normal,
                is_async: f.is_async,
                escapes: !f.bound,
                prop_names: if f.tracked { Vec::new() } else { f.prop_names.clone() },
                sync_consumer: None,
            });
        }
    }
    let mut k6_escapes = false;
    for (mi, m) in graph.mods.iter().enumerate() {
        k6_escapes |= m.k6_escapes;
        for sym in &m.value_refs {
            if let Resolution::Fns(list) = graph.resolve_sym(mi, *sym, 0) {
                for f in list {
                    fns[f].escapes = true;
                }
            }
        }
        for (sym, name) in &m.prop_aliases {
            if let Resolution::Fns(list) = graph.resolve_sym(mi, *sym, 0) {
                for f in list {
                    fns[f].prop_names.push(name.clone());
                }
            }
        }
        for (r, consumer, _) in &m.sync_refs {
            let mut t = Target::default();
            graph.fn_ref(mi, r, &mut t);
            for f in t.fns {
                fns[f].sync_consumer = Some(consumer.clone());
                fns[f].can_async = false;
                // Given to a builtin, not escaping to unknown code.
                if matches!(r, FnRef::Literal(_)) {
                    fns[f].escapes = false;
                }
            }
        }
    }

    // Calls, flat.
    struct Call {
        module: usize,
        index: usize,
        in_fn: Option<usize>,
        target: Target,
    }
    let mut calls: Vec<Call> = Vec::new();
    for (mi, m) in graph.mods.iter().enumerate() {
        for (ci, c) in m.calls.iter().enumerate() {
            calls.push(Call {
                module: mi,
                index: ci,
                in_fn: c.in_fn.map(|i| graph.global(mi, i)),
                target: graph.target(mi, &c.callee),
            });
        }
    }

    // Who calls each function: a function that turns out to block makes
    // these calls block (worklists: linear in the calls, whatever the order).
    let mut callers_of: Vec<Vec<usize>> = vec![Vec::new(); fns.len()];
    let mut by_member: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut unknown_calls = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        for &f in &call.target.fns {
            callers_of[f].push(i);
        }
        if let Some(m) = &call.target.member {
            by_member.entry(m.as_str()).or_default().push(i);
        }
        if call.target.unknown {
            unknown_calls.push(i);
        }
    }
    let in_fns: Vec<Option<usize>> = calls.iter().map(|c| c.in_fn).collect();

    // Certain.
    let mut certain = Level::new(fns.len(), calls.len());
    for (i, call) in calls.iter().enumerate() {
        if call.target.primitive {
            certain.mark(i, &in_fns, |_| true);
        }
    }
    while let Some(f) = certain.queue.pop() {
        for &i in &callers_of[f] {
            certain.mark(i, &in_fns, |_| true);
        }
    }
    let (fn_c, call_c) = (certain.fns.clone(), certain.calls.clone());

    // Maybe: from the certain ones, through names and unknown callees.
    let mut maybe = certain;
    maybe.queue = (0..fns.len()).filter(|&f| maybe.fns[f]).collect();
    let can_async = |f: usize| fns[f].can_async;
    let mut unknown_blocks = false;
    let mut props: HashSet<&str> = HashSet::new();
    let mut pending_props: Vec<&str> = Vec::new();
    if k6_escapes {
        // `const get = http.get` somewhere: any call through a value or a
        // member of that name may be a request.
        unknown_blocks = true;
        for name in api::HTTP_REQUESTS.iter().chain(&["sleep"]) {
            props.insert(name);
            pending_props.push(name);
        }
    }
    let mut rescan_unknown = unknown_blocks;
    loop {
        if let Some(f) = maybe.queue.pop() {
            for &i in &callers_of[f] {
                maybe.mark(i, &in_fns, can_async);
            }
            if fns[f].escapes || !fns[f].prop_names.is_empty() {
                rescan_unknown |= !unknown_blocks;
                unknown_blocks = true;
            }
            for p in &fns[f].prop_names {
                if props.insert(p.as_str()) {
                    pending_props.push(p.as_str());
                }
            }
        } else if rescan_unknown {
            rescan_unknown = false;
            for &i in &unknown_calls {
                maybe.mark(i, &in_fns, can_async);
            }
        } else if let Some(p) = pending_props.pop() {
            for &i in by_member.get(p).map(Vec::as_slice).unwrap_or_default() {
                maybe.mark(i, &in_fns, can_async);
            }
        } else {
            break;
        }
    }
    let (fn_m, call_m) = (maybe.fns, maybe.calls);

    let is_async_now = |f: usize| fns[f].is_async || (fn_m[f] && fns[f].can_async);

    // Refusals (certain only) and warnings (maybe, where nothing can be awaited).
    let mut first_c_call: HashMap<usize, usize> = HashMap::new();
    for (i, call) in calls.iter().enumerate() {
        if call_c[i]
            && let Some(f) = call.in_fn
        {
            first_c_call.entry(f).or_insert(i);
        }
    }
    let mut stats = vec![super::Stats::default(); graph.mods.len()];
    let mut edits: Vec<Vec<Edit>> = vec![Vec::new(); graph.mods.len()];
    for (i, call) in calls.iter().enumerate() {
        let m = &graph.mods[call.module];
        let c = &m.calls[call.index];
        let info_fn = call.in_fn.map(|f| &m.fns[fns[f].index]);
        if let Callee::Group { cb: Some(r) } = &c.callee {
            let mut t = Target::default();
            graph.fn_ref(call.module, r, &mut t);
            if t.fns.iter().any(|&f| fns[f].is_async) {
                errors.push(located(
                    &m.path,
                    &m.src,
                    c.span,
                    "",
                    "group() was given an async function; k6 refuses it too",
                    "write the group's function without `async` (requests inside it are awaited for you)",
                ));
            }
        }
        if !call_m[i] {
            continue;
        }
        let in_params = info_fn.is_some_and(|f| f.params.start <= c.span.start && c.span.end <= f.params.end);
        if call_c[i] {
            let refusal = match (call.in_fn, in_params) {
                (None, _) => Some((
                    format!(
                        "`{}(…)` makes a request or sleeps, and it is called in the init context (top level)",
                        c.label
                    ),
                    "k6 allows requests and sleep only in VU code (the default function, setup(), teardown() and what they call); \
                     move it there: setup() can return data to every VU",
                )),
                (Some(_), true) => Some((
                    format!("`{}(…)` makes a request or sleeps in a default parameter value", c.label),
                    "it cannot be awaited there: move it into the function's body",
                )),
                _ => None,
            };
            if let Some((message, help)) = refusal {
                errors.push(located(&m.path, &m.src, c.span, "", message, help));
                continue;
            }
        }
        let Some(f) = call.in_fn else { continue };
        if in_params {
            continue;
        }
        if !is_async_now(f) {
            if !call_c[i] {
                let what = match (info_fn.map(|x| x.kind), &fns[f].sync_consumer) {
                    (_, Some(consumer)) => format!("a callback given to {}", consumer_name(consumer)),
                    (Some(FnKind::Fixed(what)), _) => what.to_string(),
                    _ => "a function that cannot be made asynchronous".to_string(),
                };
                warnings.push(
                    located(
                        &m.path,
                        &m.src,
                        c.span,
                        "",
                        format!(
                            "`{}(…)` may make a request (a function it could reach does), but it is inside {what}, \
                             which cannot be made asynchronous: it is left as it is",
                            c.label
                        ),
                        "if it does make a request, its result there is a Promise, not a Response",
                    )
                    .into_warning(),
                );
            }
            continue;
        }
        let paren = m.paren.contains(&(c.span.start, c.span.end));
        let user_awaited = m.user_awaited.contains(&(c.span.start, c.span.end));
        let semicolon = if paren && m.stmt_starts.contains(&c.span.start) { ";" } else { "" };
        let (open, close) = match (user_awaited, paren) {
            (true, _) => (String::new(), ""),
            (false, true) => (format!("{semicolon}(await "), ")"),
            (false, false) => ("await ".to_string(), ""),
        };
        let e = &mut edits[call.module];
        let s = &mut stats[call.module];
        if !user_awaited {
            s.awaited_calls += 1;
        }
        match &c.callee {
            Callee::ArrayHof { method, object, args_start, .. } => {
                s.rewritten_callbacks += 1;
                e.push(Edit {
                    pos: object.start,
                    remove: 0,
                    text: format!("{open}__k6.A.{method}("),
                    close: false,
                    seq: c.seq,
                });
                e.push(Edit {
                    pos: object.end,
                    remove: args_start.saturating_sub(object.end),
                    text: ", ".into(),
                    close: true,
                    seq: c.seq,
                });
            }
            Callee::Group { .. } | Callee::Check { .. } => {
                let shim = if matches!(c.callee, Callee::Group { .. }) { "__k6.groupAsync" } else { "__k6.checkAsync" };
                s.rewritten_callbacks += 1;
                if !open.is_empty() {
                    e.push(Edit { pos: c.span.start, remove: 0, text: open.clone(), close: false, seq: c.seq });
                }
                e.push(Edit {
                    pos: c.callee_span.start,
                    remove: c.callee_span.size(),
                    text: shim.into(),
                    close: false,
                    seq: c.seq + 1_000_000_000,
                });
            }
            _ => {
                if !open.is_empty() {
                    e.push(Edit { pos: c.span.start, remove: 0, text: open.clone(), close: false, seq: c.seq });
                }
            }
        }
        if !close.is_empty() {
            e.push(Edit { pos: c.span.end, remove: 0, text: close.into(), close: true, seq: c.seq });
        }
    }
    for (f, x) in fns.iter().enumerate() {
        let m = &graph.mods[x.module];
        let info = &m.fns[x.index];
        if fn_c[f] {
            let named =
                info.name.as_ref().filter(|n| *n != "constructor").map(|n| format!(" (`{n}`)")).unwrap_or_default();
            let refusal = match (info.kind, &x.sync_consumer) {
                (_, Some(consumer)) => Some((
                    format!(
                        "inside a callback given to {}, which calls it synchronously: it cannot wait for a response",
                        consumer_name(consumer)
                    ),
                    "make the requests before (or after) that call, e.g. collect the responses in an array first, then sort it",
                )),
                (FnKind::Fixed(what), None) => Some((
                    format!("inside {what}{named}, which cannot be made asynchronous"),
                    "move the request into a plain function or method (k6's blocking calls are awaited there for you)",
                )),
                (FnKind::Normal, None) => None,
            };
            if let Some((what, help)) = refusal {
                let at = first_c_call.get(&f).map(|&i| &graph.mods[calls[i].module].calls[calls[i].index]);
                let (span, label) =
                    at.map_or((info.span, "a request".to_string()), |c| (c.span, format!("`{}(…)`", c.label)));
                errors.push(located(
                    &m.path,
                    &m.src,
                    span,
                    "",
                    format!("{label} makes a request or sleeps {what}"),
                    help,
                ));
                continue;
            }
        }
        if fn_m[f] && x.can_async && !x.is_async {
            stats[x.module].async_functions += 1;
            edits[x.module].push(Edit { pos: info.async_at, remove: 0, text: "async ".into(), close: false, seq: 0 });
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| (e.file().to_path_buf(), e.line(), e.column()));
        errors.dedup_by(|a, b| a.to_string() == b.to_string());
        return Err(errors);
    }
    for (m, e) in mods.iter_mut().zip(edits) {
        m.edits.extend(e);
    }
    Ok((warnings, stats))
}

fn consumer_name(consumer: &str) -> String {
    if consumer.starts_with("new ") { format!("`{consumer}(…)`") } else { format!("`.{consumer}()`") }
}
