//! What the Google emulator signs people in from: Google accounts (Workspace or consumer) and
//! OAuth clients. It deserializes straight from the TOML config (see `config.rs`).

use std::collections::HashSet;

use serde::Deserialize;

use crate::directory::validate_redirect_uri;

/// Everything the Google emulator knows: accounts and OAuth clients.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleDirectory {
    #[serde(default)]
    pub accounts: Vec<GoogleAccount>,
    #[serde(default)]
    pub clients: Vec<GoogleClient>,
}

/// A Google account. With `hd` it belongs to a Google Workspace (Cloud Identity)
/// organisation; without it, it is a consumer account (Gmail or "use my existing email").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleAccount {
    /// The stable identifier: up to 21 decimal digits, never reused.
    pub sub: String,
    pub email: String,
    /// Whether Google verified that the person controls `email`.
    #[serde(default = "yes")]
    pub email_verified: bool,
    /// The organisation's domain, set only for Workspace accounts: the `hd` claim.
    #[serde(default)]
    pub hd: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    #[serde(default)]
    pub picture: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
}

fn yes() -> bool {
    true
}

/// An OAuth 2.0 client ("Web application") of a Google Cloud project.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleClient {
    /// `<project number>-<32 characters>.apps.googleusercontent.com`.
    pub client_id: String,
    /// `GOCSPX-…`.
    pub client_secret: String,
    /// The app name the account picker shows ("to continue to …").
    pub name: String,
    /// Authorized redirect URIs, matched exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

/// Why a Google directory was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoogleDirectoryError {
    #[error("account `{0}`: sub must be 1 to 21 decimal digits")]
    MalformedSub(String),
    #[error("sub {0} is used twice")]
    DuplicateSub(String),
    #[error("email `{0}` must look like name@domain")]
    MalformedEmail(String),
    #[error("email `{0}` is used twice")]
    DuplicateEmail(String),
    #[error("account `{email}`: hd `{hd}` is not a domain name")]
    MalformedHd { email: String, hd: String },
    #[error(
        "account `{0}`: a Workspace account (with hd) has a verified email; set email_verified = true or remove hd"
    )]
    UnverifiedWorkspaceEmail(String),
    #[error("client id `{0}` must end with .apps.googleusercontent.com")]
    MalformedClientId(String),
    #[error("client id `{0}` is used twice")]
    DuplicateClient(String),
    #[error("client `{0}` has an empty client secret")]
    EmptySecret(String),
    #[error("client `{client_id}`: redirect URI `{uri}` refused: {reason}")]
    InvalidRedirectUri {
        client_id: String,
        uri: String,
        reason: &'static str,
    },
    #[error("client `{0}` is not registered")]
    UnknownClient(String),
}

impl GoogleAccount {
    /// A consumer account with a verified email and a display name.
    pub fn new(sub: &str, email: &str, name: &str) -> Self {
        GoogleAccount {
            sub: sub.to_owned(),
            email: email.to_owned(),
            email_verified: true,
            hd: None,
            name: Some(name.to_owned()),
            given_name: None,
            family_name: None,
            picture: None,
            locale: None,
        }
    }

    /// A Google Workspace account of the organisation whose domain is `hd`.
    pub fn workspace(sub: &str, email: &str, hd: &str, name: &str) -> Self {
        GoogleAccount {
            hd: Some(hd.to_owned()),
            ..GoogleAccount::new(sub, email, name)
        }
    }

    pub fn is_workspace(&self) -> bool {
        self.hd.is_some()
    }

    /// The name the picker shows.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.email)
    }
}

impl GoogleClient {
    pub fn new(client_id: &str, client_secret: &str, name: &str) -> Self {
        GoogleClient {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            name: name.to_owned(),
            redirect_uris: Vec::new(),
        }
    }

    /// Adds an authorized redirect URI (https, or http for a loopback host).
    pub fn add_redirect_uri(&mut self, uri: &str) -> Result<(), GoogleDirectoryError> {
        self.check_redirect_uri(uri)?;
        if !self.redirect_uris.iter().any(|u| u == uri) {
            self.redirect_uris.push(uri.to_owned());
        }
        Ok(())
    }

