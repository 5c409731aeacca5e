//! Snapshots ⇄ wire messages.

use std::sync::Arc;

use stampede_metrics::hist::{self, DecodeError, Histogram};
use stampede_metrics::shard::CheckCounts;
use stampede_metrics::snapshot::CheckKey;
use stampede_metrics::{ErrorKind, Method, RequestKey, RequestStats, ScenarioStats, Snapshot};

use crate::v1;

fn enc(h: &Histogram) -> Vec<u8> {
    if h.is_empty() { Vec::new() } else { hist::encode(h) }
}

fn dec(b: &[u8]) -> Result<Histogram, DecodeError> {
    if b.is_empty() { Ok(hist::new_histogram()) } else { hist::decode(b) }
}

fn method_of(s: &str) -> Method {
    match s {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        _ => Method::Other,
    }
}

/// Encodes one interval's snapshot.
pub fn to_wire(index: u64, last: bool, s: &Snapshot) -> v1::Snapshot {
    v1::Snapshot {
        index,
        r#final: last,
        requests: s
            .requests
            .iter()
            .map(|(k, r)| v1::RequestSeries {
                scenario: k.scenario.to_string(),
                name: k.name.to_string(),
                method: k.method.as_str().to_string(),
                status: k.status as u32,
                duration: enc(&r.duration),
                blocked: enc(&r.blocked),
                connecting: enc(&r.connecting),
                tls_handshaking: enc(&r.tls_handshaking),
                sending: enc(&r.sending),
                waiting: enc(&r.waiting),
                receiving: enc(&r.receiving),
                count: r.count,
                failed: r.failed,
                data_sent: r.data_sent,
                data_received: r.data_received,
                cdn_hits: r.cdn_hits,
                cdn_misses: r.cdn_misses,
                cdn_unknown: r.cdn_unknown,
                cdn_hit_bytes: r.cdn_hit_bytes,
                cdn_miss_bytes: r.cdn_miss_bytes,
                errors: r.errors.to_vec(),
            })
            .collect(),
        scenarios: s
            .scenarios
            .iter()
            .map(|(name, sc)| v1::ScenarioSeries {
                name: name.to_string(),
                iterations: sc.iterations,
                iteration_duration: enc(&sc.iteration_duration),
                dropped_iterations: sc.dropped_iterations,
                interrupted_iterations: sc.interrupted_iterations,
                intended_latency: enc(&sc.intended_latency),
                scheduling_lag: enc(&sc.scheduling_lag),
                vus: sc.vus,
                vus_max: sc.vus_max,
            })
            .collect(),
        checks: s
            .checks
            .iter()
            .map(|(k, c)| v1::CheckSeries {
                scenario: k.scenario.to_string(),
                check: k.check.to_string(),
                passes: c.passes,
                fails: c.fails,
            })
            .collect(),
    }
}

/// Interns names so that snapshots from many agents share their keys.
#[derive(Debug, Default)]
pub struct Interner {
    names: std::collections::HashSet<Arc<str>>,
}

impl Interner {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.names.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.names.insert(a.clone());
        a
    }
}

/// Decodes a wire snapshot; a malformed histogram fails the whole snapshot.
pub fn from_wire(w: &v1::Snapshot, names: &mut Interner) -> Result<Snapshot, DecodeError> {
    let mut s = Snapshot::default();
    for r in &w.requests {
        let mut errors = [0u64; ErrorKind::COUNT];
        for (dst, src) in errors.iter_mut().zip(&r.errors) {
            *dst = *src;
        }
        let key = RequestKey {
            scenario: names.get(&r.scenario),
            name: names.get(&r.name),
            method: method_of(&r.method),
            status: r.status.min(u16::MAX as u32) as u16,
        };
        let stats = RequestStats {
            duration: dec(&r.duration)?,
            blocked: dec(&r.blocked)?,
            connecting: dec(&r.connecting)?,
            tls_handshaking: dec(&r.tls_handshaking)?,
            sending: dec(&r.sending)?,
            waiting: dec(&r.waiting)?,
            receiving: dec(&r.receiving)?,
            count: r.count,
            failed: r.failed,
            data_sent: r.data_sent,
            data_received: r.data_received,
            cdn_hits: r.cdn_hits,
            cdn_misses: r.cdn_misses,
            cdn_unknown: r.cdn_unknown,
            cdn_hit_bytes: r.cdn_hit_bytes,
            cdn_miss_bytes: r.cdn_miss_bytes,
            errors,
        };
        match s.requests.get_mut(&key) {
            Some(e) => e.merge(&stats),
            None => {
                s.requests.insert(key, stats);
            }
        }
    }
    for sc in &w.scenarios {
        let stats = ScenarioStats {
            iterations: sc.iterations,
            iteration_duration: dec(&sc.iteration_duration)?,
            dropped_iterations: sc.dropped_iterations,
            interrupted_iterations: sc.interrupted_iterations,
            intended_latency: dec(&sc.intended_latency)?,
            scheduling_lag: dec(&sc.scheduling_lag)?,
            vus: sc.vus,
            vus_max: sc.vus_max,
        };
        let name = names.get(&sc.name);
        match s.scenarios.get_mut(&name) {
            Some(e) => e.merge(&stats),
            None => {
                s.scenarios.insert(name, stats);
            }
        }
    }
    for c in &w.checks {
        let key = CheckKey { scenario: names.get(&c.scenario), check: names.get(&c.check) };
        let e = s.checks.entry(key).or_insert(CheckCounts::default());
        e.passes += c.passes;
        e.fails += c.fails;
    }
    Ok(s)
}

