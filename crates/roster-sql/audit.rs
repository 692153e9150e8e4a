//! The change history: each use case records its event with [`record`] on the connection of
//! its own transaction, so a change and its event commit or roll back together; the history
//! is read newest first and pruned in small batches. Compiled into each backend against its
//! `dialect` module (see README.md).

use crate::dialect::{Backend, Conn, Db, NOW, Stamp, at, ts};
use crate::other;
use crate::rows::{prune_oldest, push_window};
use async_trait::async_trait;
use roster_core::audit::{AuditCursor, AuditEvent, AuditFilter, AuditObject, AuditScope, Face};
use roster_core::store::{AuditLog, Window};
use roster_core::{Origin, StoreError, StoreResult, Timestamp, User};
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

/// An object an event names: its content type, id and label.
pub(crate) struct Object {
    pub kind: &'static str,
    pub id: String,
    /// `None` for the team the event is in: its name now is written.
    pub label: Option<String>,
}

impl Object {
    pub fn new(kind: &'static str, id: impl ToString, label: impl Into<String>) -> Self {
        Object {
            kind,
            id: id.to_string(),
            label: Some(label.into()),
        }
    }

    /// The team the event is in, labelled with its name.
    pub fn team(org: Uuid) -> Self {
        Object {
            kind: "organization",
            id: org.to_string(),
            label: None,
        }
    }
}

/// One change to record.
pub(crate) struct Event {
    pub org: Uuid,
    /// The group whose history shows it too.
    pub group: Option<Uuid>,
    /// `<content type>.<verb>`.
    pub action: &'static str,
    pub target: Object,
    pub object: Option<Object>,
    /// The JSON object of what changed.
    pub data: String,
}

impl Event {
    /// An event on the team, naming the thing changed in it.
    pub fn on_team(org: Uuid, action: &'static str, object: Object) -> Self {
        Event {
            org,
            group: None,
            action,
            target: Object::team(org),
            object: Some(object),
            data: "{}".into(),
        }
    }

    /// An event on the team itself.
    pub fn of_team(org: Uuid, action: &'static str) -> Self {
        Event {
            org,
            group: None,
            action,
            target: Object::team(org),
            object: None,
            data: "{}".into(),
        }
    }

    /// Shows the event in the group's history too.
    pub fn of_group(mut self, group: Uuid) -> Self {
        self.group = Some(group);
        self
    }

    pub fn with(mut self, data: serde_json::Value) -> Self {
        self.data = data.to_string();
        self
    }
}

/// Writes the event in the transaction of `conn`, with a copy of who the actor is now (the
/// history outlives people and their names).
pub(crate) async fn record(conn: &mut Conn, origin: &Origin, event: Event) -> StoreResult<()> {
    record_at(conn, origin, event).await.map(|_| ())
}

/// [`record`], returning the event's position, for a use case that completes its data in
/// SQL afterwards.
pub(crate) async fn record_at(conn: &mut Conn, origin: &Origin, event: Event) -> StoreResult<i64> {
    hold_history(conn, event.org).await?;
    let sql = format!(
        "INSERT INTO audit_events (id, org_id, group_id, action_type, target_type, target_id, \
         target_label, object_type, object_id, object_label, actor_id, actor_name, actor_email, \
         actor_service_account, actor_deployment_key, actor_joined, face, request_id, data, at) \
         SELECT $1, $2, $3, $4, $5, $6, \
         COALESCE($7, (SELECT o.name FROM organizations o WHERE o.id = $2), ''), $8, $9, $10, $14, u.name, u.email, \
         u.service_account, u.deployment_key_account, u.date_joined, $11, $12, $13, {NOW} \
         FROM (SELECT 1 AS one) one LEFT JOIN users u ON u.id = $14 RETURNING seq"
    );
    let (object_type, object_id, object_label) = match event.object {
        Some(o) => (Some(o.kind), Some(o.id), o.label),
        None => (None, None, None),
    };
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(Uuid::new_v4())
        .bind(event.org)
        .bind(event.group)
        .bind(event.action)
        .bind(event.target.kind)
        .bind(event.target.id)
        .bind(event.target.label)
        .bind(object_type)
        .bind(object_id)
        .bind(object_label)
        .bind(origin.face.as_str())
        .bind(origin.request_id.as_deref())
        .bind(event.data)
        .bind(origin.actor)
        .fetch_one(&mut *conn)
        .await
        .map_err(other)
}

