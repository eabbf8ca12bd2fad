use std::time::{Duration, Instant};

use entra_emulator::demo::*;
use entra_emulator::{Endpoint, Misbehaviour};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::pkcs8::EncodePublicKey;
use serde_json::Value;

use crate::support::*;

async fn jwks(emu: &entra_emulator::EmulatorHandle) -> Value {
    get_json(&format!(
        "{}/{ACME_TENANT_ID}/discovery/v2.0/keys",
        emu.authority()
    ))
    .await
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn each_id_token_misbehaviour_bends_exactly_what_it_names() {
    let emu = start().await;
    let acme_issuer = emu.issuer(ACME_TENANT_ID);
    let published: Vec<String> = emu.published_kids();
    type Check = fn(&Value, &Value, &str, &Authorize) -> bool;
    let cases: Vec<(Misbehaviour, Check)> = vec![
        (Misbehaviour::AlgNone, |h, _, raw, _| {
            h["alg"] == "none" && raw.ends_with('.')
        }),
        (Misbehaviour::WrongIssuer, |_, c, _, _| {
            c["iss"] == format!("https://sts.windows.net/{ACME_TENANT_ID}/")
        }),
        (Misbehaviour::WrongAudience, |_, c, _, _| {
            c["aud"] != DEMO_CLIENT_ID && c["aud"].is_string()
        }),
        (Misbehaviour::Expired, |_, c, _, _| {
            c["exp"].as_i64().unwrap() < now()
        }),
        (Misbehaviour::IssuedInFuture, |_, c, _, _| {
            c["iat"].as_i64().unwrap() > now() + 1800 && c["nbf"] == c["iat"]
        }),
        (Misbehaviour::MissingNonce, |_, c, _, _| {
            c.get("nonce").is_none()
        }),
        (Misbehaviour::WrongNonce, |_, c, _, r| {
            c["nonce"].is_string() && c["nonce"] != r.nonce.as_str()
        }),
        (Misbehaviour::MissingOid, |_, c, _, _| {
            c.get("oid").is_none() && c["tid"].is_string()
        }),
        (Misbehaviour::MissingTid, |_, c, _, _| {
            c.get("tid").is_none() && c["oid"].is_string()
        }),
    ];
    for (misbehaviour, check) in cases {
        emu.set_misbehaviour(DEMO_CLIENT_ID, misbehaviour);
        let request = Authorize::acme();
        let body = tokens(&emu, &request, ADELE_UPN).await;
        let raw = body["id_token"].as_str().unwrap();
        let (header, claims) = decode(raw);
        assert!(
            check(&header, &claims, raw, &request),
            "{misbehaviour:?}: {header} {claims}"
        );
        emu.clear_misbehaviours(DEMO_CLIENT_ID);
    }

    emu.set_misbehaviour(DEMO_CLIENT_ID, Misbehaviour::IssuerTenantMismatch);
    let claims = id_claims(&emu, &Authorize::acme(), ADELE_UPN).await;
    assert_eq!(claims["tid"], ACME_TENANT_ID);
    assert_ne!(claims["iss"], acme_issuer);
    assert!(
        claims["iss"]
            .as_str()
            .unwrap()
            .starts_with(&emu.authority())
    );
    emu.clear_misbehaviours(DEMO_CLIENT_ID);

    emu.set_misbehaviour(DEMO_CLIENT_ID, Misbehaviour::SignWithUnpublishedKey);
    let body = tokens(&emu, &Authorize::acme(), ADELE_UPN).await;
    let (header, _) = decode(body["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert!(!published.contains(&header["kid"].as_str().unwrap().to_owned()));
    assert!(
        !emu.published_kids()
            .contains(&header["kid"].as_str().unwrap().to_owned())
    );
    emu.clear_misbehaviours(DEMO_CLIENT_ID);
}

#[tokio::test]
async fn hs256_misbehaviour_is_keyed_with_the_published_public_key() {
    let emu = start().await;
    emu.set_misbehaviour(DEMO_CLIENT_ID, Misbehaviour::Hs256WithPublicKey);
    let body = tokens(&emu, &Authorize::acme(), ADELE_UPN).await;
    let token = body["id_token"].as_str().unwrap();
    let (header, _) = decode(token);
    assert_eq!(header["alg"], "HS256");
    let jwks = jwks(&emu).await;
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap();
    let b64 = |s: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.as_str().unwrap())
            .unwrap()
    };
    let public = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&b64(&key["n"])),
        rsa::BigUint::from_bytes_be(&b64(&key["e"])),
    )
    .unwrap();
    let pem = public
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[DEMO_CLIENT_ID]);
    jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_secret(pem.as_bytes()),
        &validation,
    )
    .expect("HMAC over the public key PEM");
}

