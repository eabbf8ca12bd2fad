//! `GET /saml/metadata` (what the admin gives their IdP), `GET /auth/saml` (SP-initiated
//! start) and `POST /saml/acs` (the assertion consumer, HTTP-POST binding): the HTTP half
//! of SAML sign-in. The protocol is in `auth::saml`, the account rules in `auth::sign_in`,
//! and what every provider's flow shares in `sign_in_flow`.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::{CookieJar, PrivateCookieJar};
use serde::Deserialize;

use super::client::ClientInfo;
use super::host::CurrentWorkspace;
use super::session::MaybeUser;
use super::sign_in_flow::{self, ErrorPage, Unauthenticated, audit_unauthenticated};
use super::{AppError, AppState};
use crate::audit::{self, Actor, actions};
use crate::auth::oidc::flow::{self, FlowState};
use crate::auth::saml::authn_request::{self, SpEndpoints};
use crate::auth::saml::identity;
use crate::auth::saml::response::{self, Expected, Rejection};
use crate::auth::sign_in::{self, Provider};
use crate::domain::{ReturnTo, Role};
use crate::store::{self, workspaces::Workspace};

const SAML: Provider = Provider::Saml;

/// The ACS takes a larger body than other forms: a response with 150 groups is ~20 KB
/// and some IdPs add a signed response around the signed assertion. Beyond the
/// verifier's own cap (refused with an audit row) up to this, the framework refuses.
pub const ACS_BODY_LIMIT: usize = 1024 * 1024;

fn plain(ws: &Workspace, title: &str, message: &str) -> ErrorPage {
    ErrorPage::plain(SAML, ws, title, message)
}

fn not_available(ws: &Workspace) -> ErrorPage {
    plain(
        ws,
        "SAML sign-in is not available",
        "SAML sign-in is not enabled for this workspace. Sign in another way, or ask your workspace admin.",
    )
}

/// The page of a response that does not sign anyone in, whatever the reason (the audit
/// row and the card's health line say which).
fn not_accepted(ws: &Workspace, jar: PrivateCookieJar, https: bool) -> Result<Response, AppError> {
    plain(ws, "Sign-in failed", NOT_ACCEPTED).respond(StatusCode::BAD_REQUEST, SAML, jar, https)
}

const NOT_ACCEPTED: &str = "The sign-in response from your identity provider could not be accepted, so you were not signed in. Please try again; if it keeps happening, tell your workspace admin.";

/// The workspace's public origin, as the IdP must know it.
fn endpoints(state: &AppState, ws: &Workspace) -> SpEndpoints {
    SpEndpoints::for_origin(&state.config.base_url.workspace_origin(ws.slug.as_str()))
}

