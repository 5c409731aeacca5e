//! Shared by the coordinator's examples: synthetic agent snapshots and
//! settings from the environment.

use std::sync::Arc;

use stampede_metrics::{CacheOutcome, Layout, Method, RequestId, RequestSample, Shard, Snapshot, Timings};

/// Statuses each request name is recorded with: series = names x 4.
pub const STATUSES: [u16; 4] = [200, 304, 404, 503];

pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One agent's interval: recorded (`RECORDED=run.hlog`, see [`Recorded`])
/// or else synthetic ([`agent_snapshot`]).
pub fn agent_interval(seed: u64, names: usize, samples: usize) -> Snapshot {
    match std::env::var_os("RECORDED") {
        Some(path) => {
            let recorded = Recorded::load(std::path::Path::new(&path))
                .unwrap_or_else(|e| panic!("RECORDED={}: {e}", path.to_string_lossy()));
            recorded.agent_snapshot(seed, names)
        }
        None => agent_snapshot(seed, names, samples),
    }
}

/// A real run's per-name latency histograms, interval by interval, read from
/// its `--out hlog=FILE` (`Tag=http_req_duration.NAME` lines).
pub struct Recorded {
    /// By request name: its intervals' histograms (empty ones left out).
    pub names: Vec<(String, Vec<hdrhistogram::Histogram<u64>>)>,
}

impl Recorded {
    pub fn load(path: &std::path::Path) -> Result<Recorded, String> {
        use base64::Engine;
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let mut names: Vec<(String, Vec<hdrhistogram::Histogram<u64>>)> = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("Tag=http_req_duration.") else { continue };
            let fields: Vec<&str> = rest.split(',').collect();
            let (Some(name), Some(payload)) = (fields.first(), fields.last()) else { continue };
            let bytes = base64::engine::general_purpose::STANDARD.decode(payload).map_err(|e| e.to_string())?;
            let h = stampede_metrics::hist::decode(&bytes).map_err(|e| e.to_string())?;
            if h.is_empty() {
                continue;
            }
            match names.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => v.push(h),
                None => names.push((name.to_string(), vec![h])),
            }
        }
        if names.is_empty() {
            return Err("no http_req_duration.NAME histograms in it".into());
        }
        Ok(Recorded { names })
    }

    /// One agent's interval: `names` x 4 statuses series, series `i` replaying
    /// an interval of recorded name `i mod` the names recorded (which
    /// interval depends on the agent and series), every recorded sample as a
    /// request whose waiting time is the sample.
    pub fn agent_snapshot(&self, seed: u64, names: usize) -> Snapshot {
        let mut shard = shard(names);
        for name in 0..names as u32 {
            for (k, &status) in STATUSES.iter().enumerate() {
                let series = name as usize * STATUSES.len() + k;
                let (_, intervals) = &self.names[series % self.names.len()];
                let h = &intervals[(seed as usize * 7 + series) % intervals.len()];
                for v in h.iter_recorded() {
                    let us = v.value_iterated_to();
                    let s = RequestSample {
                        timings: Timings { blocked: 1, sending: 15, waiting: us, receiving: 20, ..Default::default() },
                        bytes_sent: 180,
                        bytes_received: 2300,
                        body_bytes: 2048,
                        error: stampede_metrics::ErrorKind::from_status(status),
                        cache: CacheOutcome::Hit,
                    };
                    let id = RequestId { scenario: 0, name, method: Method::Get, status, group: 0, tags: 0 };
                    for _ in 0..v.count_at_value() {
                        shard.request(id).record(&s);
                    }
                }
            }
        }
        shard.into_snapshot()
    }
}

/// A shard of one scenario, `main`, with request names `request-0`, ….
fn shard(names: usize) -> Shard {
    Shard::new(Arc::new(Layout {
        scenarios: vec!["main".into()],
        request_names: (0..names).map(|i| format!("request-{i}").into()).collect(),
        check_names: vec![],
        groups: vec!["".into()],
        tag_sets: vec![Arc::from(Vec::new())],
        metrics: Vec::new(),
    }))
}

/// One agent's interval: `names` x 4 statuses series of `samples` requests
/// each, log-normal-ish latencies from 0.2 ms to 2 s, 90 % CDN hits.
pub fn agent_snapshot(seed: u64, names: usize, samples: usize) -> Snapshot {
    let mut shard = shard(names);
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
