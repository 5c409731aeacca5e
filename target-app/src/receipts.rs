//! The background queue that renders order confirmations (receipts) off the request path.
//!
//! Owns the queue, its depth gauge and the worker. A checkout enqueues a job and answers at once;
//! the worker renders the receipt and stores it on the order. On shutdown the worker finishes the
//! jobs already queued, then stops.

use std::fmt::Write as _;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::db::PlacedLine;
use crate::metrics::{Counter, Gauge};
use crate::store::Store;

/// A receipt to render.
#[derive(Debug)]
pub struct Job {
    pub order_id: i64,
    pub session: String,
    pub total_cents: i64,
    pub lines: Vec<PlacedLine>,
}

/// Queue metrics.
#[derive(Debug, Default)]
pub struct QueueMetrics {
    pub depth: Gauge,
    pub rendered: Counter,
    pub failed: Counter,
}

/// The sending side, held by the origin.
#[derive(Debug, Clone)]
pub struct ReceiptQueue {
    tx: mpsc::UnboundedSender<Job>,
    metrics: Arc<QueueMetrics>,
}

impl ReceiptQueue {
    /// Creates the queue and returns the worker to spawn. The queue is unbounded because each job
    /// is a placed order and orders are bounded by stock; the depth is exported as a gauge.
    pub fn new(db: Store, metrics: Arc<QueueMetrics>) -> (Self, Worker) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx, metrics: metrics.clone() }, Worker { rx, db, metrics })
    }

    /// Enqueues a job; never waits.
    pub fn push(&self, job: Job) {
        self.metrics.depth.inc();
        if self.tx.send(job).is_err() {
            // The worker is gone (shutting down): the order stands, its receipt is not rendered.
            self.metrics.depth.dec();
            self.metrics.failed.inc();
        }
    }
}

/// The consumer: one task that renders and stores receipts in order.
#[derive(Debug)]
pub struct Worker {
    rx: mpsc::UnboundedReceiver<Job>,
    db: Store,
    metrics: Arc<QueueMetrics>,
}

impl Worker {
    /// Runs until `shutdown` resolves, then drains what is already queued.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                job = self.rx.recv() => match job {
                    Some(job) => self.handle(job).await,
                    None => return,
                },
                () = &mut shutdown => break,
            }
        }
        self.rx.close();
        while let Some(job) = self.rx.recv().await {
            self.handle(job).await;
        }
    }

    async fn handle(&self, job: Job) {
        self.metrics.depth.dec();
        let receipt = render(&job);
        let order_id = job.order_id;
        match self.db.store_receipt(order_id, receipt).await {
            Ok(()) => self.metrics.rendered.inc(),
            Err(_) => self.metrics.failed.inc(),
        }
    }
}

/// Renders a plain-text receipt.
pub fn render(job: &Job) -> String {
    let mut out = String::with_capacity(256 + 64 * job.lines.len());
    let _ = writeln!(out, "STAMPEDE SHOP — ORDER #{}", job.order_id);
    let _ = writeln!(out, "customer session {}", &job.session[..8.min(job.session.len())]);
    for l in &job.lines {
        let _ =
            writeln!(out, "{:>3} x {:<40} {:>10}", l.quantity, l.name, money(l.price_cents * i64::from(l.quantity)));
    }
    let _ = writeln!(out, "{:>56}", format!("TOTAL {}", money(job.total_cents)));
    out
}

/// `1999` → `$19.99`.
pub fn money(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}