pub async fn metadata(
    State(state): State<AppState>,
    CurrentWorkspace(ws): CurrentWorkspace,
) -> Result<Response, AppError> {
    let origin = state.config.base_url.workspace_origin(ws.slug.as_str());
    let xml = authn_request::sp_metadata(&endpoints(&state, &ws), &ws.name, &origin)?;
    Ok((
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        xml,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct StartQuery {
    return_to: Option<String>,
    /// The SAML card's Test sign-in: a super-admin checks the IdP; nobody is signed in.
    test: Option<String>,
}

/// Starts an SP-initiated sign-in: the flow (request id, return_to, test) in its cookie,
/// the AuthnRequest in the redirect. Nothing is written to the database.
pub async fn start(
    State(state): State<AppState>,
    CurrentWorkspace(ws): CurrentWorkspace,
    MaybeUser(user): MaybeUser,
    client: ClientInfo,
    jar: PrivateCookieJar,
    Query(q): Query<StartQuery>,
) -> Result<Response, AppError> {
    sign_in_flow::check_start_limit(&state, &client)?;
    let https = state.https();
    let test = q.test.is_some();
    if test
        && user
            .as_ref()
            .is_none_or(|u| u.user.role != Role::SuperAdmin)
    {
        return plain(
            &ws,
            "Test sign-in is for super-admins",
            "Only a super-admin can test the SAML connection. Sign in as one, then use Test sign-in on the SAML card.",
        )
        .respond(StatusCode::FORBIDDEN, SAML, jar, https);
    }
    let settings = state.saml_settings(&ws).await?;
    // A test may run before SAML is switched on: that is what it is for.
    let usable = (test || settings.enabled) && settings.has_usable_certificate(store::now());
    let Some(sso_url) = settings.sso_url().filter(|_| usable) else {
        return not_available(&ws).respond(StatusCode::NOT_FOUND, SAML, jar, https);
    };
    let return_to = if test {
        None
    } else {
        q.return_to.as_deref().and_then(ReturnTo::parse)
    };
    let mut f = FlowState::new(
        ws.id.as_str(),
        return_to.as_ref().map(|r| r.as_str().to_string()),
        store::now(),
    );
    f.x = test;
    let url = authn_request::redirect_url(
        sso_url.as_str(),
        &endpoints(&state, &ws),
        &identity::request_id(&f.s),
        time::OffsetDateTime::now_utc(),
        return_to.as_ref().map(ReturnTo::as_str),
    )?;
    let jar = jar.add(f.cookie(SAML, https));
    Ok((StatusCode::FOUND, jar, [(header::LOCATION, url)]).into_response())
}

#[derive(Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
    /// Set by our own re-post page (see [`resubmit`]): never bounce twice.
    resubmitted: Option<String>,
}

#[derive(Template)]
#[template(path = "saml_resubmit.html")]
struct Resubmit<'a> {
    workspace_name: &'a str,
    saml_response: &'a str,
    relay_state: Option<&'a str>,
}

/// The IdP's page posts to the ACS from another site, and the flow cookie is
/// `SameSite=Lax`, so the browser leaves it out. Rather than weaken the cookie to
/// `SameSite=None` (which needs `Secure`, so never works over the demo's http), the ACS
/// answers such a post with a page of ours that posts the same fields again: that post
/// is same-site, and carries the cookie. Only browsers say `Sec-Fetch-Site`; other
/// clients send their cookies anyway.
fn needs_resubmit(headers: &axum::http::HeaderMap, has_flow_cookie: bool, form: &AcsForm) -> bool {
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site");
    cross_site && !has_flow_cookie && form.resubmitted.is_none()
}

/// What a refusal tells the person, by reason: what they can do about it.
fn message(r: &Rejection) -> (&'static str, &'static str) {
    match r {
        Rejection::Expired => (
            "Sign-in took too long",
            "The sign-in response from your identity provider has expired. Please sign in again.",
        ),
        Rejection::Unsolicited => (
            "Start the sign-in here",
            "Sign-in from your identity provider's portal is not allowed for this workspace. Use “Continue with SAML SSO” on the sign-in page.",
        ),
        Rejection::WrongInResponseTo => ("Sign-in failed", sign_in_flow::SESSION_EXPIRED),
        _ => ("Sign-in failed", NOT_ACCEPTED),
    }
}

/// Refusals that mean the card and the IdP disagree (an admin must act), as opposed to
/// a forged or stale post: those go on the card's health line too.
fn is_configuration_problem(r: &Rejection) -> bool {
    matches!(
        r,
        Rejection::IdpStatus(_)
            | Rejection::WrongDestination
            | Rejection::WrongIssuer
            | Rejection::NoCertificate
            | Rejection::SignatureInvalid
            | Rejection::SignatureAlgorithm(_)
            | Rejection::AssertionUnsigned
            | Rejection::WrongAudience
            | Rejection::WrongRecipient
            | Rejection::EncryptedAssertion
    )
}

pub async fn acs(
    State(state): State<AppState>,
    CurrentWorkspace(ws): CurrentWorkspace,
    client: ClientInfo,
    jar: PrivateCookieJar,
    plain_jar: CookieJar,
    headers: axum::http::HeaderMap,
    Form(form): Form<AcsForm>,
) -> Result<Response, AppError> {
    let https = state.https();
    let now = store::now();
    let cookie = jar.get(flow::cookie_name(SAML, https));
    if needs_resubmit(&headers, cookie.is_some(), &form)
        && let Some(saml_response) = form.saml_response.as_deref()
    {
        let page = Resubmit {
            workspace_name: &ws.name,
            saml_response,
            relay_state: form.relay_state.as_deref(),
        };
        return Ok(Html(page.render()?).into_response());
    }
    let flow = cookie
        .and_then(|c| FlowState::from_cookie_value(c.value()))
        .filter(|f| f.w == ws.id.as_str() && !f.is_expired(now));
    let test = flow.as_ref().is_some_and(|f| f.x);
    let settings = Box::pin(state.saml_settings(&ws)).await?;
    if !(settings.enabled || test) {
        return not_available(&ws).respond(StatusCode::NOT_FOUND, SAML, jar, https);
    }
    let Some(encoded) = form.saml_response.as_deref().filter(|s| !s.is_empty()) else {
        let kind = Unauthenticated::NoCode;
        let reason = "a post without a SAMLResponse";
        Box::pin(audit_unauthenticated(
            &state, SAML, &ws, &client, kind, reason, None,
        ))
        .await?;
        return not_accepted(&ws, jar, https);
    };
    let Some(idp_entity_id) = settings.entity_id() else {
        return Box::pin(refuse(
            &state,
            &ws,
            &client,
            jar,
            &Rejection::NoCertificate,
            test,
        ))
        .await;
    };
    let certificates = settings.usable_certificates(now);
    let sp = endpoints(&state, &ws);
    let request_id = flow.as_ref().map(|f| identity::request_id(&f.s));
    let expected = Expected {
        idp_entity_id: idp_entity_id.as_str(),
        certificates: &certificates,
        sp_entity_id: &sp.entity_id,
        acs_url: &sp.acs_url,
        request_id: request_id.as_deref(),
        // A test answers the test's own request, never a portal click.
        unsolicited_allowed: settings.allow_idp_initiated && !test,
        now,
    };
    // Wait for a turn before the work anyone can make us do (a parse of up to 256 KB and
    // a signature check); the OIDC callbacks share the same bound (see Flows).
    let _turn = state
        .flows
        .finishing
        .acquire()
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    // Inline: one RSA verification and a canonicalisation of a few kilobytes.
    let verified = response::verify(encoded, &expected);
    let assertion = match verified {
        Ok(a) => a,
        Err(r) => return Box::pin(refuse(&state, &ws, &client, jar, &r, test)).await,
    };
    if !store::saml_assertions::consume(&state.db, &ws.id, &assertion.id, assertion.expires_at, now)
        .await?
    {
        let reason = format!("assertion {} was already used (replay)", assertion.id);
        let kind = Unauthenticated::ProviderError;
        Box::pin(audit_unauthenticated(
            &state, SAML, &ws, &client, kind, &reason, None,
        ))
        .await?;
        return not_accepted(&ws, jar, https);
    }
    let shared = Box::pin(state.microsoft_settings(&ws)).await?;
    let reading = settings.reading();
    let requester = sign_in::Requester {
        ip: &client.ip,
        user_agent: &client.user_agent,
    };
    let identity = match identity::external_identity(&assertion, reading, &shared.role_mapping) {
        Ok(i) => i,
        Err(e) => {
            sign_in::record_refusal(
                &state.db,
                &ws,
                SAML,
                requester,
                &assertion.name_id,
                &e.to_string(),
            )
            .await?;
            return plain(&ws, "Sign-in failed", NOT_ACCEPTED).respond(
                StatusCode::BAD_REQUEST,
                SAML,
                jar,
                https,
            );
        }
    };
    if test {
        return Box::pin(test_result(
            &state, &ws, &client, jar, &assertion, &identity,
        ))
        .await;
    }
    // SP-initiated: where the flow said; IdP-initiated: RelayState, if it is a safe path.
    let return_to = match &flow {
        Some(f) => f.r.as_deref().and_then(ReturnTo::parse),
        None => form.relay_state.as_deref().and_then(ReturnTo::parse),
    };
    let health = &state.saml_card.settings;
    let record_success = !health.success_recorded_recently(ws.id.as_str());
    let attempt = sign_in::Attempt {
        workspace: &ws,
        allowed_domains: &shared.allowed_domains.value,
        identity: &identity,
        requester,
        return_to: return_to.as_ref(),
        on_success: record_success.then(|| store::saml_settings::record_success_statement(&ws.id)),
    };
    match Box::pin(sign_in::sign_in(&state.db, &state.sessions, attempt)).await? {
        sign_in::Outcome::SignedIn {
            token,
            landing,
            fresh,
            ..
        } => {
            if record_success {
                health.note_success_recorded(ws.id.as_str());
            }
            Ok(sign_in_flow::signed_in(
                &state,
                SAML,
                (jar, plain_jar),
                &token,
                landing,
                fresh,
            ))
        }
        sign_in::Outcome::Refused(r) => plain(&ws, "Sign-in refused", SAML.refusal_message(r))
            .respond(StatusCode::FORBIDDEN, SAML, jar, https),
    }
}

/// A refused message: one audit row (coalesced, since anyone can post to the ACS), the
/// card's health line when the IdP and the card disagree, and a page.
async fn refuse(
    state: &AppState,
    ws: &Workspace,
    client: &ClientInfo,
    jar: PrivateCookieJar,
    r: &Rejection,
    test: bool,
) -> Result<Response, AppError> {
    let reason = r.to_string();
    let kind = match r {
        Rejection::TooLarge
        | Rejection::NotBase64
        | Rejection::NotXml
        | Rejection::Malformed(_) => Unauthenticated::Malformed,
        Rejection::WrongInResponseTo | Rejection::Unsolicited => Unauthenticated::NoFlow,
        _ => Unauthenticated::ProviderError,
    };
    let admitted = Box::pin(audit_unauthenticated(
        state, SAML, ws, client, kind, &reason, None,
    ))
    .await?;
    if test {
        // The super-admin asked: the card's "Last test sign-in" and this page say exactly
        // what was wrong (a flow cookie only a super-admin's start makes says it's them).
        store::saml_settings::record_test(state.db.pool(), &ws.id, false, &reason).await?;
        state.saml_card.settings.invalidate(ws.id.as_str());
        let message = format!("Test sign-in failed: {reason}.");
        return plain(ws, "Test sign-in failed", &message).respond(
            StatusCode::BAD_REQUEST,
            SAML,
            jar,
            state.https(),
        );
    }
    if admitted && is_configuration_problem(r) {
        Box::pin(crate::auth::saml::settings::record_failure(
            &state.db, &ws.id, &reason,
        ))
        .await?;
        state
            .saml_card
            .settings
            .note_failure_recorded(ws.id.as_str());
    }
    let (title, message) = message(r);
    plain(ws, title, message).respond(StatusCode::BAD_REQUEST, SAML, jar, state.https())
}

#[derive(Template)]
#[template(path = "saml_test_result.html")]
struct TestResult<'a> {
    workspace_name: &'a str,
    name_id: &'a str,
    email: String,
    names: String,
    attributes: &'a [(String, Vec<String>)],
    role: String,
}

