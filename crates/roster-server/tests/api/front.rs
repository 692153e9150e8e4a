//! What a person or a monitor finds at the server's front: the index at `/` and `/api/`, the
//! docs page's redirect, readiness beside liveness, and `/metrics` in the Prometheus format.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Role;
use roster_core::store::StoreOptions;
use roster_server::state::{AppState, HttpConfig};

#[tokio::test]
async fn the_root_and_api_root_point_at_the_docs_schema_and_scim() {
    let app = TestApp::new().await;
    for path in ["/", "/api/", "/api"] {
        let res = app.get(path).send().await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        let index = res.json();
        assert_eq!(index["docs"], "/api/docs/", "{path}");
        assert_eq!(index["schema"], "/api/schema/", "{path}");
        assert_eq!(index["scim"], "/scim/v2/", "{path}");
    }
}

/// The docs page without its slash was served with assets that resolve one level up (a
/// blank page); it is the one path the API redirects.
#[tokio::test]
async fn the_docs_page_without_its_slash_redirects_to_it() {
    let app = TestApp::new().await;
    let res = app.get("/api/docs").send().await;
    assert!(res.status.is_redirection(), "{}", res.status);
    assert_eq!(res.header("location"), Some("/api/docs/"));
    let page = app.get("/api/docs/").send().await;
    assert_eq!(page.status, StatusCode::OK);
    // Everything else is still served with and without the slash.
    let (_, key) = app.team("Slash").await;
    let bare = app.get("/api/organizations").key(&key).send().await;
    assert_eq!(bare.status, StatusCode::OK);
}

/// Runs one statement on the database at `url`, behind the server's back.
async fn execute(url: &str, sql: &str) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut db = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut db)
            .await
            .unwrap();
    } else {
        let mut db = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut db)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn readiness_needs_every_migration_applied() {
    let dir = tempfile::tempdir().unwrap();
    let url = TestApp::fresh_url(&dir).await;
    let app = TestApp::on(&url, &StoreOptions::default()).await;
    let ready = app.get("/api/health/ready/").send().await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["status"], "ready");

    // A schema behind this build (its last migration not recorded as applied) is alive but
    // not ready.
    execute(
        &url,
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .await;
    let behind = app.get("/api/health/ready/").send().await;
    assert_eq!(behind.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.get("/api/health/").send().await.status, StatusCode::OK);
}

/// The scrape as a strict OpenMetrics parser (the format Prometheus scrapes) reads it:
/// (family, labels, value) per sample; a histogram's value is its count.
fn parsed(text: &str) -> Vec<(String, std::collections::HashMap<String, String>, f64)> {
    use openmetrics_parser::OpenMetricsValue as V;
    let exposition =
        openmetrics_parser::openmetrics::parse_openmetrics(text).expect("the OpenMetrics format");
    let mut samples = Vec::new();
    for (name, family) in exposition.families {
        for s in family.iter_samples() {
            let labels = s.get_labelset().expect("labels");
            let labels = labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let value = match &s.value {
                V::Counter(c) => c.value.as_f64(),
                V::Gauge(n) | V::Unknown(n) => n.as_f64(),
                V::Histogram(h) => h.count.unwrap_or_default() as f64,
                _ => 0.0,
            };
            samples.push((name.clone(), labels, value));
        }
    }
    samples
}

fn sample(
    samples: &[(String, std::collections::HashMap<String, String>, f64)],
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_scim_and_refusals() {
    let config = HttpConfig {
        rate_limit: 1,
        rate_burst: 3,
        ..HttpConfig::default()
    };
    let app = TestApp::with_config(config).await;
    let (org, admin) = app.team("Metered").await;
    let (member, _) = app.member(org, "m@metered.example.com", Role::Member).await;
    let path = format!("/api/memberships/{member}/");
    for _ in 0..6 {
        app.get(&path).key(&admin).send().await;
    }
    app.get("/api/no-such-thing/").send().await;
    // Methods nobody defined are one `other`, however many: no client grows the registry.
    for junk in ["FOO1", "FOO2", "BAR3"] {
        let method = axum::http::Method::from_bytes(junk.as_bytes()).unwrap();
        app.request(method, "/api/health/").send().await;
    }
    let res = app.get("/metrics").send().await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(
        res.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        res.header("content-type")
    );
    let text = String::from_utf8(res.bytes.clone()).unwrap();
    let samples = parsed(&text);
    // By the route's template, never by the id in the path.
    let by_template = [("route", "/api/memberships/{id}/"), ("method", "GET")];
    let served = sample(&samples, "roster_http_requests", &by_template);
    assert_eq!(served, 6.0, "{text}");
    assert!(
        !text.contains(&format!("/api/memberships/{member}/")),
        "{text}"
    );
    let refused = sample(&samples, "roster_rate_limited", &[]);
    assert!(
        refused >= 1.0,
        "the burst of 3 at 1/s refuses some of 6: {text}"
    );
    assert_eq!(
        sample(
            &samples,
            "roster_http_requests",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    assert!(
        sample(
            &samples,
            "roster_http_request_duration_seconds",
            &by_template
        ) >= 6.0
    );
    let other = [("route", "/api/health/"), ("method", "other")];
    assert_eq!(
        sample(&samples, "roster_http_requests", &other),
        3.0,
        "{text}"
    );
    assert!(!text.contains("FOO1"), "{text}");
    assert!(
        sample(&samples, "roster_db_pool_connections", &[("state", "max")]) >= 1.0,
        "{text}"
    );
    assert!(text.contains("roster_page_cache_hits"), "{text}");
}

#[tokio::test]
async fn metrics_count_scim_operations_by_kind_and_list_cache_lookups() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Scimmed").await;
    let token = app.service_account(org, &admin, 2).await;
    let pat = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "pat@scimmed.example.com",
        "emails": [{"value": "pat@scimmed.example.com", "primary": true}],
    });
    let made = app.scim(&token, "POST", "/Users", Some(pat)).await;
    assert_eq!(
        made.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&made.bytes)
    );
    app.scim(&token, "GET", "/Users", None).await;
    for _ in 0..2 {
        let list = format!("/api/organizations/{org}/memberships/?page=1");
        app.get(&list).key(&admin).v2().send().await;
    }
    let text = String::from_utf8(app.get("/metrics").send().await.bytes).unwrap();
    let samples = parsed(&text);
    assert_eq!(
        sample(
            &samples,
            "roster_scim_operations",
            &[("kind", "Users.create")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &samples,
            "roster_scim_operations",
            &[("kind", "Users.list")]
        ),
        1.0,
        "{text}"
    );
    assert!(
        sample(&samples, "roster_page_cache_hits", &[]) >= 1.0,
        "the second read is kept: {text}"
    );
}

