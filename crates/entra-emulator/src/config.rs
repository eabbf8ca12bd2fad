//! The TOML config of `ontrackio entra-emulator --config FILE`: the directory itself, as
//! `[[tenants]]`, `[[tenants.users]]`, `[[apps]]` and `[[apps.secrets]]` tables.

use std::path::Path;

use anyhow::Context;

use crate::directory::Directory;

impl Directory {
    /// Parses and validates a directory written in the emulator's TOML format.
    pub fn from_toml_str(text: &str) -> anyhow::Result<Directory> {
        let directory: Directory = toml::from_str(text).context("invalid directory config")?;
        directory.validate().context("directory config refused")?;
        Ok(directory)
    }

    /// Reads, parses and validates a TOML directory file.
    pub fn from_toml_file(path: &Path) -> anyhow::Result<Directory> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Directory::from_toml_str(&text).with_context(|| format!("in {}", path.display()))
    }
}
