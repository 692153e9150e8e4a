//! The OpenAPI document and the page that renders it.

use crate::support::TestApp;
use axum::http::StatusCode;

#[tokio::test]
async fn the_schema_is_openapi_3_1_listing_every_path_and_method() {
    let app = TestApp::new().await;
    let res = app.get("/api/schema/").send().await;
    assert_eq!(res.status, StatusCode::OK);
    let doc = res.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let expected = [
        ("/api/organizations/", vec!["get", "post"]),
        (
            "/api/organizations/{id}/",
            vec!["get", "put", "patch", "delete"],
        ),
        ("/api/organizations/{id}/memberships/", vec!["get"]),
        ("/api/organizations/{id}/members/{user_id}/", vec!["get"]),
        (
            "/api/memberships/{id}/",
            vec!["get", "put", "patch", "delete"],
        ),
        ("/api/organizations/{id}/groups/", vec!["get", "post"]),
        ("/api/groups/{id}/", vec!["get", "put", "patch", "delete"]),
        ("/api/groups/{id}/memberships/", vec!["get", "post", "put"]),
        ("/api/groups/{id}/memberships/{mid}/", vec!["delete"]),
        (
            "/api/organizations/{id}/email-domains/",
            vec!["get", "post"],
        ),
        (
            "/api/organizations/{id}/email-domains/{did}/",
            vec!["delete"],
        ),
        ("/api/organizations/{id}/campaigns/", vec!["get", "post"]),
        (
            "/api/organizations/{id}/campaigns/{cid}/",
            vec!["get", "put", "patch", "delete"],
        ),
        (
            "/api/organizations/{id}/campaigns/{cid}/members/",
            vec!["get", "post", "put"],
        ),
        (
            "/api/organizations/{id}/serviceaccounts/",
            vec!["get", "post"],
        ),
        (
            "/api/organizations/{id}/serviceaccounts/{sid}/",
            vec!["get", "delete"],
        ),
        (
            "/api/organizations/{id}/serviceaccounts/{sid}/rotate/",
            vec!["post"],
        ),
        (
            "/api/organizations/{id}/deployment-keys/",
            vec!["get", "post"],
        ),
        (
            "/api/organizations/{id}/deployment-keys/{kid}/",
            vec!["get", "delete"],
        ),
        ("/api/organizations/{id}/invitations/", vec!["get", "post"]),
        ("/api/organizations/{id}/invitations/{iid}/", vec!["delete"]),
        ("/api/invitations/accept/", vec!["post"]),
        ("/api/invitations/me/", vec!["get"]),
        ("/api/invitations/{iid}/accept/", vec!["post"]),
        ("/api/invitations/{iid}/reject/", vec!["post"]),
        ("/api/me/", vec!["get"]),
        ("/api/me/key/", vec!["post"]),
        ("/api/health/", vec!["get"]),
        ("/api/health/ready/", vec!["get"]),
        ("/api/audit/organizations/{id}/", vec!["get"]),
        ("/api/organizations/{id}/webhooks/", vec!["get", "post"]),
        (
            "/api/organizations/{id}/webhooks/{wid}/",
            vec!["get", "put", "patch", "delete"],
        ),
        (
            "/api/organizations/{id}/webhooks/{wid}/rotate-secret/",
            vec!["post"],
        ),
        ("/api/organizations/{id}/webhooks/{wid}/ping/", vec!["post"]),
        (
            "/api/organizations/{id}/webhooks/{wid}/deliveries/",
            vec!["get"],
        ),
        (
            "/api/organizations/{id}/webhooks/{wid}/deliveries/{did}/redeliver/",
            vec!["post"],
        ),
        ("/api/audit/groups/{id}/", vec!["get"]),
    ];
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        expected.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, methods) in expected {
        let item = &paths[path];
        for method in methods {
            let op = &item[method];
            assert!(op.is_object(), "{method} {path}");
            assert!(
                op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .any(|s| s.starts_with('2')),
                "{method} {path}"
            );
            // The key and secret rotations, webhook pings and redeliveries, and the answers
            // to one's own invitation take no body.
            let bodyless = path.ends_with("/rotate/")
                || path.ends_with("/rotate-secret/")
                || path.ends_with("/ping/")
                || path.ends_with("/redeliver/")
                || path == "/api/me/key/"
                || path.starts_with("/api/invitations/{iid}/");
            if matches!(method, "post" | "put" | "patch") && !bodyless {
                assert!(
                    op["requestBody"].is_object(),
                    "{method} {path} documents its body"
                );
                assert!(op["responses"]["415"].is_object());
            }
            if !path.starts_with("/api/health/") && path != "/api/invitations/accept/" {
                assert!(op["responses"]["401"].is_object(), "{method} {path}");
            }
        }
    }
    for schema in [
        "Membership",
        "User",
        "OrganizationDetail",
        "ErrorDetail",
        "ValidationErrors",
        "Me",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

#[tokio::test]
async fn the_docs_page_renders_from_embedded_assets() {
    let app = TestApp::new().await;
    // (`/api/docs` redirects here: front.rs)
    for path in ["/api/docs/"] {
        let res = app.get(path).send().await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        let html = String::from_utf8_lossy(&res.bytes);
        assert!(html.contains("swagger-ui"), "{path}");
        assert!(
            !html.contains("https://"),
            "no asset comes from the network"
        );
    }
    let init = app.get("/api/docs/swagger-initializer.js").send().await;
    assert_eq!(init.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&init.bytes).contains("/api/schema/"));
    let bundle = app.get("/api/docs/swagger-ui-bundle.js").send().await;
    assert_eq!(bundle.status, StatusCode::OK);
    assert!(bundle.bytes.len() > 100_000);
}

