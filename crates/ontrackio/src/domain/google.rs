//! Values of the Google settings card, each parsed once with the message the card shows
//! next to its field.

use std::fmt;

use super::RedirectUri;

/// The suffix of every OAuth client id Google Cloud console issues.
const CLIENT_ID_SUFFIX: &str = ".apps.googleusercontent.com";
/// The prefix of client secrets Google Cloud console has issued since 2022.
const SECRET_PREFIX: &str = "GOCSPX-";

/// Why a value of the Google card was refused; the text is shown next to its field (and
/// names the variable when it came from the environment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseGoogleSettingError {
    #[error(
        "Enter the Client ID from Google Cloud console (APIs & Services → Credentials): it ends in .apps.googleusercontent.com, like 123456789012-abc123def456ghi789.apps.googleusercontent.com."
    )]
    ClientId,
    #[error(
        "This looks like the client secret (it starts with GOCSPX-), not the Client ID. The Client ID ends in .apps.googleusercontent.com."
    )]
    ClientIdIsSecret,
    #[error(
        "This is the Client ID, not the client secret. Paste the Client secret shown beside it in Google Cloud console (it usually starts with GOCSPX-)."
    )]
    SecretIsClientId,
    #[error("Paste the client secret exactly as Google Cloud console shows it (no spaces).")]
    SecretValue,
    #[error(
        "Enter an absolute https:// URL (http:// only for localhost), exactly as listed under Authorized redirect URIs in Google Cloud console."
    )]
    RedirectUri,
}

/// A Google OAuth client id: `{project number}-{id}.apps.googleusercontent.com`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GoogleClientId(String);

impl GoogleClientId {
    pub fn parse(input: &str) -> Result<Self, ParseGoogleSettingError> {
        let s = input.trim();
        if s.starts_with(SECRET_PREFIX) {
            return Err(ParseGoogleSettingError::ClientIdIsSecret);
        }
        // Google writes the suffix in lower case; a pasted upper-case one is the same id.
        let lower_suffix = s.len() > CLIENT_ID_SUFFIX.len()
            && s.is_char_boundary(s.len() - CLIENT_ID_SUFFIX.len())
            && s[s.len() - CLIENT_ID_SUFFIX.len()..].eq_ignore_ascii_case(CLIENT_ID_SUFFIX);
        if !lower_suffix {
            return Err(ParseGoogleSettingError::ClientId);
        }
        let stem = &s[..s.len() - CLIENT_ID_SUFFIX.len()];
        let Some((project, id)) = stem.split_once('-') else {
            return Err(ParseGoogleSettingError::ClientId);
        };
        // The project number, then the id proper: lower-case letters and digits. The `aud`
        // of Google's ID tokens is compared with it byte for byte, so no other spelling.
        let project_ok =
            (1..=20).contains(&project.len()) && project.bytes().all(|b| b.is_ascii_digit());
        let id_ok = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !project_ok || !id_ok {
            return Err(ParseGoogleSettingError::ClientId);
        }
        Ok(Self(format!("{stem}{CLIENT_ID_SUFFIX}")))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GoogleClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Google client secret as pasted. Refuses the Client ID, which the console shows right
/// above the secret and which people paste by mistake (`invalid_client` later).
pub fn check_google_client_secret(input: &str) -> Result<(), ParseGoogleSettingError> {
    let s = input.trim();
    if GoogleClientId::parse(s).is_ok() {
        return Err(ParseGoogleSettingError::SecretIsClientId);
    }
    // Older secrets are 24 characters; today's are "GOCSPX-" and 28 more.
    if s.len() < 16 || s.len() > 512 || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ParseGoogleSettingError::SecretValue);
    }
    Ok(())
}

/// A redirect URI as listed under Authorized redirect URIs: absolute https, or http for
/// loopback hosts (the same rule as every redirect URI, with Google's wording).
pub fn parse_google_redirect_uri(input: &str) -> Result<RedirectUri, ParseGoogleSettingError> {
    RedirectUri::parse(input).map_err(|_| ParseGoogleSettingError::RedirectUri)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `entra_emulator::google::demo::DEMO_CLIENT_ID`, which the demo and tests save.
    const EMULATOR_ID: &str =
        "718254390625-q3v8k1m6x9c2r5t0w4y7b1n8p3s6d9f2.apps.googleusercontent.com";

    #[test]
    fn client_ids_are_a_project_number_an_id_and_googles_suffix() {
        for good in [
            "123456789012-abc123def456ghi789.apps.googleusercontent.com",
            EMULATOR_ID,
            " 1-a.apps.googleusercontent.com\n",
        ] {
            let id = GoogleClientId::parse(good).unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(id.as_str(), good.trim());
        }
        assert_eq!(
            GoogleClientId::parse("123456789012-abc123.APPS.GoogleUserContent.com")
                .unwrap()
                .as_str(),
            "123456789012-abc123.apps.googleusercontent.com"
        );
        for bad in [
            "",
            "123456789012",
            "c0a8e5f2-4b7d-4e19-a3c6-8d2f1b9e7a45",
            ".apps.googleusercontent.com",
            "-abc.apps.googleusercontent.com",
            "123-.apps.googleusercontent.com",
            "abc-def.apps.googleusercontent.com",
            "123-ABC.apps.googleusercontent.com",
            "123-abc def.apps.googleusercontent.com",
            "123-abc.apps.googleusercontent.com.evil.test",
            "https://123-abc.apps.googleusercontent.com",
            "123-abc.evil.test/.apps.googleusercontent.com",
        ] {
            assert_eq!(
                GoogleClientId::parse(bad),
                Err(ParseGoogleSettingError::ClientId),
                "{bad}"
            );
        }
        assert_eq!(
            GoogleClientId::parse("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"),
            Err(ParseGoogleSettingError::ClientIdIsSecret)
        );
    }

    #[test]
    fn a_client_secret_is_not_the_client_id_and_has_no_spaces() {
        assert!(check_google_client_secret("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").is_ok());
        assert!(check_google_client_secret("aB3dE5fG7hJ9kL1mN3pQ5rS7").is_ok());
        assert_eq!(
            check_google_client_secret(EMULATOR_ID),
            Err(ParseGoogleSettingError::SecretIsClientId)
        );
        for bad in [
            "short",
            "GOCSPX-has a space in it somewhere",
            "tab\tinside-0123456789",
        ] {
            assert_eq!(
                check_google_client_secret(bad),
                Err(ParseGoogleSettingError::SecretValue),
                "{bad}"
            );
        }
    }

    #[test]
    fn redirect_uris_are_https_or_loopback_http_with_googles_wording() {
        assert!(
            parse_google_redirect_uri("https://acme.app.ontrackio.com/auth/google/callback")
                .is_ok()
        );
        assert!(
            parse_google_redirect_uri("http://acme.localhost:8080/auth/google/callback").is_ok()
        );
        let err = parse_google_redirect_uri("http://acme.example.com/cb").unwrap_err();
        assert!(err.to_string().contains("Authorized redirect URIs"));
    }
}
