//! HTTP/1.1 client connection, driven inline by the VU that owns it.
//!
//! Why not hyper's `client::conn::http1` (hyper still serves HTTP/2 here):
//! measured with massif, each hyper HTTP/1 connection allocates a 9 KB
//! dispatch-channel block and an 8 KB write buffer up front and needs its own
//! task, so 15,000 idle VUs cost ~21 KB each, twice the budget; every request
//! also crosses a channel between the VU task and the connection task. Here
//! the VU writes and reads its socket itself, buffers come from a
//! worker-local pool only while a request is in flight, and an idle
//! keep-alive connection costs its socket and a few words. Responses are
//! parsed with `httparse` (hyper's own parser).

use std::cell::RefCell;
use std::io;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version};
use stampede_metrics::{ErrorKind, Timings};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Size of a pooled read buffer; grows up to `MAX_HEAD` for huge headers.
const READ_CHUNK: usize = 16 * 1024;
/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Most response headers parsed.
const MAX_HEADERS: usize = 100;

static USER_AGENT: &str = concat!("stampede/", env!("CARGO_PKG_VERSION"));

/// Read buffers kept for reuse by one worker; more are freed when returned.
/// Only responses being read at the same moment hold one (see
/// [`ReadReady`]), so a few suffice even with thousands of VUs waiting.
const POOLED_MAX: usize = 64;

/// Buffers of one worker, lent to a request while it is in flight.
#[derive(Debug, Default)]
pub struct Pools {
    read: RefCell<Vec<Vec<u8>>>,
    write: RefCell<Vec<Vec<u8>>>,
}

impl Pools {
    fn take_read(&self) -> Vec<u8> {
        self.read.borrow_mut().pop().unwrap_or_else(|| vec![0; READ_CHUNK])
    }
    fn give_read(&self, mut b: Vec<u8>) {
        if b.len() > READ_CHUNK {
            b.truncate(READ_CHUNK);
            b.shrink_to_fit();
        }
        keep(&self.read, b);
    }
    fn take_write(&self) -> Vec<u8> {
        let mut b = self.write.borrow_mut().pop().unwrap_or_default();
        b.clear();
        b
    }
    fn give_write(&self, mut b: Vec<u8>) {
        if b.capacity() > 64 * 1024 {
            b = Vec::new();
        }
        keep(&self.write, b);
    }
}

/// Returns a buffer to its pool, or frees it when the pool is full.
fn keep(pool: &RefCell<Vec<Vec<u8>>>, b: Vec<u8>) {
    let mut pool = pool.borrow_mut();
    if pool.len() < POOLED_MAX {
        pool.push(b);
    }
}

/// What a failed exchange tells the caller.
#[derive(Debug, Clone, Copy)]
pub struct Failure {
    pub kind: ErrorKind,
    /// Nothing of a response arrived on a reused connection: the server had
    /// probably closed it while idle, so the request may be retried once on a
    /// new connection (as browsers do).
    pub retryable: bool,
}

/// A stream that can say when a read would find data, so a VU waiting for
/// its response holds no read buffer: when a target slows down, every VU of
/// a worker waits at once, and a 16 KB buffer each would be most of the
/// process's memory (seen: 17,000 waiting VUs, 270 MB of idle buffers).
pub trait ReadReady {
    /// Returns when a read may make progress (spuriously is allowed).
    fn read_ready(&self) -> impl std::future::Future<Output = io::Result<()>>;
}

impl ReadReady for crate::io::TimedIo<tokio::net::TcpStream> {
    async fn read_ready(&self) -> io::Result<()> {
        self.get_ref().readable().await
    }
}

/// TLS may hold decrypted bytes the socket no longer signals: no wait.
impl<S> ReadReady for tokio_rustls::client::TlsStream<S> {
    async fn read_ready(&self) -> io::Result<()> {
        Ok(())
    }
}

/// One HTTP/1.1 connection.
#[derive(Debug)]
pub struct H1<S> {
    io: S,
    /// False once the connection must not carry another request.
    reusable: bool,
    /// Requests completed on this connection.
    served: u64,
    /// Set while an exchange is under way: one abandoned mid-way (its future
    /// dropped on a timeout) leaves the connection in an unknown state, never
    /// to be reused.
    in_flight: bool,
}

impl<S: AsyncRead + AsyncWrite + ReadReady + Unpin> H1<S> {
    pub fn new(io: S) -> H1<S> {
        H1 { io, reusable: true, served: 0, in_flight: false }
    }

    pub fn is_reusable(&self) -> bool {
        self.reusable && !self.in_flight
    }

