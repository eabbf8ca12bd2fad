//! State both emulators keep while they run, whatever they emulate: the directory tests may
//! change, the auto-select setting, and the authorize requests waiting on the account picker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use time::OffsetDateTime;

use crate::util::random_b64url;

/// A directory that can change at runtime, but only into a valid one.
pub(crate) struct LiveDirectory<D> {
    inner: RwLock<D>,
}

impl<D: Clone> LiveDirectory<D> {
    pub fn new(directory: D) -> Self {
        LiveDirectory {
            inner: RwLock::new(directory),
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, D> {
        self.inner.read()
    }

    /// A copy of the directory as it is now.
    pub fn snapshot(&self) -> D {
        self.inner.read().clone()
    }

    /// Applies `change` to a copy and keeps it only if `validate` accepts it.
    pub fn update<E>(
        &self,
        change: impl FnOnce(&mut D),
        validate: impl FnOnce(&D) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut directory = self.inner.write();
        let mut updated = directory.clone();
        change(&mut updated);
        validate(&updated)?;
        *directory = updated;
        Ok(())
    }
}

/// Auto-select: skip the picker for the account a `login_hint` names, or, without a hint, for
/// a chosen default account.
#[derive(Default)]
pub(crate) struct AutoSelect {
    on: AtomicBool,
    default_account: Mutex<Option<String>>,
}

impl AutoSelect {
    pub fn new(on: bool) -> Self {
        AutoSelect {
            on: AtomicBool::new(on),
            default_account: Mutex::new(None),
        }
    }

    pub fn set_on(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// The account (its sign-in name) that signs in when a request has no `login_hint`.
    pub fn set_default_account(&self, name: Option<&str>) {
        *self.default_account.lock() = name.map(str::to_owned);
    }

    /// Who signs in without a page, if anyone: with auto-select on, the account the hint names
    /// (`find` looks a sign-in name up), or the default account when there is no hint.
    pub fn choose<T>(
        &self,
        login_hint: Option<&str>,
        find: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        if !self.on.load(Ordering::Relaxed) {
            return None;
        }
        match login_hint {
            Some(hint) => find(hint),
            None => self.default_account.lock().as_deref().and_then(find),
        }
    }
}

/// Authorize requests parked while the browser shows the picker, by an opaque id.
pub(crate) struct PickerQueue<R> {
    waiting: Mutex<HashMap<String, (R, OffsetDateTime)>>,
}

impl<R> Default for PickerQueue<R> {
    fn default() -> Self {
        PickerQueue {
            waiting: Mutex::new(HashMap::new()),
        }
    }
}

impl<R> PickerQueue<R> {
    /// Parks `request` (forgetting those older than an hour); returns the id the page posts
    /// back.
    pub fn park(&self, request: R, now: OffsetDateTime) -> String {
        let id = random_b64url(24);
        let mut waiting = self.waiting.lock();
        waiting.retain(|_, (_, created)| now - *created < time::Duration::hours(1));
        waiting.insert(id.clone(), (request, now));
        id
    }

    /// The request parked under `id`, once.
    pub fn take(&self, id: &str) -> Option<R> {
        self.waiting.lock().remove(id).map(|(request, _)| request)
    }
}
