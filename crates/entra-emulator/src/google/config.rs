//! The TOML config of `ontrackio google-emulator --config FILE`: `[[accounts]]` and
//! `[[clients]]` tables, field for field as [`GoogleAccount`] and [`GoogleClient`].
//!
//! [`GoogleAccount`]: super::GoogleAccount
//! [`GoogleClient`]: super::GoogleClient

use std::path::Path;

use super::directory::{GoogleDirectory, GoogleDirectoryError};
use crate::config::{parse_checked, read_checked};

impl GoogleDirectory {
    /// Parses and validates a Google directory written in TOML.
    pub fn from_toml_str(text: &str) -> anyhow::Result<GoogleDirectory> {
        parse_checked(
            text,
            "Google directory config",
            |d: &GoogleDirectory| -> Result<(), GoogleDirectoryError> { d.validate() },
        )
    }

    /// Reads, parses and validates a TOML Google directory file.
    pub fn from_toml_file(path: &Path) -> anyhow::Result<GoogleDirectory> {
        read_checked(path, GoogleDirectory::from_toml_str)
    }
}
