use std::fmt;

/// Why an email address or domain was refused; the text is shown next to the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseEmailError {
    #[error("Enter an email address.")]
    Empty,
    #[error("Enter an email address like name@example.com.")]
    Malformed,
    #[error("“{0}” is not a valid domain name.")]
    BadDomain(String),
}

/// An email address as typed (case kept for display), with a normalised form used for
/// every lookup. Deliberately stricter than RFC 5322: no quoted local parts, no IP
/// literals, no comments — the addresses directories hand out never need them, and
/// every extra form is a way to make two spellings of one mailbox look different.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress {
    display: String,
    normalized: String,
}

impl EmailAddress {
    /// An address exactly as given, with nothing cleaned up: what an identity provider, the
    /// database or a configuration says. Surrounding whitespace, a trailing dot on the
    /// domain (`root@acme.test.`) or an empty label are refused, never "fixed": a value
    /// that is not already an address must not become someone else's by normalising it
    /// before anyone decides whether to trust it.
    pub fn parse(input: &str) -> Result<Self, ParseEmailError> {
        if input.trim().is_empty() {
            return Err(ParseEmailError::Empty);
        }
        if input.len() > 254 || input.trim() != input {
            return Err(ParseEmailError::Malformed);
        }
        let (local, domain) = input.rsplit_once('@').ok_or(ParseEmailError::Malformed)?;
        // `EmailDomain::parse` forgives an admin's trailing dot in the allowlist; an
        // address's domain has none.
        if domain.ends_with('.') || domain.trim() != domain {
            return Err(ParseEmailError::Malformed);
        }
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        if !local_ok {
            return Err(ParseEmailError::Malformed);
        }
        let domain = EmailDomain::parse(domain).map_err(|_| ParseEmailError::Malformed)?;
        let display = format!("{local}@{}", domain.as_str());
        // Mailbox local parts are case-insensitive at every provider we serve; comparing
        // case-folded is what users expect ("Adele@Acme.test" is Adele).
        let normalized = display.to_ascii_lowercase();
        Ok(Self {
            display,
            normalized,
        })
    }

    /// An address as a person typed it into a form or on a command line: surrounding
    /// whitespace (a stray space from copy and paste) is dropped, then [`Self::parse`].
    pub fn parse_typed(input: &str) -> Result<Self, ParseEmailError> {
        Self::parse(input.trim())
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
    pub fn domain(&self) -> EmailDomain {
        let (_, d) = self
            .normalized
            .rsplit_once('@')
            .expect("parsed address has @");
        EmailDomain(d.to_string())
    }
    pub fn local_part(&self) -> &str {
        self.display.rsplit_once('@').map(|(l, _)| l).unwrap_or("")
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.display)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

/// A DNS domain name, lower-cased, without a trailing dot. Used for the email-domain
/// allowlist; comparison is exact (a subdomain is a different domain).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailDomain(String);

impl EmailDomain {
    /// A domain as an admin types it into the allowlist: surrounding whitespace and the one
    /// trailing dot of a fully qualified name (`acme.com.`) are dropped. Two trailing dots
    /// are an empty label, not a spelling of the domain. An email address's own domain
    /// never reaches this leniently: [`EmailAddress::parse`] refuses a trailing dot first.
    pub fn parse(input: &str) -> Result<Self, ParseEmailError> {
        let trimmed = input.trim();
        let d = trimmed
            .strip_suffix('.')
            .unwrap_or(trimmed)
            .to_ascii_lowercase();
        let bad = || ParseEmailError::BadDomain(input.trim().to_string());
        if d.is_empty() || d.len() > 253 || !d.contains('.') {
            return Err(bad());
        }
        for label in d.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                return Err(bad());
            }
        }
        // The top-level label is never all digits; this also refuses IPv4 literals.
        if d.rsplit('.')
            .next()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(bad());
        }
        Ok(Self(d))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses a comma-separated list as typed on a settings form: blanks are ignored,
    /// duplicates dropped, the first bad entry is the error.
    pub fn parse_list(input: &str) -> Result<Vec<Self>, ParseEmailError> {
        let mut out: Vec<Self> = Vec::new();
        for part in input.split([',', '\n', ';']) {
            if part.trim().is_empty() {
                continue;
            }
            let d = Self::parse(part)?;
            if !out.contains(&d) {
                out.push(d);
            }
        }
        Ok(out)
    }
}

