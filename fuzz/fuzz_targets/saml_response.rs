//! The ACS's response parser and verifier (`auth::saml::response::verify`): arbitrary
//! bytes, posted as the `SAMLResponse` form value either raw or base64-encoded, must be
//! refused without a panic, and never accepted (nothing is signed by the certificate
//! below: its private key was thrown away when it was made).
#![no_main]

use std::sync::LazyLock;

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use ontrackio::auth::saml::response::{Expected, verify};

const CERT_B64: &str = "MIIDGzCCAgOgAwIBAgIURBmnBH3PzYKMcRf6XgEDJkyuWEQwDQYJKoZIhvcNAQELBQAwHTEbMBkGA1UEAwwST25UcmFja2lvIGZ1enogSWRQMB4XDTI2MTIwNDA5MDgyN1oXDTM2MTIwMTA5MDgyN1owHTEbMBkGA1UEAwwST25UcmFja2lvIGZ1enogSWRQMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArzk8A+MSK0Ue89v/n98LACRaRHKDnUaXOCU/MnxAa59Uchv7sLdindyN/WzskWWjdlDNgnTNXZYnzFURPlEKCKpSzvUHHSW0iOEiKRp1WkwnwxE4Ds+MarS8uf87+9U8nEGOvXZg0RtduF7r2VJClhP6HFN1ecM67BW1TpAsC5q1k0rr5hAIufsELwpOsZAMhsgMttWf4fqVCdeuz/NDr3QNST9Vve8xhHtAjYRRFtNuPZpM3nYPAaT8yvDHWBsHe7xXRR+XwWyeFj4us80cwTEdWwQbyNZrykYZ/kYpA36sqxDDrOPIFf99fGKzvw11O/xNOj+dscgDRKJJnvgxWQIDAQABo1MwUTAdBgNVHQ4EFgQUV/7cAmS0rd2WfpMgTUP7RhDTGyMwHwYDVR0jBBgwFoAUV/7cAmS0rd2WfpMgTUP7RhDTGyMwDwYDVR0TAQH/BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEApgJVycY1lr6OUjBe0yufHSTJzB3kWK004y9KeOWj5NRSSAJHiEqrR1HzOdEWM8BDqB7N6nJj1uX6GROi2wgavGSnAtz5REtJlbHWl3rK5mpGqtuh4Lmu81kyfiob5/jEJRuV1yGFln6lrnDVvp+8gq8h6FrHaoblNvQo4QgrikP3+Bc2Tz0gfJqaksVLoFBVHSz3xud9xvA7n3FAhpXnCLXaMTGY8Kl+T1CE8LwvMI4fRPo3znxsqxmHGPnUCV/fBMAEKH6hX3KIvXBNOAxhEwPlgEJSRV9uCvHiu44oazomCeQqBhf6IMq0grlqBUOwlYCjWvUul5vpAWZJkZLvXw==";

static CERT: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    vec![base64::engine::general_purpose::STANDARD.decode(CERT_B64).expect("static certificate")]
});

fuzz_target!(|data: &[u8]| {
    let expected = Expected {
        idp_entity_id: "https://sts.windows.net/t/",
        certificates: &CERT,
        sp_entity_id: "https://acme.example.com/saml/metadata",
        acs_url: "https://acme.example.com/saml/acs",
        request_id: Some("_r"),
        unsolicited_allowed: true,
        now: 1_800_000_000,
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    assert!(verify(&encoded, &expected).is_err());
    if let Ok(raw) = std::str::from_utf8(data) {
        assert!(verify(raw, &expected).is_err());
    }
});
