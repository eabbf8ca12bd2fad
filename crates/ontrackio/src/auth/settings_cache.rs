//! Per-process cache of each workspace's effective sign-in settings for one provider,
//! invalidated by every save on every node (DESIGN §8): the login page and every flow
//! start read them, and a save must still show at once everywhere.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use tokio::sync::broadcast;

use crate::domain::EmailDomain;
use crate::listening::ChangeListening;
use crate::store::workspaces::Workspace;

struct Entry<S> {
    settings: Arc<S>,
    /// The workspace's domain list the entry was built from: the list lives on the
    /// workspace row, which every request reads anyway, so a change there is seen at once.
    domains: Vec<EmailDomain>,
}

/// How often one node writes a success to a workspace's health line at most.
pub const SUCCESS_WRITE_INTERVAL: Duration = Duration::from_secs(60);

pub struct SettingsCache<S> {
    entries: RwLock<HashMap<String, Entry<S>>>,
    /// When this node last wrote "last successful sign-in" to each workspace's health
    /// line, so a Monday-morning rush writes it once a minute, not once per sign-in.
    successes: parking_lot::Mutex<HashMap<String, std::time::Instant>>,
    /// Bumped by every invalidation, so a reader that loaded the database before a save
    /// committed cannot put its stale result back afterwards.
    generation: AtomicU64,
    /// While this node may miss another node's save, the cache is bypassed: the save must
    /// still show at once.
    listening: Arc<ChangeListening>,
    invalidated: broadcast::Sender<String>,
}

impl<S> SettingsCache<S> {
    pub fn new(listening: Arc<ChangeListening>) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            successes: parking_lot::Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            listening,
            invalidated: broadcast::Sender::new(64),
        }
    }

    /// The cached settings of `ws`, or `load`'s (kept while they can be trusted).
    pub async fn effective<F, Fut>(&self, ws: &Workspace, load: F) -> anyhow::Result<Arc<S>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<S>>,
    {
        let cacheable = self.listening.trusted();
        if cacheable
            && let Some(e) = self.entries.read().get(ws.id.as_str())
            && e.domains == ws.allowed_email_domains
        {
            return Ok(e.settings.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let settings = Arc::new(load().await?);
        if cacheable {
            let mut entries = self.entries.write();
            if self.generation.load(Ordering::Acquire) == generation {
                entries.insert(
                    ws.id.as_str().to_string(),
                    Entry {
                        settings: settings.clone(),
                        domains: ws.allowed_email_domains.clone(),
                    },
                );
            }
        }
        Ok(settings)
    }

    /// Whether this node wrote a success to the workspace's health line within the last
    /// [`SUCCESS_WRITE_INTERVAL`] and has seen no failure since: the line would not
    /// change but for its time, so the write is skipped. (A failure recorded by another
    /// node can therefore stay on the line for up to that interval after sign-ins work
    /// again.)
    pub fn success_recorded_recently(&self, workspace_id: &str) -> bool {
        self.successes
            .lock()
            .get(workspace_id)
            .is_some_and(|at| at.elapsed() < SUCCESS_WRITE_INTERVAL)
    }

    /// This node has just committed a success to the health line.
    pub fn note_success_recorded(&self, workspace_id: &str) {
        self.successes
            .lock()
            .insert(workspace_id.to_string(), std::time::Instant::now());
    }

    /// This node has recorded a failure: the next success must be written at once.
    pub fn note_failure_recorded(&self, workspace_id: &str) {
        self.successes.lock().remove(workspace_id);
    }

    /// Forgets one workspace's settings (after a save here, or a notification).
    pub fn invalidate(&self, workspace_id: &str) {
        {
            let mut entries = self.entries.write();
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.remove(workspace_id);
        }
        let _ = self.invalidated.send(workspace_id.to_string());
    }

    /// Forgets everything: notifications may have been missed.
    pub fn clear(&self) {
        let mut entries = self.entries.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Workspace ids as this node's cache forgets them (observability and tests).
    pub fn subscribe_invalidations(&self) -> broadcast::Receiver<String> {
        self.invalidated.subscribe()
    }

    pub fn is_listening(&self) -> bool {
        self.listening.is_listening()
    }

    /// Resolves once this node receives change notifications (PostgreSQL only).
    pub async fn wait_until_listening(&self) {
        self.listening.wait_until_listening().await;
    }
}
