//! Service accounts and deployment keys (contract section 10), for admins. Each is a user with
//! a membership of the team whose role is fixed at creation. A service account's key is shown
//! once; a deployment key's on every read, as the contract says (it grants only `/api/me/`).
//! Deleting either revokes its key at once.

use crate::api::json;
use crate::auth::{Caller, Needs};
use crate::error::ApiResult;
use crate::input::{Fields, FlatBody, parse_uuid};
use crate::pagination::Listing;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use roster_core::store::{AccountKind, NameCursor};
use roster_core::{Account, Role, Store, Timestamp, keys};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

const MAX_NAME: usize = 150;

#[derive(Serialize, ToSchema)]
pub struct ServiceAccount {
    id: Uuid,
    name: String,
    role: Role,
    created_at: Timestamp,
    last_active_at: Option<Timestamp>,
    /// Only in the response that creates the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl From<Account> for ServiceAccount {
    fn from(a: Account) -> Self {
        ServiceAccount {
            id: a.id,
            name: a.name,
            role: a.role,
            created_at: a.created_at,
            last_active_at: a.last_active_at,
            token: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeploymentKey {
    id: Uuid,
    name: String,
    created_at: Timestamp,
    token: String,
}

impl From<Account> for DeploymentKey {
    fn from(a: Account) -> Self {
        DeploymentKey {
            id: a.id,
            name: a.name,
            created_at: a.created_at,
            token: a.token.unwrap_or_default(),
        }
    }
}

#[derive(ToSchema)]
#[allow(dead_code)] // documents the body that `Fields` validates
pub struct ServiceAccountWrite {
    #[schema(
        min_length = 1,
        max_length = 150,
        pattern = "^[^\\u0000]*\\S[^\\u0000]*$"
    )]
    name: String,
    /// Fixed for the account's life; default 4 (restricted).
    #[schema(nullable = false, required = false)]
    role: Option<Role>,
}

#[derive(ToSchema)]
#[allow(dead_code)] // documents the body that `Fields` validates
pub struct DeploymentKeyWrite {
    #[schema(
        min_length = 1,
        max_length = 150,
        pattern = "^[^\\u0000]*\\S[^\\u0000]*$"
    )]
    name: String,
}

/// The team's accounts of one kind, shown as `T`.
async fn list_of<T: From<Account> + Serialize + Send + 'static>(
    state: &AppState,
    caller: &Caller,
    org: &str,
    kind: AccountKind,
    listing: Listing,
) -> ApiResult<Response> {
    let org = caller.team(state, org, Needs::Admin).await?;
    let total = state.store.count_accounts(org, kind);
    let read = move |store: Arc<dyn Store>, window| async move {
        let accounts = store.list_accounts(org, kind, window).await?;
        Ok(accounts
            .into_iter()
            .map(Shown::<T>::new)
            .collect::<Vec<_>>())
    };
    let gate = state.gate(caller.user_id(), Some(org));
    (listing.serve(state, total, read, Shown::<T>::cursor, gate)).await
}

/// An account shown as `T`, keeping where it stands in the list.
struct Shown<T> {
    view: T,
    cursor: NameCursor,
}

impl<T: From<Account>> Shown<T> {
    fn new(account: Account) -> Self {
        Shown {
            cursor: account.cursor(),
            view: T::from(account),
        }
    }

    fn cursor(&self) -> NameCursor {
        self.cursor.clone()
    }
}

impl<T: Serialize> Serialize for Shown<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.view.serialize(s)
    }
}

/// One account of one kind, shown as `T`.
async fn one_of<T: From<Account> + Serialize>(
    state: &AppState,
    caller: &Caller,
    (org, id): (String, String),
    kind: AccountKind,
) -> ApiResult<Response> {
    let org = caller.team(state, &org, Needs::Admin).await?;
    let account = state.store.get_account(org, kind, parse_uuid(&id)?).await?;
    json(StatusCode::OK, &T::from(account))
}

/// Deletes an account of one kind: its key stops working at once.
async fn delete_of(
    state: &AppState,
    caller: &Caller,
    (org, id): (String, String),
    kind: AccountKind,
) -> ApiResult<Response> {
    let org = caller.team(state, &org, Needs::Admin).await?;
    state
        .store
        .delete_account(org, kind, parse_uuid(&id)?, caller.origin())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn create(
    state: &AppState,
    caller: &Caller,
    org: Uuid,
    kind: AccountKind,
    name: &str,
    role: Role,
) -> ApiResult<(Account, String)> {
    let key = keys::issue();
    let kept = (kind == AccountKind::DeploymentKey).then_some(key.secret.as_str());
    let account = state
        .store
        .create_account(
            org,
            kind,
            name,
            role,
            &key.hash,
            kept,
            state.clock.now(),
            caller.origin(),
        )
        .await?;
    Ok((account, key.secret))
}

/// The team's service accounts, by name.
#[utoipa::path(operation_id = "service_accounts_list", get, path = "/api/organizations/{id}/serviceaccounts/", tag = "accounts",
    params(("id" = Uuid, Path), crate::openapi::PageParams),
    responses((status = 200, description = "Ordered by name", body = [ServiceAccount])))]
pub async fn list_service_accounts(
    State(state): State<AppState>,
    caller: Caller,
    listing: Listing,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let kind = AccountKind::ServiceAccount;
    list_of::<ServiceAccount>(&state, &caller, &org, kind, listing).await
}

/// Creates a service account; its `token` is in this response only.
#[utoipa::path(operation_id = "service_accounts_create", post, path = "/api/organizations/{id}/serviceaccounts/", tag = "accounts",
    params(("id" = Uuid, Path)), request_body = ServiceAccountWrite,
    responses((status = 201, description = "Created, with its token", body = ServiceAccount)))]