/// Holds the team's history until the transaction ends, before its event takes a position:
/// a team's events then commit in the order of their positions, with no gap that a later
/// commit fills, so that webhooks, which read a team's history forward from where they
/// stand, never pass an event by (see `webhooks.rs`). A no-op on SQLite, whose one writer
/// already orders every commit.
async fn hold_history(conn: &mut Conn, org: Uuid) -> StoreResult<()> {
    crate::dialect::one_at_a_time(conn, &format!("roster-history-{org}")).await
}

/// Events of one team that pass `condition` (SQL after `WHERE`, with the team at `$1` and
/// a position at `$2`), as written.
pub(crate) async fn read_events(
    pool: &sqlx::Pool<Db>,
    condition: &str,
    org: Uuid,
    seq: i64,
) -> StoreResult<Vec<AuditEvent>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT}{condition}")))
        .bind(org)
        .bind(seq)
        .fetch_all(pool)
        .await
        .map_err(other)?;
    rows.into_iter().map(AuditEvent::try_from).collect()
}

/// Writes many events at once (SCIM's batched creates): one multi-row insert and one update
/// that copies their actors, whatever their number.
pub(crate) async fn record_all(conn: &mut Conn, events: Vec<(&Origin, Event)>) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut teams: Vec<Uuid> = events.iter().map(|(_, e)| e.org).collect();
    teams.sort_unstable();
    teams.dedup();
    for org in teams {
        hold_history(conn, org).await?;
    }
    let mut qb = QueryBuilder::<Db>::new(
        "INSERT INTO audit_events (id, org_id, group_id, action_type, target_type, target_id, \
         target_label, object_type, object_id, object_label, actor_id, face, request_id, data, \
         at) ",
    );
    qb.push_values(events, |mut row, (origin, e)| {
        let (object_type, object_id, object_label) = match e.object {
            Some(o) => (Some(o.kind), Some(o.id), o.label),
            None => (None, None, None),
        };
        row.push_bind(Uuid::new_v4())
            .push_bind(e.org)
            .push_bind(e.group)
            .push_bind(e.action)
            .push_bind(e.target.kind)
            .push_bind(e.target.id)
            .push_bind(e.target.label.unwrap_or_default())
            .push_bind(object_type)
            .push_bind(object_id)
            .push_bind(object_label)
            .push_bind(origin.actor)
            .push_bind(origin.face.as_str())
            .push_bind(origin.request_id.clone())
            .push_bind(e.data)
            .push(NOW);
    });
    qb.push(" RETURNING seq");
    let written: Vec<i64> = qb
        .build_query_scalar()
        .fetch_all(&mut *conn)
        .await
        .map_err(other)?;
    let mut qb = QueryBuilder::<Db>::new(
        "UPDATE audit_events SET actor_name = u.name, actor_email = u.email, \
         actor_service_account = u.service_account, \
         actor_deployment_key = u.deployment_key_account, actor_joined = u.date_joined \
         FROM users u WHERE u.id = audit_events.actor_id AND audit_events.seq IN (",
    );
    let mut list = qb.separated(", ");
    for seq in written {
        list.push_bind(seq);
    }
    qb.push(")");
    qb.build().execute(&mut *conn).await.map_err(other)?;
    Ok(())
}

/// Runs `rows` (SQL for a JSON array, from the dialect's `json_rows`, whose `$1` is `id`):
/// the array's text.
pub(crate) async fn list(conn: &mut Conn, rows: &str, id: Uuid) -> StoreResult<String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {rows}")))
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(other)
}

