//! A small sharded in-process cache with a time to live, keyed by product id.
//!
//! Owns expiry and a size bound; it does not know what it stores. The origin keeps rendered product
//! documents here (5 minutes by default) and, with `--cache-inventory`, stock levels.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

type Shard<V> = Mutex<HashMap<i64, (Instant, V)>>;

/// Values keyed by id that expire `ttl` after insertion.
#[derive(Debug)]
pub struct TtlCache<V> {
    /// Sharded so concurrent readers of different ids rarely meet on one lock.
    shards: Box<[Shard<V>]>,
    ttl: Duration,
    per_shard: usize,
}

impl<V: Clone> TtlCache<V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            ttl,
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, id: i64) -> std::sync::MutexGuard<'_, HashMap<i64, (Instant, V)>> {
        self.shards[(id as u64 as usize) % SHARDS].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value for `id` if it was stored less than `ttl` ago.
    pub fn get(&self, id: i64) -> Option<V> {
        let shard = self.shard(id);
        match shard.get(&id) {
            Some((at, v)) if at.elapsed() < self.ttl => Some(v.clone()),
            _ => None,
        }
    }

    pub fn insert(&self, id: i64, v: V) {
        let now = Instant::now();
        let mut shard = self.shard(id);
        if shard.len() >= self.per_shard && !shard.contains_key(&id) {
            shard.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
            if shard.len() >= self.per_shard {
                // Still full of live entries: drop an arbitrary one (random eviction).
                if let Some(k) = shard.keys().next().copied() {
                    shard.remove(&k);
                }
            }
        }
        shard.insert(id, (now, v));
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_and_stays_bounded() {
        let c = TtlCache::new(Duration::from_millis(30), 32);
        c.insert(1, "a");
        assert_eq!(c.get(1), Some("a"));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get(1), None);
        for i in 0..1000 {
            c.insert(i, "x");
        }
        assert!(c.len() <= 32, "{}", c.len());
    }
}
