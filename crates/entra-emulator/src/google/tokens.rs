//! What Google's token endpoint returns: the access token, the ID token (with the
//! misbehaviours a test may ask for) and the response body, in Google's field order.

use jsonwebtoken::Algorithm;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::directory::{GoogleAccount, GoogleDirectory};
use super::misbehaviour::GoogleMisbehaviour as M;
use super::state::{ACCESS_TOKEN_LIFETIME_SECS, GoogleShared, Grant, Request};
use crate::tokens::{Header, sign};
use crate::util::{b64url, random_b64url};

pub(crate) const ID_TOKEN_LIFETIME_SECS: i64 = 3600;
const USERINFO_EMAIL: &str = "https://www.googleapis.com/auth/userinfo.email";
const USERINFO_PROFILE: &str = "https://www.googleapis.com/auth/userinfo.profile";

/// The `scope` values Google accepts for sign-in.
pub(crate) fn is_known_scope(scope: &str) -> bool {
    matches!(
        scope,
        "openid" | "email" | "profile" | USERINFO_EMAIL | USERINFO_PROFILE
    )
}

fn asked(scopes: &[String], short: &str, long: &str) -> bool {
    scopes.iter().any(|s| s == short || s == long)
}

pub(crate) fn wants_email(scopes: &[String]) -> bool {
    asked(scopes, "email", USERINFO_EMAIL)
}

pub(crate) fn wants_profile(scopes: &[String]) -> bool {
    asked(scopes, "profile", USERINFO_PROFILE)
}

pub(crate) fn wants_openid(scopes: &[String]) -> bool {
    scopes.iter().any(|s| s == "openid")
}

/// The granted scopes as the token response writes them: the long `userinfo.*` names, then
/// `openid`.
pub(crate) fn granted_scopes(scopes: &[String]) -> Vec<&'static str> {
    let mut granted = Vec::new();
    if wants_email(scopes) {
        granted.push(USERINFO_EMAIL);
    }
    if wants_profile(scopes) {
        granted.push(USERINFO_PROFILE);
    }
    if wants_openid(scopes) {
        granted.push("openid");
    }
    granted
}

