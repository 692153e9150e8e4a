//! What every handler shares: the store, the clock and the server settings.

use crate::page_cache::PageCache;
use roster_core::{Clock, Store};
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<HttpConfig>,
    /// Member-list pages by team data version.
    pub pages: Arc<PageCache>,
}

/// The settings the HTTP layer needs.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The base of absolute URLs in `Link` headers, e.g. `https://roster.example.com`; when
    /// unset, `http://` plus the request's Host header.
    pub public_url: Option<String>,
    /// Bodies larger than this are refused with 413 before parsing.
    pub max_body_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            max_body_bytes: 16 * 1024 * 1024,
        }
    }
}
