//! Form bodies: every write whose fields are flat takes `application/x-www-form-urlencoded`
//! and `multipart/form-data` as well as JSON, as Django REST Framework's default parsers do,
//! with the same validation and messages; member lists and campaign data stay JSON-only (415).

use crate::support::{Response, TestApp};
use axum::http::{Method, StatusCode};
use roster_core::Role;
use serde_json::{Value, json};

const BOUNDARY: &str = "roster-form-boundary";

/// A form's fields, in order.
type FormFields<'a> = &'a [(&'a str, &'a str)];

fn urlencoded(fields: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        form.append_pair(k, v);
    }
    form.finish()
}

fn multipart(fields: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (k, v) in fields {
        body.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    body.push_str(&format!("--{BOUNDARY}--\r\n"));
    body
}

/// Sends `fields` as a form of each kind; both answers are returned.
async fn both(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    fields: &[(&str, &str)],
) -> [Response; 2] {
    let multipart_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let url = app
        .request(method.clone(), path)
        .key(key)
        .raw("application/x-www-form-urlencoded", urlencoded(fields))
        .send()
        .await;
    let multi = app
        .request(method, path)
        .key(key)
        .raw(&multipart_type, multipart(fields))
        .send()
        .await;
    [url, multi]
}

#[tokio::test]
async fn every_flat_write_takes_both_form_kinds() {
    let app = TestApp::new().await;
    let (_, key) = app.user("ann@example.com").await;
    // Teams: create and rename.
    let [a, b] = both(
        &app,
        Method::POST,
        "/api/organizations/",
        &key,
        &[("name", "Form Team"), ("default_role", "5")],
    )
    .await;
    for res in [&a, &b] {
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.detail());
        assert_eq!(res.json()["name"], "Form Team");
        assert_eq!(res.json()["default_role"], Role::Manager.as_i64());
    }
    let org = a.json()["id"].as_str().unwrap().to_owned();
    let [a, b] = both(
        &app,
        Method::PATCH,
        &format!("/api/organizations/{org}/"),
        &key,
        &[("scope", "@forms")],
    )
    .await;
    for res in [&a, &b] {
        assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
        assert_eq!(res.json()["scope"], "@forms");
    }
    let [a, _] = both(
        &app,
        Method::PUT,
        &format!("/api/organizations/{org}/"),
        &key,
        &[("name", "Renamed")],
    )
    .await;
    assert_eq!(a.json()["name"], "Renamed");

    // Groups and campaigns: create and rename.
    for kind in ["groups", "campaigns"] {
        let [a, b] = both(
            &app,
            Method::POST,
            &format!("/api/organizations/{org}/{kind}/"),
            &key,
            &[("name", &format!("{kind} one"))],
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.detail());
        // Group names are unique in a team; campaign names need not be.
        let second = if kind == "groups" {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::CREATED
        };
        assert_eq!(b.status, second, "{kind}: {}", b.json());
        let id = a.json()["id"].as_str().unwrap().to_owned();
        let path = match kind {
            "groups" => format!("/api/groups/{id}/"),
            _ => format!("/api/organizations/{org}/campaigns/{id}/"),
        };
        let [a, b] = both(&app, Method::PATCH, &path, &key, &[("name", "Renamed")]).await;
        for res in [&a, &b] {
            assert_eq!(res.status, StatusCode::OK, "{kind}: {}", res.detail());
            assert_eq!(res.json()["name"], "Renamed");
        }
        let [a, _] = both(&app, Method::PUT, &path, &key, &[("name", "Put")]).await;
        assert_eq!(a.status, StatusCode::OK, "{kind}: {}", a.detail());
        assert_eq!(a.json()["name"], "Put");
    }

    // A membership's role.
    let org_id = org.parse().unwrap();
    let (membership, _) = app.member(org_id, "bob@example.com", Role::Member).await;
    let [a, b] = both(
        &app,
        Method::PATCH,
        &format!("/api/memberships/{membership}/"),
        &key,
        &[("role", "5")],
    )
    .await;
    for res in [&a, &b] {
        assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
        assert_eq!(res.json()["role"], Role::Manager.as_i64());
    }

    // Service accounts, deployment keys, invitations.
    let [a, b] = both(
        &app,
        Method::POST,
        &format!("/api/organizations/{org}/serviceaccounts/"),
        &key,
        &[("name", "Sync"), ("role", "2")],
    )
    .await;
    for res in [&a, &b] {
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.detail());
        assert!(res.json()["token"].is_string());
    }
    let [a, b] = both(
        &app,
        Method::POST,
        &format!("/api/organizations/{org}/deployment-keys/"),
        &key,
        &[("name", "Kiosk")],
    )
    .await;
    for res in [&a, &b] {
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.detail());
    }
    let [a, b] = both(
        &app,
        Method::POST,
        &format!("/api/organizations/{org}/invitations/"),
        &key,
        &[("email", "carol@example.com"), ("role", "1")],
    )
    .await;
    for res in [&a, &b] {
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.detail());
        assert_eq!(res.json()["email"], "carol@example.com");
    }
}

