//! A stored node read for rendering only: every field borrowed from the
//! stored JSON text as it is, so a list page of a thousand nodes is
//! rendered without decoding the free-form dicts into trees and without
//! escaping strings a second time on the way out.
//!
//! Only what the view must interpret is decoded: the provision states
//! (renamed for old microversions), the timestamps (reformatted as Ironic
//! prints them) and the uuid (for links). The dicts that may hold secrets
//! are walked key by key when rendered (see [`MaskedRaw`]).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use ferrite_model::{Node, ProvisionState};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use super::node_view::{MASK, is_secret_key};

/// A field kept as its stored JSON text; `None` when the stored document
/// predates the field (it is then shown as the field's default).
pub type Raw<'a> = Option<&'a RawValue>;

/// One stored node, borrowed from its document. Field names are the
/// stored document's (those of [`Node`]).
#[derive(Deserialize)]
pub(crate) struct StoredNode<'a> {
    #[serde(borrow)]
    pub(crate) uuid: Cow<'a, str>,
    pub(crate) provision_state: ProvisionState,
    #[serde(default)]
    pub(crate) target_provision_state: Option<ProvisionState>,
    pub(crate) created_at: DateTime<Utc>,
    #[serde(default)]
    pub(crate) updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub(crate) provision_updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub(crate) inspection_started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub(crate) inspection_finished_at: Option<DateTime<Utc>>,
    #[serde(borrow, default)]
    pub(crate) name: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) driver: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) driver_info: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) driver_internal_info: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) instance_info: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) instance_uuid: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) instance_name: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) properties: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) chassis_uuid: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) power_state: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) target_power_state: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) last_error: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) maintenance: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) maintenance_reason: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) fault: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) reservation: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) console_enabled: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) clean_step: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) deploy_step: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) service_step: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) raid_config: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) target_raid_config: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) extra: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) resource_class: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) bios_interface: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) boot_interface: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) console_interface: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) deploy_interface: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) firmware_interface: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) inspect_interface: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) management_interface: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) network_interface: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) power_interface: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) raid_interface: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) rescue_interface: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) storage_interface: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) vendor_interface: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) traits: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) conductor_group: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) automated_clean: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) protected: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) protected_reason: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) owner: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) lessee: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) description: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) allocation_uuid: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) retired: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) retired_reason: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) network_data: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) boot_mode: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) secure_boot: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) shard: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) parent_node: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) disable_power_off: Raw<'a>,
    #[serde(borrow, default)]
    pub(crate) health: Raw<'a>,
}

/// A typed node's document, for rendering a node that is at hand rather
/// than read from a list page (show, create, patch).
pub fn stored_text(node: &Node) -> String {
    // A `Node` always serializes (plain fields, string keys).
    serde_json::to_string(node).unwrap_or_else(|_| "{}".to_owned())
}

impl StoredNode<'_> {
    /// The node's `conductor_group` ("" when absent), which the hash ring
    /// needs to name its owner.
    pub(crate) fn group(&self) -> String {
        self.conductor_group
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or_default()
    }
}

/// How a field missing from an old document is shown.
#[derive(Clone, Copy)]
pub enum Missing {
    Null,
    False,
    EmptyDict,
    EmptyList,
    EmptyString,
}

/// A raw field, written verbatim, or its default when absent.
pub struct Verbatim<'a>(pub Raw<'a>, pub Missing);

impl Serialize for Verbatim<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (self.0, self.1) {
            (Some(raw), _) => raw.serialize(serializer),
            (None, Missing::Null) => serializer.serialize_none(),
            (None, Missing::False) => serializer.serialize_bool(false),
            (None, Missing::EmptyDict) => serializer.serialize_map(Some(0))?.end(),
            (None, Missing::EmptyList) => serializer.collect_seq(std::iter::empty::<()>()),
            (None, Missing::EmptyString) => serializer.serialize_str(""),
        }
    }
}

/// A stored dict written with the values of secret keys replaced by the
/// mask, at any depth. Keys are checked one by one; values that are not
/// objects are copied as stored text.
pub struct MaskedRaw<'a>(pub Raw<'a>);

impl Serialize for MaskedRaw<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Some(raw) = self.0 else {
            return serializer.serialize_map(Some(0))?.end();
        };
        let entries: Entries<'_> =
            serde_json::from_str(raw.get()).map_err(serde::ser::Error::custom)?;
        let mut map = serializer.serialize_map(Some(entries.0.len()))?;
        for (key, value) in &entries.0 {
            let text = value.get();
            if is_secret_key(key) && text != "null" {
                map.serialize_entry(key, MASK)?;
            } else if text.starts_with('{') {
                map.serialize_entry(key, &MaskedRaw(Some(value)))?;
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// The entries of a JSON object in stored order, values left as text.
struct Entries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Entries<'de>, A::Error> {
                let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(8));
                while let Some(entry) = access.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn secrets_are_masked_at_any_depth_and_the_rest_is_copied() {
        let stored = json!({
            "ipmi_password": "hunter2",
            "a\"quoted\"": "x\ny",
            "nested": {"redfish_password": "p", "ok": [1, {"token": "t"}]},
            "unset_password": null
        })
        .to_string();
        let raw: &RawValue = serde_json::from_str(&stored).unwrap();
        let out: Value = serde_json::to_value(MaskedRaw(Some(raw))).unwrap();
        assert_eq!(
            out,
            json!({
                "ipmi_password": MASK,
                "a\"quoted\"": "x\ny",
                "nested": {"redfish_password": MASK, "ok": [1, {"token": "t"}]},
                "unset_password": null
            })
        );
    }

    #[test]
    fn an_old_document_without_newer_fields_shows_their_defaults() {
        let doc = r#"{"uuid": "1be26c0b-03f2-4d2e-ae87-c02d7f33c123", "driver": "fake-hardware",
            "provision_state": "enroll", "created_at": "2026-01-01T00:00:00Z"}"#;
        let node: StoredNode<'_> = serde_json::from_str(doc).unwrap();
        assert_eq!(node.provision_state, ProvisionState::Enroll);
        let shown = serde_json::to_value((
            Verbatim(node.traits, Missing::EmptyList),
            Verbatim(node.extra, Missing::EmptyDict),
            Verbatim(node.retired, Missing::False),
            Verbatim(node.conductor_group, Missing::EmptyString),
            Verbatim(node.owner, Missing::Null),
            MaskedRaw(node.driver_info),
        ))
        .unwrap();
        assert_eq!(shown, json!([[], {}, false, "", null, {}]));
    }
}
