//! What every handler shares: the store, the clock and the server settings.

use crate::limits::{Heavy, RateLimits};
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::page_cache::PageCache;
use crate::recall::Recall;
use crate::scim::creates::Creates;
use crate::scim::turns::Turns;
use crate::webhooks::{Deliverer, Settings as WebhookSettings};
use roster_core::{Clock, Store};
use std::sync::Arc;

/// Cloned for every request, by each layer and handler of the router: one `Arc`, so a clone
/// is one atomic increment, not one per field (eleven increments and as many decrements a
/// clone cost 9 % of a cached page's CPU, on counters both cores write).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

#[derive(Clone)]
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<HttpConfig>,
    /// Member-list pages by team data version.
    pub pages: Arc<PageCache>,
    /// Keys' holders, roles and team versions while nothing changed.
    pub recall: Arc<Recall>,
    /// Request rates per key.
    pub limits: Arc<RateLimits>,
    /// Heavy requests running per key holder.
    pub heavy: Arc<Heavy>,
    /// SCIM user creates, gathered into batches.
    pub creates: Arc<Creates>,
    /// SCIM rewrites of one person, one at a time on this node.
    pub scim_turns: Arc<Turns>,
    /// Sends invitation tokens by email (`--smtp-url`), if set.
    pub mailer: Option<Arc<Mailer>>,
    /// What `/metrics` shows.
    pub metrics: Arc<Metrics>,
    /// Sends webhook messages (pings and redeliveries from here; the worker shares it).
    pub webhooks: Arc<Deliverer>,
}

impl AppState {
    /// This state, mailing invitations with `mailer`.
    pub fn with_mailer(mut self, mailer: Mailer) -> Self {
        Arc::make_mut(&mut self.0).mailer = Some(Arc::new(mailer));
        self
    }

    /// This state, with `/metrics` asking scrapers for `token`.
    pub fn with_metrics_token(mut self, token: String) -> Self {
        let metrics = Metrics::new(&self.pages).with_token(token);
        Arc::make_mut(&mut self.0).metrics = Arc::new(metrics);
        self
    }

    /// This state, sending webhooks with `settings`.
    pub fn with_webhooks(mut self, settings: WebhookSettings) -> Self {
        Arc::make_mut(&mut self.0).webhooks = Arc::new(Deliverer::new(settings));
        self
    }

    /// Where the heavy requests of `holder` (a key's holder) in `team` (if one) count.
    pub fn gate(&self, holder: uuid::Uuid, team: Option<uuid::Uuid>) -> crate::limits::HeavyGate {
        crate::limits::HeavyGate::new(self.heavy.clone(), holder, team)
    }

    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: HttpConfig) -> Self {
        let pages = PageCache::new(config.page_cache_bytes);
        AppState(Arc::new(Shared {
            recall: Arc::new(Recall::new(store.changes())),
            metrics: Arc::new(Metrics::new(&pages)),
            pages: Arc::new(pages),
            limits: Arc::new(RateLimits::new(config.rate_limit, config.rate_burst)),
            heavy: Arc::new(Heavy::new(config.max_heavy_per_key)),
            creates: Arc::new(Creates::new(store.clone())),
            scim_turns: Arc::default(),
            mailer: None,
            webhooks: Arc::new(Deliverer::new(WebhookSettings::default())),
            store,
            clock,
            config: Arc::new(config),
        }))
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
    /// The most items one member payload (group or campaign members) may hold.
    pub max_items: usize,
    /// Requests a second one key may make on this node (0: no limit).
    pub rate_limit: u32,
    /// Requests one key may make at once before the rate applies.
    pub rate_burst: u32,
    /// Heavy requests one key holder may have running at once (0: no cap).
    pub max_heavy_per_key: usize,
}

/// The defaults of the settings, written once: `HttpConfig::default()` and the command
/// line's flags both read them.
pub mod defaults {
    pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
    pub const MAX_ITEMS: usize = 200_000;
    pub const RATE_LIMIT: u32 = 1000;
    pub const RATE_BURST: u32 = 2000;
    pub const MAX_HEAVY_PER_KEY: usize = 4;
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            max_body_bytes: defaults::MAX_BODY_BYTES,
            page_cache_bytes: crate::page_cache::DEFAULT_BUDGET,
            max_items: defaults::MAX_ITEMS,
            rate_limit: defaults::RATE_LIMIT,
            rate_burst: defaults::RATE_BURST,
            max_heavy_per_key: defaults::MAX_HEAVY_PER_KEY,
        }
    }
}
