use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use entra_emulator::demo::*;
use serde_json::{Value, json};

use crate::support::*;

/// Asserts the spec §3.3 error body field by field and returns the description.
async fn assert_token_error(
    response: reqwest::Response,
    status: u16,
    error: &str,
    code: u32,
    text_start: &str,
) -> Value {
    assert_eq!(response.status(), status, "HTTP status for AADSTS{code}");
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/json; charset=utf-8"
    );
    let base = response.url().origin().ascii_serialization();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        keys(&body),
        [
            "correlation_id",
            "error",
            "error_codes",
            "error_description",
            "error_uri",
            "timestamp",
            "trace_id"
        ]
    );
    assert_eq!(body["error"], error);
    assert_eq!(body["error_codes"], json!([code]));
    let trace_id = body["trace_id"].as_str().unwrap();
    let correlation_id = body["correlation_id"].as_str().unwrap();
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(is_guid(trace_id) && is_guid(correlation_id));
    assert!(
        time::PrimitiveDateTime::parse(
            timestamp,
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z")
        )
        .is_ok(),
        "timestamp {timestamp}"
    );
    let description = body["error_description"].as_str().unwrap();
    let prefix = format!("AADSTS{code}: {text_start}");
    assert!(
        description.starts_with(&prefix),
        "{description}\nexpected to start with {prefix}"
    );
    assert!(
        description.ends_with(&format!(
            "\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        )),
        "{description:?}"
    );
    assert_eq!(body["error_uri"], format!("{base}/error?code={code}"));
    body
}

#[tokio::test]
async fn a_code_redeems_with_client_secret_post_and_pkce_s256() {
    let emu = start().await;
    let request = Authorize::acme();
    let code = code(&emu, &request, ADELE_UPN).await;
    let response = redeem(&emu, &request, &code, &[]).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers.get("cache-control").unwrap(), "no-store, no-cache");
    assert_eq!(headers.get("pragma").unwrap(), "no-cache");
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/json; charset=utf-8"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        keys(&body),
        [
            "access_token",
            "expires_in",
            "ext_expires_in",
            "id_token",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "User.Read profile openid email");
    let expires_in = body["expires_in"].as_i64().unwrap();
    assert!(
        (3600..=5400).contains(&expires_in),
        "60–90 minutes, got {expires_in}"
    );
    assert_eq!(body["ext_expires_in"], body["expires_in"]);
    assert_eq!(body["id_token"].as_str().unwrap().split('.').count(), 3);
}

