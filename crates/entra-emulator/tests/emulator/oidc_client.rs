//! Acceptance: a standard OIDC client (the `openidconnect` crate) discovers a tenant authority,
//! runs the code flow with PKCE and validates the ID token. The flow's steps are helpers the
//! Google emulator's acceptance test uses too.

use entra_emulator::demo::*;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};

use crate::support::*;

/// openidconnect's HTTP seam, over the workspace's reqwest.
pub async fn send(request: HttpRequest) -> Result<HttpResponse, reqwest::Error> {
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

/// A client configured from discovery.
pub type RelyingParty = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The provider metadata at `issuer`, validated by openidconnect (the issuer must match).
pub async fn discover(issuer: String) -> CoreProviderMetadata {
    let issuer = IssuerUrl::new(issuer).unwrap();
    CoreProviderMetadata::discover_async(issuer, &send)
        .await
        .expect("discovery")
}

/// A confidential client with `secret`, authenticating to the token endpoint by `auth_type`.
pub fn relying_party(
    metadata: &CoreProviderMetadata,
    client_id: &str,
    secret: &str,
    redirect_uri: &str,
    auth_type: AuthType,
) -> RelyingParty {
    CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(client_id.to_owned()),
        Some(ClientSecret::new(secret.to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned()).unwrap())
    .set_auth_type(auth_type)
}

/// A code flow under way: where the browser goes, and what the client keeps.
pub struct Flow {
    pub url: String,
    pub csrf: CsrfToken,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
}

/// The authorize URL of a PKCE S256 code flow with `openid`, `scopes` and `extra` parameters.
pub fn begin(rp: &RelyingParty, scopes: &[&str], extra: &[(&str, &str)]) -> Flow {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new((*scope).to_owned()));
    }
    for (name, value) in extra {
        request = request.add_extra_param(*name, *value);
    }
    let (url, csrf, nonce) = request.url();
    Flow {
        url: url.to_string(),
        csrf,
        nonce,
        verifier,
    }
}

/// Redeems `code` and validates the ID token (signature, issuer, audience, expiry, nonce and,
/// when present, `at_hash`); returns the token response and the ID token's claims.
pub async fn finish(
    rp: &RelyingParty,
    flow: Flow,
    code: String,
) -> (CoreTokenResponse, CoreIdTokenClaims) {
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint known from discovery")
        .set_pkce_verifier(flow.verifier)
        .request_async(&send)
        .await
        .unwrap_or_else(|e| panic!("code exchange: {e:?}"));
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = rp.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &flow.nonce)
        .expect("the ID token validates")
        .clone();
    if let Some(hash) = claims.access_token_hash() {
        let alg = id_token.signing_alg().unwrap();
        let key = id_token.signing_key(&verifier).unwrap();
        let expected = AccessTokenHash::from_token(tokens.access_token(), alg, key).unwrap();
        assert_eq!(hash, &expected, "at_hash binds the access token");
    }
    (tokens, claims)
}

#[tokio::test]
async fn the_openidconnect_crate_completes_a_pkce_code_flow_and_validates_the_id_token() {
    let emu = start().await;
    let metadata = discover(emu.issuer(ACME_TENANT_ID)).await;
    for auth_type in [AuthType::RequestBody, AuthType::BasicAuth] {
        let rp = relying_party(
            &metadata,
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            REDIRECT,
            auth_type,
        );
        let flow = begin(
            &rp,
            &["profile", "email", "User.Read"],
            &[("login_hint", ADELE_UPN)],
        );
        let picker = get_text(&flow.url).await;
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
        assert_eq!(&params["state"], flow.csrf.secret());

        let (_, claims) = finish(&rp, flow, params["code"].clone()).await;
        assert_eq!(claims.issuer().as_str(), emu.issuer(ACME_TENANT_ID));
        assert_eq!(claims.email().map(|e| e.as_str()), Some(ADELE_UPN));
        assert_eq!(
            claims.preferred_username().map(|u| u.as_str()),
            Some(ADELE_UPN)
        );
    }
}
