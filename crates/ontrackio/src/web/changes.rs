//! On PostgreSQL, one connection per node listens for other nodes' changes to shared rows
//! (a workspace's sign-in settings and its allowed domains; users and their sessions, which
//! the database itself announces) and makes this node's caches forget them; it reconnects
//! with backoff, and while it is down the caches are not trusted (`ChangeListening`). On
//! SQLite there is a single node, which forgets locally.

use std::time::Duration;

use super::AppState;
use crate::config::DatabaseUrl;
use crate::domain::UserId;
use crate::store::{self, microsoft_settings as stored};

/// This node's caches of one workspace's shared rows are stale.
pub fn forget_workspace(state: &AppState, workspace_id: &str) {
    // The workspace row first: the settings cache then announces the workspace
    // (`subscribe_invalidations`), and whoever hears that may rely on both being forgotten.
    state.workspaces.invalidate(workspace_id);
    state.microsoft.settings.invalidate(workspace_id);
    state.google.settings.invalidate(workspace_id);
    state.saml_card.settings.invalidate(workspace_id);
}

fn forget_everything(state: &AppState) {
    state.sessions.forget_all();
    state.microsoft.settings.clear();
    state.google.settings.clear();
    state.saml_card.settings.clear();
    state.workspaces.clear();
}

/// Runs until aborted; returns at once on SQLite.
pub async fn follow(state: AppState) {
    let DatabaseUrl::Postgres(url) = &state.config.database_url else {
        return;
    };
    let mut backoff = Duration::from_millis(500);
    loop {
        match stored::listen_for_changes(url).await {
            Ok(mut listener) => {
                backoff = Duration::from_millis(500);
                // Entries cached before LISTEN took effect may have missed a change.
                state.listening.set_listening(true);
                forget_everything(&state);
                tracing::debug!("listening for changes to shared rows");
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) if n.channel() == store::sessions::CHANGE_CHANNEL => {
                            let user = UserId::from_db(n.payload().to_string());
                            state.sessions.forget_user(&user);
                        }
                        Ok(Some(n)) => forget_workspace(&state, n.payload()),
                        // The connection dropped: stop trusting the caches until a new
                        // LISTEN is in place (anything sent meanwhile is lost).
                        Ok(None) => {
                            tracing::warn!("lost the change listener; reconnecting");
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "lost the change listener; reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for changes; retrying");
            }
        }
        state.listening.set_listening(false);
        forget_everything(&state);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
