//! Groups and custom tags: `group = "checkout"` on flows and steps (k6's
//! `group()`, tag values `::checkout`, nested `::checkout::payment`) and
//! `tags = { page = "pdp" }` on target, flow and step, validated and interned
//! at plan time so a request's series key holds two integers for them.

use std::collections::HashMap;
use std::sync::Arc;

use crate::plan::TagSet;
use crate::walk::{Cx, Node, Result};

/// k6's separator of group path parts (`lib.GroupSeparator`).
pub const GROUP_SEPARATOR: &str = "::";

/// k6's system tags: a custom tag may not take their names, since they are
/// set by the engine (and `name` by a step's `name` field).
pub const SYSTEM_TAGS: &[&str] = &[
    "proto",
    "subproto",
    "status",
    "method",
    "url",
    "name",
    "group",
    "check",
    "error",
    "error_code",
    "tls_version",
    "scenario",
    "service",
    "expected_response",
    "ip",
    "ocsp_status",
    "vu",
    "iter",
];

/// Interned group paths and tag sets of a plan.
#[derive(Debug)]
pub(crate) struct Interner {
    /// Group paths; 0 is the root group `""`.
    pub group_names: Vec<Arc<str>>,
    /// The enclosing group of each group (the root's is itself).
    pub group_parents: Vec<u32>,
    group_ids: HashMap<Arc<str>, u32>,
    /// Tag sets, sorted by key; 0 is the empty set.
    pub tag_sets: Vec<TagSet>,
    tag_ids: HashMap<TagSet, u32>,
}

impl Default for Interner {
    fn default() -> Self {
        let root: Arc<str> = "".into();
        let empty: TagSet = Arc::from(Vec::new());
        Interner {
            group_names: vec![root.clone()],
            group_parents: vec![0],
            group_ids: HashMap::from([(root, 0)]),
            tag_sets: vec![empty.clone()],
            tag_ids: HashMap::from([(empty, 0)]),
        }
    }
}

impl Interner {
    /// The group `name` inside `parent` (interning its path).
    pub fn group(&mut self, parent: u32, name: &str) -> u32 {
        let path: Arc<str> = format!("{}{GROUP_SEPARATOR}{name}", self.group_names[parent as usize]).into();
        if let Some(&id) = self.group_ids.get(&path) {
            return id;
        }
        let id = self.group_names.len() as u32;
        self.group_names.push(path.clone());
        self.group_parents.push(parent);
        self.group_ids.insert(path, id);
        id
    }

    /// The id of a tag set (sorted by key, one value per key).
    pub fn tags(&mut self, mut tags: Vec<(Arc<str>, Arc<str>)>) -> u32 {
        tags.sort();
        let set: TagSet = Arc::from(tags);
        if let Some(&id) = self.tag_ids.get(&set) {
            return id;
        }
        let id = self.tag_sets.len() as u32;
        self.tag_sets.push(set.clone());
        self.tag_ids.insert(set, id);
        id
    }

    /// Every custom tag key used in the plan, sorted.
    pub fn tag_keys(&self) -> Vec<Arc<str>> {
        let mut keys: Vec<Arc<str>> = self.tag_sets.iter().flat_map(|s| s.iter().map(|(k, _)| k.clone())).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Every value a custom tag key takes in the plan, sorted.
    pub fn tag_values(&self, key: &str) -> Vec<Arc<str>> {
        let mut values: Vec<Arc<str>> =
            self.tag_sets.iter().flat_map(|s| s.iter().filter(|(k, _)| &**k == key).map(|(_, v)| v.clone())).collect();
        values.sort();
        values.dedup();
        values
    }
}

/// A `group = "NAME"` field, if present: a non-empty name without `::`.
pub(crate) fn group_name<'a>(cx: &Cx<'_>, node: &Node<'a, '_>) -> Result<Option<&'a str>> {
    let help = "name the group, e.g. group = \"checkout\"; nest groups by giving the flow a group too";
    let Some((name, span)) = node.str(cx, "group", help)? else { return Ok(None) };
    let field = node.field("group");
    if name.trim().is_empty() {
        return Err(cx.err(Some(span), &field, "the group name is empty", help));
    }
    if name.contains(GROUP_SEPARATOR) {
        return Err(cx.err(
            Some(span),
            &field,
            format!("group name `{name}` contains `::`, k6's separator of nested groups"),
            "give the flow `group = \"outer\"` and its steps `group = \"inner\"` to nest groups (`::outer::inner`)",
        ));
    }
    Ok(Some(name))
}

/// A `tags = { key = "value" }` table, if present, merged over `base`
/// (a key written here replaces the same key of `base`).
pub(crate) fn tags(
    cx: &Cx<'_>,
    node: &Node<'_, '_>,
    base: &[(Arc<str>, Arc<str>)],
) -> Result<Vec<(Arc<str>, Arc<str>)>> {
    let help = "tags = { page = \"pdp\" } (string values)";
    let mut out = base.to_vec();
    let Some(table) = node.table(cx, "tags", help)? else { return Ok(out) };
    for (key, value) in table.entries() {
        let name: &str = key.get_ref();
        let field = table.field(name);
        if SYSTEM_TAGS.contains(&name) {
            let fix = match name {
                "name" => "the request name is the step's `name` field".to_string(),
                "group" => "set the group with `group = \"…\"` on the flow or step".to_string(),
                _ => format!("Stampede sets `{name}` itself; pick another name, e.g. `my_{name}`"),
            };
            return Err(cx.err(
                Some(key.span()),
                &field,
                format!("`{name}` is a system tag and cannot be set as a custom tag"),
                format!("{fix}; system tags: {}", SYSTEM_TAGS.join(", ")),
            ));
        }
        if let Some(bad) = name.chars().find(|c| !tag_char(*c)) {
            return Err(cx.err(
                Some(key.span()),
                &field,
                format!("tag name `{name}` has `{bad}`, which a threshold selector `metric{{tag:value}}` cannot hold"),
                "tag names are letters, digits, `_`, `-` and `.`",
            ));
        }
        let text = cx.str_of(value, &field, "a tag value is a string, e.g. page = \"pdp\"")?;
        if text.is_empty() || text.contains([',', '{', '}']) || text.chars().any(char::is_control) {
            return Err(cx.err(
                Some(value.span()),
                &field,
                format!("tag value `{}` is empty or has `,`, `{{`, `}}` or a control character", text.escape_debug()),
                "a threshold selector `metric{tag:value}` must be able to name it: write e.g. page = \"pdp\"",
            ));
        }
        out.retain(|(k, _)| &**k != name);
        out.push((name.into(), text.into()));
    }
    Ok(out)
}

fn tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}
