//! The HTTP client of one VU: its own keep-alive connections (as a browser
//! keeps them), HTTP/1.1 or HTTP/2, TLS through rustls, k6's request phases,
//! and failures classified by kind.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use stampede_metrics::{ErrorKind, Timings};
use stampede_scenario::HttpVersion;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::allow::AllowList;
use crate::h1::{Failure, H1, Pools};
use crate::io::{IoStats, TimedIo};

/// Settings shared by every VU of a run (built once).
#[derive(Clone)]
pub struct ClientConfig {
    pub tls: Arc<rustls::ClientConfig>,
    pub http_version: HttpVersion,
    pub connect_timeout: Duration,
    /// Destinations this process may connect to; `None`: any.
    pub allow: Option<Arc<AllowList>>,
    /// Most bytes of a response body kept for checks and extractors.
    pub max_body: u64,
    /// `[target] hosts`: names connected to at a fixed address (the URL's
    /// name stays in SNI, certificate checks and `Host`).
    pub hosts: Arc<[stampede_scenario::net::HostMapping]>,
    /// `[target] local_ips`: source addresses of new connections, round-robin.
    pub local_ips: Arc<[std::net::IpAddr]>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig").field("http_version", &self.http_version).finish()
    }
}

impl ClientConfig {
    pub fn new(http_version: HttpVersion, insecure: bool, connect_timeout: Duration, max_body: u64) -> ClientConfig {
        Self::with_ca(http_version, insecure, connect_timeout, max_body, &[])
    }

    /// As [`ClientConfig::new`], also trusting the certificates of `ca`.
    pub fn with_ca(
        http_version: HttpVersion,
        insecure: bool,
        connect_timeout: Duration,
        max_body: u64,
        ca: &[rustls::pki_types::CertificateDer<'static>],
    ) -> ClientConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions");
        let mut tls = if insecure {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerify)).with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            roots.add_parsable_certificates(ca.iter().cloned());
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        tls.alpn_protocols = match http_version {
            HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
            HttpVersion::Http2 => vec![b"h2".to_vec()],
        };
        ClientConfig {
            tls: Arc::new(tls),
            http_version,
            connect_timeout,
            allow: None,
            max_body,
            hosts: Arc::new([]),
            local_ips: Arc::new([]),
        }
    }
}

/// Name resolution cache of one worker (targets rarely change address during
/// a test; k6 caches too).
#[derive(Debug, Default)]
pub struct Resolver {
    cache: std::cell::RefCell<HashMap<Box<str>, SocketAddr>>,
    /// Next `local_ips` entry (one counter per worker: no shared state).
    next_local: std::cell::Cell<usize>,
}

impl Resolver {
    /// The next source address of `local` of the family of `dest`, round-robin.
    fn local_ip(&self, local: &[std::net::IpAddr], dest: &SocketAddr) -> Option<std::net::IpAddr> {
        for _ in 0..local.len() {
            let i = self.next_local.get() % local.len();
            self.next_local.set(i + 1);
            if local[i].is_ipv4() == dest.is_ipv4() {
                return Some(local[i]);
            }
        }
        None
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, ErrorKind> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        if let Some(a) = self.cache.borrow().get(host) {
            return Ok(SocketAddr::new(a.ip(), port));
        }
        let mut addrs = tokio::net::lookup_host((host, port)).await.map_err(|_| ErrorKind::Dns)?;
        let addr = addrs.next().ok_or(ErrorKind::Dns)?;
        self.cache.borrow_mut().insert(host.into(), addr);
        Ok(addr)
    }
}

