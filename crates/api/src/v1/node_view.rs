//! How a node is shown: fields hidden below their microversion, state names
//! converted for old clients, secrets masked, links added.

use ferrite_model::fields::{NODE_DEFAULT_LIST, NODE_FIELDS};
use ferrite_model::{Dict, Node};
use serde_json::{Map, Value, json};

use crate::protocol::listing::project;
use crate::protocol::{ApiVersion, BaseUrl};

/// What is shown in place of a secret.
pub const MASK: &str = "******";

/// Which projection of the node a response needs.
#[derive(Debug, Clone, Copy)]
pub enum View<'a> {
    /// Every visible field plus sub-resource links (`GET /nodes/{id}`).
    Full,
    /// Every visible field, no sub-resource links (`detail` lists).
    Detail,
    /// The default list columns.
    Summary,
    /// Exactly these fields (`fields=`).
    Only(&'a [String]),
}

/// Whether a key of a free-form dict holds a secret.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password")
        || key.contains("secret")
        || key.contains("token")
        || key.ends_with("_key")
        || key == "configdrive"
        || key == "image_url"
}

/// Replaces secret values of a dict (recursively) by the mask.
pub fn mask(dict: &Dict) -> Value {
    Value::Object(
        dict.iter()
            .map(|(k, v)| {
                let shown = if is_secret_key(k) && !v.is_null() {
                    json!(MASK)
                } else if let Value::Object(inner) = v {
                    mask(inner)
                } else {
                    v.clone()
                };
                (k.clone(), shown)
            })
            .collect(),
    )
}

/// Renders one node for a client at `version`.
pub fn render(
    node: &Node,
    version: ApiVersion,
    base: &BaseUrl,
    conductor: &str,
    view: View<'_>,
) -> Value {
    let Ok(Value::Object(mut map)) = serde_json::to_value(node) else {
        return Value::Null;
    };
    map.remove("intent");
    map.insert("driver_info".into(), mask(&node.driver_info));
    map.insert("instance_info".into(), mask(&node.instance_info));
    map.insert(
        "driver_internal_info".into(),
        mask(&node.driver_internal_info),
    );
    map.insert(
        "provision_state".into(),
        json!(node.provision_state.for_version(version.0)),
    );
    map.insert(
        "target_provision_state".into(),
        json!(
            node.target_provision_state
                .and_then(|s| s.for_version(version.0))
        ),
    );
    map.insert("conductor".into(), json!(conductor));
    super::resource::ironic_times(&mut map);
    let path = format!("nodes/{}", node.uuid);
    map.insert("links".into(), base.links(&path));
    if matches!(view, View::Full) {
        map.insert("ports".into(), base.links(&format!("{path}/ports")));
        if version.at_least(14) {
            map.insert("states".into(), base.links(&format!("{path}/states")));
        }
        if version.at_least(24) {
            map.insert(
                "portgroups".into(),
                base.links(&format!("{path}/portgroups")),
            );
        }
        if version.at_least(32) {
            map.insert("volume".into(), base.links(&format!("{path}/volume")));
        }
    }
    let only: Option<Vec<&str>> = match view {
        View::Full | View::Detail => None,
        View::Summary => Some(NODE_DEFAULT_LIST.to_vec()),
        View::Only(fields) => Some(fields.iter().map(String::as_str).collect()),
    };
    Value::Object(project(map, NODE_FIELDS, version, only.as_deref()))
}

/// The `/states` document (reference §1.6.2).
pub fn states(node: &Node, version: ApiVersion) -> Value {
    let mut map = Map::new();
    map.insert("console_enabled".into(), json!(node.console_enabled));
    map.insert("last_error".into(), json!(node.last_error));
    map.insert("power_state".into(), json!(node.power_state));
    map.insert(
        "provision_state".into(),
        json!(node.provision_state.for_version(version.0)),
    );
    map.insert("target_power_state".into(), json!(node.target_power_state));
    map.insert(
        "target_provision_state".into(),
        json!(
            node.target_provision_state
                .and_then(|s| s.for_version(version.0))
        ),
    );
    map.insert(
        "provision_updated_at".into(),
        json!(node.provision_updated_at),
    );
    if version.at_least(12) {
        map.insert("raid_config".into(), json!(node.raid_config));
        map.insert("target_raid_config".into(), json!(node.target_raid_config));
    }
    if version.at_least(75) {
        map.insert("boot_mode".into(), json!(node.boot_mode));
        map.insert("secure_boot".into(), json!(node.secure_boot));
    }
    super::resource::ironic_times(&mut map);
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_model::{ProvisionState, Version};

    fn base() -> BaseUrl {
        BaseUrl("http://h:1".into())
    }

    #[test]
    fn old_versions_see_old_fields_and_names() {
        let mut node = Node {
            driver: "fake-hardware".into(),
            provision_state: ProvisionState::Available,
            ..Node::default()
        };
        node.driver_info
            .insert("ipmi_password".into(), json!("hunter2"));
        let v11 = render(&node, ApiVersion(Version(1, 1)), &base(), "c", View::Full);
        assert_eq!(v11["provision_state"], Value::Null);
        assert!(v11.get("name").is_none());
        assert!(v11.get("driver_internal_info").is_none());
        assert!(v11.get("states").is_none());
        assert_eq!(v11["driver_info"]["ipmi_password"], json!(MASK));
        let v49 = render(&node, ApiVersion(Version(1, 49)), &base(), "c", View::Full);
        assert_eq!(v49["provision_state"], json!("available"));
        assert_eq!(v49["conductor"], json!("c"));
        assert!(v49.get("owner").is_none());
        assert!(v49.get("intent").is_none());
        let summary = render(
            &node,
            ApiVersion(Version(1, 49)),
            &base(),
            "c",
            View::Summary,
        );
        let mut keys: Vec<_> = summary.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "instance_uuid",
                "links",
                "maintenance",
                "name",
                "power_state",
                "provision_state",
                "uuid"
            ]
        );
    }
}
