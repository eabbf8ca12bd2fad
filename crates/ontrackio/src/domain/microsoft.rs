//! Values of the Microsoft Entra ID settings card, each parsed once with the message the
//! card shows next to its field.

use std::fmt;

/// Why a value of the Microsoft Entra ID card was refused; the text is shown next to its
/// field (and names the variable when it came from the environment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseSettingError {
    #[error(
        "Enter the Directory (tenant) ID from the app's Overview page (a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47), or common."
    )]
    Tenant,
    #[error(
        "Enter the Application (client) ID from the app's Overview page: a GUID like 6e74172b-be56-4843-9ff4-e66a39bb12e3."
    )]
    ClientId,
    #[error(
        "This looks like the secret ID, not its Value. In Entra, copy the Value column of the client secret."
    )]
    SecretId,
    #[error("Paste the client secret Value exactly as Entra shows it (no spaces).")]
    SecretValue,
    #[error(
        "Enter an absolute https:// URL (http:// only for localhost), exactly as registered in Entra."
    )]
    RedirectUri,
}

/// A GUID in Microsoft's canonical lower-case, hyphenated form.
fn parse_guid(input: &str) -> Option<String> {
    let s = input.trim();
    // Exactly 8-4-4-4-12 hex digits: uuid would also take braces, URNs and "simple" forms,
    // which Entra never shows and which would make two spellings of one id.
    let shape = s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    shape.then(|| s.to_ascii_lowercase())
}

/// A directory (tenant) id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TenantGuid(String);

impl TenantGuid {
    pub fn parse(input: &str) -> Option<Self> {
        parse_guid(input).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantGuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The card's Directory (tenant) ID: one directory, or `common` for any directory (then
/// the email-domain allowlist is the boundary).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantSetting {
    Common,
    Pinned(TenantGuid),
}

impl TenantSetting {
    pub fn parse(input: &str) -> Result<Self, ParseSettingError> {
        let s = input.trim();
        if s.eq_ignore_ascii_case("common") {
            return Ok(Self::Common);
        }
        TenantGuid::parse(s)
            .map(Self::Pinned)
            .ok_or(ParseSettingError::Tenant)
    }
    /// The path segment in Microsoft's URLs.
    pub fn segment(&self) -> &str {
        match self {
            Self::Common => "common",
            Self::Pinned(g) => g.as_str(),
        }
    }
    pub fn pinned(&self) -> Option<&TenantGuid> {
        match self {
            Self::Common => None,
            Self::Pinned(g) => Some(g),
        }
    }
}

impl fmt::Display for TenantSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.segment())
    }
}

/// An Application (client) ID.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(input: &str) -> Result<Self, ParseSettingError> {
        parse_guid(input)
            .map(Self)
            .ok_or(ParseSettingError::ClientId)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client secret *value* as pasted. Refuses the secret's ID, which Entra shows right
/// beside the value and which people paste by mistake (AADSTS7000215 later).
pub fn check_client_secret(input: &str) -> Result<(), ParseSettingError> {
    let s = input.trim();
    if parse_guid(s).is_some() {
        return Err(ParseSettingError::SecretId);
    }
    if s.len() < 16 || s.len() > 512 || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ParseSettingError::SecretValue);
    }
    Ok(())
}

/// A redirect URI as registered in Entra: absolute https, or http for loopback hosts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(input: &str) -> Result<Self, ParseSettingError> {
        const MSG: ParseSettingError = ParseSettingError::RedirectUri;
        let s = input.trim();
        let url = url::Url::parse(s).map_err(|_| MSG)?;
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(_)) | None => false,
        };
        let ok_scheme = url.scheme() == "https" || (url.scheme() == "http" && loopback);
        if !ok_scheme || url.fragment().is_some() || !url.username().is_empty() || s.len() > 256 {
            return Err(MSG);
        }
        Ok(Self(s.to_string()))
    }
    /// Built by the product itself (the default), so known to be valid.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_are_a_guid_or_common() {
        assert_eq!(TenantSetting::parse(" Common "), Ok(TenantSetting::Common));
        let t = TenantSetting::parse("72F988BF-86F1-41AF-91AB-2D7CD011DB47").unwrap();
        assert_eq!(t.segment(), "72f988bf-86f1-41af-91ab-2d7cd011db47");
        for bad in [
            "",
            "organizations",
            "contoso.onmicrosoft.com",
            "{72f988bf-86f1-41af-91ab-2d7cd011db47}",
            "72f988bf86f141af91ab2d7cd011db47",
            "72f988bf-86f1-41af-91ab-2d7cd011db4g",
        ] {
            assert!(TenantSetting::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_ids_are_guids() {
        assert!(ClientId::parse("6e74172b-be56-4843-9ff4-e66a39bb12e3").is_ok());
        assert!(ClientId::parse("OnTrackio ITAM").is_err());
    }

    #[test]
    fn a_guid_shaped_secret_is_the_secret_id_not_its_value() {
        assert_eq!(
            check_client_secret("6e74172b-be56-4843-9ff4-e66a39bb12e3"),
            Err(ParseSettingError::SecretId)
        );
        assert!(
            ParseSettingError::SecretId
                .to_string()
                .contains("secret ID")
        );
        assert!(check_client_secret("Qx88Q~abcdefghijklmnopqrstuvwxyz0123456789").is_ok());
        assert_eq!(
            check_client_secret("short"),
            Err(ParseSettingError::SecretValue)
        );
        assert_eq!(
            check_client_secret("has space in the middle of it"),
            Err(ParseSettingError::SecretValue)
        );
    }

    #[test]
    fn redirect_uris_are_https_or_loopback_http() {
        assert!(
            RedirectUri::parse("https://acme.app.ontrackio.com/auth/microsoft/callback").is_ok()
        );
        assert!(RedirectUri::parse("http://acme.localhost:8080/auth/microsoft/callback").is_ok());
        assert!(RedirectUri::parse("http://127.0.0.1:8080/cb").is_ok());
        for bad in [
            "http://acme.app.ontrackio.com/cb",
            "/auth/microsoft/callback",
            "ftp://x.test/cb",
            "https://x.test/cb#frag",
            "javascript:alert(1)",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }
}
