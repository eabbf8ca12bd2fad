//! Building and signing what the token endpoint returns: the v2.0 ID token (with the
//! misbehaviours a test may ask for), the Graph access token, and the response body.

use jsonwebtoken::Algorithm;
use serde::Serialize;
use uuid::Uuid;

use crate::directory::{AppRegistration, Directory, GroupMembershipClaims, JWT_GROUPS_LIMIT};
use crate::keys::SigningKey;
use crate::misbehaviour::Misbehaviour;
use crate::state::{AccessGrant, Principal, RefreshGrant, Shared};
use crate::util::{b64url, random_b64url, sha256_b64url};

pub(crate) const ID_TOKEN_LIFETIME_SECS: i64 = 3600;
const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
const OIDC_SCOPES: [&str; 4] = ["profile", "openid", "email", "offline_access"];

/// Splits a `scope` parameter, writing Graph scopes the short way (`User.Read`), as Entra
/// reports them back.
pub(crate) fn parse_scopes(scope: &str) -> Vec<String> {
    scope
        .split_whitespace()
        .map(|s| {
            s.strip_prefix("https://graph.microsoft.com/")
                .or_else(|| s.strip_prefix("00000003-0000-0000-c000-000000000000/"))
                .unwrap_or(s)
                .to_owned()
        })
        .collect()
}

pub(crate) fn has_scope(scopes: &[String], name: &str) -> bool {
    scopes.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// The scopes a delegated token carries: every Graph permission with consent (whether asked
/// for or not — "other scopes already granted may also appear"), then the OIDC scopes asked
/// for. A Graph scope without consent is simply absent.
pub(crate) fn granted_scopes(app: &AppRegistration, requested: &[String]) -> Vec<String> {
    let mut scopes: Vec<String> = app.delegated_permissions.clone();
    for oidc in OIDC_SCOPES {
        if has_scope(requested, oidc) {
            scopes.push(oidc.to_owned());
        }
    }
    scopes
}

/// A JOSE header: `typ`, `alg` and, unless left out, `kid`.
#[derive(Serialize)]
pub(crate) struct Header<'a> {
    pub typ: &'a str,
    pub alg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<&'a str>,
}

/// A v2.0 ID token's claims, in Microsoft's order.
#[derive(Serialize, Default)]
struct IdTokenClaims {
    aud: String,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    /// The groups overage claim: `{"groups": "src1"}` in place of `groups`.
    #[serde(rename = "_claim_names", skip_serializing_if = "Option::is_none")]
    claim_names: Option<serde_json::Value>,
    #[serde(rename = "_claim_sources", skip_serializing_if = "Option::is_none")]
    claim_sources: Option<serde_json::Value>,
    aio: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_username: Option<String>,
    rh: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
    sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tid: Option<String>,
    uti: String,
    ver: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    xms_edov: Option<bool>,
}

/// `sub`: pairwise per (app, tenant, user), 43 characters of base64url.
pub(crate) fn pairwise_sub(client_id: Uuid, tenant: Uuid, object: Uuid) -> String {
    sha256_b64url(format!("{client_id}|{tenant}|{object}").as_bytes())
}

/// The `email` claim and whether its domain is verified by the identity's own tenant
/// (`xms_edov`), after Entra's rule that drops unverified emails from multi-tenant apps.
fn email_claim(
    directory: &Directory,
    app: &AppRegistration,
    principal: &Principal,
    scopes: &[String],
) -> Option<(String, bool)> {
    let (_, user) = directory.locate(principal.object)?;
    let wants = principal.is_guest() || has_scope(scopes, "email") || app.optional_claims.email;
    if !wants {
        return None;
    }
    let mail = user.mail.clone()?;
    let domain = mail.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let verified = directory
        .tenant(principal.home_tenant)
        .is_some_and(|t| t.is_verified_domain(domain));
    if !verified && app.is_multi_tenant() && app.remove_unverified_email_claim {
        return None;
    }
    Some((mail, verified))
}

/// What an app's tokens say about the signed-in user's groups: the object ids, or the
/// overage pointer when there are more than a JWT may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GroupsClaim {
    Ids(Vec<String>),
    Overage { endpoint: String },
}

