//! A socket wrapper that timestamps the first response byte and the last
//! request byte and counts wire bytes, so requests get k6's phases
//! (`sending`, `waiting`, `receiving`) and `data_sent`/`data_received`
//! without hooks inside hyper.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Shared between a connection's socket (inside hyper's connection task) and
/// the VU that sends on it. Both live on the same worker thread, hence `Rc`
/// and `Cell` rather than atomics.
#[derive(Debug)]
pub struct IoStats {
    pub bytes_written: Cell<u64>,
    pub bytes_read: Cell<u64>,
    pub last_write: Cell<Option<Instant>>,
    /// Set on the first successful read after `arm()`.
    pub first_read: Cell<Option<Instant>>,
}

impl IoStats {
    pub fn new() -> Rc<IoStats> {
        Rc::new(IoStats {
            bytes_written: Cell::new(0),
            bytes_read: Cell::new(0),
            last_write: Cell::new(None),
            first_read: Cell::new(None),
        })
    }

    /// Prepares for a new request: forget the previous request's timestamps.
    pub fn arm(&self) {
        self.last_write.set(None);
        self.first_read.set(None);
    }
}

#[derive(Debug)]
pub struct TimedIo<S> {
    inner: S,
    stats: Rc<IoStats>,
}

impl<S> TimedIo<S> {
    pub fn new(inner: S, stats: Rc<IoStats>) -> Self {
        TimedIo { inner, stats }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TimedIo<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            let n = (buf.filled().len() - before) as u64;
            if n > 0 {
                let s = &self.stats;
                s.bytes_read.set(s.bytes_read.get() + n);
                if s.first_read.get().is_none() {
                    s.first_read.set(Some(Instant::now()));
                }
            }
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedIo<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            self.note_write(n);
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = res {
            self.note_write(n);
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S> TimedIo<S> {
    #[inline]
    fn note_write(&self, n: usize) {
        if n > 0 {
            let s = &self.stats;
            s.bytes_written.set(s.bytes_written.get() + n as u64);
            s.last_write.set(Some(Instant::now()));
        }
    }
}
