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
    /// Enterprise applications using SAML single sign-on.
    #[serde(default)]
    pub saml_apps: Vec<crate::saml::SamlApp>,
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
    /// Groups (security groups, distribution lists, Microsoft 365 groups) of this tenant.
    #[serde(default)]
    pub groups: Vec<Group>,
}

/// A group object in a tenant. Members are listed on the user (`User::groups`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The object id, emitted in the `groups` claim.
    pub id: Uuid,
    pub display_name: String,
    /// A security group (Graph `securityEnabled`); `false` for a distribution list or a
    /// Microsoft 365 group without security.
    #[serde(default = "yes")]
    pub security_enabled: bool,
    #[serde(default)]
    pub mail_enabled: bool,
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
    /// Object ids of the groups (of this user's tenant) the user is a direct member of.
    #[serde(default)]
    pub groups: Vec<Uuid>,
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
    /// The manifest's `appRoles`.
    #[serde(default)]
    pub app_roles: Vec<AppRole>,
    /// Who holds which app role (the enterprise application's "Users and groups"): users and
    /// groups, in any tenant the app is used in.
    #[serde(default)]
    pub role_assignments: Vec<AppRoleAssignment>,
    /// The manifest's `groupMembershipClaims`: which groups the `groups` claim lists.
    #[serde(default)]
    pub group_membership_claims: GroupMembershipClaims,
}

/// An app role the app declares (manifest `appRoles`, Graph `appRole`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRole {
    pub id: Uuid,
    /// What the `roles` claim carries, e.g. `Admin`. No spaces.
    pub value: String,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    /// `User` (users and groups) and/or `Application` (other apps' service principals).
    #[serde(default = "user_member_type")]
    pub allowed_member_types: Vec<AllowedMemberType>,
    /// A disabled role can no longer be assigned; those who hold it keep it in their tokens.
    #[serde(default = "yes")]
    pub is_enabled: bool,
}

/// The manifest's `allowedMemberTypes` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AllowedMemberType {
    /// Users and groups.
    User,
    /// Applications (app-only tokens).
    Application,
}

fn user_member_type() -> Vec<AllowedMemberType> {
    vec![AllowedMemberType::User]
}

/// An app role assignment: `principal` (a user or a group object id) holds `role` (the
/// role's `id` or its `value`). A group's direct members hold the role through it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRoleAssignment {
    pub principal: Uuid,
    pub role: String,
}

/// The manifest's `groupMembershipClaims`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum GroupMembershipClaims {
    /// No `groups` claim (the default).
    #[default]
    None,
    /// Security groups the user is a member of.
    SecurityGroup,
    /// Only groups assigned to the application (as principals of a role assignment).
    ApplicationGroup,
    /// Security groups, distribution lists and Microsoft 365 groups.
    All,
}

/// Entra's limit on the `groups` claim of a JWT: above it, the overage claim replaces it.
pub const JWT_GROUPS_LIMIT: usize = 200;

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
    #[error("app {client_id}: app role `{role}` is declared twice (ids and values must be unique)")]
    DuplicateAppRole { client_id: Uuid, role: String },
    #[error("app {client_id}: app role value `{value}` must be non-empty and contain no spaces")]
    InvalidAppRoleValue { client_id: Uuid, value: String },
    #[error("app {client_id}: no app role has the id or value `{role}`")]
    UnknownAppRole { client_id: Uuid, role: String },
    #[error("app {client_id}: app role `{role}` is not assignable to users and groups")]
    AppRoleNotForUsers { client_id: Uuid, role: String },
    #[error("app {client_id}: app role `{role}` is disabled and can no longer be assigned")]
    AppRoleDisabled { client_id: Uuid, role: String },
    #[error("app {client_id}: the assignee {principal} is neither a user nor a group")]
    UnknownAssignee { client_id: Uuid, principal: Uuid },
    #[error("app {client_id}: {principal} already holds app role `{role}`")]
    DuplicateAssignment {
        client_id: Uuid,
        principal: Uuid,
        role: String,
    },
    #[error("user {user} is a member of group {group}, which is not a group of the user's tenant")]
    UnknownGroup { user: Uuid, group: Uuid },
    #[error("no user has the object id or user principal name `{0}`")]
    UnknownUser(String),
    #[error("SAML app {app_id}: {reason}")]
    InvalidSamlApp { app_id: Uuid, reason: String },
    #[error("SAML identifier `{identifier}` is used by two apps of tenant {tenant}")]
    DuplicateSamlIdentifier { identifier: String, tenant: Uuid },
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

    pub fn group(&self, id: Uuid) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// Adds a group to the tenant (checked when the directory is validated).
    pub fn add_group(&mut self, group: Group) -> &mut Self {
        self.groups.push(group);
        self
    }
}

