//! One walk over a module's AST: what the analysis needs (functions, calls,
//! references, imports, exports), the static API check, and the edits that
//! do not depend on the analysis (imports and `export` keywords removed).
//! Nothing here keeps the AST: the result is plain data, so the analysis
//! can run over every module of the script at once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oxc_allocator::Allocator;
use oxc_ast::ast::*;
use oxc_ast_visit::{Visit, walk};
use oxc_parser::{ParseOptions, Parser};
use oxc_semantic::{Scoping, SemanticBuilder, SymbolId};
use oxc_span::{GetSpan, SourceType, Span};
use oxc_syntax::scope::ScopeFlags;
use stampede_scenario::ScenarioError;

use crate::api::{self, K6Module};
use crate::options::OptionSpans;

/// Array methods whose callback may block: rewritten to the shim's
/// sequential async loop (`__k6.A.forEach(arr, cb)`); and k6/html's
/// Selection `each` (the shim hands a Selection's calls back to it).
pub(crate) const ARRAY_HOFS: &[&str] =
    &["forEach", "map", "filter", "some", "every", "find", "findIndex", "reduce", "flatMap", "each"];

/// Methods that call a callback synchronously (or later, outside the
/// iteration): a callback that blocks cannot be made asynchronous there.
const SYNC_CONSUMERS: &[&str] = &[
    "sort",
    "toSorted",
    "findLast",
    "findLastIndex",
    "reduceRight",
    "replace",
    "replaceAll",
    "then",
    "catch",
    "finally",
    "from",
    "stringify",
    "parse",
    "defineProperty",
];

