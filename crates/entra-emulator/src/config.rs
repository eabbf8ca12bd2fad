//! The TOML configs of `ontrackio entra-emulator --config FILE` (the directory itself, as
//! `[[tenants]]`, `[[tenants.users]]`, `[[apps]]` and `[[apps.secrets]]` tables) and of
//! `ontrackio google-emulator --config FILE` (see `google::config`).

use std::path::Path;

use anyhow::Context;
use serde::de::DeserializeOwned;

use crate::directory::{Directory, DirectoryError};

/// Parses a config and checks it with `validate`; `what` names it in errors.
pub(crate) fn parse_checked<T, E>(
    text: &str,
    what: &str,
    validate: impl FnOnce(&T) -> Result<(), E>,
) -> anyhow::Result<T>
where
    T: DeserializeOwned,
    E: std::error::Error + Send + Sync + 'static,
{
    let parsed: T = toml::from_str(text).with_context(|| format!("invalid {what}"))?;
    validate(&parsed).with_context(|| format!("{what} refused"))?;
    Ok(parsed)
}

/// Reads a config file and hands its text to `parse`, naming the file in errors.
pub(crate) fn read_checked<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text).with_context(|| format!("in {}", path.display()))
}

impl Directory {
    /// Parses and validates a directory written in the emulator's TOML format.
    pub fn from_toml_str(text: &str) -> anyhow::Result<Directory> {
        parse_checked(
            text,
            "directory config",
            |d: &Directory| -> Result<(), DirectoryError> { d.validate() },
        )
    }

    /// Reads, parses and validates a TOML directory file.
    pub fn from_toml_file(path: &Path) -> anyhow::Result<Directory> {
        read_checked(path, Directory::from_toml_str)
    }
}
