//! Templates: `{{ ... }}` placeholders in URLs, headers and bodies, compiled
//! once at plan time into parts and rendered per request into a reused buffer.
//!
//! Syntax inside the braces (whitespace optional):
//! - `NAME`: a variable set by an extractor;
//! - `data.SET.COLUMN`: the VU's current row of a data set;
//! - `env.KEY`: resolved at plan time (becomes literal text);
//! - builtins `vu`, `iter`, `scenario`, `uuid`, `timestamp_ms`,
//!   `random_int(MIN, MAX)`, `random_choice("a", "b", ...)`;
//! - `item`: the current element of a `for_each` (only where one applies);
//! - a string literal, `{{ "{{" }}`, for text that would otherwise read as a
//!   placeholder.

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::plan::DataSet;
use crate::suggest::did_you_mean;

/// A compiled template. Rendering never parses and never allocates beyond
/// growing the caller's buffer.
#[derive(Debug, Clone)]
pub struct Template {
    pub(crate) parts: Box<[Part]>,
    /// How substituted (non-literal) values are escaped.
    pub(crate) escape: Escape,
    /// The template's source text (for messages and default request names).
    pub(crate) source: Arc<str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    None,
    /// Inside a JSON string literal: `"` `\` and control characters escaped.
    JsonString,
    /// In a URL: non-ASCII characters (literal or substituted), and controls
    /// and spaces in substituted values, are percent-encoded as UTF-8, as
    /// browsers do; everything else (`/`, `?`, `&`, `%`, …) is kept, so a
    /// value may carry an already-encoded piece of URL.
    Url,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    /// Literal text, already escaped for the template's `Escape`.
    Lit(Arc<str>),
    /// `{{ name }}`: a per-VU variable set by an extractor.
    Var(usize),
    /// `{{ data.SET.COLUMN }}`: the VU's current row of a data set.
    Data { set: usize, column: usize },
    /// `{{ vu }}` (1-based VU id, unique in the whole test).
    VuId,
    /// `{{ iter }}` (0-based iteration number of this VU in its scenario).
    Iteration,
    /// `{{ scenario }}`
    Scenario,
    /// `{{ random_int(MIN, MAX) }}` inclusive.
    RandomInt { min: i64, max: i64 },
    /// `{{ random_choice("a", "b", ...) }}`
    RandomChoice(Arc<[Arc<str>]>),
    /// `{{ uuid }}` (random v4).
    Uuid,
    /// `{{ timestamp_ms }}` (Unix epoch milliseconds).
    TimestampMs,
    /// `{{ item }}`: the current element of the step's (or batch's) `for_each`.
    Item,
}

/// What a VU supplies when rendering.
pub struct RenderContext<'a> {
    /// Per-VU variable slots (`Plan::var_slots` long); `None` renders empty.
    pub vars: &'a [Option<String>],
    /// The plan's data sets.
    pub data: &'a [DataSet],
    /// The current row index of each data set for this VU and iteration.
    pub data_rows: &'a [usize],
    pub vu_id: u64,
    pub iteration: u64,
    pub scenario: &'a str,
    pub rng: &'a mut fastrand::Rng,
    /// The current element of a `for_each` (empty outside one).
    pub item: &'a str,
}

