//! Webhooks: what an endpoint may be (its URL, the event types it takes), how one event of
//! the change history becomes the messages sent to it (member lists in batches of at most
//! [`BATCH`] people), how a message is signed (the Standard Webhooks scheme) and when a failed
//! one is tried again. Pure rules; the server resolves, connects and sends.

use crate::audit::AuditEvent;
use crate::timestamp::Timestamp;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;
use uuid::Uuid;

/// The most people one message names: a 100,000-person change is 100 messages.
pub const BATCH: usize = 1000;
/// The most endpoints one team may have: each is served in order, one message at a time, and
/// a slow one holds a delivery slot for up to 10 s a try.
pub const MAX_PER_TEAM: u64 = 20;
/// The most event types one endpoint names.
pub const MAX_EVENT_TYPES: usize = 64;
/// The longest URL accepted.
pub const MAX_URL: usize = 2048;
/// How long one delivery may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// An answer slower than this (a failed try's included) marks its endpoint slow for
/// [`SLOW_FOR`]: a slow endpoint's turn ends after that message, it is claimed after every
/// endpoint that is not, and it never takes the last slots of a node, so receivers that hold
/// each try for seconds cannot keep other teams' messages waiting.
pub const SLOW: Duration = Duration::from_secs(2);
/// How long an endpoint counts as slow after a slow answer.
pub const SLOW_FOR: Duration = Duration::from_secs(600);

/// Whether a try that took `latency_ms` was slow ([`SLOW`]).
pub fn is_slow(latency_ms: u64) -> bool {
    u128::from(latency_ms) > SLOW.as_millis()
}

/// The longest wait between two tries of one message.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);
/// How long a rotated-out secret still signs, beside the new one, so receivers can switch.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// Every type a message can have; an endpoint names some of them, `<kind>.*`, or `*`.
pub const EVENT_TYPES: &[&str] = &[
    "organization.updated",
    "membership.created",
    "membership.updated",
    "membership.deleted",
    "membership.imported",
    "group.created",
    "group.updated",
    "group.deleted",
    "group_membership.added",
    "group_membership.removed",
    "campaign.created",
    "campaign.updated",
    "campaign.deleted",
    "campaign_member.added",
    "campaign_member.removed",
    "campaign_member.updated",
    "service_account.created",
    "service_account.rotated",
    "service_account.deleted",
    "deployment_key.created",
    "deployment_key.deleted",
    "invitation.created",
    "invitation.revoked",
    "invitation.accepted",
    "invitation.rejected",
    "email_domain.created",
    "email_domain.deleted",
    "webhook.created",
    "webhook.updated",
    "webhook.deleted",
    "webhook.ping",
];

/// An endpoint that receives a team's events.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    /// The event types it receives: names from the list in docs/API.md, `<kind>.*`, or `*`.
    pub events: Vec<String>,
    /// Whether events are sent to it (an admin's switch).
    pub active: bool,
    pub description: String,
    /// Since when it has failed every try of one message for the retry window; nothing is
    /// sent to it until an admin's ping succeeds or they set `active` again.
    pub failing_since: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The signing secret: only in the answer that creates or rotates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A new endpoint.
#[derive(Clone)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub description: String,
    pub secret: String,
}

/// What an admin sets on an endpoint; `None` keeps the present value.
#[derive(Clone, Debug, Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
    pub description: Option<String>,
}

/// One try to deliver a message, as the delivery log shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub event: DeliveredEvent,
    /// 1 for the first try of a message, counting up with each retry; a redelivery or ping
    /// an admin asks for is a try of its own (`manual`).
    pub attempt: u32,
    /// The receiver's answer, null when there was none (refused, timed out).
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// Whether the receiver took it (a 2xx answer).
    pub delivered: bool,
    pub manual: bool,
    pub created_at: Timestamp,
    #[serde(skip)]
    pub source: Source,
}

/// The message a delivery carried.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveredEvent {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
}

/// Where a delivered message came from, to send it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Source {
    /// Part `part` of the history's event at `seq`.
    Event { seq: i64, part: u32 },
    /// A ping.
    #[default]
    Ping,
}

