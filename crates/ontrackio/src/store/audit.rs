//! The audit log: append-only. There is deliberately no update or delete function here.

use sqlx::{Executor, Row};

use crate::domain::{UserId, WorkspaceId};

use super::now;

pub struct NewEvent<'a> {
    pub workspace: &'a WorkspaceId,
    pub actor_id: Option<&'a UserId>,
    pub actor_label: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub details: serde_json::Value,
}

#[derive(Clone, Debug)]
pub struct Event {
    pub id: i64,
    pub at: i64,
    pub actor_label: String,
    pub action: String,
    pub target: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
}

pub async fn record<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    e: NewEvent<'_>,
) -> Result<(), sqlx::Error> {
    record_statement(e).execute(db).await
}

/// [`record`] as a statement for a [`Batch`](super::batch::Batch): still an insert, never
/// anything else.
pub fn record_statement(e: NewEvent<'_>) -> super::batch::Statement {
    let t = now();
    // User agents are attacker-chosen text; keep rows bounded.
    let ua = e
        .user_agent
        .map(|s| s.chars().take(300).collect::<String>());
    super::batch::Statement::new(
        "INSERT INTO audit_events (workspace_id, at, actor_id, actor_label, action, target, ip, \
         user_agent, details, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        vec![
            e.workspace.as_str().into(),
            t.into(),
            e.actor_id.map(UserId::as_str).into(),
            e.actor_label.into(),
            e.action.into(),
            e.target.into(),
            e.ip.into(),
            super::batch::Value::OptText(ua),
            e.details.to_string().into(),
            t.into(),
            t.into(),
        ],
    )
}

/// Filters of Admin → Audit log. Exact matches (no `LIKE`): the values come from the
/// page's own drop-downs and links.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub from: Option<i64>,
    pub until: Option<i64>,
}

pub async fn list<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    f: &Filter,
    limit: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    // Each optional filter is written so that a NULL parameter disables it: one
    // statement text, so one prepared statement for every combination.
    let rows = sqlx::query(
        "SELECT id, at, actor_label, action, target, ip, user_agent, details FROM audit_events \
         WHERE workspace_id = $1 \
         AND ($2 IS NULL OR action = $2) \
         AND ($3 IS NULL OR actor_label = $3) \
         AND ($4 IS NULL OR at >= $4) \
         AND ($5 IS NULL OR at < $5) \
         ORDER BY at DESC, id DESC LIMIT $6",
    )
    .bind(workspace.as_str())
    .bind(f.action.as_deref())
    .bind(f.actor.as_deref())
    .bind(f.from)
    .bind(f.until)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Event {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                actor_label: r.try_get("actor_label")?,
                action: r.try_get("action")?,
                target: r.try_get("target")?,
                ip: r.try_get("ip")?,
                user_agent: r.try_get("user_agent")?,
                details: r.try_get("details")?,
            })
        })
        .collect()
}

pub async fn distinct_values<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    column: AuditColumn,
) -> Result<Vec<String>, sqlx::Error> {
    let sql = match column {
        AuditColumn::Action => {
            "SELECT DISTINCT action AS v FROM audit_events WHERE workspace_id = $1 ORDER BY v LIMIT 500"
        }
        AuditColumn::Actor => {
            "SELECT DISTINCT actor_label AS v FROM audit_events WHERE workspace_id = $1 ORDER BY v LIMIT 500"
        }
    };
    sqlx::query(sql)
        .bind(workspace.as_str())
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| r.try_get("v"))
        .collect()
}

#[derive(Clone, Copy)]
pub enum AuditColumn {
    Action,
    Actor,
}

pub async fn count_action_since<'c, E: Executor<'c, Database = sqlx::Any>>(
    db: E,
    workspace: &WorkspaceId,
    actions: &[&str],
    since: i64,
) -> Result<i64, sqlx::Error> {
    // Two sign-in kinds today (password, Microsoft); a third provider adds a parameter.
    let a = |i: usize| actions.get(i).copied().unwrap_or("");
    sqlx::query(
        "SELECT COUNT(*) AS n FROM audit_events WHERE workspace_id = $1 AND at >= $2 \
         AND action IN ($3, $4, $5)",
    )
    .bind(workspace.as_str())
    .bind(since)
    .bind(a(0))
    .bind(a(1))
    .bind(a(2))
    .fetch_one(db)
    .await?
    .try_get("n")
}
