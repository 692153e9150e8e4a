//! Lists: version 2.0 pages with `X-Total-Count` and RFC 8288 `Link` headers (contract
//! section 1.2), and version 1.0 whole lists streamed chunk by chunk from keyset reads, so a
//! list of any size is served in flat memory.

use crate::error::{ApiError, ApiResult};
use crate::input::QueryParams;
use crate::limits::HeavyGate;
use crate::negotiate::ApiVersion;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::http::header::{CONTENT_TYPE, HOST, LINK};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use roster_core::store::Window;
use roster_core::{Store, StoreError, StoreResult};
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use tracing::Instrument;

pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Rows per keyset read when streaming a whole list.
pub const STREAM_CHUNK: u32 = 2000;
/// The largest `Link` header a page is served with.
pub const MAX_LINK_BYTES: usize = 8 * 1024;

static X_TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

#[derive(Clone, Copy, Debug)]
enum PageNumber {
    Number(u64),
    Last,
}

#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    page: PageNumber,
    size: u32,
}

impl PageRequest {
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The same request for page `number`.
    pub fn with_number(self, number: u64) -> PageRequest {
        PageRequest {
            page: PageNumber::Number(number),
            ..self
        }
    }

    /// The page asked for by number (`None` for `page=last`).
    pub fn number(&self) -> Option<u64> {
        match self.page {
            PageNumber::Number(n) => Some(n),
            PageNumber::Last => None,
        }
    }

    pub fn from_query(q: &QueryParams) -> ApiResult<Self> {
        let page = match q.get("page")? {
            None => PageNumber::Number(1),
            Some("last") => PageNumber::Last,
            Some(s) => PageNumber::Number(
                s.parse::<u64>()
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or(ApiError::InvalidPage)?,
            ),
        };
        let size = match q.get("page_size")? {
            None => DEFAULT_PAGE_SIZE,
            Some(s) => match s.parse::<i128>() {
                Ok(n) if n >= 1 => {
                    u32::try_from(n.min(i128::from(MAX_PAGE_SIZE))).unwrap_or(MAX_PAGE_SIZE)
                }
                Ok(_) => {
                    return Err(ApiError::field(
                        "page_size",
                        "Ensure this value is greater than or equal to 1.",
                    ));
                }
                Err(_) => return Err(ApiError::field("page_size", "A valid integer is required.")),
            },
        };
        Ok(PageRequest { page, size })
    }

