//! The signed-in user behind a session token, kept in memory so that a signed-in page does
//! not cost a database round trip (DESIGN §8; BENCHMARKS.md measured the round trip at
//! most of a page's CPU).
//!
//! The database stays the truth. An entry is trusted only while nothing that could change
//! its answer has happened since it was read:
//! - every write to a user or their sessions on this node calls [`SessionCache::forget_user`]
//!   *after its commit* (the entry remembers the change counter read *before* its query, so
//!   a read racing a write is never kept);
//! - another process writing the same SQLite file (the `ontrackio user …` commands) says so
//!   through [`OutsideChanges`], checked with one `fstat` at most every [`CHECK_INTERVAL`]
//!   before any entry is trusted, and its command returns only after that interval, so
//!   the next request after it sees the change;
//! - an entry is reread at least every [`MAX_AGE_SECS`] whatever happens, so a write path
//!   that forgot to say so cannot keep a stale answer for long;
//! - on PostgreSQL, other nodes and the command-line tool write too: the database announces
//!   every change to a user or their sessions at its commit (migration 0005's triggers,
//!   `NOTIFY ontrackio_users`), each node's change listener (`web::changes`) calls
//!   [`SessionCache::forget_user`], and the cache answers only while that listener is
//!   connected ([`ChangeListening`]); it is emptied when the listener drops and again when
//!   it is back, since whatever was announced in between reached nobody.
//!
//! So on PostgreSQL a change made on another node reaches this node's cache when its
//! notification arrives, a moment after the change's commit (the accepted decision;
//! `tests/web/multi_node.rs` measures it). Within that moment a page view may still be
//! answered as before; a state-changing request never is: the edge reads every POST's
//! session from the database (`web::edge`).

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use tokio::sync::broadcast;

use crate::domain::UserId;
use crate::listening::ChangeListening;
use crate::store::users::User;

/// How long an entry may be trusted without being reread, whatever the change counters say.
pub const MAX_AGE_SECS: i64 = 30;
/// A bound on memory (an entry is a few hundred bytes); when full, the cache starts over.
const MAX_ENTRIES: usize = 20_000;
/// Users are spread over this many change counters: forgetting one user costs nothing for
/// the others except those sharing a stripe, which are merely reread.
const STRIPES: usize = 1024;

/// What this node knows of a session: the row and its user, as the database said them.
/// The session's workspace is its user's. `V` is whatever the caller derives from the user
/// once per read and keeps with it (the web layer: how every page's frame shows them).
pub struct Session<V> {
    pub user: Arc<User>,
    /// The session's CSRF token, an HMAC of it: computed once per read, not per page.
    pub csrf_token: Arc<str>,
    /// Derived from the user once per read, likewise.
    pub view: Arc<V>,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

// By hand: a derived `Clone` would require `V: Clone`, though only its `Arc` is cloned.
impl<V> Clone for Session<V> {
    fn clone(&self) -> Self {
        Self {
            user: self.user.clone(),
            csrf_token: self.csrf_token.clone(),
            view: self.view.clone(),
            last_seen_at: self.last_seen_at,
            expires_at: self.expires_at,
        }
    }
}

struct Entry<V> {
    session: Session<V>,
    /// The change counter before the read: any later change to this user invalidates it.
    seen: u64,
    read_at: i64,
}

/// Taken before reading a session from the database; [`SessionCache::keep`] refuses the
/// answer if anything changed meanwhile.
#[derive(Clone, Copy)]
pub struct Ticket(u64);

/// What a [`SessionCache`] was told to forget, for whoever subscribed (the tests wait on
/// it instead of guessing how long a notification takes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Forgotten {
    User(UserId),
    All,
}

pub struct SessionCache<V> {
    enabled: bool,
    /// Whether this node hears every change (always on SQLite; on PostgreSQL while its
    /// change listener is connected). Nothing is answered or kept otherwise.
    listening: Option<Arc<ChangeListening>>,
    forgotten: broadcast::Sender<Forgotten>,
    entries: RwLock<HashMap<String, Entry<V>>>,
    /// Counts every change; stripes and `all` hold the count at their last change.
    counter: AtomicU64,
    stripes: Box<[AtomicU64]>,
    all: AtomicU64,
    outside: Option<OutsideChanges>,
}

