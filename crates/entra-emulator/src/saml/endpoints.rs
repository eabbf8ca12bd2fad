//! The SAML endpoints: federation metadata, `/{tenant}/saml2` (SP-initiated, both bindings),
//! the picker's answer, and IdP-initiated sign-in.
//!
//! As at Entra, problems with the request itself (no message, not an `AuthnRequest`, unknown
//! issuer, unregistered reply URL) are shown on Entra's error page and never sent to the SP;
//! once the app and its reply URL are known, outcomes go back to the SP as a posted response.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use time::OffsetDateTime;
use uuid::Uuid;

use super::credential::SigningCredential;
use super::request::{self, AuthnRequest};
use super::response::{
    Attribute, Groups, NameIdFormat, ResponseBuilder, STATUS_NO_PASSIVE, STATUS_REQUEST_DENIED,
    STATUS_REQUESTER, Status,
};
use super::{SamlApp, claims};
use crate::directory::{Directory, GroupMembershipClaims};
use crate::endpoints::authorize::SESSION_COOKIE;
use crate::errors::{AadError, Trace};
use crate::html::{self, PickerAccount};
use crate::live::PickerQueue;
use crate::misbehaviour::Endpoint;
use crate::state::{AppState, Authority, Principal};
use crate::util::{cookie, field, parse_form, random_b64url};

/// The emulator's SAML state: its signing credential and the sign-ins waiting on the picker.
pub(crate) struct SamlState {
    pub credential: Mutex<SigningCredential>,
    /// The SAML pool slot the next rotation takes.
    pub next_key: Mutex<usize>,
    pub pending: PickerQueue<Pending>,
}

impl SamlState {
    pub fn new(credential: SigningCredential) -> Self {
        SamlState {
            credential: Mutex::new(credential),
            next_key: Mutex::new(1),
            pending: PickerQueue::default(),
        }
    }

    pub fn credential(&self) -> SigningCredential {
        self.credential.lock().clone()
    }
}

/// A sign-in waiting for an account, with everything the response needs.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// The `{tenant}` segment as called, for the picker's form action.
    segment: String,
    app_id: Uuid,
    acs_url: String,
    /// `None` for IdP-initiated sign-in.
    request_id: Option<String>,
    relay_state: Option<String>,
    name_id_format: NameIdFormat,
}

/// The tenant a SAML endpoint serves: a GUID or a verified domain. SAML has no `common`.
fn tenant_of(directory: &Directory, segment: &str) -> Option<Uuid> {
    Authority::resolve(directory, segment).and_then(|a| a.tenant())
}

