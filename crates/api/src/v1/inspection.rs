//! `POST /v1/continue_inspection` (1.84; also at exactly 1.1, where
//! ironic-inspector's clients call it): an inspection ramdisk hands in the
//! hardware inventory of a node waiting in `inspect wait`. The inventory is
//! kept as the node's inventory record and inspection finishes; from 1.84
//! the answer is the lookup document, so the ramdisk can go on as an agent.

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use ferrite_model::ident::parse_uuid;
use ferrite_model::records::interface_macs;
use ferrite_model::{Event, Node, NodeInventory, ProvisionState};
use ferrite_store::Ident;
use serde_json::{Value, json};

use super::ramdisk::{issue_token, lookup_body, node_by_macs};
use crate::App;
use crate::protocol::{ApiError, ApiResult, ApiVersion, BaseUrl, JsonBody, Params};

/// `POST /v1/continue_inspection[?node_uuid=]`.
pub async fn continue_inspection(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    if !(version.at_least(84) || version.0 == ferrite_model::MIN_VERSION) {
        return Err(ApiError::endpoint_not_found());
    }
    let Value::Object(mut plugin_data) = body else {
        return Err(ApiError::bad_request(
            "The inspection data must be a JSON object.",
        ));
    };
    let Some(Value::Object(inventory)) = plugin_data.remove("inventory") else {
        return Err(ApiError::bad_request(
            "The inspection data has no inventory object.",
        ));
    };
    let inventory = Value::Object(inventory);
    let macs = interface_macs(&inventory);
    if macs.is_empty() {
        return Err(ApiError::bad_request(
            "The inventory must list at least one interface with a valid mac_address.",
        ));
    }
    let params = Params::parse(query.as_deref());
    let uuid = match params.get("node_uuid") {
        Some(raw) => parse_uuid(raw)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid node_uuid '{raw}'.")))?,
        None => node_by_macs(&app, &macs).await?,
    };
    let (node, token) = app
        .store
        .update(
            &Ident::Uuid(uuid),
            |node: &mut Node| -> ApiResult<Option<String>> {
                if node.provision_state != ProvisionState::InspectWait {
                    return Err(ApiError::not_found(format!(
                        "Node {} is not waiting for inspection data.",
                        node.uuid
                    )));
                }
                if let Some(holder) = &node.reservation {
                    return Err(ApiError::conflict(format!(
                        "Node {} is locked by host {holder}, please retry after the current operation is completed.",
                        node.uuid
                    )));
                }
                let now = Utc::now();
                let next = node.provision_state.next(Event::Done).ok_or_else(|| {
                    ApiError::conflict("Inspection cannot finish from this state.")
                })?;
                node.set_provision_state(next, None, now);
                node.inspection_finished_at = Some(now);
                Ok(issue_token(node))
            },
        )
        .await?;
    app.store
        .put(NodeInventory {
            uuid: node.uuid,
            inventory,
            plugin_data: Value::Object(plugin_data),
            created_at: Utc::now(),
            ..NodeInventory::default()
        })
        .await?;
    let answer = if version.at_least(84) {
        lookup_body(&node, token, &base)
    } else {
        json!({ "uuid": node.uuid })
    };
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}