    fn check_redirect_uri(&self, uri: &str) -> Result<(), GoogleDirectoryError> {
        validate_redirect_uri(uri).map_err(|reason| GoogleDirectoryError::InvalidRedirectUri {
            client_id: self.client_id.clone(),
            uri: uri.to_owned(),
            reason,
        })
    }
}

fn is_domain(text: &str) -> bool {
    text.contains('.')
        && !text.starts_with('.')
        && !text.ends_with('.')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

impl GoogleDirectory {
    pub fn new() -> Self {
        GoogleDirectory::default()
    }

    /// Checks what Google itself guarantees, so a config can't describe an impossible account.
    pub fn validate(&self) -> Result<(), GoogleDirectoryError> {
        let mut subs = HashSet::new();
        let mut emails = HashSet::new();
        for account in &self.accounts {
            let sub = &account.sub;
            if sub.is_empty() || sub.len() > 21 || !sub.bytes().all(|b| b.is_ascii_digit()) {
                return Err(GoogleDirectoryError::MalformedSub(account.email.clone()));
            }
            if !subs.insert(sub.clone()) {
                return Err(GoogleDirectoryError::DuplicateSub(sub.clone()));
            }
            let well_formed = account
                .email
                .rsplit_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && is_domain(domain));
            if !well_formed {
                return Err(GoogleDirectoryError::MalformedEmail(account.email.clone()));
            }
            if !emails.insert(account.email.to_ascii_lowercase()) {
                return Err(GoogleDirectoryError::DuplicateEmail(account.email.clone()));
            }
            if let Some(hd) = &account.hd {
                if !is_domain(hd) {
                    return Err(GoogleDirectoryError::MalformedHd {
                        email: account.email.clone(),
                        hd: hd.clone(),
                    });
                }
                if !account.email_verified {
                    return Err(GoogleDirectoryError::UnverifiedWorkspaceEmail(
                        account.email.clone(),
                    ));
                }
            }
        }
        let mut ids = HashSet::new();
        for client in &self.clients {
            let id = &client.client_id;
            let prefix = id.strip_suffix(".apps.googleusercontent.com");
            if prefix.is_none_or(|p| p.is_empty() || p.contains(['/', '?', '#', ' '])) {
                return Err(GoogleDirectoryError::MalformedClientId(id.clone()));
            }
            if !ids.insert(id.clone()) {
                return Err(GoogleDirectoryError::DuplicateClient(id.clone()));
            }
            if client.client_secret.is_empty() {
                return Err(GoogleDirectoryError::EmptySecret(id.clone()));
            }
            for uri in &client.redirect_uris {
                client.check_redirect_uri(uri)?;
            }
        }
        Ok(())
    }

    /// The account whose email is `email`, case-insensitively.
    pub fn account_by_email(&self, email: &str) -> Option<&GoogleAccount> {
        self.accounts
            .iter()
            .find(|a| a.email.eq_ignore_ascii_case(email))
    }

    pub fn account_by_email_mut(&mut self, email: &str) -> Option<&mut GoogleAccount> {
        self.accounts
            .iter_mut()
            .find(|a| a.email.eq_ignore_ascii_case(email))
    }

    pub fn account(&self, sub: &str) -> Option<&GoogleAccount> {
        self.accounts.iter().find(|a| a.sub == sub)
    }

    /// The account a `login_hint` names: an email address or a `sub`.
    pub fn account_by_hint(&self, hint: &str) -> Option<&GoogleAccount> {
        self.account_by_email(hint).or_else(|| self.account(hint))
    }

    pub fn client(&self, client_id: &str) -> Option<&GoogleClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    pub fn client_mut(&mut self, client_id: &str) -> Option<&mut GoogleClient> {
        self.clients.iter_mut().find(|c| c.client_id == client_id)
    }

    /// Adds an authorized redirect URI to a registered client.
    pub fn add_redirect_uri(
        &mut self,
        client_id: &str,
        uri: &str,
    ) -> Result<(), GoogleDirectoryError> {
        self.client_mut(client_id)
            .ok_or_else(|| GoogleDirectoryError::UnknownClient(client_id.to_owned()))?
            .add_redirect_uri(uri)
    }
}