/// A delivery to write to the log.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub webhook: Uuid,
    pub message: Uuid,
    pub kind: String,
    pub source: Source,
    pub attempt: u32,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    pub delivered: bool,
    pub manual: bool,
    pub at: Timestamp,
}

/// An endpoint a worker holds for a while (its lease), with what it needs to send to it.
#[derive(Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub org: Uuid,
    pub url: String,
    pub events: Vec<String>,
    /// The signing secrets: the current one, and a rotated-out one while it still signs.
    pub secrets: Vec<String>,
    /// Where it stands: every event up to `after` is done, and the first `part` messages of
    /// the next one.
    pub after: i64,
    pub part: u32,
    /// Tries of the next message so far, and when its first try failed.
    pub attempts: u32,
    pub failed_since: Option<Timestamp>,
    /// It answered slowly lately ([`SLOW`]).
    pub slow: bool,
}

// Shown without their secrets, should either ever be logged.
impl std::fmt::Debug for NewWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhook")
            .field("url", &label(&self.url))
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("id", &self.id)
            .field("after", &self.after)
            .field("part", &self.part)
            .finish_non_exhaustive()
    }
}

/// What became of a claimed endpoint's next message, to store with the delivery.
#[derive(Clone, Debug)]
pub enum Progress {
    /// Done (or skipped): the endpoint now stands at (`after`, `part`).
    Moved { after: i64, part: u32 },
    /// Failed: try again at `retry_at`; `failed_since` is when its first try failed.
    Retry {
        retry_at: Timestamp,
        failed_since: Timestamp,
        attempts: u32,
    },
    /// Failed for the whole retry window: the endpoint is failing from now.
    GiveUp,
}

/// Why an endpoint is refused.
pub type Refusal = String;

/// The parts of a URL that delivery needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub host: TargetHost,
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetHost {
    Name(String),
    Ip(IpAddr),
}

/// Checks the form of an endpoint's URL: `https://` (or `http://` where private addresses
/// are allowed, for receivers on a private network), a host, no user name or password, at
/// most [`MAX_URL`] characters, and an address that is public unless `allow_private`. A host
/// name's addresses are checked after it is resolved ([`is_public`]).
pub fn check_url(raw: &str, allow_private: bool) -> Result<Target, Refusal> {
    if raw.len() > MAX_URL {
        return Err(format!(
            "Ensure this field has no more than {MAX_URL} characters."
        ));
    }
    let url = url::Url::parse(raw).map_err(|_| "Enter a valid URL.".to_owned())?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => {
            return Err("The URL must use https:// (http:// is allowed only with \
                 --webhooks-allow-private)."
                .into());
        }
        _ => return Err("The URL must use https://.".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("The URL must not carry a user name or password.".into());
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| "Enter a valid URL.".to_owned())?;
    let host = match url.host() {
        Some(url::Host::Domain(name)) => TargetHost::Name(name.to_owned()),
        Some(url::Host::Ipv4(ip)) => TargetHost::Ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => TargetHost::Ip(IpAddr::V6(ip)),
        None => return Err("Enter a valid URL.".into()),
    };
    if let TargetHost::Ip(ip) = host
        && !may_connect(ip, allow_private)
    {
        return Err(format!(
            "The address {ip} is private, loopback, link-local or reserved; \
             webhooks are sent only to public addresses."
        ));
    }
    Ok(Target { host, port })
}

/// How the history and the delivery log name an endpoint: its URL's host and port, never its
/// path or query, which may carry a receiver's token.
pub fn label(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            _ => String::new(),
        },
        Err(_) => String::new(),
    }
}

/// Whether delivery may connect to `ip`: a public address, or any where private ones are
/// allowed.
pub fn may_connect(ip: IpAddr, allow_private: bool) -> bool {
    allow_private || is_public(ip)
}

/// The refusal of a host name that does not resolve, or resolves to an address delivery may
/// not connect to: one answer for both, which says neither which address nor whether the
/// name exists, so that a team admin learns nothing of the network's own names by
/// registering URLs.
pub fn refused_host(host: &str) -> Refusal {
    format!(
        "The host {host} does not resolve to public addresses only; webhooks are sent only \
         to public addresses."
    )
}