/// Adds a wire snapshot straight into `dst`: histograms are decoded into the
/// destination's buckets (no intermediate histograms), which is what keeps a
/// coordinator's merge cheap with many agents and series.
pub fn merge_wire_into(w: &v1::Snapshot, dst: &mut Snapshot, names: &mut Interner) -> Result<(), DecodeError> {
    use stampede_metrics::hist::decode_into;
    for r in &w.requests {
        let key = RequestKey {
            scenario: names.get(&r.scenario),
            name: names.get(&r.name),
            method: method_of(&r.method),
            status: r.status.min(u16::MAX as u32) as u16,
        };
        let e = dst.requests.entry(key).or_default();
        decode_into(&mut e.duration, &r.duration)?;
        decode_into(&mut e.blocked, &r.blocked)?;
        decode_into(&mut e.connecting, &r.connecting)?;
        decode_into(&mut e.tls_handshaking, &r.tls_handshaking)?;
        decode_into(&mut e.sending, &r.sending)?;
        decode_into(&mut e.waiting, &r.waiting)?;
        decode_into(&mut e.receiving, &r.receiving)?;
        e.count += r.count;
        e.failed += r.failed;
        e.data_sent += r.data_sent;
        e.data_received += r.data_received;
        e.cdn_hits += r.cdn_hits;
        e.cdn_misses += r.cdn_misses;
        e.cdn_unknown += r.cdn_unknown;
        e.cdn_hit_bytes += r.cdn_hit_bytes;
        e.cdn_miss_bytes += r.cdn_miss_bytes;
        for (a, b) in e.errors.iter_mut().zip(&r.errors) {
            *a += b;
        }
    }
    for sc in &w.scenarios {
        let e = dst.scenarios.entry(names.get(&sc.name)).or_default();
        e.iterations += sc.iterations;
        decode_into(&mut e.iteration_duration, &sc.iteration_duration)?;
        e.dropped_iterations += sc.dropped_iterations;
        e.interrupted_iterations += sc.interrupted_iterations;
        decode_into(&mut e.intended_latency, &sc.intended_latency)?;
        decode_into(&mut e.scheduling_lag, &sc.scheduling_lag)?;
        e.vus += sc.vus;
        e.vus_max += sc.vus_max;
    }
    for c in &w.checks {
        let key = CheckKey { scenario: names.get(&c.scenario), check: names.get(&c.check) };
        let e = dst.checks.entry(key).or_default();
        e.passes += c.passes;
        e.fails += c.fails;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stampede_metrics::{CacheOutcome, Layout, RequestId, RequestSample, Shard, Timings};

    /// Three "agents" record disjoint samples; their snapshots go through the
    /// wire form and merge; the result equals one histogram of every sample.
    #[test]
    fn merge_over_the_wire_is_exact() {
        let layout =
            Arc::new(Layout { scenarios: vec!["s".into()], request_names: vec!["r".into()], check_names: vec![] });
        let mut all = hist::new_histogram();
        let mut merged = Snapshot::default();
        let mut direct = Snapshot::default();
        let mut names = Interner::default();
        let mut rng = 12345u64;
        for agent in 0..3 {
            let mut shard = Shard::new(layout.clone());
            for _ in 0..20_000 {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let us = 200 + (rng >> 33) % (50_000 * (agent + 1));
                hist::record(&mut all, us);
                let sample = RequestSample {
                    timings: Timings { waiting: us, ..Default::default() },
                    bytes_sent: 10,
                    bytes_received: 20,
                    body_bytes: 5,
                    error: None,
                    cache: CacheOutcome::Unknown,
                };
                shard.request(RequestId { scenario: 0, name: 0, method: Method::Get, status: 200 }).record(&sample);
            }
            let wire = to_wire(0, false, &shard.into_snapshot());
            let bytes = prost::Message::encode_to_vec(&wire);
            let back: v1::Snapshot = prost::Message::decode(&bytes[..]).unwrap();
            merged.merge(&from_wire(&back, &mut names).unwrap());
            merge_wire_into(&back, &mut direct, &mut names).unwrap();
        }
        assert_eq!(direct.all_requests().duration.value_at_quantile(0.99), all.value_at_quantile(0.99));
        assert_eq!(direct.all_requests().duration.len(), all.len());
        let h = &merged.all_requests().duration;
        assert_eq!(h.len(), all.len());
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(h.value_at_quantile(q), all.value_at_quantile(q), "q={q}");
        }
        assert_eq!(h.max(), all.max());
    }
}