enum Sender {
    H1(H1<TimedIo<TcpStream>>),
    H1Tls(Box<H1<tokio_rustls::client::TlsStream<TimedIo<TcpStream>>>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// One open connection of a VU.
pub(crate) struct Conn {
    scheme_https: bool,
    authority: http::uri::Authority,
    host_header: HeaderValue,
    sender: Sender,
    stats: Rc<IoStats>,
}

impl Conn {
    fn matches(&self, uri: &Uri) -> bool {
        uri.authority() == Some(&self.authority)
            && (uri.scheme() == Some(&http::uri::Scheme::HTTPS)) == self.scheme_https
    }

    fn is_closed(&self) -> bool {
        match &self.sender {
            Sender::H1(c) => !c.is_reusable(),
            Sender::H1Tls(c) => !c.is_reusable(),
            Sender::H2(s) => s.is_closed(),
        }
    }
}

/// Executor for HTTP/2 connection tasks on the worker's `LocalSet`.
#[derive(Clone, Copy, Debug)]
struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: std::future::Future + 'static,
{
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// What a completed exchange gives back to the VU.
pub struct Exchange {
    pub response: Option<http::response::Parts>,
    pub timings: Timings,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub body_bytes: u64,
    pub error: Option<ErrorKind>,
}

impl Exchange {
    /// A request whose deadline passed; it began at `started`.
    pub fn timed_out(started: Instant) -> Exchange {
        Exchange {
            response: None,
            timings: Timings { waiting: started.elapsed().as_micros() as u64, ..Default::default() },
            bytes_sent: 0,
            bytes_received: 0,
            body_bytes: 0,
            error: Some(ErrorKind::Timeout),
        }
    }
}

/// A VU's keep-alive connections: usually one; one per origin when a flow
/// spans several, and up to a batch's `batch_per_host` per origin once a
/// batch ran (kept for the next batch, as a browser keeps them).
#[derive(Default)]
pub struct Connections {
    /// Slots, `None` where a connection was taken or dropped (reused by the
    /// next one): a request runs on its slot in place, with no connection
    /// moved in or out.
    conns: Vec<Option<Conn>>,
}

impl Connections {
    pub fn clear(&mut self) {
        self.conns.clear();
    }

    /// An open connection to the origin of `uri`, taken out (a batch lane
    /// holds it while the batch runs); closed ones met on the way are dropped.
    pub(crate) fn take(&mut self, uri: &Uri) -> Option<Conn> {
        for slot in self.conns.iter_mut().filter(|s| s.as_ref().is_some_and(|c| c.matches(uri))) {
            match slot.take() {
                Some(conn) if !conn.is_closed() => return Some(conn),
                _ => {}
            }
        }
        None
    }

    /// Keeps `conn` for later requests, unless it is closed.
    pub(crate) fn put(&mut self, conn: Conn) {
        if conn.is_closed() {
            return;
        }
        match self.conns.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(conn),
            None => self.push(Some(conn)),
        }
    }

    /// Grows by one slot, not by doubling: most VUs keep one connection
    /// (a doubling `Vec` would hold four slots, ~500 bytes a VU for nothing).
    fn push(&mut self, slot: Option<Conn>) {
        self.conns.reserve_exact(1);
        self.conns.push(slot);
    }

    /// Sends the request in `req` as [`exchange_on`] does, on the slot of a
    /// connection to its origin (an empty slot when there is none: one is
    /// opened). An exchange abandoned mid-way (a timeout) leaves its
    /// connection unusable, dropped at the next request. Nothing is sent
    /// when `req` is empty.
    pub fn exchange<'a>(
        &'a mut self,
        cfg: &'a ClientConfig,
        resolver: &'a Resolver,
        pools: &'a Pools,
        req: &'a mut Option<Request<Bytes>>,
        keep_body: bool,
        body: &'a mut Vec<u8>,
    ) -> impl Future<Output = Exchange> + 'a {
        let uri = req.as_ref().map(Request::uri);
        let open = |c: &Conn| uri.is_some_and(|u| c.matches(u)) && !c.is_closed();
        let i = match self.conns.iter().position(|s| s.as_ref().is_some_and(open)) {
            Some(i) => i,
            None => match self.conns.iter().position(Option::is_none) {
                Some(i) => i,
                None => {
                    self.push(None);
                    self.conns.len() - 1
                }
            },
        };
        exchange_on(&mut self.conns[i], cfg, resolver, pools, req, keep_body, body)
    }
}

