//! Applying the edits: a module's source becomes its factory, and the
//! position map turns a factory position back into the script's.

use super::collect::{Edit, ExportTarget, Import, ImportBinding, LocalName, ModuleInfo};

/// The factory's first line: its parameters, strict mode, the imports.
/// The script's own text starts on the second line.
fn prefix(bindings: &[ImportBinding], order: &[usize]) -> String {
    let mut out = String::from("(function (__k6, __k6_import) { \"use strict\"; ");
    for b in bindings {
        let value = match &b.source {
            Import::K6Module(m) => format!("__k6.module({})", json(m.name)),
            Import::K6Member(m, member) => format!("__k6.module({})[{}]", json(m.name), json(member)),
            Import::Local(id, name) => local(order[*id], name),
        };
        out.push_str(&format!("const {} = {value}; ", b.local));
    }
    out.push('\n');
    out
}

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn local(index: usize, name: &LocalName) -> String {
    match name {
        LocalName::Namespace => format!("__k6_import({index})"),
        LocalName::Default => format!("__k6_import({index})[\"default\"]"),
        LocalName::Named(n) => format!("__k6_import({index})[{}]", json(n)),
    }
}

/// The factory's end: the module's exports as an object.
fn suffix(m: &ModuleInfo, order: &[usize]) -> String {
    let mut own = String::from("{ ");
    for (name, target) in &m.exports {
        let value = match target {
            ExportTarget::Sym(_, local_name) => local_name.clone(),
            ExportTarget::DefaultFn(_) | ExportTarget::DefaultValue => "__k6_default".into(),
            ExportTarget::ReExport(id, n) => local(order[*id], n),
            ExportTarget::K6(k, Some(member)) => format!("__k6.module({})[{}]", json(k.name), json(member)),
            ExportTarget::K6(k, None) => format!("__k6.module({})", json(k.name)),
        };
        own.push_str(&format!("{}: {value}, ", json(name)));
    }
    own.push('}');
    if m.star_exports.is_empty() {
        return format!("\n;return {own};\n}})");
    }
    let stars: Vec<String> = m.star_exports.iter().map(|id| format!("__k6_import({})", order[*id])).collect();
    format!(
        "\n;return Object.assign({{}}, ...[{}].map(({{ default: __k6_d, ...__k6_rest }}) => __k6_rest), {own});\n}})",
        stars.join(", ")
    )
}

/// Where each inserted or replaced piece of text sits, to map positions back.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    /// Offset in the body (after the prefix line) where the edit's text starts.
    out: u32,
    /// Offset in the source where the edit applies.
    orig: u32,
    inserted: u32,
    removed: u32,
}

/// Maps positions in a module's factory back to its source.
#[derive(Debug, Clone)]
pub struct PositionMap {
    prefix_len: u32,
    anchors: Vec<Anchor>,
    /// Byte offset of each line start in the factory.
    factory_lines: Vec<u32>,
    source_len: u32,
}

impl PositionMap {
    /// The source offset of a factory byte offset. Text the transform
    /// inserted maps to where it was inserted; the prefix line to 0.
    pub fn offset(&self, out: u32) -> u32 {
        let Some(body) = out.checked_sub(self.prefix_len) else { return 0 };
        let i = self.anchors.partition_point(|a| a.out <= body);
        let orig = match i.checked_sub(1).map(|i| self.anchors[i]) {
            None => body,
            Some(a) if body < a.out + a.inserted => a.orig,
            Some(a) => a.orig + a.removed + (body - a.out - a.inserted),
        };
        orig.min(self.source_len)
    }

    /// The source offset of a 1-based line and column of the factory text
    /// (as the JS engine reports them; columns counted in bytes of UTF-8).
    pub fn line_col_offset(&self, line: u32, col: u32) -> u32 {
        let line_start = self.factory_lines.get(line.saturating_sub(1) as usize).copied().unwrap_or(u32::MAX);
        if line_start == u32::MAX {
            return self.source_len;
        }
        self.offset(line_start.saturating_add(col.saturating_sub(1)))
    }
}

/// Applies a module's edits and wraps it: `(function (__k6, __k6_import) {
/// "use strict"; <imports>\n<source, edited>\n;return {<exports>};\n})`.
/// `order` maps module ids to their place in the bundle.
pub(crate) fn emit(m: &ModuleInfo, order: &[usize]) -> Result<(String, PositionMap), String> {
    let mut edits: Vec<&Edit> = m.edits.iter().collect();
    // At one position: closing edits first (innermost first), then opening
    // ones (outermost first); an edit that removes text comes last of all.
    edits.sort_by(|a, b| {
        a.pos
            .cmp(&b.pos)
            .then_with(|| b.close.cmp(&a.close))
            .then_with(|| (a.remove > 0).cmp(&(b.remove > 0)))
            .then_with(|| if a.close { b.seq.cmp(&a.seq) } else { a.seq.cmp(&b.seq) })
    });
    let src: &str = &m.src;
    let head = prefix(&m.bindings, order);
    let mut out = String::with_capacity(src.len() + head.len() + 256);
    out.push_str(&head);
    let body_start = out.len();
    let mut anchors = Vec::with_capacity(edits.len());
    let mut at = 0usize;
    for e in edits {
        let pos = e.pos as usize;
        if pos < at || pos > src.len() || !src.is_char_boundary(pos) {
            return Err(format!("overlapping or misplaced edit at offset {pos}"));
        }
        let end = pos + e.remove as usize;
        if end > src.len() || !src.is_char_boundary(end) {
            return Err(format!("edit past the end at offset {pos}"));
        }
        out.push_str(&src[at..pos]);
        anchors.push(Anchor {
            out: (out.len() - body_start) as u32,
            orig: e.pos,
            inserted: e.text.len() as u32,
            removed: e.remove,
        });
        out.push_str(&e.text);
        at = end;
    }
    out.push_str(&src[at..]);
    out.push_str(&suffix(m, order));
    let factory_lines = std::iter::once(0).chain(out.match_indices('\n').map(|(i, _)| i as u32 + 1)).collect();
    let map = PositionMap { prefix_len: body_start as u32, anchors, factory_lines, source_len: src.len() as u32 };
    Ok((out, map))
}
