//! Acceptance: a standard OIDC client (the `openidconnect` crate) discovers a tenant authority,
//! runs the code flow with PKCE and validates the ID token.

use entra_emulator::demo::*;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse,
    IssuerUrl, Nonce, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

use crate::support::*;

/// openidconnect's HTTP seam, over the workspace's reqwest.
async fn send(request: HttpRequest) -> Result<HttpResponse, reqwest::Error> {
    let request = reqwest::Request::try_from(request.map(reqwest::Body::from))?;
    let response = client().execute(request).await?;
    let mut builder = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response.bytes().await?.to_vec();
    Ok(builder
        .body(body)
        .expect("a response rebuilt from a valid one"))
}

#[tokio::test]
async fn the_openidconnect_crate_completes_a_pkce_code_flow_and_validates_the_id_token() {
    let emu = start().await;
    let issuer = IssuerUrl::new(emu.issuer(ACME_TENANT_ID)).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &send)
        .await
        .expect("discovery");
    for auth_type in [AuthType::RequestBody, AuthType::BasicAuth] {
        let oidc = CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(DEMO_CLIENT_ID.to_owned()),
            Some(ClientSecret::new(DEMO_CLIENT_SECRET.to_owned())),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).unwrap())
        .set_auth_type(auth_type.clone());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf, nonce) = oidc
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("User.Read".into()))
            .add_extra_param("login_hint", ADELE_UPN)
            .set_pkce_challenge(challenge)
            .url();

        let picker = client()
            .get(url.as_str())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let pick = client()
            .post(format!(
                "{}/{ACME_TENANT_ID}/oauth2/v2.0/authorize/select",
                emu.authority()
            ))
            .form(&[
                ("request", picker_request_id(&picker).as_str()),
                ("account", ADELE_OID),
            ])
            .send()
            .await
            .unwrap();
        let params = location_params(&pick);
        assert_eq!(&params["state"], csrf.secret());

        let tokens = oidc
            .exchange_code(AuthorizationCode::new(params["code"].clone()))
            .expect("token endpoint known from discovery")
            .set_pkce_verifier(verifier)
            .request_async(&send)
            .await
            .unwrap_or_else(|e| panic!("code exchange with {auth_type:?}: {e:?}"));
        let id_token = tokens.id_token().expect("an ID token");
        let claims = id_token
            .claims(&oidc.id_token_verifier(), &nonce)
            .expect("the ID token validates");
        assert_eq!(claims.issuer().as_str(), emu.issuer(ACME_TENANT_ID));
        assert_eq!(claims.email().map(|e| e.as_str()), Some(ADELE_UPN));
        assert_eq!(
            claims.preferred_username().map(|u| u.as_str()),
            Some(ADELE_UPN)
        );
    }
}
