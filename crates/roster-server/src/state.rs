//! What every handler shares: the store, the clock and the server settings.

use crate::page_cache::PageCache;
use crate::recall::Recall;
use roster_core::{Clock, Store};
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<HttpConfig>,
    /// Member-list pages by team data version.
    pub pages: Arc<PageCache>,
    /// Keys' holders, roles and team versions while nothing changed.
    pub recall: Arc<Recall>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: HttpConfig) -> Self {
        AppState {
            recall: Arc::new(Recall::new(store.changes())),
            pages: Arc::new(PageCache::new(config.page_cache_bytes)),
            store,
            clock,
            config: Arc::new(config),
        }
    }
}

/// The settings the HTTP layer needs.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The base of absolute URLs in `Link` headers, e.g. `https://roster.example.com`; when
    /// unset, `http://` plus the request's Host header.
    pub public_url: Option<String>,
    /// Bodies larger than this are refused with 413 before parsing.
    pub max_body_bytes: usize,
    /// What the member-list page cache may hold, in bytes of bodies.
    pub page_cache_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            max_body_bytes: 16 * 1024 * 1024,
            page_cache_bytes: crate::page_cache::DEFAULT_BUDGET,
        }
    }
}
