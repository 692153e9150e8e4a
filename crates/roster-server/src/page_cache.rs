//! Pages of member lists kept by the team's data version: a page computed at one version is
//! served again, byte for byte, while the version stays (the store bumps it in the same
//! transaction as any change the page could show). Reading the version before computing a
//! page means an entry never holds data older than its key says; entries of past versions
//! are never asked for again and go when the budget is spent.
//!
//! Pages are kept compressed (LZ4): a page of 100 members is about 51 KB of JSON and 6 KB
//! compressed, so the whole of a million-member list (10,000 pages) fits in the budget, and
//! a hit costs a decompression of some 15 µs where a read from the database costs 0.4 ms.
//!
//! The one thing a page shows that does not move the version is activity (`last_active_at`,
//! which every authenticated request may refresh): a page is served for at most `MAX_AGE`
//! (stretched per page, so that a list read in one burst is not read again in one burst),
//! and then read again.

use crate::error::{ApiError, ApiResult};
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::counter::Counter;
use roster_core::store::MembershipCursor;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// What the cache may hold in all, in bytes of compressed bodies (`roster serve
/// --page-cache-mib`): a million-member list and its largest filtered lists.
pub const DEFAULT_BUDGET: usize = 96 * 1024 * 1024;

/// How long a page may be served before it is read again, at the least: activity is recorded
/// once a minute, so a page is about as fresh as the figure it shows. Each page adds up to
/// half as long again, chosen by its key.
const MAX_AGE: Duration = Duration::from_secs(60);

pub struct PageCache {
    budget: usize,
    inner: Mutex<Inner>,
    /// Lookups that found a page, and that did not (`/metrics`).
    pub hits: Counter,
    pub misses: Counter,
}

/// A list's length and the end of each of its full pages (see
/// `Store::membership_page_ends`), so a page missing from the cache is one keyset read.
pub type PageEnds = (u64, Vec<MembershipCursor>);

/// How many lists' page ends are kept (each is a few bytes per page).
const MAX_LISTS: usize = 1024;

/// One list's page ends, computed once however many requests want them at the same time.
type SharedEnds = Arc<OnceCell<Arc<PageEnds>>>;

#[derive(Default)]
struct Inner {
    pages: HashMap<String, Arc<Page>>,
    bytes: usize,
    ends: HashMap<String, SharedEnds>,
    /// Pages being read, each by one request.
    reading: HashMap<String, Arc<OnceCell<Arc<Page>>>>,
    /// Blocks of pages being read, each by one request.
    filling: HashMap<String, Arc<OnceCell<()>>>,
    /// Counts hits: the pages served longest ago go first.
    clock: u64,
}

struct Page {
    headers: HeaderMap,
    /// The body, LZ4-compressed with its length in front.
    body: Box<[u8]>,
    /// When it was last served, on the cache's clock of hits.
    used: AtomicU64,
    /// Served until then; read again after.
    until: Instant,
}