#[tokio::test]
async fn a_metrics_token_keeps_the_scrape_to_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = TestApp::fresh_url(&dir).await;
    let store = roster_server::storage::open(&url, &StoreOptions::default())
        .await
        .unwrap();
    let state = AppState::new(
        store,
        std::sync::Arc::new(roster_core::SystemClock),
        HttpConfig::default(),
    )
    .with_metrics_token("s3cret-scrape".into());
    let app = roster_server::app::app(state);
    let ask = |auth: Option<&'static str>| {
        let mut req = axum::http::Request::get("/metrics").header("host", "x");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.body(axum::body::Body::empty()).unwrap()
    };
    use tower::ServiceExt;
    let none = app.clone().oneshot(ask(None)).await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let wrong = app
        .clone()
        .oneshot(ask(Some("Bearer s3cret-scrapf")))
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = app
        .oneshot(ask(Some("Bearer s3cret-scrape")))
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
}

/// A large change to a team's group members lets go of that team's kept pages before it runs
/// (its commit makes them stale, and it needs the memory); a dry run, which changes nothing,
/// keeps them, and so does every other team.
#[tokio::test]
async fn a_heavy_member_change_lets_go_of_its_own_teams_pages_only() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Heavy Pages").await;
    let (other, other_admin) = app.team("Calm Pages").await;
    app.verify(org, "held.example.com").await;
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            serde_json::json!({"name": "Everyone"}),
        )
        .await;
    // Pages read from the database, not served kept.
    let misses = || async {
        let text = String::from_utf8(app.get("/metrics").send().await.bytes).unwrap();
        sample(&parsed(&text), "roster_page_cache_misses", &[])
    };
    let page = |team: uuid::Uuid, key: &str| {
        app.get(&format!("/api/organizations/{team}/memberships/?page=1"))
            .key(key)
            .v2()
            .send()
    };
    let (_, member) = app
        .member(org, "member@heavy-pages.example.com", Role::Member)
        .await;
    // Each read twice: the second is kept.
    for _ in 0..2 {
        assert_eq!(page(org, &admin).await.status, StatusCode::OK);
        assert_eq!(page(other, &other_admin).await.status, StatusCode::OK);
    }
    let before = misses().await;
    // Over the 256 KiB that makes a body heavy: 8,000 held emails of about 43 bytes each.
    let items: Vec<_> = (0..8000)
        .map(|i| serde_json::json!({"email": format!("person{i:05}@held.example.com")}))
        .collect();
    let body = serde_json::Value::Array(items);
    assert!(body.to_string().len() > 256 * 1024);
    let path = format!("/api/groups/{group}/memberships/");
    // Who may not change the group cannot make the team's pages go either: a plain member of
    // the team, and another team's admin.
    for (key, status) in [
        (&member, StatusCode::FORBIDDEN),
        (&other_admin, StatusCode::NOT_FOUND),
    ] {
        let res = app.put(&path).key(key).json(&body).send().await;
        assert_eq!(res.status, status, "{}", res.detail());
    }
    assert_eq!(page(org, &admin).await.status, StatusCode::OK);
    assert_eq!(
        misses().await,
        before,
        "refused callers leave the pages kept"
    );
    let dry = app
        .put(&format!("{path}?dry_run=true"))
        .key(&admin)
        .json(&body)
        .send()
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.detail());
    assert_eq!(page(org, &admin).await.status, StatusCode::OK);
    assert_eq!(misses().await, before, "a dry run keeps the team's pages");
    // The pages go before the change runs: one refused (emails of a domain the team has not
    // verified) has let go of them too, and the next read keeps the page again.
    let refused: Vec<_> = (0..8000)
        .map(|i| serde_json::json!({"email": format!("person{i:05}@elsewhere.example.com")}))
        .collect();
    let res = app
        .put(&path)
        .key(&admin)
        .json(&serde_json::Value::Array(refused))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.detail());
    for _ in 0..2 {
        assert_eq!(page(org, &admin).await.status, StatusCode::OK);
        assert_eq!(misses().await, before + 1.0, "read again once, then kept");
    }
    let made = app.put(&path).key(&admin).json(&body).send().await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.detail());
    assert_eq!(page(other, &other_admin).await.status, StatusCode::OK);
    assert_eq!(misses().await, before + 1.0, "another team's pages stay");
    let after = page(org, &admin).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(
        misses().await,
        before + 2.0,
        "the changed team's page is read again"
    );
}