/// Whether `ip` is a public unicast address: not loopback, private, link-local, shared
/// (CGNAT), multicast, documentation, benchmarking or otherwise reserved, nor an IPv6 form
/// that carries such an IPv4 address (mapped, compatible, NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // IPv4-compatible (::a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d, SIIT) and well-known
    // NAT64 (64:ff9b::a.b.c.d) addresses carry an IPv4 address.
    let v4_inside = s[..6] == [0; 6]
        || s[..6] == [0, 0, 0, 0, 0xffff, 0]
        || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if v4_inside {
        return !ip.is_unspecified() && !ip.is_loopback() && is_public_v4(embedded(s[6], s[7]));
    }
    // A local-use NAT64 prefix (64:ff9b:1::/48, RFC 8215) leads into a private network.
    if s[..3] == [0x64, 0xff9b, 1] {
        return false;
    }
    if s[0] == 0x2002 {
        return is_public_v4(embedded(s[1], s[2]));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || s[..4] == [0x100, 0, 0, 0]
        || (s[0] == 0x2001 && s[1] < 0x0200))
}

/// Checks and tidies the event types an endpoint names: each a known type, `<kind>.*` for
/// a known kind, or `*` alone; at least one, at most [`MAX_EVENT_TYPES`], no repeats.
pub fn check_event_types(types: &[String]) -> Result<Vec<String>, Refusal> {
    if types.is_empty() {
        return Err("Name at least one event type, or \"*\" for all.".into());
    }
    if types.len() > MAX_EVENT_TYPES {
        return Err(format!(
            "Ensure this field has no more than {MAX_EVENT_TYPES} elements."
        ));
    }
    let mut kept: Vec<String> = Vec::with_capacity(types.len());
    for t in types {
        let known = t == "*"
            || EVENT_TYPES.contains(&t.as_str())
            || t.strip_suffix(".*").is_some_and(|kind| {
                EVENT_TYPES
                    .iter()
                    .any(|e| e.split('.').next() == Some(kind))
            });
        if !known {
            return Err(format!("\"{t}\" is not a valid event type."));
        }
        if !kept.contains(t) {
            kept.push(t.clone());
        }
    }
    if kept.len() > 1 && kept.iter().any(|t| t == "*") {
        return Err("\"*\" already names every event type; name it alone.".into());
    }
    Ok(kept)
}

/// Whether an endpoint that names `selected` receives a message of type `kind`.
pub fn wants(selected: &[String], kind: &str) -> bool {
    selected.iter().any(|s| {
        s == "*"
            || s == kind
            || s.strip_suffix(".*")
                .is_some_and(|k| kind.split('.').next() == Some(k))
    })
}

/// One message that an event of the history becomes.
#[derive(Clone, Debug)]
pub struct Message {
    /// Its place among the event's messages, from 0.
    pub part: u32,
    pub kind: String,
    /// Its `data`, as JSON text: written into the body as it is.
    pub data: Box<RawValue>,
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        (self.part, &self.kind, self.data.get()) == (other.part, &other.kind, other.data.get())
    }
}

/// The data of a member-list message: the event's other fields (an import's counts), and
/// the batch of people as the history wrote them.
#[derive(Serialize)]
struct Batch<'a> {
    #[serde(flatten)]
    counts: &'a Map<String, Value>,
    people: &'a [Box<RawValue>],
}

/// The member-list keys of a list event's data, in the order their messages are sent; each is
/// also the verb of its messages.
const LIST_KEYS: [&str; 3] = ["added", "removed", "updated"];

/// What one message holds of its event's data.
#[derive(Clone, Debug)]
enum Part {
    /// The event's data as it is.
    Whole,
    /// People `from..to` of the list `list` (an index into `Messages::lists`).
    Batch { list: usize, from: usize, to: usize },
}

