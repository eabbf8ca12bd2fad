//! `https://<ws>.<domain>/scim/v2/`: SCIM 2.0 provisioning for Microsoft Entra ID.
//!
//! Outside the browser edge (no session, no CSRF: nothing here reads a cookie): every
//! request carries the workspace's bearer token, made on the SCIM card and stored as its
//! SHA-256 only, compared in constant time with the presented one's. Then a per-workspace
//! rate limit, then the handlers, which change accounts only through the accounts service
//! acting as [`Acting::Scim`](crate::accounts::Acting). Every answer, errors included, is
//! `application/scim+json`; errors use SCIM's error schema.

mod groups;
pub mod protocol;
mod users;

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use governor::clock::{Clock, DefaultClock};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::{AppState, host};
use crate::accounts::AccountError;
use crate::crypto::hash_token;
use crate::store::{self, workspaces::Workspace};
use protocol::{ERROR_SCHEMA, GROUP_SCHEMA, Invalid, LIST_SCHEMA, USER_SCHEMA};

pub const CONTENT_TYPE: &str = "application/scim+json";
/// Largest request body (a group's member batch is the biggest Entra sends).
pub const BODY_LIMIT: usize = 256 * 1024;
/// Requests per second per workspace, per node, and the burst above it. Entra's
/// provisioning service sends at most 25 a second per tenant, so it never meets the limit;
/// a runaway client does.
pub const REQUESTS_PER_SECOND: u32 = 40;
pub const BURST: u32 = 80;
/// Most resources one list answers with.
const MAX_PAGE: i64 = 200;
/// The prefix that tells a SCIM token from any other secret (and secret scanners).
pub const TOKEN_PREFIX: &str = "otscim_";

type Limiter = governor::DefaultKeyedRateLimiter<String>;

/// What every SCIM request shares.
#[derive(Clone)]
struct Scim {
    limiter: Arc<Limiter>,
    /// Refused tokens: the first of each minute per workspace is an audit row, so an admin
    /// sees Entra failing (a token rotated but not pasted), and a stranger cannot flood
    /// the log.
    refusals: Arc<crate::audit::Coalescer>,
}

/// The request's workspace, once its token checked out.
#[derive(Clone)]
pub(crate) struct ScimWorkspace(pub Arc<Workspace>);

/// A SCIM error (RFC 7644 §3.12): `status` as a string, `scimType` where one applies.
#[derive(Debug)]
pub struct ScimError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
    retry_after: Option<u64>,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
        }
    }
    fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            None,
            "The bearer token is missing or not valid for this workspace.",
        )
    }
    fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, format!("{what} not found."))
    }
    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "SCIM request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "The request could not be completed. Try again later.",
        )
    }
}

impl From<Invalid> for ScimError {
    fn from(i: Invalid) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(i.scim_type), i.detail)
    }
}

impl From<sqlx::Error> for ScimError {
    fn from(e: sqlx::Error) -> Self {
        if store::is_unavailable(&e) {
            let mut err = Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "The service is briefly unavailable. Try again shortly.",
            );
            err.retry_after = Some(5);
            return err;
        }
        Self::internal(e)
    }
}

impl From<AccountError> for ScimError {
    fn from(e: AccountError) -> Self {
        let text = e.to_string();
        match e {
            AccountError::AlreadyUser(_)
            | AccountError::ExternalIdTaken(_)
            | AccountError::GroupExists(_) => {
                Self::new(StatusCode::CONFLICT, Some("uniqueness"), text)
            }
            AccountError::NoSuchUser(_) | AccountError::NoSuchGroup(_) => {
                Self::new(StatusCode::NOT_FOUND, None, text)
            }
            AccountError::SuperAdminOnly
            | AccountError::SuperAdminOnlyChange
            | AccountError::LastSuperAdminRole(_)
            | AccountError::LastSuperAdminDisable(_)
            | AccountError::SelfDisable
            | AccountError::OperatorOnly => Self::new(StatusCode::FORBIDDEN, None, text),
            AccountError::Internal(e) => match e.downcast_ref::<sqlx::Error>() {
                Some(s) if store::is_unavailable(s) => Self::from(sqlx::Error::PoolTimedOut),
                _ => Self::internal(format!("{e:#}")),
            },
            other => Self::new(
                StatusCode::BAD_REQUEST,
                Some("invalidValue"),
                other.to_string(),
            ),
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = t.into();
        }
        let mut resp = scim_json(self.status, &body);
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"SCIM\""),
            );
        }
        resp
    }
}

