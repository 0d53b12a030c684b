//! What the store keeps where, for every backend alike: which table holds
//! which kind of document, which fields are columns of their own, and how a
//! field a client names is found ([`Source::field`]).
//!
//! Field names are never bound (no database binds identifiers); they are
//! spliced into SQL only after passing [`is_field_name`], and anything else
//! reads as the absent field it necessarily is.

use crate::StoreError;

/// Where one kind of document lives and what it exposes as columns.
#[derive(Debug)]
pub(crate) struct Table {
    /// `Document::KIND`, used in messages.
    pub kind: &'static str,
    /// The SQL table name.
    pub name: &'static str,
    /// Generated columns, each named after the document field it extracts.
    pub columns: &'static [&'static str],
    /// Whether `Ident::Name` can find a row (nodes, ports, portgroups).
    pub by_name: bool,
    /// The field that points at the row's parent and the parent's kind, so
    /// a broken reference reads as that parent not being found.
    pub parent: Option<(&'static str, &'static str)>,
}

pub(crate) const NODES: Table = Table {
    kind: "Node",
    name: "nodes",
    columns: &[
        "uuid",
        "name",
        "instance_uuid",
        "provision_state",
        "driver",
        "chassis_uuid",
        "reservation",
        "conductor_group",
        "resource_class",
        "owner",
        "lessee",
        "maintenance",
    ],
    by_name: true,
    parent: Some(("chassis_uuid", "Chassis")),
};

pub(crate) const PORTS: Table = Table {
    kind: "Port",
    name: "ports",
    columns: &["uuid", "address", "name", "node_uuid", "portgroup_uuid"],
    by_name: true,
    parent: Some(("node_uuid", "Node")),
};

pub(crate) const CHASSIS: Table = Table {
    kind: "Chassis",
    name: "chassis",
    columns: &["uuid"],
    by_name: false,
    parent: None,
};

pub(crate) const PORTGROUPS: Table = Table {
    kind: "Portgroup",
    name: "portgroups",
    columns: &["uuid", "name", "address", "node_uuid"],
    by_name: true,
    parent: Some(("node_uuid", "Node")),
};

pub(crate) const VOLUME_CONNECTORS: Table = Table {
    kind: "Volume connector",
    name: "volume_connectors",
    columns: &["uuid", "node_uuid", "type", "connector_id"],
    by_name: false,
    parent: Some(("node_uuid", "Node")),
};

pub(crate) const VOLUME_TARGETS: Table = Table {
    kind: "Volume target",
    name: "volume_targets",
    columns: &["uuid", "node_uuid", "boot_index", "volume_id"],
    by_name: false,
    parent: Some(("node_uuid", "Node")),
};

/// Deploy templates are found by name as well as uuid (both unique).
pub(crate) const DEPLOY_TEMPLATES: Table = Table {
    kind: "Deploy template",
    name: "deploy_templates",
    columns: &["uuid", "name"],
    by_name: true,
    parent: None,
};

/// Runbooks are found by name as well as uuid (both unique); lists filter
/// on `owner`.
pub(crate) const RUNBOOKS: Table = Table {
    kind: "Runbook",
    name: "runbooks",
    columns: &["uuid", "name", "owner"],
    by_name: true,
    parent: None,
};

/// Inspection rules are found by uuid only; lists filter on `phase`.
pub(crate) const INSPECTION_RULES: Table = Table {
    kind: "Inspection rule",
    name: "inspection_rules",
    columns: &["uuid", "phase", "priority"],
    by_name: false,
    parent: None,
};

/// Allocations are found by name as well as uuid; `node_uuid` points at
/// the node they are bound to.
pub(crate) const ALLOCATIONS: Table = Table {
    kind: "Allocation",
    name: "allocations",
    columns: &[
        "uuid",
        "name",
        "node_uuid",
        "state",
        "resource_class",
        "owner",
    ],
    by_name: true,
    parent: Some(("node_uuid", "Node")),
};

/// Node history entries, listed per node.
pub(crate) const NODE_HISTORY: Table = Table {
    kind: "Node history record",
    name: "node_history",
    columns: &["uuid", "node_uuid", "created_at", "severity", "event_type"],
    by_name: false,
    parent: Some(("node_uuid", "Node")),
};

/// Inspection inventories, one per node (`uuid` is the node's).
pub(crate) const NODE_INVENTORY: Table = Table {
    kind: "Node inventory",
    name: "node_inventory",
    columns: &["uuid"],
    by_name: false,
    parent: Some(("uuid", "Node")),
};

