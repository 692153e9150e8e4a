//! Webhooks end to end: a real HTTP receiver on loopback takes what the delivery worker sends.
//! Signatures are checked by this file's own reading of the Standard Webhooks scheme, not by
//! the server's code. The process-level cases (a node killed between commit and delivery, two
//! nodes on one PostgreSQL) are in `webhook_nodes.rs`.

use crate::support::TestApp;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use roster_server::webhooks::Settings;
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver took.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Whether it was answered 200.
    pub taken: bool,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A webhook receiver on 127.0.0.1 that records every request and answers 500 to the first
/// `fail` of them, 200 after, each after `delay_ms`.
#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Received>>>,
    pub fail: Arc<AtomicUsize>,
    /// Milliseconds it takes over each answer.
    pub delay_ms: Arc<std::sync::atomic::AtomicU64>,
}

async fn take(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let delay = r.delay_ms.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let failing = r
        .fail
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    r.got.lock().expect("lock").push(Received {
        headers,
        body: body.to_vec(),
        taken: !failing,
    });
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

impl Receiver {
    /// Starts one; returns it and its URL.
    pub async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(take))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (receiver, format!("http://127.0.0.1:{port}/hook"))
    }

    pub fn all(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    /// The bodies of the messages taken (answered 200), in the order they arrived.
    pub fn taken(&self) -> Vec<Value> {
        self.all()
            .iter()
            .filter(|r| r.taken)
            .map(Received::json)
            .collect()
    }

    /// Waits until `n` messages were taken.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let taken = self.taken();
            if taken.len() >= n {
                return taken;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{} of {n} messages arrived: {taken:?}",
                taken.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Checks a message's signature as the Standard Webhooks specification says: HMAC-SHA256
/// under the base64 secret after `whsec_`, of `{webhook-id}.{webhook-timestamp}.{body}`, in
/// base64 after `v1,`, one of the space-separated signatures; a timestamp within 5 minutes.
pub fn verify(secret: &str, received: &Received) -> bool {
    let header = |name: &str| {
        received
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
    let Ok(seconds) = timestamp.parse::<i64>() else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    if (now - seconds).abs() > 300 {
        return false;
    }
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&received.body);
    let expected = BASE64.encode(mac.finalize().into_bytes());
    header("webhook-signature")
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected)
}

/// Settings for tests: loopback receivers allowed, retries after 20 ms.
pub fn settings() -> Settings {
    Settings {
        allow_private: true,
        retry_base: Duration::from_millis(20),
        retry_for: Duration::from_secs(3600),
    }
}

async fn register(app: &TestApp, org: uuid::Uuid, key: &str, url: &str, events: Value) -> Value {
    let res = app
        .post(&format!("/api/organizations/{org}/webhooks/"))
        .key(key)
        .json(&json!({ "url": url, "events": events, "description": "warehouse" }))
        .send()
        .await;
    assert_eq!(
        res.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&res.bytes)
    );
    res.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_arrive_signed_in_commit_order() {
    let app = TestApp::with_webhooks(settings()).await;
    let (org, admin) = app.team("Acme").await;
    app.verify(org, "acme.test").await;
    let (receiver, url) = Receiver::start().await;
    let hook = register(&app, org, &admin, &url, json!(["*"])).await;
    let secret = hook["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    let hook_id = hook["id"].as_str().expect("id").to_owned();
    let shown = app
        .get(&format!("/api/organizations/{org}/webhooks/{hook_id}/"))
        .key(&admin)
        .send()
        .await
        .json();
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown once: {shown}"
    );

    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "Agents"}),
        )
        .await;
    let members = format!("/api/groups/{group}/memberships/");
    app.post(&members)
        .key(&admin)
        .json(&json!(["ann@acme.test", "bob@acme.test"]))
        .send()
        .await
        .made();
    app.put(&members)
        .key(&admin)
        .json(&json!(["bob@acme.test", "cy@acme.test"]))
        .send()
        .await
        .made();
    app.patch(&format!("/api/groups/{group}/"))
        .key(&admin)
        .json(&json!({"name": "Senior agents"}))
        .send()
        .await
        .made();

    let got = receiver.wait_for(5).await;
    let types: Vec<&str> = got
        .iter()
        .map(|m| m["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        types,
        [
            "group.created",
            "group_membership.added",
            "group_membership.added",
            "group_membership.removed",
            "group.updated"
        ]
    );
    assert_eq!(
        got[1]["data"]["people"],
        json!([{"email": "ann@acme.test"}, {"email": "bob@acme.test"}])
    );
    assert_eq!(got[2]["data"]["people"], json!([{"email": "cy@acme.test"}]));
    assert_eq!(
        got[3]["data"]["people"],
        json!([{"email": "ann@acme.test"}])
    );
    for m in &got {
        assert_eq!(m["organization"]["id"], json!(org.to_string()));
        assert_eq!(m["organization"]["name"], json!("Acme"));
        assert_eq!(m["actor"]["email"], json!("admin@acme.example.com"));
        assert_eq!(m["object"]["content_type"], json!("group"));
        assert!(m["timestamp"].is_string() && m["id"].is_string());
    }
    let ids: std::collections::HashSet<&str> =
        got.iter().map(|m| m["id"].as_str().unwrap_or("")).collect();
    assert_eq!(ids.len(), 5, "each message has its own id");
    for received in receiver.all() {
        assert!(
            verify(&secret, &received),
            "a bad signature: {:?}",
            received.headers
        );
        assert_eq!(
            received.headers["webhook-id"].to_str().expect("id"),
            received.json()["id"].as_str().expect("id")
        );
    }
    // A one-message event has the id that the change history shows.
    let history = app
        .get(&format!(
            "/api/audit/organizations/{org}/?action_type=group.created"
        ))
        .key(&admin)
        .send()
        .await
        .json();
    assert_eq!(history[0]["id"], got[0]["id"]);
    // A secret made up by someone else does not verify.
    assert!(!verify(
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        &receiver.all()[0]
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_is_retried_and_order_is_kept() {
    let app = TestApp::with_webhooks(settings()).await;
    let (org, admin) = app.team("Acme").await;
    app.verify(org, "acme.test").await;
    let (receiver, url) = Receiver::start().await;
    receiver.fail.store(3, Ordering::SeqCst);
    let hook = register(&app, org, &admin, &url, json!(["group.*"])).await;
    let id = hook["id"].as_str().expect("id");
    for name in ["First", "Second", "Third"] {
        app.post(&format!("/api/organizations/{org}/groups/"))
            .key(&admin)
            .json(&json!({ "name": name }))
            .send()
            .await
            .made();
    }
    let got = receiver.wait_for(3).await;
    let names: Vec<&Value> = got.iter().map(|m| &m["data"]["name"]).collect();
    assert_eq!(names, [&json!("First"), &json!("Second"), &json!("Third")]);
    let all = receiver.all();
    assert_eq!(all.len(), 6, "three failures, then three deliveries");
    let first = all[0].json()["id"].clone();
    for r in &all[..4] {
        assert_eq!(
            r.json()["id"],
            first,
            "the first message is retried before any other"
        );
    }
    // Each try is logged just after its answer: wait for the sixth row.
    let started = Instant::now();
    let log = loop {
        let log = app
            .get(&format!(
                "/api/organizations/{org}/webhooks/{id}/deliveries/"
            ))
            .key(&admin)
            .send()
            .await
            .json();
        if log.as_array().map_or(0, Vec::len) >= 6 {
            break log;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not logged: {log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let attempts: Vec<(u64, u64, bool)> = log
        .as_array()
        .expect("list")
        .iter()
        .rev()
        .map(|d| {
            (
                d["attempt"].as_u64().unwrap_or(0),
                d["status_code"].as_u64().unwrap_or(0),
                d["delivered"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (1, 500, false),
            (2, 500, false),
            (3, 500, false),
            (4, 200, true),
            (1, 200, true),
            (1, 200, true)
        ]
    );
    assert_eq!(log[5]["error"], json!("the receiver answered 500"));
    assert_eq!(log[5]["event"]["type"], json!("group.created"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolled_back_and_unwanted_changes_send_nothing() {
    let app = TestApp::with_webhooks(settings()).await;
    let (org, admin) = app.team("Acme").await;
    app.verify(org, "acme.test").await;
    let (receiver, url) = Receiver::start().await;
    register(&app, org, &admin, &url, json!(["group_membership.*"])).await;
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "Agents"}),
        )
        .await;
    let members = format!("/api/groups/{group}/memberships/");
    // A dry run makes the change and rolls it back, event and all.
    app.put(&format!("{members}?dry_run=true"))
        .key(&admin)
        .json(&json!(["ghost@acme.test"]))
        .send()
        .await
        .made();
    // A refused change makes nothing.
    let refused = app
        .put(&members)
        .key(&admin)
        .json(&json!(["not an email"]))
        .send()
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    app.post(&members)
        .key(&admin)
        .json(&json!(["real@acme.test"]))
        .send()
        .await
        .made();
    let got = receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_later = receiver.taken();
    assert_eq!(
        got_later.len(),
        1,
        "only the committed change, and no group event: {got_later:?}"
    );
    assert_eq!(got[0]["type"], json!("group_membership.added"));
    assert_eq!(
        got[0]["data"]["people"],
        json!([{"email": "real@acme.test"}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_replace_is_sent_in_batches_of_a_thousand() {
    let app = TestApp::with_webhooks(settings()).await;
    let (org, admin) = app.team("Acme").await;
    app.verify(org, "acme.test").await;
    let (receiver, url) = Receiver::start().await;
    register(
        &app,
        org,
        &admin,
        &url,
        json!(["group_membership.added", "group_membership.removed"]),
    )
    .await;
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "Agents"}),
        )
        .await;
    let members = format!("/api/groups/{group}/memberships/");
    let first: Vec<String> = (0..1500).map(|i| format!("p{i:05}@acme.test")).collect();
    app.put(&members)
        .key(&admin)
        .json(&json!(first))
        .send()
        .await
        .made();
    let second: Vec<String> = (500..3000).map(|i| format!("p{i:05}@acme.test")).collect();
    app.put(&members)
        .key(&admin)
        .json(&json!(second))
        .send()
        .await
        .made();
    let got = receiver.wait_for(5).await;
    let shape: Vec<(&str, usize)> = got
        .iter()
        .map(|m| {
            (
                m["type"].as_str().unwrap_or(""),
                m["data"]["people"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("group_membership.added", 1000),
            ("group_membership.added", 500),
            ("group_membership.added", 1000),
            ("group_membership.added", 500),
            ("group_membership.removed", 500)
        ]
    );
    assert_eq!(got[1]["event"]["part"], json!(1));
    assert_eq!(got[1]["event"]["parts"], json!(2));
    assert_eq!(got[0]["event"]["id"], got[1]["event"]["id"]);
    assert_ne!(got[0]["id"], got[1]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_redeliver_and_a_failing_endpoint_resumed() {
    let mut quick = settings();
    quick.retry_for = Duration::from_millis(300);
    let app = TestApp::with_webhooks(quick).await;
    let (org, admin) = app.team("Acme").await;
    app.verify(org, "acme.test").await;
    let (receiver, url) = Receiver::start().await;
    receiver.fail.store(usize::MAX, Ordering::SeqCst);
    let hook = register(&app, org, &admin, &url, json!(["*"])).await;
    let base = format!(
        "/api/organizations/{org}/webhooks/{}",
        hook["id"].as_str().expect("id")
    );
    app.post(&format!("/api/organizations/{org}/groups/"))
        .key(&admin)
        .json(&json!({"name": "Agents"}))
        .send()
        .await
        .made();
    // Every try fails for the whole retry window: the endpoint is marked failing.
    let started = Instant::now();
    loop {
        let shown = app.get(&format!("{base}/")).key(&admin).send().await.json();
        if shown["failing_since"].is_string() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never marked failing: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tries = receiver.all().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.all().len(),
        tries,
        "nothing is sent to a failing endpoint"
    );

    // The receiver is mended; a ping says so and resumes the endpoint.
    receiver.fail.store(0, Ordering::SeqCst);
    let ping = app.post(&format!("{base}/ping/")).key(&admin).send().await;
    assert_eq!(ping.status, StatusCode::OK);
    let ping = ping.json();
    assert_eq!(ping["delivered"], json!(true));
    assert_eq!(ping["event"]["type"], json!("webhook.ping"));
    assert_eq!(ping["manual"], json!(true));
    let got = receiver.wait_for(2).await;
    assert_eq!(got[0]["type"], json!("webhook.ping"));
    assert_eq!(got[1]["type"], json!("group.created"));
    let shown = app.get(&format!("{base}/")).key(&admin).send().await.json();
    assert_eq!(shown["failing_since"], Value::Null);

    // A redelivery sends the same message (same id) again, and logs it. The worker logs a
    // delivery just after its receiver answered: wait for the row.
    let started = Instant::now();
    let delivered = loop {
        let log = app
            .get(&format!("{base}/deliveries/"))
            .key(&admin)
            .send()
            .await
            .json();
        let found = log.as_array().expect("list").iter().find(|d| {
            d["event"]["type"] == json!("group.created") && d["delivered"] == json!(true)
        });
        if let Some(found) = found {
            break found.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never logged: {log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let again = app
        .post(&format!("{base}/deliveries/{}/redeliver/", delivered["id"]))
        .key(&admin)
        .send()
        .await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&again.bytes)
    );
    let again = again.json();
    assert_eq!(again["event"]["id"], delivered["event"]["id"]);
    assert_ne!(again["id"], delivered["id"]);
    let got = receiver.wait_for(3).await;
    assert_eq!(got[2]["id"], got[1]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_and_bad_settings_are_refused_without_connecting() {
    let app = TestApp::with_webhooks(Settings::default()).await;
    let (org, admin) = app.team("Acme").await;
    app.verify(org, "acme.test").await;
    let (receiver, url) = Receiver::start().await;
    let hooks = format!("/api/organizations/{org}/webhooks/");
    for bad in [
        url.as_str(),
        "https://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",
        "https://user:pw@example.com/hook",
        "ftp://example.com/",
        "not a url",
    ] {
        let res = app
            .post(&hooks)
            .key(&admin)
            .json(&json!({ "url": bad }))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(res.json()["url"][0].is_string(), "{bad}: {}", res.json());
    }
    // A name's addresses are refused without being told: no map of the network for admins.
    let named = app
        .post(&hooks)
        .key(&admin)
        .json(&json!({ "url": "https://localhost/hook" }))
        .send()
        .await
        .json();
    let said = named["url"][0].as_str().expect("a reason");
    let unknown = app
        .post(&hooks)
        .key(&admin)
        .json(&json!({ "url": "https://no-such-host.invalid/hook" }))
        .send()
        .await
        .json();
    assert_eq!(
        unknown["url"][0]
            .as_str()
            .map(|m| m.replace("no-such-host.invalid", "localhost")),
        Some(said.to_owned()),
        "a name that does not resolve is refused as one that resolves privately"
    );
    assert!(
        said.contains("localhost") && !said.contains("127.0.0.1") && !said.contains("::1"),
        "{said}"
    );
    for events in [
        json!([]),
        json!(["group.exploded"]),
        json!(["*", "group.created"]),
        json!(7),
    ] {
        let res = app
            .post(&hooks)
            .key(&admin)
            .json(&json!({ "url": "https://93.184.216.34/", "events": events }))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{events}");
        assert!(res.json()["events"][0].is_string(), "{}", res.json());
        assert!(res.json().get("url").is_none(), "{}", res.json());
    }
    assert!(
        receiver.all().is_empty(),
        "nothing was sent while registering"
    );
    let listed = app.get(&hooks).key(&admin).send().await.json();
    assert_eq!(listed, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_teams_admins_see_and_touch_its_webhooks() {
    let app = TestApp::with_webhooks(settings()).await;
    let (org, admin) = app.team("Acme").await;
    let (other, intruder) = app.team("Rival").await;
    let (_, manager) = app
        .member(org, "manager@acme.test", roster_core::Role::Manager)
        .await;
    let (receiver, url) = Receiver::start().await;
    let hook = register(&app, org, &admin, &url, json!(["*"])).await;
    let id = hook["id"].as_str().expect("id");
    app.post(&format!("/api/organizations/{org}/webhooks/{id}/ping/"))
        .key(&admin)
        .send()
        .await
        .made();
    let delivery = app
        .get(&format!(
            "/api/organizations/{org}/webhooks/{id}/deliveries/"
        ))
        .key(&admin)
        .send()
        .await
        .json()[0]["id"]
        .clone();
    let paths = [
        ("GET", format!("/api/organizations/{org}/webhooks/")),
        ("GET", format!("/api/organizations/{org}/webhooks/{id}/")),
        ("PATCH", format!("/api/organizations/{org}/webhooks/{id}/")),
        ("DELETE", format!("/api/organizations/{org}/webhooks/{id}/")),
        (
            "POST",
            format!("/api/organizations/{org}/webhooks/{id}/rotate-secret/"),
        ),
        (
            "POST",
            format!("/api/organizations/{org}/webhooks/{id}/ping/"),
        ),
        (
            "GET",
            format!("/api/organizations/{org}/webhooks/{id}/deliveries/"),
        ),
        (
            "POST",
            format!("/api/organizations/{org}/webhooks/{id}/deliveries/{delivery}/redeliver/"),
        ),
    ];
    for (method, path) in &paths {
        let method: axum::http::Method = method.parse().expect("method");
        let as_manager = app
            .request(method.clone(), path)
            .key(&manager)
            .json(&json!({"url": "http://127.0.0.1:9/"}))
            .send()
            .await;
        assert_eq!(as_manager.status, StatusCode::FORBIDDEN, "{method} {path}");
        let as_outsider = app
            .request(method.clone(), path)
            .key(&intruder)
            .json(&json!({"url": "http://127.0.0.1:9/"}))
            .send()
            .await;
        assert_eq!(as_outsider.status, StatusCode::NOT_FOUND, "{method} {path}");
        // The other team's admin names this team's webhook under their own team: not found.
        let theirs = path.replace(&org.to_string(), &other.to_string());
        let crossed = app
            .request(method.clone(), &theirs)
            .key(&intruder)
            .json(&json!({"url": "http://127.0.0.1:9/"}))
            .send()
            .await;
        if theirs.ends_with("/webhooks/") {
            continue;
        }
        assert_eq!(crossed.status, StatusCode::NOT_FOUND, "{method} {theirs}");
    }
    assert_eq!(receiver.all().len(), 1, "only the admin's ping was sent");
    // Rotation: a new secret, shown once; both sign for a while.
    let rotated = app
        .post(&format!(
            "/api/organizations/{org}/webhooks/{id}/rotate-secret/"
        ))
        .key(&admin)
        .send()
        .await
        .made();
    let new_secret = rotated["secret"].as_str().expect("new secret");
    assert_ne!(Some(new_secret), hook["secret"].as_str());
    app.post(&format!("/api/organizations/{org}/webhooks/{id}/ping/"))
        .key(&admin)
        .send()
        .await
        .made();
    let last = receiver.all().last().cloned().expect("a ping");
    assert!(verify(new_secret, &last));
    assert!(verify(hook["secret"].as_str().expect("old"), &last));
    // Deleting it stops delivery and empties its log.
    let gone = app
        .delete(&format!("/api/organizations/{org}/webhooks/{id}/"))
        .key(&admin)
        .send()
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let history = app
        .get(&format!(
            "/api/audit/organizations/{org}/?content_type=webhook"
        ))
        .key(&admin)
        .send()
        .await
        .json();
    let actions: Vec<&str> = history
        .as_array()
        .unwrap_or_else(|| panic!("a list: {history}"))
        .iter()
        .map(|e| e["action_type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        ["webhook.deleted", "webhook.updated", "webhook.created"]
    );
    assert!(
        !history.to_string().contains("whsec_"),
        "no secret in the history"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_has_at_most_twenty_webhooks() {
    let app = TestApp::with_webhooks(settings()).await;
    let (org, admin) = app.team("Acme").await;
    let hooks = format!("/api/organizations/{org}/webhooks/");
    for i in 0..20 {
        let url = format!("http://127.0.0.1:9/{i}");
        register(&app, org, &admin, &url, json!(["*"])).await;
    }
    let more = app
        .post(&hooks)
        .key(&admin)
        .json(&json!({ "url": "http://127.0.0.1:9/more" }))
        .send()
        .await;
    assert_eq!(more.status, StatusCode::BAD_REQUEST);
    assert!(
        more.json()["non_field_errors"][0]
            .as_str()
            .expect("why")
            .contains("at most 20")
    );
    assert_eq!(
        app.get(&hooks)
            .key(&admin)
            .send()
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(20)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_switched_off_is_sent_nothing_of_that_time() {
    let app = TestApp::with_webhooks(settings()).await;
    let (org, admin) = app.team("Acme").await;
    let (receiver, url) = Receiver::start().await;
    let hook = register(&app, org, &admin, &url, json!(["group.*"])).await;
    let one = format!(
        "/api/organizations/{org}/webhooks/{}/",
        hook["id"].as_str().expect("id")
    );
    let groups = format!("/api/organizations/{org}/groups/");
    let off = app
        .patch(&one)
        .key(&admin)
        .json(&json!({"active": false}))
        .send()
        .await;
    assert_eq!(off.json()["active"], json!(false));
    app.post(&groups)
        .key(&admin)
        .json(&json!({"name": "While off"}))
        .send()
        .await
        .made();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.all().is_empty(), "nothing while off");
    app.patch(&one)
        .key(&admin)
        .json(&json!({"active": true}))
        .send()
        .await
        .made();
    app.post(&groups)
        .key(&admin)
        .json(&json!({"name": "Back on"}))
        .send()
        .await
        .made();
    let got = receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let names: Vec<Value> = receiver
        .taken()
        .iter()
        .map(|m| m["data"]["name"].clone())
        .collect();
    assert_eq!(names, [json!("Back on")], "{got:?}");
}

/// Receivers that hold every try for seconds (on purpose or not) fill a node's slots for a
/// turn each; a team whose receiver answers at once still gets its messages within seconds:
/// a slow answer ends the turn, and slow endpoints are claimed after prompt ones and never
/// take the last slots (review of issue 23's delivery).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_receivers_do_not_hold_up_another_teams_messages() {
    let app = TestApp::with_webhooks(settings()).await;
    let (slow_team, slow_admin) = app.team("Slow").await;
    let (slow, slow_url) = Receiver::start().await;
    slow.delay_ms.store(3000, Ordering::SeqCst);
    for _ in 0..12 {
        register(&app, slow_team, &slow_admin, &slow_url, json!(["*"])).await;
    }
    let (team, admin) = app.team("Prompt").await;
    let (prompt, prompt_url) = Receiver::start().await;
    register(&app, team, &admin, &prompt_url, json!(["*"])).await;
    let groups = format!("/api/organizations/{slow_team}/groups/");
    for name in ["One", "Two", "Three", "Four"] {
        app.created(&groups, &slow_admin, json!({ "name": name }))
            .await;
    }
    // The slow endpoints hold every slot.
    let started = Instant::now();
    while slow.all().len() < 8 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "slow ones started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = Instant::now();
    let groups = format!("/api/organizations/{team}/groups/");
    app.created(&groups, &admin, json!({ "name": "Agents" }))
        .await;
    let got = prompt.wait_for(1).await;
    assert_eq!(got[0]["type"], json!("group.created"));
    // Their first tries end 3 s after they began; on, each would have run a 10 s turn.
    assert!(
        sent.elapsed() < Duration::from_secs(6),
        "waited {:?} behind the slow receivers",
        sent.elapsed()
    );
}

/// Registering or changing an endpoint checks its host with a name server, which may take
/// the whole 10 s: it takes one of the caller's heavy-request slots, as a ping does, so one
/// key cannot tie up the node's resolver threads with hosts that never answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checking_an_endpoint_s_host_takes_a_heavy_slot() {
    let app = TestApp::with_webhooks(settings()).await;
    let (org, admin) = app.team("Acme").await;
    let (slow, url) = Receiver::start().await;
    let hook = register(&app, org, &admin, &url, json!(["group.*"])).await;
    slow.delay_ms.store(3000, Ordering::SeqCst);
    let ping = format!(
        "/api/organizations/{org}/webhooks/{}/ping/",
        hook["id"].as_str().expect("id")
    );
    let hooks = format!("/api/organizations/{org}/webhooks/");
    let body = json!({ "url": url });
    // Four pings (the default number of heavy slots) wait on the slow receiver.
    let pinged = |_| async { app.post(&ping).key(&admin).send().await.status };
    let register_meanwhile = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        app.post(&hooks).key(&admin).json(&body).send().await.status
    };
    let (pings, meanwhile) = tokio::join!(
        futures_util::future::join_all((0..4).map(pinged)),
        register_meanwhile
    );
    assert!(pings.iter().all(|s| *s == StatusCode::OK), "{pings:?}");
    assert_eq!(meanwhile, StatusCode::TOO_MANY_REQUESTS);
    let res = app.post(&hooks).key(&admin).json(&body).send().await;
    assert_eq!(res.status, StatusCode::CREATED);
}
