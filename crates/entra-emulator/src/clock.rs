//! The emulators' clock: the wall clock shifted by an offset tests control, so codes, secrets
//! and tokens expire without anyone sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;

#[derive(Default)]
pub(crate) struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// The emulator's notion of now.
    pub fn now(&self) -> OffsetDateTime {
        let offset = self.offset_ms.load(Ordering::Relaxed);
        OffsetDateTime::now_utc() + time::Duration::milliseconds(offset)
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Makes now `at`; the clock runs on from there.
    pub fn set(&self, at: OffsetDateTime) {
        let offset = at - OffsetDateTime::now_utc();
        let ms = i64::try_from(offset.whole_milliseconds()).unwrap_or(i64::MAX);
        self.offset_ms.store(ms, Ordering::Relaxed);
    }
}