/// Firmware components, listed per node.
pub(crate) const FIRMWARE_COMPONENTS: Table = Table {
    kind: "Firmware component",
    name: "firmware_components",
    columns: &["uuid", "node_uuid", "component"],
    by_name: false,
    parent: Some(("node_uuid", "Node")),
};

/// Webhook subscriptions to the change feed, found by uuid.
pub(crate) const WEBHOOKS: Table = Table {
    kind: "Webhook",
    name: "webhooks",
    columns: &["uuid"],
    by_name: false,
    parent: None,
};

/// The table that keeps documents of `kind`.
pub(crate) fn table_for(kind: &str) -> Result<&'static Table, StoreError> {
    match kind {
        "Node" => Ok(&NODES),
        "Port" => Ok(&PORTS),
        "Chassis" => Ok(&CHASSIS),
        "Portgroup" => Ok(&PORTGROUPS),
        "Volume connector" => Ok(&VOLUME_CONNECTORS),
        "Volume target" => Ok(&VOLUME_TARGETS),
        "Allocation" => Ok(&ALLOCATIONS),
        "Deploy template" => Ok(&DEPLOY_TEMPLATES),
        "Node history record" => Ok(&NODE_HISTORY),
        "Node inventory" => Ok(&NODE_INVENTORY),
        "Firmware component" => Ok(&FIRMWARE_COMPONENTS),
        "Runbook" => Ok(&RUNBOOKS),
        "Inspection rule" => Ok(&INSPECTION_RULES),
        "Webhook" => Ok(&WEBHOOKS),
        other => Err(StoreError::Db(sqlx::Error::Configuration(
            format!("no table keeps {other} documents").into(),
        ))),
    }
}

/// Conductor columns, all typed; the hostname is the key and the marker.
pub(crate) const CONDUCTOR_COLUMNS: &[&str] = &[
    "hostname",
    "conductor_group",
    "online",
    "created_at",
    "updated_at",
];

/// Whether `f` can be spliced into SQL as a column name or JSON path key.
pub(crate) fn is_field_name(f: &str) -> bool {
    !f.is_empty()
        && f.len() <= 64
        && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !f.as_bytes()[0].is_ascii_digit()
}

/// How a list is read from one table: documents or conductors.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source {
    Docs(&'static Table),
    Conductors,
}

/// Where a field a client names is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field<'a> {
    /// A column of its own: generated from the document, or typed.
    Column(&'static str),
    /// A top-level key of the document, read from the JSON.
    Path(&'a str),
    /// A field no row can have (a conductor's untyped field, a name that
    /// is not a field name); it reads as NULL.
    Absent,
}

impl Source {
    /// The SQL table a list reads.
    pub(crate) fn table(self) -> &'static str {
        match self {
            Source::Docs(t) => t.name,
            Source::Conductors => "conductors",
        }
    }

    /// The unique, never-null column that breaks ties and keys markers.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Source::Docs(_) => "id",
            Source::Conductors => "hostname",
        }
    }

    /// The column a client's marker names.
    pub(crate) fn marker_column(self) -> &'static str {
        match self {
            Source::Docs(_) => "uuid",
            Source::Conductors => "hostname",
        }
    }

    /// Where `field` is found: `id` is the key, a field with a column of
    /// its own is that column, any other field of a document is its JSON
    /// path.
    pub(crate) fn field(self, field: &str) -> Field<'_> {
        if field == "id" {
            return Field::Column(self.key());
        }
        let typed = match self {
            Source::Docs(t) => t.columns,
            Source::Conductors => CONDUCTOR_COLUMNS,
        };
        if let Some(c) = typed.iter().find(|c| **c == field) {
            return Field::Column(c);
        }
        match self {
            Source::Docs(_) if is_field_name(field) => Field::Path(field),
            _ => Field::Absent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_columns_or_paths() {
        let s = Source::Docs(&NODES);
        assert_eq!(s.field("name"), Field::Column("name"));
        assert_eq!(s.field("id"), Field::Column("id"));
        assert_eq!(s.field("last_error"), Field::Path("last_error"));
        assert_eq!(s.field("x'); DROP TABLE nodes; --"), Field::Absent);
        assert_eq!(Source::Conductors.field("drivers"), Field::Absent);
        assert_eq!(Source::Conductors.field("id"), Field::Column("hostname"));
    }
}
