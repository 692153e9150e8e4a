//! Version 2.0 pages (`Link`, `X-Total-Count`, `Invalid page.`) and version 1.0 whole lists.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Role;
use roster_server::state::HttpConfig;
use serde_json::json;
use std::collections::HashSet;

#[tokio::test]
async fn links_are_absolute_keep_other_parameters_and_omit_edges() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    app.bulk_members(org, "p", 249, Role::Member).await;
    let base = format!("http://roster.test/api/organizations/{org}/memberships/");
    let list = |query: &str| format!("/api/organizations/{org}/memberships/?{query}");

    let res = app
        .get(&list("foo=a%20b&page_size=100"))
        .key(&admin)
        .v2()
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("x-total-count"), Some("250"));
    assert_eq!(res.json().as_array().unwrap().len(), 100);
    assert_eq!(
        res.header("link"),
        Some(format!("<{base}?foo=a+b&page_size=100&page=2>; rel=\"next\", <{base}?foo=a+b&page_size=100&page=3>; rel=\"last\"").as_str())
    );

    let res = app
        .get(&list("page=2&foo=a%20b&page_size=100"))
        .key(&admin)
        .v2()
        .send()
        .await;
    assert_eq!(
        res.header("link"),
        Some(format!(
            "<{base}?foo=a+b&page_size=100>; rel=\"first\", <{base}?foo=a+b&page_size=100>; rel=\"prev\", \
             <{base}?foo=a+b&page_size=100&page=3>; rel=\"next\", <{base}?foo=a+b&page_size=100&page=3>; rel=\"last\""
        ).as_str())
    );

    let res = app.get(&list("page=3")).key(&admin).v2().send().await;
    assert_eq!(res.json().as_array().unwrap().len(), 50);
    assert_eq!(
        res.header("link"),
        Some(format!("<{base}>; rel=\"first\", <{base}?page=2>; rel=\"prev\"").as_str())
    );
    let last = app.get(&list("page=last")).key(&admin).v2().send().await;
    assert_eq!(last.bytes, res.bytes, "page=last is the last page");

    // A single page has no links at all.
    let res = app
        .get(&list("page_size=1000"))
        .key(&admin)
        .v2()
        .send()
        .await;
    assert_eq!(
        (res.header("link"), res.json().as_array().unwrap().len()),
        (None, 250)
    );
}

#[tokio::test]
async fn invalid_pages_and_page_sizes() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    app.bulk_members(org, "p", 20, Role::Member).await;
    let list = |query: &str| format!("/api/organizations/{org}/memberships/?{query}");
    for page in [
        "page=4&page_size=10",
        "page=2",
        "page=0",
        "page=-1",
        "page=abc",
        "page=1.5",
        "page=99999999999999999999999",
        "page=18446744073709551615",
    ] {
        let res = app.get(&list(page)).key(&admin).v2().send().await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{page}");
        assert_eq!(res.detail(), "Invalid page.", "{page}");
    }
    for (size, message) in [
        ("abc", "A valid integer is required."),
        ("0", "Ensure this value is greater than or equal to 1."),
        ("-5", "Ensure this value is greater than or equal to 1."),
    ] {
        let res = app
            .get(&list(&format!("page_size={size}")))
            .key(&admin)
            .v2()
            .send()
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{size}");
        assert_eq!(res.json()["page_size"][0], message);
    }
    let res = app
        .get(&list("page=1&page=2"))
        .key(&admin)
        .v2()
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    // The first page of an empty result is an empty page, not an error.
    let res = app.get(&list("q=nobody")).key(&admin).v2().send().await;
    assert_eq!(
        (res.status, res.header("x-total-count")),
        (StatusCode::OK, Some("0"))
    );
    assert_eq!(res.json(), serde_json::json!([]));
}

#[tokio::test]
async fn walking_every_page_of_2500_members_yields_each_once_in_order() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    app.bulk_members(org, "w", 2499, Role::Restricted).await;
    let mut seen = Vec::new();
    let mut next = Some(format!(
        "/api/organizations/{org}/memberships/?page_size=100"
    ));
    while let Some(url) = next.take() {
        let res = app.get(&url).key(&admin).v2().send().await;
        assert_eq!(res.status, StatusCode::OK, "{url}");
        assert_eq!(res.header("x-total-count"), Some("2500"));
        for m in res.json().as_array().unwrap() {
            seen.push((
                m["user"]["email"].as_str().unwrap().to_lowercase(),
                m["id"].as_i64().unwrap(),
            ));
        }
        next = res.header("link").and_then(|link| {
            link.split(", ")
                .find(|l| l.ends_with("rel=\"next\""))
                .map(|l| {
                    l.trim_start_matches("<http://roster.test")
                        .split('>')
                        .next()
                        .unwrap()
                        .to_owned()
                })
        });
    }
    assert_eq!(seen.len(), 2500);
    let unique: HashSet<_> = seen.iter().map(|(_, id)| id).collect();
    assert_eq!(unique.len(), 2500, "each member exactly once");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "ordered by email, then id");

    // Pages asked for out of order, of a short list (read in blocks of pages) and of a long
    // one (read page by page), are each the right slice, with the right links.
    for size in [50usize, 20] {
        let pages = 2500usize.div_ceil(size);
        for n in [pages, 9, 1, 10, pages - 1, 17, 2, 8] {
            let res = app
                .get(&format!(
                    "/api/organizations/{org}/memberships/?page_size={size}&page={n}"
                ))
                .key(&admin)
                .v2()
                .send()
                .await;
            let got: Vec<i64> = res
                .json()
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_i64().unwrap())
                .collect();
            let want: Vec<i64> = seen[(n - 1) * size..(n * size).min(2500)]
                .iter()
                .map(|(_, id)| *id)
                .collect();
            assert_eq!(got, want, "page {n} of size {size}");
            let link = res.header("link").unwrap_or_default();
            assert_eq!(link.contains("rel=\"next\""), n < pages, "{link}");
            assert_eq!(link.contains("rel=\"prev\""), n > 1, "{link}");
        }
    }

    // The page size is clamped to 1000.
    let res = app
        .get(&format!(
            "/api/organizations/{org}/memberships/?page_size=5000"
        ))
        .key(&admin)
        .v2()
        .send()
        .await;
    assert_eq!(res.json().as_array().unwrap().len(), 1000);

    // Version 1.0 streams the same list whole, across several storage chunks.
    let whole = app
        .get(&format!("/api/organizations/{org}/memberships/"))
        .key(&admin)
        .send()
        .await;
    let whole: Vec<_> = whole
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"]["email"].as_str().unwrap().to_lowercase(),
                m["id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(whole, seen);
}

