//! SQL text for reading: which table holds which kind, how a field name
//! becomes a column expression, and how a [`ListQuery`] becomes one SELECT
//! with its bound arguments.
//!
//! Field names are never bound (SQLite cannot bind identifiers); they are
//! spliced in only after passing [`is_field_name`], and anything else reads
//! as the absent field it necessarily is.

use std::borrow::Cow;

use serde_json::Value;

use crate::{Filter, ListQuery, StoreError};

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

/// Webhook subscriptions, found by uuid.
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

/// A value bound to a `?`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Int(i64),
    Real(f64),
    Text(String),
}

impl Arg {
    /// The SQLite value `json_extract` would yield for a JSON scalar
    /// (booleans are 1/0); containers compare as their compact JSON text.
    fn from_json(v: &Value) -> Option<Arg> {
        match v {
            Value::Null => None,
            Value::Bool(b) => Some(Arg::Int(i64::from(*b))),
            Value::Number(n) => Some(match n.as_i64() {
                Some(i) => Arg::Int(i),
                None => Arg::Real(n.as_f64().unwrap_or(f64::NAN)),
            }),
            Value::String(s) => Some(Arg::Text(s.clone())),
            other => Some(Arg::Text(other.to_string())),
        }
    }
}

/// A statement and its arguments, in `?` order.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

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

impl Source {
    fn table(self) -> &'static str {
        match self {
            Source::Docs(t) => t.name,
            Source::Conductors => "conductors",
        }
    }

    /// What a list selects.
    fn select(self) -> &'static str {
        match self {
            Source::Docs(_) => "doc",
            Source::Conductors => {
                "hostname, conductor_group, drivers, online, created_at, updated_at"
            }
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

    /// The SQL expression for a top-level field: its generated column when
    /// there is one, else the JSON path; a field that cannot exist is NULL.
    pub(crate) fn column(self, field: &str) -> Cow<'static, str> {
        if field == "id" {
            return Cow::Borrowed(self.key());
        }
        let typed = match self {
            Source::Docs(t) => t.columns,
            Source::Conductors => CONDUCTOR_COLUMNS,
        };
        if let Some(c) = typed.iter().find(|c| **c == field) {
            return Cow::Borrowed(c);
        }
        match self {
            Source::Docs(_) if is_field_name(field) => {
                Cow::Owned(format!("json_extract(doc, '$.{field}')"))
            }
            _ => Cow::Borrowed("NULL"),
        }
    }
}

/// One filter as a boolean SQL expression, pushing its arguments.
fn condition(src: Source, f: &Filter, args: &mut Vec<Arg>) -> String {
    match f {
        Filter::Eq(field, v) => {
            let c = src.column(field);
            match Arg::from_json(v) {
                None => format!("{c} IS NULL"),
                Some(a) => {
                    args.push(a);
                    format!("{c} = ?")
                }
            }
        }
        Filter::In(field, values) => {
            let c = src.column(field);
            let mut parts = Vec::new();
            let mut marks = Vec::new();
            for v in values {
                match Arg::from_json(v) {
                    None => parts.push(format!("{c} IS NULL")),
                    Some(a) => {
                        args.push(a);
                        marks.push("?");
                    }
                }
            }
            if !marks.is_empty() {
                parts.insert(0, format!("{c} IN ({})", marks.join(", ")));
            }
            if parts.is_empty() {
                "0".to_string()
            } else {
                format!("({})", parts.join(" OR "))
            }
        }
        Filter::EqIgnoreCase(field, s) => {
            args.push(Arg::Text(s.clone()));
            format!("{} = ? COLLATE NOCASE", src.column(field))
        }
        Filter::IsNull(field, true) => format!("{} IS NULL", src.column(field)),
        Filter::IsNull(field, false) => format!("{} IS NOT NULL", src.column(field)),
        Filter::Contains(field, s) => {
            // SQLite's lower() folds ASCII only; fold the needle the same way.
            args.push(Arg::Text(s.to_ascii_lowercase()));
            format!("instr(lower({}), ?) > 0", src.column(field))
        }
        Filter::OwnerOrLessee(project) => {
            args.push(Arg::Text(project.clone()));
            args.push(Arg::Text(project.clone()));
            format!(
                "({} = ? OR {} = ?)",
                src.column("owner"),
                src.column("lessee")
            )
        }
        Filter::OfNodes(inner) => format!(
            "{} IN (SELECT uuid FROM nodes WHERE {})",
            src.column("node_uuid"),
            condition(Source::Docs(&NODES), inner, args)
        ),
    }
}