/// Every body of every operation, asked and answered, has an example; every list documents
/// its page headers; the license is the one the project ships.
#[tokio::test]
async fn every_operation_has_examples_and_every_list_its_page_headers() {
    let app = TestApp::new().await;
    let doc = app.get("/api/schema/").send().await.json();
    assert_eq!(doc["info"]["license"]["identifier"], "Apache-2.0");
    let description = doc["info"]["description"].as_str().unwrap();
    assert!(
        description.contains("application/json; version=2.0"),
        "{description}"
    );
    let mut lists = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
            for (kind, content) in op["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                assert!(
                    !content["example"].is_null(),
                    "{name}: request {kind} has no example"
                );
            }
            let responses = op["responses"].as_object().unwrap();
            let answered = responses
                .iter()
                .filter(|(status, _)| status.starts_with('2'))
                .flat_map(|(_, r)| r["content"].as_object().into_iter().flatten());
            for (kind, content) in answered {
                assert!(
                    !content["example"].is_null(),
                    "{name}: response {kind} has no example"
                );
            }
            let paged = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "page"));
            if paged {
                lists += 1;
                let ok = &responses["200"]["headers"];
                assert!(
                    ok["Link"].is_object() && ok["X-Total-Count"].is_object(),
                    "{name}"
                );
            }
        }
    }
    assert_eq!(lists, 14, "every list takes pages");
}

/// The writes whose fields are flat document their form bodies; member lists stay JSON.
#[tokio::test]
async fn flat_writes_document_their_form_bodies() {
    let app = TestApp::new().await;
    let doc = app.get("/api/schema/").send().await.json();
    let kinds = |path: &str, method: &str| -> Vec<String> {
        let content = &doc["paths"][path][method]["requestBody"]["content"];
        let mut kinds: Vec<String> = content.as_object().unwrap().keys().cloned().collect();
        kinds.sort();
        kinds
    };
    let forms = [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ];
    for (path, method) in [
        ("/api/organizations/", "post"),
        ("/api/organizations/{id}/", "patch"),
        ("/api/groups/{id}/", "put"),
        ("/api/memberships/{id}/", "patch"),
        ("/api/organizations/{id}/invitations/", "post"),
        ("/api/organizations/{id}/email-domains/", "post"),
    ] {
        assert_eq!(kinds(path, method), forms, "{method} {path}");
    }
    assert_eq!(
        kinds("/api/groups/{id}/memberships/", "put"),
        ["application/json"]
    );
}

/// Every authenticated write documents the `Idempotency-Key` header and its 409 and 422.
#[tokio::test]
async fn writes_document_idempotency_keys() {
    let app = TestApp::new().await;
    let doc = app.get("/api/schema/").send().await.json();
    let mut writes = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["post", "put", "patch", "delete"] {
            let op = &item[method];
            if op.is_null() || path == "/api/invitations/accept/" {
                continue;
            }
            writes += 1;
            let params = op["parameters"].as_array().unwrap();
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
                "{method} {path}"
            );
            for status in ["409", "422"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} {status}"
                );
            }
        }
    }
    assert!(writes > 20, "{writes}");
}