impl Group {
    /// A security group (`securityEnabled: true`, not mail-enabled).
    pub fn security(id: Uuid, display_name: &str) -> Self {
        Group {
            id,
            display_name: display_name.to_owned(),
            security_enabled: true,
            mail_enabled: false,
        }
    }

    /// A distribution list (mail-enabled, not a security group): only `All` emits it.
    pub fn distribution(id: Uuid, display_name: &str) -> Self {
        Group {
            id,
            display_name: display_name.to_owned(),
            security_enabled: false,
            mail_enabled: true,
        }
    }
}

impl AppRole {
    /// An enabled role assignable to users and groups.
    pub fn new(id: Uuid, value: &str, display_name: &str) -> Self {
        AppRole {
            id,
            value: value.to_owned(),
            display_name: display_name.to_owned(),
            description: String::new(),
            allowed_member_types: user_member_type(),
            is_enabled: true,
        }
    }

    fn for_users(&self) -> bool {
        self.allowed_member_types.contains(&AllowedMemberType::User)
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
            groups: Vec::new(),
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

    /// The declared role whose `id` or `value` is `role`.
    pub fn app_role(&self, role: &str) -> Option<&AppRole> {
        self.app_roles
            .iter()
            .find(|r| r.value == role || Uuid::parse_str(role).is_ok_and(|id| id == r.id))
    }

    /// Declares an app role (checked when the directory is validated).
    pub fn add_app_role(&mut self, role: AppRole) -> &mut Self {
        self.app_roles.push(role);
        self
    }

    /// Assigns `role` (id or value) to a user or group object (checked when the directory is
    /// validated).
    pub fn assign_app_role(&mut self, principal: Uuid, role: &str) -> &mut Self {
        self.role_assignments.push(AppRoleAssignment {
            principal,
            role: role.to_owned(),
        });
        self
    }

    /// Replaces the roles assigned to `principal` directly (not through a group).
    pub fn set_app_roles(&mut self, principal: Uuid, roles: &[&str]) -> &mut Self {
        self.role_assignments.retain(|a| a.principal != principal);
        for role in roles {
            self.assign_app_role(principal, role);
        }
        self
    }

    /// The `roles` claim for `user`: the values of the roles assigned to the user or to a
    /// group the user is a direct member of, in the order the app declares them. A disabled
    /// role still counts for those who held it ("Any previous assignees will still have the
    /// app role included in their tokens"); it just can't be assigned any more.
    pub fn roles_of(&self, user: &User) -> Vec<String> {
        let holders =
            |a: &&AppRoleAssignment| a.principal == user.id || user.groups.contains(&a.principal);
        let held: Vec<Uuid> = self
            .role_assignments
            .iter()
            .filter(holders)
            .filter_map(|a| self.app_role(&a.role).map(|r| r.id))
            .collect();
        self.app_roles
            .iter()
            .filter(|r| held.contains(&r.id))
            .map(|r| r.value.clone())
            .collect()
    }

    fn validate_roles(&self, directory: &Directory) -> Result<(), DirectoryError> {
        let client_id = self.client_id;
        let mut seen = HashSet::new();
        for role in &self.app_roles {
            if role.value.is_empty() || role.value.chars().any(char::is_whitespace) {
                return Err(DirectoryError::InvalidAppRoleValue {
                    client_id,
                    value: role.value.clone(),
                });
            }
            if !seen.insert(role.id.to_string()) || !seen.insert(role.value.clone()) {
                return Err(DirectoryError::DuplicateAppRole {
                    client_id,
                    role: role.value.clone(),
                });
            }
        }
        let mut assigned = HashSet::new();
        for assignment in &self.role_assignments {
            let Some(role) = self.app_role(&assignment.role) else {
                return Err(DirectoryError::UnknownAppRole {
                    client_id,
                    role: assignment.role.clone(),
                });
            };
            if !role.for_users() {
                return Err(DirectoryError::AppRoleNotForUsers {
                    client_id,
                    role: role.value.clone(),
                });
            }
            if directory.locate(assignment.principal).is_none()
                && directory.locate_group(assignment.principal).is_none()
            {
                return Err(DirectoryError::UnknownAssignee {
                    client_id,
                    principal: assignment.principal,
                });
            }
            if !assigned.insert((assignment.principal, role.id)) {
                return Err(DirectoryError::DuplicateAssignment {
                    client_id,
                    principal: assignment.principal,
                    role: role.value.clone(),
                });
            }
        }
        Ok(())
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
            for group in &tenant.groups {
                if !object_ids.insert(group.id) {
                    return Err(DirectoryError::DuplicateObjectId(group.id));
                }
            }
            let mut upns = HashSet::new();
            for user in &tenant.users {
                if let Some(group) = user.groups.iter().find(|g| tenant.group(**g).is_none()) {
                    return Err(DirectoryError::UnknownGroup {
                        user: user.id,
                        group: *group,
                    });
                }
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
            app.validate_roles(self)?;
        }
        self.validate_saml_apps(&client_ids)
    }

    /// Entra's rules for SAML apps: ids unique (also against app registrations), identifiers
    /// unique within a tenant, at least one identifier and reply URL, reply URLs https (or
    /// loopback http).
    fn validate_saml_apps(&self, client_ids: &HashSet<Uuid>) -> Result<(), DirectoryError> {
        let mut ids = HashSet::new();
        let mut identifiers = HashSet::new();
        for app in &self.saml_apps {
            let invalid = |reason: &str| DirectoryError::InvalidSamlApp {
                app_id: app.app_id,
                reason: reason.to_owned(),
            };
            if client_ids.contains(&app.app_id) || !ids.insert(app.app_id) {
                return Err(DirectoryError::DuplicateApp(app.app_id));
            }
            if self.tenant(app.tenant).is_none() {
                return Err(invalid("its tenant does not exist"));
            }
            if app.identifiers.is_empty() || app.identifiers.iter().any(String::is_empty) {
                return Err(invalid(
                    "it needs at least one non-empty identifier (entity id)",
                ));
            }
            if app.reply_urls.is_empty() {
                return Err(invalid("it needs at least one reply URL"));
            }
            for identifier in &app.identifiers {
                if !identifiers.insert((app.tenant, identifier.clone())) {
                    return Err(DirectoryError::DuplicateSamlIdentifier {
                        identifier: identifier.clone(),
                        tenant: app.tenant,
                    });
                }
            }
            for uri in &app.reply_urls {
                validate_redirect_uri(uri).map_err(|reason| {
                    DirectoryError::InvalidRedirectUri {
                        client_id: app.app_id,
                        uri: uri.clone(),
                        reason,
                    }
                })?;
            }
        }
        Ok(())
    }

    /// The SAML app of `tenant` whose identifier is `identifier` (exact match).
    pub fn saml_app(&self, tenant: Uuid, identifier: &str) -> Option<&crate::saml::SamlApp> {
        self.saml_apps
            .iter()
            .find(|a| a.tenant == tenant && a.identifiers.iter().any(|i| i == identifier))
    }

    /// The SAML app with this application id.
    pub fn saml_app_by_id(&self, app_id: Uuid) -> Option<&crate::saml::SamlApp> {
        self.saml_apps.iter().find(|a| a.app_id == app_id)
    }

    pub fn saml_app_mut(&mut self, app_id: Uuid) -> Option<&mut crate::saml::SamlApp> {
        self.saml_apps.iter_mut().find(|a| a.app_id == app_id)
    }

    /// Adds a SAML app (checked when the directory is validated).
    pub fn add_saml_app(&mut self, app: crate::saml::SamlApp) -> &mut Self {
        self.saml_apps.push(app);
        self
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

    /// The user whose object id (a GUID) or user principal name is `user`.
    pub fn find_user(&self, user: &str) -> Option<&User> {
        match Uuid::parse_str(user) {
            Ok(id) => self.locate(id).map(|(_, u)| u),
            Err(_) => self.user_by_upn(user),
        }
    }

    /// Replaces the app roles assigned directly to `user` (object id or UPN) in app
    /// `client_id`; `roles` are role values or ids. Validate the directory afterwards (the
    /// handle's `set_app_roles` does).
    pub fn set_app_roles(
        &mut self,
        client_id: &str,
        user: &str,
        roles: &[&str],
    ) -> Result<(), DirectoryError> {
        let id = self
            .find_user(user)
            .ok_or_else(|| DirectoryError::UnknownUser(user.to_owned()))?
            .id;
        let app = self
            .app_mut(client_id)
            .ok_or_else(|| DirectoryError::UnknownApp(client_id.to_owned()))?;
        for role in roles {
            let Some(declared) = app.app_role(role) else {
                continue; // validation names it
            };
            let held = app.role_assignments.iter().any(|a| {
                a.principal == id && app.app_role(&a.role).is_some_and(|r| r.id == declared.id)
            });
            if !declared.is_enabled && !held {
                return Err(DirectoryError::AppRoleDisabled {
                    client_id: app.client_id,
                    role: declared.value.clone(),
                });
            }
        }
        app.set_app_roles(id, roles);
        Ok(())
    }

    /// Replaces the groups `user` (object id or UPN) is a direct member of.
    pub fn set_groups(&mut self, user: &str, groups: &[Uuid]) -> Result<(), DirectoryError> {
        let id = self
            .find_user(user)
            .ok_or_else(|| DirectoryError::UnknownUser(user.to_owned()))?
            .id;
        if let Some(u) = self.user_mut(id) {
            u.groups = groups.to_vec();
        }
        Ok(())
    }

    /// The tenant holding the group `id`, with the group.
    pub(crate) fn locate_group(&self, id: Uuid) -> Option<(&Tenant, &Group)> {
        self.tenants
            .iter()
            .find_map(|t| t.group(id).map(|g| (t, g)))
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
