//! How a node is shown: fields hidden below their microversion, state names
//! converted for old clients, secrets masked, links added.

use chrono::{DateTime, SecondsFormat, Utc};
use ferrite_model::fields::{NODE_DEFAULT_LIST, NODE_FIELDS, position};
use ferrite_model::{Dict, Node};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value, json};

use super::node_doc::{MaskedRaw, Missing, StoredNode, Verbatim, stored_text};
use crate::protocol::{ApiVersion, BaseUrl};

pub use ferrite_model::secret::{MASK, is_secret_key};

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

/// Replaces secret values of a dict (recursively) by the mask.
pub fn mask(dict: &Dict) -> Value {
    serde_json::to_value(Masked(dict)).unwrap_or(Value::Null)
}

/// Serializes a dict with its secrets masked, without copying it.
struct Masked<'a>(&'a Dict);

impl Serialize for Masked<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            if is_secret_key(key) && !value.is_null() {
                map.serialize_entry(key, MASK)?;
            } else if let Value::Object(inner) = value {
                map.serialize_entry(key, &Masked(inner))?;
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// A timestamp as Ironic prints it: microseconds and `+00:00`.
struct Time<'a>(Option<&'a DateTime<Utc>>);

impl Serialize for Time<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(at) => serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Micros, false)),
            None => serializer.serialize_none(),
        }
    }
}

/// `[{href, rel: self}, {href, rel: bookmark}]` for one path.
struct Links<'a> {
    base: &'a str,
    path: &'a str,
}

impl Serialize for Links<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Link<'b> {
            href: String,
            rel: &'b str,
        }
        let mut seq = serializer.serialize_seq(Some(2))?;
        seq.serialize_element(&Link {
            href: format!("{}/v1/{}", self.base, self.path),
            rel: "self",
        })?;
        seq.serialize_element(&Link {
            href: format!("{}/{}", self.base, self.path),
            rel: "bookmark",
        })?;
        seq.end()
    }
}

/// The fields one response shows, worked out once per request, as one
/// flag per entry of `NODE_FIELDS`.
pub struct Shown {
    flags: Vec<bool>,
    sub_links: bool,
    version: ApiVersion,
}

impl Shown {
    /// The fields visible at `version` that `view` asks for.
    pub fn new(version: ApiVersion, view: View<'_>) -> Shown {
        let wanted = |name: &str| match view {
            View::Full | View::Detail => true,
            View::Summary => NODE_DEFAULT_LIST.contains(&name),
            View::Only(fields) => fields.iter().any(|f| f == name),
        };
        let flags = NODE_FIELDS
            .iter()
            .map(|spec| version.0 >= spec.since && wanted(spec.name))
            .collect();
        Shown {
            flags,
            sub_links: matches!(view, View::Full),
            version,
        }
    }
}

/// A node as one client sees it; serializes straight from the stored
/// node, so listing thousands builds no intermediate JSON trees.
pub(crate) struct NodeOut<'a> {
    pub(crate) node: &'a StoredNode<'a>,
    pub(crate) shown: &'a Shown,
    pub(crate) base: &'a BaseUrl,
    /// The node's owner on the hash ring (None: no live conductor serves
    /// its group).
    pub(crate) conductor: Option<&'a str>,
}

impl Serialize for NodeOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let n = self.node;
        let v = self.shown.version.0;
        let mut map = serializer.serialize_map(None)?;
        macro_rules! field {
            ($name:expr, $value:expr) => {
                if self.shown.flags[const { position(NODE_FIELDS, $name) }] {
                    map.serialize_entry($name, $value)?;
                }
            };
        }
        // A field shown exactly as stored (absent: its default).
        macro_rules! raw {
            ($name:ident) => {
                raw!($name, Null)
            };
            ($name:ident, $missing:ident) => {
                field!(stringify!($name), &Verbatim(n.$name, Missing::$missing))
            };
        }
        field!("uuid", &n.uuid);
        field!("created_at", &Time(Some(&n.created_at)));
        field!("updated_at", &Time(n.updated_at.as_ref()));
        raw!(automated_clean);
        raw!(bios_interface);
        raw!(boot_interface);
        raw!(boot_mode);
        raw!(chassis_uuid);
        raw!(clean_step, EmptyDict);
        field!("conductor", &self.conductor);
        raw!(conductor_group, EmptyString);
        raw!(console_enabled, False);
        raw!(console_interface);
        raw!(deploy_interface);
        raw!(deploy_step, EmptyDict);
        raw!(description);
        raw!(disable_power_off, False);
        raw!(driver);
        field!("driver_info", &MaskedRaw(n.driver_info));
        field!("driver_internal_info", &MaskedRaw(n.driver_internal_info));
        raw!(extra, EmptyDict);
        raw!(fault);
        raw!(firmware_interface);
        raw!(health);
        raw!(inspect_interface);
        field!(
            "inspection_finished_at",
            &Time(n.inspection_finished_at.as_ref())
        );
        field!(
            "inspection_started_at",
            &Time(n.inspection_started_at.as_ref())
        );
        field!("instance_info", &MaskedRaw(n.instance_info));
        raw!(instance_name);
        raw!(instance_uuid);
        raw!(last_error);
        raw!(lessee);
        raw!(maintenance, False);
        raw!(maintenance_reason);
        raw!(management_interface);
        raw!(name);
        raw!(network_data, EmptyDict);
        raw!(network_interface);
        raw!(owner);
        raw!(parent_node);
        raw!(power_interface);
        raw!(power_state);
        raw!(properties, EmptyDict);
        raw!(protected, False);
        raw!(protected_reason);
        field!("provision_state", &n.provision_state.for_version(v));
        field!(
            "provision_updated_at",
            &Time(n.provision_updated_at.as_ref())
        );
        raw!(raid_config, EmptyDict);
        raw!(raid_interface);
        raw!(rescue_interface);
        raw!(reservation);
        raw!(resource_class);
        raw!(retired, False);
        raw!(retired_reason);
        raw!(secure_boot);
        raw!(service_step, EmptyDict);
        raw!(shard);
        raw!(storage_interface);
        raw!(target_power_state);
        field!(
            "target_provision_state",
            &n.target_provision_state.and_then(|s| s.for_version(v))
        );
        raw!(target_raid_config, EmptyDict);
        raw!(traits, EmptyList);
        raw!(vendor_interface);
        raw!(allocation_uuid);
        let path = format!("nodes/{}", n.uuid);
        let base = self.base.0.as_str();
        map.serialize_entry("links", &Links { base, path: &path })?;
        if self.shown.sub_links {
            let mut subs = vec![("ports", "ports")];
            if self.shown.version.at_least(14) {
                subs.push(("states", "states"));
            }
            if self.shown.version.at_least(24) {
                subs.push(("portgroups", "portgroups"));
            }
            if self.shown.version.at_least(32) {
                subs.push(("volume", "volume"));
            }
            for (key, sub) in subs {
                map.serialize_entry(
                    key,
                    &Links {
                        base,
                        path: &format!("{path}/{sub}"),
                    },
                )?;
            }
        }
        map.end()
    }
}

