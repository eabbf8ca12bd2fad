//! The effective SAML settings of a workspace: what its SAML card saved, read through the
//! per-process [`SettingsCache`] every save invalidates on every node (DESIGN §8). SAML
//! has no environment fallback: the card is the only source.
//!
//! The role mapping and the allowed email domains are not SAML settings: they are shared
//! with OIDC (the Microsoft card's mapping, the workspace's domain list) and read where
//! the sign-in applies them.

use std::sync::Arc;

use anyhow::Context;
use url::Url;

use super::identity::Reading;
use super::idp_metadata::{self, IdpCertificate, IdpEntityId, IdpMetadata};
use crate::auth::oidc::http::Outbound;
use crate::domain::WorkspaceId;
use crate::store::Db;
use crate::store::saml_settings::{self as stored, StoredSamlSettings};
use crate::store::workspaces::Workspace;

/// Audit action of the card, as admins read it in Admin → Audit log.
pub const SETTINGS_SAVED: &str = crate::audit::actions::SAML_SETTINGS_SAVED;

/// The longest attribute name the card accepts: Entra's claim URIs are ~70 characters.
pub const MAX_ATTRIBUTE_LEN: usize = 256;

/// Why an attribute name typed on the card was refused; shown next to its field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttributeError {
    #[error(
        "Enter the attribute's Name exactly as the identity provider sends it (no spaces, at most 256 characters), for example http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress."
    )]
    Shape,
}

/// An assertion attribute's `Name` as typed on the card: blank is "not set" (`None`).
pub fn parse_attribute(input: &str) -> Result<Option<String>, AttributeError> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > MAX_ATTRIBUTE_LEN
        || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(AttributeError::Shape);
    }
    Ok(Some(s.to_string()))
}

/// A workspace's SAML settings in effect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SamlSettings {
    /// The card's toggle.
    pub enabled: bool,
    /// The IdP as its metadata described it; `None` until metadata was read.
    pub idp: Option<IdpMetadata>,
    /// Where the metadata was fetched from; `None` when it was uploaded or pasted.
    pub metadata_url: Option<Url>,
    /// Unix seconds: when the IdP values were last read from metadata.
    pub metadata_fetched_at: Option<i64>,
    /// The attribute holding the email; `None`: the NameID.
    pub email_attribute: Option<String>,
    /// The attribute holding the groups; `None`: groups are not read.
    pub group_attribute: Option<String>,
    /// Responses that answer no AuthnRequest of ours are accepted.
    pub allow_idp_initiated: bool,
    /// The card has been saved at least once.
    pub card_saved: bool,
}

impl SamlSettings {
    /// Sign-in can work: the toggle is on and the IdP's entity id, SSO URL and at least
    /// one certificate valid now are configured. The **Continue with SAML** button and
    /// the flow's start both ask this.
    pub fn is_complete(&self) -> bool {
        self.is_complete_at(crate::store::now())
    }

    pub fn is_complete_at(&self, now: i64) -> bool {
        self.enabled && self.has_usable_certificate(now)
    }

    /// Whether a signature could be checked at `now` (the login page asks on every
    /// render, so without copying the certificates).
    pub fn has_usable_certificate(&self, now: i64) -> bool {
        self.certificates().iter().any(|c| c.usable_at(now))
    }

    /// The IdP's certificates a signature may be checked with at `now` (expired ones and
    /// ones not valid yet are left out), as DER for `auth::saml::response::Expected`.
    pub fn usable_certificates(&self, now: i64) -> Vec<Vec<u8>> {
        self.certificates()
            .iter()
            .filter(|c| c.usable_at(now))
            .map(|c| c.der().to_vec())
            .collect()
    }

    /// Every configured certificate, usable or not (the card lists them all).
    pub fn certificates(&self) -> &[IdpCertificate] {
        self.idp
            .as_ref()
            .map_or(&[], |i| i.signing_certificates.as_slice())
    }

