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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseUrl;
    use crate::domain::{EmailDomain, WorkspaceSlug};
    use crate::store::workspaces;

    async fn db(dir: &tempfile::TempDir) -> Db {
        let url = DatabaseUrl::Sqlite(format!("sqlite://{}/ws.db", dir.path().display()));
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        db
    }

    async fn add(db: &Db, slug: &str) -> Workspace {
        let slug = WorkspaceSlug::parse(slug).unwrap();
        workspaces::insert(db.pool(), &slug, "Acme").await.unwrap()
    }

    /// Changes the row behind the cache's back, as another node's save does.
    async fn restrict(db: &Db, ws: &Workspace, domain: &str) {
        let domains = [EmailDomain::parse(domain).unwrap()];
        workspaces::set_allowed_domains(db.pool(), &ws.id, &domains)
            .await
            .unwrap();
    }

    fn domains(ws: &Workspace) -> Vec<&str> {
        ws.allowed_email_domains
            .iter()
            .map(EmailDomain::as_str)
            .collect()
    }

    #[tokio::test]
    async fn a_trusted_cache_keeps_a_row_until_its_workspace_is_invalidated() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir).await;
        let ws = add(&db, "acme").await;
        let cache = WorkspaceCache::new(Arc::new(ChangeListening::new(true)));
        assert!(cache.cached("acme").is_none());
        cache.get(&db, "acme").await.unwrap().unwrap();
        restrict(&db, &ws, "acme.test").await;
        let kept = cache.cached("acme").expect("cached after the first read");
        assert!(domains(&kept).is_empty(), "the row as first read");

        cache.invalidate(ws.id.as_str());
        assert!(cache.cached("acme").is_none());
        let fresh = cache.get(&db, "acme").await.unwrap().unwrap();
        assert_eq!(domains(&fresh), ["acme.test"]);

        cache.clear();
        assert!(cache.cached("acme").is_none());
    }

    #[tokio::test]
    async fn an_unknown_slug_is_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir).await;
        let cache = WorkspaceCache::new(Arc::new(ChangeListening::new(true)));
        assert!(cache.get(&db, "beta").await.unwrap().is_none());
        add(&db, "beta").await;
        assert!(cache.get(&db, "beta").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn while_changes_may_be_missed_every_read_goes_to_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir).await;
        let ws = add(&db, "acme").await;
        // A PostgreSQL node whose LISTEN connection is down.
        let listening = Arc::new(ChangeListening::new(false));
        let cache = WorkspaceCache::new(listening.clone());
        cache.get(&db, "acme").await.unwrap().unwrap();
        assert!(cache.cached("acme").is_none());
        restrict(&db, &ws, "acme.test").await;
        let read = cache.get(&db, "acme").await.unwrap().unwrap();
        assert_eq!(domains(&read), ["acme.test"]);
        // Listening again: the cache answers.
        listening.set_listening(true);
        cache.get(&db, "acme").await.unwrap().unwrap();
        assert!(cache.cached("acme").is_some());
    }
}