#[tokio::test]
async fn misbehaviours_are_per_app() {
    let emu = start().await;
    emu.set_misbehaviour(DEMO_CLIENT_ID, Misbehaviour::MissingOid);
    let other = id_claims(
        &emu,
        &Authorize::new(ACME_TENANT_ID, DEMO_SINGLE_TENANT_CLIENT_ID),
        ADELE_UPN,
    )
    .await;
    assert_eq!(other["oid"], ADELE_OID);
}

#[tokio::test]
async fn graph_misbehaviours_mismatch_the_id_or_fail_with_500() {
    let emu = start().await;
    emu.set_misbehaviour(DEMO_CLIENT_ID, Misbehaviour::GraphIdMismatch);
    let token = tokens(&emu, &Authorize::acme(), ADELE_UPN).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = |token: String| {
        let url = format!("{}/v1.0/me", emu.graph_base());
        async move { client().get(url).bearer_auth(token).send().await.unwrap() }
    };
    let body: Value = me(token.clone()).await.json().await.unwrap();
    assert_ne!(body["id"], ADELE_OID);
    assert!(is_guid(body["id"].as_str().unwrap()));

    emu.clear_misbehaviours(DEMO_CLIENT_ID);
    emu.set_misbehaviour(DEMO_CLIENT_ID, Misbehaviour::GraphServerError);
    let response = me(token).await;
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "generalException");
}

#[tokio::test]
async fn a_delay_slows_only_the_endpoint_it_names() {
    let emu = start().await;
    emu.set_delay(Endpoint::Jwks, Duration::from_millis(400));
    let started = Instant::now();
    jwks(&emu).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    let started = Instant::now();
    client()
        .get(format!(
            "{}/{ACME_TENANT_ID}/v2.0/.well-known/openid-configuration",
            emu.authority()
        ))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(400));
}

#[tokio::test]
async fn an_oversized_jwks_streams_fifty_megabytes_without_a_length() {
    let emu = start().await;
    emu.set_global_misbehaviour(Misbehaviour::OversizedBody(Endpoint::Jwks));
    let mut response = client()
        .get(format!(
            "{}/{ACME_TENANT_ID}/discovery/v2.0/keys",
            emu.authority()
        ))
        .send()
        .await
        .unwrap();
    assert!(
        response.content_length().is_none(),
        "chunked: only a counting client notices"
    );
    let mut total = 0usize;
    while let Some(chunk) = response.chunk().await.unwrap() {
        total += chunk.len();
    }
    assert!(total >= 50 * 1024 * 1024, "{total} bytes");
}

#[tokio::test]
async fn an_oversized_token_response_is_per_app() {
    let emu = start().await;
    emu.set_misbehaviour(DEMO_CLIENT_ID, Misbehaviour::OversizedBody(Endpoint::Token));
    let request = Authorize::acme();
    let code = code(&emu, &request, ADELE_UPN).await;
    let mut response = redeem(&emu, &request, &code, &[]).await;
    let first = response.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"{\"padding\":\""));
}

#[tokio::test]
async fn discovery_issuer_mismatch_publishes_another_tenants_issuer() {
    let emu = start().await;
    emu.set_global_misbehaviour(Misbehaviour::DiscoveryIssuerMismatch);
    let doc: Value = client()
        .get(format!(
            "{}/{ACME_TENANT_ID}/v2.0/.well-known/openid-configuration",
            emu.authority()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(doc["issuer"], emu.issuer(ACME_TENANT_ID));
    emu.clear_global_misbehaviours();
    let doc: Value = client()
        .get(format!(
            "{}/{ACME_TENANT_ID}/v2.0/.well-known/openid-configuration",
            emu.authority()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], emu.issuer(ACME_TENANT_ID));
}