    /// Resolves the page against the total: a page past the end is `Invalid page.`, except
    /// that the first page of an empty list is an empty page.
    pub fn resolve(self, total: u64) -> ApiResult<Page> {
        let size = u64::from(self.size);
        let last = total.div_ceil(size).max(1);
        let number = match self.page {
            PageNumber::Number(n) => n,
            PageNumber::Last => last,
        };
        if number > last {
            return Err(ApiError::InvalidPage);
        }
        Ok(Page {
            number,
            last,
            size: self.size,
            total,
        })
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Page {
    number: u64,
    last: u64,
    size: u32,
    total: u64,
}

impl Page {
    pub fn number(&self) -> u64 {
        self.number
    }

    pub fn size(&self) -> u32 {
        self.size
    }

    /// Page `number` of the same list.
    pub fn sibling(&self, number: u64) -> Page {
        Page { number, ..*self }
    }

    pub fn last(&self) -> u64 {
        self.last
    }

    /// The length of the list this is a page of.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// How many rows this page holds: its size, but for the last page what is left. A read
    /// that asks for no more than that stops at the list's last row instead of searching the
    /// rest of the table for rows that a filter will not match.
    pub fn rows(&self) -> u32 {
        let before = (self.number - 1).saturating_mul(u64::from(self.size));
        let left = self.total.saturating_sub(before);
        u32::try_from(left.min(u64::from(self.size))).unwrap_or(self.size)
    }

    pub fn window<C>(&self) -> Window<C> {
        self.window_of(self.size)
    }

    /// The rows from this page's start on, `limit` of them.
    pub fn window_of<C>(&self, limit: u32) -> Window<C> {
        Window::Page {
            offset: (self.number - 1) * u64::from(self.size),
            limit,
        }
    }

    /// The page as a JSON array with its `X-Total-Count` and `Link` headers.
    pub fn respond<T: Serialize>(&self, url: &RequestUrl, items: &[T]) -> ApiResult<Response> {
        let body = serde_json::to_vec(items).map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut response = json_bytes(StatusCode::OK, body);
        self.describe(url, response.headers_mut())?;
        Ok(response)
    }

    /// Sets the page's `X-Total-Count` and `Link` headers.
    pub fn describe(&self, url: &RequestUrl, headers: &mut HeaderMap) -> ApiResult<()> {
        headers.insert(X_TOTAL_COUNT.clone(), HeaderValue::from(self.total));
        let mut links = Vec::new();
        if self.number > 1 {
            links.push(format!("<{}>; rel=\"first\"", url.with_page(None)));
            let prev = (self.number > 2).then_some(self.number - 1);
            links.push(format!("<{}>; rel=\"prev\"", url.with_page(prev)));
        }
        if self.number < self.last {
            links.push(format!(
                "<{}>; rel=\"next\"",
                url.with_page(Some(self.number + 1))
            ));
            links.push(format!(
                "<{}>; rel=\"last\"",
                url.with_page(Some(self.last))
            ));
        }
        if !links.is_empty() {
            let links = links.join(", ");
            // Clients and proxies cut headers off at 8 KiB or so: a page whose links do not
            // fit is refused rather than served with links nobody can read.
            if links.len() > MAX_LINK_BYTES {
                return Err(ApiError::field(
                    "non_field_errors",
                    format!(
                        "The query is too long: the Link header of its pages would be {} bytes, \
                         over {MAX_LINK_BYTES}. Shorten the query.",
                        links.len()
                    ),
                ));
            }
            let value =
                HeaderValue::try_from(links).map_err(|e| ApiError::Internal(e.to_string()))?;
            headers.insert(LINK, value);
        }
        Ok(())
    }
}

/// The absolute URL of the request, for building `Link` headers.
pub struct RequestUrl {
    base: String,
    path: String,
    query: Vec<(String, String)>,
}

impl FromRequestParts<AppState> for RequestUrl {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let base = public_base(&parts.headers, &state.config);
        let QueryParams(query) = QueryParams::from_request_parts(parts, state).await?;
        Ok(RequestUrl {
            base,
            path: parts.uri.path().to_owned(),
            query,
        })
    }
}

/// The scheme and authority absolute URLs start with: the configured public URL, else
/// `http://` and the request's Host header.
pub fn public_base(headers: &axum::http::HeaderMap, config: &crate::state::HttpConfig) -> String {
    match &config.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| is_plain_host(h))
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

/// A Host header we are willing to echo into a URL: a name or address and a port, nothing
/// that could smuggle a path, credentials or header syntax.
fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

impl RequestUrl {
    /// The whole URL with page `number` (`None`: the last), as a cache key: responses carry
    /// absolute links built from it. `page=01`, `page=1` and no page are one key.
    pub fn page_key(&self, number: Option<u64>) -> String {
        match number {
            Some(n) => format!("{}#{n}", self.with_page(None)),
            None => format!("{}#last", self.with_page(None)),
        }
    }

    /// The query without its page and page size: which list, whatever the page.
    pub fn list_key(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.query {
            if k != "page" && k != "page_size" {
                query.append_pair(k, v);
            }
        }
        query.finish()
    }

