//! Whether this node hears about every change other nodes make to rows they share
//! (workspaces, sign-in settings). A cache of such rows is trusted only while it does:
//! always on SQLite, whose single node changes them itself; on PostgreSQL only while this
//! node's `LISTEN` connection is up (`web::changes`), since a change made while it was down
//! reaches nobody.

use tokio::sync::watch;

pub struct ChangeListening {
    single_node: bool,
    on: watch::Sender<bool>,
}

impl ChangeListening {
    pub fn new(single_node: bool) -> Self {
        Self {
            single_node,
            on: watch::Sender::new(false),
        }
    }

    /// Caches of shared rows may answer.
    pub fn trusted(&self) -> bool {
        self.single_node || self.is_listening()
    }

    /// PostgreSQL: the change listener is connected.
    pub fn is_listening(&self) -> bool {
        *self.on.borrow()
    }

    pub fn set_listening(&self, on: bool) {
        self.on.send_replace(on);
    }

    /// Resolves once this node receives change notifications (PostgreSQL only).
    pub async fn wait_until_listening(&self) {
        let mut rx = self.on.subscribe();
        let _ = rx.wait_for(|on| *on).await;
    }
}
