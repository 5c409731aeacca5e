//! The source transform: a k6 script (ES modules written against k6's
//! *blocking* API) becomes one factory function per module, in which every
//! function on a path to a blocking call is `async` and every such call is
//! `await`ed, while the script's own text stays as written.
//!
//! - `collect`: one walk per module (oxc parser + semantic): functions,
//!   calls, references, imports and exports; the static API check.
//! - `analyse`: the blocking analysis over the whole module graph, the
//!   refusals (what cannot be made asynchronous) and the edits.
//! - `emit`: the edits applied, the factory wrapper, the [`PositionMap`].
//!
//! Edits are insertions and small replacements on the original text (no
//! re-printing). None adds a line and the removed import and export
//! statements keep their newlines, so a factory's line N+1 is the source's
//! line N; [`PositionMap`] maps exact offsets back.
//!
//! # The factory ABI (what the runtime provides)
//!
//! A module's factory is `(function (__k6, __k6_import) { … })`; calling it
//! runs the module body once (a VU's instance) and returns its exports as an
//! object. `__k6_import(i)` returns the exports of module `i` of the
//! [`Bundle`] (dependencies come first, so they are instantiated already).
//! `__k6` provides `module(name)` (a k6 module's object), `groupAsync`,
//! `checkAsync` (k6's `group`/`check` awaiting their callbacks) and
//! `A.forEach|map|filter|some|every|find|findIndex|reduce|flatMap(array,
//! callback, …rest)`: the array methods as sequential async loops, with the
//! methods' own semantics (`reduce` without an initial value starts from the
//! first element; the receiver may be a `Map`, a `Set` or a string, whose
//! `forEach` passes other arguments than an array's), and `A.each` (a
//! receiver's own `each`); a receiver with a `__k6hof(method, args)` method
//! (k6/html's Selection) gets these calls back.

mod analyse;
mod collect;
mod emit;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use oxc_span::Span;
use stampede_scenario::ScenarioError;

pub use emit::PositionMap;

pub(crate) use collect::located;
use collect::{ModuleInfo, Resolved};

use crate::ScriptError;
use crate::api;
use crate::options::OptionSpans;

/// Every module of a script, transformed; dependencies before the modules
/// that import them, the main script last.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub modules: Vec<Module>,
}

impl Bundle {
    /// The main script.
    pub fn main(&self) -> &Module {
        self.modules.last().expect("a bundle has its main module")
    }

    /// The module whose factory was compiled under this name.
    pub fn by_name(&self, name: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.name == name)
    }
}

/// One transformed module.
#[derive(Debug, Clone)]
pub struct Module {
    /// The file (for the main script, as given; others joined to the
    /// importing module's directory).
    pub path: PathBuf,
    /// The name its factory is compiled under (the path as text): the
    /// engine's stack traces name it, and [`Bundle::by_name`] finds it.
    pub name: String,
    pub source: Arc<str>,
    pub factory: String,
    /// The module's exported names.
    pub exports: Vec<String>,
    pub map: PositionMap,
    pub stats: Stats,
}

impl Module {
    /// `path:LINE:COL` of a factory position (1-based line and byte column).
    pub fn locate(&self, line: u32, col: u32) -> (u32, u32) {
        let offset = self.map.line_col_offset(line, col) as usize;
        let src: &str = &self.source;
        let mut offset = offset.min(src.len());
        while !src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &src[..offset];
        let line = before.matches('\n').count() as u32 + 1;
        let col = before.rfind('\n').map_or(before, |i| &before[i + 1..]).chars().count() as u32 + 1;
        (line, col)
    }
}

/// What the transform did to a module.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub async_functions: usize,
    pub awaited_calls: usize,
    /// `group`/`check`/array-method calls rewritten to await their callback.
    pub rewritten_callbacks: usize,
}

/// The transform's result.
#[derive(Debug)]
pub struct Transformed {
    pub bundle: Bundle,
    /// Spans of the main module's `options` object literal, when it is one.
    pub(crate) options: Option<OptionSpans>,
    /// Maybe-blocking calls left synchronous (see `analyse`).
    pub warnings: Vec<ScenarioError>,
}

/// Reads a module's source by path.
pub type Reader<'r> = dyn FnMut(&Path) -> std::io::Result<String> + 'r;

