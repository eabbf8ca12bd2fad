//! The directory the emulator signs users in from: tenants with their users and guests, and
//! app registrations. It deserializes straight from the TOML config (see `config.rs`).

use std::collections::HashSet;

use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;
use uuid::Uuid;

/// Everything the emulator knows: tenants (with their users) and app registrations.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    #[serde(default)]
    pub apps: Vec<AppRegistration>,
}

/// An Entra tenant (directory).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub id: Uuid,
    /// The initial-domain label: `acme` gives the always-verified `acme.onmicrosoft.com`.
    pub name: String,
    pub display_name: String,
    /// Custom domains the tenant has proven it owns, e.g. `acme.test`.
    #[serde(default)]
    pub verified_domains: Vec<String>,
    #[serde(default)]
    pub users: Vec<User>,
}

/// A user object in one tenant: a member, or a guest invited from another tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The object id (`oid`, Graph `id`), immutable and unique in the directory.
    pub id: Uuid,
    pub user_principal_name: String,
    pub display_name: String,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    /// Any value at all: a directory admin can set it freely, so it proves nothing.
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub business_phones: Vec<String>,
    #[serde(default)]
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub office_location: Option<String>,
    #[serde(default)]
    pub preferred_language: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    /// Set for a B2B guest: the member account in its home tenant that was invited.
    #[serde(default)]
    pub guest_of: Option<GuestOf>,
}

/// The home account behind a guest object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestOf {
    pub tenant: Uuid,
    pub user: Uuid,
}

/// Who may sign in to an app (the manifest's `signInAudience`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum SignInAudience {
    /// Accounts in this organizational directory only.
    #[serde(rename = "AzureADMyOrg")]
    AzureAdMyOrg,
    /// Accounts in any organizational directory.
    #[default]
    #[serde(rename = "AzureADMultipleOrgs")]
    AzureAdMultipleOrgs,
}

/// Optional ID-token claims an app registration asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OptionalClaims {
    pub email: bool,
    pub xms_edov: bool,
    pub given_name: bool,
    pub family_name: bool,
}

impl<'de> Deserialize<'de> for OptionalClaims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        let mut claims = OptionalClaims::default();
        for name in names {
            match name.as_str() {
                "email" => claims.email = true,
                "xms_edov" => claims.xms_edov = true,
                "given_name" => claims.given_name = true,
                "family_name" => claims.family_name = true,
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "unsupported optional claim `{other}` (supported: email, xms_edov, given_name, family_name)"
                    )));
                }
            }
        }
        Ok(claims)
    }
}

/// A client secret: the value the app sends, the id the portal shows, and its expiry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSecret {
    pub id: Uuid,
    pub value: String,
    #[serde(deserialize_with = "rfc3339")]
    pub expires: OffsetDateTime,
}

fn rfc3339<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
    let text = String::deserialize(deserializer)?;
    OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| serde::de::Error::custom(format!("`{text}` is not an RFC 3339 time: {e}")))
}

/// An app registration (and, implicitly, its consented service principal in every tenant it
/// may sign users in from).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRegistration {
    pub client_id: Uuid,
    pub display_name: String,
    pub home_tenant: Uuid,
    #[serde(default)]
    pub sign_in_audience: SignInAudience,
    /// Web platform redirect URIs, matched exactly (loopback ports aside).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default, rename = "secrets")]
    pub client_secrets: Vec<ClientSecret>,
    /// Microsoft Graph delegated permissions with consent granted, e.g. `User.Read`.
    #[serde(default = "default_delegated_permissions")]
    pub delegated_permissions: Vec<String>,
    #[serde(default)]
    pub optional_claims: OptionalClaims,
    /// Multi-tenant apps created since June 2023 drop `email` claims whose domain the user's
    /// tenant has not verified; `false` models an older app (the nOAuth-prone configuration).
    #[serde(default = "yes")]
    pub remove_unverified_email_claim: bool,
}