pub async fn create_service_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    FlatBody(body): FlatBody,
) -> ApiResult<Response> {
    let org = caller.team(&state, &org, Needs::Admin).await?;
    let mut fields = Fields::new(body, false)?;
    let name = fields.text("name", true, MAX_NAME);
    let role = fields.role("role", false);
    fields.finish()?;
    let role = role.unwrap_or(Role::Restricted);
    let (account, token) = create(
        &state,
        &caller,
        org,
        AccountKind::ServiceAccount,
        &name.unwrap_or_default(),
        role,
    )
    .await?;
    let mut created = ServiceAccount::from(account);
    created.token = Some(token);
    json(StatusCode::CREATED, &created)
}

/// One service account.
#[utoipa::path(operation_id = "service_accounts_retrieve", get, path = "/api/organizations/{id}/serviceaccounts/{sid}/", tag = "accounts",
    params(("id" = Uuid, Path), ("sid" = Uuid, Path)),
    responses((status = 200, description = "The service account", body = ServiceAccount)))]
pub async fn retrieve_service_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(ids): Path<(String, String)>,
) -> ApiResult<Response> {
    one_of::<ServiceAccount>(&state, &caller, ids, AccountKind::ServiceAccount).await
}

/// Deletes the service account: its key stops working at once.
#[utoipa::path(operation_id = "service_accounts_destroy", delete, path = "/api/organizations/{id}/serviceaccounts/{sid}/", tag = "accounts",
    params(("id" = Uuid, Path), ("sid" = Uuid, Path)),
    responses((status = 204, description = "Deleted and revoked")))]
pub async fn destroy_service_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(ids): Path<(String, String)>,
) -> ApiResult<Response> {
    delete_of(&state, &caller, ids, AccountKind::ServiceAccount).await
}

/// Gives the service account a new token, shown in this response only; the old one stops
/// working at once. (A Roster extension of the contract, for scheduled key rotation.)
#[utoipa::path(operation_id = "service_accounts_rotate", post, path = "/api/organizations/{id}/serviceaccounts/{sid}/rotate/", tag = "accounts",
    params(("id" = Uuid, Path), ("sid" = Uuid, Path)),
    responses((status = 200, description = "The account, with its new token", body = ServiceAccount)))]
pub async fn rotate_service_account(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let org = caller.team(&state, &org, Needs::Admin).await?;
    let account = (state.store)
        .get_account(org, AccountKind::ServiceAccount, parse_uuid(&id)?)
        .await?;
    let key = keys::issue();
    (state.store)
        .rotate_service_account_key(
            org,
            account.id,
            &key.hash,
            state.clock.now(),
            caller.origin(),
        )
        .await?;
    let mut rotated = ServiceAccount::from(account);
    rotated.token = Some(key.secret);
    json(StatusCode::OK, &rotated)
}

/// The team's deployment keys, by name.
#[utoipa::path(operation_id = "deployment_keys_list", get, path = "/api/organizations/{id}/deployment-keys/", tag = "accounts",
    params(("id" = Uuid, Path), crate::openapi::PageParams),
    responses((status = 200, description = "Ordered by name", body = [DeploymentKey])))]
pub async fn list_deployment_keys(
    State(state): State<AppState>,
    caller: Caller,
    listing: Listing,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let kind = AccountKind::DeploymentKey;
    list_of::<DeploymentKey>(&state, &caller, &org, kind, listing).await
}

/// Creates a deployment key. Its account may only call `GET /api/me/`.
#[utoipa::path(operation_id = "deployment_keys_create", post, path = "/api/organizations/{id}/deployment-keys/", tag = "accounts",
    params(("id" = Uuid, Path)), request_body = DeploymentKeyWrite,
    responses((status = 201, description = "Created", body = DeploymentKey)))]
pub async fn create_deployment_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    FlatBody(body): FlatBody,
) -> ApiResult<Response> {
    let org = caller.team(&state, &org, Needs::Admin).await?;
    let mut fields = Fields::new(body, false)?;
    let name = fields.text("name", true, MAX_NAME);
    fields.finish()?;
    let name = name.unwrap_or_default();
    let (account, _) = create(
        &state,
        &caller,
        org,
        AccountKind::DeploymentKey,
        &name,
        Role::Restricted,
    )
    .await?;
    json(StatusCode::CREATED, &DeploymentKey::from(account))
}

/// One deployment key, with its token.
#[utoipa::path(operation_id = "deployment_keys_retrieve", get, path = "/api/organizations/{id}/deployment-keys/{kid}/", tag = "accounts",
    params(("id" = Uuid, Path), ("kid" = Uuid, Path)),
    responses((status = 200, description = "The deployment key", body = DeploymentKey)))]
pub async fn retrieve_deployment_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(ids): Path<(String, String)>,
) -> ApiResult<Response> {
    one_of::<DeploymentKey>(&state, &caller, ids, AccountKind::DeploymentKey).await
}

/// Deletes the deployment key: it stops working at once.
#[utoipa::path(operation_id = "deployment_keys_destroy", delete, path = "/api/organizations/{id}/deployment-keys/{kid}/", tag = "accounts",
    params(("id" = Uuid, Path), ("kid" = Uuid, Path)),
    responses((status = 204, description = "Deleted and revoked")))]
pub async fn destroy_deployment_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(ids): Path<(String, String)>,
) -> ApiResult<Response> {
    delete_of(&state, &caller, ids, AccountKind::DeploymentKey).await
}
