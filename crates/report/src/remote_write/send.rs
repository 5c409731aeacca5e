//! The sender: a thread of its own (with a one-thread runtime) that posts
//! queued write requests in order over one kept-alive HTTP/1.1 connection.
//!
//! - 2xx: sent; the batch leaves the queue.
//! - 5xx, 429, a network error or no answer within [`REQUEST_TIMEOUT`]:
//!   retried after a backoff (100 ms doubling to 5 s), the connection made
//!   anew; the batch stays at the head, so series stay in time order.
//! - any other status (400: the receiver refuses the data): dropped, counted.
//!
//! [`Sender::push`] never waits: when the queue holds `max_queue` batches or
//! [`MAX_QUEUE_BYTES`](super::MAX_QUEUE_BYTES), the oldest is dropped and counted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;

use super::RemoteWriteConfig;

/// The longest one request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

struct Batch {
    seq: u64,
    body: Bytes,
    samples: u64,
}

#[derive(Default)]
struct Queue {
    batches: VecDeque<Batch>,
    bytes: usize,
    next_seq: u64,
    closed: bool,
    stats: Stats,
}

/// What was delivered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub batches_sent: u64,
    pub samples_sent: u64,
    pub batches_dropped: u64,
    pub samples_dropped: u64,
    pub failed_attempts: u64,
    pub last_error: Option<String>,
}

impl Queue {
    /// Takes the oldest batch out, keeping the byte count.
    fn pop_front(&mut self) -> Option<Batch> {
        let b = self.batches.pop_front()?;
        self.bytes -= b.body.len();
        Some(b)
    }

    /// Takes the oldest batch out and counts it as never delivered.
    fn drop_front(&mut self) -> bool {
        let Some(b) = self.pop_front() else { return false };
        self.stats.batches_dropped += 1;
        self.stats.samples_dropped += b.samples;
        true
    }
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Notify,
    /// Set when the end of the run gave up waiting: the thread stops.
    abandon: AtomicBool,
    done: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The queue's producer side.
pub struct Sender {
    shared: Arc<Shared>,
    max_queue: usize,
    flush_timeout: Duration,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sender {
    pub fn start(config: RemoteWriteConfig) -> std::io::Result<Sender> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            abandon: AtomicBool::new(false),
            done: Notify::new(),
        });
        let (max_queue, flush_timeout) = (config.max_queue.max(1), config.flush_timeout);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let s = shared.clone();
        let thread = std::thread::Builder::new().name("stampede-remote-write".into()).spawn(move || {
            rt.block_on(run(s, config));
        })?;
        Ok(Sender { shared, max_queue, flush_timeout, thread: Some(thread) })
    }

    /// Queues a batch; drops the oldest while the queue is over its bounds.
    pub fn push(&self, body: Bytes, samples: u64) {
        let mut q = self.shared.lock();
        let seq = q.next_seq;
        q.next_seq += 1;
        q.bytes += body.len();
        q.batches.push_back(Batch { seq, body, samples });
        while q.batches.len() > self.max_queue || (q.bytes > super::MAX_QUEUE_BYTES && q.batches.len() > 1) {
            q.drop_front();
        }
        drop(q);
        self.shared.wake.notify_one();
    }

    /// Closes the queue, waits up to the flush timeout for it to drain, and
    /// counts what is left as dropped.
    pub fn finish(&mut self) -> Stats {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        let deadline = Instant::now() + self.flush_timeout;
        if let Some(thread) = self.thread.take() {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                // A request still in flight ends within REQUEST_TIMEOUT; the
                // thread stops then, without us.
                self.shared.abandon.store(true, Ordering::Relaxed);
                self.shared.done.notify_one();
            }
        }
        let mut q = self.shared.lock();
        while q.drop_front() {}
        q.stats.clone()
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shared.lock().closed = true;
            self.shared.abandon.store(true, Ordering::Relaxed);
            self.shared.wake.notify_one();
            self.shared.done.notify_one();
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Connection = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Why a send failed, and whether to try it again.
struct Failure {
    retry: bool,
    message: String,
}

impl Failure {
    fn retry(message: impl Into<String>) -> Failure {
        Failure { retry: true, message: message.into() }
    }
}

async fn connect(config: &RemoteWriteConfig) -> Result<Connection, Failure> {
    let uri = &config.url;
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| Failure::retry(format!("cannot connect to {host}:{port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = if https {
        let tls = config.tls.clone().ok_or_else(|| Failure { retry: false, message: "no TLS configuration".into() })?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| Failure { retry: false, message: format!("`{host}` is not a TLS server name: {e}") })?;
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .map_err(|e| Failure::retry(format!("TLS handshake with {host}:{port} failed: {e}")))?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| Failure::retry(format!("HTTP handshake with {host}:{port} failed: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

async fn post(conn: &mut Connection, config: &RemoteWriteConfig, body: Bytes) -> Result<(), Failure> {
    let uri = &config.url;
    let mut req = Request::post(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(header::HOST, uri.authority().map_or("", |a| a.as_str()))
        .header(header::CONTENT_ENCODING, "snappy")
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .header(header::USER_AGENT, concat!("stampede/", env!("CARGO_PKG_VERSION")))
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(Full::new(body))
        .map_err(|e| Failure { retry: false, message: format!("cannot build the request: {e}") })?;
    for (name, value) in &config.headers {
        req.headers_mut().insert(name.clone(), value.clone());
    }
    conn.ready().await.map_err(|e| Failure::retry(format!("connection lost: {e}")))?;
    let res = conn.send_request(req).await.map_err(|e| Failure::retry(format!("request failed: {e}")))?;
    let status = res.status();
    // Read the answer whole (the connection is kept), keeping its start for messages.
    let body = res.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if status.is_success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_string();
    let retry = status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS;
    Err(Failure { retry, message: format!("the receiver answered {status}: {text}") })
}

async fn run(shared: Arc<Shared>, config: RemoteWriteConfig) {
    let mut conn: Option<Connection> = None;
    let mut backoff = BACKOFF_MIN;
    loop {
        if shared.abandon.load(Ordering::Relaxed) {
            return;
        }
        let head = {
            let q = shared.lock();
            match q.batches.front() {
                Some(b) => Some((b.seq, b.body.clone())),
                None if q.closed => return,
                None => None,
            }
        };
        let Some((seq, body)) = head else {
            shared.wake.notified().await;
            continue;
        };
        let attempt = async {
            if conn.is_none() {
                conn = Some(connect(&config).await?);
            }
            let c = conn.as_mut().expect("connected above");
            post(c, &config, body).await
        };
        let result = match tokio::time::timeout(REQUEST_TIMEOUT, attempt).await {
            Ok(r) => r,
            Err(_) => Err(Failure::retry(format!("no answer within {}s", REQUEST_TIMEOUT.as_secs()))),
        };
        let wait = {
            let mut q = shared.lock();
            let at_head = q.batches.front().is_some_and(|b| b.seq == seq);
            match result {
                Ok(()) => {
                    backoff = BACKOFF_MIN;
                    if at_head && let Some(b) = q.pop_front() {
                        q.stats.batches_sent += 1;
                        q.stats.samples_sent += b.samples;
                    }
                    false
                }
                Err(f) => {
                    q.stats.failed_attempts += 1;
                    q.stats.last_error = Some(f.message);
                    conn = None;
                    if !f.retry && at_head {
                        q.drop_front();
                    }
                    f.retry
                }
            }
        };
        if wait {
            // Sleep, but wake for the end of the run giving up.
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shared.done.notified() => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}