/// `SELECT COUNT(*)` over the filters of `q`.
pub(crate) fn count(src: Source, q: &ListQuery) -> Sql {
    let mut sql = Sql::default();
    let conds: Vec<String> = q
        .filters
        .iter()
        .map(|f| condition(src, f, &mut sql.args))
        .collect();
    sql.text = format!("SELECT COUNT(*) FROM {}", src.table());
    push_where(&mut sql.text, &conds);
    sql
}

/// `SELECT value, COUNT(*)` per distinct value of `field`, largest group
/// first (ties by value, so the order is stable).
pub(crate) fn count_by(src: Source, field: &str, q: &ListQuery) -> Sql {
    let mut sql = Sql::default();
    let conds: Vec<String> = q
        .filters
        .iter()
        .map(|f| condition(src, f, &mut sql.args))
        .collect();
    let c = src.column(field);
    sql.text = format!("SELECT {c} AS value, COUNT(*) AS n FROM {}", src.table());
    push_where(&mut sql.text, &conds);
    sql.text
        .push_str(&format!(" GROUP BY {c} ORDER BY n DESC, value"));
    sql
}

/// Finds the key of the marker row, to page after it.
pub(crate) fn marker_key(src: Source) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} = ?",
        src.key(),
        src.table(),
        src.marker_column()
    )
}

/// The page of `q` as one SELECT. `marker` is the key of the row the page
/// starts after (from [`marker_key`]). Rows are ordered by the sort
/// expression then the key, both in the requested direction; SQLite puts
/// NULLs first ascending and last descending, and "after the marker" follows
/// exactly that order, so paging visits every row once even across NULLs.
pub(crate) fn list(src: Source, q: &ListQuery, marker: Option<Arg>) -> Sql {
    let mut sql = Sql::default();
    let key = src.key();
    let sort = q
        .sort_key
        .as_deref()
        .map_or(Cow::Borrowed(key), |f| src.column(f));
    let (dir, cmp) = if q.sort_desc {
        ("DESC", "<")
    } else {
        ("ASC", ">")
    };
    let mut from = src.table().to_string();
    let mut conds = Vec::new();

    if let Some(m) = marker {
        if sort == key {
            conds.push(format!("{key} {cmp} ?"));
            sql.args.push(m);
        } else {
            // The marker row's sort value, read in the same statement so it
            // is consistent with the rows compared against it.
            sql.text = format!(
                "WITH m(mv, mk) AS (SELECT {sort}, {key} FROM {} WHERE {key} = ?) ",
                src.table()
            );
            sql.args.push(m);
            from.push_str(", m");
            conds.push(if q.sort_desc {
                format!(
                    "(CASE WHEN m.mv IS NULL THEN ({sort} IS NULL AND {key} < m.mk) \
                     ELSE ({sort} < m.mv OR ({sort} = m.mv AND {key} < m.mk) OR {sort} IS NULL) \
                     END)"
                )
            } else {
                format!(
                    "(CASE WHEN m.mv IS NULL THEN ({sort} IS NOT NULL OR {key} > m.mk) \
                     ELSE ({sort} > m.mv OR ({sort} = m.mv AND {key} > m.mk)) END)"
                )
            });
        }
    }
    for f in &q.filters {
        conds.push(condition(src, f, &mut sql.args));
    }
    match src {
        Source::Docs(t) if sort != key => {
            // Sort keys only, then fetch each document of the page by rowid:
            // SQLite's sorter is several times slower when it has to carry
            // the documents along (4.6 ms against 1.2 ms for 500 nodes).
            let mut inner = format!("SELECT {key} AS k_key, {sort} AS k_sort FROM {from}");
            push_where(&mut inner, &conds);
            inner.push_str(&format!(" ORDER BY {sort} {dir}, {key} {dir} LIMIT ?"));
            sql.text.push_str(&format!(
                "SELECT {} FROM (SELECT t.doc AS doc FROM ({inner}) AS k CROSS JOIN {} AS t \
                 ON t.{key} = k.k_key ORDER BY k.k_sort {dir}, k.k_key {dir})",
                page_of_docs("doc"),
                t.name
            ));
        }
        Source::Docs(_) => {
            // The page comes back as one JSON array in one row: sqlx's
            // SQLite worker hands rows over one at a time (a thread wake-up
            // each), which cost more than the query for 1,000 documents.
            let mut inner = format!("SELECT doc FROM {from}");
            push_where(&mut inner, &conds);
            inner.push_str(&format!(" ORDER BY {sort} {dir}, {key} {dir} LIMIT ?"));
            sql.text
                .push_str(&format!("SELECT {} FROM ({inner})", page_of_docs("doc")));
        }
        Source::Conductors => {
            sql.text
                .push_str(&format!("SELECT {} FROM {from}", src.select()));
            push_where(&mut sql.text, &conds);
            if sort == key {
                sql.text.push_str(&format!(" ORDER BY {key} {dir}"));
            } else {
                sql.text
                    .push_str(&format!(" ORDER BY {sort} {dir}, {key} {dir}"));
            }
            sql.text.push_str(" LIMIT ?");
        }
    }
    let limit = q.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    sql.args.push(Arg::Int(limit));
    sql
}

