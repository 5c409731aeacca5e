//! Redis (`--redis redis://…`) holding what the peak-day story puts there, and only that: product
//! documents with a time to live, sessions (carts and logins, shared by every `--origins`
//! process), and the checkout rate-limit counters. With `--cache-inventory` stock levels go there
//! too — the mistake that switch rehearses.
//!
//! One multiplexed connection per origin process ([`ConnectionManager`] reconnects after a fault).
//! A failed Redis command is counted; caches then fall through to the database, sessions answer
//! 503.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use redis::AsyncCommands as _;
use redis::aio::ConnectionManager;

use crate::metrics::Counter;
use crate::sessions::{AddError, CartLine, MAX_CART_LINES, RateLimit, SessionId};

/// Errors from opening Redis.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    #[error("{url} is not a Redis URL (expected redis://HOST:PORT/)")]
    Url {
        url: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("cannot connect to Redis at {url}")]
    Connect {
        url: String,
        #[source]
        source: redis::RedisError,
    },
}

/// A Redis command failed (counted in `shop_redis_errors_total`).
#[derive(Debug, thiserror::Error)]
#[error("Redis could not answer")]
pub struct Unavailable;

/// The shop's Redis.
#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
    ttl: Duration,
    idle_ttl: Duration,
    rate: RateLimit,
    metrics: std::sync::Arc<RedisMetrics>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

/// Redis commands by outcome.
#[derive(Debug, Default)]
pub struct RedisMetrics {
    pub commands: Counter,
    pub errors: Counter,
}

fn product_key(id: i64) -> String {
    format!("shop:product:{id}")
}
fn stock_key(id: i64) -> String {
    format!("shop:stock:{id}")
}
fn session_key(id: SessionId) -> String {
    format!("shop:session:{:032x}", id.0)
}

/// `3:1,17:2`: a cart as `product:quantity` pairs.
fn encode_cart(cart: &[CartLine]) -> String {
    let mut s = String::with_capacity(cart.len() * 10);
    for (i, l) in cart.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{}:{}", l.product_id, l.quantity);
    }
    s
}

fn decode_cart(s: &str) -> Vec<CartLine> {
    s.split(',')
        .filter_map(|pair| {
            let (p, q) = pair.split_once(':')?;
            Some(CartLine { product_id: p.parse().ok()?, quantity: q.parse().ok()? })
        })
        .collect()
}

