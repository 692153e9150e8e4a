//! Verified email domains: who may list, add and remove them, and how they are normalised.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Role;
use serde_json::json;

#[tokio::test]
async fn operators_add_and_remove_admins_list() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (_, manager) = app.member(org, "manager@example.com", Role::Manager).await;
    let ops = app.operator().await;
    let path = format!("/api/organizations/{org}/email-domains/");
    let res = app
        .post(&path)
        .key(&admin)
        .json(&json!({"domain": "acme.com"}))
        .send()
        .await;
    assert_eq!(
        res.status,
        StatusCode::FORBIDDEN,
        "admins do not verify domains"
    );
    let res = app
        .post(&path)
        .key(&ops)
        .json(&json!({"domain": " Bücher.EXAMPLE. "}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let added = res.json();
    assert_eq!(
        (added["domain"].as_str(), added["verified"].as_bool()),
        (Some("xn--bcher-kva.example"), Some(true))
    );
    assert!(added["verified_at"].as_str().is_some() && added["created_at"].as_str().is_some());
    let list = app.get(&path).key(&admin).send().await;
    assert_eq!(list.json().as_array().unwrap().len(), 1);
    assert_eq!(
        app.get(&path).key(&manager).send().await.status,
        StatusCode::FORBIDDEN
    );
    let one = format!("{path}{}/", added["id"].as_str().unwrap());
    assert_eq!(
        app.delete(&one).key(&admin).send().await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.delete(&one).key(&ops).send().await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&one).key(&ops).send().await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get(&path).key(&admin).send().await.json(), json!([]));
}

#[tokio::test]
async fn public_providers_bad_names_and_taken_domains_are_refused() {
    let app = TestApp::new().await;
    let (org, _) = app.team("Acme").await;
    let (other, other_admin) = app.team("Other").await;
    let ops = app.operator().await;
    let path = format!("/api/organizations/{org}/email-domains/");
    // Public providers, and Roster's own domains: a team verifying one could hold group
    // memberships for other teams' service accounts by their addresses.
    for (domain, why) in [
        ("gmail.com", "public mail provider"),
        ("Outlook.COM", "public mail provider"),
        ("yahoo.com", "public mail provider"),
        ("service-account.roster.invalid", "Roster's own"),
        ("Deployment-Key.roster.invalid", "Roster's own"),
        ("roster.localhost", "Roster's own"),
    ] {
        let res = app
            .post(&path)
            .key(&ops)
            .json(&json!({"domain": domain}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{domain}");
        let said = res.json()["domain"][0].as_str().unwrap().to_owned();
        assert!(said.contains(why), "{domain}: {said}");
    }
    for domain in [
        json!("not a domain"),
        json!("localhost"),
        json!(""),
        json!(5),
        json!("a\u{0}.com"),
        json!("x".repeat(2000)),
    ] {
        let res = app
            .post(&path)
            .key(&ops)
            .json(&json!({"domain": domain}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{domain}");
    }
    assert_eq!(
        app.post(&path)
            .key(&ops)
            .json(&json!({"domain": "acme.com"}))
            .send()
            .await
            .status,
        StatusCode::CREATED
    );
    let res = app
        .post(&format!("/api/organizations/{other}/email-domains/"))
        .key(&ops)
        .json(&json!({"domain": "ACME.com"}))
        .send()
        .await;
    assert_eq!(
        res.json(),
        json!({"domain": ["This domain is already verified for an organization."]})
    );
    assert_eq!(
        app.get(&path).key(&other_admin).send().await.status,
        StatusCode::NOT_FOUND
    );
}
