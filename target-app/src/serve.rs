//! The shop's HTTP servers: an accept loop and one task per connection, in
//! place of `axum::serve`, for memory per idle keep-alive connection — the
//! number that decides how many shoppers one edge process holds.
//!
//! `axum::serve` drives every connection through hyper-util's automatic
//! HTTP/1-or-2 connection, whose future is sized for HTTP/2 too: measured
//! with heaptrack at 5,000 idle connections, 8.5 KB of future and 2.2 KB of
//! task per connection besides hyper's read buffer (~20 KB per connection
//! in all). Here the protocol is told from the first bytes (HTTP/2 with
//! prior knowledge starts with its preface) and each connection runs only
//! its own protocol's state.
//!
//! Shutdown: stop accepting, ask every connection to finish (in-flight
//! requests complete, idle keep-alive connections close), wait for them.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long a new connection may stay silent before its protocol is decided
/// (it is then served as HTTP/1, whose own reading takes over).
const PREFACE_WAIT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` resolves, then lets the
/// connections finish. `peer`: requests carry the client's address as
/// axum's `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    peer: bool,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (close_tx, close_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut shutdown => break,
        };
        let (tcp, addr) = match accepted {
            Ok(x) => x,
            // The listener stays up whatever accept says (as under
            // `axum::serve`): a reset connection or no free descriptor
            // passes, anything else is waited out.
            Err(e) => {
                let pause = if is_transient(&e) { 10 } else { 1000 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(connection(tcp, addr, router.clone(), peer, close_rx.clone()));
    }
    drop(close_rx);
    let _ = close_tx.send(true);
    // Every connection task holds a receiver: this returns when the last ends.
    close_tx.closed().await;
    Ok(())
}

/// Accept errors that leave the listener usable: a connection reset before
/// it was accepted, or no descriptor free (ENFILE, EMFILE) until some close.
fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted, WouldBlock};
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted | WouldBlock)
        || matches!(e.raw_os_error(), Some(23 | 24))
}

async fn connection(tcp: TcpStream, addr: SocketAddr, router: Router, peer: bool, mut close: watch::Receiver<bool>) {
    let svc = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        if peer {
            req.extensions_mut().insert(ConnectInfo(addr));
        }
        let mut router = router.clone();
        async move {
            Ok::<_, Infallible>(tower_service::Service::call(&mut router, req).await.unwrap_or_else(|e| match e {}))
        }
    });
    // Runs a connection until it ends, or until shutdown asks it to finish
    // (hyper's two connection types share no trait for it).
    macro_rules! drive {
        ($conn:expr) => {{
            let conn = $conn;
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = close.wait_for(|c| *c) => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }};
    }
    let h2 = is_h2(&tcp).await;
    let io = TokioIo::new(tcp);
    if h2 {
        drive!(hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(io, svc))
    } else {
        drive!(hyper::server::conn::http1::Builder::new().serve_connection(io, svc))
    }
}

/// Whether the client opened with HTTP/2's connection preface (prior
/// knowledge, as `http_version = "http2"` on plain HTTP sends it).
async fn is_h2(tcp: &TcpStream) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut head = [0u8; PREFACE.len()];
    let deadline = tokio::time::Instant::now() + PREFACE_WAIT;
    loop {
        let n = match tokio::time::timeout_at(deadline, tcp.peek(&mut head)).await {
            Ok(Ok(n)) => n,
            _ => return false,
        };
        // A prefix of the preface may be all that has arrived yet.
        if n == 0 || head[..n] != PREFACE[..n] {
            return false;
        }
        if n == PREFACE.len() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
