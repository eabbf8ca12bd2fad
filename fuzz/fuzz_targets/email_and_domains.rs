//! The parsers of typed values: emails, domains and domain lists, return paths, and the
//! Microsoft settings values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ontrackio::domain::{ClientId, EmailAddress, EmailDomain, RedirectUri, ReturnTo, TenantSetting, check_client_secret};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(e) = EmailAddress::parse(s) {
        // Normalising is idempotent and the domain re-parses.
        let again = EmailAddress::parse(e.normalized()).expect("a normalised address parses");
        assert_eq!(again.normalized(), e.normalized());
        assert!(EmailDomain::parse(e.domain().as_str()).is_ok());
    }
    let _ = EmailDomain::parse_list(s);
    if let Some(r) = ReturnTo::parse(s) {
        let p = r.as_str();
        assert!(p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\"));
    }
    let _ = TenantSetting::parse(s);
    let _ = ClientId::parse(s);
    let _ = RedirectUri::parse(s);
    let _ = check_client_secret(s);
});
