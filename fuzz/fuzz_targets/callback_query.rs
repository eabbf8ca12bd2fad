//! The Microsoft callback's query string: parsed without panicking, each parameter at most once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ontrackio::auth::oidc::flow::CallbackParams;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    if let Some(p) = CallbackParams::parse(Some(raw)) {
        // A parsed value is never longer than the cap.
        for v in [&p.code, &p.state, &p.error, &p.error_description].into_iter().flatten() {
            assert!(v.len() <= 8192);
        }
    }
});
