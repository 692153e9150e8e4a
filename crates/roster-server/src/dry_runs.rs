//! `?dry_run=true` is taken by the member lists of groups and campaigns (POST and PUT), which
//! make the change in its transaction, compare and roll back. Anywhere else a client asking for
//! a dry run would otherwise get the change made for real (DRF ignores query parameters it does
//! not know), so a write that names `dry_run` (or a near miss of it, `dry-run`, `dryrun`)
//! where none is offered is a 400 that changes nothing.

use crate::error::ApiError;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The routes whose writes take `dry_run`.
const OFFERED: &[&str] = &[
    "/api/groups/{id}/memberships/",
    "/api/organizations/{id}/campaigns/{cid}/members/",
];

pub async fn middleware(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    // `dry_run=false` (a client that always sends the flag) asks for no dry run.
    let asked = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .filter(|(_, v)| !matches!(v.as_ref(), "false" | "False" | "0"))
            .map(|(k, _)| k.into_owned())
            .find(|k| {
                let folded: String = k
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect::<String>()
                    .to_ascii_lowercase();
                folded == "dryrun"
            })
    });
    let Some(name) = asked else {
        return next.run(req).await;
    };
    // No route matched: the 404 says more than this would.
    let Some(route) = req.extensions().get::<MatchedPath>() else {
        return next.run(req).await;
    };
    let offered = OFFERED.contains(&route.as_str());
    if name == "dry_run" && offered {
        return next.run(req).await;
    }
    let message = if offered {
        format!("Unknown parameter {name:?}: the dry run is `dry_run`. Nothing was changed.")
    } else {
        "This request offers no dry run (only the member lists of groups and campaigns do). \
         Nothing was changed."
            .to_owned()
    };
    ApiError::field(&name, message).into_response()
}