/// The `groups` claim per the app's `groupMembershipClaims` (omitted when it is `None` or the
/// user is in no matching group); above [`JWT_GROUPS_LIMIT`] groups, Entra's overage form.
pub(crate) fn groups_claim(
    directory: &Directory,
    app: &AppRegistration,
    principal: &Principal,
) -> Option<GroupsClaim> {
    let (tenant, user) = directory.locate(principal.object)?;
    let groups: Vec<String> = user
        .groups
        .iter()
        .filter_map(|id| tenant.group(*id))
        .filter(|g| match app.group_membership_claims {
            GroupMembershipClaims::None => false,
            GroupMembershipClaims::SecurityGroup => g.security_enabled,
            GroupMembershipClaims::ApplicationGroup => {
                app.role_assignments.iter().any(|a| a.principal == g.id)
            }
            GroupMembershipClaims::All => true,
        })
        .map(|g| g.id.to_string())
        .collect();
    if groups.is_empty() {
        return None;
    }
    if groups.len() > JWT_GROUPS_LIMIT {
        // The documented note: the URL is an Azure AD Graph one, whatever the docs' example says.
        return Some(GroupsClaim::Overage {
            endpoint: format!(
                "https://graph.windows.net/{}/users/{}/getMemberObjects",
                principal.tenant, principal.object
            ),
        });
    }
    Some(GroupsClaim::Ids(groups))
}

/// `client_info` (MSAL's `client_info=1`): base64url of `{"uid":…,"utid":…}`, naming the home
/// account (for a guest, its home object and tenant, not the guest object).
pub(crate) fn client_info(principal: &Principal) -> String {
    let json = serde_json::json!({
        "uid": principal.home_user.to_string(),
        "utid": principal.home_tenant.to_string(),
    });
    b64url(json.to_string().as_bytes())
}

/// Everything needed to sign a user's tokens.
pub(crate) struct UserTokenInput<'a> {
    pub directory: &'a Directory,
    pub app: &'a AppRegistration,
    pub principal: Principal,
    pub requested_scopes: &'a [String],
    pub nonce: Option<&'a str>,
}

/// A compact JWS of `claims`, signed with `key`.
pub(crate) fn sign(
    header: &impl Serialize,
    claims: &impl Serialize,
    key: &SigningKey,
    alg: Algorithm,
) -> Option<String> {
    let message = format!(
        "{}.{}",
        b64url(&serde_json::to_vec(header).ok()?),
        b64url(&serde_json::to_vec(claims).ok()?)
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding, alg).ok()?;
    Some(format!("{message}.{signature}"))
}

fn hs256_with_public_key(
    header: &Header,
    claims: &IdTokenClaims,
    key: &SigningKey,
) -> Option<String> {
    let message = format!(
        "{}.{}",
        b64url(&serde_json::to_vec(header).ok()?),
        b64url(&serde_json::to_vec(claims).ok()?)
    );
    let secret = jsonwebtoken::EncodingKey::from_secret(key.public_pem.as_bytes());
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &secret, Algorithm::HS256).ok()?;
    Some(format!("{message}.{signature}"))
}