/// The messages an event of the history becomes, in order, made one at a time as they are
/// sent: a change to a member list (a group's, a campaign's, an import) is one message per verb
/// and [`BATCH`] people, `data` naming the people (`{"people": [...]}`, an import's with its
/// counts beside); any other event is one message with the event's data; a team's creation,
/// which no endpoint can have seen, is none. The people are kept as the history wrote them
/// (raw JSON), so a 100,000-person event is held once, not once per message.
pub struct Messages {
    action: String,
    /// A whole event's data, as written.
    data: Box<RawValue>,
    /// An import's counts, beside each batch of its people.
    counts: Map<String, Value>,
    /// `(type, people)` of each member list.
    lists: Vec<(String, Vec<Box<RawValue>>)>,
    parts: Vec<Part>,
}

impl Messages {
    pub fn of(event: &AuditEvent) -> Self {
        let action = event.action_type.clone();
        let (kind, verb) = action.split_once('.').unwrap_or((&action, ""));
        let mut messages = Messages {
            action: action.clone(),
            data: event.data.clone(),
            counts: Map::new(),
            lists: Vec::new(),
            parts: Vec::new(),
        };
        let list_event = matches!(kind, "group_membership" | "campaign_member");
        let imported = (kind, verb) == ("membership", "imported");
        if (kind, verb) == ("organization", "created") {
            return messages;
        }
        if !list_event && !imported {
            messages.parts.push(Part::Whole);
            return messages;
        }
        // Each field of the data as written; member lists stay raw.
        let mut fields: BTreeMap<String, Box<RawValue>> =
            serde_json::from_str(event.data.get()).unwrap_or_default();
        let mut take_list = |key: &str, kind: String, messages: &mut Messages| {
            let people: Vec<Box<RawValue>> = fields
                .remove(key)
                .and_then(|raw| serde_json::from_str(raw.get()).ok())
                .unwrap_or_default();
            let list = messages.lists.len();
            for from in (0..people.len()).step_by(BATCH) {
                let to = (from + BATCH).min(people.len());
                messages.parts.push(Part::Batch { list, from, to });
            }
            messages.lists.push((kind, people));
        };
        if imported {
            take_list("people", action.clone(), &mut messages);
            let counts = fields
                .into_iter()
                .filter_map(|(k, raw)| Some((k, serde_json::from_str(raw.get()).ok()?)));
            messages.counts = counts.collect();
            if messages.parts.is_empty() {
                if let Ok(counts) = serde_json::value::to_raw_value(&messages.counts) {
                    messages.data = counts;
                }
                messages.parts.push(Part::Whole);
            }
        } else {
            for key in LIST_KEYS {
                take_list(key, format!("{kind}.{key}"), &mut messages);
            }
        }
        messages
    }

