//! Webhook endpoints of a team, for its admins: register, change, rotate the signing secret,
//! delete; the delivery log; a ping and a redelivery, sent at once and logged. What is sent and
//! when is the worker's (`crate::webhooks::worker`).

use crate::api::json;
use crate::auth::{Caller, Needs};
use crate::error::{ApiError, ApiResult};
use crate::input::{Fields, FlatBody, parse_int_id, parse_uuid};
use crate::pagination::Listing;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use roster_core::webhooks::{
    self as rules, Delivery, NewDelivery, NewWebhook, ROTATION_OVERLAP, Source, Webhook,
    WebhookChange,
};
use roster_core::{Store, Timestamp};
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

const MAX_DESCRIPTION: usize = 500;

#[derive(ToSchema)]
#[allow(dead_code)] // documents the body that `Fields` validates
pub struct WebhookWrite {
    /// `https://` and a public address (`http://` and private addresses only with
    /// `--webhooks-allow-private`); no user name or password.
    #[schema(max_length = 2048)]
    url: String,
    /// Event types to receive: names, `<kind>.*`, or `["*"]` (the default) for all.
    #[schema(nullable = false, required = false)]
    events: Option<Vec<String>>,
    /// Default true.
    #[schema(nullable = false, required = false)]
    active: Option<bool>,
    #[schema(nullable = true, required = false, max_length = 500)]
    description: Option<String>,
}

/// The fields of a write, checked; `partial` for PATCH. The URL's host is resolved and each
/// of its addresses checked, without connecting.
async fn read_change(
    state: &AppState,
    body: serde_json::Value,
    partial: bool,
) -> ApiResult<WebhookChange> {
    let mut fields = Fields::new(body, partial)?;
    let url = fields.text("url", true, rules::MAX_URL);
    let events = fields.strings("events", false);
    let active = fields.boolean("active", false);
    let description = fields.nullable_text("description", MAX_DESCRIPTION);
    let events = match events.map(|e| rules::check_event_types(&e)) {
        Some(Ok(events)) => Some(events),
        Some(Err(refused)) => {
            fields.invalid("events", refused);
            None
        }
        None => None,
    };
    if let Some(url) = &url
        && let Err(refused) = state.webhooks.check(url).await
    {
        fields.invalid("url", refused);
    }
    fields.finish()?;
    Ok(WebhookChange {
        url,
        events: events.or_else(|| (!partial).then(|| vec!["*".to_owned()])),
        active: active.or((!partial).then_some(true)),
        description: description
            .map(Option::unwrap_or_default)
            .or_else(|| (!partial).then(String::new)),
    })
}

/// The team's webhook endpoints, oldest first.
#[utoipa::path(operation_id = "webhooks_list", get, path = "/api/organizations/{id}/webhooks/", tag = "webhooks",
    params(("id" = Uuid, Path), crate::openapi::PageParams),
    responses((status = 200, description = "Oldest first", body = [Webhook])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    listing: Listing,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let org = caller.team(&state, &org, Needs::Admin).await?;
    let total = state.store.count_webhooks(org);
    let read =
        move |store: Arc<dyn Store>, window| async move { store.list_webhooks(org, window).await };
    let gate = state.gate(caller.user_id(), Some(org));
    listing
        .serve(&state, total, read, |w: &Webhook| w.id, gate)
        .await
}

/// Registers an endpoint; its signing `secret` is in this response only.
#[utoipa::path(operation_id = "webhooks_create", post, path = "/api/organizations/{id}/webhooks/", tag = "webhooks",
    params(("id" = Uuid, Path)), request_body = WebhookWrite,
    responses((status = 201, description = "Registered, with its secret", body = Webhook)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    FlatBody(body): FlatBody,
) -> ApiResult<Response> {
    let org = caller.team(&state, &org, Needs::Admin).await?;
    // Checking the URL waits on a name server (up to 10 s): a heavy slot, as a ping takes.
    let mut gate = state.gate(caller.user_id(), Some(org));
    gate.admit(true)?;
    let change = read_change(&state, body, false).await?;
    let hook = NewWebhook {
        url: change.url.unwrap_or_default(),
        events: change.events.unwrap_or_default(),
        active: change.active.unwrap_or(true),
        description: change.description.unwrap_or_default(),
        secret: rules::issue_secret(),
    };
    let now = state.clock.now();
    let created = (state.store)
        .create_webhook(org, &hook, now, caller.origin())
        .await?;
    json(StatusCode::CREATED, &created)
}

