//! Group memberships: the list, and adding or replacing members with the email rule.
//!
//! A change is set-based: the payload goes in as one JSON parameter, is expanded by
//! `json_each` into a temporary table, resolved against the team's members and verified
//! domains, and applied with a fixed handful of statements, whatever the payload's size. It
//! all happens in one `BEGIN IMMEDIATE` transaction, so a rejected item changes nothing and
//! concurrent changes apply in some serial order.

use crate::{SqliteStore, other};
use roster_core::store::{EmailCursor, MemberRef, MembersChange, Rejection, Window};
use roster_core::{GroupMembership, StoreError, StoreResult, Timestamp, User};
use sqlx::{FromRow, QueryBuilder, Sqlite, SqliteConnection, SqliteExecutor};
use uuid::Uuid;

const SELECT: &str = "SELECT gm.id, gm.email, gm.created_at, u.id AS user_id, u.name, \
     u.email AS user_email, u.service_account, u.deployment_key_account, u.date_joined, \
     u.last_active_at FROM group_memberships gm LEFT JOIN users u ON u.id = gm.user_id";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    email: String,
    created_at: i64,
    user_id: Option<Uuid>,
    name: Option<String>,
    user_email: Option<String>,
    service_account: Option<bool>,
    deployment_key_account: Option<bool>,
    date_joined: Option<i64>,
    last_active_at: Option<i64>,
}

impl From<Row> for GroupMembership {
    fn from(r: Row) -> Self {
        let user = r.user_id.map(|id| User {
            id,
            name: r.name.unwrap_or_default(),
            email: r.user_email.clone().unwrap_or_else(|| r.email.clone()),
            service_account: r.service_account.unwrap_or_default(),
            deployment_key_account: r.deployment_key_account.unwrap_or_default(),
            date_joined: r.date_joined.map(Timestamp::from_micros),
        });
        GroupMembership {
            id: r.id,
            email: r.user_email.unwrap_or(r.email),
            user,
            created_at: Timestamp::from_micros(r.created_at),
            campaigns: Vec::new(),
            last_active_at: r.last_active_at.map(Timestamp::from_micros),
        }
    }
}

pub(crate) async fn list(
    store: &SqliteStore,
    group: Uuid,
    window: Window<EmailCursor>,
) -> StoreResult<Vec<GroupMembership>> {
    // Emails are unique within a group, so (group_id, email_norm) orders the list; the page is
    // chosen on that index alone, then joined.
    let mut qb = QueryBuilder::<Sqlite>::new(format!(
        "{SELECT} JOIN (SELECT rowid AS page_rowid FROM group_memberships WHERE group_id = "
    ));
    qb.push_bind(group);
    let (offset, limit) = match window {
        Window::Page { offset, limit } => (offset, limit),
        Window::After { cursor, limit } => {
            if let Some(EmailCursor(after)) = cursor {
                qb.push(" AND email_norm > ").push_bind(after);
            }
            (0, limit)
        }
    };
    qb.push(" ORDER BY email_norm LIMIT ")
        .push_bind(i64::from(limit))
        .push(" OFFSET ")
        .push_bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .push(") page ON page.page_rowid = gm.rowid ORDER BY gm.email_norm");
    let rows: Vec<Row> = qb
        .build_query_as()
        .fetch_all(&store.reader)
        .await
        .map_err(other)?;
    Ok(rows.into_iter().map(GroupMembership::from).collect())
}

pub(crate) async fn count(store: &SqliteStore, group: Uuid) -> StoreResult<u64> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM group_memberships WHERE group_id = $1")
        .bind(group)
        .fetch_one(&store.reader)
        .await
        .map_err(other)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(crate) async fn remove(store: &SqliteStore, group: Uuid, id: Uuid) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM group_memberships WHERE id = $1 AND group_id = $2")
        .bind(id)
        .bind(group)
        .execute(&store.writer)
        .await
        .map_err(other)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The payload's working table, private to the (single) writer connection.