impl PageCache {
    pub fn new(budget: usize) -> Self {
        PageCache {
            budget,
            inner: Mutex::new(Inner::default()),
            hits: Counter::default(),
            misses: Counter::default(),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves a map that is still whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The page ends of list `key`, from `compute` the first time. Requests that arrive
    /// while they are computed wait for that one computation (a whole-list pass can take a
    /// fifth of a second at 100,000 members; sixty-four of them at once would take seconds).
    pub async fn ends<E>(
        &self,
        key: String,
        compute: impl Future<Output = Result<PageEnds, E>>,
    ) -> Result<Arc<PageEnds>, E> {
        let cell = {
            let mut inner = self.inner();
            if inner.ends.len() >= MAX_LISTS && !inner.ends.contains_key(&key) {
                // One list goes, not all, and which one depends on the newcomer: whoever asks
                // for many lists does not make every other list (a team's unfiltered one above
                // all) pay its pass again, nor always the same one.
                let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(&key);
                let pick = usize::try_from(hash % MAX_LISTS as u64).unwrap_or(0);
                if let Some(any) = inner.ends.keys().nth(pick % inner.ends.len()).cloned() {
                    inner.ends.remove(&any);
                }
            }
            inner.ends.entry(key.clone()).or_default().clone()
        };
        let ends = cell
            .get_or_try_init(|| async { compute.await.map(Arc::new) })
            .await
            .cloned();
        if ends.is_err() {
            // A failed computation (a refused heavy slot, say) leaves no entry to count.
            let mut inner = self.inner();
            if inner
                .ends
                .get(&key)
                .is_some_and(|c| Arc::ptr_eq(c, &cell) && !c.initialized())
            {
                inner.ends.remove(&key);
            }
        }
        ends
    }

    /// The page kept under `key`, if there is one.
    pub fn get(&self, key: &str) -> Option<Response> {
        // Decompressed after the lock is let go.
        let found = self.inner().serve(key).map(|page| page.response());
        let count = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        count.inc();
        found
    }

    /// Keeps the pages `read` makes (each a key and a 200), once however many requests ask
    /// for block `block` at the same time: a list's first pass reads a block of neighbouring
    /// pages at a time (one keyset read), so a cold list costs a fraction of the reads and the
    /// requests queued behind them.
    pub async fn fill(
        &self,
        block: String,
        read: impl Future<Output = ApiResult<Vec<(String, Response)>>>,
    ) -> ApiResult<()> {
        let cell = self
            .inner()
            .filling
            .entry(block.clone())
            .or_default()
            .clone();
        let filled = cell
            .get_or_try_init(|| async {
                for (key, response) in read.await? {
                    self.keep(key, response).await?;
                }
                Ok::<_, ApiError>(())
            })
            .await
            .map(|_| ());
        let mut inner = self.inner();
        if inner
            .filling
            .get(&block)
            .is_some_and(|c| Arc::ptr_eq(c, &cell))
        {
            inner.filling.remove(&block);
        }
        filled
    }

    /// The page kept under `key`, else the one `read` makes, kept if it is a 200. Requests
    /// for a page that is being read wait for that read instead of making their own (the
    /// last page of a filtered list can take a tenth of a second; sixty-four of them at once
    /// starve the rest).
    pub async fn page(
        &self,
        key: String,
        read: impl Future<Output = ApiResult<Response>>,
    ) -> ApiResult<Response> {
        let cell = {
            let mut inner = self.inner();
            if let Some(page) = inner.serve(&key) {
                drop(inner);
                return Ok(page.response());
            }
            inner.reading.entry(key.clone()).or_default().clone()
        };
        let made = cell
            .get_or_try_init(|| async { self.keep(key.clone(), read.await?).await })
            .await
            .map(|page| page.response());
        // Whoever finishes first clears the entry; a failed read leaves nothing behind.
        let mut inner = self.inner();
        if inner
            .reading
            .get(&key)
            .is_some_and(|c| Arc::ptr_eq(c, &cell))
        {
            inner.reading.remove(&key);
        }
        made
    }

    /// Lets go of the pages and page ends whose keys start with `prefix` (one team's lists).
    /// Reads under way keep what they read. The pages are freed after the lock is let go:
    /// a million-member team's are ten thousand allocations, which readers need not wait on.
    pub fn forget(&self, prefix: &str) {
        let gone: Vec<(String, Arc<Page>)> = {
            let mut inner = self.inner();
            inner.ends.retain(|key, _| !key.starts_with(prefix));
            let gone: Vec<_> = inner
                .pages
                .extract_if(|key, _| key.starts_with(prefix))
                .collect();
            inner.bytes -= gone.iter().map(|(_, page)| page.body.len()).sum::<usize>();
            gone
        };
        drop(gone);
    }

    /// Reads a 200's body (one page) and keeps it; any other status becomes the error it was.
    async fn keep(&self, key: String, response: Response) -> ApiResult<Arc<Page>> {
        let (parts, body) = response.into_parts();
        if parts.status != StatusCode::OK {
            // Readers answer a page or an error; anything else is a bug here.
            return Err(ApiError::Internal(format!(
                "a page read answered {}",
                parts.status
            )));
        }
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|e| ApiError::Internal(format!("a page could not be read: {e}")))?;
        // An exact fit (`into_boxed_slice`): the budget counts what is held.
        let compressed = lz4_flex::compress_prepend_size(&body).into_boxed_slice();
        let mut inner = self.inner();
        let page = Arc::new(Page {
            headers: parts.headers,
            body: compressed,
            used: AtomicU64::new(inner.clock),
            until: Instant::now() + max_age(&key),
        });
        let size = page.body.len();
        if size <= self.budget / 16 {
            if inner.bytes + size > self.budget {
                inner.evict(self.budget / 4 * 3);
            }
            inner.bytes += size;
            if let Some(old) = inner.pages.insert(key, page.clone()) {
                inner.bytes -= old.body.len();
            }
        }
        Ok(page)
    }
}

/// `MAX_AGE` and up to half as long again, fixed for a key: the pages of a list read at one
/// moment are read again over half a minute, not all in the same second.
fn max_age(key: &str) -> Duration {
    let spread = BuildHasherDefault::<DefaultHasher>::default().hash_one(key) % 1024;
    MAX_AGE + MAX_AGE / 2 * u32::try_from(spread).unwrap_or(0) / 1024
}

impl Page {
    fn response(&self) -> Response {
        // The body was compressed here, from a page this process made: it always decompresses.
        let body = match lz4_flex::decompress_size_prepended(&self.body) {
            Ok(body) => body,
            Err(e) => return ApiError::Internal(format!("a kept page: {e}")).into_response(),
        };
        let mut response = (StatusCode::OK, Body::from(body)).into_response();
        *response.headers_mut() = self.headers.clone();
        response
    }
}

impl Inner {
    fn serve(&mut self, key: &str) -> Option<Arc<Page>> {
        self.clock += 1;
        let page = self.pages.get(key)?;
        if page.until <= Instant::now() {
            if let Some(old) = self.pages.remove(key) {
                self.bytes -= old.body.len();
            }
            return None;
        }
        page.used.store(self.clock, Ordering::Relaxed);
        Some(page.clone())
    }

