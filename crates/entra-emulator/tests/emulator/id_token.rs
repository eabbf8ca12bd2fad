use entra_emulator::demo::*;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use crate::support::*;

async fn jwks(emu: &entra_emulator::EmulatorHandle) -> Value {
    get_json(&format!(
        "{}/{ACME_TENANT_ID}/discovery/v2.0/keys",
        emu.authority()
    ))
    .await
}

#[tokio::test]
async fn the_id_token_carries_the_v2_claim_set_and_verifies_against_the_jwks() {
    let emu = start().await;
    let request = Authorize::new(ACME_TENANT_ID, DEMO_SINGLE_TENANT_CLIENT_ID);
    let body = tokens(&emu, &request, ADELE_UPN).await;
    let token = body["id_token"].as_str().unwrap();
    let (header, claims) = decode(token);
    assert_eq!(
        keys(&header),
        ["alg", "kid", "typ"],
        "no x5t in v2.0 tokens"
    );
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["alg"], "RS256");

    assert_eq!(
        keys(&claims),
        [
            "aio",
            "aud",
            "email",
            "exp",
            "iat",
            "iss",
            "name",
            "nbf",
            "nonce",
            "oid",
            "preferred_username",
            "rh",
            "sub",
            "tid",
            "uti",
            "ver"
        ]
    );
    assert_eq!(claims["aud"], DEMO_SINGLE_TENANT_CLIENT_ID);
    assert_eq!(
        claims["iss"],
        format!("{}/{ACME_TENANT_ID}/v2.0", emu.authority())
    );
    assert_eq!(claims["tid"], ACME_TENANT_ID);
    assert_eq!(claims["oid"], ADELE_OID);
    assert_eq!(claims["name"], "Adele Vance");
    assert_eq!(claims["preferred_username"], ADELE_UPN);
    assert_eq!(claims["email"], ADELE_UPN);
    assert_eq!(claims["nonce"], request.nonce);
    assert_eq!(claims["ver"], "2.0");
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["nbf"].as_i64().unwrap(), iat);
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 3600, "one hour");
    assert!((iat - time::OffsetDateTime::now_utc().unix_timestamp()).abs() < 60);
    let sub = claims["sub"].as_str().unwrap();
    assert_eq!(sub.len(), 43);
    assert!(
        sub.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    assert_eq!(claims["uti"].as_str().unwrap().len(), 22);
    assert!(claims["aio"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(claims["rh"].as_str().is_some_and(|s| !s.is_empty()));

    let jwks = jwks(&emu).await;
    let decoding = rsa_key(&jwks, header["kid"].as_str().unwrap()).expect("kid is published");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[DEMO_SINGLE_TENANT_CLIENT_ID]);
    validation.set_issuer(&[claims["iss"].as_str().unwrap()]);
    jsonwebtoken::decode::<Value>(token, &decoding, &validation).expect("signature verifies");
}

#[tokio::test]
async fn sub_is_pairwise_per_app_while_oid_is_not() {
    let emu = start().await;
    let multi = id_claims(&emu, &Authorize::acme(), ALEX_UPN).await;
    let single = id_claims(
        &emu,
        &Authorize::new(ACME_TENANT_ID, DEMO_SINGLE_TENANT_CLIENT_ID),
        ALEX_UPN,
    )
    .await;
    assert_eq!(multi["oid"], single["oid"]);
    assert_ne!(multi["sub"], single["sub"]);
    let again = id_claims(&emu, &Authorize::acme(), ALEX_UPN).await;
    assert_eq!(
        multi["sub"], again["sub"],
        "stable for the same app, tenant and user"
    );
}

#[tokio::test]
async fn xms_edov_says_whether_the_users_tenant_verified_the_email_domain() {
    let emu = start().await;
    let adele = id_claims(&emu, &Authorize::acme(), ADELE_UPN).await;
    assert_eq!(adele["email"], ADELE_UPN);
    assert_eq!(adele["xms_edov"], true);
    assert_eq!(adele["given_name"], "Adele");
    assert_eq!(adele["family_name"], "Vance");

    // Mallory signs in at her own tenant, whose admin set `mail` to Alex's address.
    let mallory = id_claims(
        &emu,
        &Authorize::new("organizations", DEMO_CLIENT_ID),
        MALLORY_UPN,
    )
    .await;
    assert_eq!(mallory["tid"], EVIL_TENANT_ID);
    assert_eq!(
        mallory["iss"],
        format!("{}/{EVIL_TENANT_ID}/v2.0", emu.authority())
    );
    assert_eq!(mallory["preferred_username"], MALLORY_UPN);
    assert_eq!(mallory["email"], MALLORY_MAIL);
    assert_eq!(mallory["xms_edov"], false);
}

#[tokio::test]
async fn a_multi_tenant_app_drops_unverified_emails_unless_told_not_to() {
    let emu = start().await;
    emu.update_directory(|d| {
        d.app_mut(DEMO_CLIENT_ID)
            .unwrap()
            .remove_unverified_email_claim = true
    })
    .unwrap();
    let mallory = id_claims(&emu, &Authorize::new("common", DEMO_CLIENT_ID), MALLORY_UPN).await;
    assert!(mallory.get("email").is_none(), "{mallory}");
    assert!(
        mallory.get("xms_edov").is_none(),
        "xms_edov only accompanies email"
    );
    let adele = id_claims(&emu, &Authorize::new("common", DEMO_CLIENT_ID), ADELE_UPN).await;
    assert_eq!(adele["email"], ADELE_UPN, "verified emails stay");
}

#[tokio::test]
async fn a_member_without_mail_gets_no_email_claim() {
    let emu = start().await;
    let claims = id_claims(&emu, &Authorize::acme(), NOMAIL_UPN).await;
    assert!(claims.get("email").is_none());
    assert_eq!(claims["preferred_username"], NOMAIL_UPN);
}

#[tokio::test]
async fn without_the_email_scope_or_optional_claim_members_get_no_email() {
    let emu = start().await;
    let mut request = Authorize::new(ACME_TENANT_ID, DEMO_SINGLE_TENANT_CLIENT_ID);
    request.scope = "openid profile User.Read".to_owned();
    let claims = id_claims(&emu, &request, ADELE_UPN).await;
    assert!(claims.get("email").is_none());
    assert!(
        claims.get("given_name").is_none(),
        "given_name is optional-claim only"
    );
}

#[tokio::test]
async fn a_guest_at_the_resource_tenant_gets_its_tid_the_guest_oid_and_an_idp() {
    let emu = start().await;
    let guest = id_claims(&emu, &Authorize::acme(), PAT_UPN).await;
    assert_eq!(guest["tid"], ACME_TENANT_ID);
    assert_eq!(
        guest["iss"],
        format!("{}/{ACME_TENANT_ID}/v2.0", emu.authority())
    );
    assert_eq!(guest["oid"], PAT_GUEST_OID);
    assert_eq!(
        guest["idp"],
        format!("https://sts.windows.net/{CONTOSO_TENANT_ID}/")
    );
    assert_eq!(guest["email"], PAT_UPN, "guests always get email");
    assert_eq!(guest["preferred_username"], PAT_UPN);

    // Through `common`, the same person lands in the home tenant.
    let home = id_claims(&emu, &Authorize::new("common", DEMO_CLIENT_ID), PAT_UPN).await;
    assert_eq!(home["tid"], CONTOSO_TENANT_ID);
    assert_eq!(home["oid"], PAT_OID);
    assert!(home.get("idp").is_none());
    assert_ne!(home["sub"], guest["sub"]);
}

#[tokio::test]
async fn a_revoked_user_read_consent_leaves_it_out_of_scope_and_graph_refuses_403() {
    let emu = start().await;
    emu.update_directory(|d| {
        d.app_mut(DEMO_CLIENT_ID)
            .unwrap()
            .set_user_read_granted(false)
    })
    .unwrap();
    let body = tokens(&emu, &Authorize::acme(), ADELE_UPN).await;
    assert_eq!(body["scope"], "profile openid email");
    assert!(body["id_token"].is_string(), "still signs the user in");
    let me = client()
        .get(format!("{}/v1.0/me", emu.graph_base()))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 403);
}
