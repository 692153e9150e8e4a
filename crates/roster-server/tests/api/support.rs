//! `TestApp`: a server on a fresh database, a request builder, and seeding helpers.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use roster_core::Origin;
use roster_core::keys;
use roster_core::store::{AccountKind, NewUser, StoreOptions};
use roster_core::{Clock, Role, Store, SystemClock};
use roster_server::app::{App, app};
use roster_server::state::{AppState, HttpConfig};
use serde_json::Value;
use std::sync::Arc;
use tempfile::TempDir;
use tower::ServiceExt;
use uuid::Uuid;

/// Whether a `roster serve` on `port` answers its health check: it binds its address before
/// it opens the database, and serves once its first start is done.
pub fn serves(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let request = "GET /api/health/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut response = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut response).is_ok()
        && response.starts_with("HTTP/1.1 200")
}

/// The PostgreSQL server of ROSTER_TEST_DATABASE_URL, for a test that needs one. Without
/// it the test is skipped, said on stderr (the harness captures `eprintln!`), unless
/// ROSTER_REQUIRE_POSTGRES is set (as CI does): then the test fails.
pub fn postgres_server(test: &str) -> Option<String> {
    use std::io::Write;
    if let Some(url) = std::env::var("ROSTER_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        return Some(url);
    }
    assert!(
        std::env::var_os("ROSTER_REQUIRE_POSTGRES").is_none(),
        "{test}: ROSTER_REQUIRE_POSTGRES is set but ROSTER_TEST_DATABASE_URL is not"
    );
    let _ = writeln!(
        std::io::stderr(),
        "*** SKIPPED {test}: it needs ROSTER_TEST_DATABASE_URL=postgres://... ***"
    );
    None
}

pub struct TestApp {
    app: App,
    state: AppState,
    pub store: Arc<dyn Store>,
    _dir: TempDir,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Response {
    /// The body of a set-up request that must succeed.
    pub fn made(&self) -> Value {
        assert!(
            self.status.is_success(),
            "set-up: {} {}",
            self.status,
            String::from_utf8_lossy(&self.bytes)
        );
        self.json()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.bytes)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header"))
    }

    pub fn detail(&self) -> String {
        self.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

pub struct RequestBuilder<'a> {
    app: &'a TestApp,
    builder: axum::http::request::Builder,
    body: Body,
}

impl RequestBuilder<'_> {
    pub fn key(mut self, key: &str) -> Self {
        self.builder = self.builder.header("authorization", format!("Token {key}"));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    pub fn v2(self) -> Self {
        self.header("accept", "application/json; version=2.0")
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.builder = self.builder.header("content-type", "application/json");
        self.body = Body::from(body.to_string());
        self
    }

    /// A body sent without a content type.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    pub fn raw(mut self, content_type: &str, body: impl Into<Body>) -> Self {
        self.builder = self.builder.header("content-type", content_type);
        self.body = body.into();
        self
    }

    /// Sends the request and returns the response with its body not yet read (a streamed
    /// body is read as the caller reads it).
    pub async fn open(self) -> axum::response::Response {
        let request = self
            .builder
            .header("host", "roster.test")
            .body(self.body)
            .expect("valid request");
        self.app
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("infallible")
    }

    pub async fn send(self) -> Response {
        let request = self
            .builder
            .header("host", "roster.test")
            .body(self.body)
            .expect("valid request");
        let response = self
            .app
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        Response {
            status,
            headers,
            bytes,
        }
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_config(HttpConfig::default()).await
    }

    pub async fn with_config(config: HttpConfig) -> Self {
        Self::build(config, None).await
    }

    /// A server that mails invitations through `mailer`.
    pub async fn with_mailer(config: HttpConfig, mailer: roster_server::mail::Mailer) -> Self {
        Self::build(config, Some(mailer)).await
    }

    async fn build(config: HttpConfig, mailer: Option<roster_server::mail::Mailer>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = Self::fresh_url(&dir).await;
        Self::open(dir, &url, &StoreOptions::default(), config, mailer).await
    }

    /// A server that sends webhooks with `settings`, its delivery worker running.
    pub async fn with_webhooks(settings: roster_server::webhooks::Settings) -> Self {
        let mut test = Self::new().await;
        let state = test.state.clone().with_webhooks(settings);
        tokio::spawn(
            roster_server::webhooks::worker::Worker {
                store: state.store.clone(),
                clock: state.clock.clone(),
                deliverer: state.webhooks.clone(),
                metrics: state.metrics.clone(),
            }
            .run(),
        );
        test.app = app(state.clone());
        test.state = state;
        test
    }

    /// A new database for one test: a SQLite file in `dir`, or with ROSTER_TEST_DATABASE_URL a
    /// new database on that PostgreSQL server.
    pub async fn fresh_url(dir: &TempDir) -> String {
        match std::env::var("ROSTER_TEST_DATABASE_URL") {
            Ok(server) if !server.is_empty() => roster_postgres::testing::fresh_database(&server)
                .await
                .expect("a test database"),
            _ => format!("sqlite://{}", dir.path().join("roster.db").display()),
        }
    }

    /// A server on the database at `url` (another node on the same database, say).
    pub async fn on(url: &str, options: &StoreOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::open(dir, url, options, HttpConfig::default(), None).await
    }