    /// This URL with `page` replaced (or removed, for the first page); every other parameter
    /// is kept in its order.
    fn with_page(&self, page: Option<u64>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.query.iter().filter(|(k, _)| k != "page") {
            query.append_pair(k, v);
        }
        if let Some(page) = page {
            query.append_pair("page", &page.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            format!("{}{}", self.base, self.path)
        } else {
            format!("{}{}?{}", self.base, self.path, query)
        }
    }
}

pub fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

/// What a list request asks for: its version, its own URL (for `Link`) and its query.
pub struct Listing {
    version: ApiVersion,
    url: RequestUrl,
    query: QueryParams,
}

impl FromRequestParts<AppState> for Listing {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let Ok(version) = ApiVersion::from_request_parts(parts, state).await;
        Ok(Listing {
            version,
            url: RequestUrl::from_request_parts(parts, state).await?,
            query: QueryParams::from_request_parts(parts, state).await?,
        })
    }
}

impl Listing {
    /// For a list served as one body of nested rows: under 2.0 the page asked for, resolved
    /// against the list's `total` (404 past the end), and under 1.0 `None` (the whole list);
    /// page parameters are checked either way.
    pub async fn page(
        &self,
        total: impl Future<Output = StoreResult<u64>>,
    ) -> ApiResult<Option<Page>> {
        let page = PageRequest::from_query(&self.query)?;
        if !self.version.paginated() {
            return Ok(None);
        }
        Ok(Some(page.resolve(total.await?)?))
    }