/// The `scope` of the redirect back to the app: the short names asked for, then the granted
/// ones (`email profile https://…userinfo.email https://…userinfo.profile openid`).
pub(crate) fn redirect_scope(scopes: &[String]) -> String {
    let short = ["email", "profile"]
        .into_iter()
        .filter(|s| scopes.iter().any(|asked| asked == s));
    short
        .chain(granted_scopes(scopes))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `at_hash`: base64url of the left half of SHA-256 of the access token.
fn at_hash(access_token: &str) -> String {
    b64url(&Sha256::digest(access_token.as_bytes())[..16])
}

/// A Google ID token's claims, in the order Google writes them.
#[derive(Serialize)]
struct IdTokenClaims {
    iss: String,
    azp: String,
    aud: String,
    sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<Value>,
    at_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    picture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    locale: Option<String>,
    iat: i64,
    exp: i64,
}

/// The `email_verified` value, bent by the misbehaviours on for the client.
pub(crate) fn email_verified(shared: &GoogleShared, client: &str, verified: bool) -> Option<Value> {
    let on = |m| shared.is_on(Some(client), m);
    if on(M::EmailVerifiedMissing) {
        None
    } else if on(M::EmailVerifiedString) {
        Some(Value::from("true"))
    } else {
        Some(Value::from(verified && !on(M::EmailVerifiedFalse)))
    }
}

/// The `hd` claim: the account's organisation, never the request's parameter — unless the
/// spoofing misbehaviour is on.
pub(crate) fn hd_claim(
    shared: &GoogleShared,
    account: &GoogleAccount,
    request: &Request,
) -> Option<String> {
    if shared.is_on(Some(&request.client_id), M::HdFromRequest)
        && let Some(hd) = request.hd.as_deref().filter(|hd| *hd != "*")
    {
        return Some(hd.to_owned());
    }
    account.hd.clone()
}

/// A client id other than `client`: another registered one, or one shaped like Google's.
fn another_client(directory: &GoogleDirectory, client: &str) -> String {
    directory
        .clients
        .iter()
        .map(|c| c.client_id.clone())
        .find(|id| id != client)
        .unwrap_or_else(|| {
            "407408718192-a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6.apps.googleusercontent.com".to_owned()
        })
}

/// The signed ID token for `account`, bent by whichever misbehaviours are on for the client.
pub(crate) fn id_token(
    shared: &GoogleShared,
    directory: &GoogleDirectory,
    account: &GoogleAccount,
    request: &Request,
    access_token: &str,
) -> Option<String> {
    let client = request.client_id.as_str();
    let on = |m| shared.is_on(Some(client), m);
    let now = shared.now().unix_timestamp();
    let email = wants_email(&request.scopes);
    let profile = wants_profile(&request.scopes);
    let profile_claim = |value: &Option<String>| value.clone().filter(|_| profile);
    let mut claims = IdTokenClaims {
        iss: shared.issuer(),
        azp: client.to_owned(),
        aud: client.to_owned(),
        sub: account.sub.clone(),
        hd: hd_claim(shared, account, request),
        email: email.then(|| account.email.clone()),
        email_verified: if email {
            email_verified(shared, client, account.email_verified)
        } else {
            None
        },
        at_hash: at_hash(access_token),
        nonce: request.nonce.clone(),
        name: profile_claim(&account.name),
        picture: profile_claim(&account.picture),
        given_name: profile_claim(&account.given_name),
        family_name: profile_claim(&account.family_name),
        locale: profile_claim(&account.locale),
        iat: now,
        exp: now + ID_TOKEN_LIFETIME_SECS,
    };
    if on(M::WrongIssuer) {
        claims.iss = "https://accounts.google.com.evil.test".to_owned();
    }
    if on(M::TokenForAnotherClient) {
        claims.aud = another_client(directory, client);
        claims.azp = claims.aud.clone();
    }
    if on(M::WrongNonce) {
        claims.nonce = Some(random_b64url(16));
    }
    if on(M::MissingNonce) {
        claims.nonce = None;
    }
    if on(M::Expired) {
        claims.iat = now - 2 * ID_TOKEN_LIFETIME_SECS;
        claims.exp = now - ID_TOKEN_LIFETIME_SECS;
    }
    let key = if on(M::UnknownKid) {
        shared.keys.lock().rogue()
    } else {
        shared.keys.lock().active()
    };
    let header = Header {
        typ: "JWT",
        alg: "RS256",
        kid: Some(&key.hex_kid),
    };
    let token = sign(&header, &claims, &key, Algorithm::RS256)?;
    if on(M::BadSignature) {
        return Some(corrupt_signature(&token));
    }
    Some(token)
}

/// The same token with one bit of its signature flipped.
fn corrupt_signature(token: &str) -> String {
    let (message, signature) = token.rsplit_once('.').unwrap_or((token, ""));
    let mut bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
            .unwrap_or_default();
    if let Some(first) = bytes.first_mut() {
        *first ^= 0x01;
    }
    format!("{message}.{}", b64url(&bytes))
}

/// The token endpoint's success body, in Google's field order.
#[derive(Serialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
    pub token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Issues an access token (kept in memory for userinfo) and, with `openid`, an ID token.
pub(crate) fn token_response(
    shared: &GoogleShared,
    request: &Request,
    sub: &str,
) -> Option<TokenResponse> {
    let directory = shared.directory.read();
    let account = directory.account(sub)?;
    let access_token = format!("ya29.a0{}", random_b64url(120));
    let id_token = if wants_openid(&request.scopes) {
        Some(id_token(
            shared,
            &directory,
            account,
            request,
            &access_token,
        )?)
    } else {
        None
    };
    shared.access_tokens.lock().insert(
        access_token.clone(),
        Grant {
            request: request.clone(),
            sub: sub.to_owned(),
            expires: shared.now() + time::Duration::seconds(ACCESS_TOKEN_LIFETIME_SECS),
        },
    );
    Some(TokenResponse {
        access_token,
        expires_in: ACCESS_TOKEN_LIFETIME_SECS,
        scope: granted_scopes(&request.scopes).join(" "),
        token_type: "Bearer",
        id_token,
    })
}
