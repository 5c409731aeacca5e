//! Shared by the coordinator's examples: synthetic agent snapshots and
//! settings from the environment.

use std::sync::Arc;

use stampede_metrics::{CacheOutcome, Layout, Method, RequestId, RequestSample, Shard, Snapshot, Timings};

/// Statuses each request name is recorded with: series = names x 4.
pub const STATUSES: [u16; 4] = [200, 304, 404, 503];

pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One agent's interval: `names` x 4 statuses series of `samples` requests
/// each, log-normal-ish latencies from 0.2 ms to 2 s, 90 % CDN hits.
pub fn agent_snapshot(seed: u64, names: usize, samples: usize) -> Snapshot {
    let layout = Arc::new(Layout {
        scenarios: vec!["main".into()],
        request_names: (0..names).map(|i| format!("request-{i}").into()).collect(),
        check_names: vec![],
        groups: vec!["".into()],
        tag_sets: vec![Arc::from(Vec::new())],
        metrics: Vec::new(),
    });
    let mut shard = Shard::new(layout);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut rng = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for name in 0..names as u32 {
        for &status in &STATUSES {
            for _ in 0..samples {
                let u = (rng() % 10_000) as f64 / 10_000.0;
                let us = (200.0 * (u * 9.2).exp()) as u64;
                let s = RequestSample {
                    timings: Timings { blocked: 1, sending: 15, waiting: us, receiving: us / 10, ..Default::default() },
                    bytes_sent: 180,
                    bytes_received: 2300,
                    body_bytes: 2048,
                    error: stampede_metrics::ErrorKind::from_status(status),
                    cache: if rng() % 10 < 9 { CacheOutcome::Hit } else { CacheOutcome::Miss },
                };
                shard
                    .request(RequestId { scenario: 0, name, method: Method::Get, status, group: 0, tags: 0 })
                    .record(&s);
            }
        }
    }
    shard.into_snapshot()
}
