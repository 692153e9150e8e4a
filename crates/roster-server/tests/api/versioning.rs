//! Every JSON answer of the team API names the version it was served in, as Django REST
//! Framework's accept-header versioning does; SCIM keeps its own media type.

use crate::support::TestApp;
use axum::http::StatusCode;

#[tokio::test]
async fn answers_name_the_version_they_were_served_in() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Versioned").await;
    let list = format!("/api/organizations/{org}/memberships/");
    let plain = app.get(&list).key(&admin).send().await;
    assert_eq!(
        plain.header("content-type"),
        Some("application/json; version=1.0")
    );
    let paged = app.get(&list).key(&admin).v2().send().await;
    assert_eq!(
        paged.header("content-type"),
        Some("application/json; version=2.0")
    );
    // A kept page (the second read) is labelled alike.
    let again = app.get(&list).key(&admin).v2().send().await;
    assert_eq!(
        again.header("content-type"),
        Some("application/json; version=2.0")
    );
    let v11 = app
        .get(&format!("/api/organizations/{org}/"))
        .key(&admin)
        .header("accept", "application/json; version=1.1")
        .send()
        .await;
    assert_eq!(
        v11.header("content-type"),
        Some("application/json; version=1.1")
    );

    // Errors too, in the version asked for; a version that cannot be served names none.
    let missing = app
        .get("/api/groups/00000000-0000-0000-0000-000000000000/")
        .key(&admin)
        .v2()
        .send()
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.header("content-type"),
        Some("application/json; version=2.0")
    );
    let refused = app
        .get(&list)
        .key(&admin)
        .header("accept", "application/json; version=9.0")
        .send()
        .await;
    assert_eq!(refused.status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(refused.header("content-type"), Some("application/json"));

    // SCIM keeps application/scim+json.
    let token = app.service_account(org, &admin, 2).await;
    let scim = app.scim(&token, "GET", "/Users", None).await;
    assert_eq!(scim.status, StatusCode::OK);
    assert_eq!(scim.header("content-type"), Some("application/scim+json"));
}