    /// A 200 answer with `body`, and the page's headers when it is one.
    pub fn respond(&self, page: Option<&Page>, body: Body) -> ApiResult<Response> {
        let mut response = (
            StatusCode::OK,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response();
        if let Some(page) = page {
            page.describe(&self.url, response.headers_mut())?;
        }
        Ok(response)
    }

    /// Serves a list in the version asked for: a 2.0 page of `total` items, or the whole list
    /// streamed in keyset chunks (heavy past `HEAVY_ROWS`: `gate`). `read` reads one window
    /// from the store.
    pub async fn serve<T, C, F, Fut>(
        self,
        state: &AppState,
        total: impl Future<Output = StoreResult<u64>>,
        read: F,
        cursor: fn(&T) -> C,
        gate: HeavyGate,
    ) -> ApiResult<Response>
    where
        T: Serialize + Send + 'static,
        C: Send + 'static,
        F: Fn(Arc<dyn Store>, Window<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = StoreResult<Vec<T>>> + Send + 'static,
    {
        let store = state.store.clone();
        let fetch = move |window| read(store.clone(), window);
        // Page parameters are checked whichever version is asked for, so a bad one is never
        // silently ignored.
        let page = PageRequest::from_query(&self.query)?;
        if self.version.paginated() {
            let page = page.resolve(total.await?)?;
            let items = fetch(page.window()).await?;
            return page.respond(&self.url, &items);
        }
        stream_list(fetch, cursor, total, gate).await
    }
}

/// The whole list as one streamed JSON array, read in keyset chunks with `fetch`.
pub async fn stream_list<T, C, F, Fut>(
    fetch: F,
    cursor: fn(&T) -> C,
    total: impl Future<Output = StoreResult<u64>>,
    gate: HeavyGate,
) -> ApiResult<Response>
where
    T: Serialize + Send + 'static,
    C: Send + 'static,
    F: Fn(Window<C>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = StoreResult<Vec<T>>> + Send + 'static,
{
    stream_rows(b"[".to_vec(), b"]", fetch, cursor, total, gate).await
}

/// `head`, every row of a list as JSON array elements, then `tail`, streamed. The first chunk
/// is read before the response starts: when it is full, the list is counted, and a list of
/// more than `HEAVY_ROWS` rows needs one of the caller's heavy slots (else 429), held until
/// the stream ends.
pub async fn stream_rows<T, C, F, Fut>(
    head: Vec<u8>,
    tail: &'static [u8],
    fetch: F,
    cursor: fn(&T) -> C,
    total: impl Future<Output = StoreResult<u64>>,
    gate: HeavyGate,
) -> ApiResult<Response>
where
    T: Serialize + Send + 'static,
    C: Send + 'static,
    F: Fn(Window<C>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = StoreResult<Vec<T>>> + Send + 'static,
{
    let first = fetch(Window::After {
        cursor: None,
        limit: STREAM_CHUNK,
    })
    .await?;
    let permit = if first.len() >= STREAM_CHUNK as usize {
        gate.admit_rows(total.await?)?
    } else {
        gate.keep()
    };
    let mut first = Some(Chunk::of(first, cursor));
    let fetch = std::sync::Arc::new(fetch);
    Ok(stream_array(head, tail, move |after| {
        // Held for as long as the stream is read.
        let _permit = &permit;
        let (fetch, first) = (fetch.clone(), first.take());
        async move {
            if let Some(chunk) = first {
                return Ok(chunk);
            }
            let items = fetch(Window::After {
                cursor: after,
                limit: STREAM_CHUNK,
            })
            .await?;
            Ok(Chunk::of(items, cursor))
        }
    }))
}

/// One keyset read of a streamed list: its items and where the next read starts (`None` at
/// the end).
pub struct Chunk<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

impl<T, C> Chunk<T, C> {
    /// A full chunk may have more after it; a short one is the last.
    pub fn of(items: Vec<T>, cursor: impl Fn(&T) -> C) -> Self {
        let next = if items.len() >= STREAM_CHUNK as usize {
            items.last().map(cursor)
        } else {
            None
        };
        Chunk { items, next }
    }
}

enum Step<T, C> {
    Fetch(Option<C>),
    Ahead(ReadAhead<T, C>),
    Tail,
    End,
}

/// The next chunk, read by its own task while the current one is turned into JSON and
/// written out: the database and the serialising overlap instead of taking turns (a
/// million-member list streamed in 4.1 s, each chunk's read waiting for the last one's write).
/// Dropped with the stream when the client goes, it stops the read.
struct ReadAhead<T, C>(tokio::task::JoinHandle<StoreResult<Chunk<T, C>>>);

impl<T, C> Drop for ReadAhead<T, C> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A 200 response whose body is `head`, then the items of every chunk as one JSON array's
/// elements, then `tail`: `head` ends with `[` and `tail` starts with `]`. A storage failure
/// mid-stream can no longer change the status, so it is logged and the body cut short.
pub fn stream_array<T, C, F, Fut>(head: Vec<u8>, tail: &'static [u8], fetch: F) -> Response
where
    T: Serialize + Send + 'static,
    C: Send + 'static,
    F: FnMut(Option<C>) -> Fut + Send + 'static,
    Fut: Future<Output = StoreResult<Chunk<T, C>>> + Send + 'static,
{
    (
        StatusCode::OK,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        Body::from_stream(array_body(head, tail, fetch)),
    )
        .into_response()
}

/// The body of `stream_array`, to be served or nested in a larger stream.
pub fn array_body<T, C, F, Fut>(
    head: Vec<u8>,
    tail: &'static [u8],
    fetch: F,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    T: Serialize + Send + 'static,
    C: Send + 'static,
    F: FnMut(Option<C>) -> Fut + Send + 'static,
    Fut: Future<Output = StoreResult<Chunk<T, C>>> + Send + 'static,
{
    let state = (Step::Fetch(None), fetch, Some(head), true);
    futures_util::stream::unfold(
        state,
        move |(step, mut fetch, mut head, mut first)| async move {
            let read = match step {
                Step::End => return None,
                Step::Tail => {
                    return Some((
                        Ok(Bytes::from_static(tail)),
                        (Step::End, fetch, head, first),
                    ));
                }
                Step::Fetch(cursor) => fetch(cursor).await,
                Step::Ahead(mut ahead) => (&mut ahead.0)
                    .await
                    .unwrap_or_else(|e| Err(StoreError::Other(e.to_string()))),
            };
            match read {
                Ok(chunk) => {
                    let step = match chunk.next {
                        Some(c) => {
                            Step::Ahead(ReadAhead(tokio::spawn(fetch(Some(c)).in_current_span())))
                        }
                        None => Step::Tail,
                    };
                    let mut buf = head.take().unwrap_or_default();
                    for item in &chunk.items {
                        if !first {
                            buf.push(b',');
                        }
                        first = false;
                        if let Err(e) = serde_json::to_writer(&mut buf, item) {
                            tracing::error!(error = %e, "streamed list cut short");
                            return Some((
                                Err(std::io::Error::other(e)),
                                (Step::End, fetch, head, first),
                            ));
                        }
                    }
                    Some((Ok(Bytes::from(buf)), (step, fetch, head, first)))
                }
                Err(e) => {
                    tracing::error!(error = %e, "streamed list cut short");
                    Some((
                        Err(std::io::Error::other(e.to_string())),
                        (Step::End, fetch, head, first),
                    ))
                }
            }
        },
    )
}