pub(crate) fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

pub(crate) type ScimResult = Result<Response, ScimError>;

/// The routes, with their own body limit, authentication and rate limit.
pub fn router(state: AppState) -> Router<AppState> {
    let quota = governor::Quota::per_second(NonZeroU32::new(REQUESTS_PER_SECOND).expect("nonzero"))
        .allow_burst(NonZeroU32::new(BURST).expect("nonzero"));
    let scim = Scim {
        limiter: Arc::new(governor::RateLimiter::keyed(quota)),
        refusals: Arc::new(crate::audit::Coalescer::new(60)),
    };
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/Schemas", get(schemas))
        .route("/Users", get(users::list).post(users::create))
        .route(
            "/Users/{id}",
            get(users::get_one)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route(
            "/Groups/{id}",
            get(groups::get_one)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state((state, scim), authenticate))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

async fn not_found() -> ScimError {
    ScimError::new(StatusCode::NOT_FOUND, None, "No such SCIM endpoint.")
}

async fn method_not_allowed() -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "This endpoint does not support the method.",
    )
}

/// The workspace from `Host`, then its token, then its rate limit.
async fn authenticate(
    State((state, scim)): State<(AppState, Scim)>,
    mut req: Request,
    next: Next,
) -> Response {
    let ws = match host::resolve(&state, req.headers()).await {
        Ok(host::Site::Workspace(ws)) => ws,
        _ => return ScimError::not_found("Workspace").into_response(),
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty() && t.len() <= 200);
    let Some(presented) = presented else {
        record_refusal(
            &state,
            &scim,
            &ws,
            client_ip(&state, &req),
            "no bearer token",
        )
        .await;
        return ScimError::unauthorized().into_response();
    };
    let stored = match store::scim::settings(state.db.pool(), &ws.id).await {
        Ok(s) => s.and_then(|s| s.token_hash),
        Err(e) => return ScimError::from(e).into_response(),
    };
    let presented_hash = hash_token(presented);
    let ok = stored.is_some_and(|h| {
        h.len() == presented_hash.len() && bool::from(h.as_bytes().ct_eq(presented_hash.as_bytes()))
    });
    if !ok {
        tracing::info!(workspace = %ws.slug, "SCIM request with a wrong token");
        record_refusal(&state, &scim, &ws, client_ip(&state, &req), "wrong token").await;
        return ScimError::unauthorized().into_response();
    }
    if let Err(not_until) = scim.limiter.check_key(&ws.id.as_str().to_string()) {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let mut e = ScimError::new(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            "Too many requests for this workspace. Slow down and retry.",
        );
        e.retry_after = Some(wait.as_secs() + 1);
        return e.into_response();
    }
    if let Err(e) = store::scim::token_used(state.db.pool(), &ws.id).await {
        tracing::warn!(error = %e, "cannot record the SCIM token's last use");
    }
    req.extensions_mut().insert(ScimWorkspace(ws));
    let resp = next.run(req).await;
    // Framework rejections (a body over the limit, say) in SCIM's error schema too.
    let scim_typed = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == CONTENT_TYPE.as_bytes());
    if resp.status().is_client_error() && !scim_typed {
        let status = resp.status();
        let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("The request body is larger than {} KiB.", BODY_LIMIT / 1024)
        } else {
            "The request could not be read.".to_string()
        };
        return ScimError::new(status, None, detail).into_response();
    }
    resp
}

/// The client's address as the audit log keeps it (trusted proxies only).
fn client_ip(state: &AppState, req: &Request) -> Option<String> {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()?
        .0
        .ip();
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    Some(super::client::client_ip(peer, forwarded, &state.config.trusted_proxies).to_string())
}

