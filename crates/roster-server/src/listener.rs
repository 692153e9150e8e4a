//! How connections are accepted and kept. `axum::serve` sets no limits, so one client that
//! opened thousands of sockets and sent half a request line on each used every descriptor the
//! process had, and the server answered no one until it let go. Here:
//! - at most `max_connections` are open at once; one more is answered at once with a 503 and
//!   closed, so the descriptors left stay free and a client learns quickly to go elsewhere;
//! - a request's headers must arrive within `header_read_timeout` of its first byte;
//! - a keep-alive connection with no request in flight is closed after `idle_timeout`;
//! - a request body must keep arriving (at most `header_read_timeout` between its bytes), and
//!   a response must keep leaving (at most `idle_timeout` without a byte taken), so that a
//!   client cannot hold a connection forever by trickling or by not reading;
//! - the errors hyper answers by itself, before any handler runs (a malformed request, a URL
//!   over 64 KiB, headers too large), leave with a JSON body like every other error: hyper
//!   sends them empty and has no hook for their body, so the bytes it writes for them are
//!   replaced on their way out.
//!
//! hyper's own header-read timer cannot serve here: it starts when the connection waits for
//! the next request, so it is an idle timeout too, and a slow first byte and an idle keep-alive
//! deserve different patience (nginx's `client_header_timeout` and `keepalive_timeout`).

use crate::app::App;
use axum::body::Body;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// The limits of the connections one node keeps (each a `serve` setting).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// How long a refused connection may take to hear its 503, and in-flight requests to finish
/// once the server is asked to stop.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets the
/// requests in flight finish (up to a minute) and returns.
pub async fn serve(
    listener: TcpListener,
    app: App,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    // HTTP/1 only: over HTTP/2 a client that never opens its flow-control window holds a
    // response in flight with no socket write pending, out of reach of every timeout here.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    // This module keeps time for headers and idle connections itself (see above).
    builder.http1().header_read_timeout(None);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or memory for a moment: wait, rather than spin on it.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::new(State::new());
        let service = Connection {
            app: app.clone(),
            state: state.clone(),
            body_timeout: limits.header_read_timeout,
        };
        let io = TokioIo::new(Guarded::new(stream, state, limits));
        let connection = graceful.watch(builder.serve_connection(io, service).into_owned());
        tokio::spawn(async move {
            // A connection that ends in an error (a reset, a timeout) has nothing to tell.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after a minute were cut off");
    }
}

/// The answer to a connection over the cap.
async fn refuse(mut stream: TcpStream) {
    let body = r#"{"detail":"The server has too many open connections: try again shortly."}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await?;
        // What the client sent is read and dropped before the socket closes: closing over
        // unread bytes would reset the connection, and the client might lose the answer.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), io::Error>(())
    })
    .await;
}

/// Where a connection is between requests, for its timeouts.
enum Phase {
    /// No request in flight since this moment: the idle timeout runs.
    Idle(Instant),
    /// The first byte of the next request came at this moment: the header timeout runs.
    Head(Instant),
    /// Requests in flight: a handler is working, or a body is on its way.
    Busy,
}

/// What a connection's service (which sees requests) and its socket (which sees bytes) share.
struct State {
    in_flight: AtomicUsize,
    phase: Mutex<Phase>,
}

impl State {
    fn new() -> Self {
        State {
            in_flight: AtomicUsize::new(0),
            phase: Mutex::new(Phase::Idle(Instant::now())),
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        // Each update replaces the value whole, so one seen after a panic is still whole.
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        *self.phase() = Phase::Busy;
    }

    fn end(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            *self.phase() = Phase::Idle(Instant::now());
        }
    }

    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }
}

/// A request in flight, from the moment its head is read until its response's body has gone
/// (or the request was abandoned).
struct InFlight(Arc<State>);

