/// A first or last name as a person types it: trimmed, at most 100 characters, no
/// control characters (they break CSV exports and logs).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(input: &str, field: &str) -> Result<Self, String> {
        let s = input.trim();
        if s.chars().count() > 100 {
            return Err(format!("{field} must be at most 100 characters."));
        }
        if s.chars().any(char::is_control) {
            return Err(format!("{field} contains characters that are not allowed."));
        }
        Ok(Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            PersonName::parse("  Adele ", "First name")
                .unwrap()
                .as_str(),
            "Adele"
        );
        assert!(PersonName::parse("", "First name").is_ok());
        assert!(PersonName::parse(&"x".repeat(101), "First name").is_err());
        assert!(PersonName::parse("a\u{0}b", "First name").is_err());
        assert!(PersonName::parse("Zoë O'Brien-Ñúñez", "Last name").is_ok());
    }
}