/// The `SCIM request refused` audit row, at most one per workspace a minute (per node),
/// saying how many were left out since the last one.
async fn record_refusal(
    state: &AppState,
    scim: &Scim,
    ws: &Workspace,
    ip: Option<String>,
    reason: &'static str,
) {
    let Some(left_out) = scim.refusals.admit(&ws.id, "scim-token", store::now()) else {
        return;
    };
    let result = async {
        let mut conn = state.db.pool().acquire().await?;
        crate::audit::record(
            &mut conn,
            &ws.id,
            crate::audit::Actor::System(crate::audit::SCIM_ACTOR),
            crate::audit::actions::SCIM_REQUEST_REFUSED,
            "SCIM",
            crate::audit::Origin {
                ip: ip.as_deref(),
                user_agent: None,
            },
            json!({"reason": reason, "left_out": left_out}),
        )
        .await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot record a refused SCIM request");
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ScimWorkspace {
    type Rejection = ScimError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ScimError> {
        parts
            .extensions
            .get::<ScimWorkspace>()
            .cloned()
            .ok_or_else(ScimError::unauthorized)
    }
}

/// A JSON body, read whatever the content type (Entra sends `application/scim+json`).
pub(crate) fn json_body(bytes: &[u8]) -> Result<Value, ScimError> {
    serde_json::from_slice(bytes).map_err(|_| {
        ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            "The body is not valid JSON.",
        )
    })
}

/// `startIndex` (1-based) and `count` as RFC 7644 §3.4.2.4 reads them: below 1 is 1, a
/// negative count is 0, and no page is larger than [`MAX_PAGE`].
pub(crate) fn paging(start_index: Option<&str>, count: Option<&str>) -> (i64, i64) {
    let start = start_index
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    let count = count
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(100)
        .clamp(0, MAX_PAGE);
    (start, count)
}

pub(crate) fn list_response(total: i64, start: i64, resources: Vec<Value>) -> Response {
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    )
}

pub(crate) fn rfc3339(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

pub(crate) fn base_url(state: &AppState, ws: &Workspace) -> String {
    format!(
        "{}/scim/v2",
        state.config.base_url.workspace_origin(ws.slug.as_str())
    )
}

async fn service_provider_config(State(state): State<AppState>, ws: ScimWorkspace) -> Response {
    let base = base_url(&state, &ws.0);
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_PAGE},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": false},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "The token made on Admin → Settings → Integrations → SCIM.",
                "primary": true
            }],
            "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")}
        }),
    )
}

async fn resource_types(State(state): State<AppState>, ws: ScimWorkspace) -> Response {
    let base = base_url(&state, &ws.0);
    let types = vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users",
            "schema": USER_SCHEMA,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")}
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups",
            "schema": GROUP_SCHEMA,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")}
        }),
    ];
    list_response(2, 1, types)
}

fn attribute(name: &str, kind: &str, required: bool, uniqueness: &str) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": false, "required": required,
        "caseExact": false, "mutability": "readWrite", "returned": "default",
        "uniqueness": uniqueness
    })
}

async fn schemas(State(state): State<AppState>, ws: ScimWorkspace) -> Response {
    let base = base_url(&state, &ws.0);
    let mut name = attribute("name", "complex", false, "none");
    name["subAttributes"] = json!([
        attribute("givenName", "string", false, "none"),
        attribute("familyName", "string", false, "none"),
    ]);
    let mut members = attribute("members", "complex", false, "none");
    members["multiValued"] = true.into();
    members["subAttributes"] = json!([attribute("value", "string", false, "none")]);
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA, "name": "User", "description": "A person of the workspace",
        "attributes": [
            attribute("userName", "string", true, "server"),
            name,
            attribute("active", "boolean", false, "none"),
            attribute("externalId", "string", false, "server"),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{USER_SCHEMA}")}
    });
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": GROUP_SCHEMA, "name": "Group", "description": "A group of the directory",
        "attributes": [
            attribute("displayName", "string", true, "server"),
            attribute("externalId", "string", false, "none"),
            members,
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{GROUP_SCHEMA}")}
    });
    list_response(2, 1, vec![user, group])
}