fn default_delegated_permissions() -> Vec<String> {
    vec!["User.Read".to_owned()]
}

fn yes() -> bool {
    true
}

/// Why a directory was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("tenant id {0} is used twice")]
    DuplicateTenant(Uuid),
    #[error("tenant name `{0}` is used twice")]
    DuplicateTenantName(String),
    #[error("domain `{0}` is verified in two tenants; a domain can be verified in one tenant only")]
    DuplicateDomain(String),
    #[error("object id {0} is used twice")]
    DuplicateObjectId(Uuid),
    #[error("user principal name `{0}` is used twice in tenant {1}")]
    DuplicateUpn(String, Uuid),
    #[error("user principal name `{upn}` must look like alias@domain")]
    MalformedUpn { upn: String },
    #[error(
        "user principal name `{upn}` uses domain `{domain}`, which is not a verified domain of tenant {tenant}"
    )]
    UnverifiedUpnDomain {
        upn: String,
        domain: String,
        tenant: Uuid,
    },
    #[error(
        "guest {guest} refers to a home account {home_user} in tenant {home_tenant} that does not exist or is itself a guest"
    )]
    UnknownGuestHome {
        guest: Uuid,
        home_tenant: Uuid,
        home_user: Uuid,
    },
    #[error("guest {0} is invited into its own home tenant")]
    GuestOfOwnTenant(Uuid),
    #[error("app {0}: client id is used twice")]
    DuplicateApp(Uuid),
    #[error("app {client_id}: home tenant {tenant} does not exist")]
    UnknownHomeTenant { client_id: Uuid, tenant: Uuid },
    #[error("app {client_id}: redirect URI `{uri}` refused: {reason}")]
    InvalidRedirectUri {
        client_id: Uuid,
        uri: String,
        reason: &'static str,
    },
    #[error("app {0} is not registered")]
    UnknownApp(String),
    #[error("app {0}: a client secret has an empty value")]
    EmptySecret(Uuid),
}

impl Tenant {
    /// `{name}.onmicrosoft.com`, verified from the tenant's creation.
    pub fn initial_domain(&self) -> String {
        format!("{}.onmicrosoft.com", self.name)
    }

    pub fn is_verified_domain(&self, domain: &str) -> bool {
        domain.eq_ignore_ascii_case(&self.initial_domain())
            || self
                .verified_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(domain))
    }

    pub fn user(&self, id: Uuid) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }
}

impl User {
    /// A member with the given object id, UPN and display name; `mail` is the UPN, as when an
    /// admin creates a licensed user with a mailbox.
    pub fn member(id: Uuid, upn: &str, display_name: &str) -> Self {
        User {
            id,
            user_principal_name: upn.to_owned(),
            display_name: display_name.to_owned(),
            given_name: None,
            surname: None,
            mail: Some(upn.to_owned()),
            job_title: None,
            business_phones: Vec::new(),
            mobile_phone: None,
            office_location: None,
            preferred_language: None,
            disabled: false,
            guest_of: None,
        }
    }

    pub fn is_guest(&self) -> bool {
        self.guest_of.is_some()
    }
}

impl AppRegistration {
    pub fn grants_user_read(&self) -> bool {
        self.delegated_permissions
            .iter()
            .any(|p| p.eq_ignore_ascii_case("User.Read"))
    }

    /// Grants or revokes admin consent for Graph `User.Read`.
    pub fn set_user_read_granted(&mut self, granted: bool) {
        self.delegated_permissions
            .retain(|p| !p.eq_ignore_ascii_case("User.Read"));
        if granted {
            self.delegated_permissions.push("User.Read".to_owned());
        }
    }

    /// Registers another Web redirect URI, with the portal's validation.
    pub fn add_redirect_uri(&mut self, uri: &str) -> Result<(), DirectoryError> {
        validate_redirect_uri(uri).map_err(|reason| DirectoryError::InvalidRedirectUri {
            client_id: self.client_id,
            uri: uri.to_owned(),
            reason,
        })?;
        if !self.redirect_uris.iter().any(|u| u == uri) {
            self.redirect_uris.push(uri.to_owned());
        }
        Ok(())
    }