impl Template {
    /// Appends the rendered text to `out`.
    ///
    /// Out-of-range slots or rows (a context that does not match the plan)
    /// render empty or wrap around rather than panic.
    pub fn render(&self, ctx: &mut RenderContext<'_>, out: &mut String) {
        let escape = self.escape;
        for part in self.parts.iter() {
            match part {
                Part::Lit(text) => out.push_str(text),
                Part::Var(slot) => {
                    if let Some(Some(value)) = ctx.vars.get(*slot) {
                        push_escaped(out, value, escape);
                    }
                }
                Part::Data { set, column } => {
                    let Some(data) = ctx.data.get(*set) else { continue };
                    if data.rows.is_empty() {
                        continue;
                    }
                    let row = ctx.data_rows.get(*set).copied().unwrap_or(0) % data.rows.len();
                    if let Some(value) = data.rows[row].get(*column) {
                        push_escaped(out, value, escape);
                    }
                }
                Part::VuId => {
                    let _ = write!(out, "{}", ctx.vu_id);
                }
                Part::Iteration => {
                    let _ = write!(out, "{}", ctx.iteration);
                }
                Part::Scenario => push_escaped(out, ctx.scenario, escape),
                Part::RandomInt { min, max } => {
                    let _ = write!(out, "{}", ctx.rng.i64(*min..=*max));
                }
                Part::RandomChoice(choices) => {
                    if !choices.is_empty() {
                        push_escaped(out, &choices[ctx.rng.usize(..choices.len())], escape);
                    }
                }
                Part::Uuid => {
                    let uuid = uuid::Builder::from_random_bytes(ctx.rng.u128(..).to_le_bytes()).into_uuid();
                    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
                    out.push_str(uuid.hyphenated().encode_lower(&mut buf));
                }
                Part::TimestampMs => {
                    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
                    let _ = write!(out, "{ms}");
                }
                Part::Item => push_escaped(out, ctx.item, escape),
            }
        }
    }

    /// The literal text when the template has no placeholders (render can be skipped).
    pub fn as_static(&self) -> Option<&str> {
        match &*self.parts {
            [] => Some(""),
            [Part::Lit(text)] => Some(text),
            _ => None,
        }
    }

    /// The source text as written in the scenario file.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// A template without placeholders that renders `text` as-is.
    pub fn literal(text: &str) -> Template {
        Template::from_parts(vec![Part::Lit(text.into())], Escape::None, text.into())
    }

    /// Builds a template, merging adjacent literals and dropping empty ones.
    pub(crate) fn from_parts(parts: Vec<Part>, escape: Escape, source: Arc<str>) -> Template {
        let mut merged: Vec<Part> = Vec::with_capacity(parts.len());
        let mut pending = String::new();
        for part in parts {
            match part {
                Part::Lit(text) => pending.push_str(&text),
                part => {
                    if !pending.is_empty() {
                        merged.push(Part::Lit(std::mem::take(&mut pending).into()));
                    }
                    merged.push(part);
                }
            }
        }
        if !pending.is_empty() {
            merged.push(Part::Lit(pending.into()));
        }
        Template { parts: merged.into_boxed_slice(), escape, source }
    }

    /// Compiles `source` (plain text with placeholders) for `escape`.
    pub(crate) fn compile(source: &str, escape: Escape, scope: &Scope<'_>) -> Result<Template, TemplateError> {
        let parts = parse_parts(source, escape, scope)?;
        Ok(Template::from_parts(parts, escape, source.into()))
    }

    /// Renders with every placeholder replaced by `sample` (for validating the
    /// literal parts of URLs and header values at plan time).
    pub(crate) fn render_sample(&self, sample: &str) -> String {
        let mut out = String::new();
        for part in self.parts.iter() {
            match part {
                Part::Lit(text) => out.push_str(text),
                _ => out.push_str(sample),
            }
        }
        out
    }

    /// Prefixes the first literal (used to join a base URL at plan time).
    pub(crate) fn prefix_literal(&mut self, prefix: &str) {
        let mut parts = std::mem::take(&mut self.parts).into_vec();
        match parts.first_mut() {
            Some(Part::Lit(text)) => *text = format!("{prefix}{text}").into(),
            _ => parts.insert(0, Part::Lit(prefix.into())),
        }
        self.parts = parts.into_boxed_slice();
    }

    /// The leading literal text (empty when the template starts with a placeholder).
    pub fn leading_literal(&self) -> &str {
        match self.parts.first() {
            Some(Part::Lit(text)) => text,
            _ => "",
        }
    }
}

/// Appends `value` escaped for `escape`.
pub(crate) fn push_escaped(out: &mut String, value: &str, escape: Escape) {
    match escape {
        Escape::None => out.push_str(value),
        Escape::JsonString => push_json_escaped(out, value),
        Escape::Url => push_url_escaped(out, value, |b| b <= b' ' || b == 0x7f),
    }
}

