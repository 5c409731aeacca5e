//! Sessions by cookie: each holds a cart and the checkout rate-limit window.
//!
//! Owns the `sid` cookie, carts and the per-session checkout limit. Sessions live in memory, or in
//! Redis with `--redis` ([`SessionStore`]), and expire after being idle; orders, which must survive,
//! live in the database. Session ids are random 128-bit values from a non-cryptographic generator:
//! good enough for a rehearsal shop on loopback, not for real customers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metrics::Counter;

const SHARDS: usize = 32;
/// Name of the session cookie.
pub const COOKIE: &str = "sid";
/// Lines a cart may hold.
pub const MAX_CART_LINES: usize = 50;

/// A session id: 128 random bits, shown as 32 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub u128);

impl SessionId {
    pub fn random() -> Self {
        Self(fastrand::u128(..))
    }

    /// Finds the `sid` cookie in `Cookie` header values.
    pub fn from_cookies<'a>(values: impl Iterator<Item = &'a [u8]>) -> Option<Self> {
        for value in values {
            let Ok(value) = std::str::from_utf8(value) else {
                continue;
            };
            for pair in value.split(';') {
                if let Some((k, v)) = pair.trim().split_once('=')
                    && k == COOKIE
                    && v.len() == 32
                    && let Ok(id) = u128::from_str_radix(v, 16)
                {
                    return Some(Self(id));
                }
            }
        }
        None
    }

    pub fn to_hex(self) -> String {
        format!("{:032x}", self.0)
    }

    pub fn set_cookie(self) -> String {
        format!("{COOKIE}={:032x}; Path=/; HttpOnly; SameSite=Lax", self.0)
    }
}

/// One cart line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CartLine {
    pub product_id: i64,
    pub quantity: u32,
}

#[derive(Debug)]
struct Session {
    cart: Vec<CartLine>,
    /// The e-mail address the session logged in with (`POST /login`).
    user: Option<Box<str>>,
    last_seen: Instant,
    window_start: Instant,
    checkouts_in_window: u32,
}

impl Session {
    fn new(now: Instant) -> Self {
        Self { cart: Vec::new(), user: None, last_seen: now, window_start: now, checkouts_in_window: 0 }
    }
}

/// Where sessions live: in this process, or in Redis (`--redis`, shared by every origin process).
#[derive(Debug, Clone)]
pub enum SessionStore {
    Memory(std::sync::Arc<Sessions>),
    Redis(crate::redis_store::Redis),
}

type Answer<T> = Result<T, crate::redis_store::Unavailable>;

impl SessionStore {
    /// Adds to the cart; the cart as it now is.
    pub async fn add(&self, id: SessionId, product_id: i64, quantity: u32) -> Answer<Result<Vec<CartLine>, AddError>> {
        match self {
            Self::Memory(s) => Ok(s.add(id, product_id, quantity).map(|()| s.cart(id))),
            Self::Redis(r) => r.add(id, product_id, quantity).await,
        }
    }
    pub async fn cart(&self, id: SessionId) -> Answer<Vec<CartLine>> {
        match self {
            Self::Memory(s) => Ok(s.cart(id)),
            Self::Redis(r) => r.cart(id).await,
        }
    }
    pub async fn log_in(&self, id: SessionId, email: &str) -> Answer<()> {
        match self {
            Self::Memory(s) => {
                s.log_in(id, email);
                Ok(())
            }
            Self::Redis(r) => r.log_in(id, email).await,
        }
    }
    pub async fn user(&self, id: SessionId) -> Answer<Option<String>> {
        match self {
            Self::Memory(s) => Ok(s.user(id)),
            Self::Redis(r) => r.user(id).await,
        }
    }
    pub async fn admit_checkout(&self, id: SessionId) -> Answer<Result<(), Duration>> {
        match self {
            Self::Memory(s) => Ok(s.admit_checkout(id)),
            Self::Redis(r) => r.admit_checkout(id).await,
        }
    }
    pub async fn clear_ordered(&self, id: SessionId, ordered: &[CartLine]) -> Answer<()> {
        match self {
            Self::Memory(s) => {
                s.clear_ordered(id, ordered);
                Ok(())
            }
            Self::Redis(r) => r.clear_ordered(id, ordered).await,
        }
    }
    /// Live sessions held in this process (Redis expires its own).
    pub fn live(&self) -> Option<usize> {
        match self {
            Self::Memory(s) => Some(s.len()),
            Self::Redis(_) => None,
        }
    }
}

/// Why an item could not be added.
#[derive(Debug, PartialEq, Eq)]
pub enum AddError {
    CartFull,
}

