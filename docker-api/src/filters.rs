//! The `filters` query parameter: `{"name": ["a", "b"], …}`, or the older
//! `{"name": {"a": true}}` that clients of API 1.24 still send.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Each key's values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

#[derive(Deserialize)]
#[serde(untagged)]
enum Values {
    List(Vec<String>),
    Set(BTreeMap<String, bool>),
}

impl Filters {
    /// Parses the parameter as dockerd does.
    pub fn parse(raw: &str) -> Result<Self, serde_json::Error> {
        let keys: BTreeMap<String, Values> = serde_json::from_str(raw)?;
        Ok(Filters(
            keys.into_iter()
                .map(|(k, v)| {
                    let vals = match v {
                        Values::List(l) => l,
                        Values::Set(s) => {
                            s.into_iter().filter(|(_, on)| *on).map(|(v, _)| v).collect()
                        }
                    };
                    (k, vals)
                })
                .collect(),
        ))
    }

    /// Adds one value of a key.
    pub fn add(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.entry(key.into()).or_default().push(value.into());
    }

    /// The parameter's value.
    pub fn to_param(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_read_and_the_list_is_written() {
        let new = Filters::parse(r#"{"name": ["a", "b"]}"#).unwrap();
        let old = Filters::parse(r#"{"name": {"a": true, "b": true, "c": false}}"#).unwrap();
        assert_eq!(new, old);
        assert_eq!(new.to_param(), r#"{"name":["a","b"]}"#);
        assert!(Filters::parse(r#"{"name": 1}"#).is_err());
        assert!(Filters::parse("[]").is_err());
    }
}