impl InFlight {
    fn begin(state: Arc<State>) -> Self {
        state.begin();
        InFlight(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// The app as one connection's hyper service.
#[derive(Clone)]
struct Connection {
    app: App,
    state: Arc<State>,
    /// The longest wait for the next bytes of a request body.
    body_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for Connection {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::begin(self.state.clone());
        let app = self.app.clone();
        let timeout = self.body_timeout;
        Box::pin(async move {
            let request = request.map(|body| Body::new(Arriving::new(body, timeout)));
            let response = app.oneshot(request).await?;
            Ok(response.map(|body| Tracked { body, in_flight }))
        })
    }
}

/// A request body that must keep arriving: a wait of more than `timeout` for its next bytes
/// ends it with an error (the handler answers 400, and the connection closes).
struct Arriving {
    body: Incoming,
    timeout: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Arriving {
    fn new(body: Incoming, timeout: Duration) -> Self {
        Arriving {
            body,
            timeout,
            timer: None,
        }
    }
}

impl hyper::body::Body for Arriving {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                self.timer = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err("the request body stopped arriving".into())))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A response body that keeps its request counted as in flight until it is dropped.
struct Tracked {
    body: Body,
    #[allow(dead_code)] // held for its Drop
    in_flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's socket with its timeouts, and the rewriting of hyper's own error answers.
struct Guarded {
    stream: TcpStream,
    state: Arc<State>,
    limits: Limits,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// Since when a write has waited for the client to take bytes.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
    /// hyper's own error answer, replaced by ours: our bytes and how many have gone.
    replacing: Option<(Vec<u8>, usize)>,
}

/// How often a connection with requests in flight looks at its phase again.
const BUSY_RECHECK: Duration = Duration::from_secs(1);

impl Guarded {
    fn new(stream: TcpStream, state: Arc<State>, limits: Limits) -> Self {
        Guarded {
            stream,
            state,
            limits,
            timer: Box::pin(tokio::time::sleep(limits.idle_timeout)),
            stalled: None,
            replacing: None,
        }
    }

    /// Nothing to read now: whether the connection has waited longer than it may. The timer
    /// is moved only when the deadline comes sooner than it is set for, or when it fires: a
    /// reset takes a lock of the runtime's timer, and moving it on every read would take it
    /// twice for every request of every connection.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            let (deadline, limit) = match *self.state.phase() {
                Phase::Idle(since) => (since + self.limits.idle_timeout, true),
                Phase::Head(since) => (since + self.limits.header_read_timeout, true),
                Phase::Busy => (Instant::now() + BUSY_RECHECK, false),
            };
            let deadline = tokio::time::Instant::from_std(deadline);
            if deadline < self.timer.deadline() {
                self.timer.as_mut().reset(deadline);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            if limit && tokio::time::Instant::now() >= deadline {
                return true;
            }
            // It fired for a sooner phase, or early: set it for this one and look again.
            self.timer.as_mut().reset(deadline);
        }
    }
}

impl Guarded {
    /// A write the client has not taken for longer than the idle timeout fails: a client that
    /// stops reading must not hold its connection (and the response's memory) forever.
    fn unless_stalled(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if written.is_ready() {
            self.stalled = None;
            return written;
        }
        let idle = self.limits.idle_timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let mut phase = self.state.phase();
                    if matches!(*phase, Phase::Idle(_)) {
                        *phase = Phase::Head(Instant::now());
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.expired(cx) => {
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.replacing.is_none() && self.state.idle() {
            self.replacing = own_error(buf).map(|bytes| (bytes, 0));
        }
        let this = &mut *self;
        if this.replacing.is_none() {
            let written = Pin::new(&mut this.stream).poll_write(cx, buf);
            return this.unless_stalled(cx, written);
        }
        // Ours goes out under the same stall guard: hyper has stopped reading by now, so a
        // client that takes nothing would otherwise hold the connection for good.
        while let Some((bytes, sent)) = this.replacing.as_ref().filter(|(b, s)| *s < b.len()) {
            let written = Pin::new(&mut this.stream).poll_write(cx, &bytes[*sent..]);
            let n = ready!(this.unless_stalled(cx, written))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            if let Some((_, sent)) = &mut this.replacing {
                *sent += n;
            }
        }
        // hyper closes the connection after its error; anything more it wrote goes with it.
        Poll::Ready(Ok(buf.len()))
    }

    /// Head and body go out in one `writev`, as hyper does on a bare socket: without this,
    /// hyper copied every body into its own buffer first (a 51 KB page: a sixth of a cached
    /// page's CPU, with the allocation).
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // A head written with no request in flight (a short body may be gone already) is
        // looked at as `poll_write` does; hyper's own error answer is replaced there.
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        if self.replacing.is_none() && self.state.idle() {
            self.replacing = own_error(first).map(|bytes| (bytes, 0));
        }
        if self.replacing.is_some() {
            return self.poll_write(cx, first);
        }
        let this = &mut *self;
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.unless_stalled(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The bytes to send instead when `buf` is an error answer that hyper wrote by itself: a
/// whole 4xx or 5xx head with no content type, written while no request is in flight. Every
/// error the app answers is JSON with its content type, and a body cannot look like a head: the
/// JSON it carries escapes the line breaks a head is made of.
fn own_error(buf: &[u8]) -> Option<Vec<u8>> {
    let status = buf.strip_prefix(b"HTTP/1.")?.get(2..5)?;
    if !matches!(status.first(), Some(b'4' | b'5')) {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    if head
        .split("\r\n")
        .any(|line| line.starts_with("content-type:"))
    {
        return None;
    }
    let code: u16 = std::str::from_utf8(status).ok()?.parse().ok()?;
    let detail = match code {
        408 => "The request took too long to arrive.",
        414 => "The URL is too long.",
        431 => "The request's headers are too large.",
        505 => "This HTTP version is not supported.",
        _ => "The request is malformed.",
    };
    let status = axum::http::StatusCode::from_u16(code).ok()?;
    let body = serde_json::json!({ "detail": detail }).to_string();
    Some(
        format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Error"),
            body.len()
        )
        .into_bytes(),
    )
}

/// The process's limit on open files, where the system tells it (Linux).
pub fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::own_error;

    #[test]
    fn only_hyper_s_error_answers_are_rewritten() {
        let rewritten = own_error(b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n");
        let text = String::from_utf8(rewritten.expect("rewritten")).expect("utf-8");
        assert!(text.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{text}");
        assert!(
            text.ends_with(r#"{"detail":"The URL is too long."}"#),
            "{text}"
        );
        assert!(own_error(b"HTTP/1.1 200 OK\r\n\r\n").is_none());
        let app_error = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n\
                          content-length: 22\r\n\r\n{\"detail\":\"Not found.\"}";
        assert!(
            own_error(app_error).is_none(),
            "the app's own errors are left alone"
        );
        assert!(
            own_error(b"HTTP/1.1 400 Bad Request\r\ncontent-le").is_none(),
            "not whole"
        );
        assert!(own_error(b"HTTP/1.1 100 Continue\r\n\r\n").is_none());
        assert!(
            own_error(b"\x00\x00\x12\x04\x00\x00\x00\x00\x00").is_none(),
            "h2 frames"
        );
    }
}