impl<V> SessionCache<V> {
    /// A cache that keeps nothing.
    pub fn disabled() -> Self {
        Self::new(false, None, None)
    }

    /// A working cache, trusted only while `listening` says this node hears every change;
    /// `outside` watches for other processes' writes to the same SQLite file.
    pub fn enabled(outside: Option<OutsideChanges>, listening: Arc<ChangeListening>) -> Self {
        Self::new(true, outside, Some(listening))
    }

    fn new(
        enabled: bool,
        outside: Option<OutsideChanges>,
        listening: Option<Arc<ChangeListening>>,
    ) -> Self {
        Self {
            enabled,
            listening,
            forgotten: broadcast::Sender::new(64),
            entries: RwLock::new(HashMap::new()),
            counter: AtomicU64::new(0),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            all: AtomicU64::new(0),
            outside,
        }
    }

    /// Call before the database read whose answer may be kept.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.counter.load(SeqCst))
    }

    /// Whether entries may be answered or kept now.
    fn trusted(&self) -> bool {
        self.enabled && self.listening.as_ref().is_some_and(|l| l.trusted())
    }

    /// The session behind a token hash, if what this node read can still be trusted at `now`.
    pub fn get(&self, token_hash: &str, now: i64) -> Option<Session<V>> {
        if !self.trusted() {
            return None;
        }
        if let Some(outside) = &self.outside
            && !outside.seen_everything(|| self.forget_all())
        {
            return None;
        }
        let entries = self.entries.read();
        let entry = entries.get(token_hash)?;
        let fresh = now - entry.read_at < MAX_AGE_SECS
            && self.all.load(SeqCst) <= entry.seen
            && self.stripe(&entry.session.user.id).load(SeqCst) <= entry.seen;
        fresh.then(|| entry.session.clone())
    }

    /// Keeps what the database said, unless something changed since `ticket` was taken.
    pub fn keep(&self, ticket: Ticket, token_hash: &str, session: Session<V>, now: i64) {
        if !self.trusted()
            || self.all.load(SeqCst) > ticket.0
            || self.stripe(&session.user.id).load(SeqCst) > ticket.0
        {
            return;
        }
        let entry = Entry {
            session,
            seen: ticket.0,
            read_at: now,
        };
        let mut entries = self.entries.write();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(token_hash.to_string(), entry);
    }

    /// Records a `last_seen_at` this node has just written.
    pub fn touched(&self, token_hash: &str, at: i64) {
        if let Some(e) = self.entries.write().get_mut(token_hash) {
            e.session.last_seen_at = at;
        }
    }

    /// After a committed write to this user or to any of their sessions.
    pub fn forget_user(&self, user: &UserId) {
        if self.enabled {
            let n = self.counter.fetch_add(1, SeqCst) + 1;
            self.stripe(user).fetch_max(n, SeqCst);
            self.announce(|| Forgotten::User(user.clone()));
        }
    }

    /// [`SessionCache::forget_user`] after a write of the caller's own that read the user's
    /// row back inside its transaction (a sign-in: its landing page then needs no read).
    /// Answers the ticket with which that row may be kept if nothing at all was forgotten
    /// between `since`, taken before the transaction, and this call: a write committed
    /// meanwhile by anyone else could be missing from the row. (Per user it cannot be
    /// told: another writer's count and stripe are two steps, and a count taken before
    /// ours can reach its stripe after.) Anything forgotten later refuses it as usual.
    pub fn forget_own_write(&self, user: &UserId, since: Ticket) -> Option<Ticket> {
        if !self.enabled {
            return None;
        }
        let n = self.counter.fetch_add(1, SeqCst) + 1;
        self.stripe(user).fetch_max(n, SeqCst);
        self.announce(|| Forgotten::User(user.clone()));
        (n == since.0 + 1).then_some(Ticket(n))
    }

    /// After a write that may concern anybody.
    pub fn forget_all(&self) {
        if self.enabled {
            let n = self.counter.fetch_add(1, SeqCst) + 1;
            self.all.fetch_max(n, SeqCst);
            self.entries.write().clear();
            self.announce(|| Forgotten::All);
        }
    }

    /// Each [`Forgotten`] from now on, after it took effect.
    pub fn subscribe(&self) -> broadcast::Receiver<Forgotten> {
        self.forgotten.subscribe()
    }

    fn announce(&self, what: impl FnOnce() -> Forgotten) {
        if self.forgotten.receiver_count() > 0 {
            let _ = self.forgotten.send(what());
        }
    }

    fn stripe(&self, user: &UserId) -> &AtomicU64 {
        let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(user.as_str());
        &self.stripes[(h as usize) % STRIPES]
    }
}