/// Appends `value`, percent-encoding (as UTF-8) every non-ASCII character and
/// the ASCII bytes `encode_ascii` selects.
pub(crate) fn push_url_escaped(out: &mut String, value: &str, encode_ascii: impl Fn(u8) -> bool) {
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if c.is_ascii() && !encode_ascii(c as u8) {
            continue;
        }
        out.push_str(&value[start..i]);
        let mut buf = [0u8; 4];
        for b in c.encode_utf8(&mut buf).bytes() {
            let _ = write!(out, "%{b:02X}");
        }
        start = i + c.len_utf8();
    }
    out.push_str(&value[start..]);
}

/// Percent-encodes the non-ASCII characters of literal URL text.
pub(crate) fn encode_non_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_url_escaped(&mut out, text, |_| false);
    out
}

/// Appends `value` as the inside of a JSON string literal.
pub(crate) fn push_json_escaped(out: &mut String, value: &str) {
    let mut start = 0;
    for (i, c) in value.char_indices() {
        let replacement = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.push_str(&value[start..i]);
        if replacement.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push_str(replacement);
        }
        start = i + c.len_utf8();
    }
    out.push_str(&value[start..]);
}

// === compiling ===

/// What names a template may use.
pub(crate) struct Scope<'a> {
    /// Variable slots, by slot (names defined by extractors).
    pub vars: &'a [Arc<str>],
    pub data: &'a [DataSet],
    /// Looks up `env.KEY` at plan time.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// `{{ item }}` is defined (the template belongs to a step that repeats
    /// with `for_each`, or to a batch that does).
    pub item: bool,
}

/// A mistake in a template; `range` is a byte range of the template source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TemplateError {
    pub range: Range<usize>,
    pub message: String,
    pub help: String,
}

fn terr(range: Range<usize>, message: impl Into<String>, help: impl Into<String>) -> TemplateError {
    TemplateError { range, message: message.into(), help: help.into() }
}

const BUILTINS: &[&str] = &["vu", "iter", "scenario", "uuid", "timestamp_ms", "random_int", "random_choice", "item"];

/// Names an extractor may not use for its variable.
pub(crate) const RESERVED_NAMES: &[&str] =
    &["vu", "iter", "scenario", "uuid", "timestamp_ms", "random_int", "random_choice", "item", "data", "env"];

const PLACEHOLDER_HELP: &str = "placeholders are `{{ NAME }}` (a variable set by an extractor), `{{ data.SET.COLUMN }}`, `{{ env.KEY }}`, or a builtin: `vu`, `iter`, `scenario`, `uuid`, `timestamp_ms`, `random_int(MIN, MAX)`, `random_choice(\"a\", \"b\")`, `item` (in a for_each); write a literal `{{` as `{{ \"{{\" }}`";

fn parse_parts(source: &str, escape: Escape, scope: &Scope<'_>) -> Result<Vec<Part>, TemplateError> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let flush = |lit: &mut String, parts: &mut Vec<Part>| {
        if !lit.is_empty() {
            let text = match escape {
                Escape::None => std::mem::take(lit),
                Escape::Url => {
                    let escaped = encode_non_ascii(lit);
                    lit.clear();
                    escaped
                }
                Escape::JsonString => {
                    let mut escaped = String::with_capacity(lit.len());
                    push_json_escaped(&mut escaped, lit);
                    lit.clear();
                    escaped
                }
            };
            parts.push(Part::Lit(text.into()));
        }
    };
    let mut rest = 0;
    while let Some(k) = source[rest..].find("{{") {
        let open = rest + k;
        lit.push_str(&source[rest..open]);
        let (piece, end) = parse_placeholder(source, open, scope)?;
        match piece {
            Piece::Text(text) => lit.push_str(&text),
            Piece::Part(part) => {
                flush(&mut lit, &mut parts);
                parts.push(part);
            }
        }
        rest = end;
    }
    lit.push_str(&source[rest..]);
    flush(&mut lit, &mut parts);
    Ok(parts)
}

enum Piece {
    /// Resolved at plan time (`env.KEY`, a string literal).
    Text(String),
    Part(Part),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Str(String),
    Int(i64),
    LParen,
    RParen,
    Comma,
    Close,
}