    pub fn entity_id(&self) -> Option<&IdpEntityId> {
        self.idp.as_ref().map(|i| &i.entity_id)
    }

    pub fn sso_url(&self) -> Option<&Url> {
        self.idp.as_ref().map(|i| &i.sso_url)
    }

    /// How `auth::saml::identity` reads an assertion under these settings.
    pub fn reading(&self) -> Reading<'_> {
        Reading {
            email_attribute: self.email_attribute.as_deref(),
            group_attribute: self.group_attribute.as_deref(),
        }
    }
}

/// The IdP values of a stored row; `None` unless all three are present and parse (they
/// were valid when saved, so anything else is a row edited by hand).
fn stored_idp(row: &StoredSamlSettings) -> Option<IdpMetadata> {
    let entity_id = IdpEntityId::parse(row.idp_entity_id.as_deref()?).ok()?;
    let sso_url = idp_metadata::parse_sso_url(row.sso_url.as_deref()?).ok()?;
    let signing_certificates = idp_metadata::certificates_from_pem(row.certificates.as_deref()?);
    if signing_certificates.is_empty() {
        return None;
    }
    Some(IdpMetadata {
        entity_id,
        sso_url,
        signing_certificates,
    })
}

/// The pure resolution of a stored row (if any).
pub fn resolve(ws: &Workspace, row: Option<&StoredSamlSettings>) -> SamlSettings {
    let Some(row) = row.filter(|r| r.card_saved()) else {
        return SamlSettings::default();
    };
    let idp = stored_idp(row);
    if idp.is_none() && row.idp_entity_id.is_some() {
        tracing::warn!(workspace = %ws.slug, "the stored SAML identity provider settings do not parse; SAML sign-in is off until the card is saved again");
    }
    let attribute = |v: &Option<String>| v.as_deref().and_then(|s| parse_attribute(s).ok()?);
    SamlSettings {
        enabled: row.enabled,
        idp,
        metadata_url: row
            .metadata_url
            .as_deref()
            .and_then(|u| idp_metadata::parse_metadata_url(u).ok()),
        metadata_fetched_at: row.metadata_fetched_at,
        email_attribute: attribute(&row.email_attribute),
        group_attribute: attribute(&row.group_attribute),
        allow_idp_initiated: row.allow_idp_initiated,
        card_saved: true,
    }
}

/// Reads the row and resolves, bypassing any cache (the card itself).
pub async fn load_fresh(
    db: &Db,
    ws: &Workspace,
) -> anyhow::Result<(Option<StoredSamlSettings>, SamlSettings)> {
    let row = stored::get(db.pool(), &ws.id)
        .await
        .context("Failed to read the SAML settings")?;
    let effective = resolve(ws, row.as_ref());
    Ok((row, effective))
}

/// The per-process cache of every workspace's SAML settings.
pub type SettingsCache = crate::auth::settings_cache::SettingsCache<SamlSettings>;

/// Process-wide state of the SAML card: the settings cache, and the pooled client that
/// fetches IdP metadata (https only, loopback excepted, no redirects, capped body).
pub struct SamlCard {
    pub settings: SettingsCache,
    pub metadata_http: Outbound,
}

impl SamlCard {
    pub fn new(
        config: &crate::config::Config,
        listening: Arc<crate::listening::ChangeListening>,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            settings: SettingsCache::new(listening),
            metadata_http: Outbound::new("The identity provider", config.microsoft_timeout)?,
        }))
    }
}

/// The card's health line: a failure an admin can act on (at most 300 characters kept).
pub async fn record_failure(db: &Db, ws: &WorkspaceId, summary: &str) -> Result<(), sqlx::Error> {
    let summary: String = summary.chars().take(300).collect();
    stored::record_failure(db.pool(), ws, &summary).await
}

#[cfg(test)]
mod tests {
    use super::super::idp_metadata::testing::*;
    use super::*;
    use crate::domain::WorkspaceSlug;

    const NOW: i64 = 1_767_225_600;