/// Sends the request in `req` on the connection in `slot` and reads its
/// response, first opening a connection when `slot` holds none, a closed one
/// or one to another origin; `slot` holds the connection afterwards while it
/// is reusable. HTTP/2 takes the request out of `req`; HTTP/1.1 leaves it.
/// The body is read to the end; it is appended to `body` only when
/// `keep_body` (otherwise counted and dropped), up to the config's `max_body`
/// (beyond, the exchange fails as [`ErrorKind::BodyTooLarge`] and an HTTP/1.1
/// connection is closed). Never fails: failures come back as an `ErrorKind`.
/// A request that found its reused HTTP/1.1 connection closed by the server
/// before any response byte is retried once on a new connection.
///
/// The request is borrowed, not passed by value: an async fn stores a
/// by-value argument twice in its future, which every VU task carries.
pub(crate) async fn exchange_on(
    slot: &mut Option<Conn>,
    cfg: &ClientConfig,
    resolver: &Resolver,
    pools: &Pools,
    req: &mut Option<Request<Bytes>>,
    keep_body: bool,
    body: &mut Vec<u8>,
) -> Exchange {
    let keep = keep_body.then_some(cfg.max_body);
    let mut ex = Exchange {
        response: None,
        timings: Timings::default(),
        bytes_sent: 0,
        bytes_received: 0,
        body_bytes: 0,
        error: None,
    };
    for attempt in 0..2 {
        let Some(r) = req.as_ref() else { break };
        let mut timings = Timings::default();
        let blocked_start = Instant::now();
        if slot.as_ref().is_some_and(|c| c.is_closed() || !c.matches(r.uri())) {
            *slot = None;
        }
        if slot.is_none() {
            match Box::pin(connect(cfg, resolver, r.uri(), &mut timings, blocked_start)).await {
                Ok(c) => *slot = Some(c),
                Err(kind) => {
                    ex.timings = timings;
                    ex.error = Some(kind);
                    return ex;
                }
            }
        } else {
            timings.blocked = blocked_start.elapsed().as_micros() as u64;
        }
        let Some(conn) = slot.as_mut() else { break };
        let stats = conn.stats.clone();
        let (sent0, recv0) = (stats.bytes_written.get(), stats.bytes_read.get());
        stats.arm();
        body.clear();
        let result: Result<(http::response::Parts, u64), Failure> = match &mut conn.sender {
            Sender::H1(c) => c.exchange(pools, r, &conn.host_header, keep, body, &mut timings).await,
            Sender::H1Tls(c) => c.exchange(pools, r, &conn.host_header, keep, body, &mut timings).await,
            Sender::H2(s) => {
                let Some(r) = req.take() else { break };
                // Boxed: its future is larger than HTTP/1.1's, and every VU
                // task would carry it for life (hyper allocates per HTTP/2
                // request anyway).
                Box::pin(exchange_h2(s, r, &stats, keep, body, &mut timings)).await
            }
        };
        ex.bytes_sent += stats.bytes_written.get() - sent0;
        ex.bytes_received += stats.bytes_read.get() - recv0;
        ex.timings = timings;
        match result {
            Ok((parts, n)) => {
                ex.body_bytes = n;
                ex.error = ErrorKind::from_status(parts.status.as_u16());
                ex.response = Some(parts);
                if slot.as_ref().is_some_and(Conn::is_closed) {
                    *slot = None;
                }
                return ex;
            }
            Err(f) => {
                // The connection is in an unknown state: drop it.
                *slot = None;
                ex.error = Some(f.kind);
                if !(f.retryable && attempt == 0) {
                    return ex;
                }
            }
        }
    }
    ex
}

/// One request on an HTTP/2 connection.
async fn exchange_h2(
    s: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    req: Request<Bytes>,
    stats: &IoStats,
    keep: Option<u64>,
    body: &mut Vec<u8>,
    timings: &mut Timings,
) -> Result<(http::response::Parts, u64), Failure> {
    let (parts, b) = req.into_parts();
    let h2req = Request::from_parts(parts, Full::new(b));
    if s.ready().await.is_err() {
        return Err(Failure { kind: ErrorKind::Reset, retryable: false });
    }
    let send_start = Instant::now();
    let resp = s.send_request(h2req).await;
    finish_h2(resp, send_start, stats, keep, body, timings).await.map_err(|kind| Failure { kind, retryable: false })
}

async fn finish_h2(
    r: Result<Response<Incoming>, hyper::Error>,
    send_start: Instant,
    stats: &IoStats,
    keep_body: Option<u64>,
    body: &mut Vec<u8>,
    t: &mut Timings,
) -> Result<(http::response::Parts, u64), ErrorKind> {
    let resp = r.map_err(|e| classify_hyper(&e))?;
    let headers_at = Instant::now();
    let last_write = stats.last_write.get().unwrap_or(send_start).max(send_start);
    let first_read = stats.first_read.get().unwrap_or(headers_at).max(last_write);
    t.sending = (last_write - send_start).as_micros() as u64;
    t.waiting = (first_read - last_write).as_micros() as u64;
    let (parts, mut incoming) = resp.into_parts();
    let mut n = 0u64;
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|e| classify_hyper(&e))?;
        if let Ok(data) = frame.into_data() {
            n += data.len() as u64;
            if let Some(max) = keep_body {
                if body.len() as u64 + data.len() as u64 > max {
                    // Dropping the body resets the stream; the connection stays.
                    return Err(ErrorKind::BodyTooLarge);
                }
                body.extend_from_slice(&data);
            }
        }
    }
    t.receiving = first_read.elapsed().as_micros() as u64;
    Ok((parts, n))
}