#[tokio::test]
async fn forms_get_the_same_validation_and_messages() {
    let app = TestApp::new().await;
    let (org, key) = app.team("Acme").await;
    // Missing, blank and invalid fields: the errors a JSON body gets, field by field.
    let cases: [(&str, FormFields, Value); 4] = [
        (
            "/api/organizations/",
            &[],
            json!({"name": ["This field is required."]}),
        ),
        (
            "/api/organizations/",
            &[("name", "  ")],
            json!({"name": ["This field may not be blank."]}),
        ),
        (
            "/api/organizations/",
            &[("name", "X"), ("default_role", "9")],
            json!({"default_role": ["\"9\" is not a valid choice."]}),
        ),
        (
            "/api/organizations/",
            &[("name", "X"), ("scope", "Bad Scope")],
            json!({"scope": ["Enter a scope like @acme: '@', then lower-case letters, digits, '.', '_' or '-'."]}),
        ),
    ];
    for (path, fields, errors) in cases {
        for res in both(&app, Method::POST, path, &key, fields).await {
            assert_eq!(res.status, StatusCode::BAD_REQUEST, "{fields:?}");
            assert_eq!(res.json(), errors, "{fields:?}");
        }
    }
    let path = format!("/api/organizations/{org}/invitations/");
    for res in both(
        &app,
        Method::POST,
        &path,
        &key,
        &[("email", "not an email")],
    )
    .await
    {
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert!(res.json()["email"].is_array(), "{}", res.detail());
    }
    // Nothing was made by the refused requests.
    let res = app.get("/api/organizations/").key(&key).send().await;
    assert_eq!(res.json().as_array().unwrap().len(), 1);
    // A broken multipart body is a parse error, not a 500.
    let res = app
        .post("/api/organizations/")
        .key(&key)
        .raw("multipart/form-data; boundary=x", "no parts here")
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        res.json()["detail"]
            .as_str()
            .unwrap()
            .starts_with("Multipart form parse error")
    );
}

#[tokio::test]
async fn nested_payloads_stay_json_only() {
    let app = TestApp::new().await;
    let (org, key) = app.team("Acme").await;
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &key,
            json!({"name": "G"}),
        )
        .await;
    let campaign = app
        .created(
            &format!("/api/organizations/{org}/campaigns/"),
            &key,
            json!({"name": "C"}),
        )
        .await;
    let paths = [
        (Method::POST, format!("/api/groups/{group}/memberships/")),
        (Method::PUT, format!("/api/groups/{group}/memberships/")),
        (
            Method::POST,
            format!("/api/organizations/{org}/campaigns/{campaign}/members/"),
        ),
        (
            Method::PUT,
            format!("/api/organizations/{org}/campaigns/{campaign}/members/"),
        ),
    ];
    for (method, path) in paths {
        for res in both(
            &app,
            method.clone(),
            &path,
            &key,
            &[("email", "ann@example.com")],
        )
        .await
        {
            assert_eq!(
                res.status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{method} {path}"
            );
            assert!(
                res.json()["detail"]
                    .as_str()
                    .unwrap()
                    .contains("Unsupported media type")
            );
        }
    }
    // A campaign PUT from a form renames it and leaves its members alone.
    let path = format!("/api/organizations/{org}/campaigns/{campaign}/members/");
    let res = app
        .post(&path)
        .key(&key)
        .json(&json!([{"email": "admin@acme.example.com"}]))
        .send()
        .await;
    assert!(res.status.is_success(), "{} {}", res.status, res.json());
    let [a, _] = both(
        &app,
        Method::PUT,
        &format!("/api/organizations/{org}/campaigns/{campaign}/"),
        &key,
        &[("name", "C2"), ("users", "[]")],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.detail());
    let res = app.get(&path).key(&key).send().await;
    assert_eq!(res.json().as_array().unwrap().len(), 1);
}

/// A multipart form is held to the body limit of JSON (16 MiB by default), not to a smaller
/// one of its own: a 3 MiB file part (ignored) goes through.
#[tokio::test]
async fn a_large_multipart_form_is_read_whole() {
    let app = TestApp::new().await;
    let (_, key) = app.user("ann@example.com").await;
    let mut body = multipart(&[("name", "Big form")]);
    body.truncate(body.len() - format!("--{BOUNDARY}--\r\n").len());
    body.push_str(&format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\n{}\r\n--{BOUNDARY}--\r\n",
        "x".repeat(3 << 20)
    ));
    let res = app
        .post("/api/organizations/")
        .key(&key)
        .raw(&format!("multipart/form-data; boundary={BOUNDARY}"), body)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.detail());
    assert_eq!(res.json()["name"], "Big form");
}