/// Names the factory uses; a script may not bind them.
pub(crate) const RESERVED_PREFIX: &str = "__k6";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FnKind {
    Normal,
    /// A getter, setter, constructor, generator or class initializer: it
    /// cannot become async without changing what its callers get.
    Fixed(&'static str),
}

#[derive(Debug)]
pub(crate) struct FnInfo {
    pub span: Span,
    /// Its parameters (a blocking call in a default value cannot be awaited).
    pub params: Span,
    pub is_async: bool,
    /// Where `async ` goes (before the key of a method).
    pub async_at: u32,
    pub kind: FnKind,
    /// Property names it is reachable under (`obj.name()`, class methods).
    pub prop_names: Vec<String>,
    /// Its name for messages (`getToken`, `Api.get`), when it has one.
    pub name: Option<String>,
    /// Bound to a name or a property, a declaration, or a tracked callback:
    /// otherwise a function value escapes where the analysis cannot follow.
    pub bound: bool,
    /// A callback given to `group`/`check`/an array method directly.
    pub tracked: bool,
}

/// A function as a callback argument.
#[derive(Debug, Clone)]
pub(crate) enum FnRef {
    /// A function literal, by its start.
    Literal(u32),
    /// A name (a declaration, a variable, an import), resolved in the analysis.
    Sym(SymbolId),
    /// Anything else (`obj.fn`, a call's result): unknown.
    Opaque,
}

#[derive(Debug, Clone)]
pub(crate) enum Callee {
    /// A blocking k6 call (`http.get`, `sleep`, …).
    Primitive,
    Group {
        cb: Option<FnRef>,
    },
    Check {
        cbs: Vec<FnRef>,
        /// The checks are not an object literal: their functions are unknown.
        opaque: bool,
    },
    /// A call of a name: a function, a variable, a parameter, an import.
    Direct(SymbolId),
    /// An immediately called function literal.
    Literal(u32),
    /// `ns.name()` where `ns` is a namespace import of a local module.
    NamespaceMember(usize, String),
    /// `x.name()`: name-based.
    Member(String),
    /// `obj[k]()`, `(a || b)()`, `f()()`: unknown.
    Computed,
    ArrayHof {
        method: String,
        cb: FnRef,
        object: Span,
        args_start: u32,
    },
    NotBlocking,
}

#[derive(Debug)]
pub(crate) struct CallInfo {
    pub span: Span,
    pub callee_span: Span,
    pub callee: Callee,
    /// The innermost function (index into `fns`) the call is in.
    pub in_fn: Option<usize>,
    pub seq: usize,
    /// The callee's text, for messages.
    pub label: String,
}

/// What an imported name is bound to.
#[derive(Debug, Clone)]
pub(crate) enum Import {
    K6Module(&'static K6Module),
    K6Member(&'static K6Module, String),
    Local(usize, LocalName),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LocalName {
    Default,
    Namespace,
    Named(String),
}

/// What an exported name is.
#[derive(Debug, Clone)]
pub(crate) enum ExportTarget {
    /// A local binding (the return object reads it by name).
    Sym(SymbolId, String),
    /// `export default function () {}` / `export default () => {}`.
    DefaultFn(u32),
    /// `export default <expression>`.
    DefaultValue,
    /// `export { a as b } from './m.js'` / `export * as ns from './m.js'`.
    ReExport(usize, LocalName),
    /// `export { check } from 'k6'`.
    K6(&'static K6Module, Option<String>),
}

/// A binding declared on the factory's first line for an import.
#[derive(Debug, Clone)]
pub(crate) struct ImportBinding {
    pub local: String,
    pub source: Import,
    /// The imported name as written (for "no such export").
    pub span: Span,
}

/// A text edit on the original source.
#[derive(Debug, Clone)]
pub(crate) struct Edit {
    pub pos: u32,
    pub remove: u32,
    pub text: String,
    /// Closing edits at one position come before opening ones, innermost first.
    pub close: bool,
    pub seq: usize,
}

/// A module as the analysis sees it.
#[derive(Debug)]
pub(crate) struct ModuleInfo {
    pub path: PathBuf,
    pub src: Arc<str>,
    pub imports: HashMap<SymbolId, Import>,
    pub bindings: Vec<ImportBinding>,
    /// Local modules imported, with the import's source span (for cycles).
    pub deps: Vec<(usize, Span)>,
    pub fns: Vec<FnInfo>,
    pub fn_by_start: HashMap<u32, usize>,
    /// Functions bound to a symbol (by their start); several for `f = a; f = b`.
    pub sym_fns: HashMap<SymbolId, Vec<u32>>,
    /// Functions stored under a property through a name (`{ get }`).
    pub prop_aliases: Vec<(SymbolId, String)>,
    pub calls: Vec<CallInfo>,
    /// References to symbols outside callee position and not a tracked use.
    pub value_refs: Vec<SymbolId>,
    /// Calls the user already awaits (by span).
    pub user_awaited: HashSet<(u32, u32)>,
    /// Calls that need parentheses once awaited (`(await f()).x`).
    pub paren: HashSet<(u32, u32)>,
    /// Starts of expression statements (a `(` there needs a `;` before it).
    pub stmt_starts: HashSet<u32>,
    /// A blocking k6 function or a k6 module is used as a value somewhere.
    pub k6_escapes: bool,
    /// Callbacks given to sync consumers, resolved in the analysis.
    pub sync_refs: Vec<(FnRef, String, u32)>,
    pub edits: Vec<Edit>,
    pub errors: Vec<ScenarioError>,
    pub exports: Vec<(String, ExportTarget)>,
    pub star_exports: Vec<usize>,
    /// Spans of the `options` object literal's properties (main module).
    pub options: Option<OptionSpans>,
}

impl ModuleInfo {
    pub fn error(&mut self, span: Span, field: &str, message: impl Into<String>, help: impl Into<String>) {
        let e = located(&self.path, &self.src, span, field, message, help);
        self.errors.push(e);
    }
}

pub(crate) fn located(
    path: &Path,
    src: &str,
    span: Span,
    field: &str,
    message: impl Into<String>,
    help: impl Into<String>,
) -> ScenarioError {
    ScenarioError::new(path, src, Some(span.start as usize..span.end as usize), field, message, help)
}

/// How an import specifier resolves.
pub(crate) enum Resolved {
    K6(&'static K6Module),
    Local(usize),
}

/// Resolves an import specifier of the module at `from` (the caller keeps
/// the module registry): `Err((message, help))` when it cannot be imported.
pub(crate) type Resolver<'r> = dyn FnMut(&str, &Path, Span) -> Result<Resolved, (String, String)> + Send + 'r;

/// Parses and walks one module. Syntax errors end it early (returned as the
/// module's errors); other errors are collected so that all are reported.
pub(crate) fn collect(path: &Path, src: Arc<str>, resolve: &mut Resolver<'_>) -> ModuleInfo {
    let mut info = ModuleInfo {
        path: path.to_path_buf(),
        src: src.clone(),
        imports: HashMap::new(),
        bindings: Vec::new(),
        deps: Vec::new(),
        fns: Vec::new(),
        fn_by_start: HashMap::new(),
        sym_fns: HashMap::new(),
        prop_aliases: Vec::new(),
        calls: Vec::new(),
        value_refs: Vec::new(),
        user_awaited: HashSet::new(),
        paren: HashSet::new(),
        stmt_starts: HashSet::new(),
        k6_escapes: false,
        sync_refs: Vec::new(),
        edits: Vec::new(),
        errors: Vec::new(),
        exports: Vec::new(),
        star_exports: Vec::new(),
        options: None,
    };
    if src.len() > u32::MAX as usize / 2 {
        info.error(Span::new(0, 0), "", "the script is too large", "scripts are at most 2 GiB");
        return info;
    }
    let alloc = Allocator::default();
    let options = ParseOptions { parse_regular_expression: true, ..ParseOptions::default() };
    let ret = Parser::new(&alloc, &src, SourceType::mjs()).with_options(options).parse();
    if ret.panicked || ret.diagnostics.has_errors() {
        let errors = ret.diagnostics.iter().filter(|d| is_error(d));
        syntax_errors(&mut info, errors.map(|d| (d.message.to_string(), first_label(d))));
        if info.errors.is_empty() {
            info.error(Span::new(0, 0), "", "syntax error: the parser gave up", "is this a JavaScript file?");
        }
        return info;
    }
    let program = ret.program;
    let sem = SemanticBuilder::new().with_check_syntax_error(true).build(&program);
    if sem.diagnostics.has_errors() {
        let errors = sem.diagnostics.iter().filter(|d| is_error(d));
        syntax_errors(&mut info, errors.map(|d| (d.message.to_string(), first_label(d))));
        return info;
    }
    let scoping = sem.semantic.scoping();
    let mut c = Collector {
        info,
        scoping,
        resolve,
        stack: Vec::new(),
        meta: HashMap::new(),
        seq: 0,
        callee_refs: HashSet::new(),
        tracked_refs: HashSet::new(),
        member_objects: HashSet::new(),
        callee_spans: HashSet::new(),
        option_candidates: HashMap::new(),
        refused_globals: HashSet::new(),
        in_export_specifier: false,
    };
    c.visit_program(&program);
    let Collector { mut info, option_candidates, .. } = c;
    let options_sym = info.exports.iter().find_map(|(name, t)| match t {
        ExportTarget::Sym(sym, _) if name == "options" => Some(*sym),
        _ => None,
    });
    info.options = options_sym.and_then(|s| option_candidates.get(&s).cloned());
    info
}

fn first_label(d: &oxc_diagnostics::OxcDiagnostic) -> Option<u32> {
    d.labels.first().map(|l| l.offset())
}

fn is_error(d: &oxc_diagnostics::OxcDiagnostic) -> bool {
    d.severity == oxc_diagnostics::Severity::Error
}

fn syntax_errors(info: &mut ModuleInfo, diags: impl Iterator<Item = (String, Option<u32>)>) {
    let mut seen = HashSet::new();
    for (message, at) in diags {
        let at = at.unwrap_or(0).min(info.src.len() as u32);
        if !seen.insert(at) {
            continue;
        }
        info.error(
            Span::new(at, at),
            "",
            format!("syntax error: {message}"),
            "the script must be valid JavaScript (an ES module, as k6 reads it)",
        );
    }
    info.errors.sort_by_key(|e| (e.line(), e.column()));
}

/// What a parent knows about a function literal before the walk reaches it.
#[derive(Debug, Default)]
struct Meta {
    prop_name: Option<String>,
    kind: Option<FnKind>,
    async_at: Option<u32>,
    bound: bool,
    name: Option<String>,
    tracked: bool,
}

struct Collector<'s, 'r> {
    info: ModuleInfo,
    scoping: &'s Scoping,
    resolve: &'s mut Resolver<'r>,
    /// Enclosing functions (indexes into `info.fns`), innermost last.
    stack: Vec<usize>,
    meta: HashMap<u32, Meta>,
    seq: usize,
    /// Identifier references in callee position (by start).
    callee_refs: HashSet<u32>,
    /// Identifier references used as tracked callbacks or property aliases.
    tracked_refs: HashSet<u32>,
    /// Identifier references that are the object of a static member access.
    member_objects: HashSet<u32>,
    /// Member expressions in callee position.
    callee_spans: HashSet<(u32, u32)>,
    /// Top-level `NAME = { … }` object literals: option spans by symbol.
    option_candidates: HashMap<SymbolId, OptionSpans>,
    refused_globals: HashSet<String>,
    in_export_specifier: bool,
}

fn unparen<'b, 'a>(e: &'b Expression<'a>) -> &'b Expression<'a> {
    let mut e = e;
    while let Expression::ParenthesizedExpression(p) = e {
        e = &p.expression;
    }
    e
}

fn fn_start(e: &Expression<'_>) -> Option<(u32, bool)> {
    match unparen(e) {
        Expression::ArrowFunctionExpression(a) => Some((a.span.start, a.r#async)),
        Expression::FunctionExpression(f) => Some((f.span.start, f.r#async)),
        _ => None,
    }
}

fn key_name(key: &PropertyKey<'_>) -> Option<String> {
    match key {
        PropertyKey::PrivateIdentifier(p) => Some(format!("#{}", p.name)),
        k => k.static_name().map(|n| n.to_string()),
    }
}

fn truncate(s: &str, max: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

impl<'s, 'r> Collector<'s, 'r> {
    fn text(&self, span: Span) -> &str {
        self.info.src.get(span.start as usize..span.end as usize).unwrap_or("")
    }

    fn edit(&mut self, pos: u32, remove: u32, text: impl Into<String>, close: bool) {
        self.seq += 1;
        self.info.edits.push(Edit { pos, remove, text: text.into(), close, seq: self.seq });
    }

    /// Replaces `span` with as many newlines as it holds (lines keep their numbers).
    fn blank(&mut self, span: Span) {
        let newlines = "\n".repeat(self.text(span).matches('\n').count());
        self.edit(span.start, span.size(), newlines, false);
    }

    fn sym_of(&self, id: &IdentifierReference<'_>) -> Option<SymbolId> {
        let r = id.reference_id.get()?;
        self.scoping.get_reference(r).symbol_id()
    }

    fn meta_for(&mut self, start: u32) -> &mut Meta {
        self.meta.entry(start).or_default()
    }

    fn fn_ref(&mut self, e: &Expression<'_>) -> FnRef {
        match unparen(e) {
            Expression::ArrowFunctionExpression(a) => {
                let m = self.meta_for(a.span.start);
                m.tracked = true;
                m.bound = true;
                FnRef::Literal(a.span.start)
            }
            Expression::FunctionExpression(f) => {
                let m = self.meta_for(f.span.start);
                m.tracked = true;
                m.bound = true;
                FnRef::Literal(f.span.start)
            }
            Expression::Identifier(id) => {
                self.tracked_refs.insert(id.span.start);
                match self.sym_of(id) {
                    Some(sym) => FnRef::Sym(sym),
                    None => FnRef::Opaque,
                }
            }
            _ => FnRef::Opaque,
        }
    }

    fn arg_fn_ref(&mut self, a: Option<&Argument<'_>>) -> Option<FnRef> {
        let e = a?.as_expression()?;
        Some(self.fn_ref(e))
    }

    fn module_of(&self, e: &Expression<'_>) -> Option<Import> {
        let Expression::Identifier(id) = unparen(e) else { return None };
        self.imports_of(id)
    }

    fn imports_of(&self, id: &IdentifierReference<'_>) -> Option<Import> {
        let sym = self.sym_of(id)?;
        self.info.imports.get(&sym).cloned()
    }

    // === calls ===

    fn classify(&mut self, callee: &Expression<'_>, args: &[Argument<'_>], call_span: Span) -> Callee {
        match unparen(callee) {
            Expression::Identifier(id) => {
                self.callee_refs.insert(id.span.start);
                let Some(sym) = self.sym_of(id) else {
                    // A global: parseInt, open, console.log… (refused ones are
                    // reported as references).
                    return Callee::NotBlocking;
                };
                match self.info.imports.get(&sym).cloned() {
                    Some(Import::K6Member(m, name)) => self.k6_call(m, &name, args),
                    Some(Import::K6Module(_)) => Callee::NotBlocking,
                    Some(Import::Local(..)) | None => Callee::Direct(sym),
                }
            }
            Expression::StaticMemberExpression(m) => {
                let prop = m.property.name.to_string();
                match self.module_of(&m.object) {
                    Some(Import::K6Module(module)) => return self.k6_call(module, &prop, args),
                    Some(Import::K6Member(..)) => return Callee::NotBlocking, // exec.test.abort()
                    Some(Import::Local(module, LocalName::Namespace)) => {
                        return Callee::NamespaceMember(module, prop);
                    }
                    _ => {}
                }
                if ARRAY_HOFS.contains(&prop.as_str())
                    && let Some(cb) = self.arg_fn_ref(args.first())
                {
                    let args_start = args.first().map_or(call_span.end, |a| a.span().start);
                    return Callee::ArrayHof { method: prop, cb, object: m.object.span(), args_start };
                }
                if SYNC_CONSUMERS.contains(&prop.as_str()) {
                    self.sync_args(args, &prop, call_span);
                }
                Callee::Member(prop)
            }
            Expression::PrivateFieldExpression(p) => Callee::Member(format!("#{}", p.field.name)),
            Expression::ComputedMemberExpression(m) => {
                if let Some(Import::K6Module(module)) = self.module_of(&m.object) {
                    return match unparen(&m.expression) {
                        Expression::StringLiteral(s) => self.k6_call(module, &s.value, args),
                        // `http[method](url)`: awaiting a call that does not block is harmless.
                        _ if !module.blocking.is_empty() => Callee::Primitive,
                        _ => Callee::NotBlocking,
                    };
                }
                match unparen(&m.expression) {
                    Expression::StringLiteral(s) => Callee::Member(s.value.to_string()),
                    _ => Callee::Computed,
                }
            }
            e @ (Expression::ArrowFunctionExpression(_) | Expression::FunctionExpression(_)) => {
                let (start, _) = fn_start(e).unwrap_or((0, false));
                self.meta_for(start).bound = true;
                Callee::Literal(start)
            }
            _ => Callee::Computed,
        }
    }

    fn sync_args(&mut self, args: &[Argument<'_>], consumer: &str, call_span: Span) {
        for a in args {
            let Some(e) = a.as_expression() else { continue };
            if fn_start(e).is_none() && !matches!(unparen(e), Expression::Identifier(_)) {
                continue;
            }
            let r = self.fn_ref(e);
            if let FnRef::Literal(start) = r {
                // Not a tracked callback: it stays as it is, so it is bound, not escaping.
                self.meta_for(start).tracked = false;
            }
            self.info.sync_refs.push((r, consumer.to_string(), call_span.start));
        }
    }

    fn k6_call(&mut self, module: &'static K6Module, member: &str, args: &[Argument<'_>]) -> Callee {
        if module.blocks(member) {
            return Callee::Primitive;
        }
        match (module.name, member) {
            ("k6", "group") => Callee::Group { cb: self.arg_fn_ref(args.get(1)) },
            ("k6", "check") => {
                let mut cbs = Vec::new();
                let mut opaque = true;
                if let Some(Argument::ObjectExpression(o)) = args.get(1) {
                    opaque = false;
                    for p in &o.properties {
                        match p {
                            ObjectPropertyKind::ObjectProperty(p) => {
                                if fn_start(&p.value).is_some()
                                    || matches!(unparen(&p.value), Expression::Identifier(_))
                                {
                                    cbs.push(self.fn_ref(&p.value));
                                }
                            }
                            ObjectPropertyKind::SpreadProperty(_) => opaque = true,
                        }
                    }
                }
                Callee::Check { cbs, opaque }
            }
            _ => Callee::NotBlocking,
        }
    }

    fn record_call(&mut self, span: Span, callee: &Expression<'_>, args: &[Argument<'_>]) {
        if let Expression::StaticMemberExpression(_)
        | Expression::ComputedMemberExpression(_)
        | Expression::PrivateFieldExpression(_) = callee
        {
            self.callee_spans.insert((callee.span().start, callee.span().end));
        }
        let kind = self.classify(callee, args, span);
        if let Expression::CallExpression(inner) = unparen_none(callee) {
            self.info.paren.insert((inner.span.start, inner.span.end));
        }
        self.seq += 1;
        let label = truncate(self.text(callee.span()), 40);
        self.info.calls.push(CallInfo {
            span,
            callee_span: callee.span(),
            callee: kind,
            in_fn: self.stack.last().copied(),
            seq: self.seq,
            label,
        });
    }

    // === functions ===

    fn push_fn(&mut self, span: Span, params: Span, is_async: bool, generator: bool) -> usize {
        let meta = self.meta.remove(&span.start).unwrap_or_default();
        let mut kind = meta.kind.unwrap_or(FnKind::Normal);
        if generator {
            kind = FnKind::Fixed("a generator");
        }
        let idx = self.info.fns.len();
        self.info.fns.push(FnInfo {
            span,
            params,
            is_async,
            async_at: meta.async_at.unwrap_or(span.start),
            kind,
            prop_names: meta.prop_name.into_iter().collect(),
            name: meta.name,
            bound: meta.bound || meta.tracked,
            tracked: meta.tracked,
        });
        self.info.fn_by_start.insert(span.start, idx);
        idx
    }

    /// A pseudo-function for code that runs in a constructor's stead (class
    /// field initializers, static blocks): nothing in it can be awaited.
    fn push_fixed(&mut self, span: Span, what: &'static str) -> usize {
        let idx = self.info.fns.len();
        self.info.fns.push(FnInfo {
            span,
            params: Span::new(span.start, span.start),
            is_async: false,
            async_at: span.start,
            kind: FnKind::Fixed(what),
            prop_names: Vec::new(),
            name: None,
            bound: true,
            tracked: false,
        });
        idx
    }

    fn bind_value(
        &mut self,
        value: &Expression<'_>,
        prop: Option<String>,
        sym: Option<SymbolId>,
        name: Option<String>,
    ) {
        if let Some((start, _)) = fn_start(value) {
            let m = self.meta_for(start);
            m.bound = true;
            if prop.is_some() {
                m.prop_name = prop;
            }
            if m.name.is_none() {
                m.name = name;
            }
            if let Some(sym) = sym {
                self.info.sym_fns.entry(sym).or_default().push(start);
            }
        } else if let (Some(prop), Expression::Identifier(id)) = (prop, unparen(value))
            && let Some(sym) = self.sym_of(id)
        {
            self.tracked_refs.insert(id.span.start);
            self.info.prop_aliases.push((sym, prop));
        }
    }

    // === imports and exports ===

    fn resolve_source(&mut self, source: &StringLiteral<'_>) -> Option<Resolved> {
        let spec = source.value.to_string();
        let path = self.info.path.clone();
        match (self.resolve)(&spec, &path, source.span) {
            Ok(r) => {
                if let Resolved::Local(id) = r {
                    self.info.deps.push((id, source.span));
                }
                Some(r)
            }
            Err((message, help)) => {
                self.info.error(source.span, "", message, help);
                None
            }
        }
    }

    fn check_member(&mut self, module: &'static K6Module, member: &str, span: Span) -> bool {
        if module.has(member) {
            return true;
        }
        let hint = stampede_scenario_suggest(member, module.members);
        self.info.error(
            span,
            "",
            format!("'{member}' of '{}' is not supported{hint}", module.name),
            format!("supported members of '{}': {}", module.name, module.members.join(", ")),
        );
        false
    }
}

/// "; did you mean `x`?" when a member is close to a supported one.
fn stampede_scenario_suggest(name: &str, candidates: &[&str]) -> String {
    stampede_scenario::suggest::did_you_mean(name, candidates.iter().copied())
        .map(|s| format!("; did you mean '{s}'?"))
        .unwrap_or_default()
}

/// The expression itself when it is not parenthesized (`(f())()` needs no
/// extra parentheses around `f()`).
fn unparen_none<'b, 'a>(e: &'b Expression<'a>) -> &'b Expression<'a> {
    e
}

impl<'a> Visit<'a> for Collector<'_, '_> {
    fn visit_program(&mut self, it: &Program<'a>) {
        walk::walk_program(self, it);
    }

    fn visit_import_declaration(&mut self, it: &ImportDeclaration<'a>) {
        let resolved = self.resolve_source(&it.source);
        self.blank(it.span);
        let Some(resolved) = resolved else { return };
        for s in it.specifiers.iter().flatten() {
            let (local, source) = match (s, &resolved) {
                (ImportDeclarationSpecifier::ImportSpecifier(s), Resolved::K6(m)) => {
                    let imported = s.imported.name().to_string();
                    if !self.check_member(m, &imported, s.imported.span()) {
                        continue;
                    }
                    (&s.local, Import::K6Member(m, imported))
                }
                (ImportDeclarationSpecifier::ImportSpecifier(s), Resolved::Local(id)) => {
                    (&s.local, Import::Local(*id, LocalName::Named(s.imported.name().to_string())))
                }
                (ImportDeclarationSpecifier::ImportDefaultSpecifier(s), Resolved::K6(m)) => {
                    (&s.local, Import::K6Module(m))
                }
                (ImportDeclarationSpecifier::ImportNamespaceSpecifier(s), Resolved::K6(m)) => {
                    (&s.local, Import::K6Module(m))
                }
                (ImportDeclarationSpecifier::ImportDefaultSpecifier(s), Resolved::Local(id)) => {
                    (&s.local, Import::Local(*id, LocalName::Default))
                }
                (ImportDeclarationSpecifier::ImportNamespaceSpecifier(s), Resolved::Local(id)) => {
                    (&s.local, Import::Local(*id, LocalName::Namespace))
                }
            };
            self.info.imports.insert(local.symbol_id(), source.clone());
            self.info.bindings.push(ImportBinding { local: local.name.to_string(), source, span: s.span() });
        }
    }

    fn visit_export_named_declaration(&mut self, it: &ExportNamedDeclaration<'a>) {
        for s in &it.specifiers {
            let exported = s.exported.name().to_string();
            if let ModuleExportName::IdentifierReference(id) = &s.local {
                self.tracked_refs.insert(id.span.start);
                if let Some(sym) = self.sym_of(id) {
                    self.info.exports.push((exported, ExportTarget::Sym(sym, id.name.to_string())));
                }
            }
        }
        self.blank(it.span);
        self.in_export_specifier = true;
        walk::walk_export_named_declaration(self, it);
        self.in_export_specifier = false;
    }

    fn visit_export_from_declaration(&mut self, it: &ExportFromDeclaration<'a>) {
        let resolved = self.resolve_source(&it.source);
        self.blank(it.span);
        let Some(resolved) = resolved else { return };
        for s in &it.specifiers {
            let exported = s.exported.name().to_string();
            let local = s.local.name().to_string();
            let target = match &resolved {
                Resolved::K6(m) => {
                    if !self.check_member(m, &local, s.local.span()) {
                        continue;
                    }
                    ExportTarget::K6(m, Some(local))
                }
                Resolved::Local(id) if local == "default" => ExportTarget::ReExport(*id, LocalName::Default),
                Resolved::Local(id) => ExportTarget::ReExport(*id, LocalName::Named(local)),
            };
            self.info.exports.push((exported, target));
        }
    }

    fn visit_export_all_declaration(&mut self, it: &ExportAllDeclaration<'a>) {
        let resolved = self.resolve_source(&it.source);
        self.blank(it.span);
        match (resolved, &it.exported) {
            (None, _) => {}
            (Some(Resolved::Local(id)), None) => self.info.star_exports.push(id),
            (Some(Resolved::Local(id)), Some(name)) => {
                self.info.exports.push((name.name().to_string(), ExportTarget::ReExport(id, LocalName::Namespace)));
            }
            (Some(Resolved::K6(m)), Some(name)) => {
                self.info.exports.push((name.name().to_string(), ExportTarget::K6(m, None)));
            }
            (Some(Resolved::K6(_)), None) => self.info.error(
                it.span,
                "",
                "`export * from` a k6 module is not supported",
                "import the functions you need and export them by name",
            ),
        }
    }

    fn visit_export_declaration(&mut self, it: &ExportDeclaration<'a>) {
        let kw = it.declaration.span().start.saturating_sub(it.span.start);
        self.edit(it.span.start, kw, "", false);
        match &it.declaration {
            Declaration::VariableDeclaration(v) => {
                for d in &v.declarations {
                    for b in d.id.get_binding_identifiers() {
                        self.info
                            .exports
                            .push((b.name.to_string(), ExportTarget::Sym(b.symbol_id(), b.name.to_string())));
                    }
                }
            }
            Declaration::FunctionDeclaration(f) => {
                if let Some(id) = &f.id {
                    self.info
                        .exports
                        .push((id.name.to_string(), ExportTarget::Sym(id.symbol_id(), id.name.to_string())));
                }
            }
            Declaration::ClassDeclaration(c) => {
                if let Some(id) = &c.id {
                    self.info
                        .exports
                        .push((id.name.to_string(), ExportTarget::Sym(id.symbol_id(), id.name.to_string())));
                }
            }
            _ => {}
        }
        walk::walk_export_declaration(self, it);
    }

    fn visit_export_default_declaration(&mut self, it: &ExportDefaultDeclaration<'a>) {
        let decl_start = it.declaration.span().start;
        let kw = decl_start.saturating_sub(it.span.start);
        let named = match &it.declaration {
            ExportDefaultDeclarationKind::FunctionDeclaration(f) => f.id.as_ref().map(|id| (id.symbol_id(), id.name)),
            ExportDefaultDeclarationKind::ClassDeclaration(c) => c.id.as_ref().map(|id| (id.symbol_id(), id.name)),
            _ => None,
        };
        match named {
            Some((sym, name)) => {
                self.edit(it.span.start, kw, "", false);
                self.info.exports.push(("default".into(), ExportTarget::Sym(sym, name.to_string())));
            }
            None => {
                self.edit(it.span.start, kw, "const __k6_default = ", false);
                self.edit(it.span.end, 0, ";", true);
                let target = match &it.declaration {
                    ExportDefaultDeclarationKind::FunctionDeclaration(f) => {
                        let m = self.meta_for(f.span.start);
                        m.bound = true;
                        m.name = Some("default".into());
                        ExportTarget::DefaultFn(f.span.start)
                    }
                    ExportDefaultDeclarationKind::ArrowFunctionExpression(a) => {
                        let m = self.meta_for(a.span.start);
                        m.bound = true;
                        m.name = Some("default".into());
                        ExportTarget::DefaultFn(a.span.start)
                    }
                    ExportDefaultDeclarationKind::FunctionExpression(f) => {
                        let m = self.meta_for(f.span.start);
                        m.bound = true;
                        m.name = Some("default".into());
                        ExportTarget::DefaultFn(f.span.start)
                    }
                    _ => ExportTarget::DefaultValue,
                };
                self.info.exports.push(("default".into(), target));
            }
        }
        walk::walk_export_default_declaration(self, it);
    }

    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        self.info.error(
            it.span,
            "",
            "dynamic import() is not supported",
            "import modules statically at the top: import { f } from './lib.js'",
        );
        walk::walk_import_expression(self, it);
    }

    fn visit_import_meta(&mut self, it: &ImportMeta) {
        self.info.error(
            it.span,
            "",
            "`import.meta` is not supported",
            "open() paths are relative to the module being initialised, as in k6",
        );
    }

    // === bindings ===

    fn visit_binding_identifier(&mut self, it: &BindingIdentifier<'a>) {
        if it.name.starts_with(RESERVED_PREFIX) {
            self.info.error(
                it.span,
                "",
                format!("the name `{}` is reserved (names starting with `{RESERVED_PREFIX}` are Stampede's)", it.name),
                "rename it",
            );
        }
    }

    fn visit_variable_declarator(&mut self, it: &VariableDeclarator<'a>) {
        if let (Some(b), Some(init)) = (it.id.get_binding_identifier(), &it.init) {
            self.bind_value(init, None, Some(b.symbol_id()), Some(b.name.to_string()));
            if self.stack.is_empty() {
                // Built at run time (a call, a spread): errors point at the declaration.
                let spans = match unparen(init) {
                    Expression::ObjectExpression(o) => OptionSpans::of_object(o, it.span),
                    _ => OptionSpans::declared_at(it.span),
                };
                self.option_candidates.insert(b.symbol_id(), spans);
            }
        }
        walk::walk_variable_declarator(self, it);
    }

    fn visit_assignment_expression(&mut self, it: &AssignmentExpression<'a>) {
        if it.operator == oxc_syntax::operator::AssignmentOperator::Assign {
            match &it.left {
                AssignmentTarget::AssignmentTargetIdentifier(id) => {
                    let sym = self.sym_of(id);
                    self.bind_value(&it.right, None, sym, Some(id.name.to_string()));
                }
                AssignmentTarget::StaticMemberExpression(m) => {
                    let name = m.property.name.to_string();
                    self.bind_value(&it.right, Some(name.clone()), None, Some(name));
                }
                AssignmentTarget::ComputedMemberExpression(m) => {
                    if let Expression::StringLiteral(s) = unparen(&m.expression) {
                        let name = s.value.to_string();
                        self.bind_value(&it.right, Some(name.clone()), None, Some(name));
                    }
                }
                _ => {}
            }
        }
        walk::walk_assignment_expression(self, it);
    }

    fn visit_object_property(&mut self, it: &ObjectProperty<'a>) {
        let name = key_name(&it.key);
        if let Some((start, _)) = fn_start(&it.value) {
            let m = self.meta_for(start);
            m.bound = true;
            m.prop_name = name.clone();
            m.name = name;
            match it.kind {
                PropertyKind::Get => m.kind = Some(FnKind::Fixed("a getter")),
                PropertyKind::Set => m.kind = Some(FnKind::Fixed("a setter")),
                PropertyKind::Init => {}
            }
            if it.method || it.kind != PropertyKind::Init {
                // `name() {}`: `async` goes before the key.
                m.async_at = Some(it.span.start);
            }
        } else if let Some(name) = name {
            self.bind_value(&it.value, Some(name), None, None);
        }
        walk::walk_object_property(self, it);
    }

    fn visit_method_definition(&mut self, it: &MethodDefinition<'a>) {
        let start = it.value.span.start;
        let name = key_name(&it.key);
        let kind = match it.kind {
            MethodDefinitionKind::Constructor => FnKind::Fixed("a constructor"),
            MethodDefinitionKind::Get => FnKind::Fixed("a getter"),
            MethodDefinitionKind::Set => FnKind::Fixed("a setter"),
            MethodDefinitionKind::Method => FnKind::Normal,
        };
        let key_start = it.key.span().start;
        let async_at = if it.computed {
            // `[expr]() {}`: before the `[`.
            let head = self.text(Span::new(it.span.start, key_start));
            head.rfind('[').map_or(key_start, |i| it.span.start + i as u32)
        } else {
            key_start
        };
        let m = self.meta_for(start);
        m.bound = true;
        m.prop_name = name.clone();
        m.name = name;
        m.kind = Some(kind);
        m.async_at = Some(async_at);
        walk::walk_method_definition(self, it);
    }

    fn visit_property_definition(&mut self, it: &PropertyDefinition<'a>) {
        if let Some(v) = &it.value {
            let name = key_name(&it.key);
            self.bind_value(v, name.clone(), None, name);
        }
        let idx = self.push_fixed(it.span, "a class field initializer");
        self.stack.push(idx);
        walk::walk_property_definition(self, it);
        self.stack.pop();
    }

    fn visit_accessor_property(&mut self, it: &AccessorProperty<'a>) {
        let idx = self.push_fixed(it.span, "a class accessor initializer");
        self.stack.push(idx);
        walk::walk_accessor_property(self, it);
        self.stack.pop();
    }

    fn visit_static_block(&mut self, it: &StaticBlock<'a>) {
        let idx = self.push_fixed(it.span, "a class static block");
        self.stack.push(idx);
        walk::walk_static_block(self, it);
        self.stack.pop();
    }

    fn visit_function(&mut self, it: &Function<'a>, flags: ScopeFlags) {
        if let Some(id) = &it.id {
            let m = self.meta_for(it.span.start);
            if m.name.is_none() {
                m.name = Some(id.name.to_string());
            }
            if it.r#type == FunctionType::FunctionDeclaration {
                m.bound = true;
            }
            // Calls resolve after the walk, so a declaration called before it
            // is written (hoisting) and a named function expression calling
            // itself both resolve.
            self.info.sym_fns.entry(id.symbol_id()).or_default().push(it.span.start);
        }
        let idx = self.push_fn(it.span, it.params.span, it.r#async, it.generator);
        self.stack.push(idx);
        walk::walk_function(self, it, flags);
        self.stack.pop();
    }

    fn visit_arrow_function_expression(&mut self, it: &ArrowFunctionExpression<'a>) {
        let idx = self.push_fn(it.span, it.params.span, it.r#async, false);
        self.stack.push(idx);
        walk::walk_arrow_function_expression(self, it);
        self.stack.pop();
    }

    // === expressions ===

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        self.record_call(it.span, &it.callee, &it.arguments);
        walk::walk_call_expression(self, it);
    }

    fn visit_tagged_template_expression(&mut self, it: &TaggedTemplateExpression<'a>) {
        if let Expression::CallExpression(c) = &it.tag {
            self.info.paren.insert((c.span.start, c.span.end));
        }
        self.record_call(it.span, &it.tag, &[]);
        walk::walk_tagged_template_expression(self, it);
    }

    fn visit_new_expression(&mut self, it: &NewExpression<'a>) {
        if let Expression::CallExpression(c) = &it.callee {
            self.info.paren.insert((c.span.start, c.span.end));
        }
        if let Expression::Identifier(id) = unparen(&it.callee)
            && id.name == "Promise"
            && self.sym_of(id).is_none()
        {
            self.sync_args(&it.arguments, "new Promise", it.span);
        }
        walk::walk_new_expression(self, it);
    }

    fn visit_static_member_expression(&mut self, it: &StaticMemberExpression<'a>) {
        if let Expression::CallExpression(c) = &it.object {
            self.info.paren.insert((c.span.start, c.span.end));
        }
        let prop = it.property.name.as_str();
        match unparen(&it.object) {
            Expression::Identifier(id) => {
                self.member_objects.insert(id.span.start);
                match self.imports_of(id) {
                    Some(Import::K6Module(m))
                        if self.check_member(m, prop, it.property.span)
                            && m.blocks(prop)
                            && !self.callee_spans.contains(&(it.span.start, it.span.end)) =>
                    {
                        // `const get = http.get`: a blocking function as a value.
                        self.info.k6_escapes = true;
                    }
                    Some(Import::K6Member(m, member)) => {
                        if let Some(nested) = m.nested(&member)
                            && !nested.contains(&prop)
                        {
                            self.refuse_nested(m, &member, prop, nested, it.property.span);
                        }
                    }
                    _ => {}
                }
            }
            Expression::StaticMemberExpression(inner) => {
                if let Some(Import::K6Module(m)) = self.module_of(&inner.object) {
                    let member = inner.property.name.as_str();
                    if let Some(nested) = m.nested(member)
                        && !nested.contains(&prop)
                    {
                        self.refuse_nested(m, member, prop, nested, it.property.span);
                    }
                }
            }
            _ => {}
        }
        walk::walk_static_member_expression(self, it);
    }

    fn visit_computed_member_expression(&mut self, it: &ComputedMemberExpression<'a>) {
        if let Expression::CallExpression(c) = &it.object {
            self.info.paren.insert((c.span.start, c.span.end));
        }
        if let Expression::Identifier(id) = unparen(&it.object) {
            self.member_objects.insert(id.span.start);
            if let Some(Import::K6Module(m)) = self.imports_of(id) {
                if let Expression::StringLiteral(s) = unparen(&it.expression) {
                    self.check_member(m, &s.value, s.span);
                }
                if !m.blocking.is_empty() && !self.callee_spans.contains(&(it.span.start, it.span.end)) {
                    self.info.k6_escapes = true;
                }
            }
        }
        walk::walk_computed_member_expression(self, it);
    }

    fn visit_private_field_expression(&mut self, it: &PrivateFieldExpression<'a>) {
        if let Expression::CallExpression(c) = &it.object {
            self.info.paren.insert((c.span.start, c.span.end));
        }
        walk::walk_private_field_expression(self, it);
    }

    fn visit_binary_expression(&mut self, it: &BinaryExpression<'a>) {
        if it.operator == oxc_syntax::operator::BinaryOperator::Exponential
            && let Expression::CallExpression(c) = &it.left
        {
            self.info.paren.insert((c.span.start, c.span.end));
        }
        walk::walk_binary_expression(self, it);
    }

    fn visit_await_expression(&mut self, it: &AwaitExpression<'a>) {
        if self.stack.is_empty() {
            self.info.error(
                it.span,
                "",
                "top-level await is not supported",
                "await inside a function (the default function, setup, or a helper)",
            );
        }
        if let Expression::CallExpression(c) = unparen(&it.argument) {
            self.info.user_awaited.insert((c.span.start, c.span.end));
        }
        walk::walk_await_expression(self, it);
    }

    fn visit_for_of_statement(&mut self, it: &ForOfStatement<'a>) {
        if it.r#await && self.stack.is_empty() {
            self.info.error(
                it.span,
                "",
                "top-level `for await` is not supported",
                "loop inside a function (the default function, setup, or a helper)",
            );
        }
        walk::walk_for_of_statement(self, it);
    }

    fn visit_expression_statement(&mut self, it: &ExpressionStatement<'a>) {
        self.info.stmt_starts.insert(it.span.start);
        walk::walk_expression_statement(self, it);
    }

    fn visit_identifier_reference(&mut self, it: &IdentifierReference<'a>) {
        let Some(sym) = self.sym_of(it) else {
            let name = it.name.as_str();
            if let Some((_, why)) = api::REFUSED_GLOBALS.iter().find(|(g, _)| *g == name)
                && self.refused_globals.insert(name.to_string())
            {
                self.info.error(
                    it.span,
                    "",
                    format!("`{name}` is not supported ({why})"),
                    format!("globals a k6 script may use besides standard JavaScript: {}", api::GLOBALS),
                );
            }
            return;
        };
        let start = it.span.start;
        if self.in_export_specifier || self.tracked_refs.contains(&start) {
            return;
        }
        match self.info.imports.get(&sym) {
            Some(Import::K6Module(m)) => {
                if !self.member_objects.contains(&start) && !m.blocking.is_empty() {
                    self.info.k6_escapes = true;
                }
                return;
            }
            Some(Import::K6Member(m, member)) => {
                if m.blocks(member) && !self.callee_refs.contains(&start) {
                    self.info.k6_escapes = true;
                }
                return;
            }
            _ => {}
        }
        if !self.callee_refs.contains(&start) {
            self.info.value_refs.push(sym);
        }
    }
}

impl Collector<'_, '_> {
    fn refuse_nested(&mut self, m: &'static K6Module, member: &str, prop: &str, nested: &[&str], span: Span) {
        let hint = stampede_scenario_suggest(prop, nested);
        self.info.error(
            span,
            "",
            format!("'{member}.{prop}' of '{}' is not supported{hint}", m.name),
            format!("supported: {}", nested.iter().map(|n| format!("{member}.{n}")).collect::<Vec<_>>().join(", ")),
        );
    }
}
