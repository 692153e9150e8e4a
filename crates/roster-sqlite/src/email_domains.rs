//! Email domains verified for a team.

use crate::{SqliteStore, conflict_on, other};
use roster_core::{EmailDomain, StoreError, StoreResult, Timestamp, rules};
use sqlx::{FromRow, SqliteConnection};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(FromRow)]
struct DomainRow {
    id: Uuid,
    domain: String,
    verified: bool,
    created_at: i64,
    verified_at: Option<i64>,
}

impl From<DomainRow> for EmailDomain {
    fn from(r: DomainRow) -> Self {
        EmailDomain {
            id: r.id,
            domain: r.domain,
            verified: r.verified,
            created_at: Timestamp::from_micros(r.created_at),
            verified_at: r.verified_at.map(Timestamp::from_micros),
        }
    }
}

pub(crate) async fn list(store: &SqliteStore, org: Uuid) -> StoreResult<Vec<EmailDomain>> {
    let rows: Vec<DomainRow> = sqlx::query_as(
        "SELECT id, domain, verified, created_at, verified_at FROM email_domains \
         WHERE org_id = $1 ORDER BY domain",
    )
    .bind(org)
    .fetch_all(&store.reader)
    .await
    .map_err(other)?;
    Ok(rows.into_iter().map(EmailDomain::from).collect())
}

pub(crate) async fn add(
    store: &SqliteStore,
    org: Uuid,
    domain: &str,
    now: Timestamp,
) -> StoreResult<EmailDomain> {
    let row: DomainRow = sqlx::query_as(
        "INSERT INTO email_domains (id, org_id, domain, verified, created_at, verified_at) \
         VALUES ($1, $2, $3, 1, $4, $4) \
         RETURNING id, domain, verified, created_at, verified_at",
    )
    .bind(Uuid::new_v4())
    .bind(org)
    .bind(domain)
    .bind(now.as_micros())
    .fetch_one(&store.writer)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => conflict_on("domain")(e),
    })?;
    Ok(row.into())
}

pub(crate) async fn delete(store: &SqliteStore, org: Uuid, id: Uuid) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM email_domains WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org)
        .execute(&store.writer)
        .await
        .map_err(other)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The team's verified domains, read inside a write (for the rules of `roster_core::rules`).
pub(crate) async fn verified(conn: &mut SqliteConnection, org: Uuid) -> StoreResult<Vec<String>> {
    sqlx::query_scalar("SELECT domain FROM email_domains WHERE org_id = $1 AND verified = 1")
        .bind(org)
        .fetch_all(&mut *conn)
        .await
        .map_err(other)
}

/// The teams the domains of these emails are verified for, by domain (IDNA form).
pub(crate) async fn holders(
    conn: &mut SqliteConnection,
    emails: &[String],
) -> StoreResult<HashMap<String, Uuid>> {
    let mut domains: Vec<String> = emails
        .iter()
        .filter_map(|e| rules::email_domain(e))
        .collect();
    domains.sort_unstable();
    domains.dedup();
    if domains.is_empty() {
        return Ok(HashMap::new());
    }
    let found: Vec<(String, Uuid)> = sqlx::query_as(
        "SELECT domain, org_id FROM email_domains \
         WHERE verified = 1 AND domain IN (SELECT value FROM json_each($1))",
    )
    .bind(crate::import::to_json(&domains)?)
    .fetch_all(&mut *conn)
    .await
    .map_err(other)?;
    Ok(found.into_iter().collect())
}