/// Another process's writes to the same SQLite file: the command-line tool appends a byte
/// to `<database>-changes` after each change to users or sessions, and the server compares
/// the file's length (one `fstat` on a file it keeps open) before trusting its cache.
///
/// Written here because SQLite offers no notification between processes (`PRAGMA
/// data_version` also counts this process's own connections, so it would change on every
/// sign-in), and a file watcher would add a thread and a crate for what one `fstat` does.
///
/// The `fstat` runs at most once per [`CHECK_INTERVAL`], not on every page (it was a tenth
/// of a cached page's CPU, all of it in the kernel). The guarantee stays the same — **every
/// request that starts after [`OutsideChanges::announce`] has returned sees the change** —
/// because `announce` returns only [`CHECK_INTERVAL`] after its write: a request skips the
/// `fstat` only if a check *began* less than [`CHECK_INTERVAL`] before it, so after the
/// write, and that check's time is recorded only once it has emptied the cache (both on
/// `CLOCK_MONOTONIC`, one clock for every process on the machine).
pub struct OutsideChanges {
    file: File,
    seen_len: AtomicU64,
    /// What the check times are counted from.
    epoch: Instant,
    /// When (ns after `epoch`) the latest completed check began.
    checked_at: AtomicU64,
}

/// How long a check of the change file is relied upon: the longest a running server may
/// go without looking, and how long [`OutsideChanges::announce`] waits after its write.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(10);

impl OutsideChanges {
    /// Opens (creating) the signal file beside a SQLite database file.
    pub fn open(database_path: &std::path::Path) -> std::io::Result<Self> {
        // The epoch first: the length read below is the check that began at it.
        let epoch = Instant::now();
        let file = Self::open_file(&Self::path_for(database_path))?;
        let len = file.metadata()?.len();
        Ok(Self {
            file,
            seen_len: AtomicU64::new(len),
            epoch,
            checked_at: AtomicU64::new(0),
        })
    }

    pub fn path_for(database_path: &std::path::Path) -> PathBuf {
        let mut p = database_path.as_os_str().to_owned();
        p.push("-changes");
        PathBuf::from(p)
    }