async fn connect(
    cfg: &ClientConfig,
    resolver: &Resolver,
    uri: &Uri,
    t: &mut Timings,
    blocked_start: Instant,
) -> Result<Conn, ErrorKind> {
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(ErrorKind::Other),
    };
    let authority = uri.authority().ok_or(ErrorKind::Other)?.clone();
    let host = authority.host();
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addr = match stampede_scenario::net::map_host(&cfg.hosts, host) {
        Some(m) => m.addr(port),
        None => resolver.resolve(host, port).await?,
    };
    if let Some(allow) = &cfg.allow
        && !allow.allows_destination(host, addr.ip())
    {
        return Err(ErrorKind::NotAllowed);
    }

    let connect_start = Instant::now();
    t.blocked = (connect_start - blocked_start).as_micros() as u64;
    let tcp = if cfg.local_ips.is_empty() {
        tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(addr)).await
    } else {
        // A source address of the destination's family (none: a clear failure).
        let local = resolver.local_ip(&cfg.local_ips, &addr).ok_or(ErrorKind::Other)?;
        let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() };
        let socket = socket.map_err(|e| classify_io(&e))?;
        bind_address_no_port(&socket);
        socket.bind(SocketAddr::new(local, 0)).map_err(|e| classify_io(&e))?;
        tokio::time::timeout(cfg.connect_timeout, socket.connect(addr)).await
    };
    let tcp = match tcp {
        Err(_) => return Err(ErrorKind::Timeout),
        Ok(Err(e)) => return Err(classify_io(&e)),
        Ok(Ok(s)) => s,
    };
    let _ = tcp.set_nodelay(true);
    t.connecting = connect_start.elapsed().as_micros() as u64;
    let stats = IoStats::new();
    let io = TimedIo::new(tcp, stats.clone());
    let host_header = HeaderValue::from_str(authority.as_str()).map_err(|_| ErrorKind::Other)?;

    let sender = if https {
        let tls_start = Instant::now();
        let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_owned())
            .map_err(|_| ErrorKind::Tls)?;
        let connector = tokio_rustls::TlsConnector::from(cfg.tls.clone());
        let tls = match tokio::time::timeout(cfg.connect_timeout, connector.connect(name, io)).await {
            Err(_) => return Err(ErrorKind::Timeout),
            Ok(Err(e)) => {
                return Err(if e.kind() == io::ErrorKind::InvalidData { ErrorKind::Tls } else { classify_io(&e) });
            }
            Ok(Ok(s)) => s,
        };
        t.tls_handshaking = tls_start.elapsed().as_micros() as u64;
        if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
            handshake_h2(TokioIo::new(tls)).await?
        } else {
            Sender::H1Tls(Box::new(H1::new(tls)))
        }
    } else if cfg.http_version == HttpVersion::Http2 {
        handshake_h2(TokioIo::new(io)).await?
    } else {
        Sender::H1(H1::new(io))
    };
    Ok(Conn { scheme_https: https, authority, host_header, sender, stats })
}

async fn handshake_h2<T>(io: TokioIo<T>) -> Result<Sender, ErrorKind>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let (sender, conn) =
        hyper::client::conn::http2::Builder::new(LocalExec).handshake(io).await.map_err(|e| classify_hyper(&e))?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    Ok(Sender::H2(sender))
}

pub fn classify_io(e: &io::Error) -> ErrorKind {
    use io::ErrorKind as K;
    // EMFILE (this process) and ENFILE (the whole system): out of descriptors.
    if matches!(e.raw_os_error(), Some(24 | 23)) {
        return ErrorKind::OpenFiles;
    }
    match e.kind() {
        K::ConnectionRefused => ErrorKind::Refused,
        K::TimedOut => ErrorKind::Timeout,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof | K::NotConnected => {
            ErrorKind::Reset
        }
        K::InvalidData => ErrorKind::Protocol,
        _ => ErrorKind::Other,
    }
}

fn classify_hyper(e: &hyper::Error) -> ErrorKind {
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    if e.is_parse() || e.is_parse_status() {
        return ErrorKind::Protocol;
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return classify_io(io);
        }
        src = s.source();
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        return ErrorKind::Reset;
    }
    ErrorKind::Other
}

/// Accepts any certificate: only for test targets, behind an explicit option.
#[derive(Debug)]
struct NoVerify;

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

/// `IP_BIND_ADDRESS_NO_PORT` on a socket about to be bound to a source
/// address with port 0: the kernel then picks the port at `connect`, unique
/// per destination (the whole 4-tuple), instead of at `bind`, unique per
/// port across every address. Without it a run's bound sockets take the
/// ephemeral ports for everyone on the machine (the target's own outgoing
/// connections fail with "address not available"), and one source address
/// carries one port range in all rather than one per destination. Best
/// effort: elsewhere than Linux, or if refused, the bind picks the port.
#[allow(unsafe_code)]
fn bind_address_no_port(socket: &tokio::net::TcpSocket) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        let one: libc::c_int = 1;
        // SAFETY: the descriptor is the socket's own, open for the call;
        // the option value points at `one`, which outlives the call, with its size.
        let _ = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&raw const one).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}