    /// Makes every client secret of the app expire at `at`.
    pub fn expire_secrets(&mut self, at: OffsetDateTime) {
        for secret in &mut self.client_secrets {
            secret.expires = at;
        }
    }

    pub fn is_multi_tenant(&self) -> bool {
        self.sign_in_audience == SignInAudience::AzureAdMultipleOrgs
    }
}

/// The registration rules for Web redirect URIs: https, except `http` for loopback hosts;
/// no wildcards; at most 256 characters; none of `! $ ' ( ) , ;`.
pub(crate) fn validate_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.len() > 256 {
        return Err("longer than 256 characters");
    }
    if uri.contains('*') {
        return Err("wildcards are not supported");
    }
    if uri.chars().any(|c| "!$'(),;".contains(c)) {
        return Err("contains one of the characters ! $ ' ( ) , ;");
    }
    let parsed = url::Url::parse(uri).map_err(|_| "not an absolute URI")?;
    if parsed.fragment().is_some() {
        return Err("fragments are not allowed");
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if parsed.host_str().is_some_and(is_loopback_host) => Ok(()),
        "http" => Err("http is only allowed for localhost, 127.0.0.1 and *.localhost"),
        _ => Err("scheme must be https (or http for a loopback host)"),
    }
}

/// `*.localhost` is the emulator's deliberate extension so the demo's per-workspace hosts work.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host == "127.0.0.1" || host.ends_with(".localhost")
}

impl Directory {
    /// An empty directory; add tenants and apps, then hand it to the builder.
    pub fn new() -> Self {
        Directory::default()
    }

    /// Checks the invariants Entra enforces, so a config can't describe an impossible tenant.
    pub fn validate(&self) -> Result<(), DirectoryError> {
        let mut tenant_ids = HashSet::new();
        let mut names = HashSet::new();
        let mut domains = HashSet::new();
        let mut object_ids = HashSet::new();
        for tenant in &self.tenants {
            if !tenant_ids.insert(tenant.id) {
                return Err(DirectoryError::DuplicateTenant(tenant.id));
            }
            if !names.insert(tenant.name.to_ascii_lowercase()) {
                return Err(DirectoryError::DuplicateTenantName(tenant.name.clone()));
            }
            for domain in tenant
                .verified_domains
                .iter()
                .cloned()
                .chain([tenant.initial_domain()])
            {
                if !domains.insert(domain.to_ascii_lowercase()) {
                    return Err(DirectoryError::DuplicateDomain(domain));
                }
            }
            let mut upns = HashSet::new();
            for user in &tenant.users {
                if !object_ids.insert(user.id) {
                    return Err(DirectoryError::DuplicateObjectId(user.id));
                }
                let upn = &user.user_principal_name;
                if !upns.insert(upn.to_ascii_lowercase()) {
                    return Err(DirectoryError::DuplicateUpn(upn.clone(), tenant.id));
                }
                let Some((alias, domain)) = upn.rsplit_once('@') else {
                    return Err(DirectoryError::MalformedUpn { upn: upn.clone() });
                };
                if alias.is_empty() || domain.is_empty() {
                    return Err(DirectoryError::MalformedUpn { upn: upn.clone() });
                }
                if !tenant.is_verified_domain(domain) {
                    return Err(DirectoryError::UnverifiedUpnDomain {
                        upn: upn.clone(),
                        domain: domain.to_owned(),
                        tenant: tenant.id,
                    });
                }
            }
        }
        for tenant in &self.tenants {
            for user in &tenant.users {
                let Some(home) = user.guest_of else { continue };
                if home.tenant == tenant.id {
                    return Err(DirectoryError::GuestOfOwnTenant(user.id));
                }
                let exists = self
                    .tenant(home.tenant)
                    .and_then(|t| t.user(home.user))
                    .is_some_and(|u| !u.is_guest());
                if !exists {
                    return Err(DirectoryError::UnknownGuestHome {
                        guest: user.id,
                        home_tenant: home.tenant,
                        home_user: home.user,
                    });
                }
            }
        }
        let mut client_ids = HashSet::new();
        for app in &self.apps {
            if !client_ids.insert(app.client_id) {
                return Err(DirectoryError::DuplicateApp(app.client_id));
            }
            if self.tenant(app.home_tenant).is_none() {
                return Err(DirectoryError::UnknownHomeTenant {
                    client_id: app.client_id,
                    tenant: app.home_tenant,
                });
            }
            for uri in &app.redirect_uris {
                validate_redirect_uri(uri).map_err(|reason| {
                    DirectoryError::InvalidRedirectUri {
                        client_id: app.client_id,
                        uri: uri.clone(),
                        reason,
                    }
                })?;
            }
            if app.client_secrets.iter().any(|s| s.value.is_empty()) {
                return Err(DirectoryError::EmptySecret(app.client_id));
            }
        }
        Ok(())
    }