    /// Sends `req` (URI in absolute form; written in origin form with `Host`)
    /// and reads the whole response. The body is appended to `body` when
    /// `keep_body` gives its cap (a longer body fails as
    /// [`ErrorKind::BodyTooLarge`]), otherwise only counted.
    pub async fn exchange(
        &mut self,
        pools: &Pools,
        req: &Request<Bytes>,
        host: &HeaderValue,
        keep_body: Option<u64>,
        body: &mut Vec<u8>,
        t: &mut Timings,
    ) -> Result<(http::response::Parts, u64), Failure> {
        let reused = self.served > 0;
        let fail = |kind: ErrorKind, got_bytes: bool| Failure { kind, retryable: reused && !got_bytes };

        self.in_flight = true;
        let mut w = pools.take_write();
        encode_request(req, host, &mut w);
        let send_start = Instant::now();
        let wrote = self.io.write_all(&w).await;
        pools.give_write(w);
        if let Err(e) = wrote {
            self.reusable = false;
            self.in_flight = false;
            return Err(fail(crate::client::classify_io(&e), false));
        }
        let sent = Instant::now();
        t.sending = (sent - send_start).as_micros() as u64;

        // The wait for the response holds no buffer (see `ReadReady`); an
        // error here shows again on the read.
        let _ = self.io.read_ready().await;
        let mut rb = pools.take_read();
        let r = self.read_response(&mut rb, req.method() == Method::HEAD, keep_body, body, t, sent).await;
        pools.give_read(rb);
        self.in_flight = false;
        match r {
            Ok(v) => {
                self.served += 1;
                Ok(v)
            }
            Err((kind, got_bytes)) => {
                self.reusable = false;
                Err(fail(kind, got_bytes))
            }
        }
    }