/// Splits a placeholder (from `{{` at `open`) into tokens up to its `}}`;
/// returns the tokens with their ranges and the offset just past `}}`.
#[allow(clippy::type_complexity)]
fn lex(source: &str, open: usize) -> Result<(Vec<(Tok, Range<usize>)>, usize), TemplateError> {
    let unclosed = || {
        terr(
            open..(open + 2),
            "unclosed `{{`: a placeholder ends with `}}`",
            "close it, e.g. `{{ token }}`; for a literal `{{` write `{{ \"{{\" }}`",
        )
    };
    let bytes = source.as_bytes();
    let mut toks = Vec::new();
    let mut i = open + 2;
    loop {
        while i < bytes.len() && (bytes[i] as char).is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return Err(unclosed());
        }
        let start = i;
        let c = bytes[i];
        let tok = match c {
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                toks.push((Tok::Close, i..i + 2));
                return Ok((toks, i + 2));
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b'"' => {
                i += 1;
                let mut text = String::new();
                loop {
                    let Some(ch) = source[i..].chars().next() else { return Err(unclosed()) };
                    i += ch.len_utf8();
                    match ch {
                        '"' => break,
                        '\\' => {
                            let Some(esc) = source[i..].chars().next() else { return Err(unclosed()) };
                            i += esc.len_utf8();
                            match esc {
                                '"' | '\\' => text.push(esc),
                                'n' => text.push('\n'),
                                't' => text.push('\t'),
                                _ => {
                                    return Err(terr(
                                        (i - 2)..i,
                                        format!("unknown escape `\\{esc}` in a template string"),
                                        "template strings know `\\\"`, `\\\\`, `\\n` and `\\t`",
                                    ));
                                }
                            }
                        }
                        _ => text.push(ch),
                    }
                }
                Tok::Str(text)
            }
            b'-' | b'0'..=b'9' => {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let text = &source[start..i];
                let n = text.parse::<i64>().map_err(|_| {
                    terr(start..i, format!("`{text}` is not a 64-bit integer"), "use a whole number such as 1 or -5")
                })?;
                Tok::Int(n)
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'.' | b'-')) {
                    i += 1;
                }
                Tok::Name(source[start..i].to_string())
            }
            _ => {
                let ch = source[i..].chars().next().unwrap_or('?');
                if ch == '{' || ch == '}' {
                    // `{{ a }` or `{{ {{`: most likely a missing `}}`.
                    return Err(unclosed());
                }
                return Err(terr(
                    i..i + ch.len_utf8(),
                    format!("unexpected `{ch}` in a placeholder"),
                    PLACEHOLDER_HELP,
                ));
            }
        };
        toks.push((tok, start..i));
    }
}

fn parse_placeholder(source: &str, open: usize, scope: &Scope<'_>) -> Result<(Piece, usize), TemplateError> {
    let (toks, end) = lex(source, open)?;
    let whole = open..end;
    let piece = match toks.as_slice() {
        [(Tok::Close, _)] => return Err(terr(whole, "empty placeholder `{{}}`", PLACEHOLDER_HELP)),
        [(Tok::Str(text), _), (Tok::Close, _)] => Piece::Text(text.clone()),
        [(Tok::Name(name), range), (Tok::Close, _)] => resolve_name(name, range.clone(), scope)?,
        [(Tok::Name(name), range), (Tok::LParen, _), args @ .., (Tok::RParen, _), (Tok::Close, _)] => {
            call(name, range.clone(), args, whole.clone())?
        }
        _ => {
            return Err(terr(whole, format!("cannot read placeholder `{}`", &source[open..end]), PLACEHOLDER_HELP));
        }
    };
    Ok((piece, end))
}

