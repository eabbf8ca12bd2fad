//! Typed values, parsed once at the edge and trusted inside.

mod email;
mod google;
mod microsoft;
mod names;
mod return_to;
mod role;
mod slug;

pub use email::{EmailAddress, EmailDomain, ParseEmailError};
pub use google::{
    GoogleClientId, ParseGoogleSettingError, check_google_client_secret, parse_google_redirect_uri,
};
pub use microsoft::{
    ClientId, ParseSettingError, RedirectUri, TenantGuid, TenantSetting, check_client_secret,
};
pub use names::{ParseNameError, PersonName};
pub use return_to::ReturnTo;
pub use role::{ParseRoleError, ParseStatusError, Role, UserStatus};
pub use slug::{ParseSlugError, WorkspaceSlug};

/// A user's id: a UUID minted by the product, stored as text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
    /// Ids come from our own database or from a URL; a malformed one is simply not found.
    pub fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::parse_str(s).ok().map(|u| Self(u.to_string()))
    }
    pub fn from_db(s: String) -> Self {
        Self(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A workspace's id: a UUID, stored as text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WorkspaceId(String);

impl WorkspaceId {
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
    pub fn from_db(s: String) -> Self {
        Self(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for WorkspaceId {
    fn default() -> Self {
        Self::new()
    }
}