const PAYLOAD_TABLE: &str = "
    CREATE TEMP TABLE IF NOT EXISTS gm_payload (
        pos        INTEGER PRIMARY KEY,
        new_id     BLOB    NOT NULL,  -- the id a new membership gets
        by_id      INTEGER NOT NULL,  -- 1: given as a user id; 0: as an email
        email      TEXT,
        email_norm TEXT,
        domain     TEXT,
        user_id    BLOB,
        member     INTEGER NOT NULL DEFAULT 0  -- 1 once resolved to a member of the team
    );
    CREATE INDEX IF NOT EXISTS temp.gm_payload_email ON gm_payload (email_norm);
    DELETE FROM gm_payload;";

/// One payload item for `json_each`, as a positional array (cheaper to parse than an object):
/// `[new id, 0, email, lower-cased email, domain]` or `[new id, 1, user id]`, ids as hex for
/// `unhex`.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum PayloadRow<'a> {
    Email(String, u8, &'a str, &'a str, &'a str),
    UserId(String, u8, String),
}

fn payload_json(items: &[MemberRef]) -> StoreResult<String> {
    let rows: Vec<PayloadRow> = items
        .iter()
        .map(|item| {
            let new_id = Uuid::new_v4().simple().to_string();
            match item {
                MemberRef::Email {
                    email,
                    email_norm,
                    domain,
                } => PayloadRow::Email(new_id, 0, email, email_norm, domain),
                MemberRef::UserId(id) => PayloadRow::UserId(new_id, 1, id.simple().to_string()),
            }
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| StoreError::Other(e.to_string()))
}

pub(crate) async fn change(
    store: &SqliteStore,
    group: Uuid,
    items: &[MemberRef],
    change: MembersChange,
    require_campaign: bool,
    now: Timestamp,
) -> StoreResult<Vec<GroupMembership>> {
    let mut tx = store.write().await?;
    let org: Uuid = sqlx::query_scalar("SELECT org_id FROM groups WHERE id = $1")
        .bind(group)
        .fetch_optional(&mut *tx)
        .await
        .map_err(other)?
        .ok_or(StoreError::NotFound)?;
    load_payload(&mut tx, org, items).await?;
    if require_campaign {
        skip_outside_campaigns(&mut tx, org).await?;
    }
    reject_rule_breakers(&mut tx, org).await?;
    apply(&mut tx, group, change, now).await?;
    let result = match change {
        MembersChange::Add => {
            let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{SELECT} WHERE gm.group_id = $1 \
                 AND gm.email_norm IN (SELECT email_norm FROM gm_payload) \
                 ORDER BY gm.email_norm"
            )))
            .bind(group)
            .fetch_all(&mut *tx)
            .await
            .map_err(other)?;
            rows.into_iter().map(GroupMembership::from).collect()
        }
        MembersChange::Replace => Vec::new(),
    };
    execute(&mut *tx, "DELETE FROM gm_payload", &[]).await?;
    tx.commit().await.map_err(other)?;
    Ok(result)
}

/// Fills the working table and resolves each item against the team's members.
async fn load_payload(
    conn: &mut SqliteConnection,
    org: Uuid,
    items: &[MemberRef],
) -> StoreResult<()> {
    sqlx::raw_sql(PAYLOAD_TABLE)
        .execute(&mut *conn)
        .await
        .map_err(other)?;
    sqlx::query(
        "INSERT INTO gm_payload (pos, new_id, by_id, email, email_norm, domain, user_id) \
         SELECT key, unhex(value ->> 0), value ->> 1, \
                CASE value ->> 1 WHEN 0 THEN value ->> 2 END, value ->> 3, value ->> 4, \
                CASE value ->> 1 WHEN 1 THEN unhex(value ->> 2) END \
         FROM json_each($1)",
    )
    .bind(payload_json(items)?)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    // A user id must be a member; it takes the member's email.
    execute(
        &mut *conn,
        "UPDATE gm_payload SET email = u.email, email_norm = u.email_norm, member = 1 \
         FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE gm_payload.by_id = 1 AND m.org_id = $1 AND m.user_id = gm_payload.user_id",
        &[org],
    )
    .await?;
    // An email of a member takes that member's user.
    execute(
        &mut *conn,
        "UPDATE gm_payload SET user_id = m.user_id, member = 1 FROM memberships m \
         WHERE gm_payload.by_id = 0 AND m.org_id = $1 AND m.email_norm = gm_payload.email_norm",
        &[org],
    )
    .await
}