    pub fn len(&self) -> usize {
        self.parts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Message `part`, if the event has one.
    pub fn get(&self, part: u32) -> Option<Message> {
        let index = usize::try_from(part).ok()?;
        let (kind, data) = match self.parts.get(index)? {
            Part::Whole => (self.action.clone(), self.data.clone()),
            Part::Batch { list, from, to } => {
                let (kind, people) = self.lists.get(*list)?;
                let batch = Batch {
                    counts: &self.counts,
                    people: people.get(*from..*to)?,
                };
                (kind.clone(), serde_json::value::to_raw_value(&batch).ok()?)
            }
        };
        Some(Message { part, kind, data })
    }
}

/// The id of part `part` of the event `event`: the event's own for its first message (so a
/// one-message event has the id that the change history shows), a stable digest of both for
/// the rest, the same on every try.
pub fn message_id(event: Uuid, part: u32) -> Uuid {
    if part == 0 {
        return event;
    }
    let mut digest = Sha256::new();
    digest.update(event.as_bytes());
    digest.update(part.to_be_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.finalize()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The JSON body of a message of `event` (its id, type, time, team, actor, object, data),
/// serialized straight from the event and the message's raw data.
pub fn body(event: &AuditEvent, message: &Message, parts: usize) -> Vec<u8> {
    #[derive(Serialize)]
    struct Team<'a> {
        id: &'a str,
        name: &'a str,
    }
    #[derive(Serialize)]
    struct Of {
        id: Uuid,
        part: u32,
        parts: usize,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        id: Uuid,
        #[serde(rename = "type")]
        kind: &'a str,
        timestamp: Timestamp,
        organization: Team<'a>,
        actor: &'a Option<crate::User>,
        face: crate::Face,
        request_id: &'a Option<String>,
        object: &'a Option<crate::audit::AuditObject>,
        data: &'a RawValue,
        event: Of,
    }
    let body = Body {
        id: message_id(event.id, message.part),
        kind: &message.kind,
        timestamp: event.timestamp,
        organization: Team {
            id: &event.target_object.id,
            name: &event.target_object.label,
        },
        actor: &event.actor,
        face: event.face,
        request_id: &event.request_id,
        object: &event.action_object,
        data: &message.data,
        event: Of {
            id: event.id,
            part: message.part,
            parts,
        },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The body of a ping to an endpoint of `org`.
pub fn ping_body(id: Uuid, org: Uuid, org_name: &str, webhook: Uuid, at: Timestamp) -> Vec<u8> {
    json!({
        "id": id,
        "type": "webhook.ping",
        "timestamp": at,
        "organization": {"id": org, "name": org_name},
        "actor": null,
        "object": {"id": webhook, "content_type": "webhook", "label": ""},
        "data": {},
    })
    .to_string()
    .into_bytes()
}

/// A new signing secret: `whsec_` and 32 random bytes in base64, as Standard Webhooks
/// writes them.
pub fn issue_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", BASE64.encode(bytes))
}

/// The `webhook-signature` header of a message: `v1,<base64 HMAC-SHA256>` of
/// `<id>.<timestamp>.<body>` under each secret, separated by spaces.
pub fn signature(secrets: &[String], id: &str, timestamp: i64, body: &[u8]) -> String {
    let signed = |secret: &String| {
        let key = secret.strip_prefix("whsec_").unwrap_or(secret);
        let key = BASE64
            .decode(key)
            .unwrap_or_else(|_| key.as_bytes().to_vec());
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            return String::new();
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    };
    secrets.iter().map(signed).collect::<Vec<_>>().join(" ")
}

/// How long to wait before try `attempts + 1` of a message whose `attempts` tries failed:
/// `base` doubled for each earlier failure, at most [`MAX_DELAY`], and a random half of it
/// (`jitter` in 0..1) so that endpoints that failed together do not retry together.
pub fn retry_delay(attempts: u32, base: Duration, jitter: f64) -> Duration {
    let doubled = base.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
    let delay = doubled.min(MAX_DELAY);
    delay / 2 + delay.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

/// What follows a failed try at `now` of a message first tried and failed at `failed_since`
/// (now, when this was its first try), after `attempts` tries in all.
pub fn after_failure(
    now: Timestamp,
    failed_since: Option<Timestamp>,
    attempts: u32,
    base: Duration,
    retry_for: Duration,
    jitter: f64,
) -> Progress {
    let since = failed_since.unwrap_or(now);
    if now >= since.plus(retry_for) {
        return Progress::GiveUp;
    }
    Progress::Retry {
        retry_at: now.plus(retry_delay(attempts, base, jitter)),
        failed_since: since,
        attempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0:a00:1",
            "64:ff9b::a00:1",
            "64:ff9b:1::808:808",
            "2002:a00:1::",
            "2001:db8::1",
            "192.88.99.1",
            "100::1",
        ] {
            let ip: IpAddr = private.parse().expect("address");
            assert!(!is_public(ip), "{private} passed");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = public.parse().expect("address");
            assert!(is_public(ip), "{public} refused");
        }
    }

    #[test]
    fn urls_are_https_public_and_without_credentials() {
        assert!(check_url("https://hooks.example.com/roster", false).is_ok());
        assert!(check_url("http://hooks.example.com/", false).is_err());
        assert!(check_url("http://127.0.0.1:9/", true).is_ok());
        assert!(check_url("https://127.0.0.1/", false).is_err());
        assert!(check_url("https://[::1]/", false).is_err());
        assert!(check_url("https://user:pw@example.com/", false).is_err());
        assert!(check_url("ftp://example.com/", true).is_err());
        assert!(check_url("not a url", true).is_err());
        assert!(check_url("https://0x7f.1/", false).is_err());
        let t = check_url("https://hooks.example.com/x", false).expect("ok");
        assert_eq!(t.port, 443);
    }

    #[test]
    fn event_types_are_known_and_match() {
        let all = vec!["*".to_owned()];
        assert!(check_event_types(&all).is_ok());
        assert!(check_event_types(&[]).is_err());
        assert!(check_event_types(&["group.exploded".into()]).is_err());
        assert!(check_event_types(&["*".into(), "group.created".into()]).is_err());
        let some = check_event_types(&["group_membership.*".into(), "group.created".into()])
            .expect("valid");
        assert!(wants(&some, "group_membership.added"));
        assert!(wants(&some, "group.created"));
        assert!(!wants(&some, "group.deleted"));
        assert!(wants(&all, "campaign.deleted"));
    }

    #[test]
    fn retries_back_off_and_give_up_after_the_window() {
        let base = Duration::from_secs(1);
        assert_eq!(retry_delay(1, base, 0.0), Duration::from_millis(500));
        assert_eq!(retry_delay(3, base, 1.0), Duration::from_secs(4));
        assert_eq!(retry_delay(40, base, 1.0), MAX_DELAY);
        let day = Duration::from_secs(86_400);
        let start = Timestamp::from_micros(0);
        assert!(matches!(
            after_failure(start.plus(day), Some(start), 30, base, day, 0.5),
            Progress::GiveUp
        ));
        assert!(matches!(
            after_failure(start, None, 1, base, day, 0.5),
            Progress::Retry { attempts: 1, .. }
        ));
    }

    fn parsed(message: &Message) -> Value {
        serde_json::from_str(message.data.get()).expect("JSON")
    }

    fn event(action: &str, data: Value) -> AuditEvent {
        AuditEvent {
            id: Uuid::new_v4(),
            actor: None,
            target_object: crate::audit::AuditObject {
                id: Uuid::new_v4().to_string(),
                content_type: "organization".into(),
                label: "Acme".into(),
            },
            action_object: None,
            action_type: action.into(),
            data: RawValue::from_string(data.to_string()).expect("json"),
            timestamp: Timestamp::from_micros(0),
            request_id: None,
            face: crate::Face::Api,
            seq: 1,
        }
    }

    #[test]
    fn member_lists_are_batched_and_other_events_sent_whole() {
        let people = |n: usize| -> Vec<Value> {
            (0..n)
                .map(|i| json!({ "email": format!("p{i}@acme.test") }))
                .collect()
        };
        let replace = event(
            "group_membership.replaced",
            json!({"added": people(2500), "removed": people(1000)}),
        );
        let messages = Messages::of(&replace);
        let shape: Vec<(String, usize)> = (0..4)
            .map(|part| messages.get(part).expect("a part"))
            .map(|m| {
                let people = parsed(&m)["people"].as_array().map_or(0, Vec::len);
                (m.kind, people)
            })
            .collect();
        let added = "group_membership.added".to_owned();
        assert_eq!(
            shape,
            [
                (added.clone(), 1000),
                (added.clone(), 1000),
                (added, 500),
                ("group_membership.removed".to_owned(), 1000)
            ]
        );
        assert_eq!(messages.len(), 4);
        assert!(messages.get(4).is_none());
        let import = event(
            "membership.imported",
            json!({"rows": 1001, "people": people(1001)}),
        );
        let imported = Messages::of(&import);
        assert_eq!(imported.len(), 2);
        let second = parsed(&imported.get(1).expect("part 1"));
        assert_eq!(second["rows"], json!(1001));
        assert_eq!(second["people"], json!([{"email": "p1000@acme.test"}]));
        let renamed = event("group.updated", json!({"name": {"from": "a", "to": "b"}}));
        let whole = Messages::of(&renamed);
        assert_eq!(whole.len(), 1);
        assert_eq!(parsed(&whole.get(0).expect("it"))["name"]["to"], json!("b"));
        assert!(Messages::of(&event("organization.created", json!({}))).is_empty());
    }

    #[test]
    fn message_ids_are_stable_and_distinct() {
        let event = Uuid::new_v4();
        assert_eq!(message_id(event, 0), event);
        assert_eq!(message_id(event, 3), message_id(event, 3));
        assert_ne!(message_id(event, 1), message_id(event, 2));
    }
}