/// The checkout rate limit: at most `limit` attempts per `window` per session.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub limit: u32,
    pub window: Duration,
}

/// All live sessions.
#[derive(Debug)]
pub struct Sessions {
    /// Sharded by id so that 15,000 shoppers do not queue on one lock.
    shards: Box<[Mutex<HashMap<SessionId, Session>>]>,
    idle_ttl: Duration,
    rate: RateLimit,
    pub created: Counter,
}

impl Sessions {
    pub fn new(idle_ttl: Duration, rate: RateLimit) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            idle_ttl,
            rate,
            created: Counter::default(),
        }
    }

    fn shard(&self, id: SessionId) -> std::sync::MutexGuard<'_, HashMap<SessionId, Session>> {
        self.shards[(id.0 as usize) % SHARDS].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `quantity` of a product to the session's cart, creating the session if needed.
    pub fn add(&self, id: SessionId, product_id: i64, quantity: u32) -> Result<(), AddError> {
        let now = Instant::now();
        let mut shard = self.shard(id);
        let session = shard.entry(id).or_insert_with(|| {
            self.created.inc();
            Session::new(now)
        });
        session.last_seen = now;
        if let Some(line) = session.cart.iter_mut().find(|l| l.product_id == product_id) {
            line.quantity = line.quantity.saturating_add(quantity);
            return Ok(());
        }
        if session.cart.len() >= MAX_CART_LINES {
            return Err(AddError::CartFull);
        }
        session.cart.push(CartLine { product_id, quantity });
        Ok(())
    }

    /// Logs the session in as `email`, creating the session if needed.
    pub fn log_in(&self, id: SessionId, email: &str) {
        let now = Instant::now();
        let mut shard = self.shard(id);
        let session = shard.entry(id).or_insert_with(|| {
            self.created.inc();
            Session::new(now)
        });
        session.last_seen = now;
        session.user = Some(email.into());
    }

    /// The e-mail address the session is logged in with, if any.
    pub fn user(&self, id: SessionId) -> Option<String> {
        let mut shard = self.shard(id);
        let s = shard.get_mut(&id)?;
        s.last_seen = Instant::now();
        s.user.as_deref().map(str::to_owned)
    }

    /// The session's cart (empty for an unknown session).
    pub fn cart(&self, id: SessionId) -> Vec<CartLine> {
        let mut shard = self.shard(id);
        match shard.get_mut(&id) {
            Some(s) => {
                s.last_seen = Instant::now();
                s.cart.clone()
            }
            None => Vec::new(),
        }
    }

    /// Counts a checkout attempt. `Err(retry_after)` when the session used up its window.
    pub fn admit_checkout(&self, id: SessionId) -> Result<(), Duration> {
        let now = Instant::now();
        let mut shard = self.shard(id);
        let s = shard.entry(id).or_insert_with(|| Session::new(now));
        s.last_seen = now;
        if now.duration_since(s.window_start) >= self.rate.window {
            s.window_start = now;
            s.checkouts_in_window = 0;
        }
        if s.checkouts_in_window >= self.rate.limit {
            return Err(self.rate.window.saturating_sub(now.duration_since(s.window_start)));
        }
        s.checkouts_in_window += 1;
        Ok(())
    }

    /// Empties the cart after a successful order, keeping lines added meanwhile beyond `ordered`.
    pub fn clear_ordered(&self, id: SessionId, ordered: &[CartLine]) {
        if let Some(s) = self.shard(id).get_mut(&id) {
            s.cart.retain(|l| !ordered.contains(l));
        }
    }

    /// Forgets sessions idle for longer than the idle time to live.
    pub fn sweep(&self) {
        let now = Instant::now();
        for shard in self.shards.iter() {
            shard
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, s| now.duration_since(s.last_seen) < self.idle_ttl);
        }
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
    fn cookie_round_trip() {
        let id = SessionId::random();
        let cookie = id.set_cookie();
        let pair = cookie.split(';').next().unwrap();
        let header = format!("theme=dark; {pair}");
        assert_eq!(SessionId::from_cookies(std::iter::once(header.as_bytes())), Some(id));
        assert_eq!(SessionId::from_cookies(std::iter::once(&b"sid=zz"[..])), None);
    }

    #[test]
    fn rate_limit_window() {
        let s = Sessions::new(Duration::from_secs(60), RateLimit { limit: 2, window: Duration::from_secs(10) });
        let id = SessionId::random();
        assert!(s.admit_checkout(id).is_ok());
        assert!(s.admit_checkout(id).is_ok());
        let retry = s.admit_checkout(id).unwrap_err();
        assert!(retry > Duration::from_secs(9) && retry <= Duration::from_secs(10));
    }
}
