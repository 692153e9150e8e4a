//! The working table of a set-based change that names people by email (group members,
//! campaign members): the payload is bound as arrays and expanded by `UNNEST` into a temporary
//! table of the connection (emptied at commit), checked against the email rule, all inside
//! the caller's transaction. An item given by user id takes its member's email here; one
//! given by email is matched with the team's members where it is used, in a join: an UPDATE
//! marking each row here rewrote 100,000 rows.

use crate::other;
use roster_core::store::{EmailRef, MemberRef, NewCampaignMember, Rejection};
use roster_core::{StoreError, StoreResult};
use sqlx::PgConnection;
use uuid::Uuid;

const TABLE: &str = "CREATE TEMP TABLE IF NOT EXISTS payload (
        pos        bigint PRIMARY KEY,
        new_id     uuid   NOT NULL,  -- the id a new row gets
        by_id      boolean NOT NULL, -- given as a user id rather than an email
        email      text,
        email_norm text COLLATE \"C\",
        domain     text,
        user_id    uuid,             -- given as a user id: that user
        data       text,             -- campaign members: their data, as sent
        member     boolean NOT NULL DEFAULT false  -- given as a user id: of a member of the team
    ) ON COMMIT DELETE ROWS";

/// One slice of the payload as parallel arrays, one element per item, borrowing the items'
/// text: copies of a 100,000-item payload, and their encoding all at once, were tens of
/// megabytes at the peak of a replace.
#[derive(Default)]
struct Columns<'a> {
    new_id: Vec<Uuid>,
    by_id: Vec<bool>,
    email: Vec<Option<&'a str>>,
    email_norm: Vec<Option<&'a str>>,
    domain: Vec<Option<&'a str>>,
    user_id: Vec<Option<Uuid>>,
    data: Vec<Option<&'a str>>,
    /// About how many bytes the slice's text takes.
    bytes: usize,
}

/// Items go into the table in slices of about this many bytes of text.
const SLICE_BYTES: usize = 1 << 20;

/// Ids of rows made in bulk are time-ordered (UUIDv7): they append at the end of the primary
/// key's B-tree instead of landing at random places in it.
fn new_id() -> Uuid {
    Uuid::now_v7()
}

impl<'a> Columns<'a> {
    fn push_email(&mut self, email: &'a EmailRef, data: Option<&'a str>) {
        let (email_norm, domain, email) = (email.email_norm(), email.domain(), email.email());
        self.new_id.push(new_id());
        self.by_id.push(false);
        self.email.push(Some(email));
        self.email_norm.push(Some(email_norm));
        self.domain.push(Some(domain));
        self.user_id.push(None);
        self.data.push(data);
        self.bytes += email.len() + email_norm.len() + domain.len() + data.map_or(0, str::len);
    }

    fn push_member(&mut self, item: &'a MemberRef) {
        match item {
            MemberRef::Email(email) => self.push_email(email, None),
            MemberRef::UserId(id) => {
                self.new_id.push(new_id());
                self.by_id.push(true);
                self.email.push(None);
                self.email_norm.push(None);
                self.domain.push(None);
                self.user_id.push(Some(*id));
                self.data.push(None);
                self.bytes += 16;
            }
        }
    }
}

/// Fills the table from group-member items and resolves each against the team.
pub(crate) async fn load_members(
    conn: &mut PgConnection,
    org: Uuid,
    items: &[MemberRef],
) -> StoreResult<()> {
    load(conn, org, items, Columns::push_member).await
}

