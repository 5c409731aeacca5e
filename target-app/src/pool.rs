//! The measured connection pool both databases use: a fixed set of connections behind a
//! semaphore, so that waiting for a free connection is what `--db-pool` makes visible.

use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::metrics::{Counter, Gauge, Histogram};

/// Metrics of the connection pool.
#[derive(Debug)]
pub struct PoolMetrics {
    pub size: usize,
    /// Time from asking for a connection to getting one, every acquisition.
    pub wait: Histogram,
    /// Acquisitions that found every connection busy and had to wait.
    pub waits: Counter,
    pub in_use: Gauge,
}

/// A fixed pool of connections of type `C`.
#[derive(Debug)]
pub struct Pool<C> {
    /// Idle connections. The semaphore guarantees one is here for each permit holder.
    idle: Mutex<Vec<C>>,
    /// One permit per pooled connection.
    permits: Semaphore,
    metrics: PoolMetrics,
}

/// A connection lent by the pool; it goes back when the lease drops. A lease whose connection was
/// taken and not put back (its task panicked) shrinks the pool for good.
#[derive(Debug)]
pub struct Lease<'a, C> {
    pool: &'a Pool<C>,
    conn: Option<C>,
    permit: Option<SemaphorePermit<'a>>,
}

impl<C> Pool<C> {
    pub fn new(conns: Vec<C>) -> Self {
        let size = conns.len();
        Self {
            permits: Semaphore::new(size),
            idle: Mutex::new(conns),
            metrics: PoolMetrics {
                size,
                wait: Histogram::latency(),
                waits: Counter::default(),
                in_use: Gauge::default(),
            },
        }
    }

    pub fn metrics(&self) -> &PoolMetrics {
        &self.metrics
    }

    /// Waits (measured) for a free connection. `None` only if the pool was closed.
    pub async fn get(&self) -> Option<Lease<'_, C>> {
        let asked = Instant::now();
        let permit = match self.permits.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                self.metrics.waits.inc();
                self.permits.acquire().await.ok()?
            }
        };
        self.metrics.wait.observe(asked.elapsed());
        let conn = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()?;
        self.metrics.in_use.inc();
        Some(Lease { pool: self, conn: Some(conn), permit: Some(permit) })
    }
}

impl<C> Lease<'_, C> {
    /// The connection, to move into a blocking task; [`Lease::put`] returns it.
    pub fn take(&mut self) -> Option<C> {
        self.conn.take()
    }
    pub fn put(&mut self, conn: C) {
        self.conn = Some(conn);
    }
    pub fn conn(&mut self) -> &mut C {
        self.conn.as_mut().expect("a lease holds its connection until taken")
    }
}

impl<C> Drop for Lease<'_, C> {
    fn drop(&mut self) {
        self.pool.metrics.in_use.dec();
        match self.conn.take() {
            Some(c) => self.pool.idle.lock().unwrap_or_else(|e| e.into_inner()).push(c),
            None => {
                if let Some(p) = self.permit.take() {
                    p.forget();
                }
            }
        }
    }
}
