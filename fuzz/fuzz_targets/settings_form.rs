//! The Microsoft Entra ID card's form body: decoded and validated field by field.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ontrackio::web::fuzz_settings_form(data);
});