impl Redis {
    /// Connects to `url`. `ttl` is the product documents' (and stock's) time to live, `idle_ttl`
    /// a session's.
    /// Keeps trying for up to `wait` while Redis is not there yet.
    pub async fn open(
        url: &str,
        ttl: Duration,
        idle_ttl: Duration,
        rate: RateLimit,
        wait: Duration,
    ) -> Result<Self, RedisError> {
        let client = redis::Client::open(url).map_err(|source| RedisError::Url { url: url.to_owned(), source })?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(5))
            .set_response_timeout(Duration::from_secs(5))
            .set_number_of_retries(2);
        let started = std::time::Instant::now();
        let conn = loop {
            match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
                Ok(c) => break c,
                Err(_) if started.elapsed() < wait => tokio::time::sleep(Duration::from_millis(500)).await,
                Err(source) => return Err(RedisError::Connect { url: url.to_owned(), source }),
            }
        };
        Ok(Self { conn, ttl, idle_ttl, rate, metrics: Default::default() })
    }

    pub fn metrics(&self) -> &RedisMetrics {
        &self.metrics
    }

    fn counted<T>(&self, r: redis::RedisResult<T>) -> Result<T, Unavailable> {
        self.metrics.commands.inc();
        r.map_err(|_| {
            self.metrics.errors.inc();
            Unavailable
        })
    }

    /// A product document (`ETag` and body) if cached.
    pub async fn product(&self, id: i64) -> Result<Option<(Bytes, Bytes)>, Unavailable> {
        let got: Option<Vec<u8>> = self.counted(self.conn.clone().get(product_key(id)).await)?;
        Ok(got.and_then(|v| {
            let v = Bytes::from(v);
            let nl = v.iter().position(|b| *b == b'\n')?;
            Some((v.slice(..nl), v.slice(nl + 1..)))
        }))
    }

    pub async fn put_product(&self, id: i64, etag: &[u8], body: &[u8]) -> Result<(), Unavailable> {
        let mut v = Vec::with_capacity(etag.len() + 1 + body.len());
        v.extend_from_slice(etag);
        v.push(b'\n');
        v.extend_from_slice(body);
        self.counted(self.conn.clone().set_ex::<_, _, ()>(product_key(id), v, self.ttl.as_secs().max(1)).await)
    }

    /// The cached stock of a product (`--cache-inventory`).
    pub async fn stock(&self, id: i64) -> Result<Option<i64>, Unavailable> {
        self.counted(self.conn.clone().get(stock_key(id)).await)
    }

    pub async fn put_stock(&self, id: i64, stock: i64) -> Result<(), Unavailable> {
        self.counted(self.conn.clone().set_ex::<_, _, ()>(stock_key(id), stock, self.ttl.as_secs().max(1)).await)
    }

    /// Reads a field of a session and renews the session's idle time to live.
    async fn session_field(&self, id: SessionId, field: &str) -> Result<Option<String>, Unavailable> {
        let key = session_key(id);
        let (v, ()): (Option<String>, ()) = self.counted(
            redis::pipe()
                .hget(&key, field)
                .expire(&key, self.idle_ttl.as_secs() as i64)
                .query_async(&mut self.conn.clone())
                .await,
        )?;
        Ok(v)
    }

    async fn set_session_field(&self, id: SessionId, field: &str, value: &str) -> Result<(), Unavailable> {
        let key = session_key(id);
        self.counted(
            redis::pipe()
                .hset(&key, field, value)
                .ignore()
                .expire(&key, self.idle_ttl.as_secs() as i64)
                .ignore()
                .query_async::<()>(&mut self.conn.clone())
                .await,
        )
    }

    pub async fn cart(&self, id: SessionId) -> Result<Vec<CartLine>, Unavailable> {
        Ok(self.session_field(id, "cart").await?.as_deref().map(decode_cart).unwrap_or_default())
    }

    /// Adds to the cart and returns it. A session's requests come one after another, as a
    /// shopper's do; two at once may lose one of the two additions (the last write wins, as in
    /// most session stores).
    pub async fn add(
        &self,
        id: SessionId,
        product_id: i64,
        quantity: u32,
    ) -> Result<Result<Vec<CartLine>, AddError>, Unavailable> {
        let mut cart = self.cart(id).await?;
        if let Some(line) = cart.iter_mut().find(|l| l.product_id == product_id) {
            line.quantity = line.quantity.saturating_add(quantity);
        } else if cart.len() >= MAX_CART_LINES {
            return Ok(Err(AddError::CartFull));
        } else {
            cart.push(CartLine { product_id, quantity });
        }
        self.set_session_field(id, "cart", &encode_cart(&cart)).await?;
        Ok(Ok(cart))
    }

    pub async fn clear_ordered(&self, id: SessionId, ordered: &[CartLine]) -> Result<(), Unavailable> {
        let mut cart = self.cart(id).await?;
        cart.retain(|l| !ordered.contains(l));
        self.set_session_field(id, "cart", &encode_cart(&cart)).await
    }

    pub async fn log_in(&self, id: SessionId, email: &str) -> Result<(), Unavailable> {
        self.set_session_field(id, "user", email).await
    }

    pub async fn user(&self, id: SessionId) -> Result<Option<String>, Unavailable> {
        self.session_field(id, "user").await
    }

    /// Counts a checkout in the session's current fixed window (`INCR` and `EXPIRE` in one
    /// transaction); `Err(retry after)` past the limit.
    pub async fn admit_checkout(&self, id: SessionId) -> Result<Result<(), Duration>, Unavailable> {
        let window = self.rate.window.as_secs().max(1);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let key = format!("shop:ratelimit:{:032x}:{}", id.0, now / window);
        let (n, ()): (u64, ()) = self.counted(
            redis::pipe()
                .atomic()
                .incr(&key, 1u64)
                .expire(&key, window as i64)
                .query_async(&mut self.conn.clone())
                .await,
        )?;
        if n > u64::from(self.rate.limit) {
            return Ok(Err(Duration::from_secs(window - now % window)));
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carts_round_trip_and_bad_pairs_are_skipped() {
        let cart = vec![CartLine { product_id: 3, quantity: 1 }, CartLine { product_id: 17, quantity: 2 }];
        assert_eq!(decode_cart(&encode_cart(&cart)), cart);
        assert_eq!(decode_cart(""), vec![]);
        assert_eq!(decode_cart("3:1,x:2,5"), vec![CartLine { product_id: 3, quantity: 1 }]);
    }
}