    fn open_file(path: &std::path::Path) -> std::io::Result<File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
    }

    /// Tells a running server on the same file that users or sessions changed; returns
    /// once every request it starts from then on sees the change ([`CHECK_INTERVAL`] after
    /// the write: a command-line tool waits 10 ms per change).
    pub fn announce(database_path: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write;
        Self::open_file(&Self::path_for(database_path))?.write_all(b".")?;
        let written = Instant::now();
        // `sleep` may wake early on some systems; the clock decides.
        while let Some(left) = CHECK_INTERVAL.checked_sub(written.elapsed()) {
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left);
        }
        Ok(())
    }

    /// Whether nothing another process announced is unseen: false after a change (once
    /// `forget` has run) or when the file cannot be read — the cache is then bypassed,
    /// never trusted blindly. Looks at the file only if the latest check began
    /// [`CHECK_INTERVAL`] ago or more.
    fn seen_everything(&self, forget: impl FnOnce()) -> bool {
        let now = self.nanos_since_epoch();
        if now.saturating_sub(self.checked_at.load(SeqCst)) < CHECK_INTERVAL.as_nanos() as u64 {
            return true;
        }
        let Ok(len) = self.file.metadata().map(|m| m.len()) else {
            forget();
            return false;
        };
        // The length is recorded, and the check's time, only after `forget`: whoever reads
        // either may rely on the cache holding nothing from before the change.
        let unseen = self.seen_len.load(SeqCst) != len;
        if unseen {
            forget();
            self.seen_len.store(len, SeqCst);
        }
        self.checked_at.fetch_max(now, SeqCst);
        !unseen
    }

    fn nanos_since_epoch(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Role, UserStatus, WorkspaceId};

    fn user(id: &str) -> Arc<User> {
        Arc::new(User {
            id: UserId::from_db(id.to_string()),
            workspace_id: WorkspaceId::from_db("ws".to_string()),
            email: format!("{id}@acme.test"),
            first_name: String::new(),
            last_name: String::new(),
            role: Role::Employee,
            external: false,
            status: UserStatus::Active,
            email_verified: true,
            has_password: false,
            avatar_version: 0,
            last_login_at: None,
            last_login_ip: None,
            created_at: 0,
        })
    }

    fn single_node() -> Arc<ChangeListening> {
        Arc::new(ChangeListening::new(true))
    }

    fn session(user: Arc<User>) -> Session<()> {
        Session {
            view: Arc::new(()),
            user,
            csrf_token: "csrf".into(),
            last_seen_at: 100,
            expires_at: 1000,
        }
    }

    #[test]
    fn an_entry_is_kept_until_its_user_changes() {
        let c = SessionCache::<()>::enabled(None, single_node());
        let t = c.ticket();
        c.keep(t, "h1", session(user("a")), 100);
        c.keep(t, "h2", session(user("b")), 100);
        assert!(c.get("h1", 101).is_some());
        c.forget_user(&UserId::from_db("a".to_string()));
        assert!(c.get("h1", 101).is_none(), "a's session must be reread");
        // Another user is untouched unless they share a stripe, which this pair does not.
        assert_ne!(
            c.stripe(&UserId::from_db("a".into())) as *const _,
            c.stripe(&UserId::from_db("b".into())) as *const _
        );
        assert!(c.get("h2", 101).is_some());
        c.forget_all();
        assert!(c.get("h2", 101).is_none());
    }

    #[test]
    fn a_sign_ins_own_write_is_kept_only_if_nothing_else_was_forgotten_meanwhile() {
        let c = SessionCache::<()>::enabled(None, single_node());
        let a = UserId::from_db("a".to_string());
        // Alone: the row its transaction read back may be kept, and is answered.
        let since = c.ticket();
        let t = c
            .forget_own_write(&a, since)
            .expect("nothing else happened");
        c.keep(t, "h1", session(user("a")), 100);
        assert!(c.get("h1", 100).is_some());
        // Its own write still forgot the user's other sessions.
        let other = c.ticket();
        c.keep(other, "h2", session(user("a")), 100);
        let since = c.ticket();
        assert!(c.forget_own_write(&a, since).is_some());
        assert!(
            c.get("h2", 100).is_none(),
            "the user's older session is reread"
        );
        // Anyone else's write between the ticket and the commit: the row may miss it.
        let since = c.ticket();
        c.forget_user(&UserId::from_db("b".to_string()));
        assert!(c.forget_own_write(&a, since).is_none());
        let since = c.ticket();
        c.forget_all();
        assert!(c.forget_own_write(&a, since).is_none());
        // A change after it is kept refuses it as any entry.
        let since = c.ticket();
        let t = c.forget_own_write(&a, since).unwrap();
        c.keep(t, "h3", session(user("a")), 100);
        c.forget_user(&a);
        assert!(c.get("h3", 100).is_none());
        // And one that lands between the commit and the keep is not kept at all.
        let since = c.ticket();
        let t = c.forget_own_write(&a, since).unwrap();
        c.forget_user(&a);
        c.keep(t, "h4", session(user("a")), 100);
        assert!(c.get("h4", 100).is_none());
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let c = SessionCache::<()>::enabled(None, single_node());
        let before_write = c.ticket();
        // The write commits and is announced while the read is on its way.
        c.forget_user(&UserId::from_db("a".to_string()));
        c.keep(before_write, "h", session(user("a")), 100);
        assert!(c.get("h", 100).is_none());
        // A read that started after the write is kept.
        let after = c.ticket();
        c.keep(after, "h", session(user("a")), 100);
        assert!(c.get("h", 100).is_some());
    }

    #[test]
    fn entries_are_reread_after_their_maximum_age() {
        let c = SessionCache::<()>::enabled(None, single_node());
        c.keep(c.ticket(), "h", session(user("a")), 100);
        assert!(c.get("h", 100 + MAX_AGE_SECS - 1).is_some());
        assert!(c.get("h", 100 + MAX_AGE_SECS).is_none());
    }

    #[test]
    fn on_several_nodes_entries_are_answered_and_kept_only_while_the_node_is_listening() {
        let listening = Arc::new(ChangeListening::new(false));
        let c = SessionCache::<()>::enabled(None, listening.clone());
        c.keep(c.ticket(), "h", session(user("a")), 100);
        assert!(c.get("h", 100).is_none(), "kept before the listener was up");
        listening.set_listening(true);
        c.keep(c.ticket(), "h", session(user("a")), 100);
        assert!(c.get("h", 100).is_some());
        // The listener drops: the entry is not answered, even before anyone empties it.
        listening.set_listening(false);
        assert!(c.get("h", 100).is_none(), "answered while not listening");
        c.keep(c.ticket(), "h2", session(user("b")), 100);
        listening.set_listening(true);
        assert!(c.get("h2", 100).is_none(), "kept while not listening");
    }

    #[test]
    fn subscribers_hear_what_was_forgotten_after_it_took_effect() {
        let c = SessionCache::<()>::enabled(None, single_node());
        let mut heard = c.subscribe();
        c.keep(c.ticket(), "h", session(user("a")), 100);
        c.forget_user(&UserId::from_db("a".to_string()));
        assert_eq!(
            heard.try_recv().unwrap(),
            Forgotten::User(UserId::from_db("a".to_string()))
        );
        assert!(c.get("h", 100).is_none());
        c.forget_all();
        assert_eq!(heard.try_recv().unwrap(), Forgotten::All);
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let c = SessionCache::<()>::disabled();
        c.keep(c.ticket(), "h", session(user("a")), 100);
        assert!(c.get("h", 100).is_none());
    }

    #[test]
    fn another_process_announcing_a_change_empties_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let c =
            SessionCache::<()>::enabled(Some(OutsideChanges::open(&db).unwrap()), single_node());
        c.keep(c.ticket(), "h", session(user("a")), 100);
        assert!(c.get("h", 100).is_some());
        OutsideChanges::announce(&db).unwrap();
        assert!(c.get("h", 100).is_none());
        // Reread after the announcement, it is trusted again.
        c.keep(c.ticket(), "h", session(user("a")), 100);
        assert!(c.get("h", 100).is_some());
    }

    #[test]
    fn the_change_file_is_looked_at_at_most_once_per_interval_and_a_change_seen_within_it() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let c =
            SessionCache::<()>::enabled(Some(OutsideChanges::open(&db).unwrap()), single_node());
        std::thread::sleep(CHECK_INTERVAL);
        c.keep(c.ticket(), "h", session(user("a")), 100);
        assert!(c.get("h", 100).is_some(), "checked the file, nothing new");
        // A write that does not wait as `announce` does may go unseen for a moment, never
        // for longer than the interval.
        OutsideChanges::open_file(&OutsideChanges::path_for(&db))
            .unwrap()
            .write_all(b".")
            .unwrap();
        std::thread::sleep(CHECK_INTERVAL);
        assert!(c.get("h", 100).is_none());
    }
}