    async fn read_response(
        &mut self,
        rb: &mut Vec<u8>,
        head_request: bool,
        keep_body: Option<u64>,
        body: &mut Vec<u8>,
        t: &mut Timings,
        sent: Instant,
    ) -> Result<(http::response::Parts, u64), (ErrorKind, bool)> {
        let mut end = 0usize;
        let mut first_byte: Option<Instant> = None;
        // --- head ---
        let (parts, head_len, framing) = loop {
            if end > 0 {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut resp = httparse::Response::new(&mut headers);
                match resp.parse(&rb[..end]) {
                    Ok(httparse::Status::Complete(n)) => {
                        let code = resp.code.unwrap_or(0);
                        if (100..200).contains(&code) && code != 101 {
                            // Interim response: drop it and read on.
                            rb.copy_within(n..end, 0);
                            end -= n;
                            continue;
                        }
                        let (parts, framing) = build_parts(&resp, head_request).map_err(|k| (k, true))?;
                        break (parts, n, framing);
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(_) => return Err((ErrorKind::Protocol, true)),
                }
            }
            if end == rb.len() {
                if rb.len() >= MAX_HEAD {
                    return Err((ErrorKind::Protocol, true));
                }
                rb.resize(rb.len() * 2, 0);
            }
            let n = self.io.read(&mut rb[end..]).await.map_err(|e| (crate::client::classify_io(&e), end > 0))?;
            if n == 0 {
                return Err((ErrorKind::Reset, end > 0));
            }
            if first_byte.is_none() {
                first_byte = Some(Instant::now());
            }
            end += n;
        };
        let first = first_byte.unwrap_or(sent);
        t.waiting = (first.max(sent) - sent).as_micros() as u64;

        // --- body ---
        let mut pos = head_len;
        let mut total = 0u64;
        // Set when a kept body would pass `max_body`: reading stops there.
        let over = std::cell::Cell::new(false);
        let mut take = |data: &[u8]| {
            total += data.len() as u64;
            if let Some(max) = keep_body {
                if body.len() as u64 + data.len() as u64 > max {
                    over.set(true);
                } else {
                    body.extend_from_slice(data);
                }
            }
        };
        let too_large = || (ErrorKind::BodyTooLarge, true);
        match framing {
            Framing::None => {}
            Framing::Length(mut left) => loop {
                let avail = ((end - pos) as u64).min(left) as usize;
                take(&rb[pos..pos + avail]);
                if over.get() {
                    return Err(too_large());
                }
                pos += avail;
                left -= avail as u64;
                if left == 0 {
                    break;
                }
                pos = 0;
                end = self.read_more(rb, 0).await?;
            },
            Framing::Close => {
                self.reusable = false;
                loop {
                    take(&rb[pos..end]);
                    if over.get() {
                        return Err(too_large());
                    }
                    match self.io.read(&mut rb[..]).await {
                        Ok(0) => {
                            pos = 0;
                            end = 0;
                            break;
                        }
                        Ok(n) => {
                            pos = 0;
                            end = n;
                        }
                        Err(e) => return Err((crate::client::classify_io(&e), true)),
                    }
                }
            }
            Framing::Chunked => {
                let mut dec = Chunked::default();
                loop {
                    let (used, done) = dec.feed(&rb[pos..end], &mut take).map_err(|_| (ErrorKind::Protocol, true))?;
                    if over.get() {
                        return Err(too_large());
                    }
                    pos += used;
                    if done {
                        break;
                    }
                    pos = 0;
                    end = self.read_more(rb, 0).await?;
                }
            }
        }
        if pos < end {
            // Bytes beyond the response: the server is pipelining or broken.
            self.reusable = false;
        }
        if parts.headers.get(http::header::CONNECTION).is_some_and(|v| has_token(v, "close"))
            || parts.version == Version::HTTP_10
                && !parts.headers.get(http::header::CONNECTION).is_some_and(|v| has_token(v, "keep-alive"))
        {
            self.reusable = false;
        }
        t.receiving = first.elapsed().as_micros() as u64;
        Ok((parts, total))
    }

    /// Reads at least one byte into `rb[at..]`; returns the new end.
    async fn read_more(&mut self, rb: &mut [u8], at: usize) -> Result<usize, (ErrorKind, bool)> {
        match self.io.read(&mut rb[at..]).await {
            Ok(0) => Err((ErrorKind::Reset, true)),
            Ok(n) => Ok(at + n),
            Err(e) => Err((crate::client::classify_io(&e), true)),
        }
    }
}

enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

fn has_token(v: &HeaderValue, token: &str) -> bool {
    v.to_str().is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

fn build_parts(
    resp: &httparse::Response<'_, '_>,
    head_request: bool,
) -> Result<(http::response::Parts, Framing), ErrorKind> {
    let status = StatusCode::from_u16(resp.code.unwrap_or(0)).map_err(|_| ErrorKind::Protocol)?;
    let mut headers = HeaderMap::with_capacity(resp.headers.len());
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for h in resp.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| ErrorKind::Protocol)?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| ErrorKind::Protocol)?;
        if name == http::header::CONTENT_LENGTH {
            let n = std::str::from_utf8(h.value).ok().and_then(|s| s.trim().parse().ok()).ok_or(ErrorKind::Protocol)?;
            if length.is_some_and(|l| l != n) {
                return Err(ErrorKind::Protocol);
            }
            length = Some(n);
        } else if name == http::header::TRANSFER_ENCODING && has_token(&value, "chunked") {
            chunked = true;
        }
        headers.append(name, value);
    }
    let code = status.as_u16();
    let framing = if head_request || code == 204 || code == 304 || (100..200).contains(&code) {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        if n == 0 { Framing::None } else { Framing::Length(n) }
    } else {
        Framing::Close
    };
    let mut builder = http::Response::builder().status(status).version(if resp.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    });
    if let Some(h) = builder.headers_mut() {
        *h = headers;
    }
    let (parts, ()) = builder.body(()).map_err(|_| ErrorKind::Protocol)?.into_parts();
    Ok((parts, framing))
}

fn encode_request(req: &Request<Bytes>, host: &HeaderValue, w: &mut Vec<u8>) {
    w.extend_from_slice(req.method().as_str().as_bytes());
    w.push(b' ');
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    w.extend_from_slice(if pq.is_empty() { b"/" } else { pq.as_bytes() });
    w.extend_from_slice(b" HTTP/1.1\r\n");
    let h = req.headers();
    if !h.contains_key(http::header::HOST) {
        w.extend_from_slice(b"host: ");
        w.extend_from_slice(host.as_bytes());
        w.extend_from_slice(b"\r\n");
    }
    if !h.contains_key(http::header::USER_AGENT) {
        w.extend_from_slice(b"user-agent: ");
        w.extend_from_slice(USER_AGENT.as_bytes());
        w.extend_from_slice(b"\r\n");
    }
    for (name, value) in h {
        if name == http::header::CONTENT_LENGTH {
            continue;
        }
        w.extend_from_slice(name.as_str().as_bytes());
        w.extend_from_slice(b": ");
        w.extend_from_slice(value.as_bytes());
        w.extend_from_slice(b"\r\n");
    }
    let body = req.body();
    let m = req.method();
    if !body.is_empty() || *m == Method::POST || *m == Method::PUT || *m == Method::PATCH {
        let mut n = itoa_buf(body.len());
        w.extend_from_slice(b"content-length: ");
        w.extend_from_slice(n.as_bytes());
        w.extend_from_slice(b"\r\n");
        n.clear();
    }
    w.extend_from_slice(b"\r\n");
    w.extend_from_slice(body);
}