/// Fills the table from campaign-member items and resolves each against the team.
pub(crate) async fn load_campaign_members(
    conn: &mut PgConnection,
    org: Uuid,
    items: &[NewCampaignMember<'_>],
) -> StoreResult<()> {
    load(conn, org, items, |columns, m| {
        columns.push_email(&m.email, Some(m.data));
    })
    .await
}

async fn load<'a, T>(
    conn: &mut PgConnection,
    org: Uuid,
    items: &'a [T],
    push: impl Fn(&mut Columns<'a>, &'a T),
) -> StoreResult<()> {
    sqlx::query(TABLE)
        .execute(&mut *conn)
        .await
        .map_err(other)?;
    // Every "is it in the payload" probe (the replaces' NOT EXISTS) is an index lookup, so
    // no plan can make one a scan per row: a group created after the last ANALYZE looks
    // empty to the planner, which then chose exactly that (50 s for 20,000 emails).
    sqlx::query("CREATE INDEX IF NOT EXISTS payload_email_norm ON payload (email_norm)")
        .execute(&mut *conn)
        .await
        .map_err(other)?;
    sqlx::query("DELETE FROM payload")
        .execute(&mut *conn)
        .await
        .map_err(other)?;
    let (mut first, mut by_id) = (0, false);
    let mut columns = Columns::default();
    for (position, item) in items.iter().enumerate() {
        push(&mut columns, item);
        by_id |= columns.by_id.last() == Some(&true);
        if columns.bytes >= SLICE_BYTES || position + 1 == items.len() {
            insert_slice(conn, std::mem::take(&mut columns), first).await?;
            first = position + 1;
        }
    }
    sqlx::query("ANALYZE payload")
        .execute(&mut *conn)
        .await
        .map_err(other)?;
    if !by_id {
        return Ok(());
    }
    // A user id must be a member; it takes the member's email.
    sqlx::query(
        "UPDATE payload SET email = u.email, email_norm = u.email_norm, member = true \
         FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE payload.by_id AND m.org_id = $1 AND m.user_id = payload.user_id",
    )
    .bind(org)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

/// Inserts one slice of items, the first of which is at `first` in the payload.
async fn insert_slice(
    conn: &mut PgConnection,
    columns: Columns<'_>,
    first: usize,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO payload (pos, new_id, by_id, email, email_norm, domain, user_id, data) \
         SELECT $8 + ord - 1, new_id, by_id, email, email_norm, domain, user_id, data \
         FROM UNNEST($1::uuid[], $2::boolean[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::text[]) \
              WITH ORDINALITY AS t(new_id, by_id, email, email_norm, domain, user_id, data, ord)",
    )
    .bind(columns.new_id)
    .bind(columns.by_id)
    .bind(columns.email)
    .bind(columns.email_norm)
    .bind(columns.domain)
    .bind(columns.user_id)
    .bind(columns.data)
    .bind(i64::try_from(first).unwrap_or(i64::MAX))
    .execute(&mut *conn)
    .await
    .map(|_| ())
    .map_err(other)
}

/// Drops the items whose email belongs to no campaign member of the team.
pub(crate) async fn keep_campaign_members(conn: &mut PgConnection, org: Uuid) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM payload WHERE email_norm IS NULL OR NOT EXISTS \
         (SELECT 1 FROM campaign_members cm WHERE cm.org_id = $1 AND cm.email_norm = payload.email_norm)",
    )
    .bind(org)
    .execute(&mut *conn)
    .await
    .map(|_| ())
    .map_err(other)
}

/// The email rule: fails with every item that is neither a member of the team nor an email of
/// a domain verified for it, in payload order.
pub(crate) async fn reject_rule_breakers(conn: &mut PgConnection, org: Uuid) -> StoreResult<()> {
    let rejected: Vec<(i64, bool, Option<String>)> = sqlx::query_as(
        // Outside a verified domain first (OFFSET 0 keeps the planner from merging the two
        // steps), then whether those few are members: not a membership lookup per item.
        "SELECT pos, by_id, email FROM \
             (SELECT pos, by_id, email, email_norm FROM payload \
              WHERE NOT member AND (by_id OR domain IS NULL OR domain NOT IN \
                  (SELECT domain FROM email_domains WHERE org_id = $1 AND verified)) \
              OFFSET 0) outside \
         WHERE by_id OR NOT EXISTS (SELECT 1 FROM memberships m \
             WHERE m.org_id = $1 AND m.email_norm = outside.email_norm) \
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

/// Nothing to do: the table is emptied at commit (`ON COMMIT DELETE ROWS`), which SQLite's
/// temporary tables cannot do.
pub(crate) async fn clear(_conn: &mut PgConnection) -> StoreResult<()> {
    Ok(())
}