#[tokio::test]
async fn the_public_url_setting_is_the_link_base() {
    let app = TestApp::with_config(HttpConfig {
        public_url: Some("https://roster.example.com/".into()),
        ..HttpConfig::default()
    })
    .await;
    let (org, admin) = app.team("Acme").await;
    app.bulk_members(org, "p", 3, Role::Member).await;
    let res = app
        .get(&format!(
            "/api/organizations/{org}/memberships/?page_size=2"
        ))
        .key(&admin)
        .v2()
        .send()
        .await;
    let link = res.header("link").unwrap();
    assert!(
        link.starts_with(&format!(
            "<https://roster.example.com/api/organizations/{org}/memberships/?page_size=2&page=2>"
        )),
        "{link}"
    );
}

#[tokio::test]
async fn a_hostile_host_header_is_not_echoed_into_links() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    app.bulk_members(org, "p", 3, Role::Member).await;
    let res = app
        .get(&format!(
            "/api/organizations/{org}/memberships/?page_size=2"
        ))
        .key(&admin)
        .v2()
        .header("host", "evil.example.com/phish?x=")
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(!res.header("link").unwrap().contains("evil"));
}

#[tokio::test]
async fn page_parameters_are_checked_in_every_version() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    for query in ["page_size=0", "page_size=abc", "page=0"] {
        let res = app
            .get(&format!("/api/organizations/{org}/memberships/?{query}"))
            .key(&admin)
            .send()
            .await;
        assert!(res.status.is_client_error(), "{query}: {}", res.status);
    }
    let res = app
        .get(&format!(
            "/api/organizations/{org}/memberships/?page_size=5000"
        ))
        .key(&admin)
        .send()
        .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "a large size is clamped, not refused"
    );
}

/// Every list of a team pages under 2.0 as the member list does: `page_size` is honoured,
/// `Link` and `X-Total-Count` are sent, and past the end is `404 Invalid page.`, so a client
/// that walks pages until the 404 stops. Version 1.0 still gets the whole list.
#[tokio::test]
async fn every_list_pages_under_2_0() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Paged").await;
    let ops = app.operator().await;
    for n in 0..3 {
        let base = format!("/api/organizations/{org}");
        app.created(
            &format!("{base}/serviceaccounts/"),
            &admin,
            json!({"name": format!("sa{n}")}),
        )
        .await;
        app.created(
            &format!("{base}/deployment-keys/"),
            &admin,
            json!({"name": format!("dk{n}")}),
        )
        .await;
        app.created(
            &format!("{base}/invitations/"),
            &admin,
            json!({"email": format!("i{n}@x.test"), "role": 1}),
        )
        .await;
        app.created(
            &format!("{base}/email-domains/"),
            &ops,
            json!({"domain": format!("d{n}.paged.test")}),
        )
        .await;
    }
    for list in [
        "serviceaccounts",
        "deployment-keys",
        "invitations",
        "email-domains",
    ] {
        let path = format!("/api/organizations/{org}/{list}/");
        let mut seen = Vec::new();
        for page in 1..=2 {
            let res = app
                .get(&format!("{path}?page_size=2&page={page}"))
                .key(&admin)
                .v2()
                .send()
                .await;
            assert_eq!(res.status, StatusCode::OK, "{list} page {page}");
            assert_eq!(res.header("x-total-count"), Some("3"), "{list}");
            let link = res.header("link").unwrap_or_default();
            assert_eq!(link.contains("rel=\"next\""), page == 1, "{list}: {link}");
            let items = res.json();
            assert_eq!(
                items.as_array().unwrap().len(),
                if page == 1 { 2 } else { 1 },
                "{list}"
            );
            seen.extend(items.as_array().unwrap().iter().map(|i| i["id"].clone()));
        }
        seen.sort_by_key(|v| v.to_string());
        seen.dedup();
        assert_eq!(seen.len(), 3, "{list}: each item once");
        let past = app
            .get(&format!("{path}?page_size=2&page=3"))
            .key(&admin)
            .v2()
            .send()
            .await;
        assert_eq!(
            (past.status, past.detail()),
            (StatusCode::NOT_FOUND, "Invalid page.".to_owned()),
            "{list}"
        );
        let whole = app.get(&path).key(&admin).send().await.json();
        assert_eq!(
            whole.as_array().unwrap().len(),
            3,
            "{list}: 1.0 is the whole list"
        );
    }
}
