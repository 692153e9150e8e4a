//! Webhooks across processes: a `roster serve` killed with SIGKILL between a change's commit
//! and its delivery delivers it after a restart; two nodes on one PostgreSQL database send
//! each of 1,000 events to each endpoint once, in the history's order, and again only after a
//! try that failed (delivery is at least once; two nodes never both send one message).

use crate::support::TestApp;
use crate::webhooks::Receiver;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

struct Node {
    child: Child,
    port: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A node on `database` whose first retry of a failed message waits `retry_ms`.
async fn start(database: &str, dir: &Path, retry_ms: u32) -> Node {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("ROSTER_DATABASE_URL", database)
        .env(
            "ROSTER_BOOTSTRAP_KEY_FILE",
            dir.join(format!("operator-{port}.key")),
        )
        .env("ROSTER_WEBHOOKS_ALLOW_PRIVATE", "true")
        .env("ROSTER_WEBHOOKS_RETRY_BASE_MS", retry_ms.to_string())
        .env("ROSTER_RATE_LIMIT", "0")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("node-{port}.log"))).expect("a log"))
        .spawn()
        .expect("roster serve");
    let started = Instant::now();
    while !tokio::task::spawn_blocking(move || crate::support::serves(port))
        .await
        .expect("probe")
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the node did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Node { child, port }
}

/// What the nodes started in `dir` warned of, to say why a test failed.
fn warnings(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).expect("dir").filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().starts_with("node-") {
            let log = std::fs::read_to_string(entry.path()).unwrap_or_default();
            for line in log
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The operator key that the first node wrote.
fn operator_key(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("operator-"))
        .map(|e| std::fs::read_to_string(e.path()).expect("key"))
        .expect("an operator key file")
        .trim()
        .to_owned()
}

async fn call(node: &Node, method: &str, path: &str, key: &str, body: Option<Value>) -> Value {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}{path}", node.port);
    let mut request = client
        .request(method.parse().expect("method"), url)
        .header("authorization", format!("Token {key}"));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("an answer");
    let status = response.status();
    let text = response.text().await.expect("a body");
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A team and a webhook to `url` on it; returns (team id, key).
async fn team_with_hooks(node: &Node, dir: &Path, urls: &[&str]) -> (String, String) {
    let key = operator_key(dir);
    let team = call(
        node,
        "POST",
        "/api/organizations/",
        &key,
        Some(json!({"name": "Acme"})),
    )
    .await;
    let org = team["id"].as_str().expect("id").to_owned();
    for url in urls {
        let hooks = format!("/api/organizations/{org}/webhooks/");
        call(
            node,
            "POST",
            &hooks,
            &key,
            Some(json!({ "url": url, "events": ["group.*"] })),
        )
        .await;
    }
    (org, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_before_delivery_delivers_after_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let database = TestApp::fresh_url(&dir).await;
    let (receiver, url) = Receiver::start().await;
    receiver.fail.store(usize::MAX, Ordering::SeqCst);
    // Its retry waits a second or two: killed after its failed try is logged, the node holds
    // no claim (a node killed mid-send holds one until its lease runs out, 30 s).
    let mut node = start(&database, dir.path(), 2000).await;
    let (org, key) = team_with_hooks(&node, dir.path(), &[&url]).await;
    let hooks = format!("/api/organizations/{org}/webhooks/");
    let hook = call(&node, "GET", &hooks, &key, None).await[0]["id"].clone();
    let log = format!("{hooks}{}/deliveries/", hook.as_str().expect("id"));
    let groups = format!("/api/organizations/{org}/groups/");
    call(
        &node,
        "POST",
        &groups,
        &key,
        Some(json!({"name": "Night shift"})),
    )
    .await;
    // Committed, tried, not delivered: then the process dies at once.
    let started = Instant::now();
    while call(&node, "GET", &log, &key, None).await == json!([]) {
        assert!(started.elapsed() < Duration::from_secs(30), "never tried");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.child.kill().expect("SIGKILL");
    node.child.wait().expect("reaped");
    receiver.fail.store(0, Ordering::SeqCst);
    assert!(receiver.taken().is_empty());

    let _restarted = start(&database, dir.path(), 2000).await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0]["type"], json!("group.created"));
    assert_eq!(got[0]["data"]["name"], json!("Night shift"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_send_each_event_once_in_order() {
    let Some(server) = crate::support::postgres_server("two_nodes_send_each_event_once_in_order")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let database = roster_postgres::testing::fresh_database(&server)
        .await
        .expect("a test database");
    let (first, first_url) = Receiver::start().await;
    let (second, second_url) = Receiver::start().await;
    let a = start(&database, dir.path(), 50).await;
    let b = start(&database, dir.path(), 50).await;
    let (org, key) = team_with_hooks(&a, dir.path(), &[&first_url, &second_url]).await;
    const EVENTS: usize = 1000;
    let nodes = [&a, &b];
    let groups = format!("/api/organizations/{org}/groups/");
    let made = (0..EVENTS).map(|i| {
        let (node, groups, key) = (nodes[i % 2], &groups, &key);
        async move {
            let body = json!({ "name": format!("Group {i:04}") });
            call(node, "POST", groups, key, Some(body)).await;
        }
    });
    // Eight at a time, over both nodes.
    let mut made = futures_util::stream::iter(made).buffer_unordered(8);
    while made.next().await.is_some() {}

    let history = call(
        &a,
        "GET",
        &format!("/api/audit/organizations/{org}/?action_type=group.created"),
        &key,
        None,
    )
    .await;
    let mut order: Vec<Value> = history
        .as_array()
        .expect("the history")
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    order.reverse();
    assert_eq!(order.len(), EVENTS);
    let hooks = format!("/api/organizations/{org}/webhooks/");
    let hooks = call(&a, "GET", &hooks, &key, None).await;
    for (receiver, url) in [(&first, &first_url), (&second, &second_url)] {
        receiver.wait_for(EVENTS).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let ids: Vec<Value> = receiver
            .all()
            .iter()
            .map(|r| r.json()["id"].clone())
            .collect();
        // Delivery is at least once: a message whose try failed as the receiver saw it (the
        // answer lost, or late) is sent again. Anything else sent twice is a node sending what
        // another node sent.
        let hook = hooks
            .as_array()
            .and_then(|all| all.iter().find(|h| h["url"] == json!(url)))
            .expect("the endpoint");
        let log = format!(
            "/api/organizations/{org}/webhooks/{}/deliveries/",
            hook["id"].as_str().expect("id")
        );
        let log = call(&a, "GET", &log, &key, None).await;
        let retried: HashSet<String> = log
            .as_array()
            .expect("the delivery log")
            .iter()
            .filter(|d| d["delivered"] == json!(false))
            .map(|d| d["event"]["id"].to_string())
            .collect();
        let mut seen = HashSet::new();
        let mut first_sent = Vec::new();
        for id in &ids {
            if seen.insert(id.to_string()) {
                first_sent.push(id.clone());
            } else {
                assert!(
                    retried.contains(&id.to_string()),
                    "{id} was sent again with no failed try before: {}",
                    warnings(dir.path())
                );
            }
        }
        assert_eq!(first_sent.len(), EVENTS, "every event");
        assert_eq!(first_sent, order, "in the order of the history");
    }
}
