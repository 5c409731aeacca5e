//! Schedule math: how a plan's VUs and iterations are split over workers
//! (k6's execution-segment idea, striped so every part differs from its share
//! by at most one and the parts add up exactly), and when arrival-rate
//! iterations are due.

use std::time::Duration;

use stampede_scenario::{Executor, Plan, Stage};

/// Which part of the plan a worker runs: worker `index` of `count` workers in
/// the whole (possibly distributed) run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub index: u32,
    pub count: u32,
}

impl Segment {
    pub const WHOLE: Segment = Segment { index: 0, count: 1 };

    /// This segment's share of `total` items striped over the workers: the
    /// items `i` with `i % count == index`.
    pub fn share(self, total: u64) -> u64 {
        let c = self.count as u64;
        total / c + u64::from((self.index as u64) < total % c)
    }

    /// Whether the global item `i` (VU index, arrival slot) belongs here.
    pub fn owns(self, i: u64) -> bool {
        i % self.count as u64 == self.index as u64
    }

    /// Global index of this segment's `j`-th item.
    pub fn global(self, j: u64) -> u64 {
        j * self.count as u64 + self.index as u64
    }

    /// This segment's part of `total` items split in proportion to the
    /// striped share of `weights` (e.g. shared iterations in proportion to
    /// VUs). Parts over all segments add up exactly to `total`.
    pub fn proportional(self, total: u64, weights: u64) -> u64 {
        if weights == 0 {
            return 0;
        }
        let before: u64 = (0..self.index).map(|i| Segment { index: i, count: self.count }.share(weights)).sum();
        let mine = self.share(weights);
        let lo = (before as u128 * total as u128 / weights as u128) as u64;
        let hi = ((before + mine) as u128 * total as u128 / weights as u128) as u64;
        hi - lo
    }
}

/// The workers of one process in a (possibly distributed) run: global
/// workers `first..first + count` of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessSpan {
    pub first: u32,
    pub count: u32,
    pub total: u32,
}

impl ProcessSpan {
    /// The test-wide number of this process's `n`-th iteration of a
    /// closed-model scenario with `vus` VUs (k6's `scenario.iterationInTest`).
    ///
    /// VU `g` runs on worker `g % total`, so this process holds the VUs whose
    /// worker is in its span. The test's iterations are laid on the lattice
    /// of VUs, as k6 lays them on execution segments: every block of `vus`
    /// numbers gives one to each VU's process. A process's iterations are
    /// numbered consecutively from its own counter (its workers share it), so
    /// one process with every VU numbers 0, 1, 2, … whatever its worker count,
    /// and processes holding VUs in the same proportion interleave exactly.
    pub fn iteration_in_test(self, n: u64, vus: u64) -> u64 {
        let (t, w) = (self.total.max(1) as u64, self.count.max(1) as u64);
        let mine: u64 = self.segments().map(|seg| seg.share(vus)).sum();
        if mine == 0 {
            return n;
        }
        let k = n % mine;
        (n / mine) * vus + (k / w) * t + self.first as u64 + k % w
    }

    fn segments(self) -> impl Iterator<Item = Segment> {
        let count = self.total.max(1);
        (self.first..self.first + self.count.max(1)).map(move |index| Segment { index, count })
    }

    /// Most VUs this process's workers can have at once.
    pub fn peak_vus(self, plan: &Plan) -> u64 {
        self.segments().map(|seg| plan.scenarios.iter().map(|s| seg.share(s.executor.peak_vus())).sum::<u64>()).sum()
    }

    /// Most connections this process's VUs can hold at once (one per origin
    /// each VU's flows reach): the descriptors it needs for them.
    pub fn peak_connections(self, plan: &Plan) -> u64 {
        self.segments()
            .map(|seg| {
                plan.scenarios
                    .iter()
                    .map(|s| seg.share(s.executor.peak_vus()).saturating_mul(plan.connections_per_vu(s)))
                    .sum::<u64>()
            })
            .sum()
    }
}

/// VU target of ramping-vus at `t` after the scenario start (linear ramps).
pub fn ramping_target(start: u64, stages: &[Stage], t: Duration) -> u64 {
    let mut from = start as f64;
    let mut at = Duration::ZERO;
    for s in stages {
        if t < at + s.duration {
            let frac = (t - at).as_secs_f64() / s.duration.as_secs_f64().max(1e-9);
            return (from + (s.target as f64 - from) * frac).floor().max(0.0) as u64;
        }
        at += s.duration;
        from = s.target as f64;
    }
    from as u64
}

/// Arrival times of iterations of an arrival-rate executor: the `i`-th
/// iteration of the whole run is due when the integral of the rate reaches `i`.
#[derive(Debug, Clone)]
pub struct ArrivalSchedule {
    /// (duration, start rate/s, end rate/s) per piece.
    pieces: Vec<(f64, f64, f64)>,
    total: f64,
}

impl ArrivalSchedule {
    pub fn from_executor(e: &Executor) -> Option<ArrivalSchedule> {
        match e {
            Executor::ConstantArrivalRate { rate, time_unit, duration, .. } => {
                let r = *rate as f64 / time_unit.as_secs_f64();
                Some(ArrivalSchedule::new(vec![(duration.as_secs_f64(), r, r)]))
            }
            Executor::RampingArrivalRate { start_rate, time_unit, stages, .. } => {
                let unit = time_unit.as_secs_f64();
                let mut from = *start_rate as f64 / unit;
                let mut pieces = Vec::with_capacity(stages.len());
                for s in stages {
                    let to = s.target as f64 / unit;
                    pieces.push((s.duration.as_secs_f64(), from, to));
                    from = to;
                }
                Some(ArrivalSchedule::new(pieces))
            }
            _ => None,
        }
    }

