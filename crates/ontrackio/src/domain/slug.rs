use std::fmt;

/// A workspace's subdomain label: `acme` in `acme.app.ontrackio.com`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct WorkspaceSlug(String);

/// Labels that would collide with the product's own hosts or confuse people.
const RESERVED: &[&str] = &[
    "www", "app", "api", "admin", "login", "auth", "static", "mail",
];

/// Why a slug was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseSlugError {
    #[error(
        "“{0}” is not a valid workspace slug: use 2–40 lowercase letters, digits and single hyphens."
    )]
    Invalid(String),
    #[error("“{0}” is reserved; choose another workspace slug.")]
    Reserved(String),
}

impl WorkspaceSlug {
    pub fn parse(input: &str) -> Result<Self, ParseSlugError> {
        let s = input.trim().to_ascii_lowercase();
        let valid = (2..=40).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains("--");
        if !valid {
            return Err(ParseSlugError::Invalid(input.trim().to_string()));
        }
        if RESERVED.contains(&s.as_str()) {
            return Err(ParseSlugError::Reserved(s));
        }
        Ok(Self(s))
    }

    pub fn from_db(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkspaceSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for WorkspaceSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WorkspaceSlug({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_parse_or_are_refused() {
        for good in ["acme", "ACME", "acme-2", "a1", "workspace-b"] {
            assert!(WorkspaceSlug::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "-acme",
            "acme-",
            "ac--me",
            "ac.me",
            "acme corp",
            "ácme",
            "www",
            "app",
        ] {
            assert!(WorkspaceSlug::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(WorkspaceSlug::parse(" Acme ").unwrap().as_str(), "acme");
    }
}
