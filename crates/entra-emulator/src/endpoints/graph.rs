//! Microsoft Graph `GET /v1.0/me` (spec §5) and `GET /oidc/userinfo` (§5.5).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use uuid::Uuid;

use crate::directory::User;
use crate::endpoints::oversized_body;
use crate::misbehaviour::{Endpoint, Misbehaviour};
use crate::state::{AccessGrant, AppState, Principal};
use crate::tokens::{has_scope, pairwise_sub};
use crate::util::graph_date;

const ODATA_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// Scopes that let a delegated token read the signed-in user.
const READ_ME: [&str; 5] = [
    "User.Read",
    "User.ReadWrite",
    "User.ReadBasic.All",
    "User.Read.All",
    "Directory.Read.All",
];

#[derive(Serialize)]
struct InnerError {
    date: String,
    #[serde(rename = "request-id")]
    request_id: String,
    #[serde(rename = "client-request-id")]
    client_request_id: String,
}

#[derive(Serialize)]
struct ODataError<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(rename = "innerError")]
    inner_error: InnerError,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ODataError<'a>,
}

/// Graph's per-request ids; `client-request-id` is echoed when the client sent one.
struct RequestIds {
    request_id: String,
    client_request_id: String,
}

impl RequestIds {
    fn new(headers: &HeaderMap) -> Self {
        let request_id = Uuid::new_v4().to_string();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| request_id.clone());
        RequestIds {
            request_id,
            client_request_id,
        }
    }

    fn respond(&self, status: StatusCode, body: &impl Serialize) -> Response {
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        for (name, value) in [
            ("request-id", &self.request_id),
            ("client-request-id", &self.client_request_id),
        ] {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
        response
    }

    fn error(&self, state: &AppState, status: StatusCode, code: &str, message: &str) -> Response {
        let body = ErrorBody {
            error: ODataError {
                code,
                message,
                inner_error: InnerError {
                    date: graph_date(state.now()),
                    request_id: self.request_id.clone(),
                    client_request_id: self.client_request_id.clone(),
                },
            },
        };
        let mut response = self.respond(status, &body);
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\""),
            );
        }
        response
    }
}

/// The delegated grant behind the bearer token, or Graph's error answer.
fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    ids: &RequestIds,
) -> Result<(AccessGrant, Principal), Box<Response>> {
    let unauthorized = |message: &str| {
        ids.error(
            state,
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.get(..7)
                .filter(|p| p.eq_ignore_ascii_case("bearer "))
                .map(|_| v[7..].trim())
        })
        .unwrap_or_default();
    if token.is_empty() {
        return Err(Box::new(unauthorized("Access token is empty.")));
    }
    let grant = state.access_tokens.lock().get(token).cloned();
    let Some(grant) = grant else {
        return Err(Box::new(if token.contains('.') {
            // Typically an ID token sent to Graph: its audience is the app, not Graph.
            unauthorized("Access token validation failure. Invalid audience.")
        } else {
            unauthorized(
                "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format. (JWS): 'EncodedHeader.EndcodedPayload.EncodedSignature'. (JWE): 'EncodedProtectedHeader.EncodedEncryptedKey.EncodedInitializationVector.EncodedCiphertext.EncodedAuthenticationTag'.",
            )
        }));
    };
    if grant.expires <= state.now() {
        return Err(Box::new(unauthorized(
            "Lifetime validation failed, the token is expired.",
        )));
    }
    let client = Some(grant.client_id);
    if state.is_on(client, Misbehaviour::OversizedBody(Endpoint::Graph)) {
        return Err(Box::new(oversized_body()));
    }
    if state.is_on(client, Misbehaviour::DripBody(Endpoint::Graph)) {
        return Err(Box::new(super::dripping_body()));
    }
    if state.is_on(client, Misbehaviour::GraphServerError) {
        return Err(Box::new(ids.error(
            state,
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            "General exception while processing.",
        )));
    }
    let Some(principal) = grant.principal else {
        return Err(Box::new(ids.error(
            state,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        )));
    };
    Ok((grant, principal))
}

/// `/me`'s default field set, with `null` for what is empty, in Graph's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Me<'a> {
    #[serde(rename = "@odata.context")]
    odata_context: &'static str,
    business_phones: &'a [String],
    display_name: &'a str,
    given_name: Option<&'a str>,
    job_title: Option<&'a str>,
    mail: Option<&'a str>,
    mobile_phone: Option<&'a str>,
    office_location: Option<&'a str>,
    preferred_language: Option<&'a str>,
    surname: Option<&'a str>,
    user_principal_name: &'a str,
    id: String,
}

impl<'a> Me<'a> {
    fn of(user: &'a User, id: String) -> Self {
        Me {
            odata_context: "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            business_phones: &user.business_phones,
            display_name: &user.display_name,
            given_name: user.given_name.as_deref(),
            job_title: user.job_title.as_deref(),
            mail: user.mail.as_deref(),
            mobile_phone: user.mobile_phone.as_deref(),
            office_location: user.office_location.as_deref(),
            preferred_language: user.preferred_language.as_deref(),
            surname: user.surname.as_deref(),
            user_principal_name: &user.user_principal_name,
            id,
        }
    }
}

fn not_found(state: &AppState, ids: &RequestIds, object: Uuid) -> Response {
    let message = format!(
        "Resource '{object}' does not exist or one of its queried reference-property objects are not present."
    );
    ids.error(
        state,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &message,
    )
}

pub(crate) async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.delay(Endpoint::Graph).await;
    let ids = RequestIds::new(&headers);
    let (grant, principal) = match authorize(&state, &headers, &ids) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    if !READ_ME.iter().any(|s| has_scope(&grant.scopes, s)) {
        return ids.error(
            &state,
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    }
    let directory = state.directory.read();
    let Some((_, user)) = directory.locate(principal.object) else {
        return not_found(&state, &ids, principal.object);
    };
    let id = if state.is_on(Some(grant.client_id), Misbehaviour::GraphIdMismatch) {
        Uuid::new_v4().to_string()
    } else {
        user.id.to_string()
    };
    ids.respond(StatusCode::OK, &Me::of(user, id))
}

#[derive(Serialize)]
struct UserInfo<'a> {
    sub: String,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    family_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    given_name: Option<&'a str>,
    picture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
}

pub(crate) async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.delay(Endpoint::Graph).await;
    let ids = RequestIds::new(&headers);
    let (grant, principal) = match authorize(&state, &headers, &ids) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    if !has_scope(&grant.scopes, "openid") {
        return ids.error(
            &state,
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    }
    let directory = state.directory.read();
    let Some((_, user)) = directory.locate(principal.object) else {
        return not_found(&state, &ids, principal.object);
    };
    let body = UserInfo {
        sub: pairwise_sub(grant.client_id, principal.tenant, principal.object),
        name: &user.display_name,
        family_name: user.surname.as_deref(),
        given_name: user.given_name.as_deref(),
        picture: format!("{}/v1.0/me/photo/$value", state.graph_base()),
        email: user.mail.as_deref(),
    };
    let mut response = ids.respond(StatusCode::OK, &body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
