//! k6's groups on the VU side: which groups of the flow are open, since when,
//! and the `group_duration` of a run when it closes.
//!
//! One run of a group is a maximal stretch of consecutive steps inside it:
//! it starts when its first step starts and ends when its last step ends,
//! think times *between* its steps included (as k6 counts a `sleep` inside
//! `group()`), the think time after its last step not. A plan without groups
//! pays one branch per step.

use tokio::time::Instant;

use crate::worker::Worker;

#[derive(Debug)]
pub(crate) struct OpenGroups {
    /// Open groups, outermost first, with the start of their current run.
    open: Vec<(u32, Instant)>,
    /// When the last step inside the open groups ended.
    last_end: Instant,
}

impl Default for OpenGroups {
    fn default() -> Self {
        OpenGroups { open: Vec::new(), last_end: Instant::now() }
    }
}

impl OpenGroups {
    /// Before a step of `group`: closes the open groups that do not contain
    /// it and opens those that contain it and are not open yet.
    #[inline]
    pub fn enter(&mut self, w: &Worker, scenario: u16, group: u32) {
        if group == 0 && self.open.is_empty() {
            return;
        }
        self.enter_slow(w, scenario, group);
    }

    fn enter_slow(&mut self, w: &Worker, scenario: u16, group: u32) {
        let parents = &w.plan.group_parents;
        let parent = |g: u32| parents.get(g as usize).copied().unwrap_or(0);
        let mut depth = 0;
        let mut g = group;
        while g != 0 {
            depth += 1;
            g = parent(g);
        }
        // The enclosing group of `group` at `level` (1 = outermost).
        let at_level = |level: usize| {
            let mut g = group;
            for _ in level..depth {
                g = parent(g);
            }
            g
        };
        let mut keep = 0;
        while keep < self.open.len() && keep < depth && self.open[keep].0 == at_level(keep + 1) {
            keep += 1;
        }
        self.close_to(w, scenario, keep);
        let now = Instant::now();
        for level in keep + 1..=depth {
            self.open.push((at_level(level), now));
        }
    }

    /// After a step.
    #[inline]
    pub fn step_done(&mut self) {
        if !self.open.is_empty() {
            self.last_end = Instant::now();
        }
    }

    /// At the end of an iteration: every open group's run ends.
    #[inline]
    pub fn close_all(&mut self, w: &Worker, scenario: u16) {
        if !self.open.is_empty() {
            self.close_to(w, scenario, 0);
        }
    }

    /// Forgets the groups of an iteration that was cut short (not measured,
    /// like the iteration itself).
    #[inline]
    pub fn reset(&mut self) {
        self.open.clear();
    }

    fn close_to(&mut self, w: &Worker, scenario: u16, keep: usize) {
        while self.open.len() > keep {
            let Some((group, start)) = self.open.pop() else { break };
            let micros = self.last_end.saturating_duration_since(start).as_micros() as u64;
            w.record_group(scenario, group, micros);
        }
    }
}
