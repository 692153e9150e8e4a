//! Pages of member lists kept by the team's data version: a page computed at one version is
//! served again, byte for byte, while the version stays (the store bumps it in the same
//! transaction as any change the page could show). Reading the version before computing a
//! page means an entry never holds data older than its key says; entries of past versions
//! are never asked for again and go when the budget is spent.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use roster_core::store::MembershipCursor;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the cache may hold in all, in bytes of bodies.
pub const DEFAULT_BUDGET: usize = 32 * 1024 * 1024;

pub struct PageCache {
    budget: usize,
    inner: Mutex<Inner>,
}

/// A list's length and the end of each of its full pages (see
/// `Store::membership_page_ends`), so a page missing from the cache is one keyset read.
pub type PageEnds = (u64, Vec<MembershipCursor>);

/// How many lists' page ends are kept (each is a few bytes per page).
const MAX_LISTS: usize = 1024;

#[derive(Default)]
struct Inner {
    pages: HashMap<String, Arc<Page>>,
    bytes: usize,
    ends: HashMap<String, Arc<PageEnds>>,
}

struct Page {
    headers: HeaderMap,
    body: Bytes,
}

impl PageCache {
    pub fn new(budget: usize) -> Self {
        PageCache {
            budget,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves a map that is still whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn ends(&self, key: &str) -> Option<Arc<PageEnds>> {
        self.inner().ends.get(key).cloned()
    }

    pub fn keep_ends(&self, key: String, ends: Arc<PageEnds>) {
        let mut inner = self.inner();
        if inner.ends.len() >= MAX_LISTS {
            inner.ends.clear();
        }
        inner.ends.insert(key, ends);
    }

    /// The kept response for `key`, if any.
    pub fn get(&self, key: &str) -> Option<Response> {
        let page = self.inner().pages.get(key).cloned()?;
        let mut response = (StatusCode::OK, Body::from(page.body.clone())).into_response();
        *response.headers_mut() = page.headers.clone();
        Some(response)
    }

    /// Keeps a 200 response under `key` (reading its body, which is one page) and returns it.
    pub async fn keep(&self, key: String, response: Response) -> Response {
        if response.status() != StatusCode::OK {
            return response;
        }
        let (parts, body) = response.into_parts();
        let body = match axum::body::to_bytes(body, self.budget).await {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(error = %e, "a page could not be read for the cache");
                return (StatusCode::INTERNAL_SERVER_ERROR, "").into_response();
            }
        };
        if body.len() <= self.budget / 16 {
            let mut inner = self.inner();
            if inner.bytes + body.len() > self.budget {
                inner.pages.clear();
                inner.bytes = 0;
            }
            inner.bytes += body.len();
            let page = Page {
                headers: parts.headers.clone(),
                body: body.clone(),
            };
            inner.pages.insert(key, Arc::new(page));
        }
        Response::from_parts(parts, Body::from(body))
    }
}

impl Default for PageCache {
    fn default() -> Self {
        PageCache::new(DEFAULT_BUDGET)
    }
}
