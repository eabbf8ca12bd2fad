/// A first or last name as a person types it: trimmed, at most 100 characters, no
/// control characters (they break CSV exports and logs).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PersonName(String);

/// Why a name was refused; the caller puts the field's label in front
/// ([`ParseNameError::for_field`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseNameError {
    #[error("must be at most 100 characters.")]
    TooLong,
    #[error("contains characters that are not allowed.")]
    ControlCharacter,
}

impl ParseNameError {
    /// "First name must be at most 100 characters."
    pub fn for_field(self, field: &str) -> String {
        format!("{field} {self}")
    }
}

impl PersonName {
    pub fn parse(input: &str) -> Result<Self, ParseNameError> {
        let s = input.trim();
        if s.chars().count() > 100 {
            return Err(ParseNameError::TooLong);
        }
        if s.chars().any(char::is_control) {
            return Err(ParseNameError::ControlCharacter);
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
        assert_eq!(PersonName::parse("  Adele ").unwrap().as_str(), "Adele");
        assert!(PersonName::parse("").is_ok());
        assert_eq!(
            PersonName::parse(&"x".repeat(101)),
            Err(ParseNameError::TooLong)
        );
        assert_eq!(
            PersonName::parse("a\u{0}b"),
            Err(ParseNameError::ControlCharacter)
        );
        assert!(PersonName::parse("Zoë O'Brien-Ñúñez").is_ok());
        assert_eq!(
            ParseNameError::TooLong.for_field("First name"),
            "First name must be at most 100 characters."
        );
    }
}
