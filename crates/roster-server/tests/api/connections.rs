//! Connections (issue 17, points 4 and 7): clients that open sockets and send nothing whole
//! cannot take every connection, idle keep-alive connections are closed, and the errors hyper
//! answers itself (a malformed request, a URL over 64 KiB) are JSON like every other, large
//! answers arrive whole and a client that stops reading one is let go. On a real socket,
//! through the server's own listener.

use crate::support::TestApp;
use roster_server::listener::Limits;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Everything the server sends until it closes the connection or `wait` passes.
async fn read_all(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let closed = tokio::time::timeout(wait, stream.read_to_end(&mut got))
        .await
        .is_ok();
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

async fn request(address: SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(raw).await.expect("write");
    read_all(&mut stream, Duration::from_secs(5)).await.0
}

async fn health(address: SocketAddr) -> Option<String> {
    let raw = b"GET /api/health/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut stream = TcpStream::connect(address).await.ok()?;
    stream.write_all(raw).await.ok()?;
    let (text, _) = read_all(&mut stream, Duration::from_secs(1)).await;
    (!text.is_empty()).then_some(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_take_every_connection() {
    let app = TestApp::new().await;
    let limits = Limits {
        max_connections: 50,
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(30),
    };
    let address = app.listen(limits).await;
    // Each sends half a request line and waits, as a slowloris client does.
    let mut slow = Vec::new();
    for _ in 0..80 {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream.write_all(b"GET /api/hea").await.expect("write");
        slow.push(stream);
    }
    // Those over the cap hear a 503 at once and are closed.
    let mut refused = 0;
    for stream in &mut slow {
        let (text, closed) = read_all(stream, Duration::from_millis(200)).await;
        if text.starts_with("HTTP/1.1 503") {
            assert!(text.contains("application/json") && closed, "{text}");
            refused += 1;
        }
    }
    assert!(refused >= 30, "{refused} of 80 refused at once");
    // The others are cut off a second after their first byte, and health answers again.
    let begun = Instant::now();
    let answer = loop {
        if let Some(text) = health(address)
            .await
            .filter(|t| t.starts_with("HTTP/1.1 200"))
        {
            break text;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(10),
            "health never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(answer.ends_with(r#"{"status":"ok"}"#), "{answer}");
    for stream in &mut slow {
        let (_, closed) = read_all(stream, Duration::from_secs(3)).await;
        assert!(closed, "every slow client was closed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed_after_their_own_timeout() {
    let app = TestApp::new().await;
    let limits = Limits {
        max_connections: 10,
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(3),
    };
    let address = app.listen(limits).await;
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let raw = b"GET /api/health/ HTTP/1.1\r\nHost: x\r\n\r\n";
    for _ in 0..2 {
        stream.write_all(raw).await.expect("write");
        let mut buf = vec![0; 4096];
        let n = stream.read(&mut buf).await.expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        // Idle longer than the header timeout, shorter than the idle one: still open.
        tokio::time::sleep(Duration::from_millis(1800)).await;
    }
    let begun = Instant::now();
    let (_, closed) = read_all(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "closed once idle");
    assert!(
        begun.elapsed() < Duration::from_secs(3),
        "after the idle timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_errors_hyper_answers_itself_are_json() {
    let app = TestApp::new().await;
    let address = app.listen(Limits::default()).await;
    let long = format!(
        "GET /api/organizations/?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    for (raw, status) in [
        (long.as_bytes(), "414"),
        (&b"NOT HTTP AT ALL\r\n\r\n"[..], "400"),
    ] {
        let text = request(address, raw).await;
        assert!(text.starts_with(&format!("HTTP/1.1 {status}")), "{text}");
        assert!(text.contains("content-type: application/json"), "{text}");
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(body).expect(body);
        assert!(json["detail"].is_string(), "{body}");
    }
    // The app's own errors keep their bodies.
    let text = request(
        address,
        b"GET /api/nowhere/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    assert!(text.ends_with(r#"{"detail":"Not found."}"#), "{text}");
    let text = request(
        address,
        b"GET /scim/v2/Users/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        text.starts_with("HTTP/1.1 401") && text.contains("\"status\":\"401\""),
        "{text}"
    );
    assert!(health(address).await.unwrap().starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_ends_its_request() {
    let app = TestApp::new().await;
    let limits = Limits {
        max_connections: 10,
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(30),
    };
    let address = app.listen(limits).await;
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let head = "POST /api/invitations/accept/ HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"accept";
    stream.write_all(head.as_bytes()).await.expect("write");
    let begun = Instant::now();
    let (text, closed) = read_all(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "the server let go");
    assert!(
        begun.elapsed() < Duration::from_secs(4),
        "{:?}",
        begun.elapsed()
    );
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 4"), "{text}");
}

/// A large answer goes out whole (head and body in vectored writes), and a client that stops
/// reading one is let go once it has taken nothing for the idle timeout, its slot freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answers_arrive_whole_and_a_client_that_stops_reading_is_let_go() {
    let app = TestApp::new().await;
    let (org, key) = app.team("Big").await;
    app.verify(org, "big.example").await;
    let path = format!("/api/organizations/{org}/campaigns/");
    let campaign = app.created(&path, &key, json!({"name": "Big"})).await;
    // 15 MB of members: more than the kernel holds for a client that does not read.
    let members: Vec<_> = (0..250)
        .map(|i| json!({"email": format!("p{i}@big.example"), "data": {"notes": "x".repeat(60_000)}}))
        .collect();
    let members_path = format!("{path}{campaign}/members/");
    let put = app
        .put(&members_path)
        .key(&key)
        .json(&json!(members))
        .send()
        .await;
    assert_eq!(put.status, 200, "{}", put.detail());
    let limits = Limits {
        max_connections: 1,
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
    };
    let address = app.listen(limits).await;
    let raw =
        format!("GET {members_path} HTTP/1.0\r\nHost: x\r\nAuthorization: Token {key}\r\n\r\n");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(raw.as_bytes()).await.expect("write");
    // HTTP/1.0, so the answer is never chunked: its body is the list as sent.
    let (whole, closed) = read_all(&mut stream, Duration::from_secs(30)).await;
    assert!(
        closed && whole.get(9..12) == Some("200"),
        "{}",
        &whole[..200.min(whole.len())]
    );
    let body = whole.split_once("\r\n\r\n").expect("a head").1;
    let list: Vec<serde_json::Value> = serde_json::from_str(body).expect("the list, whole");
    assert_eq!(list.len(), 250);

    // The same request from a socket with a small receive buffer, not read from.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("buffer size");
    let mut stream = socket.connect(address).await.expect("connect");
    stream.write_all(raw.as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let (text, closed) = read_all(&mut stream, Duration::from_secs(10)).await;
    assert!(closed, "the server let go of the connection");
    assert_eq!(text.get(9..12), Some("200"), "the answer had begun");
    assert!(
        text.len() < whole.len() / 2,
        "the answer was cut short: {}",
        text.len()
    );
    // The slot is freed just after the close the client saw: health answers again shortly.
    let begun = Instant::now();
    while !health(address)
        .await
        .is_some_and(|h| h.starts_with("HTTP/1.1 200"))
    {
        assert!(
            begun.elapsed() < Duration::from_secs(5),
            "the slot stayed taken"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