    fn new(pieces: Vec<(f64, f64, f64)>) -> ArrivalSchedule {
        let total = pieces.iter().map(|(d, _, _)| *d).sum();
        ArrivalSchedule { pieces, total }
    }

    /// Total number of iterations planned (those due strictly before the end).
    pub fn planned_iterations(&self) -> u64 {
        let n: f64 = self.pieces.iter().map(|(d, a, b)| d * (a + b) / 2.0).sum();
        // Iteration i is due at N(t) = i, for i = 0, 1, …; those with t < end.
        let whole = n.ceil();
        if (whole - n).abs() < 1e-9 { n.round() as u64 } else { whole as u64 }
    }

    /// When iteration `i` is due (seconds from the scenario start), or `None`
    /// when it falls at or after the end.
    pub fn due(&self, i: u64) -> Option<f64> {
        let mut left = i as f64;
        let mut at = 0.0;
        for &(d, a, b) in &self.pieces {
            let count = d * (a + b) / 2.0;
            if left < count - 1e-9 {
                // Solve a·τ + (b−a)/(2d)·τ² = left for τ in [0, d).
                let k = (b - a) / (2.0 * d);
                let tau = if k.abs() < 1e-12 {
                    left / a
                } else {
                    (-a + (a * a + 4.0 * k * left).max(0.0).sqrt()) / (2.0 * k)
                };
                return Some(at + tau.clamp(0.0, d));
            }
            left -= count;
            at += d;
        }
        let _ = self.total;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_stay_within_one() {
        let mut rng = fastrand::Rng::with_seed(7);
        for count in 1..=16u32 {
            for _ in 0..200 {
                let total = rng.u64(0..100_000);
                let parts: Vec<u64> = (0..count).map(|index| Segment { index, count }.share(total)).collect();
                assert_eq!(parts.iter().sum::<u64>(), total);
                let fair = total as f64 / count as f64;
                assert!(parts.iter().all(|p| (*p as f64 - fair).abs() <= 1.0));
                let weights = rng.u64(0..50);
                let prop: u64 = (0..count).map(|index| Segment { index, count }.proportional(total, weights)).sum();
                assert_eq!(prop, if weights == 0 { 0 } else { total });
            }
        }
    }

    #[test]
    fn iterations_in_test_cover_every_number_once() {
        // Processes (spans of workers) that run iterations in proportion to
        // their VUs number them without gaps or repeats.
        for (spans, vus) in [(vec![(0, 2)], 1u64), (vec![(0, 1), (1, 1)], 3), (vec![(0, 2), (2, 1)], 7)] {
            let total: u32 = spans.iter().map(|(_, c)| c).sum();
            let mut seen = Vec::new();
            for &(first, count) in &spans {
                let span = ProcessSpan { first, count, total };
                let mine: u64 = (first..first + count).map(|index| Segment { index, count: total }.share(vus)).sum();
                for n in 0..mine * 5 {
                    seen.push(span.iteration_in_test(n, vus));
                }
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..vus * 5).collect::<Vec<_>>(), "{spans:?} with {vus} VUs");
        }
        // One VU on a two-worker process: 0, 1, 2, 3 (not 0, 2, 4, …).
        let one = ProcessSpan { first: 0, count: 2, total: 2 };
        assert_eq!((0..4).map(|n| one.iteration_in_test(n, 1)).collect::<Vec<_>>(), [0, 1, 2, 3]);
    }

    #[test]
    fn constant_rate_schedule_is_exact() {
        let e = Executor::ConstantArrivalRate {
            rate: 200,
            time_unit: Duration::from_secs(1),
            duration: Duration::from_secs(10),
            pre_allocated_vus: 10,
            max_vus: 10,
        };
        let s = ArrivalSchedule::from_executor(&e).unwrap();
        assert_eq!(s.planned_iterations(), 2000);
        assert_eq!(s.due(0), Some(0.0));
        assert!((s.due(1999).unwrap() - 9.995).abs() < 1e-9);
        assert_eq!(s.due(2000), None);
    }

    #[test]
    fn ramping_rate_integrates_linearly() {
        let e = Executor::RampingArrivalRate {
            start_rate: 0,
            time_unit: Duration::from_secs(1),
            stages: vec![
                Stage { duration: Duration::from_secs(10), target: 100 },
                Stage { duration: Duration::from_secs(10), target: 100 },
            ],
            pre_allocated_vus: 1,
            max_vus: 1,
        };
        let s = ArrivalSchedule::from_executor(&e).unwrap();
        assert_eq!(s.planned_iterations(), 1500);
        // Half of the ramp's 500 iterations are due by t = √(0.5)·10 s.
        assert!((s.due(250).unwrap() - 50f64.sqrt()).abs() < 1e-6);
        assert!((s.due(500).unwrap() - 10.0).abs() < 1e-6);
    }

    #[test]
    fn ramping_vus_target_interpolates() {
        let st = [
            Stage { duration: Duration::from_secs(10), target: 100 },
            Stage { duration: Duration::from_secs(10), target: 0 },
        ];
        assert_eq!(ramping_target(0, &st, Duration::from_secs(5)), 50);
        assert_eq!(ramping_target(0, &st, Duration::from_secs(15)), 50);
        assert_eq!(ramping_target(0, &st, Duration::from_secs(25)), 0);
    }
}