    fn workspace() -> Workspace {
        Workspace {
            id: WorkspaceId::new(),
            slug: WorkspaceSlug::parse("acme").unwrap(),
            name: "Acme".into(),
            allowed_email_domains: vec![],
        }
    }

    fn row(certs: &[Vec<u8>]) -> StoredSamlSettings {
        let certs: Vec<IdpCertificate> = certs
            .iter()
            .map(|d| IdpCertificate::from_der(d).unwrap())
            .collect();
        StoredSamlSettings {
            enabled: true,
            idp_entity_id: Some("https://sts.windows.net/t/".into()),
            sso_url: Some("https://login.microsoftonline.com/t/saml2".into()),
            certificates: Some(idp_metadata::certificates_to_pem(&certs)),
            email_attribute: Some(" ".into()),
            group_attribute: Some(
                "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups".into(),
            ),
            saved_at: Some(1),
            ..Default::default()
        }
    }

    #[test]
    fn nothing_saved_is_off_and_incomplete() {
        let s = resolve(&workspace(), None);
        assert_eq!(s, SamlSettings::default());
        assert!(!s.is_complete());
        // A health-only row is not a saved card.
        let health = StoredSamlSettings {
            last_failure_at: Some(3),
            enabled: true,
            ..Default::default()
        };
        assert!(!resolve(&workspace(), Some(&health)).enabled);
    }

    #[test]
    fn complete_means_enabled_with_an_idp_and_a_certificate_valid_now() {
        let good = cert("good", true, NOW - DAY, NOW + 365 * DAY);
        let s = resolve(&workspace(), Some(&row(std::slice::from_ref(&good))));
        assert!(s.is_complete_at(NOW));
        assert_eq!(s.usable_certificates(NOW), vec![good.clone()]);
        assert_eq!(
            s.entity_id().unwrap().as_str(),
            "https://sts.windows.net/t/"
        );
        assert_eq!(
            s.sso_url().unwrap().as_str(),
            "https://login.microsoftonline.com/t/saml2"
        );
        // Blank email attribute: the NameID.
        assert_eq!(s.reading().email_attribute, None);
        assert!(s.reading().group_attribute.is_some());

        let off = StoredSamlSettings {
            enabled: false,
            ..row(std::slice::from_ref(&good))
        };
        assert!(!resolve(&workspace(), Some(&off)).is_complete_at(NOW));
    }

    #[test]
    fn expired_certificates_do_not_count_and_a_rollover_keeps_the_valid_one() {
        let old = cert("old", true, NOW - 800 * DAY, NOW - DAY);
        let s = resolve(&workspace(), Some(&row(std::slice::from_ref(&old))));
        assert_eq!(s.certificates().len(), 1);
        assert!(s.usable_certificates(NOW).is_empty());
        assert!(!s.is_complete_at(NOW));

        let new = cert("new", false, NOW - DAY, NOW + 365 * DAY);
        let s = resolve(&workspace(), Some(&row(&[old, new.clone()])));
        assert_eq!(s.usable_certificates(NOW), vec![new]);
        assert!(s.is_complete_at(NOW));
    }

    #[test]
    fn a_row_edited_into_nonsense_turns_sign_in_off_rather_than_guessing() {
        let good = cert("good", true, NOW - DAY, NOW + 365 * DAY);
        let mut r = row(&[good]);
        r.sso_url = Some("http://evil.example.com/sso".into());
        assert!(resolve(&workspace(), Some(&r)).idp.is_none());
        let mut r2 = row(&[]);
        r2.certificates = Some("garbage".into());
        assert!(!resolve(&workspace(), Some(&r2)).is_complete_at(NOW));
    }

    #[test]
    fn attribute_names_are_single_tokens() {
        assert_eq!(parse_attribute("  "), Ok(None));
        assert_eq!(parse_attribute(" email "), Ok(Some("email".to_string())));
        assert!(parse_attribute("two words").is_err());
        assert!(parse_attribute(&"a".repeat(257)).is_err());
    }
}