/// The data of a member-list change: a JSON object of its named arrays of people.
pub(crate) fn people(lists: &[(&str, &str)]) -> String {
    let fields: Vec<String> = lists
        .iter()
        .map(|(name, list)| format!("\"{name}\":{list}"))
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// Records a change to a group's members whose people the database writes into the event
/// (`UPDATE audit_events SET data = ... WHERE seq = ...`), inside the change's transaction: a
/// million-person change's lists never pass through the server's memory. `data` is what the
/// event holds until then.
pub(crate) async fn record_group_change(
    conn: &mut Conn,
    origin: &Origin,
    org: Uuid,
    group: Uuid,
    replace: bool,
    data: String,
) -> StoreResult<i64> {
    let name: String = sqlx::query_scalar("SELECT name FROM groups WHERE id = $1")
        .bind(group)
        .fetch_one(&mut *conn)
        .await
        .map_err(other)?;
    let action = if replace {
        "group_membership.replaced"
    } else {
        "group_membership.added"
    };
    let mut event = Event::on_team(org, action, Object::new("group", group, name)).of_group(group);
    event.data = data;
    record_at(conn, origin, event).await
}

/// Records a change to a group's members, unless it changed none.
pub(crate) async fn group_members_changed(
    conn: &mut Conn,
    origin: &Origin,
    org: Uuid,
    group: Uuid,
    action: &'static str,
    added: &str,
    removed: &str,
) -> StoreResult<()> {
    if added == "[]" && removed == "[]" {
        return Ok(());
    }
    let name: String = sqlx::query_scalar("SELECT name FROM groups WHERE id = $1")
        .bind(group)
        .fetch_one(&mut *conn)
        .await
        .map_err(other)?;
    let mut event = Event::on_team(org, action, Object::new("group", group, name)).of_group(group);
    event.data = people(&[("added", added), ("removed", removed)]);
    record(conn, origin, event).await
}

/// Records an import: its counts, and its rows' people in file order, which the database
/// writes from the import's working table `import_rows` (a million people never pass through
/// the server's memory); webhooks send them on in batches.
pub(crate) async fn imported(
    conn: &mut Conn,
    origin: &Origin,
    org: Uuid,
    summary: &roster_core::store::ImportSummary,
) -> StoreResult<()> {
    let counts = serde_json::to_string(summary).map_err(|e| StoreError::Other(e.to_string()))?;
    let mut event = Event::of_team(org, "membership.imported");
    event.data = counts.clone();
    let seq = record_at(conn, origin, event).await?;
    // The counts' object, opened again for one more field.
    let head = format!("{},\"people\":", counts.trim_end_matches('}'));
    let people = crate::dialect::json_rows(&[("email", "r.email")], "import_rows r", "r.pos");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE audit_events SET data = $1 || {people} || '}}' WHERE seq = $2"
    )))
    .bind(head)
    .bind(seq)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

const SELECT: &str = "SELECT seq, id, action_type, target_type, target_id, target_label, \
     object_type, object_id, object_label, actor_id, actor_name, actor_email, \
     actor_service_account, actor_deployment_key, actor_joined, face, request_id, data, at \
     FROM audit_events WHERE ";

#[derive(FromRow)]
struct Row {
    seq: i64,
    id: Uuid,
    action_type: String,
    target_type: String,
    target_id: String,
    target_label: String,
    object_type: Option<String>,
    object_id: Option<String>,
    object_label: Option<String>,
    actor_id: Option<Uuid>,
    actor_name: Option<String>,
    actor_email: Option<String>,
    actor_service_account: Option<bool>,
    actor_deployment_key: Option<bool>,
    actor_joined: Option<Stamp>,
    face: String,
    request_id: Option<String>,
    data: String,
    at: Stamp,
}

impl TryFrom<Row> for AuditEvent {
    type Error = StoreError;