/// `require_campaign`: items whose email is no campaign member's are skipped. This schema has
/// no campaigns yet, so no email belongs to a campaign member and every item is skipped.
async fn skip_outside_campaigns(conn: &mut SqliteConnection, _org: Uuid) -> StoreResult<()> {
    execute(&mut *conn, "DELETE FROM gm_payload", &[]).await
}

/// Fails with every item that breaks the email rule, in payload order.
async fn reject_rule_breakers(conn: &mut SqliteConnection, org: Uuid) -> StoreResult<()> {
    let rejected: Vec<(i64, bool, Option<String>)> = sqlx::query_as(
        "SELECT pos, by_id, email FROM gm_payload \
         WHERE member = 0 AND (by_id = 1 OR domain IS NULL OR domain NOT IN \
             (SELECT domain FROM email_domains WHERE org_id = $1 AND verified = 1)) \
         ORDER BY pos",
    )
    .bind(org)
    .fetch_all(&mut *conn)
    .await
    .map_err(other)?;
    if rejected.is_empty() {
        return Ok(());
    }
    let rejections = rejected
        .into_iter()
        .map(|(pos, by_id, email)| Rejection {
            position: usize::try_from(pos).unwrap_or(usize::MAX),
            field: if by_id { "user_id" } else { "email" },
            message: if by_id {
                "No member of this organization has this id.".to_owned()
            } else {
                format!(
                    "{} is not a member of this organization, and its domain is not verified \
                     for it.",
                    email.unwrap_or_default()
                )
            },
        })
        .collect();
    Err(StoreError::Rejected(rejections))
}

async fn apply(
    conn: &mut SqliteConnection,
    group: Uuid,
    change: MembersChange,
    now: Timestamp,
) -> StoreResult<()> {
    if change == MembersChange::Replace {
        execute(
            &mut *conn,
            "DELETE FROM group_memberships WHERE group_id = $1 AND NOT EXISTS \
             (SELECT 1 FROM gm_payload p WHERE p.email_norm = group_memberships.email_norm)",
            &[group],
        )
        .await?;
    }
    // A membership held by email whose owner is now a member attaches to them.
    execute(
        &mut *conn,
        "UPDATE group_memberships SET user_id = p.user_id FROM gm_payload p \
         WHERE group_memberships.group_id = $1 AND group_memberships.user_id IS NULL \
           AND p.member = 1 AND p.email_norm = group_memberships.email_norm",
        &[group],
    )
    .await?;
    // People already in the group keep their membership; duplicates in the payload collapse
    // on the unique (group_id, email_norm).
    sqlx::query(
        "INSERT INTO group_memberships (id, group_id, user_id, email, email_norm, created_at) \
         SELECT new_id, $1, CASE WHEN member = 1 THEN user_id END, email, email_norm, $2 \
         FROM gm_payload WHERE true ORDER BY pos \
         ON CONFLICT (group_id, email_norm) DO NOTHING",
    )
    .bind(group)
    .bind(now.as_micros())
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

async fn execute<'e>(
    db: impl SqliteExecutor<'e>,
    sql: &'static str,
    ids: &[Uuid],
) -> StoreResult<()> {
    let mut query = sqlx::query(sql);
    for id in ids {
        query = query.bind(*id);
    }
    query.execute(db).await.map(|_| ()).map_err(other)
}
