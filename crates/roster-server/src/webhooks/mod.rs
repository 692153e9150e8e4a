//! Sending webhooks: the HTTP client that delivers one signed message to an endpoint, with the
//! address checks that keep it off private networks, and the worker ([`worker`]) that walks
//! each endpoint through its team's change history. The rules (which URL, which address,
//! which messages, how signed, when retried) are `roster_core::webhooks`'s.

pub mod worker;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use roster_core::webhooks::{self as rules, Refusal, TIMEOUT, TargetHost};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The webhook settings of `roster serve`.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Whether endpoints on private, loopback and link-local addresses (and `http://`) are
    /// allowed: for receivers inside a private network, and for tests.
    pub allow_private: bool,
    /// The wait before the first retry of a failed message; doubled for each next one.
    pub retry_base: Duration,
    /// How long one message is retried before its endpoint is marked failing.
    pub retry_for: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allow_private: false,
            retry_base: Duration::from_millis(1000),
            retry_for: Duration::from_secs(24 * 3600),
        }
    }
}

/// What one try of a message came to.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    pub delivered: bool,
}

/// Delivers messages: one HTTP client for every endpoint, which resolves each host itself,
/// refuses it if any address it has is not public (unless allowed), and connects only to the
/// addresses it checked; no proxies, no redirects, a 10 s limit.
pub struct Deliverer {
    pub settings: Settings,
    /// The worker's client, or why it could not be built (its TLS set-up failed): then
    /// `roster serve` refuses to start, and a send says why it failed.
    client: Result<reqwest::Client, String>,
    /// The client of the sends an admin asks for (pings, redeliveries), whose name lookups
    /// share the node's bounded budget with the URL checks of registrations ([`LOOKUPS`]):
    /// what requests start cannot take the worker's lookups, nor these the worker's.
    asked: Result<reqwest::Client, String>,
}

