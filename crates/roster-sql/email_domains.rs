//! Email domains verified for a team. Compiled into each backend against its
//! `dialect` module (see README.md).

use crate::audit::{self, Event, Object};
use crate::dialect::{Backend, Conn, Db, Stamp, at, in_texts, texts, ts};
use crate::other;
use crate::rows::push_window;
use crate::tx::conflict_on;
use async_trait::async_trait;
use roster_core::store::EmailDomains;
use roster_core::store::{NameCursor, Window};
use roster_core::{EmailDomain, Origin, StoreError, StoreResult, Timestamp, rules};
use serde_json::json;
use sqlx::{FromRow, QueryBuilder};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(FromRow)]
struct DomainRow {
    id: Uuid,
    domain: String,
    verified: bool,
    created_at: Stamp,
    verified_at: Option<Stamp>,
}

impl From<DomainRow> for EmailDomain {
    fn from(r: DomainRow) -> Self {
        EmailDomain {
            id: r.id,
            domain: r.domain,
            verified: r.verified,
            created_at: at(r.created_at),
            verified_at: r.verified_at.map(at),
        }
    }
}

/// The team's verified domains, read inside a write (for the rules of `roster_core::rules`).
pub(crate) async fn verified(conn: &mut Conn, org: Uuid) -> StoreResult<Vec<String>> {
    sqlx::query_scalar("SELECT domain FROM email_domains WHERE org_id = $1 AND verified")
        .bind(org)
        .fetch_all(&mut *conn)
        .await
        .map_err(other)
}

/// The teams the domains of these emails are verified for, by domain (IDNA form).
pub(crate) async fn holders(
    conn: &mut Conn,
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
    let found: Vec<(String, Uuid)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT domain, org_id FROM email_domains WHERE verified AND domain {}",
        in_texts("$1")
    )))
    .bind(texts(&domains)?)
    .fetch_all(&mut *conn)
    .await
    .map_err(other)?;
    Ok(found.into_iter().collect())
}

#[async_trait]
impl EmailDomains for Backend {
    async fn list_email_domains(
        &self,
        org: Uuid,
        window: Window<NameCursor>,
    ) -> StoreResult<Vec<EmailDomain>> {
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT id, domain, verified, created_at, verified_at FROM email_domains \
             WHERE org_id = ",
        );
        qb.push_bind(org);
        push_window(&mut qb, window, "domain, id", |qb, c| {
            qb.push(" AND (domain, id) > (")
                .push_bind(c.name)
                .push(", ")
                .push_bind(c.id)
                .push(")");
        });
        let rows: Vec<DomainRow> = qb
            .build_query_as()
            .fetch_all(self.reads())
            .await
            .map_err(other)?;
        Ok(rows.into_iter().map(EmailDomain::from).collect())
    }

    async fn count_email_domains(&self, org: Uuid) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM email_domains WHERE org_id = $1")
            .bind(org)
            .fetch_one(self.reads())
            .await
            .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn add_email_domain(
        &self,
        org: Uuid,
        domain: &str,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<EmailDomain> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let row: DomainRow = sqlx::query_as(
            "INSERT INTO email_domains (id, org_id, domain, verified, created_at, verified_at) \
             VALUES ($1, $2, $3, true, $4, $4) RETURNING id, domain, verified, created_at, verified_at",
        )
        .bind(Uuid::new_v4())
        .bind(org)
        .bind(domain)
        .bind(ts(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(conflict_on("domain"))?;
        let object = Object::new("email_domain", row.id, &row.domain);
        let event = Event::on_team(org, "email_domain.created", object)
            .with(json!({ "domain": row.domain }));
        audit::record(&mut tx, origin, event).await?;
        tx.commit().await.map_err(other)?;
        Ok(row.into())
    }

    async fn delete_email_domain(&self, org: Uuid, id: Uuid, origin: &Origin) -> StoreResult<()> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let gone: Option<String> = sqlx::query_scalar(
            "DELETE FROM email_domains WHERE id = $1 AND org_id = $2 RETURNING domain",
        )
        .bind(id)
        .bind(org)
        .fetch_optional(&mut *tx)
        .await
        .map_err(other)?;
        let domain = gone.ok_or(StoreError::NotFound)?;
        let object = Object::new("email_domain", id, &domain);
        let event =
            Event::on_team(org, "email_domain.deleted", object).with(json!({ "domain": domain }));
        audit::record(&mut tx, origin, event).await?;
        tx.commit().await.map_err(other)
    }
}
