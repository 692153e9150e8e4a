//! Work, not only requests, is capped per key (issue 17, point 5): a key holder may have only
//! so many heavy requests running (member payloads of more than 1,000 items, SCIM filters other
//! than one `eq`, whole lists of more than 10,000 rows); one more is a 429 with `Retry-After`,
//! and a SCIM filter of more than 100 terms is refused outright.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Origin;
use roster_core::store::ImportRow;
use roster_core::{Clock, SystemClock, email};
use roster_server::state::HttpConfig;
use serde_json::json;
use uuid::Uuid;

/// A team of 10,001 people and more, so that its whole member list is heavy.
async fn large_team(app: &TestApp) -> (Uuid, String) {
    let (org, admin) = app.team("Large").await;
    let rows: Vec<ImportRow> = (0..10_001)
        .map(|i| {
            let address = format!("p{i:05}@large.test");
            ImportRow {
                email_norm: email::normalize(&address),
                email: address,
                name: None,
                role: None,
                groups: vec![],
            }
        })
        .collect();
    app.store
        .import_members(
            org,
            &mut rows.into_iter(),
            false,
            SystemClock.now(),
            &Origin::cli(),
        )
        .await
        .unwrap();
    (org, admin)
}

/// A server that lets each key run one heavy request at once, and a large team on it.
async fn capped_to_one() -> (TestApp, Uuid, String) {
    let app = TestApp::with_config(HttpConfig {
        max_heavy_per_key: 1,
        ..HttpConfig::default()
    })
    .await;
    let (org, admin) = large_team(&app).await;
    (app, org, admin)
}

#[tokio::test]
async fn a_key_holder_runs_only_so_many_heavy_requests() {
    let (app, org, admin) = capped_to_one().await;
    let token = app.service_account(org, &admin, 2).await;
    let list = format!("/api/organizations/{org}/memberships/");
    // A whole list of 10,000-odd rows is heavy while it is being read.
    let reading = app.get(&list).key(&admin).open().await;
    assert_eq!(reading.status(), StatusCode::OK);
    let again = app.get(&list).key(&admin).send().await;
    assert_eq!(
        again.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        again.detail()
    );
    assert_eq!(again.header("retry-after"), Some("1"));
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "All"}),
        )
        .await;
    let payload: Vec<String> = (0..1_001).map(|i| format!("p{i:05}@large.test")).collect();
    let put = app
        .put(&format!("/api/groups/{group}/memberships/"))
        .key(&admin)
        .json(&json!(payload))
        .send()
        .await;
    assert_eq!(
        put.status,
        StatusCode::TOO_MANY_REQUESTS,
        "a 1,001-item payload"
    );
    // Light requests go on, and another key holder is not held up.
    let page = app.get(&list).key(&admin).v2().send().await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.header("x-total-count"),
        Some("10003"),
        "and the admin, the SCIM key"
    );
    let small = app
        .put(&format!("/api/groups/{group}/memberships/"))
        .key(&admin)
        .json(&json!(payload[..1000]))
        .send()
        .await;
    assert_eq!(small.status, StatusCode::OK, "1,000 items are not heavy");
    let broad = app
        .scim(
            &token,
            "GET",
            "/Users?filter=userName%20co%20%22p0%22&count=1",
            None,
        )
        .await;
    assert_eq!(broad.status, StatusCode::OK, "{}", broad.detail());
    // Once the list has been read, the slot is free again.
    drop(reading);
    let done = app
        .put(&format!("/api/groups/{group}/memberships/"))
        .key(&admin)
        .json(&json!(payload))
        .send()
        .await;
    assert_eq!(done.status, StatusCode::OK);
}

#[tokio::test]
async fn scim_filters_count_as_heavy_unless_one_eq_and_stop_at_100_terms() {
    let (app, org, admin) = capped_to_one().await;
    let token = app.service_account(org, &admin, 2).await;
    // The service account's own whole list holds its one slot.
    let reading = app
        .get(&format!("/api/organizations/{org}/memberships/"))
        .key(&token)
        .open()
        .await;
    assert_eq!(reading.status(), StatusCode::OK);
    let broad = app
        .scim(
            &token,
            "GET",
            "/Users?filter=userName%20co%20%22p0%22",
            None,
        )
        .await;
    assert_eq!(
        broad.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        broad.detail()
    );
    assert_eq!(broad.header("retry-after"), Some("1"));
    let exact = app
        .scim(
            &token,
            "GET",
            "/Users?filter=userName%20eq%20%22p00001%40large.test%22",
            None,
        )
        .await;
    assert_eq!(exact.status, StatusCode::OK);
    assert_eq!(exact.json()["totalResults"], 1);
    drop(reading);
    let terms = vec![r#"userName co "x""#; 101].join(" or ");
    let q: String = form_urlencoded::byte_serialize(terms.as_bytes()).collect();
    let res = app
        .scim(&token, "GET", &format!("/Users?filter={q}"), None)
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.json()["scimType"], "invalidFilter");
}