/// Resolves host names for a client, keeping only names whose every address passes.
struct CheckedResolver {
    allow_private: bool,
    /// Lookups wait for a turn of [`LOOKUPS`] (requests' sends); the worker's are bounded by
    /// the endpoints it serves at once.
    bounded: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (allow_private, bounded) = (self.allow_private, self.bounded);
        Box::pin(async move {
            let addrs = resolve(name.as_str(), allow_private, bounded)
                .await
                .map_err(ResolveRefused)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// A host refused by the resolver, told apart from other failures in the delivery log.
#[derive(Debug)]
struct ResolveRefused(Refusal);

impl std::fmt::Display for ResolveRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ResolveRefused {}

/// The addresses of `host`, refused if there are none or any is not public; the refusal is
/// the same whichever (`rules::refused_host`).
async fn resolve(
    host: &str,
    allow_private: bool,
    bounded: bool,
) -> Result<Vec<SocketAddr>, Refusal> {
    let addrs = lookup(host, bounded).await;
    if addrs.is_empty()
        || !addrs
            .iter()
            .all(|a| rules::may_connect(a.ip(), allow_private))
    {
        return Err(rules::refused_host(host));
    }
    Ok(addrs)
}

/// System resolver calls that requests start (URL checks, pings, redeliveries) running at
/// once, node-wide. Each holds a thread of the blocking pool until the resolver answers, which
/// a name server that never answers makes minutes; giving up on the request (after
/// [`TIMEOUT`]) does not free it. Bounded, such names cost a few threads, not the pool every
/// blocking task of the node shares, and never the worker's lookups.
const LOOKUPS_AT_ONCE: usize = 16;
static LOOKUPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(LOOKUPS_AT_ONCE);

/// The addresses of `host` by the system's resolver, none if it cannot say within
/// [`TIMEOUT`] (waiting for a turn of [`LOOKUPS`] included, when `bounded`).
async fn lookup(host: &str, bounded: bool) -> Vec<SocketAddr> {
    let host = host.to_owned();
    let find = async move {
        let permit = if bounded {
            Some(LOOKUPS.acquire().await.ok()?)
        } else {
            None
        };
        let found = tokio::task::spawn_blocking(move || {
            // Freed when the resolver returns, not when the request stops waiting.
            let _turn = permit;
            std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), 0))
                .map(Iterator::collect::<Vec<_>>)
        });
        found.await.ok()?.ok()
    };
    tokio::time::timeout(TIMEOUT, find)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

impl Deliverer {
    pub fn new(settings: Settings) -> Self {
        let client = |bounded| {
            reqwest::Client::builder()
                .dns_resolver(Arc::new(CheckedResolver {
                    allow_private: settings.allow_private,
                    bounded,
                }))
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(TIMEOUT)
                .connect_timeout(TIMEOUT)
                .user_agent(concat!("Roster-Webhooks/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("cannot build the webhook client: {e}"))
        };
        let (worker, asked) = (client(false), client(true));
        Deliverer {
            settings,
            client: worker,
            asked,
        }
    }

    /// Whether messages can be sent: `Err` says why not.
    pub fn ready(&self) -> Result<(), String> {
        let both = self.client.as_ref().and(self.asked.as_ref());
        both.map(|_| ()).map_err(Clone::clone)
    }

    /// Checks an endpoint's URL as an admin registers it: its form, and every address its
    /// host has now. Nothing is connected to.
    pub async fn check(&self, url: &str) -> Result<(), Refusal> {
        let allow = self.settings.allow_private;
        let target = rules::check_url(url, allow)?;
        if let TargetHost::Name(host) = target.host {
            resolve(&host, allow, true).await?;
        }
        Ok(())
    }

    /// The worker's send: POSTs `body`, signed with `secrets` as message `id`, to `url`. The
    /// URL is checked again (an IP address written in it is not resolved, so its check is
    /// here).
    pub async fn send(&self, url: &str, secrets: &[String], id: Uuid, body: Vec<u8>) -> Attempt {
        self.send_with(&self.client, url, secrets, id, body).await
    }

    /// A send an admin asked for (a ping, a redelivery), as [`Deliverer::send`], its name
    /// lookup in the requests' bounded budget.
    pub async fn send_asked(
        &self,
        url: &str,
        secrets: &[String],
        id: Uuid,
        body: Vec<u8>,
    ) -> Attempt {
        self.send_with(&self.asked, url, secrets, id, body).await
    }

    async fn send_with(
        &self,
        client: &Result<reqwest::Client, String>,
        url: &str,
        secrets: &[String],
        id: Uuid,
        body: Vec<u8>,
    ) -> Attempt {
        let started = Instant::now();
        let failed = |error: String, started: Instant| Attempt {
            status_code: None,
            latency_ms: millis(started),
            error: Some(error),
            delivered: false,
        };
        if let Err(refused) = rules::check_url(url, self.settings.allow_private) {
            return failed(refused, started);
        }
        let client = match client {
            Ok(client) => client,
            Err(e) => return failed(e.clone(), started),
        };
        let timestamp = unix_seconds();
        let id = id.to_string();
        let signature = rules::signature(secrets, &id, timestamp, &body);
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                Attempt {
                    status_code: Some(status.as_u16()),
                    latency_ms: millis(started),
                    error: (!status.is_success())
                        .then(|| format!("the receiver answered {}", status.as_u16())),
                    delivered: status.is_success(),
                }
            }
            Err(e) => failed(describe(&e), started),
        }
    }
}

/// The time now in whole seconds since 1970, as `webhook-timestamp` says it.
fn unix_seconds() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A failed send in a few words: what went wrong, never the URL (its query may hold a
/// receiver's token) nor the network's own error text, which would make the delivery log a
/// port and TLS scanner for whoever can point a webhook somewhere.
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    if e.is_timeout() {
        return format!("no answer within {} s", TIMEOUT.as_secs());
    }
    let mut tls = false;
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<ResolveRefused>() {
            return refused.0.clone();
        }
        let text = cause.to_string().to_ascii_lowercase();
        tls |= text.contains("certificate") || text.contains("tls") || text.contains("handshake");
        source = cause.source();
    }
    match (e.is_connect(), tls) {
        (_, true) => "the TLS handshake failed".into(),
        (true, false) => "could not connect".into(),
        (false, false) => "the request failed".into(),
    }
}