    pub fn tenant(&self, id: Uuid) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.id == id)
    }

    pub fn tenant_mut(&mut self, id: Uuid) -> Option<&mut Tenant> {
        self.tenants.iter_mut().find(|t| t.id == id)
    }

    /// The tenant that has verified `domain` (custom or `*.onmicrosoft.com`).
    pub fn tenant_by_domain(&self, domain: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.is_verified_domain(domain))
    }

    /// The app with this client id (a GUID string, any case).
    pub fn app(&self, client_id: &str) -> Option<&AppRegistration> {
        let id = Uuid::parse_str(client_id).ok()?;
        self.apps.iter().find(|a| a.client_id == id)
    }

    pub fn app_mut(&mut self, client_id: &str) -> Option<&mut AppRegistration> {
        let id = Uuid::parse_str(client_id).ok()?;
        self.apps.iter_mut().find(|a| a.client_id == id)
    }

    /// The user (member or guest object) whose UPN is `upn`, case-insensitively.
    pub fn user_by_upn(&self, upn: &str) -> Option<&User> {
        self.tenants
            .iter()
            .flat_map(|t| t.users.iter())
            .find(|u| u.user_principal_name.eq_ignore_ascii_case(upn))
    }

    pub fn user_by_upn_mut(&mut self, upn: &str) -> Option<&mut User> {
        self.tenants
            .iter_mut()
            .flat_map(|t| t.users.iter_mut())
            .find(|u| u.user_principal_name.eq_ignore_ascii_case(upn))
    }

    pub fn user_mut(&mut self, id: Uuid) -> Option<&mut User> {
        self.tenants
            .iter_mut()
            .flat_map(|t| t.users.iter_mut())
            .find(|u| u.id == id)
    }

    /// Adds a redirect URI to a registered app (the product registers its callback at start).
    pub fn add_redirect_uri(&mut self, client_id: &str, uri: &str) -> Result<(), DirectoryError> {
        self.app_mut(client_id)
            .ok_or_else(|| DirectoryError::UnknownApp(client_id.to_owned()))?
            .add_redirect_uri(uri)
    }

    /// The tenant holding the object `id`, with the object.
    pub(crate) fn locate(&self, id: Uuid) -> Option<(&Tenant, &User)> {
        self.tenants.iter().find_map(|t| t.user(id).map(|u| (t, u)))
    }

    /// Accounts a browser could sign in with: every member, in directory order.
    pub(crate) fn home_accounts(&self) -> impl Iterator<Item = (&Tenant, &User)> {
        self.tenants.iter().flat_map(|t| {
            t.users
                .iter()
                .filter(|u| !u.is_guest())
                .map(move |u| (t, u))
        })
    }
}