    /// Drops the pages served longest ago until at most `keep` bytes remain: pages of past
    /// versions are never asked for again and go first, and the list being read now stays.
    fn evict(&mut self, keep: usize) {
        let mut by_use: Vec<(u64, String)> = self
            .pages
            .iter()
            .map(|(key, page)| (page.used.load(Ordering::Relaxed), key.clone()))
            .collect();
        by_use.sort_unstable();
        for (_, key) in by_use {
            if self.bytes <= keep {
                break;
            }
            if let Some(page) = self.pages.remove(&key) {
                self.bytes -= page.body.len();
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test failing
mod tests {
    use super::*;
    use bytes::Bytes;

    async fn served(cache: &PageCache, key: &str, text: &'static str) -> Bytes {
        let page = cache
            .page(key.to_owned(), async { Ok(text.into_response()) })
            .await
            .unwrap();
        axum::body::to_bytes(page.into_body(), usize::MAX)
            .await
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_page_is_served_for_its_age_then_read_again() {
        let cache = PageCache::new(DEFAULT_BUDGET);
        assert_eq!(served(&cache, "p", "first").await, "first");
        tokio::time::advance(MAX_AGE - Duration::from_secs(1)).await;
        assert_eq!(served(&cache, "p", "second").await, "first");
        tokio::time::advance(MAX_AGE / 2 + Duration::from_secs(1)).await;
        assert!(cache.get("p").is_none());
        assert_eq!(served(&cache, "p", "second").await, "second");
    }

    #[tokio::test]
    async fn forgetting_a_prefix_lets_go_of_its_pages_only() {
        let cache = PageCache::new(DEFAULT_BUDGET);
        served(&cache, "memberships a 7 page=1", "a1").await;
        served(&cache, "memberships a 7 page=2", "a2").await;
        served(&cache, "memberships b 3 page=1", "b1").await;
        let held = cache.inner().bytes;
        cache.forget("memberships a ");
        assert!(cache.get("memberships a 7 page=1").is_none());
        assert!(cache.get("memberships a 7 page=2").is_none());
        assert!(cache.get("memberships b 3 page=1").is_some());
        let inner = cache.inner();
        assert_eq!(inner.pages.len(), 1);
        assert!(inner.bytes < held);
        assert_eq!(
            inner.bytes,
            inner.pages.values().map(|p| p.body.len()).sum::<usize>()
        );
    }

    #[test]
    fn pages_of_a_list_expire_over_half_a_minute() {
        let ages: Vec<Duration> = (1..=200).map(|n| max_age(&format!("page={n}"))).collect();
        assert!(ages.iter().all(|&a| a >= MAX_AGE && a < MAX_AGE * 3 / 2));
        let (low, high) = (ages.iter().min().unwrap(), ages.iter().max().unwrap());
        assert!(*high - *low > MAX_AGE / 3, "{low:?}..{high:?}");
    }

    #[tokio::test]
    async fn a_failed_list_leaves_nothing_and_a_full_set_lets_one_go() {
        let cache = PageCache::new(1 << 20);
        let refused = cache.ends("refused".into(), async { Err::<PageEnds, _>("busy") });
        assert_eq!(refused.await.err(), Some("busy"));
        assert!(
            cache.inner().ends.is_empty(),
            "a refused pass counts for nothing"
        );
        for i in 0..MAX_LISTS {
            let ends = cache.ends(format!("list {i}"), async { Ok::<_, ()>((0, Vec::new())) });
            ends.await.unwrap();
        }
        let ends = cache.ends("one more".into(), async { Ok::<_, ()>((0, Vec::new())) });
        ends.await.unwrap();
        let inner = cache.inner();
        assert_eq!(inner.ends.len(), MAX_LISTS, "one went, not all");
        assert!(inner.ends.contains_key("one more"));
    }
}
