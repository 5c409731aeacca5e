//! Names given at run time: a k6 script names its requests, checks, groups
//! and tag sets while it runs (k6's default request name is the URL), where
//! a scenario file fixes them all at plan time. One worker interns them in
//! its own [`RunNames`] (no lock, no message): an id past the plan's
//! [`Layout`] vectors is an index into it, and [`Shard::into_snapshot_with`]
//! turns ids back into names, so the wire and the merge are unchanged.
//!
//! Every series costs histograms, so each kind holds at most
//! [`RunNames::CAP`] run-time names per worker; later ones fold into
//! [`RunNames::OVERFLOW`] and the first fold is reported once (k6 users meet
//! it with `http.get(BASE + '/product/' + id)`: the fix is `tags: { name }`
//! or `http.url`).
//!
//! [`Shard::into_snapshot_with`]: crate::Shard::into_snapshot_with

use std::collections::HashMap;
use std::sync::Arc;

use stampede_scenario::TagSet;

use crate::Layout;

/// The kinds of run-time names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Request,
    Check,
    Group,
}

/// One kind's run-time names.
#[derive(Debug, Clone, Default)]
struct Table<T> {
    /// The plan's count of this kind: run-time ids start there.
    base: u32,
    names: Vec<T>,
    index: HashMap<T, u32>,
}

impl<T: Clone + Eq + std::hash::Hash> Table<T> {
    fn new(base: usize) -> Table<T> {
        Table { base: base as u32, names: Vec::new(), index: HashMap::new() }
    }

    /// The id of `name`, or `None` when the table is full.
    fn intern(&mut self, name: &T) -> Option<u32> {
        if let Some(&i) = self.index.get(name) {
            return Some(i);
        }
        if self.names.len() >= RunNames::CAP {
            return None;
        }
        let id = self.base + self.names.len() as u32;
        self.names.push(name.clone());
        self.index.insert(name.clone(), id);
        Some(id)
    }

    fn get<'a>(&'a self, plan: &'a [T], id: u32) -> Option<&'a T> {
        match id.checked_sub(self.base) {
            None => plan.get(id as usize),
            Some(i) => self.names.get(i as usize),
        }
    }
}

/// A worker's run-time names, after its plan's (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct RunNames {
    requests: Table<Arc<str>>,
    checks: Table<Arc<str>>,
    groups: Table<Arc<str>>,
    tag_sets: Table<TagSet>,
    /// Kinds that reached the cap (each reported once).
    folded: Vec<NameKind>,
}

impl RunNames {
    /// Most run-time names of one kind per worker.
    pub const CAP: usize = 1000;
    /// What a name past the cap is recorded under.
    pub const OVERFLOW: &'static str = "(other: too many names)";

    /// Empty, numbering its ids after `layout`'s.
    pub fn after(layout: &Layout) -> RunNames {
        RunNames {
            requests: Table::new(layout.request_names.len()),
            checks: Table::new(layout.check_names.len()),
            groups: Table::new(layout.groups.len()),
            tag_sets: Table::new(layout.tag_sets.len()),
            folded: Vec::new(),
        }
    }

    /// The id of a request, check or group name. Past the cap: the id of
    /// [`RunNames::OVERFLOW`], and `folded` is set the first time.
    pub fn intern(&mut self, kind: NameKind, name: &str, folded: &mut bool) -> u32 {
        let table = match kind {
            NameKind::Request => &mut self.requests,
            NameKind::Check => &mut self.checks,
            NameKind::Group => &mut self.groups,
        };
        if let Some(&i) = table.index.get(name) {
            return i;
        }
        if let Some(i) = table.intern(&Arc::from(name)) {
            return i;
        }
        if !self.folded.contains(&kind) {
            self.folded.push(kind);
            *folded = true;
        }
        // The overflow name has a slot of its own past the cap.
        let over: Arc<str> = Arc::from(Self::OVERFLOW);
        if let Some(&i) = table.index.get(&over) {
            return i;
        }
        let id = table.base + table.names.len() as u32;
        table.names.push(over.clone());
        table.index.insert(over, id);
        id
    }

    /// The id of a tag set (sorted by key, one value per key); past the cap,
    /// the empty set's (0).
    pub fn intern_tags(&mut self, tags: &TagSet, folded: &mut bool) -> u32 {
        if tags.is_empty() {
            return 0;
        }
        match self.tag_sets.intern(tags) {
            Some(i) => i,
            None => {
                if !self.folded.contains(&NameKind::Request) {
                    *folded = true;
                }
                0
            }
        }
    }

    pub(crate) fn request<'a>(&'a self, l: &'a Layout, id: u32) -> Option<&'a Arc<str>> {
        self.requests.get(&l.request_names, id)
    }

    pub(crate) fn check<'a>(&'a self, l: &'a Layout, id: u32) -> Option<&'a Arc<str>> {
        self.checks.get(&l.check_names, id)
    }

    pub(crate) fn group<'a>(&'a self, l: &'a Layout, id: u32) -> Option<&'a Arc<str>> {
        self.groups.get(&l.groups, id)
    }

    pub(crate) fn tag_set<'a>(&'a self, l: &'a Layout, id: u32) -> Option<&'a TagSet> {
        self.tag_sets.get(&l.tag_sets, id)
    }
}
