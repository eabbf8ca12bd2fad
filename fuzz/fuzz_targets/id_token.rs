//! ID-token parsing and validation after the key lookup: header checks, signature,
//! claims and Microsoft's issuer rules. Arbitrary input must be refused, never panic,
//! and never be accepted (no input is signed by the key below).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ontrackio::auth::microsoft::id_token::{Expectations, header_checks, verify_with_key};
use ontrackio::auth::oidc::jwks::SigningKey;
use ontrackio::domain::ClientId;

static KEY: LazyLock<SigningKey> = LazyLock::new(|| SigningKey {
    kid: Some("k1".into()),
    issuer: Some("https://login.microsoftonline.com/{tenantid}/v2.0".into()),
    key: jsonwebtoken::DecodingKey::from_rsa_components(
        "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
        "AQAB",
    )
    .expect("static key"),
});
static CLIENT: LazyLock<ClientId> = LazyLock::new(|| ClientId::parse("6e74172b-be56-4843-9ff4-e66a39bb12e3").unwrap());

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let _ = header_checks(token);
    let expect = Expectations { jwks_uri: "unused", client_id: &CLIENT, nonce: "n", pinned_tenant: None };
    assert!(verify_with_key(token, &KEY, "https://login.microsoftonline.com", &expect).is_err());
});