/// Most modules a script may import (a guard against generated graphs).
const MAX_MODULES: usize = 1000;

/// Transforms the script at `main` and every local module it imports.
pub fn transform(main: &Path, read: &mut Reader<'_>) -> Result<Transformed, ScriptError> {
    let mut paths: Vec<PathBuf> = vec![main.to_path_buf()];
    let mut ids: HashMap<PathBuf, usize> = HashMap::from([(normalize(main), 0)]);
    // Where each module was first imported from: (module, span), for read errors.
    let mut imported_at: Vec<Option<(usize, Span)>> = vec![None];
    let mut infos: Vec<ModuleInfo> = Vec::new();
    let mut errors: Vec<ScenarioError> = Vec::new();
    let mut next = 0;
    while next < paths.len() {
        let path = paths[next].clone();
        let src = match read(&path) {
            Ok(s) => s,
            Err(e) => {
                let message = format!("cannot read {}: {e}", path.display());
                errors.push(match imported_at[next] {
                    Some((from, span)) => {
                        let m: &ModuleInfo = &infos[from];
                        located(&m.path, &m.src, span, "", message, "imports are relative to the importing file")
                    }
                    None => ScenarioError::new(&path, "", None, "", message, "check the path and its permissions"),
                });
                infos.push(collect::collect(&path, Arc::from(""), &mut |_: &str, _: &Path, _: Span| {
                    Err((String::new(), String::new()))
                }));
                next += 1;
                continue;
            }
        };
        let here = next;
        let mut resolve = |spec: &str, from: &Path, span: Span| -> Result<Resolved, (String, String)> {
            if spec == "k6" || spec.starts_with("k6/") {
                return api::module(spec).map(Resolved::K6).ok_or_else(|| {
                    (
                        format!("module '{spec}' is not supported"),
                        format!(
                            "supported k6 modules: {}; local files by relative path (./lib.js)",
                            api::module_list()
                        ),
                    )
                });
            }
            if spec.starts_with("http://") || spec.starts_with("https://") {
                return Err((format!("remote module '{spec}' is not supported"), api::REMOTE_HELP.into()));
            }
            if !(spec.starts_with("./") || spec.starts_with("../") || spec.starts_with('/')) {
                return Err((
                    format!("module '{spec}' is not supported"),
                    format!(
                        "a script imports k6 modules ({}) and local files by relative path (./lib.js)",
                        api::module_list()
                    ),
                ));
            }
            let joined = from.parent().unwrap_or(Path::new("")).join(spec);
            let key = normalize(&joined);
            if let Some(&id) = ids.get(&key) {
                return Ok(Resolved::Local(id));
            }
            if paths.len() >= MAX_MODULES {
                return Err((format!("more than {MAX_MODULES} modules"), "is the import graph generated?".into()));
            }
            let id = paths.len();
            ids.insert(key.clone(), id);
            paths.push(key);
            imported_at.push(Some((here, span)));
            Ok(Resolved::Local(id))
        };
        let info = collect_deep(&path, Arc::from(src), &mut resolve);
        errors.extend(info.errors.iter().cloned());
        infos.push(info);
        next += 1;
    }
    if !errors.is_empty() {
        return Err(ScriptError::new(errors));
    }
    let main_dir = main.parent().map(normalize).unwrap_or_default();
    let shown = |p: &Path| -> String {
        match p.strip_prefix(&main_dir) {
            Ok(rel) if !main_dir.as_os_str().is_empty() => rel.display().to_string(),
            _ => p.display().to_string(),
        }
    };
    let order = match topological(&infos, &shown) {
        Ok(order) => order,
        Err(e) => return Err(ScriptError::one(e)),
    };
    let (warnings, stats) = analyse::analyse(&mut infos, &shown).map_err(ScriptError::new)?;
    // `place[id]`: where module `id` goes in the bundle.
    let mut place = vec![0; infos.len()];
    for (i, &id) in order.iter().enumerate() {
        place[id] = i;
    }
    let mut modules = Vec::with_capacity(infos.len());
    for &id in &order {
        let m = &infos[id];
        let (factory, map) = emit::emit(m, &place).map_err(|e| {
            ScriptError::one(ScenarioError::new(
                &m.path,
                "",
                None,
                "",
                format!("internal error in the transform: {e}"),
                "please report it with the script",
            ))
        })?;
        modules.push(Module {
            name: m.path.display().to_string(),
            path: m.path.clone(),
            source: m.src.clone(),
            factory,
            exports: m.exports.iter().map(|(n, _)| n.clone()).collect(),
            map,
            stats: stats[id],
        });
    }
    let options = infos.swap_remove(0).options;
    Ok(Transformed { bundle: Bundle { modules }, options, warnings })
}