fn resolve_name(name: &str, range: Range<usize>, scope: &Scope<'_>) -> Result<Piece, TemplateError> {
    let part = match name {
        "vu" => Part::VuId,
        "iter" => Part::Iteration,
        "scenario" => Part::Scenario,
        "uuid" => Part::Uuid,
        "timestamp_ms" => Part::TimestampMs,
        "item" if scope.item => Part::Item,
        "item" => {
            return Err(terr(
                range,
                "`item` is the current element of a `for_each`, and none applies here",
                "`{{ item }}` is for a step with for_each = \"{{ LIST }}\", or a request of a batch that has one",
            ));
        }
        "random_int" => {
            return Err(terr(
                range,
                "`random_int` needs its bounds",
                "write `{{ random_int(1, 100) }}` (both inclusive)",
            ));
        }
        "random_choice" => {
            return Err(terr(range, "`random_choice` needs its choices", "write `{{ random_choice(\"a\", \"b\") }}`"));
        }
        _ => {
            if let Some(key) = name.strip_prefix("env.") {
                return resolve_env(key, range, scope);
            }
            if let Some(rest) = name.strip_prefix("data.") {
                return resolve_data(rest, range, scope).map(Piece::Part);
            }
            if name == "env" || name == "data" {
                return Err(terr(
                    range,
                    format!("`{name}` needs a name after it"),
                    "write `{{ env.KEY }}` or `{{ data.SET.COLUMN }}`",
                ));
            }
            match scope.vars.iter().position(|v| **v == *name) {
                Some(slot) => Part::Var(slot),
                None => return Err(unknown_variable(name, range, scope)),
            }
        }
    };
    Ok(Piece::Part(part))
}

fn unknown_variable(name: &str, range: Range<usize>, scope: &Scope<'_>) -> TemplateError {
    let candidates = scope.vars.iter().map(|v| &**v).chain(BUILTINS.iter().copied());
    let hint = did_you_mean(name, candidates).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
    let vars = if scope.vars.is_empty() {
        "none (an extractor defines one: `extract = [{ var = \"token\", json = \"$.token\" }]`)".to_string()
    } else {
        scope.vars.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
    };
    terr(
        range,
        format!("unknown variable `{name}`{hint}"),
        format!(
            "variables set by extractors: {vars}; builtins: `vu`, `iter`, `scenario`, `uuid`, `timestamp_ms`, `random_int(MIN, MAX)`, `random_choice(\"a\", \"b\")`, `item` (in a for_each); also `data.SET.COLUMN` and `env.KEY`"
        ),
    )
}

fn resolve_env(key: &str, range: Range<usize>, scope: &Scope<'_>) -> Result<Piece, TemplateError> {
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(terr(
            range,
            format!("`env.{key}` is not a valid environment variable name"),
            "write `{{ env.KEY }}` with KEY made of letters, digits and `_`",
        ));
    }
    match (scope.env)(key) {
        Some(value) => Ok(Piece::Text(value)),
        None => Err(terr(
            range,
            format!("environment variable `{key}` is not set"),
            format!("pass it with `-e {key}=VALUE`, or export it before running"),
        )),
    }
}

