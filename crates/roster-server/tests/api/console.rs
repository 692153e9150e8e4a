//! The admin console over HTTP, on each backend: the session cookie and its limits, form
//! tokens, who may see which page, and that the console's changes are the API's own. (The
//! browser walk-through, accessibility and layout checks are `scripts/console-e2e.py`.)

use crate::support::{Response, TestApp};
use axum::http::StatusCode;
use roster_core::Role;
use roster_core::store::{AccountKind, KeyRef};
use roster_server::state::HttpConfig;
use serde_json::json;
use uuid::Uuid;

pub const FORM: &str = "application/x-www-form-urlencoded";

/// A signed-in browser: its cookie and the token its forms carry.
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

pub fn encode(pairs: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

pub fn text(res: &Response) -> String {
    String::from_utf8_lossy(&res.bytes).into_owned()
}

pub async fn sign_in_response(app: &TestApp, key: &str, next: Option<&str>) -> Response {
    let path = match next {
        Some(n) => format!(
            "/console/sign-in/?next={}",
            form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
        ),
        None => "/console/sign-in/".to_owned(),
    };
    app.post(&path)
        .raw(FORM, encode(&[("key", key)]))
        .send()
        .await
}

pub async fn sign_in(app: &TestApp, key: &str) -> Browser {
    let res = sign_in_response(app, key, None).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", text(&res));
    let set = res.header("set-cookie").expect("a cookie").to_owned();
    let cookie = set.split(';').next().expect("name=value").to_owned();
    let page = app
        .get("/console/teams/")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", text(&page));
    let html = text(&page);
    let at = html.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    let csrf = html[at..at + 64].to_owned();
    Browser { cookie, csrf }
}

impl Browser {
    pub async fn get(&self, app: &TestApp, path: &str) -> Response {
        app.get(path).header("cookie", &self.cookie).send().await
    }

    pub async fn post(&self, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut all = fields.to_vec();
        all.push(("csrf", &self.csrf));
        app.post(path)
            .header("cookie", &self.cookie)
            .raw(FORM, encode(&all))
            .send()
            .await
    }
}

async fn group_names(app: &TestApp, org: Uuid, key: &str) -> Vec<String> {
    let res = app
        .get(&format!("/api/organizations/{org}/groups/"))
        .key(key)
        .send()
        .await;
    res.json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|g| g["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn signing_in_gives_a_strict_http_only_cookie_that_is_not_the_key() {
    let app = TestApp::new().await;
    let (_, key) = app.team("Acme").await;
    let res = sign_in_response(&app, &key, None).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.header("location"), Some("/console/teams/"));
    let cookie = res.header("set-cookie").expect("a cookie");
    for part in [
        "roster_console=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console/",
    ] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert!(!cookie.contains(&key), "the cookie carries the key");
}

#[tokio::test]
async fn the_cookie_is_secure_when_the_public_address_is_https() {
    let config = HttpConfig {
        public_url: Some("https://roster.example.com".into()),
        ..HttpConfig::default()
    };
    let app = TestApp::with_config(config).await;
    let (_, key) = app.team("Acme").await;
    let res = sign_in_response(&app, &key, None).await;
    assert!(
        res.header("set-cookie")
            .expect("cookie")
            .contains("; Secure")
    );
}

#[tokio::test]
async fn a_wrong_key_or_a_deployment_key_signs_nobody_in() {
    let app = TestApp::new().await;
    let res = sign_in_response(&app, &"ab".repeat(32), None).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(res.header("set-cookie").is_none());
    assert!(text(&res).contains("No key matches"), "{}", text(&res));
    let (_, deployment) = app
        .account("kiosk@deploy.example.com", AccountKind::DeploymentKey)
        .await;
    let res = sign_in_response(&app, &deployment, None).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.header("set-cookie").is_none());
}

#[tokio::test]
async fn sign_in_returns_only_to_a_console_page() {
    let app = TestApp::new().await;
    let (org, key) = app.team("Acme").await;
    let inside = format!("/console/teams/{org}/groups/");
    for (next, expected) in [
        ("https://evil.example/", "/console/teams/"),
        ("//evil.example/console/", "/console/teams/"),
        ("/console//evil.example", "/console/teams/"),
        ("/api/organizations/", "/console/teams/"),
        ("/console/../../evil", "/console/teams/"),
        ("/console/teams/%2E%2e/../x", "/console/teams/"),
        (inside.as_str(), inside.as_str()),
    ] {
        let res = sign_in_response(&app, &key, Some(next)).await;
        assert_eq!(res.header("location"), Some(expected), "next={next}");
    }
}

