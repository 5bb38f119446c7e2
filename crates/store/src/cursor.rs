//! Opaque cursors for keyset paging.
//!
//! A policy cursor names the walk it belongs to (its filters and sort) and the last row of
//! the page it follows: that row's sort key and id. The next page starts strictly after
//! that pair, so rows inserted or deleted meanwhile neither repeat nor hide a row of the
//! walk, and a client may follow it without repeating the filters. It is URL-safe base64
//! of a small JSON object; clients must treat it as opaque.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use policycortex_engine::Severity;

use crate::model::{SortField, SortOrder};

/// The sort key of the last row of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortKey {
    /// A severity rank.
    Int(i64),
    /// A name, or a timestamp in the store's fixed RFC 3339 form.
    Text(String),
}

/// Where a policy walk stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort field of the walk.
    #[serde(rename = "s")]
    pub sort_by: SortField,
    /// The sort direction of the walk.
    #[serde(rename = "o")]
    pub order: SortOrder,
    /// The last row's sort key.
    #[serde(rename = "k")]
    pub key: SortKey,
    /// The last row's id, which breaks ties between equal keys.
    #[serde(rename = "i")]
    pub id: String,
    /// The filters of the walk.
    #[serde(rename = "f", default)]
    pub filters: CursorFilters,
}

/// The filters of a policy walk, as its cursor carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorFilters {
    /// Only policies of this resource type.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// Only policies of this severity.
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Only enabled, or only disabled, policies.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Only policies that carry every one of these tags, sorted and without repeats.
    #[serde(rename = "g", default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl CursorFilters {
    /// The filters of a query; `tags` is sorted and deduplicated, since their order and
    /// repeats do not change which policies match.
    pub fn new(
        resource_type: Option<String>,
        severity: Option<Severity>,
        enabled: Option<bool>,
        mut tags: Vec<String>,
    ) -> Self {
        tags.sort();
        tags.dedup();
        Self {
            resource_type,
            severity,
            enabled,
            tags,
        }
    }
}

/// A cursor that is not one this server issued.
#[derive(Debug, thiserror::Error)]
#[error("`cursor` is not a cursor this service issued")]
pub struct InvalidCursor;

impl Cursor {
    /// The opaque text form.
    pub fn encode(&self) -> String {
        encode_json(self)
    }

    /// Reads the opaque text form.
    pub fn decode(text: &str) -> Result<Self, InvalidCursor> {
        decode_json(text)
    }
}

/// The cursor of a walk ordered by a sequence number (versions, audit events).
pub fn encode_sequence(sequence: i64) -> String {
    encode_json(&serde_json::json!({ "q": sequence }))
}

/// Reads a cursor made by [`encode_sequence`].
pub fn decode_sequence(text: &str) -> Result<i64, InvalidCursor> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sequence {
        q: i64,
    }
    decode_json::<Sequence>(text).map(|cursor| cursor.q)
}

fn encode_json<T: Serialize>(value: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

fn decode_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, InvalidCursor> {
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| InvalidCursor)?;
    serde_json::from_slice(&bytes).map_err(|_| InvalidCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_text_form() {
        let cursor = Cursor {
            sort_by: SortField::Severity,
            order: SortOrder::Desc,
            key: SortKey::Int(3),
            id: "pol_abc".into(),
            filters: CursorFilters::new(
                Some("AWS::S3::Bucket".into()),
                Some(Severity::High),
                Some(true),
                vec!["pci".into(), "dss".into()],
            ),
        };

        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        assert_eq!(decode_sequence(&encode_sequence(42)).unwrap(), 42);
    }

    #[test]
    fn garbage_is_not_a_cursor() {
        assert!(Cursor::decode("not a cursor").is_err());
        assert!(Cursor::decode(&encode_sequence(1)).is_err());
        assert!(decode_sequence("eyJ4IjoxfQ").is_err());
    }
}
