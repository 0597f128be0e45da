//! Validated identifiers.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Bytes as lower-case hex, the form digests and signatures are shown in.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A plugin id: 1–64 characters of `a-z`, `0-9`, `-`, `_`, starting with a
/// letter or digit. Safe in URLs, file names and NATS subjects; it cannot
/// hold a path (`/`, `..`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PluginId(String);

/// Why a text is not a plugin id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a valid plugin id: use 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
)]
pub struct InvalidPluginId(pub String);

impl PluginId {
    /// Validates a plugin id.
    ///
    /// # Errors
    /// [`InvalidPluginId`] when the text breaks the rules above.
    pub fn new(text: &str) -> Result<Self, InvalidPluginId> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && text.as_bytes()[0].is_ascii_alphanumeric();
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidPluginId(text.to_owned()))
        }
    }

    /// The id of `plugin`'s instance for partition `index` (a cluster runs a
    /// partitioned plugin as one instance per partition):
    /// `{plugin}~{index}`, never a configured id (those hold no `~`).
    #[must_use]
    pub fn instance(plugin: &PluginId, index: u32) -> Self {
        Self(crate::partition::instance_id(plugin.as_str(), index))
    }

    /// A plugin id or an instance id (`{plugin}~{index}`), as the API names
    /// what runs.
    ///
    /// # Errors
    /// [`InvalidPluginId`] when the text is neither.
    pub fn parse(text: &str) -> Result<Self, InvalidPluginId> {
        match crate::partition::split_instance(text) {
            (plugin, Some(index)) => Self::new(plugin)
                .map(|p| Self::instance(&p, index))
                .map_err(|_| InvalidPluginId(text.to_owned())),
            (_, None) => Self::new(text),
        }
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PluginId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PluginId::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids_and_refuses_tricks() {
        assert!(PluginId::new("long-short-ratio").is_ok());
        assert!(PluginId::new("a1_b").is_ok());
        for bad in [
            "",
            "../etc",
            "a/b",
            "-x",
            "UPPER",
            "sp ace",
            &"x".repeat(65),
        ] {
            assert!(PluginId::new(bad).is_err(), "{bad}");
        }
    }
}
