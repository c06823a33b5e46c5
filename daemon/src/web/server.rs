//! The HTTP/1.1 server under the warp routes, with the limits a hostile
//! client must not get around: a cap on concurrent connections (a
//! [`Semaphore`] permit moved into each connection task, as in mini-redis'
//! `Listener`), a header-read timeout that also bounds the idle time
//! between requests on a kept-alive connection, and a write timeout for
//! clients that stop reading. The body-read deadline is applied where the
//! body is read ([`super::filters`]).
//!
//! Client-caused connection errors (a peer that hangs up mid-request, a
//! timeout, garbage) are logged at debug: they are not the daemon's errors.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use warp::{Filter, Reply};

use super::ServerLimits;

/// The client's address, put into each request's extensions for the routes
/// (warp's own `addr::remote` only works under `warp::serve`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Longest wait for open connections to finish after shutdown is signalled.
const DRAIN: Duration = Duration::from_secs(3);

/// Accept and serve until `shutdown` turns true.
pub(super) async fn run<F>(listener: TcpListener, routes: F, limits: ServerLimits, shutdown: watch::Receiver<bool>)
where
    F: Filter<Error = Infallible> + Clone + Send + Sync + 'static,
    F::Extract: Reply,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let stop = async move {
        let mut shutdown = shutdown;
        let _ = shutdown.wait_for(|s| *s).await;
    };
    let mut stop = std::pin::pin!(stop);
    loop {
        // Take a slot before accepting: over the cap, clients wait in the
        // listen backlog instead of holding a descriptor here.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let (stream, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(pair) => pair,
                Err(e) => {
                    accept_error(&e).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(warp::service(routes.clone()));
        let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ClientAddr(remote));
            svc.call(req)
        });
        let io = TokioIo::new(WriteTimeout::new(stream, limits.write_timeout));
        let conn = graceful.watch(builder.serve_connection(io, svc));
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = conn.await {
                connection_error(&e, remote);
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::debug!("web connections still open at shutdown were dropped");
    }
}

fn connection_error(e: &hyper::Error, remote: SocketAddr) {
    use std::error::Error as _;
    let io_kind = e.source().and_then(|s| s.downcast_ref::<io::Error>()).map(io::Error::kind);
    if e.is_incomplete_message()
        || e.is_timeout()
        || e.is_parse()
        || e.is_canceled()
        || e.is_closed()
        || e.is_body_write_aborted()
        || io_kind.is_some()
    {
        tracing::debug!(client = %remote, error = %e, "client connection ended");
    } else {
        tracing::warn!(client = %remote, error = %e, "web connection error");
    }
}

async fn accept_error(e: &io::Error) {
    match e.kind() {
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted => {
            tracing::debug!(error = %e, "accept");
        }
        _ => {
            // Out of descriptors (EMFILE) and the like: wait for some to free.
            tracing::warn!(error = %e, "cannot accept a web connection");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A socket whose writes fail with `TimedOut` once one has made no progress
/// for `limit`: a client that stops reading cannot hold its connection (and
/// its slot) forever.
struct WriteTimeout {
    inner: TcpStream,
    limit: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WriteTimeout {
    fn new(inner: TcpStream, limit: Duration) -> Self {
        WriteTimeout { inner, limit, stalled: None }
    }

    /// Called when the inner write is pending: arms the timer, or fails
    /// once it ran out.
    fn pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let limit = self.limit;
        let sleep = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "client stopped reading"))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progress<T>(&mut self, r: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match r {
            Poll::Ready(v) => {
                self.stalled = None;
                Poll::Ready(v)
            }
            Poll::Pending => self.pending(cx),
        }
    }
}

impl AsyncRead for WriteTimeout {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteTimeout {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progress(r, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progress(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.progress(r, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
