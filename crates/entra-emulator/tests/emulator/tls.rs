//! Serving over TLS with the generated certificate (`tls(true)`, `--tls`) and a public base
//! URL, so clients that insist on `https` (MSAL) reach the emulator without a proxy.

use clap::Parser;
use entra_emulator::demo::*;
use entra_emulator::{Emulator, EmulatorHandle, EntraEmulatorArgs};
use serde_json::Value;

use crate::support::*;

/// A client trusting only the emulator's certificate; `resolve` maps a host name to it.
fn tls_client(emu: &EmulatorHandle, resolve: Option<&str>) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = emu.tls_certificate_pem().expect("serving TLS");
    let certificate = reqwest::Certificate::from_pem(pem.as_bytes()).unwrap();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_only([certificate]);
    if let Some(host) = resolve {
        builder = builder.resolve(host, emu.local_addr());
    }
    builder.build().unwrap()
}

async fn start_tls() -> EmulatorHandle {
    Emulator::builder().tls(true).start().await.unwrap()
}

#[tokio::test]
async fn with_tls_the_authority_is_https_and_discovery_names_https_endpoints() {
    let emu = start_tls().await;
    let authority = emu.authority();
    assert_eq!(
        authority,
        format!("https://127.0.0.1:{}", emu.local_addr().port())
    );
    let pem = emu.tls_certificate_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(!emu.tls_certificate_der().unwrap().is_empty());
    let http = tls_client(&emu, None);
    let discovery: Value = http
        .get(format!(
            "{authority}/{ACME_TENANT_ID}/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["issuer"],
        format!("{authority}/{ACME_TENANT_ID}/v2.0")
    );
    for endpoint in ["token_endpoint", "jwks_uri", "authorization_endpoint"] {
        assert!(
            discovery[endpoint]
                .as_str()
                .unwrap()
                .starts_with("https://"),
            "{endpoint}"
        );
    }
}

#[tokio::test]
async fn a_whole_code_flow_runs_over_tls() {
    let emu = start_tls().await;
    let http = tls_client(&emu, None);
    let request = Authorize::acme();
    let picker = http.get(request.url(&emu)).send().await.unwrap();
    assert_eq!(picker.status(), 200);
    let id = picker_request_id(&picker.text().await.unwrap());
    let picked = http
        .post(format!(
            "{}/{ACME_TENANT_ID}/oauth2/v2.0/authorize/select",
            emu.authority()
        ))
        .form(&[("request", id.as_str()), ("login_hint", ALEX_UPN)])
        .send()
        .await
        .unwrap();
    let code = location_params(&picked)["code"].clone();
    let response = http
        .post(format!(
            "{}/{ACME_TENANT_ID}/oauth2/v2.0/token",
            emu.authority()
        ))
        .form(&[
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", request.verifier.as_str()),
            ("client_info", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let claims = decode(body["id_token"].as_str().unwrap()).1;
    assert_eq!(claims["iss"], emu.issuer(ACME_TENANT_ID));
    assert!(claims["iss"].as_str().unwrap().starts_with("https://"));
    assert!(body["client_info"].is_string());
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_is_refused() {
    let emu = start_tls().await;
    let url = format!("{}/{ACME_TENANT_ID}/discovery/v2.0/keys", emu.authority());
    // Another emulator's certificate is no trust anchor for this one.
    let other = start_tls().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let stranger = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            other.tls_certificate_pem().unwrap().as_bytes(),
        )
        .unwrap()])
        .build()
        .unwrap();
    assert!(stranger.get(&url).send().await.is_err());
    // Plain http on the TLS port gets no answer either.
    let plain = format!(
        "http://127.0.0.1:{}/{ACME_TENANT_ID}/discovery/v2.0/keys",
        emu.local_addr().port()
    );
    assert!(client().get(&plain).send().await.is_err());
    // The trusting client still works: a failed handshake doesn't stop the server.
    let keys = tls_client(&emu, None).get(&url).send().await.unwrap();
    assert_eq!(keys.status(), 200);
}

#[tokio::test]
async fn a_public_url_names_the_issuer_and_the_certificate() {
    let emu = Emulator::builder()
        .tls(true)
        .public_url("https://login.emulator.test/")
        .start()
        .await
        .unwrap();
    assert_eq!(emu.authority(), "https://login.emulator.test");
    let http = tls_client(&emu, Some("login.emulator.test"));
    let discovery: Value = http
        .get(format!(
            "https://login.emulator.test/{ACME_TENANT_ID}/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["issuer"],
        format!("https://login.emulator.test/{ACME_TENANT_ID}/v2.0")
    );
    assert_eq!(
        discovery["jwks_uri"],
        format!("https://login.emulator.test/{ACME_TENANT_ID}/discovery/v2.0/keys")
    );
}

#[tokio::test]
async fn with_tls_an_http_public_url_is_refused() {
    let error = Emulator::builder()
        .tls(true)
        .public_url("http://login.emulator.test")
        .start()
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("must be https"), "{error:#}");
}

#[tokio::test]
async fn without_tls_there_is_no_certificate() {
    let emu = start().await;
    assert!(emu.authority().starts_with("http://"));
    assert!(emu.tls_certificate_pem().is_none());
    assert!(emu.tls_certificate_der().is_none());
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: EntraEmulatorArgs,
}

#[test]
fn the_command_line_takes_tls_a_certificate_path_and_a_public_url() {
    let cli = Cli::try_parse_from([
        "entra-emulator",
        "--listen",
        "0.0.0.0:8443",
        "--tls",
        "--tls-cert-out",
        "/tmp/emulator.pem",
        "--public-url",
        "https://login.emulator.test:8443",
        "--auto-select",
    ])
    .unwrap();
    let args = cli.args;
    assert_eq!(args.listen, "0.0.0.0:8443".parse().unwrap());
    assert!(args.tls && args.auto_select);
    assert_eq!(
        args.tls_cert_out.as_deref(),
        Some(std::path::Path::new("/tmp/emulator.pem"))
    );
    assert_eq!(
        args.public_url.as_deref(),
        Some("https://login.emulator.test:8443")
    );
    // Defaults as before.
    let plain = Cli::try_parse_from(["entra-emulator"]).unwrap().args;
    assert_eq!(plain.listen, "127.0.0.1:8081".parse().unwrap());
    assert!(!plain.tls && plain.public_url.is_none() && plain.config.is_none());
    // A certificate path means nothing without TLS.
    assert!(Cli::try_parse_from(["entra-emulator", "--tls-cert-out", "x.pem"]).is_err());
}