/// The aggregate that joins a page's documents into one JSON array. It
/// reads the rows in the order its ordered subquery produces them: SQLite
/// never flattens a subquery with ORDER BY into an aggregate, and an
/// `ORDER BY` inside `group_concat` would sort the documents a second time
/// in a temporary B-tree (spilling megabytes to disk for a 1,000-node page).
/// The store's paging tests, in every sort order, guard this.
fn page_of_docs(doc: &str) -> String {
    format!("'[' || coalesce(group_concat({doc}, ','), '') || ']'")
}

fn push_where(text: &mut String, conds: &[String]) {
    if !conds.is_empty() {
        text.push_str(" WHERE ");
        text.push_str(&conds.join(" AND "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_become_columns_or_paths() {
        let s = Source::Docs(&NODES);
        assert_eq!(s.column("name"), "name");
        assert_eq!(s.column("id"), "id");
        assert_eq!(s.column("last_error"), "json_extract(doc, '$.last_error')");
        assert_eq!(s.column("x'); DROP TABLE nodes; --"), "NULL");
        assert_eq!(Source::Conductors.column("drivers"), "NULL");
        assert_eq!(Source::Conductors.column("id"), "hostname");
    }

    #[test]
    fn filters_bind_values_not_text() {
        let q = ListQuery {
            filters: vec![
                Filter::Eq("maintenance".into(), json!(true)),
                Filter::Eq("owner".into(), Value::Null),
                Filter::In("driver".into(), vec![json!("a"), Value::Null, json!("b")]),
                Filter::In("driver".into(), vec![]),
            ],
            ..ListQuery::default()
        };
        let sql = count(Source::Docs(&NODES), &q);
        assert_eq!(
            sql.text,
            "SELECT COUNT(*) FROM nodes WHERE maintenance = ? AND owner IS NULL AND \
             (driver IN (?, ?) OR driver IS NULL) AND 0"
        );
        assert_eq!(
            sql.args,
            vec![Arg::Int(1), Arg::Text("a".into()), Arg::Text("b".into())]
        );
    }

    #[test]
    fn id_order_pages_by_key_alone() {
        let q = ListQuery {
            limit: Some(5),
            sort_desc: true,
            ..ListQuery::default()
        };
        let sql = list(Source::Docs(&PORTS), &q, Some(Arg::Int(7)));
        assert_eq!(
            sql.text,
            "SELECT '[' || coalesce(group_concat(doc, ','), '') || ']' \
             FROM (SELECT doc FROM ports WHERE id < ? ORDER BY id DESC, id DESC LIMIT ?)"
        );
        assert_eq!(sql.args, vec![Arg::Int(7), Arg::Int(5)]);
    }
}
