//! What MSAL relies on beyond plain OIDC: `client_info` in the token response when asked for
//! with `client_info=1`, and CORS preflights answered where Entra answers them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entra_emulator::demo::*;
use serde_json::{Value, json};

use crate::support::*;

/// Signs `upn` in at `request` and redeems the code with `client_info=1`.
async fn tokens_with_client_info(
    emu: &entra_emulator::EmulatorHandle,
    request: &Authorize,
    upn: &str,
) -> Value {
    let code = code(emu, request, upn).await;
    let response = redeem(emu, request, &code, &[("client_info", "1")]).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    // The last member of the body, after id_token, as in captured responses.
    assert!(
        text.find("\"id_token\"") < text.find("\"client_info\""),
        "{text}"
    );
    serde_json::from_str(&text).unwrap()
}

fn decode_client_info(body: &Value) -> (String, Value) {
    let raw = body["client_info"]
        .as_str()
        .expect("client_info")
        .to_owned();
    let json = URL_SAFE_NO_PAD
        .decode(&raw)
        .expect("base64url without padding");
    (raw, serde_json::from_slice(&json).unwrap())
}

#[tokio::test]
async fn client_info_1_returns_the_home_account_ids_base64url_encoded() {
    let emu = start().await;
    let body = tokens_with_client_info(&emu, &Authorize::acme(), ADELE_UPN).await;
    let (raw, info) = decode_client_info(&body);
    assert!(!raw.contains('=') && !raw.contains('+') && !raw.contains('/'));
    assert_eq!(info, json!({"uid": ADELE_OID, "utid": ACME_TENANT_ID}));
    // Exactly the two members, in MSAL's order, compact.
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(&raw).unwrap()).unwrap();
    assert_eq!(
        text,
        format!(r#"{{"uid":"{ADELE_OID}","utid":"{ACME_TENANT_ID}"}}"#)
    );
}

#[tokio::test]
async fn without_client_info_1_there_is_no_client_info() {
    let emu = start().await;
    let body = tokens(&emu, &Authorize::acme(), ADELE_UPN).await;
    assert!(body.get("client_info").is_none(), "{body}");
    let request = Authorize::acme();
    let code = code(&emu, &request, ADELE_UPN).await;
    let response = redeem(&emu, &request, &code, &[("client_info", "0")]).await;
    let body: Value = response.json().await.unwrap();
    assert!(body.get("client_info").is_none(), "{body}");
}

#[tokio::test]
async fn a_guests_client_info_names_its_home_account_not_the_guest_object() {
    let emu = start().await;
    let body = tokens_with_client_info(&emu, &Authorize::acme(), PAT_UPN).await;
    let (_, info) = decode_client_info(&body);
    assert_eq!(info, json!({"uid": PAT_OID, "utid": CONTOSO_TENANT_ID}));
    let claims = decode(body["id_token"].as_str().unwrap()).1;
    assert_eq!(
        claims["oid"], PAT_GUEST_OID,
        "the token still speaks for the guest object"
    );
}

#[tokio::test]
async fn the_refresh_token_grant_returns_client_info_too() {
    let emu = start().await;
    let mut request = Authorize::acme();
    request.scope = "openid profile offline_access User.Read".to_owned();
    let body = tokens(&emu, &request, MEGAN_UPN).await;
    let refresh = body["refresh_token"].as_str().unwrap();
    let response = client()
        .post(format!(
            "{}/{ACME_TENANT_ID}/oauth2/v2.0/token",
            emu.authority()
        ))
        .form(&[
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_info", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let (_, info) = decode_client_info(&body);
    assert_eq!(info, json!({"uid": MEGAN_OID, "utid": ACME_TENANT_ID}));
}

/// Sends a browser's CORS preflight for `method` with a custom request header.
async fn preflight(url: &str, method: &str) -> reqwest::Response {
    client()
        .request(reqwest::Method::OPTIONS, url)
        .header("Origin", "http://localhost:3000")
        .header("Access-Control-Request-Method", method)
        .header(
            "Access-Control-Request-Headers",
            "content-type,client-request-id",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn discovery_and_keys_answer_a_cors_preflight_with_get_and_options() {
    let emu = start().await;
    for path in [
        format!("{ACME_TENANT_ID}/v2.0/.well-known/openid-configuration"),
        "common/v2.0/.well-known/openid-configuration".to_owned(),
        format!("{ACME_TENANT_ID}/discovery/v2.0/keys"),
    ] {
        let response = preflight(&format!("{}/{path}", emu.authority()), "GET").await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "access-control-allow-origin"), "*");
        assert_eq!(
            header(&response, "access-control-allow-methods"),
            "GET, OPTIONS"
        );
        assert_eq!(
            header(&response, "access-control-allow-headers"),
            "content-type,client-request-id"
        );
        assert!(response.text().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn the_token_endpoint_answers_a_cors_preflight_with_post_and_options() {
    let emu = start().await;
    let url = format!("{}/{ACME_TENANT_ID}/oauth2/v2.0/token", emu.authority());
    let response = preflight(&url, "POST").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "access-control-allow-origin"), "*");
    assert_eq!(
        header(&response, "access-control-allow-methods"),
        "POST, OPTIONS"
    );
    assert_eq!(
        header(&response, "access-control-allow-headers"),
        "content-type,client-request-id"
    );
}

#[tokio::test]
async fn a_browsers_token_request_gets_an_error_it_can_read() {
    let emu = start().await;
    let url = format!("{}/{ACME_TENANT_ID}/oauth2/v2.0/token", emu.authority());
    let response = client()
        .post(&url)
        .header("Origin", "http://localhost:3000")
        .form(&[
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", "whatever"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(header(&response, "access-control-allow-origin"), "*");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_codes"], json!([9002326]));
    // Server-side requests (no Origin) carry no CORS headers, as captured.
    let plain = redeem(&emu, &Authorize::acme(), "whatever", &[]).await;
    assert_eq!(header(&plain, "access-control-allow-origin"), "");
}

#[tokio::test]
async fn interactive_endpoints_have_no_cors() {
    let emu = start().await;
    let url = format!("{}/{ACME_TENANT_ID}/oauth2/v2.0/authorize", emu.authority());
    let response = preflight(&url, "GET").await;
    assert_eq!(header(&response, "access-control-allow-origin"), "");
    assert_eq!(response.status(), 405);
}
