//! OpenID Provider metadata (spec §1.3–1.7) and the JWKS (§1.8).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

use crate::endpoints::{json, oversized_body};
use crate::errors::invalid_tenant;
use crate::keys::KeyIssuer;
use crate::misbehaviour::{Endpoint, Misbehaviour};
use crate::state::{AppState, Authority};

/// The metadata document, field for field as the captured one.
#[derive(Serialize)]
struct OpenIdConfiguration {
    token_endpoint: String,
    token_endpoint_auth_methods_supported: [&'static str; 3],
    jwks_uri: String,
    response_modes_supported: [&'static str; 3],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: [&'static str; 1],
    response_types_supported: [&'static str; 4],
    scopes_supported: [&'static str; 4],
    issuer: String,
    request_uri_parameter_supported: bool,
    userinfo_endpoint: String,
    authorization_endpoint: String,
    device_authorization_endpoint: String,
    http_logout_supported: bool,
    frontchannel_logout_supported: bool,
    end_session_endpoint: String,
    claims_supported: [&'static str; 19],
    kerberos_endpoint: String,
    tenant_region_scope: Option<&'static str>,
    cloud_instance_name: &'static str,
    cloud_graph_host_name: &'static str,
    msgraph_host: &'static str,
    rbac_url: &'static str,
}

fn add_discovery_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=86400, private"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
}

pub(crate) async fn openid_configuration(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    state.delay(Endpoint::Discovery).await;
    if state.is_on(None, Misbehaviour::OversizedBody(Endpoint::Discovery)) {
        return oversized_body();
    }
    if state.is_on(None, Misbehaviour::DripBody(Endpoint::Discovery)) {
        return super::dripping_body();
    }
    let authority = Authority::resolve(&state.directory.read(), &tenant);
    let Some(authority) = authority else {
        return invalid_tenant(&state.base_url, &tenant, &state.trace(&headers));
    };
    // Endpoints name the tenant GUID even when it was asked for by domain, as Entra's do.
    let (segment, issuer, region) = match authority {
        Authority::Tenant(id) => (id.to_string(), state.issuer(id), Some("WW")),
        Authority::Common => ("common".to_owned(), state.issuer("{tenantid}"), None),
        Authority::Organizations => ("organizations".to_owned(), state.issuer("{tenantid}"), None),
        Authority::Consumers => (
            "consumers".to_owned(),
            state.issuer(crate::MSA_TENANT_ID),
            None,
        ),
    };
    let issuer = if state.is_on(None, Misbehaviour::DiscoveryIssuerMismatch) {
        state.issuer(uuid::Uuid::new_v4())
    } else {
        issuer
    };
    let base = format!("{}/{segment}", state.base_url);
    let document = OpenIdConfiguration {
        token_endpoint: format!("{base}/oauth2/v2.0/token"),
        token_endpoint_auth_methods_supported: [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        jwks_uri: format!("{base}/discovery/v2.0/keys"),
        response_modes_supported: ["query", "fragment", "form_post"],
        subject_types_supported: ["pairwise"],
        id_token_signing_alg_values_supported: ["RS256"],
        response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
        scopes_supported: ["openid", "profile", "email", "offline_access"],
        issuer,
        request_uri_parameter_supported: false,
        userinfo_endpoint: format!("{}/oidc/userinfo", state.graph_base()),
        authorization_endpoint: format!("{base}/oauth2/v2.0/authorize"),
        device_authorization_endpoint: format!("{base}/oauth2/v2.0/devicecode"),
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        end_session_endpoint: format!("{base}/oauth2/v2.0/logout"),
        claims_supported: [
            "sub",
            "iss",
            "cloud_instance_name",
            "cloud_instance_host_name",
            "cloud_graph_host_name",
            "msgraph_host",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
        ],
        kerberos_endpoint: format!("{base}/kerberos"),
        tenant_region_scope: region,
        cloud_instance_name: "microsoftonline.com",
        cloud_graph_host_name: "graph.windows.net",
        msgraph_host: "graph.microsoft.com",
        rbac_url: "https://pas.windows.net",
    };
    let mut response = json(StatusCode::OK, &document);
    add_discovery_headers(&mut response);
    response
}

/// One JWKS entry, in the order Entra writes its members.
#[derive(Serialize)]
struct Jwk {
    kty: &'static str,
    r#use: &'static str,
    kid: String,
    x5t: String,
    n: String,
    e: String,
    x5c: [String; 1],
    cloud_instance_name: &'static str,
    issuer: String,
}

pub(crate) async fn keys(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    state.delay(Endpoint::Jwks).await;
    if state.is_on(None, Misbehaviour::OversizedBody(Endpoint::Jwks)) {
        return oversized_body();
    }
    if state.is_on(None, Misbehaviour::DripBody(Endpoint::Jwks)) {
        return super::dripping_body();
    }
    if Authority::resolve(&state.directory.read(), &tenant).is_none() {
        return invalid_tenant(&state.base_url, &tenant, &state.trace(&headers));
    }
    let keys: Vec<Jwk> = state
        .keys
        .lock()
        .published()
        .map(|(key, issuer)| Jwk {
            kty: "RSA",
            r#use: "sig",
            kid: key.kid.clone(),
            x5t: key.kid.clone(),
            n: key.n.clone(),
            e: key.e.clone(),
            x5c: [key.x5c.clone()],
            cloud_instance_name: "microsoftonline.com",
            issuer: match issuer {
                KeyIssuer::Template => state.issuer("{tenantid}"),
                KeyIssuer::Msa => state.issuer(crate::MSA_TENANT_ID),
            },
        })
        .collect();
    #[derive(Serialize)]
    struct Jwks {
        keys: Vec<Jwk>,
    }
    let mut response = json(StatusCode::OK, &Jwks { keys });
    add_discovery_headers(&mut response);
    response
}
