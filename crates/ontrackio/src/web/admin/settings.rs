use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;

use crate::web::chrome::Chrome;
use crate::web::session::CurrentUser;
use crate::web::{AppError, AppState, csrf};

pub async fn index() -> Redirect {
    Redirect::to("/admin/settings/integrations")
}

#[derive(Template)]
#[template(path = "admin_integrations.html")]
struct IntegrationsPage {
    chrome: Chrome,
    microsoft_status: &'static str,
    microsoft_status_label: &'static str,
    google_status: &'static str,
    google_status_label: &'static str,
    scim_status: &'static str,
    scim_status_label: &'static str,
    saml_status: &'static str,
    saml_status_label: &'static str,
}

/// Admin → Settings → Integrations: the list of sign-in provider cards.
pub async fn integrations(
    State(state): State<AppState>,
    cu: CurrentUser,
    jar: CookieJar,
) -> Result<Response, AppError> {
    let effective = state.microsoft_settings(&cu.workspace).await?;
    let (microsoft_status, microsoft_status_label) = super::microsoft_card::status(&effective);
    let google = state.google_settings(&cu.workspace).await?;
    let (google_status, google_status_label) = super::google_card::status(&google);
    let scim = crate::store::scim::settings(state.db.pool(), &cu.workspace.id).await?;
    let (scim_status, scim_status_label) = super::scim_card::status(scim.as_ref());
    let saml = state.saml_settings(&cu.workspace).await?;
    let (saml_status, saml_status_label) = super::saml_card::status(&saml);
    let (token, _) = csrf::token_for_page(&state, Some(&cu), &jar);
    let page = IntegrationsPage {
        chrome: Chrome::for_user(&cu, "admin-settings", token),
        microsoft_status,
        microsoft_status_label,
        google_status,
        google_status_label,
        scim_status,
        scim_status_label,
        saml_status,
        saml_status_label,
    };
    Ok(Html(page.render()?).into_response())
}
