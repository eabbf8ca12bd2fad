//! An enterprise application set up for SAML single sign-on: what the portal's "Basic SAML
//! Configuration", "Attributes & Claims" and "SAML Certificates" cards hold.

use serde::Deserialize;
use uuid::Uuid;

use super::response::{NameIdFormat, SigningOption};
use crate::directory::GroupMembershipClaims;

/// A SAML enterprise application in one tenant.
///
/// In TOML, under `[[saml_apps]]`:
///
/// ```toml
/// [[saml_apps]]
/// app_id = "0f3c…"                     # the application (client) id
/// display_name = "OnTrackio"
/// tenant = "3f6d…"
/// identifiers = ["https://sp.example/saml/metadata"]
/// reply_urls = ["https://sp.example/saml/acs"]
/// group_membership_claims = "SecurityGroup"   # None (default), SecurityGroup, ApplicationGroup, All
/// name_id_format = "Persistent"               # EmailAddress (default), Persistent, Transient, Unspecified
/// signing = "Both"                            # Assertion (default), Response, Both, None
/// relay_state = "/dashboard"                  # optional, sent with IdP-initiated sign-ins
/// sign_on_url = "https://sp.example/login"    # optional: IdP-initiated becomes a redirect there
/// assigned = ["7e9a…"]                        # users and groups assigned (for ApplicationGroup)
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlApp {
    /// The application (client) id: the metadata URL's `?appid=`, and the id AADSTS50011 names.
    pub app_id: Uuid,
    pub display_name: String,
    /// The tenant the enterprise application lives in; its users (and guests) sign in.
    pub tenant: Uuid,
    /// "Identifier (Entity ID)": the `Issuer` of the SP's requests, and the `Audience` of the
    /// assertions. Matched exactly; unique within the tenant.
    pub identifiers: Vec<String>,
    /// "Reply URL (Assertion Consumer Service URL)": where responses are posted. A request's
    /// `AssertionConsumerServiceURL` must equal one; without one, the first is used.
    pub reply_urls: Vec<String>,
    /// "Sign on URL": when set, starting the app from My Apps (IdP-initiated) sends the browser
    /// to this URL instead, so the SP starts an SP-initiated sign-in.
    #[serde(default)]
    pub sign_on_url: Option<String>,
    /// "Relay State": sent as `RelayState` with IdP-initiated responses.
    #[serde(default)]
    pub relay_state: Option<String>,
    /// Which groups the groups claim carries (off by default, as for a new app).
    #[serde(default)]
    pub group_membership_claims: GroupMembershipClaims,
    #[serde(default)]
    pub name_id_format: NameIdFormat,
    #[serde(default)]
    pub signing: SigningOption,
    /// Users and groups assigned to the application ("Users and groups"); with
    /// `ApplicationGroup`, the groups claim lists the assigned groups the user is in.
    #[serde(default)]
    pub assigned: Vec<Uuid>,
}

impl SamlApp {
    /// An app with one identifier and one reply URL, Entra's defaults otherwise.
    pub fn new(
        app_id: Uuid,
        tenant: Uuid,
        display_name: &str,
        identifier: &str,
        reply_url: &str,
    ) -> Self {
        SamlApp {
            app_id,
            display_name: display_name.to_owned(),
            tenant,
            identifiers: vec![identifier.to_owned()],
            reply_urls: vec![reply_url.to_owned()],
            sign_on_url: None,
            relay_state: None,
            group_membership_claims: GroupMembershipClaims::None,
            name_id_format: NameIdFormat::EmailAddress,
            signing: SigningOption::Assertion,
            assigned: Vec::new(),
        }
    }

    /// The reply URL responses go to when the request names none (IdP-initiated included).
    pub fn default_reply_url(&self) -> Option<&str> {
        self.reply_urls.first().map(String::as_str)
    }
}
