//! `/v1/ports` and `/v1/nodes/{node}/ports`.

use ferrite_model::fields::{PORT_DEFAULT_LIST, PORT_FIELDS};
use ferrite_model::ident::normalize_mac;
use ferrite_model::{Port, Portgroup, ProvisionState};
use ferrite_store::{Filter, Ident};
use serde_json::{Map, Value, json};

use super::crud::{self, Change, Resource, by_node_placement, node_exists, node_filter};
use super::schema::Doc;
use crate::App;
use crate::protocol::{ApiError, ApiResult, ApiVersion, Params};

/// Keys of `local_link_connection` (reference §1.6.5).
const LLC_KEYS: &[&str] = &[
    "port_id",
    "switch_id",
    "switch_info",
    "hostname",
    "network_type",
    // OVN VTEP switches (1.90); Ironic dropped them again at 1.105, Ferrite
    // keeps accepting what was stored meanwhile.
    "vtep-logical-switch",
    "vtep-physical-switch",
];

impl Resource for Port {
    const WHAT: &'static str = "port";
    const PLURAL: &'static str = "ports";
    const COLLECTION: &'static str = "ports";
    const FIELDS: &'static [ferrite_model::fields::FieldSpec] = PORT_FIELDS;
    const DEFAULT_LIST: &'static [&'static str] = PORT_DEFAULT_LIST;
    const CREATE_KEYS: &'static [&'static str] = &[
        "address",
        "node_uuid",
        "uuid",
        "extra",
        "local_link_connection",
        "pxe_enabled",
        "portgroup_uuid",
        "physical_network",
        "is_smartnic",
        "name",
        "description",
        "vendor",
        "category",
        "available_for_dynamic_portgroup",
        "node_ident",
    ];
    const SINCE: u32 = 1;
    const NAMES_SINCE: Option<u32> = Some(88);

    fn validate(map: Map<String, Value>) -> ApiResult<Self> {
        let mut doc = Doc::new("port", map);
        doc.mac("address", true)?;
        doc.uuid("node_uuid", true)?;
        doc.uuid("portgroup_uuid", false)?;
        doc.name("name")?;
        for (key, max) in [
            ("physical_network", 64),
            ("description", 255),
            ("vendor", 32),
            ("category", 80),
        ] {
            doc.string(key, max, false)?;
        }
        doc.boolean("pxe_enabled", Some(true))?;
        doc.boolean("is_smartnic", Some(false))?;
        doc.boolean("available_for_dynamic_portgroup", Some(true))?;
        for key in ["extra", "local_link_connection", "internal_info"] {
            doc.dict(key)?;
        }
        if let Some(Value::Object(llc)) = doc.map.get("local_link_connection")
            && let Some(bad) = llc.keys().find(|k| !LLC_KEYS.contains(&k.as_str()))
        {
            return Err(ApiError::bad_request(format!(
                "Invalid local_link_connection key '{bad}'; valid keys are {}.",
                LLC_KEYS.join(", ")
            )));
        }
        doc.decode()
    }

    /// `node_ident` (1.94) names the node by UUID or name instead of
    /// `node_uuid`.
    async fn prepare(
        app: &App,
        map: &mut Map<String, Value>,
        version: ApiVersion,
    ) -> ApiResult<()> {
        let Some(ident) = map.remove("node_ident") else {
            return Ok(());
        };
        if !version.at_least(94) {
            return Err(ApiError::not_acceptable(
                "The field node_ident requires API version 1.94 or later.",
            ));
        }
        let Value::String(ident) = ident else {
            return Err(ApiError::bad_request(
                "Invalid node_ident: expected a node UUID or name.",
            ));
        };
        let node: ferrite_model::Node = app
            .store
            .get(&Ident::parse(&ident))
            .await
            .map_err(|_| ApiError::bad_request(format!("Node {ident} could not be found.")))?;
        match map.get("node_uuid") {
            // The defaults carry a nil node_uuid; only one the client gave counts.
            Some(Value::String(given))
                if *given != node.uuid.to_string() && *given != uuid::Uuid::nil().to_string() =>
            {
                Err(ApiError::bad_request(format!(
                    "node_uuid {given} and node_ident {ident} name different nodes."
                )))
            }
            _ => {
                map.insert("node_uuid".into(), json!(node.uuid));
                Ok(())
            }
        }
    }

    async fn check_refs(app: &App, port: &Self) -> ApiResult<()> {
        node_exists(app, port.node_uuid).await?;
        if let Some(pg) = port.portgroup_uuid {
            let group: Portgroup = app.store.get(&Ident::Uuid(pg)).await.map_err(|_| {
                ApiError::bad_request(format!("Portgroup {pg} could not be found."))
            })?;
            if group.node_uuid != port.node_uuid {
                return Err(ApiError::bad_request(format!(
                    "Port and portgroup {pg} must belong to the same node."
                )));
            }
        }
        Ok(())
    }

    async fn filters(app: &App, params: &Params, version: ApiVersion) -> ApiResult<Vec<Filter>> {
        let mut out = node_filter(app, params, version).await?;
        if let Some(address) = params.get("address") {
            let mac = normalize_mac(address).unwrap_or_else(|| address.to_ascii_lowercase());
            out.push(Filter::Eq("address".into(), json!(mac)));
        }
        params.gate("portgroup", version, 24)?;
        if let Some(ident) = params.get("portgroup") {
            let group = crud::load::<Portgroup>(app, ident, version).await?;
            out.push(Filter::Eq("portgroup_uuid".into(), json!(group.uuid)));
        }
        if let Some(text) = params.get("description_contains") {
            out.push(Filter::Contains("description".into(), text.to_string()));
        }
        out.extend(by_node_placement(params, version, 82)?);
        Ok(out)
    }

    async fn before_change(app: &App, port: &Self, _change: Change) -> ApiResult<()> {
        let node = node_exists(app, port.node_uuid).await?;
        if node.provision_state == ProvisionState::Inspecting {
            return Err(ApiError::conflict(format!(
                "Port {} can not be changed while node {} is being inspected.",
                port.uuid, node.uuid
            )));
        }
        Ok(())
    }
}
