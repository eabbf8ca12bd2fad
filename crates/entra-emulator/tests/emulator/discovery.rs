use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use entra_emulator::MSA_TENANT_ID;
use entra_emulator::demo::*;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use crate::support::*;

#[tokio::test]
async fn tenant_discovery_document_matches_microsofts_field_by_field() {
    let emu = start().await;
    let a = emu.authority();
    let t = ACME_TENANT_ID;
    let response = get(&format!("{a}/{t}/v2.0/.well-known/openid-configuration")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type"),
        "application/json; charset=utf-8"
    );
    assert_eq!(header(&response, "cache-control"), "max-age=86400, private");
    assert_eq!(header(&response, "access-control-allow-origin"), "*");
    assert_eq!(
        header(&response, "access-control-allow-methods"),
        "GET, OPTIONS"
    );
    let doc: Value = response.json().await.unwrap();
    let expected = json!({
        "token_endpoint": format!("{a}/{t}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{a}/{t}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{a}/{t}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{a}/graph/oidc/userinfo"),
        "authorization_endpoint": format!("{a}/{t}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{a}/{t}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{a}/{t}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid",
            "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{a}/{t}/kerberos"),
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    assert_eq!(
        keys(&doc),
        keys(&expected),
        "same field set as the captured document"
    );
    for field in keys(&expected) {
        assert_eq!(doc[&field], expected[&field], "field {field}");
    }
}

#[tokio::test]
async fn common_and_organizations_publish_the_tenantid_issuer_template() {
    let emu = start().await;
    let a = emu.authority();
    for segment in ["common", "organizations"] {
        let doc: Value = get(&format!(
            "{a}/{segment}/v2.0/.well-known/openid-configuration"
        ))
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(doc["issuer"], format!("{a}/{{tenantid}}/v2.0"), "{segment}");
        assert_eq!(doc["tenant_region_scope"], Value::Null, "{segment}");
        assert_eq!(
            doc["authorization_endpoint"],
            format!("{a}/{segment}/oauth2/v2.0/authorize")
        );
        assert_eq!(
            doc["token_endpoint"],
            format!("{a}/{segment}/oauth2/v2.0/token")
        );
        assert_eq!(
            doc["jwks_uri"],
            format!("{a}/{segment}/discovery/v2.0/keys")
        );
        assert_eq!(doc["kerberos_endpoint"], format!("{a}/{segment}/kerberos"));
    }
    let consumers: Value = get(&format!(
        "{a}/consumers/v2.0/.well-known/openid-configuration"
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(consumers["issuer"], format!("{a}/{MSA_TENANT_ID}/v2.0"));
}

#[tokio::test]
async fn a_verified_domain_names_the_tenant_and_the_document_uses_its_guid() {
    let emu = start().await;
    let a = emu.authority();
    for domain in ["acme.test", "acme.onmicrosoft.com"] {
        let doc: Value = get(&format!(
            "{a}/{domain}/v2.0/.well-known/openid-configuration"
        ))
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(
            doc["issuer"],
            format!("{a}/{ACME_TENANT_ID}/v2.0"),
            "{domain}"
        );
        assert_eq!(
            doc["token_endpoint"],
            format!("{a}/{ACME_TENANT_ID}/oauth2/v2.0/token")
        );
    }
}

#[tokio::test]
async fn unknown_tenant_discovery_is_400_invalid_tenant_aadsts90002() {
    let emu = start().await;
    let bogus = "00000000-1111-2222-3333-444444444444";
    let response = get(&format!(
        "{}/{bogus}/v2.0/.well-known/openid-configuration",
        emu.authority()
    ))
    .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_tenant");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!(
            "AADSTS90002: Tenant '{bogus}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
        )),
        "{description}"
    );
    assert_eq!(body["error_codes"], json!([90002]));

    let keys = get(&format!(
        "{}/nope.example/discovery/v2.0/keys",
        emu.authority()
    ))
    .await;
    assert_eq!(keys.status(), 400);
}

#[tokio::test]
async fn jwks_publishes_rsa_keys_whose_kid_is_the_certificate_thumbprint_with_an_issuer_each() {
    let emu = start().await;
    let a = emu.authority();
    let response = get(&format!("{a}/{ACME_TENANT_ID}/discovery/v2.0/keys")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), "max-age=86400, private");
    let jwks: Value = response.json().await.unwrap();
    let keys_list = jwks["keys"].as_array().unwrap();
    assert!(keys_list.len() >= 2, "at least two keys");
    let mut issuers = Vec::new();
    for key in keys_list {
        assert_eq!(
            keys(key),
            [
                "cloud_instance_name",
                "e",
                "issuer",
                "kid",
                "kty",
                "n",
                "use",
                "x5c",
                "x5t"
            ],
            "{key}"
        );
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["e"], "AQAB");
        assert_eq!(key["kid"], key["x5t"]);
        let n = URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256, "RSA-2048 modulus");
        let cert = STANDARD.decode(key["x5c"][0].as_str().unwrap()).unwrap();
        assert_eq!(
            key["kid"],
            URL_SAFE_NO_PAD.encode(Sha1::digest(&cert)),
            "kid = SHA-1 thumbprint"
        );
        assert!(
            cert.windows(n.len()).any(|w| w == n.as_slice()),
            "the certificate holds the published modulus"
        );
        issuers.push(key["issuer"].as_str().unwrap().to_owned());
    }
    assert!(issuers.contains(&format!("{a}/{{tenantid}}/v2.0")));
    assert!(issuers.contains(&format!("{a}/{MSA_TENANT_ID}/v2.0")));
}

#[tokio::test]
async fn signing_keys_rotate_publish_first_then_sign_then_retire() {
    let emu = start().await;
    let old = emu.active_signing_kid();
    let new = emu.add_signing_key();
    assert_ne!(old, new);
    let published = emu.published_kids();
    assert!(published.contains(&new) && published.contains(&old));
    let claims_kid = |body: Value| decode(body["id_token"].as_str().unwrap()).0["kid"].clone();
    let before = tokens(&emu, &Authorize::acme(), ADELE_UPN).await;
    assert_eq!(
        claims_kid(before),
        old,
        "a new key is published before it signs"
    );

    emu.use_signing_key(&new).unwrap();
    assert!(
        emu.retire_signing_key(&new).is_err(),
        "the signing key can't be retired"
    );
    emu.retire_signing_key(&old).unwrap();
    let after = tokens(&emu, &Authorize::acme(), ADELE_UPN).await;
    assert_eq!(claims_kid(after), new);
    let jwks: Value = get(&format!("{}/common/discovery/v2.0/keys", emu.authority()))
        .await
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&new.as_str()) && !kids.contains(&old.as_str()),
        "{kids:?}"
    );

    let rotated = emu.rotate_signing_key();
    assert_eq!(emu.active_signing_kid(), rotated);
    assert!(!emu.published_kids().contains(&new));
}