#[tokio::test]
async fn a_team_runs_twice_a_key_s_heavy_requests_and_unindexed_filters_are_heavy() {
    let (app, org, admin) = capped_to_one().await;
    let first = app.service_account(org, &admin, 2).await;
    let second = app.service_account(org, &admin, 2).await;
    let list = format!("/api/organizations/{org}/memberships/");
    let a = app.get(&list).key(&admin).open().await;
    let b = app.get(&list).key(&first).open().await;
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    let third = app.get(&list).key(&second).send().await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS, "a team's fill");
    drop((a, b));
    // One `eq`, but on an attribute no index answers: every user is read.
    let _held = app.get(&list).key(&second).open().await;
    let unindexed = app
        .scim(&second, "GET", "/Users?filter=title%20eq%20%22x%22", None)
        .await;
    assert_eq!(
        unindexed.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        unindexed.detail()
    );
}

/// A page's list needs a pass over the team once per version (its page ends): but for the
/// unfiltered list in pages of the default size, the request that makes that pass takes a
/// heavy slot, so a caller cannot start one pass per request by varying the filter or the page
/// size; parameters that filter nothing do not make another list, and a refused request
/// leaves nothing behind.
#[tokio::test]
async fn a_filtered_lists_first_pass_is_heavy_and_shared() {
    let (app, org, admin) = capped_to_one().await;
    let list = format!("/api/organizations/{org}/memberships/");
    let page = |query: &str| app.get(&format!("{list}?{query}")).key(&admin).v2().send();
    let holding = app.get(&list).key(&admin).open().await;
    assert_eq!(holding.status(), StatusCode::OK);
    // The team's unfiltered list in pages of the default size is one pass per version, for
    // everyone: never refused. Another filter or page size is a pass of the caller's own.
    assert_eq!(page("page=3").await.status, StatusCode::OK);
    for query in [
        "q=p00&page_size=10",
        "page_size=10",
        "role=4",
        "page_size=99&page=2",
    ] {
        let refused = page(query).await;
        assert_eq!(
            refused.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{query}: {}",
            refused.detail()
        );
        assert_eq!(refused.header("retry-after"), Some("1"));
    }
    drop(holding);
    let first = page("q=p00&page_size=10").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.detail());
    assert_eq!(first.header("x-total-count"), Some("1000"));
    // Its ends are kept: other pages of it, with parameters that filter nothing, need no slot.
    let holding = app.get(&list).key(&admin).open().await;
    for query in [
        "q=p00&page_size=10&page=7",
        "page_size=10&q=p00&x=1",
        "q=p00&page_size=10&y=2&page=last",
    ] {
        let res = page(query).await;
        assert_eq!(res.status, StatusCode::OK, "{query}: {}", res.detail());
    }
    drop(holding);
}

/// A change that has committed is answered whatever the caller's heavy slots: a team update
/// whose answer streams a large member list is never a 429 (which would say that nothing
/// changed, so that an `Idempotency-Key` retry would change the team again).
#[tokio::test]
async fn a_committed_team_update_is_answered_with_its_slots_taken() {
    let (app, org, admin) = capped_to_one().await;
    let holding = app
        .get(&format!("/api/organizations/{org}/memberships/"))
        .key(&admin)
        .open()
        .await;
    assert_eq!(holding.status(), StatusCode::OK);
    let res = app
        .request(
            axum::http::Method::PATCH,
            &format!("/api/organizations/{org}/"),
        )
        .key(&admin)
        .header("idempotency-key", "rename-1")
        .json(&json!({"name": "Larger"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    assert_eq!(res.json()["name"], "Larger");
    assert_eq!(res.json()["members"].as_array().unwrap().len(), 10_002);
    drop(holding);
}
