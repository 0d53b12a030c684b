//! The model types the store keeps as documents, and the Ironic wording of
//! the errors about them. Nothing here knows SQL, so every backend shares it.

use chrono::{DateTime, Utc};
use ferrite_model::{
    Allocation, Chassis, DeployTemplate, FirmwareComponent, HistoryMark, InspectionRule, Node,
    NodeHistory, NodeInventory, Port, Portgroup, Runbook, VolumeConnector, VolumeTarget, Webhook,
};
use serde_json::Value;
use uuid::Uuid;

use crate::Document;

impl Document for Node {
    const KIND: &'static str = "Node";
    const FEED: Option<&'static str> = Some("node");
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn set_updated_at(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(at);
    }
    fn history_mark(&self) -> Option<HistoryMark> {
        Some(Node::history_mark(self))
    }
    fn history_since(&self, before: &HistoryMark, at: DateTime<Utc>) -> Vec<NodeHistory> {
        Node::history_since(self, before, at)
    }
}

/// One per node, keyed by the node's uuid.
impl Document for NodeInventory {
    const KIND: &'static str = "Node inventory";
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn set_updated_at(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(at);
    }
}

impl Document for FirmwareComponent {
    const KIND: &'static str = "Firmware component";
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn set_updated_at(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(at);
    }
}

/// KIND is Ironic's wording of the resource in "could not be found".
impl Document for NodeHistory {
    const KIND: &'static str = "Node history record";
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn set_updated_at(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(at);
    }
}

impl Document for Port {
    const KIND: &'static str = "Port";
    const FEED: Option<&'static str> = Some("port");
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn set_updated_at(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(at);
    }
}

impl Document for Portgroup {
    const KIND: &'static str = "Portgroup";
    const FEED: Option<&'static str> = Some("portgroup");
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn set_updated_at(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(at);
    }
}

/// KIND is Ironic's wording of the resource in "could not be found".
impl Document for VolumeConnector {
    const KIND: &'static str = "Volume connector";
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn set_updated_at(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(at);
    }
}

/// KIND is Ironic's wording of the resource in "could not be found".
impl Document for VolumeTarget {
    const KIND: &'static str = "Volume target";
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn set_updated_at(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(at);
    }
}

impl Document for Chassis {
    const KIND: &'static str = "Chassis";
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn set_updated_at(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(at);
    }
}

/// KIND is Ironic's wording of the resource in "could not be found".
impl Document for DeployTemplate {
    const KIND: &'static str = "Deploy template";
    const FEED: Option<&'static str> = Some("deploy_template");
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn set_updated_at(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(at);
    }
}

/// KIND is Ironic's wording of the resource in "could not be found".
impl Document for Allocation {
    const KIND: &'static str = "Allocation";
    const FEED: Option<&'static str> = Some("allocation");
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn set_updated_at(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(at);
    }
}

/// Webhook subscriptions; their delivery status changes too often to be
/// news, so they stay out of the feed.
impl Document for Webhook {
    const KIND: &'static str = "Webhook";
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn set_updated_at(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(at);
    }
}

/// KIND is Ironic's wording of the resource in "could not be found".
impl Document for Runbook {
    const KIND: &'static str = "Runbook";
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn set_updated_at(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(at);
    }
}

/// KIND is Ironic's wording of the resource in "could not be found".
impl Document for InspectionRule {
    const KIND: &'static str = "Inspection rule";
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn set_updated_at(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(at);
    }
}

/// A field of `doc` as it reads in a message: strings bare, the rest as JSON.
fn show(doc: &Value, field: &str) -> String {
    match doc.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "None".to_string(),
        Some(other) => other.to_string(),
    }
}

/// Ironic's message for a write of `doc` (a `kind` document) that collided
/// on the unique `field`.
pub(crate) fn conflict_message(kind: &str, field: &str, doc: &Value) -> String {
    match (kind, field) {
        ("Node", "uuid") => format!("A node with UUID {} already exists.", show(doc, "uuid")),
        ("Node", "name") => format!("A node with name {} already exists.", show(doc, "name")),
        ("Node", "instance_uuid") => format!(
            "Instance {} is already associated with a node, it cannot be associated with this \
             other node {}",
            show(doc, "instance_uuid"),
            show(doc, "uuid")
        ),
        ("Port", "uuid") => format!("A port with UUID {} already exists.", show(doc, "uuid")),
        ("Port", "address") => {
            format!(
                "A port with MAC address {} already exists.",
                show(doc, "address")
            )
        }
        ("Port", "name") => format!("A port with name {} already exists.", show(doc, "name")),
        ("Portgroup", "uuid") => {
            format!(
                "A portgroup with UUID {} already exists.",
                show(doc, "uuid")
            )
        }
        ("Portgroup", "address") => {
            format!(
                "A portgroup with MAC address {} already exists.",
                show(doc, "address")
            )
        }
        ("Portgroup", "name") => {
            format!(
                "A portgroup with name {} already exists.",
                show(doc, "name")
            )
        }
        ("Volume connector", "uuid") => {
            format!(
                "A volume connector with UUID {} already exists.",
                show(doc, "uuid")
            )
        }
        ("Volume connector", "type" | "connector_id") => format!(
            "A volume connector with type {} and connector ID {} already exists.",
            show(doc, "type"),
            show(doc, "connector_id")
        ),
        ("Volume target", "uuid") => {
            format!(
                "A volume target with UUID {} already exists.",
                show(doc, "uuid")
            )
        }
        ("Volume target", "node_uuid" | "boot_index") => format!(
            "A volume target with boot index '{}' for the same node already exists.",
            show(doc, "boot_index")
        ),
        ("Deploy template", "uuid") => format!(
            "A deploy template with UUID {} already exists.",
            show(doc, "uuid")
        ),
        ("Deploy template", "name") => format!(
            "A deploy template with name {} already exists.",
            show(doc, "name")
        ),
        ("Allocation", "uuid") => format!(
            "An allocation with UUID {} already exists.",
            show(doc, "uuid")
        ),
        ("Allocation", "name") => format!(
            "An allocation with name {} already exists.",
            show(doc, "name")
        ),
        ("Allocation", "node_uuid") => format!(
            "Node {} is already associated with another allocation.",
            show(doc, "node_uuid")
        ),
        ("Runbook", "uuid") => format!("A runbook with UUID {} already exists.", show(doc, "uuid")),
        ("Inspection rule", "uuid") => format!(
            "An inspection rule with UUID {} already exists.",
            show(doc, "uuid")
        ),
        ("Chassis", "uuid") => {
            format!("A chassis with UUID {} already exists.", show(doc, "uuid"))
        }
        _ => format!(
            "A {} with {field} {} already exists.",
            kind.to_ascii_lowercase(),
            show(doc, field)
        ),
    }
}

/// Ironic's message for deleting a chassis that nodes still point at.
pub(crate) fn chassis_not_empty(uuid: Uuid) -> String {
    format!("Cannot complete the requested action because chassis {uuid} contains nodes.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_use_ironic_wording() {
        let doc = json!({"uuid": "u1", "name": "n1", "instance_uuid": "i1", "address": "aa"});
        assert_eq!(
            conflict_message("Node", "name", &doc),
            "A node with name n1 already exists."
        );
        assert_eq!(
            conflict_message("Node", "instance_uuid", &doc),
            "Instance i1 is already associated with a node, it cannot be associated with this \
             other node u1"
        );
        assert_eq!(
            conflict_message("Port", "address", &doc),
            "A port with MAC address aa already exists."
        );
        assert_eq!(
            conflict_message("Port", "vendor", &doc),
            "A port with vendor None already exists."
        );
    }
}