/// The signed v2.0 ID token, bent by whichever misbehaviours are on for the app.
pub(crate) fn id_token(shared: &Shared, input: &UserTokenInput) -> Option<String> {
    let UserTokenInput {
        directory,
        app,
        principal,
        requested_scopes: scopes,
        nonce,
    } = *input;
    let client = Some(app.client_id);
    let on = |m| shared.is_on(client, m);
    let (_, user) = directory.locate(principal.object)?;
    let (_, home_user) = directory.locate(principal.home_user)?;
    let profile = has_scope(scopes, "profile");
    let now = shared.now().unix_timestamp();
    let tid = principal.tenant;
    let email = email_claim(directory, app, &principal, scopes);
    let roles = app.roles_of(user);
    let (groups, claim_names, claim_sources) = match groups_claim(directory, app, &principal) {
        None => (None, None, None),
        Some(GroupsClaim::Ids(ids)) => (Some(ids), None, None),
        Some(GroupsClaim::Overage { endpoint }) => (
            None,
            Some(serde_json::json!({"groups": "src1"})),
            Some(serde_json::json!({"src1": {"endpoint": endpoint}})),
        ),
    };
    let mut claims = IdTokenClaims {
        aud: app.client_id.to_string(),
        iss: shared.issuer(tid),
        iat: now,
        nbf: now,
        exp: now + ID_TOKEN_LIFETIME_SECS,
        claim_names,
        claim_sources,
        groups,
        roles: (!roles.is_empty()).then_some(roles),
        aio: format!("A{}", random_b64url(96)),
        xms_edov: email
            .as_ref()
            .filter(|_| app.optional_claims.xms_edov)
            .map(|(_, v)| *v),
        email: email.map(|(mail, _)| mail),
        family_name: user
            .surname
            .clone()
            .filter(|_| profile && app.optional_claims.family_name),
        given_name: user
            .given_name
            .clone()
            .filter(|_| profile && app.optional_claims.given_name),
        idp: principal
            .is_guest()
            .then(|| format!("https://sts.windows.net/{}/", principal.home_tenant)),
        name: profile.then(|| user.display_name.clone()),
        nonce: nonce.map(str::to_owned),
        oid: profile.then(|| principal.object.to_string()),
        // A guest's sign-in name is its home UPN, not the `#EXT#` one.
        preferred_username: profile.then(|| home_user.user_principal_name.clone()),
        rh: format!("1.A{}.", random_b64url(48)),
        sub: pairwise_sub(app.client_id, tid, principal.object),
        tid: Some(tid.to_string()),
        uti: random_b64url(16),
        ver: "2.0",
    };
    if on(Misbehaviour::WrongIssuer) {
        claims.iss = format!("https://sts.windows.net/{tid}/");
    }
    if on(Misbehaviour::IssuerTenantMismatch) {
        let other = directory.tenants.iter().map(|t| t.id).find(|id| *id != tid);
        claims.iss = shared.issuer(other.unwrap_or_else(Uuid::new_v4));
    }
    if on(Misbehaviour::ForeignTenant) {
        let other = directory.tenants.iter().map(|t| t.id).find(|id| *id != tid);
        let other = other.unwrap_or_else(Uuid::new_v4);
        claims.iss = shared.issuer(other);
        claims.tid = Some(other.to_string());
    }
    if on(Misbehaviour::WrongAudience) {
        claims.aud = Uuid::new_v4().to_string();
    }
    if on(Misbehaviour::Expired) {
        claims.iat = now - 2 * ID_TOKEN_LIFETIME_SECS;
        claims.nbf = claims.iat;
        claims.exp = now - ID_TOKEN_LIFETIME_SECS;
    }
    if on(Misbehaviour::IssuedInFuture) {
        claims.iat = now + ID_TOKEN_LIFETIME_SECS;
        claims.nbf = claims.iat;
        claims.exp = now + 2 * ID_TOKEN_LIFETIME_SECS;
    }
    if on(Misbehaviour::MissingNonce) {
        claims.nonce = None;
    }
    if on(Misbehaviour::WrongNonce) {
        claims.nonce = Some(random_b64url(16));
    }
    if on(Misbehaviour::MissingOid) {
        claims.oid = None;
    }
    if on(Misbehaviour::MissingTid) {
        claims.tid = None;
    }

    if on(Misbehaviour::MalformedIdToken) {
        return Some("this-is.not-a.jwt!".to_owned());
    }
    let key = if on(Misbehaviour::SignWithUnpublishedKey) {
        shared.keys.lock().rogue()
    } else {
        shared.keys.lock().active()
    };
    if on(Misbehaviour::AlgNone) {
        let header = Header {
            typ: "JWT",
            alg: "none",
            kid: None,
        };
        return Some(format!(
            "{}.{}.",
            b64url(&serde_json::to_vec(&header).ok()?),
            b64url(&serde_json::to_vec(&claims).ok()?)
        ));
    }
    if on(Misbehaviour::Hs256WithPublicKey) {
        let header = Header {
            typ: "JWT",
            alg: "HS256",
            kid: Some(&key.kid),
        };
        return hs256_with_public_key(&header, &claims, &key);
    }
    // The remaining switches edit the token as JSON, then sign it properly.
    let mut header = serde_json::to_value(Header {
        typ: "JWT",
        alg: "RS256",
        kid: Some(&key.kid),
    })
    .ok()?;
    let mut body = serde_json::to_value(&claims).ok()?;
    let switches = shared.switches.lock().active_for(client.as_ref());
    for m in switches {
        match m {
            Misbehaviour::RemoveClaim(name) => {
                body.as_object_mut()?.remove(name);
            }
            Misbehaviour::ClaimAsNumber(name) => {
                body[name] = serde_json::json!(12345);
            }
            Misbehaviour::HeaderParam(name) => {
                let value = match name {
                    "crit" => serde_json::json!(["exp"]),
                    "jwk" => serde_json::json!({"kty": "oct", "k": "c2VjcmV0"}),
                    _ => serde_json::json!(format!("{}/evil-keys", shared.base_url)),
                };
                header[name] = value;
            }
            Misbehaviour::OmitKid => {
                header.as_object_mut()?.remove("kid");
            }
            Misbehaviour::NotBeforeInFuture => {
                body["nbf"] = serde_json::json!(now + ID_TOKEN_LIFETIME_SECS);
            }
            Misbehaviour::HugeIdToken => {
                body["padding"] = serde_json::json!("x".repeat(1024 * 1024));
            }
            _ => {}
        }
    }
    sign(&header, &body, &key, Algorithm::RS256)
}

