//! The console's forms beyond the session rules (`console.rs`): tokens shown once, and the
//! limits on what a form may make the server hold.

use crate::console::{FORM, sign_in, sign_in_response, text};
use crate::support::{Response, TestApp};
use axum::http::StatusCode;
use roster_server::state::HttpConfig;

#[tokio::test]
async fn a_service_account_token_is_shown_once_and_rotates() {
    let app = TestApp::new().await;
    let (org, key) = app.team("Acme").await;
    let browser = sign_in(&app, &key).await;
    let token_of = |res: &Response| {
        let html = text(res);
        let at = html.find("id=\"token\"").expect("a token field");
        let value = html[at..].find("value=\"").expect("value") + at + 7;
        html[value..value + 64].to_owned()
    };
    let made = browser
        .post(
            &app,
            &format!("/console/teams/{org}/service-accounts/"),
            &[("name", "Nightly"), ("role", "1")],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", text(&made));
    let first = token_of(&made);
    assert_eq!(
        app.get("/api/me/").key(&first).send().await.json()["service_account"],
        true
    );
    let list = browser
        .get(&app, &format!("/console/teams/{org}/accounts/"))
        .await;
    assert!(!text(&list).contains(&first), "the token is shown again");
    let accounts = app
        .get(&format!("/api/organizations/{org}/serviceaccounts/"))
        .key(&key)
        .send()
        .await
        .json();
    let id = accounts[0]["id"].as_str().expect("id").to_owned();
    let ask = browser
        .get(
            &app,
            &format!("/console/teams/{org}/service-accounts/{id}/rotate/"),
        )
        .await;
    assert_eq!(ask.status, StatusCode::OK);
    // Asking changes nothing: only the confirmation's form rotates.
    assert_eq!(
        app.get("/api/organizations/")
            .key(&first)
            .send()
            .await
            .status,
        StatusCode::OK
    );
    let rotated = browser
        .post(
            &app,
            &format!("/console/teams/{org}/service-accounts/{id}/rotate/"),
            &[],
        )
        .await;
    let second = token_of(&rotated);
    assert_ne!(first, second);
    assert_eq!(
        app.get("/api/organizations/")
            .key(&first)
            .send()
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/organizations/")
            .key(&second)
            .send()
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_sign_in_form_is_read_as_an_anonymous_body() {
    let app = TestApp::new().await;
    let (_, key) = app.team("Acme").await;
    let padded = format!("key={key}&pad={}", "x".repeat(8 * 1024));
    let res = app.post("/console/sign-in/").raw(FORM, padded).send().await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", text(&res));
    assert!(res.header("set-cookie").is_none());
    let accept = app
        .post("/console/invitations/accept/")
        .raw(FORM, format!("token={}", "a".repeat(8 * 1024)))
        .send()
        .await;
    assert_eq!(accept.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        sign_in_response(&app, &key, None).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_list_longer_than_the_item_limit_is_refused_before_it_is_built() {
    let config = HttpConfig {
        max_items: 10,
        max_body_bytes: 2000,
        ..HttpConfig::default()
    };
    let app = TestApp::with_config(config).await;
    let (org, key) = app.team("Acme").await;
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &key,
            serde_json::json!({"name": "Leads"}),
        )
        .await;
    let campaign = app
        .created(
            &format!("/api/organizations/{org}/campaigns/"),
            &key,
            serde_json::json!({"name": "Winter"}),
        )
        .await;
    let browser = sign_in(&app, &key).await;
    let emails: Vec<String> = (0..11).map(|i| format!("p{i}@acme.example")).collect();
    let res = browser
        .post(
            &app,
            &format!("/console/teams/{org}/groups/{group}/replace/"),
            &[("list", &emails.join("\n"))],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(text(&res).contains("more than 10 lines"), "{}", text(&res));
    let csv = format!(
        "email,{}\n{}",
        "h".repeat(1000),
        emails[..3]
            .iter()
            .map(|e| format!("{e},x\n"))
            .collect::<String>()
    );
    let res = browser
        .post(
            &app,
            &format!("/console/teams/{org}/campaigns/{campaign}/upload/"),
            &[("list", &csv)],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", text(&res));
    assert!(text(&res).contains("too large"), "{}", text(&res));
    let members = app
        .get(&format!(
            "/api/organizations/{org}/campaigns/{campaign}/members/"
        ))
        .key(&key)
        .send()
        .await;
    assert_eq!(members.json().as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn a_list_read_the_wrong_way_never_removes_everyone() {
    let app = TestApp::new().await;
    let (org, key) = app.team("Acme").await;
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &key,
            serde_json::json!({"name": "Leads"}),
        )
        .await;
    let members = format!("/api/groups/{group}/memberships/");
    let res = app
        .put(&members)
        .key(&key)
        .json(&serde_json::json!(["admin@acme.example.com"]))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    let count = || async {
        let res = app.get(&members).key(&key).send().await;
        res.json().as_array().map(Vec::len)
    };
    assert_eq!(count().await, Some(1));
    let browser = sign_in(&app, &key).await;
    let preview = format!("/console/teams/{org}/groups/{group}/replace/");
    // A spreadsheet's export in a locale that separates with `;` and quotes every cell.
    let quoted = "\"Email\";\"Name\"\n\"admin@acme.example.com\";\"Ann\"\n";
    let res = browser.post(&app, &preview, &[("list", quoted)]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", text(&res));
    assert!(text(&res).contains("Unchanged (1)"), "{}", text(&res));
    assert!(text(&res).contains("Removed (0)"), "{}", text(&res));
    // A list none of whose lines can be used is refused, with the reasons, and offers nothing.
    let strangers = "nobody@elsewhere.example\nstranger@elsewhere.example";
    let res = browser.post(&app, &preview, &[("list", strangers)]).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", text(&res));
    assert!(text(&res).contains("2 lines can be used"), "{}", text(&res));
    assert!(
        text(&res).contains("Line 1: nobody@elsewhere.example"),
        "{}",
        text(&res)
    );
    assert!(!text(&res).contains("Apply this change"));
    // Nor is an empty list, or a header alone.
    for empty in ["", "email,name\n"] {
        let res = browser.post(&app, &preview, &[("list", empty)]).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", text(&res));
        assert!(text(&res).contains("names nobody"), "{}", text(&res));
    }
    // Nor does a confirmation that leaves every line out apply.
    let res = browser
        .post(
            &app,
            &format!("{preview}confirm/"),
            &[("list", strangers), ("skip", "0,1"), ("version", "1")],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", text(&res));
    assert_eq!(count().await, Some(1), "nobody removed");
}
