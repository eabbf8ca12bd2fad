/// A place to go back to after sign-in: only ever a path on the same workspace host.
///
/// Browsers treat `//host`, `/\host` and `\\host` as other hosts, and some user agents
/// strip tabs and newlines before resolving, so anything beyond a plain absolute path
/// made of printable characters is dropped rather than "cleaned".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnTo(String);

impl ReturnTo {
    pub fn parse(input: &str) -> Option<Self> {
        if input.len() > 2048 || !input.starts_with('/') {
            return None;
        }
        let second = input.as_bytes().get(1).copied();
        if matches!(second, Some(b'/') | Some(b'\\')) {
            return None;
        }
        if input
            .chars()
            .any(|c| c.is_control() || c == '\\' || c.is_whitespace())
        {
            return None;
        }
        // Percent-encoded slashes and backslashes at the start decode to the same tricks.
        let lower = input.to_ascii_lowercase();
        if lower.starts_with("/%2f") || lower.starts_with("/%5c") || lower.contains("%0") {
            return None;
        }
        Some(Self(input.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_workspace_relative_paths_are_accepted() {
        for good in [
            "/my/dashboard",
            "/admin/users?page=2",
            "/",
            "/my/profile#avatar",
        ] {
            assert!(ReturnTo::parse(good).is_some(), "{good}");
        }
        for bad in [
            "//evil.test",
            "/\\evil.test",
            "\\\\evil.test",
            "https://evil.test",
            "https:evil.test",
            "javascript:alert(1)",
            "evil.test/x",
            "",
            "/%2F%2Fevil.test",
            "/%2fevil.test",
            "/%5Cevil.test",
            "/\t/evil.test",
            "/ /evil.test",
            "/path%0d%0aSet-Cookie:x",
        ] {
            assert!(ReturnTo::parse(bad).is_none(), "{bad:?} should be refused");
        }
    }
}
