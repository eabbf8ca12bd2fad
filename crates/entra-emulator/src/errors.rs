//! The AADSTS catalogue: each error's number, OAuth `error` value, HTTP status and Microsoft's
//! runtime text (spec §6), and the three ways Entra delivers them — token-endpoint JSON, an
//! authorize redirect, or its own error page.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::util::aad_timestamp;

/// One AADSTS error.
#[derive(Debug, Clone)]
pub(crate) struct AadError {
    pub code: u32,
    /// The OAuth `error` value.
    pub error: &'static str,
    pub status: StatusCode,
    /// `AADSTSnnnn: …`, without the trace suffix.
    pub message: String,
    pub subcode: Option<&'static str>,
}

fn err(code: u32, error: &'static str, status: StatusCode, text: String) -> AadError {
    AadError {
        code,
        error,
        status,
        message: format!("AADSTS{code}: {text}"),
        subcode: None,
    }
}

const BAD: StatusCode = StatusCode::BAD_REQUEST;
const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;

impl AadError {
    pub fn tenant_not_found(tenant: &str) -> Self {
        err(
            90002,
            "invalid_request",
            BAD,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        )
    }

    pub fn missing_parameter(name: &str) -> Self {
        err(
            900144,
            "invalid_request",
            BAD,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    pub fn invalid_parameter(name: &str) -> Self {
        err(
            90100,
            "invalid_request",
            BAD,
            format!("{name} parameter is empty or not valid."),
        )
    }

    pub fn app_not_found(client_id: &str, directory: &str) -> Self {
        err(
            700016,
            "unauthorized_client",
            BAD,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{directory}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }

    pub fn redirect_uri_mismatch(uri: &str, client_id: Uuid) -> Self {
        err(
            50011,
            "invalid_request",
            BAD,
            format!(
                "The redirect URI '{uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."
            ),
        )
    }

    pub fn no_reply_address() -> Self {
        err(
            500113,
            "invalid_request",
            BAD,
            "No reply address is registered for the application.".into(),
        )
    }

    pub fn user_not_in_tenant(
        upn: &str,
        home_tenant: Uuid,
        tenant_name: &str,
        client_id: Uuid,
        app_name: &str,
    ) -> Self {
        err(
            50020,
            "invalid_request",
            BAD,
            format!(
                "User account '{upn}' from identity provider 'https://sts.windows.net/{home_tenant}/' does not exist in tenant '{tenant_name}' and cannot access the application '{client_id}'({app_name}) in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account."
            ),
        )
    }

    pub fn user_disabled() -> Self {
        err(
            50057,
            "invalid_grant",
            BAD,
            "The user account is disabled.".into(),
        )
    }

    pub fn user_cancelled() -> Self {
        AadError {
            subcode: Some("cancel"),
            ..err(
                65004,
                "access_denied",
                BAD,
                "User declined to consent to access the app.".into(),
            )
        }
    }

    /// A SAML endpoint called without a message.
    pub fn saml_request_missing() -> Self {
        err(
            750054,
            "invalid_request",
            BAD,
            "SAMLRequest or SAMLResponse must be present as query string parameters in HTTP request for SAML Redirect binding.".into(),
        )
    }

    /// A `SAMLRequest` that does not decode, inflate or parse as an `AuthnRequest`.
    pub fn saml_request_invalid() -> Self {
        err(
            75005,
            "invalid_request",
            BAD,
            "The request is not a valid Saml2 protocol message.".into(),
        )
    }

    pub fn login_required() -> Self {
        err(
            50058,
            "login_required",
            BAD,
            "A silent sign-in request was sent but no user is signed in.".into(),
        )
    }

    pub fn response_type_not_enabled(response_type: &str) -> Self {
        err(
            700054,
            "unsupported_response_type",
            BAD,
            format!("response_type '{response_type}' is not enabled for the application."),
        )
    }

    pub fn code_challenge_size() -> Self {
        err(
            501491,
            "invalid_request",
            BAD,
            "Invalid size of Code_Challenge parameter.".into(),
        )
    }

    pub fn secret_missing() -> Self {
        err(
            7000218,
            "invalid_client",
            UNAUTHORIZED,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into(),
        )
    }

    pub fn secret_invalid(client_id: Uuid) -> Self {
        err(
            7000215,
            "invalid_client",
            UNAUTHORIZED,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        )
    }

    pub fn secret_expired(client_id: Uuid) -> Self {
        err(
            7000222,
            "invalid_client",
            UNAUTHORIZED,
            format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds"
            ),
        )
    }

    pub fn malformed_grant() -> Self {
        err(
            9002313,
            "invalid_grant",
            BAD,
            "Invalid request. Request is malformed or invalid.".into(),
        )
    }

    pub fn invalid_grant() -> Self {
        err(
            70000,
            "invalid_grant",
            BAD,
            "Provided grant is invalid or malformed.".into(),
        )
    }

    pub fn code_redeemed() -> Self {
        err(
            54005,
            "invalid_grant",
            BAD,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.".into(),
        )
    }

    pub fn code_expired() -> Self {
        err(
            70008,
            "invalid_grant",
            BAD,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.".into(),
        )
    }

    pub fn pkce_mismatch() -> Self {
        err(
            501481,
            "invalid_grant",
            BAD,
            "The Code_Verifier doesn't match the code_challenge supplied in the authorization request.".into(),
        )
    }

    pub fn reply_address_mismatch(sent: &str, original: &str) -> Self {
        err(
            500112,
            "invalid_grant",
            BAD,
            format!(
                "The reply address '{sent}' does not match the reply address '{original}' provided when requesting Authorization code."
            ),
        )
    }

    pub fn unsupported_grant_type(grant_type: &str) -> Self {
        err(
            70003,
            "unsupported_grant_type",
            BAD,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        )
    }

    pub fn cross_origin(origin: &str) -> Self {
        err(
            9002326,
            "invalid_request",
            BAD,
            format!(
                "Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type. Request origin: '{origin}'."
            ),
        )
    }

    pub fn client_credentials_scope(scope: &str) -> Self {
        err(
            1002012,
            "invalid_scope",
            BAD,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        )
    }

    pub fn resource_not_found(resource: &str, tenant_name: &str) -> Self {
        err(
            500011,
            "invalid_resource",
            BAD,
            format!(
                "The resource principal named {resource} was not found in the tenant named {tenant_name}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        )
    }

    pub fn no_tenant_for_app_only() -> Self {
        err(
            50059,
            "invalid_request",
            BAD,
            "No tenant-identifying information found in either the request or implied by any provided credentials.".into(),
        )
    }

    /// The text of a code for `/error?code=`, if the catalogue knows it.
    pub fn describe(code: u32) -> Option<&'static str> {
        Some(match code {
            50011 => {
                "The redirect URI in the request does not match the redirect URIs configured for the application."
            }
            50020 => {
                "The user account does not exist in the tenant and cannot access the application in that tenant."
            }
            50057 => "The user account is disabled.",
            50058 => "A silent sign-in request was sent but no user is signed in.",
            54005 => "OAuth2 Authorization code was already redeemed.",
            65004 => "User declined to consent to access the app.",
            70008 => {
                "The provided authorization code or refresh token has expired due to inactivity."
            }
            75005 => "The request is not a valid Saml2 protocol message.",
            90002 => "Tenant not found.",
            750054 => {
                "SAMLRequest or SAMLResponse must be present as query string parameters in HTTP request for SAML Redirect binding."
            }
            500112 => {
                "The reply address does not match the reply address provided when requesting the authorization code."
            }
            501481 => {
                "The Code_Verifier doesn't match the code_challenge supplied in the authorization request."
            }
            700016 => "Application was not found in the directory.",
            7000215 => "Invalid client secret provided.",
            7000218 => {
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
            }
            7000222 => "The provided client secret keys are expired.",
            9002313 => "Invalid request. Request is malformed or invalid.",
            _ => return None,
        })
    }
}

/// The ids Entra stamps on every failure, shown in JSON, redirects and error pages.
#[derive(Debug, Clone)]
pub(crate) struct Trace {
    pub trace_id: Uuid,
    pub correlation_id: Uuid,
    pub timestamp: String,
}

impl Trace {
    /// `client-request-id`, when the client sent one, becomes the correlation id, as at Entra.
    pub fn new(now: OffsetDateTime, client_request_id: Option<&str>) -> Self {
        Trace {
            trace_id: Uuid::new_v4(),
            correlation_id: client_request_id
                .and_then(|v| Uuid::parse_str(v).ok())
                .unwrap_or_else(Uuid::new_v4),
            timestamp: aad_timestamp(now),
        }
    }

    /// `AADSTSnnnn: …\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: …`
    pub fn describe(&self, error: &AadError) -> String {
        format!(
            "{}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {}",
            error.message, self.trace_id, self.correlation_id, self.timestamp
        )
    }
}

#[derive(Serialize)]
struct TokenErrorBody<'a> {
    error: &'a str,
    error_description: String,
    error_codes: [u32; 1],
    timestamp: &'a str,
    trace_id: String,
    correlation_id: String,
    error_uri: String,
}

/// The token endpoint's JSON error (spec §3.3).
pub(crate) fn token_error(base_url: &str, error: &AadError, trace: &Trace) -> Response {
    let body = TokenErrorBody {
        error: error.error,
        error_description: trace.describe(error),
        error_codes: [error.code],
        timestamp: &trace.timestamp,
        trace_id: trace.trace_id.to_string(),
        correlation_id: trace.correlation_id.to_string(),
        error_uri: format!("{base_url}/error?code={}", error.code),
    };
    let mut response = (error.status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The discovery/JWKS answer for an unknown tenant: `invalid_tenant` (the token endpoint says
/// `invalid_request` for the same AADSTS90002).
pub(crate) fn invalid_tenant(base_url: &str, tenant: &str, trace: &Trace) -> Response {
    let error = AadError {
        error: "invalid_tenant",
        ..AadError::tenant_not_found(tenant)
    };
    token_error(base_url, &error, trace)
}
