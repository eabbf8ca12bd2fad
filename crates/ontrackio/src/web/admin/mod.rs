//! Admin area: dashboard, users, audit log, settings.

pub mod audit;
pub mod card;
pub mod dashboard;
pub mod google_card;
pub mod microsoft_card;
pub mod saml_card;
pub mod scim_card;
pub mod settings;
pub mod users;

use axum::response::Redirect;

pub async fn index() -> Redirect {
    Redirect::to("/admin/dashboard")
}
