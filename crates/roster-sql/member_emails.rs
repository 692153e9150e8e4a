//! The addresses of a member's SCIM `emails` (the team's copy of them) other than their
//! account address, kept in `membership_emails` beside the attributes, so that a SCIM filter on
//! `emails.value` finds a member by any address through an index: the account address is
//! found through `users`. Most identity providers send the account address alone, so most
//! writes add no row. Written with the attributes, in their transaction; a membership's rows
//! go with it (`ON DELETE CASCADE`); when a person's account address changes, the old one is
//! kept for every membership with attributes, which may list it (`keep_old_address`).

use crate::dialect::{Conn, Db, each_pair};
use crate::other;
use roster_core::email;
use roster_core::{StoreError, StoreResult};
use sqlx::QueryBuilder;
use uuid::Uuid;

fn json(pairs: &[(&str, String)]) -> StoreResult<String> {
    serde_json::to_string(pairs).map_err(|e| StoreError::Other(e.to_string()))
}

/// The normalised addresses of the attributes' `emails`, each once.
fn addresses(attributes: &str) -> Vec<String> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(attributes) else {
        return Vec::new();
    };
    let mut out: Vec<String> = value
        .get("emails")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("value")?.as_str())
        .map(email::normalize)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Keeps the addresses of new members of `org`, each given as (its account email, normalised,
/// its attributes): one statement for the batch.
pub(crate) async fn keep_new(
    conn: &mut Conn,
    org: Uuid,
    members: impl Iterator<Item = (&str, &str)>,
) -> StoreResult<()> {
    let pairs: Vec<(&str, String)> = members
        .flat_map(|(account, attributes)| {
            addresses(attributes)
                .into_iter()
                .filter(move |address| address != account)
                .map(move |address| (account, address))
        })
        .collect();
    if pairs.is_empty() {
        return Ok(());
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO membership_emails (email_norm, membership_id) \
         SELECT p.b, m.id FROM {} p JOIN memberships m ON m.org_id = $1 AND m.email_norm = p.a \
         WHERE p.b <> p.a ON CONFLICT DO NOTHING",
        each_pair("$2")
    )))
    .bind(org)
    .bind(json(&pairs)?)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

/// Puts the addresses of `attributes` in place of the member's.
pub(crate) async fn replace(
    conn: &mut Conn,
    org: Uuid,
    user: Uuid,
    attributes: &str,
) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM membership_emails WHERE membership_id = \
         (SELECT id FROM memberships WHERE org_id = $1 AND user_id = $2)",
    )
    .bind(org)
    .bind(user)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    let pairs: Vec<(&str, String)> = addresses(attributes)
        .into_iter()
        .map(|address| ("", address))
        .collect();
    if pairs.is_empty() {
        return Ok(());
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO membership_emails (email_norm, membership_id) \
         SELECT p.b, m.id FROM {} p JOIN memberships m ON m.org_id = $1 AND m.user_id = $2 \
         WHERE p.b <> m.email_norm",
        each_pair("$3")
    )))
    .bind(org)
    .bind(user)
    .bind(json(&pairs)?)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

/// Before a person's account address changes: keeps the present one for each of their
/// memberships with SCIM attributes, whose `emails` may list it (the lookup re-checks each
/// user it finds against the filter, so a row too many costs nothing but a read).
pub(crate) async fn keep_old_address(conn: &mut Conn, user: Uuid) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO membership_emails (email_norm, membership_id) \
         SELECT email_norm, id FROM memberships WHERE user_id = $1 AND scim IS NOT NULL \
         ON CONFLICT DO NOTHING",
    )
    .bind(user)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

/// Narrows a query of memberships `m` (of one team) to those with `address` among their
/// addresses: the account's or any of `emails`. Driven from the two indexes (the person's
/// email, and `membership_emails`), never from the team's memberships.
pub(crate) fn narrow(qb: &mut QueryBuilder<Db>, address: &str) {
    qb.push(" AND m.id IN (SELECT membership_id FROM membership_emails WHERE email_norm = ")
        .push_bind(address.to_owned())
        .push(
            " UNION ALL SELECT m2.id FROM users u2 JOIN memberships m2 ON m2.user_id = u2.id \
               WHERE u2.email_norm = ",
        )
        .push_bind(address.to_owned())
        .push(")");
}