/// The card's Test sign-in: what the IdP said and what the workspace would make of it.
async fn test_result(
    state: &AppState,
    ws: &Workspace,
    client: &ClientInfo,
    jar: PrivateCookieJar,
    a: &response::Assertion,
    id: &sign_in::ExternalIdentity,
) -> Result<Response, AppError> {
    let email = id
        .email
        .as_ref()
        .map(|e| e.email.as_str().to_string())
        .unwrap_or_else(|| "none: set the email attribute on the SAML card".into());
    let summary = format!("Test sign-in succeeded for {}", a.name_id);
    store::saml_settings::record_test(state.db.pool(), &ws.id, true, &summary).await?;
    state.saml_card.settings.invalidate(ws.id.as_str());
    let mut conn = state.db.pool().acquire().await?;
    audit::record(
        &mut conn,
        &ws.id,
        Actor::System(SAML.system_actor()),
        actions::SAML_TEST_SIGN_IN,
        &a.name_id,
        client.origin(),
        serde_json::json!({"email": email, "attributes": a.attributes.len()}),
    )
    .await?;
    let role = match id.directory_role {
        crate::auth::role_mapping::DirectoryRole::NotManaged => {
            "not taken from the directory (no group attribute or no mapping)".to_string()
        }
        crate::auth::role_mapping::DirectoryRole::Mapped { role, .. } => role.label().to_string(),
        crate::auth::role_mapping::DirectoryRole::NoneMapped { strict: true, .. } => {
            "none of the groups maps: sign-in would be refused".to_string()
        }
        crate::auth::role_mapping::DirectoryRole::NoneMapped { .. } => {
            "none of the groups maps: the default role".to_string()
        }
        crate::auth::role_mapping::DirectoryRole::Unknown => {
            "unknown (the IdP sent a link instead of the groups): roles stay as they are"
                .to_string()
        }
    };
    let page = TestResult {
        workspace_name: &ws.name,
        name_id: &a.name_id,
        email,
        names: format!("{} {}", id.new_user_names.0, id.new_user_names.1)
            .trim()
            .to_string(),
        attributes: &a.attributes,
        role,
    };
    let jar = jar.add(flow::removal(SAML, state.https()));
    Ok((jar, Html(page.render()?)).into_response())
}
