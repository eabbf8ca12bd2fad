//! Admin → Audit log: newest first, filters, CSV export.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use crate::store::{self, audit::AuditColumn, audit::Filter};
use crate::web::chrome::{Chrome, fmt_time};
use crate::web::session::CurrentUser;
use crate::web::{AppError, AppState, csrf};

const PAGE_ROWS: i64 = 200;
const EXPORT_ROWS: i64 = 100_000;

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

impl AuditQuery {
    /// The filter, or (field, message) for the first bad date.
    fn filter(&self) -> Result<Filter, (&'static str, String)> {
        let date = |field: &'static str, s: &str| -> Result<Option<i64>, (&'static str, String)> {
            if s.trim().is_empty() {
                return Ok(None);
            }
            let fmt = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(s.trim(), fmt)
                .map(|d| Some(d.midnight().assume_utc().unix_timestamp()))
                .map_err(|_| (field, "Enter a date like 2026-11-27.".to_string()))
        };
        let from = date("from", &self.from)?;
        // "To" includes the whole day.
        let until = date("to", &self.to)?.map(|t| t + 24 * 3600);
        if let (Some(f), Some(u)) = (from, until)
            && u <= f
        {
            return Err(("to", "The end date is before the start date.".into()));
        }
        let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        Ok(Filter {
            action: nonempty(&self.action),
            actor: nonempty(&self.actor),
            from,
            until,
        })
    }

    fn export_query(&self) -> String {
        serde_urlencoded::to_string([
            ("action", self.action.as_str()),
            ("actor", self.actor.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
        ])
        .unwrap_or_default()
    }
}

pub struct Row {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ip: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    chrome: Chrome,
    rows: Vec<Row>,
    actions: Vec<String>,
    actors: Vec<String>,
    q: AuditQuery,
    export_query: String,
    from_error: Option<String>,
    to_error: Option<String>,
    truncated: bool,
}

pub async fn page(
    State(state): State<AppState>,
    cu: CurrentUser,
    jar: CookieJar,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let ws = &cu.workspace;
    let actions =
        store::audit::distinct_values(state.db.pool(), &ws.id, AuditColumn::Action).await?;
    let actors = store::audit::distinct_values(state.db.pool(), &ws.id, AuditColumn::Actor).await?;
    let (token, _) = csrf::token_for_page(&state, Some(&cu), &jar);
    let (filter, status, from_error, to_error) = match q.filter() {
        Ok(f) => (Some(f), StatusCode::OK, None, None),
        Err(("from", m)) => (None, StatusCode::UNPROCESSABLE_ENTITY, Some(m), None),
        Err((_, m)) => (None, StatusCode::UNPROCESSABLE_ENTITY, None, Some(m)),
    };
    let rows = match &filter {
        Some(f) => store::audit::list(state.db.pool(), &ws.id, f, PAGE_ROWS + 1).await?,
        None => vec![],
    };
    let truncated = rows.len() as i64 > PAGE_ROWS;
    let rows = rows
        .into_iter()
        .take(PAGE_ROWS as usize)
        .map(|e| Row {
            at: fmt_time(e.at),
            actor: e.actor_label,
            action: e.action,
            target: e.target,
            ip: e.ip.unwrap_or_default(),
            details: if e.details == "{}" {
                String::new()
            } else {
                e.details
            },
        })
        .collect();
    let page = AuditPage {
        chrome: Chrome::for_user(&cu, "admin-audit", token),
        rows,
        actions,
        actors,
        export_query: q.export_query(),
        q,
        from_error,
        to_error,
        truncated,
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// Spreadsheet apps execute cells starting with these; prefix them so they stay text.
fn defuse(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

pub async fn export(
    State(state): State<AppState>,
    cu: CurrentUser,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let filter = q.filter().map_err(|(_, m)| AppError::BadRequest(m))?;
    let events =
        store::audit::list(state.db.pool(), &cu.workspace.id, &filter, EXPORT_ROWS).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let write = |w: &mut csv::Writer<Vec<u8>>, rec: &[String]| {
        w.write_record(rec).map_err(|e| anyhow::anyhow!("CSV: {e}"))
    };
    write(
        &mut w,
        &[
            "time_utc",
            "actor",
            "action",
            "target",
            "ip",
            "user_agent",
            "details",
        ]
        .map(String::from),
    )?;
    for e in events {
        let at = time::OffsetDateTime::from_unix_timestamp(e.at)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        write(
            &mut w,
            &[
                at,
                defuse(&e.actor_label),
                defuse(&e.action),
                defuse(&e.target),
                e.ip.unwrap_or_default(),
                defuse(&e.user_agent.unwrap_or_default()),
                defuse(&e.details),
            ],
        )?;
    }
    let body = w.into_inner().map_err(|e| anyhow::anyhow!("CSV: {e}"))?;
    let filename = format!(
        "attachment; filename=\"audit-log-{}.csv\"",
        cu.workspace.slug
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused() {
        assert_eq!(defuse("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(defuse("adele@acme.test"), "adele@acme.test");
    }

    #[test]
    fn audit_dates_parse_or_name_the_bad_field() {
        let q = AuditQuery {
            from: "2026-11-01".into(),
            to: "2026-11-02".into(),
            ..Default::default()
        };
        let f = q.filter().unwrap();
        assert_eq!(f.until.unwrap() - f.from.unwrap(), 2 * 24 * 3600);
        let q = AuditQuery {
            from: "yesterday".into(),
            ..Default::default()
        };
        assert_eq!(q.filter().unwrap_err().0, "from");
        let q = AuditQuery {
            from: "2026-11-05".into(),
            to: "2026-11-01".into(),
            ..Default::default()
        };
        assert_eq!(q.filter().unwrap_err().0, "to");
    }
}
