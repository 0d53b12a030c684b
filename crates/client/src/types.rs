//! Wire types of the Ironic v1 API as the client sees them.
//!
//! They are deliberately lenient: every field is optional (a `fields=` query
//! returns only some) and states are plain strings, so the same client works
//! against Ferrite and against any Ironic release, including states and
//! fields it has never heard of. Keys the struct does not name are kept in
//! `other` rather than dropped, so callers can still reach them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A JSON object, as used by `driver_info`, `properties`, `extra`, ….
pub type Dict = Map<String, Value>;

/// A node as returned by `GET /v1/nodes/{ident}`, list endpoints and create.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The node's UUID (absent only when excluded by `fields=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Uuid>,
    /// Logical name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Hardware type, e.g. `fake-hardware`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Current provision state (`enroll`, `manageable`, `available`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision_state: Option<String>,
    /// Where the current operation is heading; `None` when stable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_provision_state: Option<String>,
    /// `power on`, `power off`, `error` or `None` (unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_state: Option<String>,
    /// Set while a power action runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_power_state: Option<String>,
    /// Whether the node is in maintenance mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<bool>,
    /// Why it is in maintenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_reason: Option<String>,
    /// The last asynchronous failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The conductor holding the node's lock, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<String>,
    /// The instance deployed on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_uuid: Option<Uuid>,
    /// Per-deployment input (`image_source`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_info: Option<Dict>,
    /// Hardware facts (`cpus`, `memory_mb`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Dict>,
    /// Free-form operator data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Dict>,
    /// Every other key of the response, untouched.
    #[serde(flatten)]
    pub other: Dict,
}

/// One page of a node list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeList {
    /// The nodes on this page.
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// The URL of the next page; present only when the page was full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A port (a NIC's MAC address attached to a node).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Port {
    /// The port's UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Uuid>,
    /// MAC address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The node the port belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_uuid: Option<Uuid>,
    /// Free-form operator data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Dict>,
    /// Every other key of the response, untouched.
    #[serde(flatten)]
    pub other: Dict,
}

/// One page of a port list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortList {
    /// The ports on this page.
    #[serde(default)]
    pub ports: Vec<Port>,
    /// The URL of the next page; present only when the page was full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One JSON Patch operation (RFC 6902 subset Ironic accepts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOp {
    /// `add`, `replace` or `remove`.
    pub op: String,
    /// JSON Pointer, e.g. `/extra/rack` or `/instance_info/image_source`.
    pub path: String,
    /// The value for `add`/`replace`; absent for `remove`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl PatchOp {
    /// An `add` operation (creates or overwrites a nested key).
    pub fn add(path: impl Into<String>, value: impl Into<Value>) -> Self {
        PatchOp {
            op: "add".into(),
            path: path.into(),
            value: Some(value.into()),
        }
    }

    /// A `replace` operation (the path must exist).
    pub fn replace(path: impl Into<String>, value: impl Into<Value>) -> Self {
        PatchOp {
            op: "replace".into(),
            path: path.into(),
            value: Some(value.into()),
        }
    }

    /// A `remove` operation.
    pub fn remove(path: impl Into<String>) -> Self {
        PatchOp {
            op: "remove".into(),
            path: path.into(),
            value: None,
        }
    }
}

/// Query parameters of a list request, built fluently and kept in order so
/// the URL is predictable (handy in logs and for servers' caches).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    params: Vec<(String, String)>,
}

impl ListQuery {
    /// An empty query: the server's default fields and page size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds any parameter (a filter such as `provision_state` or
    /// `resource_class`, or one this builder has no method for). A parameter
    /// given twice replaces the earlier value.
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        let value = value.into();
        if let Some(slot) = self.params.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            self.params.push((key, value));
        }
        self
    }

    /// Page size (`limit`); servers cap it at 1000.
    pub fn limit(self, limit: usize) -> Self {
        self.param("limit", limit.to_string())
    }

    /// Start after this UUID (`marker`).
    pub fn marker(self, marker: impl Into<String>) -> Self {
        self.param("marker", marker)
    }

    /// Only these fields (`fields=a,b`); `uuid` is worth including.
    pub fn fields(self, fields: &[&str]) -> Self {
        self.param("fields", fields.join(","))
    }

    /// Every field (`detail=true`, microversion 1.43+).
    pub fn detail(self) -> Self {
        self.param("detail", "true")
    }

    /// Sorting (`sort_key`, `sort_dir` = `asc`/`desc`).
    pub fn sort(self, key: impl Into<String>, dir: impl Into<String>) -> Self {
        self.param("sort_key", key).param("sort_dir", dir)
    }

    /// Filter on provision state (microversion 1.9+).
    pub fn provision_state(self, state: impl Into<String>) -> Self {
        self.param("provision_state", state)
    }

    /// Filter on resource class (microversion 1.21+).
    pub fn resource_class(self, class: impl Into<String>) -> Self {
        self.param("resource_class", class)
    }

    /// The parameters in the order they were added.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.params
    }

    /// Builds a query from an absolute or relative `next` URL's query string,
    /// so following a `next` link keeps every parameter the server put in it.
    pub fn from_next_url(next: &str) -> Self {
        let query = match next.split_once('?') {
            Some((_, q)) => q,
            None => "",
        };
        let query = query.split('#').next().unwrap_or("");
        let mut out = ListQuery::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out = out.param(percent_decode(k), percent_decode(v));
        }
        out
    }
}

/// Decodes `%XX` escapes and `+` (as space) of a query component. Invalid
/// escapes are kept literally: a server's odd `next` URL must not make the
/// client fail.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_keeps_unknown_fields_and_tolerates_missing_ones() {
        let v = json!({
            "uuid": "07a5a29e-ad5d-41ba-9b15-b2617e6f455e",
            "provision_state": "enroll",
            "power_state": null,
            "links": [{"href": "x", "rel": "self"}],
            "conductor": "c1"
        });
        let n: Node = serde_json::from_value(v).unwrap();
        assert_eq!(n.provision_state.as_deref(), Some("enroll"));
        assert_eq!(n.power_state, None);
        assert_eq!(n.other["conductor"], "c1");
        assert!(n.other.contains_key("links"));
        assert_eq!(n.name, None);
    }

    #[test]
    fn next_url_round_trips_its_parameters() {
        let q = ListQuery::from_next_url(
            "http://127.0.0.1:6385/v1/nodes?detail=True&limit=1000&marker=abc&fields=uuid%2Cprovision_state&x=a+b",
        );
        assert_eq!(
            q.pairs(),
            &[
                ("detail".to_string(), "True".to_string()),
                ("limit".to_string(), "1000".to_string()),
                ("marker".to_string(), "abc".to_string()),
                ("fields".to_string(), "uuid,provision_state".to_string()),
                ("x".to_string(), "a b".to_string()),
            ]
        );
        assert!(ListQuery::from_next_url("no-query").pairs().is_empty());
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn query_param_replaces_duplicates() {
        let q = ListQuery::new().limit(5).limit(7).detail();
        assert_eq!(
            q.pairs(),
            &[
                ("limit".to_string(), "7".to_string()),
                ("detail".to_string(), "true".to_string())
            ]
        );
    }

    #[test]
    fn patch_ops_serialize_like_rfc6902() {
        let ops = vec![PatchOp::add("/extra/a", 1), PatchOp::remove("/extra/b")];
        assert_eq!(
            serde_json::to_value(ops).unwrap(),
            json!([{"op": "add", "path": "/extra/a", "value": 1}, {"op": "remove", "path": "/extra/b"}])
        );
    }
}
