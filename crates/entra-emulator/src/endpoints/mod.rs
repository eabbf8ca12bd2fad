//! The HTTP surface: Entra's endpoints under `/{tenant}/…`, Graph under the configured path.

pub(crate) mod authorize;
pub(crate) mod discovery;
pub(crate) mod graph;
pub(crate) mod logout;
pub(crate) mod token;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::RawQuery;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream;

use crate::errors::AadError;
use crate::state::AppState;

pub(crate) fn router(state: AppState) -> Router {
    let graph = if state.graph_path.is_empty() {
        String::new()
    } else {
        state.graph_path.clone()
    };
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::openid_configuration).options(preflight_get),
        )
        .route(
            "/{tenant}/discovery/v2.0/keys",
            get(discovery::keys).options(preflight_get),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize/select",
            post(authorize::select),
        )
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(token::token).options(preflight_post),
        )
        .route(
            "/{tenant}/oauth2/v2.0/logout",
            get(logout::logout_get).post(logout::logout_post),
        )
        .route(
            "/{tenant}/federationmetadata/2007-06/federationmetadata.xml",
            get(crate::saml::endpoints::metadata),
        )
        .route(
            "/{tenant}/saml2",
            get(crate::saml::endpoints::sso_get).post(crate::saml::endpoints::sso_post),
        )
        .route(
            "/{tenant}/saml2/select",
            post(crate::saml::endpoints::select),
        )
        .route(
            "/{tenant}/saml2/idp-initiated",
            get(crate::saml::endpoints::idp_initiated),
        )
        .route(&format!("{graph}/v1.0/me"), get(graph::me))
        .route(&format!("{graph}/oidc/userinfo"), get(graph::userinfo))
        .route("/error", get(error_code))
        .with_state(state)
}

/// The answer to a CORS preflight on discovery and JWKS, whose responses carry
/// `Access-Control-Allow-Origin: *` and `Access-Control-Allow-Methods: GET, OPTIONS`.
async fn preflight_get(headers: HeaderMap) -> Response {
    preflight(&headers, "GET, OPTIONS")
}

/// The answer to a CORS preflight on the token endpoint (single-page apps redeem codes from
/// the browser).
async fn preflight_post(headers: HeaderMap) -> Response {
    preflight(&headers, "POST, OPTIONS")
}

/// 200 with an empty body: any origin, the endpoint's methods, and the request headers the
/// browser asked to send.
fn preflight(headers: &HeaderMap, methods: &'static str) -> Response {
    let mut response = StatusCode::OK.into_response();
    let out = response.headers_mut();
    out.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    out.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    if let Some(requested) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
    }
    out.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

async fn error_code(RawQuery(query): RawQuery) -> Response {
    let pairs = crate::util::parse_form(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let code = crate::util::field(&pairs, "code")
        .unwrap_or_default()
        .to_owned();
    let text = code.parse().ok().and_then(AadError::describe);
    crate::html::error_code_page(&code, text)
}

/// 50 MB of valid-looking JSON, streamed without a length, to test a client's size cap.
/// A body that trickles out one byte every 200 ms for a minute: a server that hangs
/// half-way through an answer.
pub(crate) fn dripping_body() -> Response {
    use futures_util::StreamExt;
    let drip = stream::iter(0..300).then(|_| async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        Ok::<_, std::convert::Infallible>(Bytes::from_static(b" "))
    });
    let mut response = (StatusCode::OK, Body::from_stream(drip)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

pub(crate) fn oversized_body() -> Response {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 50 * 1024 * 1024 / CHUNK;
    static PADDING: [u8; CHUNK] = [b' '; CHUNK];
    let head = stream::iter([Ok::<_, std::convert::Infallible>(Bytes::from_static(
        b"{\"padding\":\"",
    ))]);
    let middle = stream::iter((0..CHUNKS).map(|_| Ok(Bytes::from_static(&PADDING))));
    let tail = stream::iter([Ok(Bytes::from_static(b"\"}"))]);
    use futures_util::StreamExt;
    let mut response = (
        StatusCode::OK,
        Body::from_stream(head.chain(middle).chain(tail)),
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A JSON answer with Entra's content type.
pub(crate) fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
