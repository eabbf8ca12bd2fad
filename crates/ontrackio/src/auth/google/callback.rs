//! Google's half of finishing a sign-in: redeem the code, validate the ID token, and turn
//! its claims into an [`ExternalIdentity`] for the provider-neutral use case
//! (`auth::sign_in`). Google's own rules live here: the address counts as verified only
//! when `email_verified` is `true`, and Google vouches for whom it belongs to only for a
//! Workspace account (`hd` in the token) or a Gmail address (docs/spec/google-identity.md
//! §4.3); the token's `hd` — never the request's — is the organisation the allowlist
//! checks.

use super::Google;
use super::client::GoogleError;
use super::id_token::{self, Claims, Expectations};
use super::settings::GoogleSignInConfig;
use crate::accounts::ChangeNotifier;
use crate::auth::oidc::flow::FlowState;
use crate::auth::policy::ChosenEmail;
use crate::auth::sign_in::{self, ExternalIdentity, Provider, Requester};
use crate::domain::{EmailAddress, EmailDomain, ReturnTo};
use crate::store::{self, Db, workspaces::Workspace};

const GOOGLE: Provider = Provider::Google;

/// What finishing needs from the process.
pub struct Context<'a> {
    pub db: &'a Db,
    /// Told about the signed-in user (their cached sessions are reread).
    pub notify: &'a dyn ChangeNotifier,
    pub google: &'a Google,
}

pub enum Failure {
    Google(GoogleError),
    Refused {
        title: &'static str,
        message: &'static str,
    },
    Internal(anyhow::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(
            anyhow::Error::new(e).context("Database request failed during Google sign-in"),
        )
    }
}

pub const UNVERIFIABLE: &str = "Google's answer could not be verified, so you were not signed in. Please try again; if it keeps happening, tell your workspace admin.";

/// Addresses Google itself hosts: for these it is authoritative even without `hd`.
const GOOGLE_MAIL_DOMAINS: [&str; 2] = ["gmail.com", "googlemail.com"];

/// The email the sign-in is about, and whether Google vouches for whom it belongs to.
pub fn choose_email(c: &Claims) -> Option<ChosenEmail> {
    let email = EmailAddress::parse(c.email.as_deref()?).ok()?;
    let google_hosted = GOOGLE_MAIL_DOMAINS
        .iter()
        .any(|d| EmailDomain::parse(d).is_ok_and(|d| d == email.domain()));
    Some(ChosenEmail {
        verified: c.email_verified && (c.hd.is_some() || google_hosted),
        email,
    })
}

/// Names for a new user: the token's given and family names, else `name` split at its
/// last space (profile claims are "never guaranteed to be present").
pub fn names(c: &Claims) -> (String, String) {
    sign_in::person_names(
        c.given_name.as_deref(),
        c.family_name.as_deref(),
        c.name.as_deref(),
    )
    .unwrap_or_default()
}

/// The identity a validated token describes.
pub fn identity(c: &Claims, issuer: &str) -> ExternalIdentity {
    let names = names(c);
    ExternalIdentity {
        provider: GOOGLE,
        // One key for both spellings of Google's issuer: `sub` is unique across Google.
        issuer: issuer.to_string(),
        subject: c.sub.clone(),
        email: choose_email(c),
        email_unverified_by_provider: !c.email_verified,
        directory_names: (c.given_name.is_some() || c.family_name.is_some()).then(|| names.clone()),
        new_user_names: names,
        organisation_domain: c.hd.clone(),
        directory_role: crate::auth::role_mapping::DirectoryRole::NotManaged,
    }
}

/// Google's half of the sign-in turned into an [`ExternalIdentity`]; the
/// provider-neutral use case does the rest.
pub async fn finish(
    cx: &Context<'_>,
    ws: &Workspace,
    requester: Requester<'_>,
    cfg: &GoogleSignInConfig,
    allowed_domains: &[EmailDomain],
    flow: &FlowState,
    code: &str,
) -> Result<sign_in::Outcome, Failure> {
    let g = cx.google;
    let discovery = g.client.discovery().await.map_err(Failure::Google)?;
    let tokens = g
        .client
        .exchange_code(
            &discovery.token_url,
            cfg.client_id.as_str(),
            &cfg.client_secret,
            code,
            cfg.redirect_uri.as_str(),
            &flow.v,
        )
        .await
        .map_err(Failure::Google)?;
    let unverifiable = Failure::Refused {
        title: "Sign-in failed",
        message: UNVERIFIABLE,
    };
    let Some(id_token) = tokens.id_token.as_deref() else {
        let reason = "token response without an ID token";
        sign_in::record_refusal(cx.db, ws, GOOGLE, requester, "-", reason).await?;
        return Err(unverifiable);
    };
    let expect = Expectations {
        jwks_uri: &discovery.jwks_uri,
        client_id: &cfg.client_id,
        nonce: &flow.n,
    };
    let claims = match id_token::validate(id_token, &g.client, &g.jwks, &expect).await {
        Ok(c) => c,
        Err(e) => {
            let reason = format!("ID token refused: {e}");
            sign_in::record_refusal(cx.db, ws, GOOGLE, requester, "-", &reason).await?;
            return Err(unverifiable);
        }
    };
    let identity = identity(&claims, g.client.issuer());
    let health = &g.settings;
    let record_success = !health.success_recorded_recently(ws.id.as_str());
    let return_to = flow.r.as_deref().and_then(ReturnTo::parse);
    let attempt = sign_in::Attempt {
        workspace: ws,
        allowed_domains,
        identity: &identity,
        requester,
        return_to: return_to.as_ref(),
        on_success: record_success
            .then(|| store::google_settings::record_success_statement(&ws.id)),
    };
    let outcome = sign_in::sign_in(cx.db, cx.notify, attempt).await?;
    if record_success && matches!(outcome, sign_in::Outcome::SignedIn { .. }) {
        health.note_success_recorded(ws.id.as_str());
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(email: &str, verified: bool, hd: Option<&str>) -> Claims {
        Claims {
            iss: "https://accounts.google.com".into(),
            sub: "110169484474386276334".into(),
            email: Some(email.into()),
            email_verified: verified,
            hd: hd.map(|h| EmailDomain::parse(h).unwrap()),
            name: Some("Dana Katherine Scully".into()),
            given_name: None,
            family_name: None,
        }
    }

    #[test]
    fn google_vouches_for_workspace_and_gmail_addresses_only() {
        let verified = |c: &Claims| choose_email(c).unwrap().verified;
        assert!(verified(&claims("dana@acme.test", true, Some("acme.test"))));
        assert!(verified(&claims("casey@gmail.com", true, None)));
        // A consumer account made with a company address: Google once sent it a link,
        // but is not authoritative for who holds it now.
        assert!(!verified(&claims("dana@acme.test", true, None)));
        assert!(!verified(&claims(
            "dana@acme.test",
            false,
            Some("acme.test")
        )));
        let id = identity(&claims("dana@acme.test", false, Some("acme.test")), "x");
        assert!(id.email_unverified_by_provider);
        assert_eq!(id.organisation_domain.unwrap().as_str(), "acme.test");
        assert_eq!(
            names(&claims("d@acme.test", true, None)),
            ("Dana Katherine".to_string(), "Scully".to_string())
        );
    }
}
