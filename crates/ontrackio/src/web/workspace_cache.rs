//! The workspace each `Host` names, kept in memory: every request needs its workspace and
//! a sign-in is three requests. A workspace row changes only through a save that
//! invalidates it here and, through `NOTIFY`, on every other node (`changes`); while this
//! node may miss such a notification the cache is bypassed (`ChangeListening`). Unknown
//! slugs are not remembered, so a workspace created meanwhile is found at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::listening::ChangeListening;
use crate::store::{Db, workspaces::Workspace};

pub struct WorkspaceCache {
    rows: RwLock<HashMap<String, Arc<Workspace>>>,
    /// Bumped by every invalidation, so a read that began before a change committed
    /// cannot put its older row back afterwards.
    generation: AtomicU64,
    listening: Arc<ChangeListening>,
}

impl WorkspaceCache {
    pub fn new(listening: Arc<ChangeListening>) -> Self {
        Self {
            rows: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            listening,
        }
    }

    /// The workspace behind a slug if this node has it cached and may trust the cache.
    pub fn cached(&self, slug: &str) -> Option<Arc<Workspace>> {
        if !self.listening.trusted() {
            return None;
        }
        self.rows.read().get(slug).cloned()
    }

    /// The workspace at `slug`, from the cache when it can be trusted.
    pub async fn get(&self, db: &Db, slug: &str) -> Result<Option<Arc<Workspace>>, sqlx::Error> {
        if let Some(ws) = self.cached(slug) {
            return Ok(Some(ws));
        }
        let cacheable = self.listening.trusted();
        let generation = self.generation.load(Ordering::Acquire);
        // Boxed: every request awaits this function, and a cache hit should not carry (and
        // copy) the database query's future.
        let Some(ws) = Box::pin(crate::store::workspaces::find_by_slug(db.pool(), slug)).await?
        else {
            return Ok(None);
        };
        let ws = Arc::new(ws);
        if cacheable {
            let mut rows = self.rows.write();
            if self.generation.load(Ordering::Acquire) == generation {
                rows.insert(slug.to_string(), ws.clone());
            }
        }
        Ok(Some(ws))
    }

    /// Forgets one workspace (after a change here, or a notification).
    pub fn invalidate(&self, workspace_id: &str) {
        let mut rows = self.rows.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        rows.retain(|_, ws| ws.id.as_str() != workspace_id);
    }

    /// Forgets everything: notifications may have been missed.
    pub fn clear(&self) {
        let mut rows = self.rows.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        rows.clear();
    }
}
