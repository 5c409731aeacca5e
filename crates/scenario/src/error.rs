//! `ScenarioError`: one mistake in a scenario file, located (file, line,
//! column, dotted field path) and explained (what is wrong, what is allowed).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Where an error points inside the scenario file (1-based line and column,
/// columns counted in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    line: usize,
    column: usize,
    /// The offending line, possibly shortened around the column.
    snippet: String,
    /// Caret column inside `snippet` (0-based, in characters) and caret width.
    caret_at: usize,
    caret_len: usize,
}

/// A mistake in a scenario file (or in an override such as `--target`).
///
/// Its `Display` is
///
/// ```text
/// FILE:LINE:COL: error in `FIELD.PATH`: MESSAGE
///   help: WHAT IS ALLOWED
///    |
/// 12 | vuss = 10
///    | ^^^^
/// ```
///
/// The position and snippet are left out when the mistake has no place in the
/// file (an empty file, a bad `--target`), the field when it is about the
/// whole file (TOML syntax).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ScenarioError {
    /// Boxed: errors travel up through every compile function's `Result`.
    inner: Box<Inner>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    file: PathBuf,
    position: Option<Position>,
    field: String,
    message: String,
    help: String,
    /// A warning (the plan still compiles; see `Plan::warnings`) rather than an error.
    warning: bool,
}

impl ScenarioError {
    /// Builds an error; `span` is a byte range of `source`.
    pub fn new(
        file: &Path,
        source: &str,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            inner: Box::new(Inner {
                file: file.to_path_buf(),
                position: span.map(|span| locate(source, span)),
                field: field.into(),
                message: message.into(),
                help: help.into(),
                warning: false,
            }),
        }
    }

    /// The same mistake reported as a warning: the plan is still valid.
    pub fn into_warning(mut self) -> ScenarioError {
        self.inner.warning = true;
        self
    }

    /// Whether this is a warning (from `Plan::warnings`) rather than an error.
    pub fn is_warning(&self) -> bool {
        self.inner.warning
    }

    /// The scenario file.
    pub fn file(&self) -> &Path {
        &self.inner.file
    }

    /// 1-based line of the offending value, when the mistake has a place in the file.
    pub fn line(&self) -> Option<usize> {
        self.inner.position.as_ref().map(|p| p.line)
    }

    /// 1-based column (in characters) of the offending value.
    pub fn column(&self) -> Option<usize> {
        self.inner.position.as_ref().map(|p| p.column)
    }

    /// Dotted path of the offending field, e.g. `scenarios.browsers.vus` or
    /// `flows.browse.steps[0].url`; empty for file-level mistakes.
    pub fn field(&self) -> &str {
        &self.inner.field
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// What would be valid instead (may be empty).
    pub fn help(&self) -> &str {
        &self.inner.help
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner.file.display())?;
        if let Some(p) = &self.inner.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        let severity = if self.inner.warning { "warning" } else { "error" };
        // Messages quote the file's text, which may hold control characters
        // (ESC could recolour or clear the terminal the error is printed on).
        let (field, message, help) =
            (printable(&self.inner.field), printable(&self.inner.message), printable(&self.inner.help));
        if field.is_empty() {
            write!(f, ": {severity}: {message}")?;
        } else {
            write!(f, ": {severity} in `{field}`: {message}")?;
        }
        if !help.is_empty() {
            write!(f, "\n  help: {help}")?;
        }
        if let Some(p) = &self.inner.position {
            let number = p.line.to_string();
            let pad = " ".repeat(number.len());
            write!(
                f,
                "\n{pad} |\n{number} | {}\n{pad} | {}{}",
                p.snippet,
                " ".repeat(p.caret_at),
                "^".repeat(p.caret_len.max(1))
            )?;
        }
        Ok(())
    }
}

/// `text` with control characters other than newlines written as `\u001b`.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Longest snippet shown; longer lines are cut around the caret.
const SNIPPET_CHARS: usize = 100;

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn locate(source: &str, span: Range<usize>) -> Position {
    let start = floor_boundary(source, span.start);
    let end = floor_boundary(source, span.end.max(start));
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..].find('\n').map_or(source.len(), |i| start + i);
    let line = source[..start].matches('\n').count() + 1;
    let text = source[line_start..line_end].trim_end_matches('\r');
    let column0 = source[line_start..start].chars().count();
    let caret_len = source[start..end.min(line_end).max(start)].chars().count();

    // Tabs would misalign the caret: show them as one space each.
    let chars: Vec<char> = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let (from, caret_at) = if chars.len() <= SNIPPET_CHARS || column0 < SNIPPET_CHARS / 2 {
        (0, column0)
    } else {
        let from = column0 - SNIPPET_CHARS / 2;
        (from, SNIPPET_CHARS / 2)
    };
    let to = (from + SNIPPET_CHARS).min(chars.len());
    let mut snippet: String = chars[from.min(to)..to].iter().collect();
    if from > 0 {
        snippet.insert(0, '…');
    }
    if to < chars.len() {
        snippet.push('…');
    }
    let caret_at = caret_at + usize::from(from > 0);
    let caret_len = caret_len.clamp(1, (to + 1).saturating_sub(from + caret_at).max(1));
    Position { line, column: column0 + 1, snippet, caret_at, caret_len }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_location_field_help_and_caret() {
        let src = "[scenarios.a]\nvuss = 10\n";
        let e = ScenarioError::new(
            Path::new("s.toml"),
            src,
            Some(14..18),
            "scenarios.a.vuss",
            "unknown field `vuss`; did you mean `vus`?",
            "allowed here: vus",
        );
        assert_eq!((e.line(), e.column()), (Some(2), Some(1)));
        let text = e.to_string();
        assert!(text.starts_with("s.toml:2:1: error in `scenarios.a.vuss`: unknown field"));
        assert!(text.contains("\n  help: allowed here: vus"));
        assert!(text.contains("2 | vuss = 10\n  | ^^^^"), "{text}");
    }

    #[test]
    fn control_characters_from_the_file_are_not_printed_raw() {
        let src = "method = \"GE\u{1b}[2JT\"\n";
        let e =
            ScenarioError::new(Path::new("s.toml"), src, Some(9..16), "method", "unknown method `GE\u{1b}[2JT`", "");
        let text = e.to_string();
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(text.contains("unknown method `GE\\u001b[2JT`"), "{text}");
    }

    #[test]
    fn spans_past_the_end_or_inside_a_char_do_not_panic() {
        let src = "é\n";
        #[allow(clippy::reversed_empty_ranges)]
        let spans = [0..1, 1..2, 5..9, 3..1];
        for span in spans {
            let e = ScenarioError::new(Path::new("x"), src, Some(span), "", "m", "");
            let _ = e.to_string();
        }
    }
}