fn resolve_data(rest: &str, range: Range<usize>, scope: &Scope<'_>) -> Result<Part, TemplateError> {
    let mut segments = rest.split('.');
    let (Some(set_name), Some(column_name), None) = (segments.next(), segments.next(), segments.next()) else {
        return Err(terr(
            range,
            format!("`data.{rest}` is not `data.SET.COLUMN`"),
            "write e.g. `{{ data.users.email }}`",
        ));
    };
    let Some(set) = scope.data.iter().position(|d| &*d.name == set_name) else {
        let help = if scope.data.is_empty() {
            "no data sets are defined; add one: [data.users] file = \"data/users.csv\"".to_string()
        } else {
            format!("data sets: {}", scope.data.iter().map(|d| format!("`{}`", d.name)).collect::<Vec<_>>().join(", "))
        };
        let hint = did_you_mean(set_name, scope.data.iter().map(|d| &*d.name))
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(terr(range, format!("unknown data set `{set_name}`{hint}"), help));
    };
    let columns = &scope.data[set].columns;
    let Some(column) = columns.iter().position(|c| &**c == column_name) else {
        let hint = did_you_mean(column_name, columns.iter().map(|c| &**c))
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(terr(
            range,
            format!("data set `{set_name}` has no column `{column_name}`{hint}"),
            format!("its columns: {}", columns.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")),
        ));
    };
    Ok(Part::Data { set, column })
}

fn call(
    name: &str,
    name_range: Range<usize>,
    args: &[(Tok, Range<usize>)],
    whole: Range<usize>,
) -> Result<Piece, TemplateError> {
    // Arguments are separated by commas: every odd token must be a comma.
    let mut values = Vec::new();
    for (i, (tok, range)) in args.iter().enumerate() {
        if i % 2 == 1 {
            if *tok != Tok::Comma {
                return Err(terr(range.clone(), "expected `,` between arguments", PLACEHOLDER_HELP));
            }
        } else {
            values.push((tok, range.clone()));
        }
    }
    if args.len().is_multiple_of(2) && !args.is_empty() {
        return Err(terr(whole, "trailing `,` in the arguments", PLACEHOLDER_HELP));
    }
    match name {
        "random_int" => {
            let help = "write `{{ random_int(MIN, MAX) }}` with two whole numbers, MIN <= MAX (both inclusive)";
            let ints: Vec<i64> = values
                .iter()
                .map(|(tok, range)| match tok {
                    Tok::Int(n) => Ok(*n),
                    _ => Err(terr(range.clone(), "`random_int` takes whole numbers", help)),
                })
                .collect::<Result<_, _>>()?;
            let [min, max] = ints[..] else {
                return Err(terr(whole, format!("`random_int` takes 2 arguments, not {}", ints.len()), help));
            };
            if min > max {
                return Err(terr(whole, format!("`random_int({min}, {max})`: MIN is greater than MAX"), help));
            }
            Ok(Piece::Part(Part::RandomInt { min, max }))
        }
        "random_choice" => {
            let help = "write `{{ random_choice(\"a\", \"b\") }}` with one or more quoted strings";
            let choices: Vec<Arc<str>> = values
                .iter()
                .map(|(tok, range)| match tok {
                    Tok::Str(s) => Ok(Arc::from(s.as_str())),
                    _ => Err(terr(range.clone(), "`random_choice` takes quoted strings", help)),
                })
                .collect::<Result<_, _>>()?;
            if choices.is_empty() {
                return Err(terr(whole, "`random_choice` needs at least one choice", help));
            }
            Ok(Piece::Part(Part::RandomChoice(choices.into())))
        }
        "vu" | "iter" | "scenario" | "uuid" | "timestamp_ms" | "item" => {
            Err(terr(whole, format!("`{name}` takes no arguments"), format!("write `{{{{ {name} }}}}`")))
        }
        _ => {
            let hint = did_you_mean(name, ["random_int", "random_choice"].into_iter())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            Err(terr(
                name_range,
                format!("unknown function `{name}`{hint}"),
                "functions: `random_int(MIN, MAX)`, `random_choice(\"a\", \"b\", ...)`",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::DataOrder;

    fn users() -> Vec<DataSet> {
        vec![DataSet {
            name: "users".into(),
            order: DataOrder::Sequential,
            columns: vec!["id".into(), "email".into()],
            rows: Arc::new(vec![vec!["1".into(), "a@x.io".into()], vec!["2".into(), "b\"@x.io".into()]]),
            file: "users.csv".into(),
            path: "users.csv".into(),
        }]
    }

    fn compile(src: &str, escape: Escape) -> Result<Template, TemplateError> {
        let vars: Vec<Arc<str>> = vec!["token".into(), "csrf".into()];
        let data = users();
        let env = |k: &str| (k == "HOST").then(|| "shop.test".to_string());
        Template::compile(src, escape, &Scope { vars: &vars, data: &data, env: &env, item: false })
    }

    fn render(t: &Template) -> String {
        let data = users();
        let vars = vec![Some("tok\"en".to_string()), None];
        let mut rng = fastrand::Rng::with_seed(7);
        let mut ctx = RenderContext {
            vars: &vars,
            data: &data,
            data_rows: &[1],
            vu_id: 3,
            iteration: 9,
            scenario: "browse",
            rng: &mut rng,
            item: "",
        };
        let mut out = String::new();
        t.render(&mut ctx, &mut out);
        out
    }

    #[test]
    fn renders_vars_data_env_and_builtins() {
        let t = compile(
            "/u/{{data.users.id}}?t={{ token }}&c={{csrf}}&vu={{ vu }}&i={{iter}}&s={{ scenario }}&h={{ env.HOST }}",
            Escape::None,
        )
        .unwrap();
        assert_eq!(render(&t), "/u/2?t=tok\"en&c=&vu=3&i=9&s=browse&h=shop.test");
        assert_eq!(
            t.source(),
            "/u/{{data.users.id}}?t={{ token }}&c={{csrf}}&vu={{ vu }}&i={{iter}}&s={{ scenario }}&h={{ env.HOST }}"
        );
    }

    #[test]
    fn env_and_string_literals_become_static_text() {
        let t = compile("http://{{ env.HOST }}/{{ \"{{\" }}x}}", Escape::None).unwrap();
        assert_eq!(t.as_static(), Some("http://shop.test/{{x}}"));
        assert_eq!(compile("", Escape::None).unwrap().as_static(), Some(""));
        assert_eq!(compile("{{ vu }}", Escape::None).unwrap().as_static(), None);
    }

    #[test]
    fn random_builtins_stay_in_range() {
        let t = compile(
            "{{ random_int(-2, 2) }}|{{ random_choice(\"a\", \"b,c\") }}|{{ uuid }}|{{ timestamp_ms }}",
            Escape::None,
        )
        .unwrap();
        for _ in 0..50 {
            let out = render(&t);
            let fields: Vec<&str> = out.split('|').collect();
            let n: i64 = fields[0].parse().unwrap();
            assert!((-2..=2).contains(&n));
            assert!(fields[1] == "a" || fields[1] == "b,c");
            assert_eq!(fields[2].len(), 36);
            assert_eq!(&fields[2][14..15], "4", "uuid v4: {}", fields[2]);
            assert!(fields[3].parse::<u64>().unwrap() > 1_600_000_000_000);
        }
    }

    #[test]
    fn json_escaping_applies_to_values_and_literals() {
        let t = compile("a\"b {{ token }} {{ data.users.email }}\n", Escape::JsonString).unwrap();
        assert_eq!(render(&t), "a\\\"b tok\\\"en b\\\"@x.io\\n");
        let mut out = String::new();
        push_json_escaped(&mut out, "\u{1}\\\t");
        assert_eq!(out, "\\u0001\\\\\\t");
    }

    #[test]
    fn mistakes_are_located_and_explained() {
        let cases: &[(&str, &str, Range<usize>)] = &[
            ("/a/{{ token", "unclosed `{{`", 3..5),
            ("/a/{{ tokn }}", "did you mean `token`?", 6..10),
            ("{{ data.user.id }}", "unknown data set `user`; did you mean `users`?", 3..15),
            ("{{ data.users.mail }}", "did you mean `email`?", 3..18),
            ("{{ env.NOPE_X }}", "environment variable `NOPE_X` is not set", 3..13),
            ("{{ random_int(5, 1) }}", "MIN is greater than MAX", 0..22),
            ("{{ random_int(1) }}", "takes 2 arguments", 0..19),
            ("{{ random_int(1, \"x\") }}", "takes whole numbers", 17..20),
            ("{{ random_choice() }}", "at least one choice", 0..21),
            ("{{ uuid() }}", "takes no arguments", 0..12),
            ("{{ rand(1) }}", "unknown function `rand`", 3..7),
            ("{{ }}", "empty placeholder", 0..5),
            ("{{ a b }}", "cannot read placeholder", 0..9),
            ("{{ a } x", "unclosed", 0..2),
            ("{{ random_int(1, 99999999999999999999) }}", "not a 64-bit integer", 17..37),
        ];
        for (src, want, range) in cases {
            let err = compile(src, Escape::None).unwrap_err();
            assert!(err.message.contains(want), "{src}: {err:?}");
            assert_eq!(&err.range, range, "{src}: {err:?}");
            assert!(!err.help.is_empty());
        }
    }
}
