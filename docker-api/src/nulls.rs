//! `null` as a default, and Docker's `{}` set members.

use serde::{Deserialize, Deserializer, Serialize};

/// A field that clients may send as `null` (Go clients send nil lists and
/// maps so; the Python SDK sends every unset field so): `null` is its default.
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The `{}` of Docker's sets (`ExposedPorts`, `Volumes`: `{"80/tcp": {}}`);
/// whatever a client sends as the value is ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EmptyObject {}

impl<'de> Deserialize<'de> for EmptyObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(EmptyObject {})
    }
}