impl fmt::Display for EmailDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_parse_or_are_refused() {
        let good = [
            ("adele@acme.test", "adele@acme.test"),
            ("Adele.Vance@ACME.test", "adele.vance@acme.test"),
            ("a+tag@sub.acme.co.uk", "a+tag@sub.acme.co.uk"),
            ("o'brien@acme.test", "o'brien@acme.test"),
        ];
        for (input, normalized) in good {
            let e = EmailAddress::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(e.normalized(), normalized, "{input}");
        }
        let bad = [
            "",
            "   ",
            "adele",
            "@acme.test",
            "adele@",
            "adele@acme",
            "adele@@acme.test",
            ".adele@acme.test",
            "ad..ele@acme.test",
            "adele@-acme.test",
            "adele@acme..test",
            "adele@127.0.0.1",
            "a dele@acme.test",
            "adele@acme.test<script>",
            "john_contoso.test#EXT#@acme.onmicrosoft.com x",
            // Malformed spellings of root@acme.test: refused, never normalised into it.
            "root@acme.test.",
            "root@acme.test..",
            " root@acme.test",
            "root@acme.test ",
            "root@acme.test\t",
            "\nroot@acme.test",
            "root@acme..test",
            "root..@acme.test",
            "root@.acme.test",
            "root @acme.test",
            "root@ acme.test",
        ];
        for input in bad {
            assert!(
                EmailAddress::parse(input).is_err(),
                "{input:?} should be refused"
            );
        }
    }

    #[test]
    fn typed_addresses_lose_surrounding_whitespace_only() {
        assert_eq!(
            EmailAddress::parse_typed("  Adele.Vance@ACME.test ")
                .unwrap()
                .normalized(),
            "adele.vance@acme.test"
        );
        assert!(EmailAddress::parse_typed(" root@acme.test. ").is_err());
        assert!(EmailAddress::parse_typed(" ").is_err());
    }

    #[test]
    fn display_keeps_the_local_part_case_but_lowercases_the_domain() {
        let e = EmailAddress::parse("Adele@ACME.Test").unwrap();
        assert_eq!(e.as_str(), "Adele@acme.test");
        assert_eq!(e.domain().as_str(), "acme.test");
        assert_eq!(e.local_part(), "Adele");
    }

    #[test]
    fn domain_lists_parse_ignoring_blanks_and_duplicates() {
        let list = EmailDomain::parse_list("acme.com, ACME.co.uk,, acme.com\n").unwrap();
        let names: Vec<_> = list.iter().map(|d| d.as_str()).collect();
        assert_eq!(names, ["acme.com", "acme.co.uk"]);
        assert!(EmailDomain::parse_list("").unwrap().is_empty());
        assert_eq!(
            EmailDomain::parse_list("acme.com, not a domain").unwrap_err(),
            ParseEmailError::BadDomain("not a domain".into())
        );
        assert!(EmailDomain::parse("localhost").is_err());
    }

    #[test]
    fn an_admins_domain_may_end_in_one_dot_but_not_two() {
        let cases = [
            ("acme.com", Some("acme.com")),
            ("acme.com.", Some("acme.com")),
            (" ACME.com. ", Some("acme.com")),
            ("acme.com..", None),
            (".acme.com", None),
            ("acme..com", None),
            (".", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                EmailDomain::parse(input)
                    .ok()
                    .as_ref()
                    .map(EmailDomain::as_str),
                want,
                "{input:?}"
            );
        }
    }
}