/// One endpoint.
#[utoipa::path(operation_id = "webhooks_retrieve", get, path = "/api/organizations/{id}/webhooks/{wid}/", tag = "webhooks",
    params(("id" = Uuid, Path), ("wid" = Uuid, Path)),
    responses((status = 200, description = "The endpoint", body = Webhook)))]
pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let org = caller.team(&state, &org, Needs::Admin).await?;
    let hook = state.store.get_webhook(org, parse_uuid(&id)?).await?;
    json(StatusCode::OK, &hook)
}

async fn change(
    state: AppState,
    caller: Caller,
    (org, id): (String, String),
    body: serde_json::Value,
    partial: bool,
) -> ApiResult<Response> {
    let org = caller.team(&state, &org, Needs::Admin).await?;
    let id = parse_uuid(&id)?;
    // Only a new URL is looked up.
    let mut gate = state.gate(caller.user_id(), Some(org));
    gate.admit(body.get("url").is_some())?;
    let change = read_change(&state, body, partial).await?;
    let now = state.clock.now();
    let hook = (state.store)
        .update_webhook(org, id, &change, now, caller.origin())
        .await?;
    json(StatusCode::OK, &hook)
}

/// Replaces an endpoint's settings (`events`, `active` and `description` take their defaults
/// when left out).
#[utoipa::path(operation_id = "webhooks_update", put, path = "/api/organizations/{id}/webhooks/{wid}/", tag = "webhooks",
    params(("id" = Uuid, Path), ("wid" = Uuid, Path)), request_body = WebhookWrite,
    responses((status = 200, description = "Changed", body = Webhook)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(ids): Path<(String, String)>,
    FlatBody(body): FlatBody,
) -> ApiResult<Response> {
    change(state, caller, ids, body, false).await
}

/// Changes the fields sent. `"active": true` also resumes a failing endpoint.
#[utoipa::path(operation_id = "webhooks_partial_update", patch, path = "/api/organizations/{id}/webhooks/{wid}/", tag = "webhooks",
    params(("id" = Uuid, Path), ("wid" = Uuid, Path)), request_body = WebhookWrite,
    responses((status = 200, description = "Changed", body = Webhook)))]
pub async fn partial_update(
    State(state): State<AppState>,
    caller: Caller,
    Path(ids): Path<(String, String)>,
    FlatBody(body): FlatBody,
) -> ApiResult<Response> {
    change(state, caller, ids, body, true).await
}

/// Deletes an endpoint and its delivery log; nothing more is sent to it.
#[utoipa::path(operation_id = "webhooks_destroy", delete, path = "/api/organizations/{id}/webhooks/{wid}/", tag = "webhooks",
    params(("id" = Uuid, Path), ("wid" = Uuid, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn destroy(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let org = caller.team(&state, &org, Needs::Admin).await?;
    (state.store)
        .delete_webhook(org, parse_uuid(&id)?, caller.origin())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Gives the endpoint a new signing secret, in this response only. For 24 hours messages
/// carry a signature by the old secret too, so the receiver can switch without losing any.
#[utoipa::path(operation_id = "webhooks_rotate_secret", post, path = "/api/organizations/{id}/webhooks/{wid}/rotate-secret/", tag = "webhooks",
    params(("id" = Uuid, Path), ("wid" = Uuid, Path)),
    responses((status = 200, description = "The endpoint, with its new secret", body = Webhook)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let org = caller.team(&state, &org, Needs::Admin).await?;
    let now = state.clock.now();
    let secret = rules::issue_secret();
    let hook = (state.store)
        .rotate_webhook_secret(
            org,
            parse_uuid(&id)?,
            &secret,
            now.plus(ROTATION_OVERLAP),
            now,
            caller.origin(),
        )
        .await?;
    json(StatusCode::OK, &hook)
}

/// The endpoint's delivery log, newest first.
#[utoipa::path(operation_id = "webhook_deliveries_list", get, path = "/api/organizations/{id}/webhooks/{wid}/deliveries/", tag = "webhooks",
    params(("id" = Uuid, Path), ("wid" = Uuid, Path), crate::openapi::PageParams),
    responses((status = 200, description = "Newest first", body = [Delivery])))]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    listing: Listing,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let org = caller.team(&state, &org, Needs::Admin).await?;
    let hook = state.store.get_webhook(org, parse_uuid(&id)?).await?.id;
    let total = state.store.count_deliveries(org, hook);
    let read = move |store: Arc<dyn Store>, window| async move {
        store.list_deliveries(org, hook, window).await
    };
    let gate = state.gate(caller.user_id(), Some(org));
    listing
        .serve(&state, total, read, |d: &Delivery| d.id, gate)
        .await
}

