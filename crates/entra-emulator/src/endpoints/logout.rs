//! `/{tenant}/oauth2/v2.0/logout` (spec §1.2): ends the emulator's browser session and returns
//! to `post_logout_redirect_uri` when it is a registered redirect URI.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::endpoints::authorize::{end_session, logout_target_allowed};
use crate::errors::invalid_tenant;
use crate::html;
use crate::misbehaviour::Endpoint;
use crate::state::{AppState, Authority};
use crate::util::{field, parse_form, strip_html};

pub(crate) async fn logout_get(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs = parse_form(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    logout(state, segment, pairs, headers).await
}

pub(crate) async fn logout_post(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    logout(
        state,
        segment,
        parse_form(&body).unwrap_or_default(),
        headers,
    )
    .await
}

async fn logout(
    state: AppState,
    segment: String,
    pairs: Vec<(String, String)>,
    headers: HeaderMap,
) -> Response {
    state.delay(Endpoint::Logout).await;
    if Authority::resolve(&state.directory.read(), &segment).is_none() {
        return invalid_tenant(&state.base_url, &segment, &state.trace(&headers));
    }
    let clear_cookie = end_session(&state, &headers);
    let target = field(&pairs, "post_logout_redirect_uri").filter(|uri| {
        logout_target_allowed(&state.directory.read(), field(&pairs, "client_id"), uri)
    });
    let mut response = match target.and_then(|uri| url::Url::parse(uri).ok()) {
        Some(mut url) => {
            if let Some(state) = field(&pairs, "state") {
                url.query_pairs_mut()
                    .append_pair("state", &strip_html(state));
            }
            let mut response = StatusCode::FOUND.into_response();
            if let Ok(location) = HeaderValue::from_str(url.as_str()) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        None => html::signed_out(),
    };
    if let Some(cookie) = clear_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