#[tokio::test]
async fn client_secret_basic_is_accepted_in_place_of_the_body_secret() {
    let emu = start().await;
    let request = Authorize::acme();
    let code = code(&emu, &request, ADELE_UPN).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", request.verifier.as_str()),
    ];
    // RFC 6749 §2.3.1: form-encode each half, so `~` stays and `.` stays.
    let basic = STANDARD.encode(format!("{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}"));
    let response = client()
        .post(format!(
            "{}/{ACME_TENANT_ID}/oauth2/v2.0/token",
            emu.authority()
        ))
        .header("authorization", format!("Basic {basic}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn pkce_plain_is_accepted_and_is_the_default_method() {
    let emu = start().await;
    let verifier = "a-plain-verifier-that-is-at-least-forty-three-characters-long";
    for method in ["plain", ""] {
        let mut request = Authorize::acme().with("code_challenge_method", method);
        request.challenge = verifier.to_owned();
        request.verifier = verifier.to_owned();
        let code = code(&emu, &request, ADELE_UPN).await;
        assert_eq!(
            redeem(&emu, &request, &code, &[]).await.status(),
            200,
            "method {method:?}"
        );
    }
}

#[tokio::test]
async fn a_pkce_mismatch_is_400_invalid_grant_aadsts501481() {
    let emu = start().await;
    let request = Authorize::acme();
    let code = code(&emu, &request, ADELE_UPN).await;
    let response = redeem(
        &emu,
        &request,
        &code,
        &[(
            "code_verifier",
            "some-other-verifier-of-sufficient-length-000000",
        )],
    )
    .await;
    assert_token_error(
        response,
        400,
        "invalid_grant",
        501481,
        "The Code_Verifier doesn't match the code_challenge supplied in the authorization request.",
    )
    .await;
    let missing = redeem(&emu, &request, &code, &[("code_verifier", "")]).await;
    assert_eq!(missing.status(), 400);
}

#[tokio::test]
async fn a_reused_code_is_400_invalid_grant_aadsts54005() {
    let emu = start().await;
    let request = Authorize::acme();
    let code = code(&emu, &request, ADELE_UPN).await;
    assert_eq!(redeem(&emu, &request, &code, &[]).await.status(), 200);
    let again = redeem(&emu, &request, &code, &[]).await;
    assert_token_error(
        again,
        400,
        "invalid_grant",
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
    )
    .await;
}

#[tokio::test]
async fn a_code_older_than_ten_minutes_is_400_invalid_grant_aadsts70008() {
    let emu = start().await;
    let request = Authorize::acme();
    let fresh = code(&emu, &request, ADELE_UPN).await;
    let stale = code(&emu, &request, ADELE_UPN).await;
    emu.advance_clock(Duration::from_secs(9 * 60));
    assert_eq!(
        redeem(&emu, &request, &fresh, &[]).await.status(),
        200,
        "nine minutes is fine"
    );
    emu.advance_clock(Duration::from_secs(61 + 60));
    let response = redeem(&emu, &request, &stale, &[]).await;
    assert_token_error(
        response,
        400,
        "invalid_grant",
        70008,
        "The provided authorization code or refresh token has expired due to inactivity.",
    )
    .await;
}

#[tokio::test]
async fn a_redirect_uri_differing_from_the_authorize_request_is_400_aadsts500112() {
    let emu = start().await;
    emu.update_directory(|d| {
        d.add_redirect_uri(DEMO_CLIENT_ID, "https://other.example/cb")
            .unwrap()
    })
    .unwrap();
    let request = Authorize::acme();
    let code = code(&emu, &request, ADELE_UPN).await;
    let response = redeem(
        &emu,
        &request,
        &code,
        &[("redirect_uri", "https://other.example/cb")],
    )
    .await;
    assert_token_error(
        response,
        400,
        "invalid_grant",
        500112,
        "The reply address 'https://other.example/cb' does not match the reply address",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_secret_is_401_invalid_client_aadsts7000215() {
    let emu = start().await;
    let request = Authorize::acme();
    let code = code(&emu, &request, ADELE_UPN).await;
    // The classic mistake: the secret's id instead of its value.
    let response = redeem(
        &emu,
        &request,
        &code,
        &[("client_secret", DEMO_CLIENT_SECRET_ID)],
    )
    .await;
    assert_token_error(
        response,
        401,
        "invalid_client",
        7000215,
        &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{DEMO_CLIENT_ID}'."),
    )
    .await;
    assert_eq!(
        redeem(&emu, &request, &code, &[]).await.status(),
        200,
        "a failed attempt doesn't burn the code"
    );
}

#[tokio::test]
async fn an_expired_secret_is_401_invalid_client_aadsts7000222() {
    let emu = start().await;
    let request = Authorize::acme();
    let code = code(&emu, &request, ADELE_UPN).await;
    emu.update_directory(|d| {
        d.app_mut(DEMO_CLIENT_ID)
            .unwrap()
            .expire_secrets(time::OffsetDateTime::now_utc() - time::Duration::days(1))
    })
    .unwrap();
    let response = redeem(&emu, &request, &code, &[]).await;
    assert_token_error(
        response,
        401,
        "invalid_client",
        7000222,
        &format!("The provided client secret keys for app '{DEMO_CLIENT_ID}' are expired."),
    )
    .await;
}

#[tokio::test]
async fn a_secret_expires_by_the_emulator_clock() {
    let emu = start().await;
    let request = Authorize::acme();
    let code = code(&emu, &request, ADELE_UPN).await;
    emu.update_directory(|d| {
        d.app_mut(DEMO_CLIENT_ID)
            .unwrap()
            .expire_secrets(time::OffsetDateTime::now_utc() + time::Duration::minutes(5))
    })
    .unwrap();
    emu.advance_clock(Duration::from_secs(6 * 60));
    assert_eq!(redeem(&emu, &request, &code, &[]).await.status(), 401);
}

#[tokio::test]
async fn a_missing_secret_is_401_invalid_client_aadsts7000218() {
    let emu = start().await;
    let request = Authorize::acme();
    let code = code(&emu, &request, ADELE_UPN).await;
    let response = redeem(&emu, &request, &code, &[("client_secret", "")]).await;
    assert_token_error(
        response,
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_client_at_the_token_endpoint_is_400_unauthorized_client_aadsts700016() {
    let emu = start().await;
    let request = Authorize::acme();
    let code = code(&emu, &request, ADELE_UPN).await;
    let unknown = "11111111-2222-3333-4444-555555555555";
    let response = redeem(&emu, &request, &code, &[("client_id", unknown)]).await;
    assert_token_error(
        response,
        400,
        "unauthorized_client",
        700016,
        &format!("Application with identifier '{unknown}' was not found in the directory 'Acme'."),
    )
    .await;
}

#[tokio::test]
async fn a_code_entra_never_issued_is_400_invalid_grant_aadsts9002313() {
    let emu = start().await;
    let response = redeem(&emu, &Authorize::acme(), "not-a-code", &[]).await;
    assert_token_error(
        response,
        400,
        "invalid_grant",
        9002313,
        "Invalid request. Request is malformed or invalid.",
    )
    .await;
}

#[tokio::test]
async fn credentials_sent_with_an_origin_header_are_refused() {
    let emu = start().await;
    let request = Authorize::acme();
    let code = code(&emu, &request, ADELE_UPN).await;
    let response = client()
        .post(format!(
            "{}/{ACME_TENANT_ID}/oauth2/v2.0/token",
            emu.authority()
        ))
        .header("origin", "http://acme.localhost:8080")
        .form(&[
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", request.verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_token_error(
        response,
        400,
        "invalid_request",
        9002326,
        "Cross-origin token redemption",
    )
    .await;
}

#[tokio::test]
async fn the_correlation_id_is_the_client_request_id() {
    let emu = start().await;
    let id = "6d1fa7c2-0a3b-4c5d-8e9f-123456789abc";
    let response = client()
        .post(format!(
            "{}/{ACME_TENANT_ID}/oauth2/v2.0/token",
            emu.authority()
        ))
        .header("client-request-id", id)
        .form(&[
            ("client_id", DEMO_CLIENT_ID),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["correlation_id"], id);
}

#[tokio::test]
async fn client_credentials_checks_the_secret_and_returns_an_app_only_graph_token() {
    let emu = start().await;
    let url = format!("{}/{ACME_TENANT_ID}/oauth2/v2.0/token", emu.authority());
    let form = |secret: &'static str, scope: &'static str| {
        vec![
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", secret),
            ("grant_type", "client_credentials"),
            ("scope", scope),
        ]
    };
    let ok = client()
        .post(&url)
        .form(&form(
            DEMO_CLIENT_SECRET,
            "https://graph.microsoft.com/.default",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(
        keys(&body),
        ["access_token", "expires_in", "ext_expires_in", "token_type"]
    );
    let token = body["access_token"].as_str().unwrap();
    let (_, claims) = decode(token);
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["aud"], "00000003-0000-0000-c000-000000000000");

    let wrong = client()
        .post(&url)
        .form(&form("nope", "https://graph.microsoft.com/.default"))
        .send()
        .await
        .unwrap();
    assert_token_error(
        wrong,
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided.",
    )
    .await;

    let scope = client()
        .post(&url)
        .form(&form(DEMO_CLIENT_SECRET, "User.Read"))
        .send()
        .await
        .unwrap();
    assert_token_error(
        scope,
        400,
        "invalid_scope",
        1002012,
        "The provided value for scope User.Read is not valid.",
    )
    .await;

    // App-only tokens need a tenant: `common` can't say which.
    let common = client()
        .post(format!("{}/common/oauth2/v2.0/token", emu.authority()))
        .form(&form(
            DEMO_CLIENT_SECRET,
            "https://graph.microsoft.com/.default",
        ))
        .send()
        .await
        .unwrap();
    assert_token_error(
        common,
        400,
        "invalid_request",
        50059,
        "No tenant-identifying information",
    )
    .await;

    let me = client()
        .get(format!("{}/v1.0/me", emu.graph_base()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 400, "/me needs a delegated token");
}

#[tokio::test]
async fn offline_access_adds_a_refresh_token_that_redeems() {
    let emu = start().await;
    let mut request = Authorize::acme();
    request.scope = "openid profile offline_access User.Read".to_owned();
    let body = tokens(&emu, &request, ADELE_UPN).await;
    assert_eq!(body["scope"], "User.Read profile openid offline_access");
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
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let refreshed: Value = response.json().await.unwrap();
    assert!(refreshed["id_token"].is_string() && refreshed["access_token"].is_string());
}

#[tokio::test]
async fn without_openid_there_is_no_id_token() {
    let emu = start().await;
    let mut request = Authorize::acme();
    request.scope = "User.Read".to_owned();
    let body = tokens(&emu, &request, ADELE_UPN).await;
    assert!(body.get("id_token").is_none());
    assert_eq!(body["scope"], "User.Read");
}