/// `GET /{tenant}/federationmetadata/2007-06/federationmetadata.xml[?appid=]`.
///
/// `appid` is accepted and otherwise ignored: the emulator has one SAML certificate, which
/// every app of every tenant signs with.
pub(crate) async fn metadata(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
) -> Response {
    let tenant = {
        let directory = state.directory.read();
        tenant_of(&directory, &segment)
    };
    let Some(tenant) = tenant else {
        let trace = state.trace(&headers);
        let mut page = html::error_page(&AadError::tenant_not_found(&segment), &trace);
        *page.status_mut() = StatusCode::BAD_REQUEST;
        return page;
    };
    let xml = super::federation_metadata(
        &state.base_url,
        &tenant.to_string(),
        &state.saml.credential(),
    );
    let mut response = (StatusCode::OK, xml).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    response
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Binding {
    Redirect,
    Post,
}

/// `GET /{tenant}/saml2?SAMLRequest=…&RelayState=…`: the HTTP-Redirect binding.
pub(crate) async fn sso_get(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs = parse_form(query.unwrap_or_default().as_bytes());
    sso(state, segment, pairs, headers, Binding::Redirect).await
}

/// `POST /{tenant}/saml2` with a form `SAMLRequest` (base64, not deflated) and `RelayState`.
pub(crate) async fn sso_post(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sso(state, segment, parse_form(&body), headers, Binding::Post).await
}

async fn sso(
    state: AppState,
    segment: String,
    pairs: Option<Vec<(String, String)>>,
    headers: HeaderMap,
    binding: Binding,
) -> Response {
    state.delay(Endpoint::Authorize).await;
    let trace = state.trace(&headers);
    let page = |error: AadError| html::error_page(&error, &trace);
    let Some(pairs) = pairs else {
        return page(AadError::saml_request_invalid());
    };
    let (pending, request) = {
        let directory = state.directory.read();
        let Some(tenant) = tenant_of(&directory, &segment) else {
            return page(AadError::tenant_not_found(&segment));
        };
        let Some(message) = field(&pairs, "SAMLRequest") else {
            return page(AadError::saml_request_missing());
        };
        let decoded = match binding {
            Binding::Redirect => request::decode_redirect(message),
            Binding::Post => request::decode_post(message),
        };
        let Ok(request) = decoded else {
            return page(AadError::saml_request_invalid());
        };
        let Some(app) = directory.saml_app(tenant, &request.issuer) else {
            let label = directory
                .tenant(tenant)
                .map(|t| t.display_name.clone())
                .unwrap_or_else(|| segment.clone());
            return page(AadError::app_not_found(&request.issuer, &label));
        };
        let acs_url = match &request.acs_url {
            Some(url) if app.reply_urls.iter().any(|r| r == url) => url.clone(),
            Some(url) => return page(AadError::redirect_uri_mismatch(url, app.app_id)),
            None => match app.default_reply_url() {
                Some(url) => url.to_owned(),
                None => return page(AadError::no_reply_address()),
            },
        };
        // A format the SP asks for wins; "unspecified" leaves the app's choice.
        let name_id_format = request
            .name_id_format
            .as_deref()
            .and_then(NameIdFormat::from_uri)
            .filter(|f| *f != NameIdFormat::Unspecified)
            .unwrap_or(app.name_id_format);
        let pending = Pending {
            segment: segment.clone(),
            app_id: app.app_id,
            acs_url,
            request_id: Some(request.id.clone()),
            relay_state: field(&pairs, "RelayState").map(str::to_owned),
            name_id_format,
        };
        (pending, request)
    };
    let hint = field(&pairs, "login_hint").or(request.subject.as_deref());
    sign_in(&state, pending, &request, hint, &headers, &trace)
}

/// Picks the account (auto-select, the session, or the picker) the way `/authorize` does;
/// `ForceAuthn` always shows the picker, `IsPassive` without a session answers `NoPassive`.
fn sign_in(
    state: &AppState,
    pending: Pending,
    request: &AuthnRequest,
    hint: Option<&str>,
    headers: &HeaderMap,
    trace: &Trace,
) -> Response {
    let (auto_choice, session_user) = {
        let directory = state.directory.read();
        let by_upn = |upn: &str| {
            directory
                .home_accounts()
                .find(|(_, u)| u.user_principal_name.eq_ignore_ascii_case(upn))
                .map(|(_, u)| u.id)
        };
        let auto_choice = state.auto_select.choose(hint, by_upn);
        let session_user = cookie(headers, SESSION_COOKIE)
            .and_then(|sid| state.sessions.lock().get(sid).copied())
            .filter(|oid| directory.locate(*oid).is_some());
        (auto_choice, session_user)
    };
    if let Some(oid) = auto_choice {
        return complete(state, pending, oid, headers, trace);
    }
    if let Some(oid) = session_user.filter(|_| !request.force_authn) {
        return complete(state, pending, oid, headers, trace);
    }
    if request.is_passive {
        let status = Status {
            code: STATUS_REQUESTER.to_owned(),
            sub_code: Some(STATUS_NO_PASSIVE.to_owned()),
            message: Some(trace.describe(&AadError::login_required())),
        };
        return failure(state, &pending, status, trace);
    }
    picker(state, pending, hint)
}

fn picker(state: &AppState, pending: Pending, hint: Option<&str>) -> Response {
    let accounts: Vec<PickerAccount> = {
        let directory = state.directory.read();
        let mut accounts: Vec<PickerAccount> = directory
            .home_accounts()
            .map(|(_, u)| PickerAccount {
                oid: u.id.to_string(),
                display_name: u.display_name.clone(),
                upn: u.user_principal_name.clone(),
                hinted: hint.is_some_and(|h| u.user_principal_name.eq_ignore_ascii_case(h)),
            })
            .collect();
        accounts.sort_by_key(|a| !a.hinted);
        accounts
    };
    let action = format!("{}/{}/saml2/select", state.base_url, pending.segment);
    let request_id = state.saml.pending.park(pending, state.now());
    html::account_picker(&action, &request_id, &accounts)
}

/// `POST /{tenant}/saml2/select`: the picker's answer (`request`, then `account=<oid>` or
/// `login_hint=<upn>`, or `cancel`).
pub(crate) async fn select(
    State(state): State<AppState>,
    Path(_segment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.delay(Endpoint::Authorize).await;
    let trace = state.trace(&headers);
    let pairs = parse_form(&body).unwrap_or_default();
    let pending = field(&pairs, "request").and_then(|id| state.saml.pending.take(id));
    let Some(pending) = pending else {
        return html::error_page(&AadError::missing_parameter("request"), &trace);
    };
    if field(&pairs, "cancel").is_some() {
        let status = Status {
            code: STATUS_REQUESTER.to_owned(),
            sub_code: Some(STATUS_REQUEST_DENIED.to_owned()),
            message: Some(trace.describe(&AadError::user_cancelled())),
        };
        return failure(&state, &pending, status, &trace);
    }
    let chosen = {
        let directory = state.directory.read();
        let by_oid = field(&pairs, "account").and_then(|a| Uuid::parse_str(a).ok());
        let by_upn = field(&pairs, "login_hint").and_then(|hint| {
            directory
                .home_accounts()
                .find(|(_, u)| u.user_principal_name.eq_ignore_ascii_case(hint))
                .map(|(_, u)| u.id)
        });
        by_oid
            .or(by_upn)
            .filter(|oid| directory.home_accounts().any(|(_, u)| u.id == *oid))
    };
    match chosen {
        Some(oid) => complete(&state, pending, oid, &headers, &trace),
        None => html::error_page(&AadError::missing_parameter("account"), &trace),
    }
}

/// `GET /{tenant}/saml2/idp-initiated?app=<identifier or application id>`: what the My Apps
/// tile does. With a sign-on URL, the browser goes there (the SP starts the sign-in); without,
/// the chosen account's response is posted to the app's first reply URL, without
/// `InResponseTo`, with the app's relay state if it has one.
pub(crate) async fn idp_initiated(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    state.delay(Endpoint::Authorize).await;
    let trace = state.trace(&headers);
    let page = |error: AadError| html::error_page(&error, &trace);
    let pairs = parse_form(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let pending = {
        let directory = state.directory.read();
        let Some(tenant) = tenant_of(&directory, &segment) else {
            return page(AadError::tenant_not_found(&segment));
        };
        let Some(wanted) = field(&pairs, "app") else {
            return page(AadError::missing_parameter("app"));
        };
        let app = directory.saml_app(tenant, wanted).or_else(|| {
            Uuid::parse_str(wanted)
                .ok()
                .and_then(|id| directory.saml_app_by_id(id))
                .filter(|a| a.tenant == tenant)
        });
        let Some(app) = app else {
            let label = directory
                .tenant(tenant)
                .map(|t| t.display_name.clone())
                .unwrap_or_else(|| segment.clone());
            return page(AadError::app_not_found(wanted, &label));
        };
        if let Some(url) = &app.sign_on_url {
            let mut response = StatusCode::FOUND.into_response();
            if let Ok(location) = HeaderValue::from_str(url) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            return response;
        }
        let Some(acs_url) = app.default_reply_url() else {
            return page(AadError::no_reply_address());
        };
        Pending {
            segment: segment.clone(),
            app_id: app.app_id,
            acs_url: acs_url.to_owned(),
            request_id: None,
            relay_state: app.relay_state.clone(),
            name_id_format: app.name_id_format,
        }
    };
    let unsolicited = AuthnRequest {
        id: String::new(),
        issuer: String::new(),
        acs_url: None,
        force_authn: false,
        is_passive: false,
        name_id_format: None,
        subject: None,
    };
    let hint = field(&pairs, "login_hint");
    sign_in(&state, pending, &unsolicited, hint, &headers, &trace)
}

/// The account is chosen: check it may use the app, then post the signed response.
fn complete(
    state: &AppState,
    pending: Pending,
    home_user: Uuid,
    headers: &HeaderMap,
    trace: &Trace,
) -> Response {
    let built = {
        let directory = state.directory.read();
        let Some(app) = directory.saml_app_by_id(pending.app_id) else {
            let id = pending.app_id.to_string();
            return html::error_page(&AadError::app_not_found(&id, &pending.segment), trace);
        };
        let principal = match saml_principal(&directory, app, home_user) {
            Ok(principal) => principal,
            Err(error) => return html::error_page(&error, trace),
        };
        let mut builder = response_for(
            &directory,
            app,
            &principal,
            &state.saml.credential(),
            state.now(),
        );
        builder.destination = Some(pending.acs_url.clone());
        builder.recipient = pending.acs_url.clone();
        builder.in_response_to = pending.request_id.clone();
        builder.name_id_format = pending.name_id_format;
        builder.name_id = name_id(&directory, app, &principal, pending.name_id_format);
        builder.to_post_form_value()
    };
    let Ok(saml_response) = built else {
        return html::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign in to your account",
            "<h1>The emulator could not sign the SAML response.</h1>",
        );
    };
    let mut response = post_form(&pending, saml_response);
    let existing = cookie(headers, SESSION_COOKIE)
        .filter(|sid| state.sessions.lock().get(*sid) == Some(&home_user))
        .map(str::to_owned);
    if existing.is_none() {
        let sid = random_b64url(32);
        state.sessions.lock().insert(sid.clone(), home_user);
        let cookie = format!("{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A response without an assertion (`NoPassive`, cancelled), posted to the SP.
fn failure(state: &AppState, pending: &Pending, status: Status, trace: &Trace) -> Response {
    let built = {
        let directory = state.directory.read();
        let Some(app) = directory.saml_app_by_id(pending.app_id) else {
            let id = pending.app_id.to_string();
            return html::error_page(&AadError::app_not_found(&id, &pending.segment), trace);
        };
        let mut builder = ResponseBuilder::new(
            &state.saml.credential(),
            &app.tenant.to_string(),
            app.identifiers
                .first()
                .map(String::as_str)
                .unwrap_or_default(),
            &pending.acs_url,
            "",
            state.now(),
        );
        builder.status = status;
        builder.signing = app.signing;
        builder.in_response_to = pending.request_id.clone();
        builder.to_post_form_value()
    };
    match built {
        Ok(value) => post_form(pending, value),
        Err(_) => html::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign in to your account",
            "<h1>The emulator could not sign the SAML response.</h1>",
        ),
    }
}

/// The page that posts `SAMLResponse` (and `RelayState`, unchanged, when there is one) to the
/// ACS URL: Entra's `form_post` page, submitted by script or by its button.
fn post_form(pending: &Pending, saml_response: String) -> Response {
    let mut params = vec![("SAMLResponse", saml_response)];
    if let Some(relay_state) = &pending.relay_state {
        params.push(("RelayState", relay_state.clone()));
    }
    html::form_post(&pending.acs_url, &params)
}

/// Who `home_user` is in the app's tenant: the member, or the guest object for them; else
/// Entra's refusals (50057 disabled, 50020 not in the tenant).
fn saml_principal(
    directory: &Directory,
    app: &SamlApp,
    home_user: Uuid,
) -> Result<Principal, AadError> {
    let Some((home_tenant, user)) = directory.locate(home_user) else {
        return Err(AadError::invalid_grant());
    };
    if user.disabled {
        return Err(AadError::user_disabled());
    }
    if home_tenant.id == app.tenant {
        return Ok(Principal {
            tenant: app.tenant,
            object: home_user,
            home_tenant: home_tenant.id,
            home_user,
        });
    }
    let guest = directory.tenant(app.tenant).and_then(|t| {
        t.users.iter().find(|u| {
            u.guest_of
                .is_some_and(|g| g.tenant == home_tenant.id && g.user == home_user)
        })
    });
    match guest {
        Some(guest) if guest.disabled => Err(AadError::user_disabled()),
        Some(guest) => Ok(Principal {
            tenant: app.tenant,
            object: guest.id,
            home_tenant: home_tenant.id,
            home_user,
        }),
        None => {
            let tenant_name = directory
                .tenant(app.tenant)
                .map(|t| t.display_name.clone())
                .unwrap_or_default();
            Err(AadError::user_not_in_tenant(
                &user.user_principal_name,
                home_tenant.id,
                &tenant_name,
                app.app_id,
                &app.display_name,
            ))
        }
    }
}

/// The NameID value for `format`: the UPN, or for `persistent` an opaque value stable per user
/// and app (base64 of SHA-256 of app id and object id, 44 characters like Entra's).
fn name_id(
    directory: &Directory,
    app: &SamlApp,
    principal: &Principal,
    format: NameIdFormat,
) -> String {
    let upn = directory
        .locate(principal.object)
        .map(|(_, u)| u.user_principal_name.clone())
        .unwrap_or_default();
    match format {
        NameIdFormat::EmailAddress | NameIdFormat::Unspecified => upn,
        NameIdFormat::Persistent => {
            use base64::Engine;
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(format!("{}|{}", app.app_id, principal.object));
            base64::engine::general_purpose::STANDARD.encode(digest)
        }
        NameIdFormat::Transient => format!("_{}", Uuid::new_v4()),
    }
}

/// The response Entra would send `principal` for `app`, to the app's first reply URL, without
/// `InResponseTo`: NameID, the default claim set and the groups claim per the app's settings.
pub(crate) fn response_for(
    directory: &Directory,
    app: &SamlApp,
    principal: &Principal,
    credential: &SigningCredential,
    now: OffsetDateTime,
) -> ResponseBuilder {
    let tenant_id = principal.tenant.to_string();
    let object_id = principal.object.to_string();
    let audience = app
        .identifiers
        .first()
        .map(String::as_str)
        .unwrap_or_default();
    let acs = app.default_reply_url().unwrap_or_default();
    let mut builder = ResponseBuilder::new(credential, &tenant_id, audience, acs, "", now);
    builder.signing = app.signing;
    builder.name_id_format = app.name_id_format;
    builder.name_id = name_id(directory, app, principal, app.name_id_format);
    let Some((tenant, user)) = directory.locate(principal.object) else {
        return builder;
    };
    let mut attributes = vec![
        Attribute::new(claims::TENANT_ID, [tenant_id.clone()]),
        Attribute::new(claims::OBJECT_ID, [object_id.clone()]),
        Attribute::new(claims::DISPLAY_NAME, [user.display_name.clone()]),
        Attribute::new(
            claims::IDENTITY_PROVIDER,
            [super::entity_id(&principal.home_tenant.to_string())],
        ),
        Attribute::new(claims::AUTHN_METHODS_REFERENCES, [claims::AMR_PASSWORD]),
    ];
    // Entra leaves out a claim whose source attribute is empty.
    let optional = [
        (claims::GIVEN_NAME, user.given_name.clone()),
        (claims::SURNAME, user.surname.clone()),
        (claims::EMAIL_ADDRESS, user.mail.clone()),
        (claims::NAME, Some(user.user_principal_name.clone())),
    ];
    for (name, value) in optional {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            attributes.push(Attribute::new(name, [value]));
        }
    }
    builder.attributes = attributes;
    let groups: Vec<String> = user
        .groups
        .iter()
        .filter_map(|id| tenant.group(*id))
        .filter(|g| match app.group_membership_claims {
            GroupMembershipClaims::None => false,
            GroupMembershipClaims::SecurityGroup => g.security_enabled,
            GroupMembershipClaims::ApplicationGroup => app.assigned.contains(&g.id),
            GroupMembershipClaims::All => true,
        })
        .map(|g| g.id.to_string())
        .collect();
    builder.groups = Groups::entra(groups, &tenant_id, &object_id);
    builder
}

/// What the handle's `saml_response` resolves: the app by identifier, the user by UPN or
/// object id, signing in to the app's tenant.
pub(crate) fn response_for_user(
    directory: &Directory,
    identifier: &str,
    user: &str,
    credential: &SigningCredential,
    now: OffsetDateTime,
) -> Result<ResponseBuilder, crate::DirectoryError> {
    let app = directory
        .saml_apps
        .iter()
        .find(|a| a.identifiers.iter().any(|i| i == identifier))
        .ok_or_else(|| crate::DirectoryError::UnknownApp(identifier.to_owned()))?;
    let home = directory
        .find_user(user)
        .ok_or_else(|| crate::DirectoryError::UnknownUser(user.to_owned()))?;
    // A guest object named directly stands for its home account.
    let home_user = home.guest_of.map(|g| g.user).unwrap_or(home.id);
    let principal = saml_principal(directory, app, home_user)
        .map_err(|e| crate::DirectoryError::UnknownUser(format!("{user}: {}", e.message)))?;
    let mut builder = response_for(directory, app, &principal, credential, now);
    builder.audience = identifier.to_owned();
    Ok(builder)
}

/// The fields of the emulator's auto-submitting SAML form page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedForm {
    /// The ACS URL the form posts to.
    pub action: String,
    /// `SAMLResponse`, base64.
    pub saml_response: String,
    pub relay_state: Option<String>,
}

/// Reads the form page the SSO endpoint answers with after sign-in, for clients scripting it
/// (what a browser would post to the ACS). `None` if `html` is not such a page.
pub fn posted_form(html: &str) -> Option<PostedForm> {
    let attribute_after = |marker: &str| -> Option<String> {
        let start = html.find(marker)? + marker.len();
        let end = start + html[start..].find('"')?;
        Some(unescape(&html[start..end]))
    };
    Some(PostedForm {
        action: attribute_after("name=\"hiddenform\" action=\"")?,
        saml_response: attribute_after("name=\"SAMLResponse\" value=\"")?,
        relay_state: attribute_after("name=\"RelayState\" value=\""),
    })
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
