//! The accept loop behind `/metrics`, `/healthz` and `/readyz`, bounded so that clients of the
//! HTTP port can neither starve the engine of file descriptors nor lock out its probes.
//!
//! A scraper that opens connections and never finishes them (1,100 half-open `GET /metrics`
//! did it once) used to hold one descriptor each, forever: the process hit its limit, and the
//! reconnect to IP Office and the rules store failed with "Too many open files". Capping the
//! connections and leaving the rest in the kernel's accept queue fixed that but let the same
//! crowd lock out `/readyz`: probes waited behind it until header timeouts freed slots. So:
//!
//! * at most `max_connections` are open at once (and never more than a quarter of the
//!   process's descriptor limit); every connection is accepted at once, and at the cap the
//!   oldest idle one is closed to make room ([`super::open_connections`]), so a probe, the
//!   newest, is always read;
//! * a request's header must arrive within `header_read_timeout` (hyper's timer), which also
//!   ends a keep-alive connection that sends nothing more;
//! * a connection on which nothing moves either way for `idle_timeout` is closed, which covers
//!   a client that stops reading a response;
//! * an accept that fails for want of descriptors (EMFILE) closes the oldest connection and
//!   pauses briefly rather than spinning on the listener.

use super::open_connections::{OpenConnections, Registered};
use super::HttpLimits;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

/// Pause after an accept error that is not about one connection and that closing one of ours
/// cannot cure, so the loop does not spin while descriptors are short elsewhere.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(250);

/// Pause after closing a connection for want of descriptors: time for its task to release it.
const EVICTED_PAUSE: Duration = Duration::from_millis(10);

/// How long a stop waits for responses in flight. They are instant; a client still sending
/// its header is not worth delaying the engine's exit for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The connection cap in force: the configured one, within a quarter of the descriptor limit
/// so that the link to IP Office, the rules store and the log always have theirs.
pub(super) fn connection_cap(configured: usize) -> usize {
    let cap = match descriptor_limit() {
        Some(limit) => configured.min(limit / 4),
        None => configured,
    };
    cap.max(1)
}

#[cfg(unix)]
fn descriptor_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given, which lives for the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY)
        .then(|| usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX))
}

#[cfg(not(unix))]
fn descriptor_limit() -> Option<usize> {
    None
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open connections finish
/// their current response (at most [`SHUTDOWN_GRACE`]).
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) {
    let cap = connection_cap(limits.max_connections);
    if cap < limits.max_connections {
        tracing::info!(
            configured = limits.max_connections,
            cap,
            "HTTP connections capped at a quarter of the descriptor limit"
        );
    }
    let open = OpenConnections::new();
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut short_of_descriptors = false;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                let freed = is_out_of_descriptors(&e) && open.evict_oldest();
                // Once per shortage, not once per attempt: the listener stays readable.
                if !short_of_descriptors {
                    tracing::warn!(error = %e, open = open.len(),
                        "cannot accept an HTTP connection; closing the oldest ones until it can");
                    short_of_descriptors = true;
                }
                tokio::time::sleep(if freed {
                    EVICTED_PAUSE
                } else {
                    ACCEPT_ERROR_PAUSE
                })
                .await;
                continue;
            }
        };
        if short_of_descriptors {
            tracing::info!("HTTP connections accepted again");
            short_of_descriptors = false;
        }
        if open.len() >= cap {
            open.evict_oldest();
        }
        tokio::spawn(connection(
            tcp,
            app.clone(),
            limits,
            open.register(),
            closing_rx.clone(),
        ));
        // The new connection's task reads its request before the next accept, so a probe
        // arriving within a burst is answered rather than pushed out by the connections after it.
        tokio::task::yield_now().await;
    }
    let _ = closing_tx.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, open.all_closed()).await;
}

/// One connection, until it ends, the accept loop evicts it or the server stops.
async fn connection(
    tcp: TcpStream,
    app: Router,
    limits: HttpLimits,
    registered: Registered,
    mut closing: watch::Receiver<bool>,
) {
    let tower = TowerToHyperService::new(app);
    let slot = registered.slot();
    let service = hyper::service::service_fn(move |request| {
        let busy = slot.busy();
        let answer = hyper::service::Service::call(&tower, request);
        async move {
            let response = answer.await;
            drop(busy);
            response
        }
    });
    let io = TokioIo::new(IdleTimeout::new(tcp, limits.idle_timeout));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let closed = async move {
        // The guard `wait_for` returns must not live across an await (not Send).
        let _ = closing.wait_for(|c| *c).await.map(|_| ());
    };
    tokio::select! {
        _ = conn.as_mut() => {}
        // Dropping the connection closes the socket: its descriptor is free at once.
        () = registered.evicted() => {}
        _ = closed => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Errors that mean the process (or the system) has no descriptor or buffer to spare.
fn is_out_of_descriptors(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(
            e.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Errors that concern the one connection being accepted, not the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A TCP stream that fails with `TimedOut` once neither a read nor a write has made progress
/// for `timeout`.
struct IdleTimeout {
    inner: TcpStream,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl IdleTimeout {
    fn new(inner: TcpStream, timeout: Duration) -> Self {
        IdleTimeout {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    fn moved(&mut self) {
        let next = Instant::now() + self.timeout;
        self.deadline.as_mut().reset(next);
    }

    /// After a `Pending` from the stream: an error if the deadline has passed, else `Pending`
    /// (the deadline's timer will wake the task to look again).
    fn pending_or_expired<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "HTTP connection idle for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for IdleTimeout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.moved();
                Poll::Ready(result)
            }
            Poll::Pending => this.pending_or_expired(cx),
        }
    }
}

impl AsyncWrite for IdleTimeout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                this.moved();
                Poll::Ready(result)
            }
            Poll::Pending => this.pending_or_expired(cx),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => this.pending_or_expired(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, server) = tokio::join!(client, listener.accept());
        (client.unwrap(), server.unwrap().0)
    }

    #[tokio::test]
    async fn a_silent_peer_times_out_after_the_last_bytes() {
        let (mut client, server) = pair().await;
        let mut idle = IdleTimeout::new(server, Duration::from_millis(300));
        let mut buf = [0u8; 8];
        tokio::io::AsyncWriteExt::write_all(&mut client, b"abc")
            .await
            .unwrap();
        assert_eq!(idle.read(&mut buf).await.unwrap(), 3);
        let quiet = Instant::now();
        let err = idle.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(quiet.elapsed() >= Duration::from_millis(250));
        drop(client);
    }
}
