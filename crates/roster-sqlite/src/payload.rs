//! The working table of a set-based change that names people by email (group members,
//! campaign members): the payload goes in as JSON parameters of 10,000 items each, expanded by
//! `json_each`, resolved against the team's members, and checked against the email rule, all inside the
//! caller's transaction. It lives on the (single) writer connection.

use crate::other;
use roster_core::store::{MemberRef, NewCampaignMember, Rejection};
use roster_core::{StoreError, StoreResult};
use sqlx::SqliteConnection;
use uuid::Uuid;

const TABLE: &str = "
    CREATE TEMP TABLE IF NOT EXISTS payload (
        pos        INTEGER PRIMARY KEY,
        new_id     BLOB    NOT NULL,  -- the id a new row gets
        by_id      INTEGER NOT NULL,  -- 1: given as a user id; 0: as an email
        email      TEXT,
        email_norm TEXT,
        domain     TEXT,
        user_id    BLOB,
        data       TEXT,              -- campaign members: their data, as sent
        member     INTEGER NOT NULL DEFAULT 0  -- 1 once resolved to a member of the team
    );
    CREATE INDEX IF NOT EXISTS temp.payload_email ON payload (email_norm);
    DELETE FROM payload;";

/// One item as a positional array (cheaper for `json_each` than an object):
/// `[new id, 0, email, lower-cased email, domain, data]` or `[new id, 1, user id]`; ids as hex
/// for `unhex`.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Row<'a> {
    Email(String, u8, &'a str, &'a str, &'a str, Option<&'a str>),
    UserId(String, u8, String),
}

/// Ids of rows made in bulk are time-ordered (UUIDv7): they append at the end of the primary
/// key's B-tree instead of landing at random places in it, which halves large inserts.
fn new_id() -> String {
    Uuid::now_v7().simple().to_string()
}

/// Items go into the table in JSON texts of about this many bytes: a 100,000-item payload as
/// one text is copied by the bind and parsed whole by `json_each`, tens of megabytes at once.
/// Sized in bytes, not items, because a campaign member's `data` makes its item long.
const SLICE_BYTES: usize = 1 << 20;

/// The table filled from group-member items, each resolved against the team.
pub(crate) async fn load_members(
    conn: &mut SqliteConnection,
    org: Uuid,
    items: &[MemberRef],
) -> StoreResult<()> {
    load(conn, org, items, |item| match item {
        MemberRef::Email(e) => Row::Email(new_id(), 0, e.email(), e.email_norm(), e.domain(), None),
        MemberRef::UserId(id) => Row::UserId(new_id(), 1, id.simple().to_string()),
    })
    .await
}

/// The table filled from campaign-member items, each resolved against the team.
pub(crate) async fn load_campaign_members(
    conn: &mut SqliteConnection,
    org: Uuid,
    items: &[NewCampaignMember<'_>],
) -> StoreResult<()> {
    load(conn, org, items, |m| {
        let e = &m.email;
        Row::Email(
            new_id(),
            0,
            e.email(),
            e.email_norm(),
            e.domain(),
            Some(m.data),
        )
    })
    .await
}

async fn load<'a, T>(
    conn: &mut SqliteConnection,
    org: Uuid,
    items: &'a [T],
    row: impl Fn(&'a T) -> Row<'a>,
) -> StoreResult<()> {
    sqlx::raw_sql(TABLE)
        .execute(&mut *conn)
        .await
        .map_err(other)?;
    let mut first = 0;
    let mut json = Vec::new();
    for (position, item) in items.iter().enumerate() {
        json.push(if json.is_empty() { b'[' } else { b',' });
        serde_json::to_writer(&mut json, &row(item))
            .map_err(|e| StoreError::Other(e.to_string()))?;
        if json.len() >= SLICE_BYTES || position + 1 == items.len() {
            json.push(b']');
            let text = String::from_utf8(std::mem::take(&mut json))
                .map_err(|e| StoreError::Other(e.to_string()))?;
            insert_slice(conn, text, first).await?;
            first = position + 1;
        }
    }
    // A user id must be a member; it takes the member's email.
    sqlx::query(
        "UPDATE payload SET email = u.email, email_norm = u.email_norm, member = 1 \
         FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE payload.by_id = 1 AND m.org_id = $1 AND m.user_id = payload.user_id",
    )
    .bind(org)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    // An email of a member takes that member's user.
    sqlx::query(
        "UPDATE payload SET user_id = m.user_id, member = 1 FROM memberships m \
         WHERE payload.by_id = 0 AND m.org_id = $1 AND m.email_norm = payload.email_norm",
    )
    .bind(org)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

/// Inserts one slice of items, a JSON array whose first item is at `first` in the payload.
async fn insert_slice(conn: &mut SqliteConnection, json: String, first: usize) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO payload (pos, new_id, by_id, email, email_norm, domain, user_id, data) \
         SELECT $2 + key, unhex(value ->> 0), value ->> 1, \
                CASE value ->> 1 WHEN 0 THEN value ->> 2 END, value ->> 3, value ->> 4, \
                CASE value ->> 1 WHEN 1 THEN unhex(value ->> 2) END, value ->> 5 \
         FROM json_each($1)",
    )
    .bind(json)
    .bind(i64::try_from(first).unwrap_or(i64::MAX))
    .execute(&mut *conn)
    .await
    .map(|_| ())
    .map_err(other)
}

/// Drops the items whose email belongs to no campaign member of the team.
pub(crate) async fn keep_campaign_members(
    conn: &mut SqliteConnection,
    org: Uuid,
) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM payload WHERE email_norm IS NULL OR NOT EXISTS \
         (SELECT 1 FROM campaign_members cm \
          WHERE cm.org_id = $1 AND cm.email_norm = payload.email_norm)",
    )
    .bind(org)
    .execute(&mut *conn)
    .await
    .map(|_| ())
    .map_err(other)
}

/// The email rule: fails with every item that is neither a member of the team nor an email of
/// a domain verified for it, in payload order.
pub(crate) async fn reject_rule_breakers(
    conn: &mut SqliteConnection,
    org: Uuid,
) -> StoreResult<()> {
    let rejected: Vec<(i64, bool, Option<String>)> = sqlx::query_as(
        "SELECT pos, by_id, email FROM payload \
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
        .map(|(pos, by_id, email)| {
            Rejection::email_rule(usize::try_from(pos).unwrap_or(usize::MAX), by_id, email)
        })
        .collect();
    Err(StoreError::Rejected(rejections))
}

/// Empties the table so its rows do not outlive the transaction's need for them.
pub(crate) async fn clear(conn: &mut SqliteConnection) -> StoreResult<()> {
    sqlx::query("DELETE FROM payload")
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(other)
}