/// Renders one node for a client at `version`.
pub fn render(
    node: &Node,
    version: ApiVersion,
    base: &BaseUrl,
    conductor: Option<&str>,
    view: View<'_>,
) -> Value {
    let shown = Shown::new(version, view);
    let text = stored_text(node);
    let Ok(stored) = serde_json::from_str::<StoredNode<'_>>(&text) else {
        return Value::Null;
    };
    serde_json::to_value(NodeOut {
        node: &stored,
        shown: &shown,
        base,
        conductor,
    })
    .unwrap_or(Value::Null)
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
        let v11 = render(
            &node,
            ApiVersion(Version(1, 1)),
            &base(),
            Some("c"),
            View::Full,
        );
        assert_eq!(v11["provision_state"], Value::Null);
        assert!(v11.get("name").is_none());
        assert!(v11.get("driver_internal_info").is_none());
        assert!(v11.get("states").is_none());
        assert_eq!(v11["driver_info"]["ipmi_password"], json!(MASK));
        let v49 = render(
            &node,
            ApiVersion(Version(1, 49)),
            &base(),
            Some("c"),
            View::Full,
        );
        assert_eq!(v49["provision_state"], json!("available"));
        assert_eq!(v49["conductor"], json!("c"));
        assert!(v49.get("owner").is_none());
        assert!(v49.get("intent").is_none());
        let summary = render(
            &node,
            ApiVersion(Version(1, 49)),
            &base(),
            Some("c"),
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

    #[test]
    fn every_field_of_the_table_is_rendered() {
        let node = Node {
            driver: "fake-hardware".into(),
            ..Node::default()
        };
        let all = render(
            &node,
            ApiVersion(Version(1, 999)),
            &base(),
            Some("c"),
            View::Detail,
        );
        let mut keys: Vec<&str> = all
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        let mut expected: Vec<&str> = NODE_FIELDS
            .iter()
            .map(|f| f.name)
            .chain(["links"])
            .collect();
        expected.sort();
        assert_eq!(keys, expected);
        assert_eq!(all["created_at"], json!("1970-01-01T00:00:00.000000+00:00"));
    }

    #[test]
    fn stored_values_are_shown_as_stored() {
        let mut node = Node {
            driver: "fake-hardware".into(),
            name: Some("n-\"1\"\u{e9}".into()),
            traits: vec!["CUSTOM_A".into()],
            maintenance: true,
            conductor_group: "g1".into(),
            owner: Some("p".into()),
            ..Node::default()
        };
        node.extra
            .insert("k".into(), json!({"nested": [1, "two\n"]}));
        node.instance_info
            .insert("configdrive".into(), json!("secret-ish"));
        node.instance_info
            .insert("image_source".into(), json!("http://i"));
        let shown = render(
            &node,
            ApiVersion(Version(1, 999)),
            &base(),
            Some("c"),
            View::Detail,
        );
        let stored = serde_json::to_value(&node).unwrap();
        for spec in NODE_FIELDS {
            let plain = !matches!(
                spec.name,
                "conductor"
                    | "provision_state"
                    | "instance_info"
                    | "driver_info"
                    | "driver_internal_info"
            ) && !spec.name.ends_with("_at");
            if plain {
                assert_eq!(shown[spec.name], stored[spec.name], "{}", spec.name);
            }
        }
        assert_eq!(
            shown["instance_info"],
            json!({"configdrive": MASK, "image_source": "http://i"})
        );
    }
}
