//! Microsoft's half of finishing a sign-in (DESIGN §5.1 steps 3–5): redeem the code,
//! validate the ID token, read Graph `/me`, and turn the answer into an
//! [`ExternalIdentity`] for the provider-neutral use case (`auth::sign_in`), which does
//! the rest. The callback handler in `web` keeps only HTTP.

use super::Microsoft;
use super::client::{GraphError, MsError};
use super::id_token::{self, Expectations, Groups};
use super::policy;
use super::settings::SignInConfig;
use crate::accounts::ChangeNotifier;
use crate::auth::oidc::flow::FlowState;
use crate::auth::policy::Refusal;
use crate::auth::sign_in::{self, ExternalIdentity, Provider, Requester};
use crate::domain::ReturnTo;
use crate::store::{self, Db, workspaces::Workspace};

/// What finishing needs from the process.
pub struct Context<'a> {
    pub db: &'a Db,
    /// Told about the signed-in user (their cached sessions are reread).
    pub notify: &'a dyn ChangeNotifier,
    pub microsoft: &'a Microsoft,
}

pub enum Failure {
    Microsoft(MsError),
    Refused {
        title: &'static str,
        message: &'static str,
    },
    Internal(anyhow::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(
            anyhow::Error::new(e).context("Database request failed during Microsoft sign-in"),
        )
    }
}

pub const UNVERIFIABLE: &str = "Microsoft's answer could not be verified, so you were not signed in. Please try again; if it keeps happening, tell your workspace admin.";

/// Microsoft's half of the sign-in (the code exchange, the ID token, Graph) turned into
/// an [`ExternalIdentity`]; the provider-neutral use case does the rest.
pub async fn finish(
    cx: &Context<'_>,
    ws: &Workspace,
    requester: Requester<'_>,
    cfg: &SignInConfig,
    flow: &FlowState,
    code: &str,
) -> Result<sign_in::Outcome, Failure> {
    let ms = cx.microsoft;
    let discovery = ms
        .client
        .discovery(cfg.tenant.segment())
        .await
        .map_err(Failure::Microsoft)?;
    let tokens = ms
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
        .map_err(Failure::Microsoft)?;
    let Some(id_token) = tokens.id_token.as_deref() else {
        refuse_audited(cx, ws, requester, "-", "token response without an ID token").await?;
        return Err(Failure::Refused {
            title: "Sign-in failed",
            message: UNVERIFIABLE,
        });
    };
    let expect = Expectations {
        jwks_uri: &discovery.jwks_uri,
        client_id: &cfg.client_id,
        nonce: &flow.n,
        pinned_tenant: cfg.tenant.pinned(),
    };
    let claims = match id_token::validate(id_token, &ms.client, &ms.jwks, &expect).await {
        Ok(c) => c,
        Err(e) => {
            refuse_audited(cx, ws, requester, "-", &format!("ID token refused: {e}")).await?;
            return Err(Failure::Refused {
                title: "Sign-in failed",
                message: UNVERIFIABLE,
            });
        }
    };
    let me = match ms.client.me(&tokens.access_token).await {
        Ok(me) => me,
        Err(GraphError::Denied(status)) => {
            refuse_audited(
                cx,
                ws,
                requester,
                &claims.oid,
                &format!("{} (Graph HTTP {status})", Refusal::NoEmail.audit_reason()),
            )
            .await?;
            return Ok(sign_in::Outcome::Refused(Refusal::NoEmail));
        }
        Err(GraphError::Other(e)) => {
            refuse_audited(
                cx,
                ws,
                requester,
                &claims.oid,
                &format!("Microsoft Graph failed: {e}"),
            )
            .await?;
            return Err(Failure::Refused {
                title: "Microsoft Graph did not answer",
                message: "Microsoft Graph did not return your profile, so you were not signed in. Please try again in a moment.",
            });
        }
    };
    if me.id.as_deref().map(str::to_ascii_lowercase).as_deref() != Some(claims.oid.as_str()) {
        refuse_audited(
            cx,
            ws,
            requester,
            &claims.oid,
            "Graph profile id differs from the ID token's oid",
        )
        .await?;
        return Err(Failure::Refused {
            title: "Sign-in failed",
            message: UNVERIFIABLE,
        });
    }
    let directory_role = match &claims.groups {
        Groups::Overage => cfg
            .role_mapping
            .resolve_roles_and_groups(&claims.roles, None, true),
        Groups::Listed(g) => {
            cfg.role_mapping
                .resolve_roles_and_groups(&claims.roles, Some(g), false)
        }
        Groups::NotSent => cfg
            .role_mapping
            .resolve_roles_and_groups(&claims.roles, None, false),
    };
    let identity = ExternalIdentity {
        provider: Provider::Microsoft,
        issuer: claims.tid.as_str().to_string(),
        subject: claims.oid.clone(),
        email: policy::choose_email(&claims, &me, cfg.tenant.pinned().is_some()),
        email_unverified_by_provider: false,
        directory_names: (me.given_name.is_some() || me.surname.is_some())
            .then(|| policy::names(&me, &claims)),
        new_user_names: policy::names(&me, &claims),
        organisation_domain: None,
        directory_role,
    };
    let health = &ms.settings;
    let record_success = !health.success_recorded_recently(ws.id.as_str());
    let return_to = flow.r.as_deref().and_then(ReturnTo::parse);
    let attempt = sign_in::Attempt {
        workspace: ws,
        allowed_domains: &cfg.allowed_domains,
        identity: &identity,
        requester,
        return_to: return_to.as_ref(),
        on_success: record_success
            .then(|| store::microsoft_settings::record_success_statement(&ws.id)),
    };
    let outcome = sign_in::sign_in(cx.db, cx.notify, attempt).await?;
    if record_success && matches!(outcome, sign_in::Outcome::SignedIn { .. }) {
        health.note_success_recorded(ws.id.as_str());
    }
    Ok(outcome)
}

/// A refusal after Microsoft answered (so not one anyone could send): one audit row.
async fn refuse_audited(
    cx: &Context<'_>,
    ws: &Workspace,
    requester: Requester<'_>,
    target: &str,
    reason: &str,
) -> Result<(), Failure> {
    let p = Provider::Microsoft;
    sign_in::record_refusal(cx.db, ws, p, requester, target, reason).await?;
    Ok(())
}