    async fn open(
        dir: TempDir,
        url: &str,
        options: &StoreOptions,
        config: HttpConfig,
        mailer: Option<roster_server::mail::Mailer>,
    ) -> Self {
        let store = roster_server::storage::open(url, options)
            .await
            .expect("open store");
        let mut state = AppState::new(store.clone(), Arc::new(SystemClock), config);
        if let Some(mailer) = mailer {
            state = state.with_mailer(mailer);
        }
        TestApp {
            app: app(state.clone()),
            state,
            store,
            _dir: dir,
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder<'_> {
        RequestBuilder {
            app: self,
            builder: Request::builder().method(method).uri(path),
            body: Body::empty(),
        }
    }

    pub fn get(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::DELETE, path)
    }

    /// A user of the given kind with a fresh key.
    pub async fn account(&self, email: &str, kind: AccountKind) -> (Uuid, String) {
        let now = SystemClock.now();
        let new = NewUser {
            email: email.to_owned(),
            name: Some(format!("User {email}")),
            kind,
        };
        let user = self.store.ensure_user(new, now).await.expect("user");
        let key = keys::issue();
        self.store
            .add_key(user.id, &key.hash, now)
            .await
            .expect("key");
        (user.id, key.secret)
    }

    pub async fn user(&self, email: &str) -> (Uuid, String) {
        self.account(email, AccountKind::Person).await
    }

    pub async fn operator(&self) -> String {
        let (id, key) = self.user("ops@example.com").await;
        self.store.set_operator(id, true).await.expect("operator");
        key
    }

    /// A team created through the API by a new admin; returns (org id, admin key).
    pub async fn team(&self, name: &str) -> (Uuid, String) {
        let admin = format!(
            "admin@{}.example.com",
            name.to_lowercase().replace(' ', "-")
        );
        let (_, key) = self.user(&admin).await;
        let res = self
            .post("/api/organizations/")
            .key(&key)
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await;
        assert_eq!(
            res.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&res.bytes)
        );
        let id = res.json()["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid");
        (id, key)
    }

    /// Creates something through the API as a set-up step that must succeed (a group, a
    /// campaign, ...); returns its `id`.
    pub async fn created(&self, path: &str, key: &str, body: Value) -> String {
        self.post(path).key(key).json(&body).send().await.made()["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// Adds a person with a key to the team; returns (membership id, key).
    pub async fn member(&self, org: Uuid, email: &str, role: Role) -> (i64, String) {
        let (user, key) = self.user(email).await;
        let m = self
            .store
            .add_member(org, user, Some(role), SystemClock.now(), &Origin::cli())
            .await
            .expect("member");
        (m.id, key)
    }

    /// Adds `n` keyless people `prefix-NNNNN@bulk.example.com` with the given role.
    pub async fn bulk_members(&self, org: Uuid, prefix: &str, n: usize, role: Role) {
        let now = SystemClock.now();
        for i in 0..n {
            let new = NewUser {
                email: format!("{prefix}-{i:05}@bulk.example.com"),
                name: Some(format!("Bulk {i}")),
                kind: AccountKind::Person,
            };
            let user = self.store.ensure_user(new, now).await.expect("user");
            self.store
                .add_member(org, user.id, Some(role), now, &Origin::cli())
                .await
                .expect("member");
        }
    }

    /// Verifies `domain` for the team (what an operator does).
    pub async fn verify(&self, org: Uuid, domain: &str) {
        self.store
            .add_email_domain(org, domain, SystemClock.now(), &Origin::cli())
            .await
            .expect("domain");
    }

    /// The token of a new service account of the team with `role` (2: a SCIM key).
    pub async fn service_account(&self, org: Uuid, admin: &str, role: i64) -> String {
        let path = format!("/api/organizations/{org}/serviceaccounts/");
        let body = serde_json::json!({"name": "account", "role": role});
        self.new_account(&path, admin, body).await.1
    }

    /// The id and token of a new deployment key of the team.
    pub async fn deployment_key(&self, org: Uuid, admin: &str) -> (String, String) {
        let path = format!("/api/organizations/{org}/deployment-keys/");
        let body = serde_json::json!({"name": "Kiosk"});
        self.new_account(&path, admin, body).await
    }

    /// The id and token of an account made by POSTing `body` to `path`.
    async fn new_account(&self, path: &str, admin: &str, body: Value) -> (String, String) {
        let made = self.post(path).key(admin).json(&body).send().await.made();
        let text = |field: &str| made[field].as_str().expect(field).to_owned();
        (text("id"), text("token"))
    }

    /// A SCIM request with `token` as the bearer key.
    pub async fn scim(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let method = method.parse().expect("method");
        let mut req = self
            .request(method, &format!("/scim/v2{path}"))
            .header("authorization", &format!("Bearer {token}"));
        if let Some(body) = body {
            req = req.raw("application/scim+json", body.to_string());
        }
        req.send().await
    }

    /// Invites `email` to the team with `role` as the holder of `key`: the invitation, with
    /// its `accept_token`.
    pub async fn invite(&self, org: Uuid, key: &str, email: &str, role: i64) -> Value {
        self.post(&format!("/api/organizations/{org}/invitations/"))
            .key(key)
            .json(&serde_json::json!({"email": email, "role": role}))
            .send()
            .await
            .made()
    }

    /// Accepts an invitation with its token, without credentials.
    pub async fn accept(&self, invitation: &Value) -> Response {
        self.post("/api/invitations/accept/")
            .json(&serde_json::json!({"accept_token": invitation["accept_token"]}))
            .send()
            .await
    }

    /// Serves the app on a real socket of this machine, with these connection limits.
    pub async fn listen(&self, limits: roster_server::listener::Limits) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let serve = roster_server::listener::serve(
            listener,
            self.app.clone(),
            limits,
            std::future::pending(),
        );
        tokio::spawn(serve);
        address
    }
}