/// A Graph access token. It is a real JWT in Graph's v1 shape, but clients must treat it as
/// opaque (Graph tokens carry a header `nonce` that makes them unverifiable); the emulator looks
/// it up in memory.
pub(crate) fn access_token(
    shared: &Shared,
    directory: &Directory,
    app: &AppRegistration,
    tenant: Uuid,
    principal: Option<Principal>,
    scopes: &[String],
    lifetime_secs: i64,
) -> Option<String> {
    #[derive(Serialize)]
    struct GraphHeader<'a> {
        typ: &'a str,
        nonce: String,
        alg: &'a str,
        x5t: &'a str,
        kid: &'a str,
    }
    let key = shared.keys.lock().active();
    let header = GraphHeader {
        typ: "JWT",
        nonce: random_b64url(32),
        alg: "RS256",
        x5t: &key.kid,
        kid: &key.kid,
    };
    let now = shared.now();
    let mut claims = serde_json::json!({
        "aud": crate::GRAPH_APP_ID,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now.unix_timestamp(),
        "nbf": now.unix_timestamp(),
        "exp": now.unix_timestamp() + lifetime_secs,
        "app_displayname": app.display_name,
        "appid": app.client_id.to_string(),
        "idtyp": if principal.is_some() { "user" } else { "app" },
        "tid": tenant.to_string(),
        "uti": random_b64url(16),
        "ver": "1.0",
    });
    if let Some(p) = principal
        && let Some((_, user)) = directory.locate(p.object)
    {
        claims["oid"] = p.object.to_string().into();
        claims["sub"] = pairwise_sub(crate::GRAPH_APP_ID.parse().ok()?, tenant, p.object).into();
        claims["name"] = user.display_name.clone().into();
        claims["upn"] = user.user_principal_name.clone().into();
        claims["scp"] = scopes.join(" ").into();
    } else {
        claims["oid"] = app.client_id.to_string().into();
        claims["sub"] = app.client_id.to_string().into();
    }
    let token = sign(&header, &claims, &key, Algorithm::RS256)?;
    shared.access_tokens.lock().insert(
        token.clone(),
        AccessGrant {
            client_id: app.client_id,
            principal,
            scopes: scopes.to_vec(),
            expires: now + time::Duration::seconds(lifetime_secs),
        },
    );
    Some(token)
}

/// The token endpoint's success body (spec §3.2), in Microsoft's field order.
#[derive(Serialize)]
pub(crate) struct TokenResponse {
    pub token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub expires_in: i64,
    pub ext_expires_in: i64,
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Only when the request said `client_info=1` (MSAL always does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_info: Option<String>,
}

/// Access-token lifetime: random between 60 and 90 minutes, as Entra assigns it.
pub(crate) fn access_token_lifetime() -> i64 {
    rand::random_range(3600..=5400)
}

/// Signs a user's tokens for the token endpoint.
pub(crate) fn user_token_response(
    shared: &Shared,
    input: &UserTokenInput,
) -> Option<TokenResponse> {
    let scopes = granted_scopes(input.app, input.requested_scopes);
    let lifetime = access_token_lifetime();
    let access_token = access_token(
        shared,
        input.directory,
        input.app,
        input.principal.tenant,
        Some(input.principal),
        &scopes,
        lifetime,
    )?;
    let id_token = if has_scope(input.requested_scopes, "openid") {
        Some(id_token(shared, input)?)
    } else {
        None
    };
    let refresh_token = has_scope(input.requested_scopes, "offline_access").then(|| {
        let token = format!("1.A{}", random_b64url(180));
        shared.refresh_tokens.lock().insert(
            token.clone(),
            RefreshGrant {
                client_id: input.app.client_id,
                principal: input.principal,
                scopes: input.requested_scopes.to_vec(),
            },
        );
        token
    });
    Some(TokenResponse {
        token_type: "Bearer",
        scope: Some(scopes.join(" ")),
        expires_in: lifetime,
        ext_expires_in: lifetime,
        access_token,
        refresh_token,
        id_token,
        client_info: None,
    })
}

/// The resource a client-credentials `scope` names, if it is Graph.
pub(crate) fn is_graph_default_scope(scope: &str) -> bool {
    scope == format!("{GRAPH_RESOURCE}/.default")
        || scope == format!("{GRAPH_RESOURCE}//.default")
        || scope == format!("{}/.default", crate::GRAPH_APP_ID)
}