/// Stack for parsing and walking a module of `len` bytes. oxc's parser and
/// semantic pass and the walk recurse once per level of nesting, and every
/// level takes at least one byte of source: at most ~1.7 KiB of stack per
/// level was measured (debug build, template literals nested in
/// `${…}`), so 2 KiB per byte cannot overflow whatever the input. It is
/// address space, committed only as far as it is used.
fn stack_for(len: usize) -> usize {
    (64 << 20) + len.saturating_mul(2048)
}

/// [`collect::collect`] on a thread whose stack fits the module (a stack
/// overflow would abort the process: no input may cause one).
fn collect_deep(path: &Path, src: Arc<str>, resolve: &mut collect::Resolver<'_>) -> ModuleInfo {
    let stack = stack_for(src.len());
    let spawned = std::thread::scope(|scope| {
        let job = std::thread::Builder::new().name("script-transform".into()).stack_size(stack);
        let handle = job.spawn_scoped(scope, || collect::collect(path, src.clone(), resolve))?;
        handle.join().map_err(|_| std::io::Error::other("the transform failed"))
    });
    spawned.unwrap_or_else(|e| {
        let mut info = collect::collect(path, Arc::from(""), &mut |_: &str, _: &Path, _: Span| {
            Err((String::new(), String::new()))
        });
        info.error(
            Span::new(0, 0),
            "",
            format!("cannot analyse the script: {e} (it needs {} MiB of stack)", stack >> 20),
            "is it very large? Scripts are at most 4 MiB",
        );
        info
    })
}

/// Transforms one module given as text (imports of local files refused as
/// missing): for tests and tools.
pub fn transform_source(name: &str, source: &str) -> Result<Transformed, ScriptError> {
    let main = PathBuf::from(name);
    let text = source.to_string();
    transform(&main, &mut |p: &Path| {
        if p == main {
            Ok(text.clone())
        } else {
            Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
        }
    })
}

/// Dependencies first, the main module (0) last; an import cycle is refused.
fn topological(infos: &[ModuleInfo], shown: &dyn Fn(&Path) -> String) -> Result<Vec<usize>, ScenarioError> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done,
    }
    let mut state = vec![State::New; infos.len()];
    let mut order = Vec::with_capacity(infos.len());
    // Iterative DFS: (module, next dependency index).
    let mut stack: Vec<(usize, usize)> = vec![(0, 0)];
    state[0] = State::Open;
    while let Some(&mut (m, ref mut i)) = stack.last_mut() {
        if let Some(&(dep, span)) = infos[m].deps.get(*i) {
            *i += 1;
            match state[dep] {
                State::New => {
                    state[dep] = State::Open;
                    stack.push((dep, 0));
                }
                State::Open => {
                    let mut cycle: Vec<String> =
                        stack.iter().skip_while(|(x, _)| *x != dep).map(|(x, _)| shown(&infos[*x].path)).collect();
                    cycle.push(shown(&infos[dep].path));
                    let at = &infos[m];
                    return Err(located(
                        &at.path,
                        &at.src,
                        span,
                        "",
                        format!("circular import: {}", cycle.join(" → ")),
                        "modules importing each other are not supported; move what both need into a third module",
                    ));
                }
                State::Done => {}
            }
        } else {
            state[m] = State::Done;
            order.push(m);
            stack.pop();
        }
    }
    Ok(order)
}

/// `p` relative to the directory `base` (`..` where needed), lexically;
/// both normalized alike.
pub fn relative_to(base: &Path, p: &Path) -> PathBuf {
    let common = p.components().zip(base.components()).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in base.components().skip(common) {
        rel.push("..");
    }
    for c in p.components().skip(common) {
        rel.push(c);
    }
    rel
}

/// `a/./b/../c.js` → `a/c.js`, lexically (the files need not exist yet).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
}