    fn try_from(r: Row) -> StoreResult<AuditEvent> {
        let corrupt = |what: &str| StoreError::Other(format!("audit event {}: bad {what}", r.id));
        let face = Face::parse(&r.face).ok_or_else(|| corrupt("face"))?;
        let data = serde_json::value::RawValue::from_string(r.data.clone())
            .map_err(|_| corrupt("data"))?;
        let actor = r.actor_id.map(|id| User {
            id,
            name: r.actor_name.clone().unwrap_or_default(),
            email: r.actor_email.clone().unwrap_or_default(),
            service_account: r.actor_service_account.unwrap_or_default(),
            deployment_key_account: r.actor_deployment_key.unwrap_or_default(),
            date_joined: r.actor_joined.map(at),
        });
        let action_object = match (r.object_type, r.object_id, r.object_label) {
            (Some(content_type), Some(id), label) => Some(AuditObject {
                id,
                content_type,
                label: label.unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(AuditEvent {
            id: r.id,
            actor,
            target_object: AuditObject {
                id: r.target_id,
                content_type: r.target_type,
                label: r.target_label,
            },
            action_object,
            action_type: r.action_type,
            data,
            timestamp: at(r.at),
            request_id: r.request_id,
            face,
            seq: r.seq,
        })
    }
}

/// The scope's condition and the filters, after `WHERE`.
fn push_filter(qb: &mut QueryBuilder<Db>, scope: AuditScope, filter: &AuditFilter) {
    match scope {
        AuditScope::Organization(org) => qb.push("org_id = ").push_bind(org),
        AuditScope::Group(group) => qb.push("group_id = ").push_bind(group),
    };
    if let Some(actor) = filter.actor {
        qb.push(" AND actor_id = ").push_bind(actor);
    }
    if let Some(action) = &filter.action_type {
        qb.push(" AND action_type = ").push_bind(action.clone());
    }
    if let Some(kind) = &filter.content_type {
        qb.push(" AND (target_type = ")
            .push_bind(kind.clone())
            .push(" OR object_type = ")
            .push_bind(kind.clone())
            .push(")");
    }
    if let Some(object) = &filter.object {
        qb.push(" AND (target_id = ")
            .push_bind(object.clone())
            .push(" OR object_id = ")
            .push_bind(object.clone())
            .push(")");
    }
    if let Some(face) = filter.face {
        qb.push(" AND face = ").push_bind(face.as_str());
    }
    if let Some(since) = filter.since {
        qb.push(" AND at >= ").push_bind(ts(since));
    }
    if let Some(until) = filter.until {
        qb.push(" AND at < ").push_bind(ts(until));
    }
}

#[async_trait]
impl AuditLog for Backend {
    async fn list_audit_events(
        &self,
        scope: AuditScope,
        filter: &AuditFilter,
        window: Window<AuditCursor>,
    ) -> StoreResult<Vec<AuditEvent>> {
        let mut qb = QueryBuilder::<Db>::new(SELECT);
        push_filter(&mut qb, scope, filter);
        push_window(&mut qb, window, "seq DESC", |qb, AuditCursor(seq)| {
            qb.push(" AND seq < ").push_bind(seq);
        });
        let rows: Vec<Row> = qb
            .build_query_as()
            .fetch_all(self.reads())
            .await
            .map_err(other)?;
        rows.into_iter().map(AuditEvent::try_from).collect()
    }

    async fn count_audit_events(
        &self,
        scope: AuditScope,
        filter: &AuditFilter,
    ) -> StoreResult<u64> {
        let mut qb = QueryBuilder::<Db>::new("SELECT count(*) FROM audit_events WHERE ");
        push_filter(&mut qb, scope, filter);
        let n: i64 = qb
            .build_query_scalar()
            .fetch_one(self.reads())
            .await
            .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn prune_audit_events(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        prune_oldest(self.writes(), "audit_events", "seq", before, limit).await
    }
}
