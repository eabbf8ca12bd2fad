use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;

/// The database must answer within this time: a load balancer times its check out after a
/// few seconds, and a node that waits longer than this for a connection is not serving
/// sign-ins either. (Requests themselves wait up to the pool's acquire timeout.)
const READY_WITHIN: Duration = Duration::from_secs(2);

/// Liveness: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers too.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if matches!(
        tokio::time::timeout(READY_WITHIN, state.db.ping()).await,
        Ok(true)
    ) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}