fn itoa_buf(n: usize) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(20);
    let _ = write!(s, "{n}");
    s
}

/// Incremental chunked-transfer decoder, byte-exact across read boundaries.
#[derive(Debug, Default)]
struct Chunked {
    state: ChunkState,
    size: u64,
    digits: u32,
    line_len: u32,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Extension,
    Data,
    DataCr,
    DataLf,
    Trailers,
    Done,
}

impl Chunked {
    /// Consumes bytes; returns (bytes used, finished).
    fn feed(&mut self, mut input: &[u8], take: &mut impl FnMut(&[u8])) -> io::Result<(usize, bool)> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad chunked encoding");
        let start_len = input.len();
        while !input.is_empty() {
            match self.state {
                ChunkState::Size | ChunkState::Extension => {
                    let b = input[0];
                    input = &input[1..];
                    match b {
                        b'\n' => {
                            if self.digits == 0 {
                                return Err(bad());
                            }
                            self.state = if self.size == 0 { ChunkState::Trailers } else { ChunkState::Data };
                            self.line_len = 0;
                        }
                        b'\r' => {}
                        _ if self.state == ChunkState::Extension => {}
                        b';' | b' ' | b'\t' => self.state = ChunkState::Extension,
                        _ => {
                            let d = (b as char).to_digit(16).ok_or_else(bad)? as u64;
                            self.digits += 1;
                            if self.digits > 15 {
                                return Err(bad());
                            }
                            self.size = self.size * 16 + d;
                        }
                    }
                }
                ChunkState::Data => {
                    let n = (input.len() as u64).min(self.size) as usize;
                    take(&input[..n]);
                    input = &input[n..];
                    self.size -= n as u64;
                    if self.size == 0 {
                        self.state = ChunkState::DataCr;
                    }
                }
                ChunkState::DataCr => {
                    let b = input[0];
                    input = &input[1..];
                    self.state = match b {
                        b'\r' => ChunkState::DataLf,
                        b'\n' => {
                            self.digits = 0;
                            ChunkState::Size
                        }
                        _ => return Err(bad()),
                    };
                }
                ChunkState::DataLf => {
                    if input[0] != b'\n' {
                        return Err(bad());
                    }
                    input = &input[1..];
                    self.digits = 0;
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let b = input[0];
                    input = &input[1..];
                    match b {
                        b'\n' if self.line_len == 0 => self.state = ChunkState::Done,
                        b'\n' => self.line_len = 0,
                        b'\r' => {}
                        _ => self.line_len += 1,
                    }
                }
                ChunkState::Done => break,
            }
            if self.state == ChunkState::Done {
                break;
            }
        }
        Ok((start_len - input.len(), self.state == ChunkState::Done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(parts: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut d = Chunked::default();
        let mut out = Vec::new();
        let mut done = false;
        for p in parts {
            let (used, fin) = d.feed(p, &mut |b: &[u8]| out.extend_from_slice(b)).unwrap();
            done = fin;
            if fin {
                assert!(used <= p.len());
                break;
            }
            assert_eq!(used, p.len());
        }
        (out, done)
    }

    #[test]
    fn chunked_decodes_across_any_split() {
        let wire = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for cut in 0..wire.len() {
            let (a, b) = wire.split_at(cut);
            let (out, done) = decode(&[a, b]);
            assert!(done, "cut at {cut}");
            assert_eq!(out, b"hello, world");
        }
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(decode(&bytes).0, b"hello, world");
    }

    #[test]
    fn chunked_rejects_garbage() {
        let mut d = Chunked::default();
        assert!(d.feed(b"zz\r\n", &mut |_: &[u8]| {}).is_err());
    }

    #[test]
    fn requests_are_encoded_in_origin_form() {
        let req = Request::builder()
            .method("POST")
            .uri("http://example.test:8080/a/b?c=d")
            .header("x-token", "t")
            .body(Bytes::from_static(b"{}"))
            .unwrap();
        let mut w = Vec::new();
        encode_request(&req, &HeaderValue::from_static("example.test:8080"), &mut w);
        let s = String::from_utf8(w).unwrap();
        assert!(s.starts_with("POST /a/b?c=d HTTP/1.1\r\nhost: example.test:8080\r\nuser-agent: stampede/"), "{s}");
        assert!(s.contains("x-token: t\r\n"));
        assert!(s.ends_with("content-length: 2\r\n\r\n{}"));
    }
}
