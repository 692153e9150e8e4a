//! The whole core SCIM User schema is kept: what Okta and Entra ID write (`locale`,
//! `nickName`, phone numbers, addresses, ...) is stored through POST, PUT and PATCH, value
//! filters included, and read back as sent, so the provider never sees a user that differs
//! from the one it wrote.

use crate::support::TestApp;
use axum::http::StatusCode;
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Every kept attribute of the core schema, as an identity provider might send them.
fn everything() -> Value {
    json!({
        "nickName": "Annie",
        "title": "Shift lead",
        "userType": "Employee",
        "preferredLanguage": "en-GB",
        "locale": "en-GB",
        "timezone": "Europe/London",
        "profileUrl": "https://people.acme.example/ann",
        "phoneNumbers": [
            {"value": "+44 20 7946 0000", "type": "work", "primary": true},
            {"value": "+44 7700 900000", "type": "mobile"}
        ],
        "ims": [{"value": "ann@xmpp.acme.example", "type": "xmpp"}],
        "photos": [{"value": "https://people.acme.example/ann.jpg", "type": "photo"}],
        "addresses": [{
            "formatted": "1 Main St\nLondon EC1A 1AA\nGB",
            "streetAddress": "1 Main St",
            "locality": "London",
            "postalCode": "EC1A 1AA",
            "country": "GB",
            "type": "work",
            "primary": true
        }],
        "entitlements": [{"value": "wfm-scheduler", "display": "Scheduler"}],
        "roles": [{"value": "supervisor", "primary": false}],
        "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"}]
    })
}

fn user(extra: &Value) -> Value {
    let mut body = json!({
        "schemas": [USER],
        "userName": "ann@acme.example",
        "emails": [{"value": "ann@acme.example", "type": "work", "primary": true}],
        "active": true
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn assert_kept(resource: &Value, sent: &Value) {
    for (k, v) in sent.as_object().unwrap() {
        assert_eq!(&resource[k], v, "{k} comes back as sent");
    }
}

async fn provisioned() -> (TestApp, String) {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let token = app.service_account(org, &admin, 2).await;
    (app, token)
}

#[tokio::test]
async fn post_put_and_get_keep_every_core_attribute() {
    let (app, token) = provisioned().await;
    let sent = everything();
    let res = app.scim(&token, "POST", "/Users", Some(user(&sent))).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.detail());
    let created = res.json();
    assert_kept(&created, &sent);
    let id = created["id"].as_str().unwrap().to_owned();
    let res = app.scim(&token, "GET", &format!("/Users/{id}"), None).await;
    assert_kept(&res.json(), &sent);

    // PUT replaces: what it leaves out is gone, what it changes is kept as sent.
    let changed = json!({"nickName": "Ann", "locale": "fr-FR", "phoneNumbers": [{"value": "+33 1 00 00 00 00", "type": "work"}]});
    let res = app
        .scim(&token, "PUT", &format!("/Users/{id}"), Some(user(&changed)))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    let replaced = res.json();
    assert_kept(&replaced, &changed);
    for gone in ["title", "addresses", "x509Certificates", "timezone"] {
        assert!(replaced.get(gone).is_none(), "{gone} is dropped by PUT");
    }
    // A string boolean, as Entra sends them, is kept as a boolean.
    let entra = json!({"phoneNumbers": [{"value": "1", "type": "work", "primary": "True"}]});
    let res = app
        .scim(&token, "PUT", &format!("/Users/{id}"), Some(user(&entra)))
        .await;
    assert_eq!(res.json()["phoneNumbers"][0]["primary"], json!(true));
}

#[tokio::test]
async fn patch_adds_replaces_and_removes_them_with_value_filters() {
    let (app, token) = provisioned().await;
    let res = app
        .scim(&token, "POST", "/Users", Some(user(&everything())))
        .await;
    let id = res.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/Users/{id}");
    let patch = |ops: Value| json!({"schemas": [PATCH_OP], "Operations": ops});
    let ops = json!([
        // Entra: capitalised ops, path-less replace of a singular attribute.
        {"op": "Replace", "value": {"nickName": "Nan"}},
        // Okta: replace by path.
        {"op": "replace", "path": "locale", "value": "de-DE"},
        // A value filter on one item's sub-attribute.
        {"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+44 7700 900123"},
        {"op": "remove", "path": "phoneNumbers[type eq \"work\"]"},
        {"op": "add", "path": "ims", "value": [{"value": "ann", "type": "skype"}]},
        {"op": "remove", "path": "title"},
        {"op": "add", "path": "addresses[type eq \"work\"].region", "value": "Greater London"}
    ]);
    let res = app.scim(&token, "PATCH", &path, Some(patch(ops))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    let read = app.scim(&token, "GET", &path, None).await.json();
    assert_eq!(read["nickName"], "Nan");
    assert_eq!(read["locale"], "de-DE");
    assert_eq!(
        read["phoneNumbers"],
        json!([{"value": "+44 7700 900123", "type": "mobile"}])
    );
    assert_eq!(
        read["ims"],
        json!([
            {"value": "ann@xmpp.acme.example", "type": "xmpp"},
            {"value": "ann", "type": "skype"}
        ])
    );
    assert!(read.get("title").is_none());
    assert_eq!(read["addresses"][0]["region"], "Greater London");
    assert_eq!(read["addresses"][0]["locality"], "London");
    // Untouched attributes stay as they were.
    assert_eq!(read["timezone"], "Europe/London");
    assert_eq!(read["roles"], everything()["roles"]);
}

#[tokio::test]
async fn bad_values_are_a_400_and_change_nothing() {
    let (app, token) = provisioned().await;
    let res = app
        .scim(
            &token,
            "POST",
            "/Users",
            Some(user(&json!({"locale": "en-US"}))),
        )
        .await;
    let id = res.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/Users/{id}");
    let many: Vec<Value> = (0..101).map(|i| json!({"value": format!("{i}")})).collect();
    for bad in [
        json!({"phoneNumbers": {"value": "1"}}),
        json!({"phoneNumbers": ["+1 555"]}),
        json!({"nickName": 7}),
        json!({"title": "a\u{0007}b"}),
        json!({"phoneNumbers": [{"value": "1", "primary": "maybe"}]}),
        json!({"roles": many}),
        json!({"locale": "x".repeat(1025)}),
    ] {
        let res = app.scim(&token, "PUT", &path, Some(user(&bad))).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(res.json()["scimType"], "invalidValue", "{bad}");
    }
    let read = app.scim(&token, "GET", &path, None).await.json();
    assert_eq!(read["locale"], "en-US");
    assert!(read.get("phoneNumbers").is_none());
}

#[tokio::test]
async fn schemas_list_every_attribute_kept() {
    let (app, _) = provisioned().await;
    let res = app.get(&format!("/scim/v2/Schemas/{USER}")).send().await;
    assert_eq!(res.status, StatusCode::OK);
    let schema = res.json();
    let names: Vec<&str> = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for kept in everything().as_object().unwrap().keys() {
        assert!(names.contains(&kept.as_str()), "{kept} is published");
    }
    let addresses = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "addresses")
        .unwrap();
    assert_eq!(addresses["multiValued"], true);
    let subs: Vec<&str> = addresses["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(subs.contains(&"postalCode") && subs.contains(&"formatted"));
}
