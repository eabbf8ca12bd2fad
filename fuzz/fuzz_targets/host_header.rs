//! The Host header → workspace slug mapping.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ontrackio::web::slug_of;

fuzz_target!(|data: &[u8]| {
    let Ok(host) = std::str::from_utf8(data) else { return };
    for base in ["localhost", "app.ontrackio.com"] {
        if let Ok(Some(slug)) = slug_of(host, base) {
            // A slug is one DNS label: never a dot, never empty.
            assert!(!slug.is_empty() && !slug.contains('.'));
        }
    }
});
