//! A plugin's state as bytes for `snapshot` and `restore`: MessagePack
//! with field names, so a later version with added fields (given serde
//! defaults) still reads an earlier snapshot.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes a plugin's state (empty if it cannot be encoded).
#[must_use]
pub fn encode<T: Serialize>(state: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(state).unwrap_or_default()
}

/// Decodes a state written by [`encode`].
///
/// # Errors
/// A message naming the plugin when the bytes are not its state.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], plugin: &str) -> Result<T, String> {
    rmp_serde::from_slice(bytes).map_err(|e| format!("{plugin} state: {e}"))
}