/// Sends the endpoint a `webhook.ping` now, and logs it. A delivered ping resumes a failing
/// endpoint.
#[utoipa::path(operation_id = "webhooks_ping", post, path = "/api/organizations/{id}/webhooks/{wid}/ping/", tag = "webhooks",
    params(("id" = Uuid, Path), ("wid" = Uuid, Path)),
    responses((status = 200, description = "The delivery: whether the receiver took it", body = Delivery)))]
pub async fn ping(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let org = caller.team(&state, &org, Needs::Admin).await?;
    // A send waits up to 10 s on someone else's server: it takes a heavy slot.
    let mut gate = state.gate(caller.user_id(), Some(org));
    gate.admit(true)?;
    let delivery = send_ping(&state, org, parse_uuid(&id)?).await?;
    json(StatusCode::OK, &delivery)
}

/// Sends the message of one delivery again now (an event's message with its own id, so the
/// receiver can tell a repeat), and logs it. A delivered one resumes a failing endpoint.
#[utoipa::path(operation_id = "webhook_deliveries_redeliver", post, path = "/api/organizations/{id}/webhooks/{wid}/deliveries/{did}/redeliver/", tag = "webhooks",
    params(("id" = Uuid, Path), ("wid" = Uuid, Path), ("did" = i64, Path)),
    responses((status = 200, description = "The new delivery", body = Delivery)))]
pub async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, id, delivery)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let org = caller.team(&state, &org, Needs::Admin).await?;
    let mut gate = state.gate(caller.user_id(), Some(org));
    gate.admit(true)?;
    let hook = parse_uuid(&id)?;
    let earlier = (state.store)
        .get_delivery(org, hook, parse_int_id(&delivery)?)
        .await?;
    let Source::Event { seq, part } = earlier.source else {
        let delivery = send_ping(&state, org, hook).await?;
        return json(StatusCode::OK, &delivery);
    };
    let gone = || {
        ApiError::field(
            "non_field_errors",
            "The event of this delivery is no longer kept (past the change history's retention).",
        )
    };
    let event = state
        .store
        .webhook_event(org, seq)
        .await?
        .ok_or_else(gone)?;
    let messages = rules::Messages::of(&event);
    let message = messages.get(part).ok_or_else(gone)?;
    let body = rules::body(&event, &message, messages.len());
    let id = rules::message_id(event.id, part);
    let target = (state.store)
        .webhook_target(org, hook, state.clock.now())
        .await?;
    let attempt = (state.webhooks)
        .send_asked(&target.url, &target.secrets, id, body)
        .await;
    let logged = log(
        &state,
        hook,
        id,
        message.kind.clone(),
        earlier.source,
        attempt,
    )
    .await?;
    json(StatusCode::OK, &logged)
}

async fn send_ping(state: &AppState, org: Uuid, hook: Uuid) -> ApiResult<Delivery> {
    let now = state.clock.now();
    let target = state.store.webhook_target(org, hook, now).await?;
    let team = state.store.get_organization(org).await?;
    let id = Uuid::new_v4();
    let body = rules::ping_body(id, org, &team.name, hook, now);
    let attempt = (state.webhooks)
        .send_asked(&target.url, &target.secrets, id, body)
        .await;
    log(
        state,
        hook,
        id,
        "webhook.ping".into(),
        Source::Ping,
        attempt,
    )
    .await
}

async fn log(
    state: &AppState,
    hook: Uuid,
    message: Uuid,
    kind: String,
    source: Source,
    attempt: crate::webhooks::Attempt,
) -> ApiResult<Delivery> {
    state.metrics.webhook_delivered(&attempt);
    let at: Timestamp = state.clock.now();
    let delivery = NewDelivery {
        webhook: hook,
        message,
        kind,
        source,
        attempt: 1,
        status_code: attempt.status_code,
        latency_ms: attempt.latency_ms,
        error: attempt.error,
        delivered: attempt.delivered,
        manual: true,
        at,
    };
    Ok(state.store.log_delivery(&delivery).await?)
}