#[tokio::test]
async fn signing_in_again_ends_the_browser_s_last_session() {
    let app = TestApp::new().await;
    let (_, key) = app.team("Acme").await;
    let first = sign_in(&app, &key).await;
    let again = app
        .post("/console/sign-in/")
        .header("cookie", &first.cookie)
        .raw(FORM, encode(&[("key", &key)]))
        .send()
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let res = first.get(&app, "/console/teams/").await;
    assert_eq!(
        res.status,
        StatusCode::SEE_OTHER,
        "the first cookie is signed out"
    );
    let set = again.header("set-cookie").expect("a cookie").to_owned();
    let cookie = set.split(';').next().expect("name=value").to_owned();
    let res = app
        .get("/console/teams/")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
}

#[tokio::test]
async fn the_console_cookie_opens_neither_the_api_nor_scim() {
    let app = TestApp::new().await;
    let (org, key) = app.team("Acme").await;
    let browser = sign_in(&app, &key).await;
    let members = format!("/api/organizations/{org}/memberships/");
    for path in ["/api/organizations/", members.as_str(), "/scim/v2/Users"] {
        let res = browser.get(&app, path).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn pages_without_a_session_send_to_sign_in_and_forms_change_nothing() {
    let app = TestApp::new().await;
    let (org, key) = app.team("Acme").await;
    let res = app
        .get(&format!("/console/teams/{org}/members/"))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let to = res.header("location").expect("location");
    assert!(
        to.starts_with("/console/sign-in/?next=%2Fconsole%2Fteams%2F"),
        "{to}"
    );
    let res = app
        .post(&format!("/console/teams/{org}/groups/"))
        .raw(FORM, "name=Nope&csrf=x")
        .send()
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(group_names(&app, org, &key).await.is_empty());
}

#[tokio::test]
async fn a_form_without_its_token_or_from_another_site_changes_nothing() {
    let app = TestApp::new().await;
    let (org, key) = app.team("Acme").await;
    let browser = sign_in(&app, &key).await;
    let path = format!("/console/teams/{org}/groups/");
    let forged = app
        .post(&path)
        .header("cookie", &browser.cookie)
        .raw(
            FORM,
            encode(&[("name", "Forged"), ("csrf", &"0".repeat(64))]),
        )
        .send()
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let missing = app
        .post(&path)
        .header("cookie", &browser.cookie)
        .raw(FORM, "name=Missing")
        .send()
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let cross = app
        .post(&path)
        .header("cookie", &browser.cookie)
        .header("origin", "https://evil.example")
        .raw(
            FORM,
            encode(&[("name", "Cross"), ("csrf", browser.csrf.as_str())]),
        )
        .send()
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let fetched = app
        .post(&path)
        .header("cookie", &browser.cookie)
        .header("sec-fetch-site", "same-site")
        .raw(
            FORM,
            encode(&[("name", "Sibling"), ("csrf", browser.csrf.as_str())]),
        )
        .send()
        .await;
    assert_eq!(fetched.status, StatusCode::FORBIDDEN);
    assert!(group_names(&app, org, &key).await.is_empty());
    let ok = browser.post(&app, &path, &[("name", "Real")]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", text(&ok));
    assert_eq!(group_names(&app, org, &key).await, ["Real"]);
}

#[tokio::test]
async fn another_team_s_pages_forms_and_objects_are_not_found() {
    let app = TestApp::new().await;
    let (ours, key) = app.team("Acme").await;
    let (theirs, their_key) = app.team("Globex").await;
    let (their_member, _) = app.member(theirs, "gil@globex.example", Role::Member).await;
    let their_group = app
        .created(
            &format!("/api/organizations/{theirs}/groups/"),
            &their_key,
            json!({"name": "Secret"}),
        )
        .await;
    let browser = sign_in(&app, &key).await;
    for path in [
        "",
        "members/",
        "groups/",
        "campaigns/",
        "accounts/",
        "audit/",
    ] {
        let res = browser
            .get(&app, &format!("/console/teams/{theirs}/{path}"))
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!text(&res).contains("Globex"), "{path} names the team");
    }
    // Their objects through our team's pages.
    let res = browser
        .get(
            &app,
            &format!("/console/teams/{ours}/groups/{their_group}/"),
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = browser
        .post(
            &app,
            &format!("/console/teams/{ours}/members/{their_member}/role/"),
            &[("role", "2")],
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = browser
        .post(
            &app,
            &format!("/console/teams/{theirs}/groups/"),
            &[("name", "Intruder")],
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(group_names(&app, theirs, &their_key).await, ["Secret"]);
    let members = app
        .get(&format!("/api/organizations/{theirs}/memberships/?role=2"))
        .key(&their_key)
        .send()
        .await;
    assert_eq!(members.json().as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_manager_sees_no_admin_actions_and_may_not_take_them() {
    let app = TestApp::new().await;
    let (org, _) = app.team("Acme").await;
    let (member, _) = app.member(org, "mo@acme.example", Role::Member).await;
    let (_, manager) = app.member(org, "mia@acme.example", Role::Manager).await;
    let browser = sign_in(&app, &manager).await;
    let page = browser
        .get(&app, &format!("/console/teams/{org}/members/"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = text(&page);
    assert!(html.contains("mo@acme.example"));
    for admin_only in ["/role/", "/remove/", "Accounts and keys", "Audit log"] {
        assert!(
            !html.contains(admin_only),
            "a manager is shown {admin_only}"
        );
    }
    let res = browser
        .get(&app, &format!("/console/teams/{org}/accounts/"))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = browser
        .post(
            &app,
            &format!("/console/teams/{org}/members/{member}/role/"),
            &[("role", "2")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", text(&res));
    assert!(text(&res).contains("does not allow"));
}

#[tokio::test]
async fn console_changes_are_the_api_s_recorded_with_the_face_console() {
    let app = TestApp::new().await;
    let (org, key) = app.team("Acme").await;
    let (member, _) = app.member(org, "mo@acme.example", Role::Member).await;
    let browser = sign_in(&app, &key).await;
    let res = browser
        .post(
            &app,
            &format!("/console/teams/{org}/members/{member}/role/"),
            &[("role", "5"), ("back", "/x?q=mo&page=1")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", text(&res));
    let to = res.header("location").expect("location");
    assert!(to.ends_with("members/?q=mo&page=1&done=role"), "{to}");
    let events = app
        .get(&format!("/api/audit/organizations/{org}/?face=console"))
        .key(&key)
        .send()
        .await
        .json();
    let event = &events[0];
    assert_eq!(event["action_type"], "membership.updated", "{events}");
    assert_eq!(event["face"], "console");
    assert_eq!(event["actor"]["email"], "admin@acme.example.com");
    let bad = app
        .get(&format!("/api/audit/organizations/{org}/?face=web"))
        .key(&key)
        .send()
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["face"].is_array(), "{}", text(&bad));
    // The API's rule, with the API's words, next to the field.
    let (admin_membership, _) = {
        let list = app
            .get(&format!("/api/organizations/{org}/memberships/?role=2"))
            .key(&key)
            .send()
            .await
            .json();
        (list[0]["id"].as_i64().expect("id"), ())
    };
    let res = browser
        .post(
            &app,
            &format!("/console/teams/{org}/members/{admin_membership}/role/"),
            &[("role", "1")],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(text(&res).contains("last admin"), "{}", text(&res));
    assert!(text(&res).contains("aria-invalid=\"true\""));
}

#[tokio::test]
async fn signing_out_or_revoking_the_key_ends_the_session() {
    let app = TestApp::new().await;
    let (org, key) = app.team("Acme").await;
    let first = sign_in(&app, &key).await;
    let second = sign_in(&app, &key).await;
    let members = format!("/console/teams/{org}/members/");
    let res = first.post(&app, "/console/sign-out/", &[]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(
        res.header("set-cookie")
            .expect("cleared")
            .contains("Max-Age=0")
    );
    let res = first.get(&app, &members).await;
    assert_eq!(
        res.status,
        StatusCode::SEE_OTHER,
        "a closed session opened a page"
    );
    assert_eq!(second.get(&app, &members).await.status, StatusCode::OK);
    app.store
        .revoke_keys(KeyRef::Key(&roster_core::keys::KeyHash::of(&key)))
        .await
        .expect("revoked");
    let res = second.get(&app, &members).await;
    assert_eq!(
        res.status,
        StatusCode::SEE_OTHER,
        "a revoked key's session lives on"
    );
}

#[tokio::test]
async fn pages_are_never_cached_or_framed() {
    let app = TestApp::new().await;
    let (org, key) = app.team("Acme").await;
    let browser = sign_in(&app, &key).await;
    let res = browser.get(&app, &format!("/console/teams/{org}/")).await;
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.header("x-frame-options"), Some("DENY"));
    let policy = res.header("content-security-policy").expect("a policy");
    assert!(policy.contains("frame-ancestors 'none'") && policy.contains("default-src 'self'"));
    assert_eq!(res.header("referrer-policy"), Some("no-referrer"));
    let lost = browser.get(&app, "/console/no/such/page/").await;
    assert_eq!(lost.status, StatusCode::NOT_FOUND);
    assert!(
        lost.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
    assert!(lost.header("content-security-policy").is_some());
    let css = app.get("/console/assets/console.css").send().await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.header("content-type")
            .unwrap_or_default()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn an_invitation_link_is_shown_only_for_a_domain_the_team_owns() {
    let app = TestApp::new().await;
    let (org, key) = app.team("Acme").await;
    app.verify(org, "acme.example").await;
    let browser = sign_in(&app, &key).await;
    let path = format!("/console/teams/{org}/invitations/");
    let owned = browser
        .post(&app, &path, &[("email", "new@acme.example"), ("role", "1")])
        .await;
    assert_eq!(owned.status, StatusCode::CREATED, "{}", text(&owned));
    let html = text(&owned);
    let marker = "/console/invitations/accept/?token=";
    let at = html.find(marker).expect("a link for an owned domain") + marker.len();
    let token = html[at..at + 64].to_owned();
    let other = browser
        .post(&app, &path, &[("email", "someone@elsewhere.example")])
        .await;
    assert_eq!(other.status, StatusCode::CREATED);
    assert!(
        !text(&other).contains("token="),
        "a link for a domain the team does not own"
    );
    let refused = browser
        .post(&app, &path, &[("email", "not an address")])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        text(&refused).contains("value=\"not an address\""),
        "the form lost its input"
    );
    // The invitee accepts on the console page: a key shown once, and signed in.
    let page = app
        .get(&format!("/console/invitations/accept/?token={token}"))
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let accepted = app
        .post("/console/invitations/accept/")
        .raw(FORM, encode(&[("token", &token), ("name", "Nia New")]))
        .send()
        .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", text(&accepted));
    let cookie = accepted.header("set-cookie").expect("signed in").to_owned();
    let cookie = cookie.split(';').next().expect("cookie").to_owned();
    let html = text(&accepted);
    let at = html.find("id=\"new-key\"").expect("the key");
    let value = html[at..].find("value=\"").expect("value") + at + 7;
    let new_key = &html[value..value + 64];
    let me = app.get("/api/me/").key(new_key).send().await;
    assert_eq!(me.json()["email"], "new@acme.example");
    let overview = app
        .get(&format!("/console/teams/{org}/"))
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(overview.status, StatusCode::OK);
    let again = app
        .post("/console/invitations/accept/")
        .raw(FORM, encode(&[("token", &token)]))
        .send()
        .await;
    assert_eq!(
        again.status,
        StatusCode::NOT_FOUND,
        "a token accepted twice"
    );
}

#[tokio::test]
async fn rotating_the_key_ends_its_sessions() {
    let app = TestApp::new().await;
    let (org, key) = app.team("Acme").await;
    let browser = sign_in(&app, &key).await;
    let overview = format!("/console/teams/{org}/");
    assert_eq!(browser.get(&app, &overview).await.status, StatusCode::OK);
    let rotated = app.post("/api/me/key/").key(&key).send().await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", text(&rotated));
    let res = browser.get(&app, &overview).await;
    assert_eq!(
        res.status,
        StatusCode::SEE_OTHER,
        "the old key's session lives on"
    );
}

#[tokio::test]
async fn two_session_cookies_are_none() {
    let app = TestApp::new().await;
    let (org, key) = app.team("Acme").await;
    let (_, other_key) = app.team("Globex").await;
    let ours = sign_in(&app, &key).await;
    let planted = sign_in(&app, &other_key).await;
    // A cookie planted beside ours (a longer path, or a sibling domain's) comes first.
    let both = format!("{}; {}", planted.cookie, ours.cookie);
    let res = app
        .get(&format!("/console/teams/{org}/"))
        .header("cookie", &both)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", text(&res));
    let res = app
        .get(&format!("/console/teams/{org}/"))
        .header("cookie", &ours.cookie)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
}
