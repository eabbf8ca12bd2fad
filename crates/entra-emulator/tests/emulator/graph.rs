use std::time::Duration;

use entra_emulator::demo::*;
use serde_json::{Value, json};

use crate::support::*;

async fn me(emu: &entra_emulator::EmulatorHandle, token: Option<&str>) -> reqwest::Response {
    let mut request = client().get(format!("{}/v1.0/me", emu.graph_base()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn access_token(emu: &entra_emulator::EmulatorHandle, upn: &str) -> String {
    tokens(emu, &Authorize::acme(), upn).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn assert_odata_error(body: &Value, code: &str, message: &str) {
    assert_eq!(keys(body), ["error"]);
    let error = &body["error"];
    assert_eq!(keys(error), ["code", "innerError", "message"]);
    assert_eq!(error["code"], code);
    assert_eq!(error["message"], message);
    let inner = &error["innerError"];
    assert_eq!(keys(inner), ["client-request-id", "date", "request-id"]);
    assert!(is_guid(inner["request-id"].as_str().unwrap()));
    let date = inner["date"].as_str().unwrap();
    assert!(
        time::PrimitiveDateTime::parse(
            date,
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]")
        )
        .is_ok(),
        "{date}"
    );
}

#[tokio::test]
async fn me_returns_the_default_field_set_with_nulls_for_empty_fields() {
    let emu = start().await;
    let token = access_token(&emu, NOMAIL_UPN).await;
    let response = me(&emu, Some(&token)).await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/json;odata.metadata=minimal")
    );
    assert!(response.headers().get("request-id").is_some());
    let body: Value = response.json().await.unwrap();
    let expected = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
        "businessPhones": [],
        "displayName": "No Mail User",
        "givenName": null,
        "jobTitle": null,
        "mail": null,
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": null,
        "surname": null,
        "userPrincipalName": NOMAIL_UPN,
        "id": NOMAIL_OID,
    });
    assert_eq!(body, expected);
}

#[tokio::test]
async fn me_id_equals_the_id_token_oid_and_reflects_directory_changes() {
    let emu = start().await;
    let body = tokens(&emu, &Authorize::acme(), ALEX_UPN).await;
    let oid = decode(body["id_token"].as_str().unwrap()).1["oid"].clone();
    let token = body["access_token"].as_str().unwrap();
    let first: Value = me(&emu, Some(token)).await.json().await.unwrap();
    assert_eq!(first["id"], oid);
    assert_eq!(first["mail"], ALEX_UPN);
    assert_eq!(first["givenName"], "Alex");
    assert_eq!(first["businessPhones"], json!(["+1 858 555 0110"]));

    emu.update_directory(|d| {
        d.user_by_upn_mut(ALEX_UPN).unwrap().mail = Some("alex@elsewhere.example".into())
    })
    .unwrap();
    let second: Value = me(&emu, Some(token)).await.json().await.unwrap();
    assert_eq!(second["mail"], "alex@elsewhere.example");
}

#[tokio::test]
async fn a_guest_sees_its_ext_upn_and_invited_mail() {
    let emu = start().await;
    let token = access_token(&emu, PAT_UPN).await;
    let body: Value = me(&emu, Some(&token)).await.json().await.unwrap();
    assert_eq!(body["userPrincipalName"], PAT_GUEST_UPN);
    assert_eq!(body["mail"], PAT_UPN);
    assert_eq!(body["id"], PAT_GUEST_OID);
}

#[tokio::test]
async fn a_missing_or_unknown_token_is_401_invalid_authentication_token() {
    let emu = start().await;
    let response = me(&emu, None).await;
    assert_eq!(response.status(), 401);
    assert_odata_error(
        &response.json().await.unwrap(),
        "InvalidAuthenticationToken",
        "Access token is empty.",
    );

    // An ID token is the classic wrong token to send to Graph.
    let id_token = tokens(&emu, &Authorize::acme(), ADELE_UPN).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = me(&emu, Some(&id_token)).await;
    assert_eq!(response.status(), 401);
    assert_odata_error(
        &response.json().await.unwrap(),
        "InvalidAuthenticationToken",
        "Access token validation failure. Invalid audience.",
    );
}

#[tokio::test]
async fn an_expired_token_is_401_invalid_authentication_token() {
    let emu = start().await;
    let token = access_token(&emu, ADELE_UPN).await;
    emu.advance_clock(Duration::from_secs(91 * 60));
    let response = me(&emu, Some(&token)).await;
    assert_eq!(response.status(), 401);
    assert_odata_error(
        &response.json().await.unwrap(),
        "InvalidAuthenticationToken",
        "Lifetime validation failed, the token is expired.",
    );
}

#[tokio::test]
async fn without_user_read_me_is_403_authorization_request_denied() {
    let emu = start().await;
    emu.update_directory(|d| {
        d.app_mut(DEMO_CLIENT_ID)
            .unwrap()
            .set_user_read_granted(false)
    })
    .unwrap();
    let token = access_token(&emu, ADELE_UPN).await;
    let response = me(&emu, Some(&token)).await;
    assert_eq!(response.status(), 403);
    let id = response
        .headers()
        .get("client-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_odata_error(
        &body,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    );
    assert_eq!(body["error"]["innerError"]["client-request-id"], id);
}

#[tokio::test]
async fn graph_can_be_served_at_another_base_path() {
    let emu = entra_emulator::Emulator::builder()
        .graph_path("/msgraph")
        .start()
        .await
        .unwrap();
    assert_eq!(emu.graph_base(), format!("{}/msgraph", emu.authority()));
    let token = access_token(&emu, ADELE_UPN).await;
    assert_eq!(me(&emu, Some(&token)).await.status(), 200);
}
